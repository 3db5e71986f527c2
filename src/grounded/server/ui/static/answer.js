// Answer details: GET /v1/answers/{id} — stages and timings, retrieved chunks with
// their scores, verification per sentence, guard verdicts.

import {
  ApiError,
  STATUS_LABELS,
  api,
  clear,
  describeProblem,
  el,
  formatDate,
  formatMs,
  formatNumber,
  initChrome,
  openDocument,
  problemTitle,
  renderAnswerText,
  renderCitationList,
  requireKey,
  showNotice,
  statusNotice,
} from "./common.js";

const $ = (id) => document.getElementById(id);

function answerId() {
  const match = /^\/ui\/answers\/([^/]+)$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : "";
}

function table(caption, headers, body, className = "data-table") {
  return el(
    "table",
    { class: className },
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, body),
  );
}

function badge(kind, text) {
  return el("span", { class: `badge badge-${kind}` }, text);
}

function renderAnswer(answer) {
  const box = clear($("detail-answer"));
  const open = (citation, link) => openDocument(citation, link);
  const shown = statusNotice(answer);
  if (shown) box.append(shown);
  if (answer.status === "answered" || answer.status === "answered_extractive") {
    box.append(el("div", { class: "answer-text" }, renderAnswerText(answer.answer || "", answer.citations, open)));
  }
  if ((answer.citations || []).length) box.append(renderCitationList(answer.citations, open));
}

function renderFacts(answer) {
  const usage = answer.usage || {};
  const prompt = answer.prompt ? `${answer.prompt.name}@${answer.prompt.version}` : "—";
  const tokens = usage.input_tokens || usage.output_tokens
    ? `${usage.input_tokens ?? 0} in · ${usage.output_tokens ?? 0} out${usage.estimated ? " (estimated)" : ""}`
    : "—";
  const facts = [
    ["Status", badge(answer.status, STATUS_LABELS[answer.status] || answer.status)],
    ["App", answer.app || "—"],
    ["Model", answer.model || "—"],
    ["Prompt", prompt],
    ["Latency", formatMs(answer.latency_ms)],
    ["Tokens", tokens],
    ["Cost", answer.cost_usd ? `$${Number(answer.cost_usd).toFixed(6)}` : "$0"],
    ["Guard policy", answer.policy_version || "—"],
    ["Asked", formatDate(answer.created)],
    ["Answer id", el("code", {}, answer.answer_id || answerId())],
  ];
  const list = clear($("detail-facts"));
  for (const [term, value] of facts) list.append(el("div", { class: "fact" }, el("dt", {}, term), el("dd", {}, value)));
}

function renderStages(answer) {
  const stages = Object.entries(answer.stages || {});
  const box = clear($("detail-stages"));
  if (!stages.length) {
    box.append(el("p", { class: "muted" }, "No stage timings were recorded."));
    return;
  }
  const longest = Math.max(...stages.map(([, ms]) => Number(ms) || 0), 0.001);
  for (const [name, ms] of stages) {
    const fill = el("span", { class: "bar-fill" });
    // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
    fill.style.width = `${Math.max(0.5, (100 * (Number(ms) || 0)) / longest)}%`;
    box.append(
      el(
        "div",
        { class: "stage" },
        el("span", { class: "stage-name" }, name),
        el("span", { class: "bar", role: "presentation" }, fill),
        el("span", { class: "stage-ms" }, formatMs(ms)),
      ),
    );
  }
  box.append(el("p", { class: "muted small stage-total" }, `Total ${formatMs(answer.latency_ms)}`));
}

function renderVerification(answer) {
  const checks = answer.verification || [];
  const box = clear($("detail-verification"));
  if (!checks.length) {
    box.append(el("p", { class: "muted" }, answer.status === "answered" || answer.status === "answered_extractive" ? "No sentence was checked." : "Nothing to verify: no answer was given."));
    return;
  }
  const body = checks.map((check, i) =>
    el(
      "tr",
      {},
      el("td", { class: "num" }, String(i + 1)),
      el("td", { class: "sentence" }, check.sentence),
      el("td", {}, check.supported ? badge("ok", "Supported") : badge("bad", "Unsupported"), check.factual === false ? el("div", { class: "muted small" }, "no factual claim") : null),
      el("td", {}, (check.citations || []).join(", ") || "—"),
      el("td", {}, check.supported_by || "—"),
      el("td", { class: "num" }, formatNumber(check.lexical, 2)),
      el("td", { class: "num" }, formatNumber(check.semantic, 2)),
      el("td", { class: "reason" }, check.reason || ""),
    ),
  );
  box.append(table("Verification of each sentence", ["#", "Sentence", "Verdict", "Cites", "Supported by", "Lexical", "Semantic", "Reason"], body));
}

function scorePair(rank, score) {
  if (rank === null || rank === undefined) return el("span", { class: "muted" }, "—");
  return el("span", {}, `#${rank}`, el("span", { class: "muted small" }, ` ${formatNumber(score, 3)}`));
}

function renderRetrieved(answer) {
  const retrieval = answer.retrieval || {};
  const settings = [
    retrieval.mode ? `mode ${retrieval.mode}` : "",
    retrieval.k ? `k ${retrieval.k}` : "",
    (retrieval.collections || []).length ? `collections ${retrieval.collections.join(", ")}` : "",
    retrieval.route ? `route ${retrieval.route}` : "",
  ].filter(Boolean);
  $("detail-retrieval").textContent = settings.join(" · ");
  const dropped = new Map((answer.dropped || []).map((d) => [d.chunk_id, d.reason]));
  // A citation names its document and heading path, not its chunks: a chunk counts as
  // cited when both match.
  const where = (collection, docId, heading) => `${collection}:${docId}#${heading || ""}`;
  const cited = new Map();
  for (const c of answer.citations || []) {
    const key = where(c.collection, c.doc_id, (c.heading_path || []).join(" › "));
    cited.set(key, [...(cited.get(key) || []), c.marker]);
  }
  const chunks = answer.retrieved || [];
  const box = clear($("detail-retrieved"));
  if (!chunks.length) {
    box.append(el("p", { class: "muted" }, "No chunk was retrieved."));
    return;
  }
  const body = chunks.map((chunk, i) => {
    const markers = cited.get(where(chunk.collection, chunk.doc_id, chunk.heading));
    const why = dropped.get(chunk.chunk_id);
    const view = el("button", { type: "button", class: "link-button" }, chunk.title || chunk.doc_id);
    view.addEventListener("click", () => openDocument({ collection: chunk.collection, doc_id: chunk.doc_id, title: chunk.title }, view));
    return el(
      "tr",
      {},
      el("td", { class: "num" }, String(i + 1)),
      el(
        "td",
        {},
        view,
        el("div", { class: "muted small" }, [chunk.collection, chunk.doc_id, chunk.heading].filter(Boolean).join(" · ")),
      ),
      el("td", {}, markers ? badge("ok", `cited ${markers.join(", ")}`) : null, why ? badge("bad", `dropped: ${why}`) : null),
      el("td", { class: "num" }, formatNumber(chunk.score, 4)),
      el("td", { class: "num" }, scorePair(chunk.bm25_rank, chunk.bm25_score)),
      el("td", { class: "num" }, scorePair(chunk.dense_rank, chunk.dense_score)),
      el("td", { class: "num" }, formatNumber(chunk.rerank_score, 3)),
    );
  });
  box.append(table("Retrieved chunks", ["#", "Chunk", "Used", "Fused score", "BM25", "Dense", "Rerank"], body));
}

function renderGuards(answer) {
  const records = answer.guards || [];
  const box = clear($("detail-guards"));
  if (!records.length) {
    box.append(el("p", { class: "muted" }, "No guard raised anything."));
    return;
  }
  for (const record of records) {
    const reasons = record.reasons || [];
    const kind = record.action === "block" ? "bad" : record.action === "allow" ? "ok" : "warn";
    box.append(
      el(
        "div",
        { class: "guard-record" },
        el("h3", {}, el("span", {}, `${record.stage}`), record.source ? el("span", { class: "muted small" }, ` · ${record.source}`) : null, " ", badge(kind, record.action)),
        reasons.length
          ? table(
              `Guard findings at ${record.stage}`,
              ["Guard", "Rule", "Score", "Action", "Message"],
              reasons.map((r) => el("tr", {}, el("td", {}, r.guard), el("td", {}, el("code", {}, r.rule)), el("td", { class: "num" }, formatNumber(r.score, 2)), el("td", {}, r.action), el("td", {}, r.message || ""))),
            )
          : el("p", { class: "muted small" }, "No findings."),
      ),
    );
  }
}

function renderFeedback(answer) {
  const entries = answer.feedback || [];
  const box = clear($("detail-feedback"));
  if (!entries.length) {
    box.append(el("p", { class: "muted" }, "No feedback yet."));
    return;
  }
  const list = el("ul", { class: "feedback-list" });
  for (const entry of entries) {
    list.append(
      el(
        "li",
        {},
        badge(entry.rating === "up" ? "ok" : "bad", entry.rating === "up" ? "Helpful" : "Not helpful"),
        " ",
        el("span", { class: "muted small" }, formatDate(entry.created)),
        entry.comment ? el("p", { class: "feedback-comment-text" }, entry.comment) : null,
      ),
    );
  }
  box.append(list);
}

async function init() {
  if (!requireKey()) return;
  initChrome();
  const id = answerId();
  try {
    const response = await api(`/v1/answers/${encodeURIComponent(id)}`);
    const answer = await response.json();
    $("answer-heading").textContent = answer.question ? `“${answer.question}”` : "Answer details";
    $("answer-sub").textContent = [answer.app ? `app ${answer.app}` : "", formatDate(answer.created)].filter((v) => v && v !== "—").join(" · ");
    document.title = `${answer.question || "Answer"} · grounded`;
    renderAnswer(answer);
    renderFacts(answer);
    renderStages(answer);
    renderVerification(answer);
    renderRetrieved(answer);
    renderGuards(answer);
    renderFeedback(answer);
    $("answer-detail").hidden = false;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice($("page-notice"), "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

init();
