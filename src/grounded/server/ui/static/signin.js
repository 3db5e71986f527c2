// Sign in: check the pasted key with GET /v1/models, keep it in this tab's sessionStorage.

import { getKey, setKey } from "./common.js";

const form = document.getElementById("signin-form");
const input = document.getElementById("api-key");
const error = document.getElementById("signin-error");
const submit = document.getElementById("signin-submit");

const REASONS = {
  expired: "The server no longer accepts this key (revoked, expired or unknown). Sign in again.",
  signin: "Sign in to continue.",
};

/** Only a page of this UI may follow sign-in: never another site. */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/ui\/[A-Za-z0-9_\-./%:]*$/.test(next) && !next.startsWith("//") ? next : "/ui/chat";
}

function showError(text) {
  error.textContent = text;
  error.hidden = !text;
  input.setAttribute("aria-invalid", text ? "true" : "false");
}

async function check(key) {
  let response;
  try {
    response = await fetch("/v1/models", { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
  } catch {
    return "Could not reach the server. Check that grounded serve is running.";
  }
  if (response.status === 401) {
    return "This key was not accepted. Check that it is complete and has not been revoked.";
  }
  if (response.status === 429) {
    const retry = response.headers.get("Retry-After");
    return `Too many requests with this key.${retry ? ` Try again in ${retry} s.` : ""}`;
  }
  if (!response.ok) return `The server answered ${response.status}; try again shortly.`;
  return null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) {
    showError("Paste your API key first.");
    input.focus();
    return;
  }
  submit.disabled = true;
  showError("");
  const problem = await check(key);
  submit.disabled = false;
  if (problem) {
    showError(problem);
    input.focus();
    input.select();
    return;
  }
  setKey(key);
  location.assign(nextPage());
});

const reason = new URLSearchParams(location.search).get("reason");
if (getKey() && !reason) {
  location.replace(nextPage());
} else if (reason && REASONS[reason]) {
  showError(REASONS[reason]);
}
