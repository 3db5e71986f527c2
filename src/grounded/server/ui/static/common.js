// Shared by every page: the API key, API calls and their problems, DOM building,
// notices, citation markers, the document viewer and the SSE reader.
//
// Text from the API (answers, document text, titles) only ever reaches the page as
// DOM text nodes; nothing here assigns innerHTML.

const KEY = "grounded.apiKey";
const HISTORY = "grounded.chat";

// ------------------------------------------------------------------ the key

export function getKey() {
  return sessionStorage.getItem(KEY);
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function signOut(reason) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(HISTORY);
  const query = reason ? `?reason=${encodeURIComponent(reason)}` : "";
  location.assign(`/${query}`);
}

/** The key's public id (`gk_<id>_<secret>` -> `gk_<id>`), never the secret. */
export function keyId(key) {
  const match = /^(gk_[A-Za-z0-9]+)_/.exec(key || "");
  return match ? match[1] : "";
}

/** Send the visitor to sign in when this tab holds no key; returns the key otherwise. */
export function requireKey() {
  const key = getKey();
  if (!key) {
    const next = location.pathname + location.search;
    location.replace(`/?next=${encodeURIComponent(next)}`);
    return null;
  }
  return key;
}

/** The header: which key is in use, and the sign-out button. */
export function initChrome() {
  const label = document.getElementById("key-label");
  const key = getKey();
  if (label && key) {
    const id = keyId(key);
    label.textContent = id ? `Signed in · ${id}` : "Signed in";
  }
  const button = document.getElementById("sign-out");
  if (button) {
    button.hidden = !key;
    button.addEventListener("click", () => signOut());
  }
}

// ------------------------------------------------------------------ the API

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
}

/** Call the JSON API as the signed-in key. A 401 ends the session. */
export async function api(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const key = getKey();
  if (!key) {
    signOut("signin");
    throw new ApiError({ status: 401, title: "Not signed in", detail: "Sign in with an API key." });
  }
  const sent = { Authorization: `Bearer ${key}`, ...headers };
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body, signal, cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError({ status: 0, title: "Network error", detail: "Could not reach the server. Check that grounded serve is running." });
  }
  if (response.status === 401) {
    signOut("expired");
    throw new ApiError(await readProblem(response));
  }
  if (!response.ok) throw new ApiError(await readProblem(response));
  return response;
}

/** An RFC 9457 problem from any failed response, with Retry-After when given. */
export async function readProblem(response) {
  let problem = { status: response.status, title: response.statusText || `HTTP ${response.status}` };
  const type = response.headers.get("Content-Type") || "";
  try {
    if (type.includes("json")) {
      const body = await response.json();
      if (body && typeof body === "object") problem = { ...problem, ...body };
    } else {
      const text = (await response.text()).trim();
      if (text && text.length < 300) problem.detail = text;
    }
  } catch {
    // an unreadable body: the status line is all there is
  }
  problem.status = response.status;
  const retry = response.headers.get("Retry-After");
  if (retry) problem.retryAfter = retry;
  return problem;
}

/** One line for a person: the problem's detail, and when to retry. */
export function describeProblem(problem) {
  let text = problem.detail || problem.title || "Something went wrong.";
  if (problem.status === 429 || problem.retryAfter) {
    const seconds = Number(problem.retryAfter);
    if (problem.retryAfter) {
      text += Number.isFinite(seconds)
        ? ` Try again in ${formatWait(seconds)}.`
        : ` Try again after ${problem.retryAfter}.`;
    }
  }
  return text;
}

function formatWait(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

export function problemTitle(problem) {
  if (problem.status === 429) return "Too many requests";
  if (problem.status === 403) return "Not allowed";
  if (problem.status === 404) return "Not found";
  return problem.title || "Request failed";
}

// ------------------------------------------------------------------ DOM

/**
 * el("a", {href: "/x", class: "y"}, "text", child) — attributes are set with
 * setAttribute (or as properties for on* handlers and `hidden`), children
 * strings become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "hidden") {
      node.hidden = Boolean(value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

/** A small stroke icon (thumbs, lock) built as SVG elements: no markup strings. */
export function icon(name) {
  const paths = {
    up: ["M7 10v11", "M15 5.9 14 10h5.8a2 2 0 0 1 2 2.3l-1.4 7A2 2 0 0 1 18.4 21H7V10l4.1-8a2.6 2.6 0 0 1 3.9 3.9Z", "M3 10h4v11H3z"],
    lock: ["M5 11h14v10H5z", "M8 11V7a4 4 0 0 1 8 0v4"],
  };
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon icon-${name}`);
  for (const d of paths[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A notice: kind is info | success | warning | error | neutral. */
export function notice(kind, title, text) {
  return el(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" || kind === "warning" ? "alert" : null },
    title ? el("strong", { class: "notice-title" }, title) : null,
    text ? el("span", { class: "notice-text" }, text) : null,
  );
}

export function showNotice(container, kind, title, text) {
  clear(container).append(notice(kind, title, text));
}

export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "—";
  const value = Number(ms);
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 100) return `${value.toFixed(0)} ms`;
  return `${value.toFixed(1)} ms`;
}

export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  return Number.isInteger(number) ? String(number) : number.toFixed(digits);
}

export function formatDate(value) {
  if (!value) return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// ------------------------------------------------------------------ answers and citations

export const REFUSAL = "Not found in the sources you can access.";

// [S1], [S1, S3]: the markers the verifier keeps in an answer.
const MARKERS = /\[(S\d+(?:\s*,\s*S\d+)*)\]/g;

/**
 * The answer text with each `[S1]` marker as a numbered link to its citation.
 * `onOpen(citation, link)` opens the cited span; markers without a citation
 * (while streaming, before the citations event) are shown as plain numbers.
 */
export function renderAnswerText(text, citations, onOpen) {
  const byMarker = new Map((citations || []).map((c) => [c.marker, c]));
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(MARKERS)) {
    const before = text.slice(last, match.index).replace(/\s+$/, "");
    fragment.append(document.createTextNode(before));
    const group = el("span", { class: "cite-group" });
    for (const marker of match[1].split(/\s*,\s*/)) {
      const number = marker.slice(1);
      const citation = byMarker.get(marker);
      if (citation && onOpen) {
        const link = el(
          "a",
          {
            class: "cite",
            href: `#${citationAnchor(citation)}`,
            "aria-label": `Source ${number}: ${citation.title || citation.doc_id}`,
            "data-marker": marker,
          },
          number,
        );
        link.addEventListener("click", (event) => {
          event.preventDefault();
          onOpen(citation, link);
        });
        group.append(link);
      } else {
        group.append(el("span", { class: "cite cite-pending" }, number));
      }
    }
    fragment.append(group);
    last = match.index + match[0].length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

let anchors = 0;
const anchorIds = new WeakMap();

function citationAnchor(citation) {
  if (!anchorIds.has(citation)) anchorIds.set(citation, `source-${++anchors}`);
  return anchorIds.get(citation);
}

/** The numbered source list under an answer: title, heading path, quote. */
export function renderCitationList(citations, onOpen) {
  const list = el("ol", { class: "citations", "aria-label": "Sources" });
  for (const citation of citations) {
    const number = citation.marker.replace(/^S/, "");
    const heading = (citation.heading_path || []).join(" › ");
    const where = [citation.collection, heading, citation.page ? `page ${citation.page}` : ""]
      .filter(Boolean)
      .join(" · ");
    const open = el(
      "button",
      { type: "button", class: "link-button citation-title" },
      citation.title || citation.doc_id,
    );
    open.addEventListener("click", () => onOpen(citation, open));
    list.append(
      el(
        "li",
        { id: citationAnchor(citation), class: "citation", value: number },
        el("span", { class: "citation-number", "aria-hidden": "true" }, number),
        el(
          "div",
          { class: "citation-body" },
          open,
          where ? el("div", { class: "citation-where" }, where) : null,
          citation.quote ? el("blockquote", { class: "citation-quote" }, citation.quote) : null,
        ),
      ),
    );
  }
  return list;
}

/** The notice an answer's status calls for, or null for a plain answer. */
export function statusNotice(answer) {
  if (answer.status === "refused") return notice("neutral", REFUSAL, null);
  if (answer.status === "blocked") {
    return notice("warning", "Blocked by the guard policy", answer.message || "This request was blocked.");
  }
  if (answer.status === "answered_extractive" && answer.message) {
    return notice("info", "Quoted from the sources", answer.message);
  }
  return null;
}

export const STATUS_LABELS = {
  answered: "Answered",
  answered_extractive: "Quoted from sources",
  refused: "Not found",
  blocked: "Blocked",
};

// ------------------------------------------------------------------ the document viewer

const documents = new Map();

export function documentPath(id) {
  return `/v1/documents/${encodeURIComponent(id)}`;
}

/** Python counts code points, JavaScript UTF-16 units: map an offset across. */
function utf16Offset(text, codePoints) {
  if (!/[\uD800-\uDFFF]/.test(text)) return codePoints;
  let units = 0;
  let seen = 0;
  for (const ch of text) {
    if (seen >= codePoints) break;
    units += ch.length;
    seen += 1;
  }
  return units;
}

function spanOf(text, citation) {
  if (!citation || citation.char_start === undefined || citation.char_start === null) return null;
  let start = utf16Offset(text, citation.char_start);
  let end = utf16Offset(text, citation.char_end);
  const quote = citation.quote || "";
  if (quote && text.slice(start, end) !== quote) {
    const found = text.indexOf(quote);
    if (found >= 0) [start, end] = [found, found + quote.length];
  }
  start = Math.max(0, Math.min(start, text.length));
  end = Math.max(start, Math.min(end, text.length));
  return end > start ? [start, end] : null;
}

/**
 * Open `{collection, doc_id}` (or a document `id`) in the side panel, with the
 * citation's span marked and scrolled into view. Focus returns to `opener`
 * when the panel closes (Escape, the Close button or a click outside).
 */
export async function openDocument(target, opener) {
  const dialog = document.getElementById("doc-dialog");
  const title = document.getElementById("doc-title");
  const meta = document.getElementById("doc-meta");
  const body = document.getElementById("doc-text");
  const status = document.getElementById("doc-status");
  const id = target.id || `${target.collection}:${target.doc_id}`;
  title.textContent = target.title || target.doc_id || id;
  meta.textContent = "";
  clear(body);
  clear(status).append(el("p", { class: "muted" }, "Loading the document…"));
  bindDialog(dialog, opener);
  if (!dialog.open) dialog.showModal();
  try {
    if (!documents.has(id)) {
      const response = await api(documentPath(id));
      documents.set(id, await response.json());
    }
    const doc = documents.get(id);
    title.textContent = doc.title || doc.doc_id;
    const heading = (target.heading_path || []).join(" › ");
    meta.textContent = [doc.collection, doc.doc_id, heading, target.page ? `page ${target.page}` : ""]
      .filter(Boolean)
      .join(" · ");
    clear(status);
    renderDocumentText(body, doc.text || "", target.quote === undefined ? null : target);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(status, "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

function renderDocumentText(body, text, citation) {
  const span = spanOf(text, citation);
  if (!span) {
    body.append(document.createTextNode(text));
    body.scrollTop = 0;
    return;
  }
  const [start, end] = span;
  const mark = el("mark", { id: "cited-span", tabindex: "-1" }, text.slice(start, end));
  body.append(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
  requestAnimationFrame(() => mark.scrollIntoView({ block: "center" }));
}

const bound = new WeakSet();
let returnFocus = null;

/** Escape closes a <dialog> natively; also close on its Close button and backdrop. */
export function bindDialog(dialog, opener) {
  returnFocus = opener || document.activeElement;
  if (bound.has(dialog)) return;
  bound.add(dialog);
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) {
      const box = dialog.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right
        && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) dialog.close();
    }
  });
  dialog.addEventListener("close", () => {
    const target = returnFocus;
    returnFocus = null;
    if (target && target.isConnected) target.focus();
  });
}

// ------------------------------------------------------------------ server-sent events

/**
 * The events of a `text/event-stream` response body: `{event, data}` with the
 * data lines joined. Written for fetch(), which (unlike EventSource) can POST
 * and send the Authorization header.
 */
export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    buffer = buffer.replace(/\r\n?/g, "\n");
    let boundary;
    while ((boundary = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const parsed = parseEvent(block);
      if (parsed) yield parsed;
    }
    if (done) {
      const parsed = parseEvent(buffer);
      if (parsed) yield parsed;
      return;
    }
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  return { event, data: data.join("\n") };
}

// ------------------------------------------------------------------ chat history (this tab only)

export function loadHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY) || "[]");
  } catch {
    return [];
  }
}

export function saveHistory(turns) {
  try {
    sessionStorage.setItem(HISTORY, JSON.stringify(turns.slice(-20)));
  } catch {
    // storage full: the conversation is simply not kept across pages
  }
}
