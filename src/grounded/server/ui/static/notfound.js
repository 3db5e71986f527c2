// The not-found page: only the header.

import { initChrome } from "./common.js";

initChrome();
