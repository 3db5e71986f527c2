// Evaluations: GET /v1/evals (admin), each run's HTML report fetched with the bearer
// header and shown from a blob: URL.
//
// A blob: document inherits this page's Content-Security-Policy, which refuses the
// report's inline <style>. So the <style> text is taken out of the report first and
// applied to the framed document as a constructed stylesheet (CSSOM, which the policy
// allows). The frame is sandboxed without scripts; the report has none anyway.

import {
  ApiError,
  api,
  bindDialog,
  clear,
  describeProblem,
  el,
  formatDate,
  formatNumber,
  initChrome,
  notice,
  problemTitle,
  requireKey,
  showNotice,
} from "./common.js";

const runsBox = document.getElementById("runs");
const runCount = document.getElementById("run-count");
const dialog = document.getElementById("report-dialog");
const frame = document.getElementById("report-frame");
const title = document.getElementById("report-title");
const newWindow = document.getElementById("report-window");

let current = null; // {url, css} of the open report

/** Scores in [0, 1] to three decimals; counts, milliseconds and costs as they read best. */
function formatMetric(value) {
  if (value === null || value === undefined) return "—";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  if (Number.isInteger(number)) return String(number);
  if (Math.abs(number) <= 1) return number.toFixed(3);
  return number >= 100 ? number.toFixed(0) : number.toFixed(1);
}

function metrics(aggregates) {
  const list = el("ul", { class: "chips" });
  for (const [name, value] of Object.entries(aggregates || {})) {
    const shown = value && typeof value === "object" ? value.mean ?? value.value : value;
    list.append(el("li", { class: "chip" }, el("span", { class: "chip-name" }, name), " ", formatMetric(shown)));
  }
  return list;
}

function gates(failed) {
  if (!failed || !failed.length) return el("span", { class: "badge badge-ok" }, "Passed");
  return el(
    "div",
    {},
    el("span", { class: "badge badge-bad" }, `${failed.length} failed`),
    el("ul", { class: "gate-list small" }, failed.map((g) => el("li", {}, typeof g === "string" ? g : JSON.stringify(g)))),
  );
}

function render(runs) {
  clear(runsBox);
  runCount.textContent = `(${runs.length})`;
  if (!runs.length) {
    runsBox.append(el("p", { class: "muted" }, "No evaluation runs yet. Make one with grounded eval run SUITE.yaml."));
    return;
  }
  const body = runs.map((run) => {
    const open = el("button", { type: "button", class: "button-small" }, "Open report", el("span", { class: "visually-hidden" }, ` for ${run.run}`));
    open.addEventListener("click", () => openReport(run, open));
    return el(
      "tr",
      {},
      el("td", {}, el("div", { class: "doc-title" }, run.suite || "—"), el("code", { class: "small muted" }, run.run)),
      el("td", {}, formatDate(run.created)),
      el("td", { class: "num" }, formatNumber(run.items, 0)),
      el("td", {}, metrics(run.aggregates)),
      el("td", {}, gates(run.gates_failed)),
      el("td", {}, open),
    );
  });
  runsBox.append(
    el(
      "table",
      { class: "data-table" },
      el("caption", { class: "visually-hidden" }, "Evaluation runs"),
      el("thead", {}, el("tr", {}, ["Suite and run", "Created", "Items", "Metrics", "Gates", el("span", { class: "visually-hidden" }, "Report")].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, body),
    ),
  );
}

/**
 * The report as a blob: URL without its <style> elements, and the CSS they held.
 * A regular expression, not DOMParser: a parsed document inherits this page's policy
 * and reports its <style> as a violation. The report is our own server's HTML, where
 * every value from the run is escaped, so a literal <style> tag is only ever ours.
 */
function prepare(html) {
  const styles = /<style\b[^>]*>([\s\S]*?)<\/style\s*>/gi;
  const css = [...html.matchAll(styles)].map((m) => m[1]).join("\n");
  const text = html.replace(styles, "");
  return { url: URL.createObjectURL(new Blob([text], { type: "text/html;charset=utf-8" })), css };
}

function adoptStyles(win, css) {
  try {
    const sheet = new win.CSSStyleSheet();
    sheet.replaceSync(css);
    win.document.adoptedStyleSheets = [sheet];
  } catch {
    // unstyled is still readable
  }
}

async function openReport(run, opener) {
  if (current) URL.revokeObjectURL(current.url);
  current = null;
  title.textContent = `Report · ${run.suite || run.run}`;
  bindDialog(dialog, opener);
  try {
    const response = await api(`/v1/evals/${encodeURIComponent(run.run)}?format=html`, { headers: { Accept: "text/html" } });
    current = prepare(await response.text());
    frame.src = current.url;
    dialog.showModal();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(document.getElementById("page-notice"), "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

function init() {
  if (!requireKey()) return;
  initChrome();
  frame.addEventListener("load", () => {
    if (current && frame.contentWindow && frame.src === current.url) adoptStyles(frame.contentWindow, current.css);
  });
  newWindow.addEventListener("click", () => {
    if (!current) return;
    const report = current;
    const win = window.open(report.url, "_blank");
    if (win) win.addEventListener("load", () => adoptStyles(win, report.css));
  });
  dialog.addEventListener("close", () => {
    frame.removeAttribute("src");
  });
  load();
}

async function load() {
  try {
    const response = await api("/v1/evals");
    const body = await response.json();
    render(body.runs || []);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    clear(runsBox);
    if (err.problem.status === 403) {
      runsBox.append(notice("warning", "Evaluation runs need an admin key.", "They hold answers given to other people. Sign in with a key made with grounded keys create --admin."));
    } else {
      runsBox.append(notice("error", problemTitle(err.problem), describeProblem(err.problem)));
    }
  }
}

init();
