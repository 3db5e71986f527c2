// Chat: pick an app, ask, read the answer as it streams from POST /v1/ask?stream=true,
// open the cited spans, give feedback.

import {
  ApiError,
  STATUS_LABELS,
  api,
  clear,
  describeProblem,
  el,
  icon,
  initChrome,
  loadHistory,
  notice,
  openDocument,
  problemTitle,
  readEvents,
  renderAnswerText,
  renderCitationList,
  requireKey,
  saveHistory,
  showNotice,
  statusNotice,
} from "./common.js";

const APP_CHOICE = "grounded.app";

const form = document.getElementById("ask-form");
const question = document.getElementById("question");
const appSelect = document.getElementById("app-select");
const submit = document.getElementById("ask-submit");
const conversation = document.getElementById("conversation");
const emptyState = document.getElementById("empty-state");
const pageNotice = document.getElementById("page-notice");

let turns = [];
let busy = false;

async function loadApps() {
  try {
    const response = await api("/v1/models");
    const body = await response.json();
    const models = body.data || [];
    const apps = models.map((model) => model.id);
    clear(appSelect);
    for (const model of models) {
      appSelect.append(el("option", { value: model.id, title: model.description || null }, model.id));
    }
    // The server marks the app it answers with by default (server.default_app).
    const chosen = sessionStorage.getItem(APP_CHOICE);
    const serverDefault = models.find((model) => model.default);
    if (chosen && apps.includes(chosen)) appSelect.value = chosen;
    else if (serverDefault) appSelect.value = serverDefault.id;
    appSelect.disabled = apps.length === 0;
    if (!apps.length) showNotice(pageNotice, "warning", "No apps", "This server has no app to answer with.");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(pageNotice, "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

function openCitation(citation, link) {
  openDocument(citation, link);
}

// ------------------------------------------------------------------ one question and answer

function newTurn(text, app) {
  emptyState.hidden = true;
  const answerText = el("div", { class: "answer-text" });
  const progress = el("p", { class: "answer-progress muted" }, el("span", { class: "spinner", "aria-hidden": "true" }), "Searching your sources…");
  const answer = el(
    "div",
    { class: "answer", "aria-busy": "true" },
    el("div", { class: "answer-head" }, el("span", { class: "who" }, "Answer"), el("span", { class: "badge badge-pending" }, "Working"), el("span", { class: "muted small" }, app)),
    progress,
    answerText,
    el("div", { class: "answer-notice" }),
    el("div", { class: "answer-sources" }),
    el("div", { class: "answer-foot" }),
  );
  const article = el(
    "article",
    { class: "turn" },
    el("div", { class: "question" }, el("span", { class: "who" }, "You"), el("p", {}, text)),
    answer,
  );
  conversation.append(article);
  scrollToEnd(true);
  return article;
}

function part(article, name) {
  return article.querySelector(`.${name}`);
}

function showStreamed(article, sentences, citations) {
  part(article, "answer-progress").hidden = true;
  part(article, "answer").dataset.streamed = String(sentences.length); // sentences shown so far
  clear(part(article, "answer-text")).append(renderAnswerText(sentences.join(" "), citations, openCitation));
  scrollToEnd(false);
}

function showFinal(article, result) {
  const answer = part(article, "answer");
  answer.setAttribute("aria-busy", "false");
  part(article, "answer-progress").hidden = true;
  const badge = part(article, "badge");
  badge.className = `badge badge-${result.status}`;
  badge.textContent = STATUS_LABELS[result.status] || result.status;
  const text = clear(part(article, "answer-text"));
  const citations = result.citations || [];
  if (result.status === "answered" || result.status === "answered_extractive") {
    text.append(renderAnswerText(result.answer || "", citations, openCitation));
  }
  const box = clear(part(article, "answer-notice"));
  const shown = statusNotice(result);
  if (shown) box.append(shown);
  const sources = clear(part(article, "answer-sources"));
  if (citations.length) sources.append(renderCitationList(citations, openCitation));
  const foot = clear(part(article, "answer-foot"));
  if (result.answer_id) foot.append(feedback(result.answer_id), el("a", { class: "details-link", href: `/ui/answers/${encodeURIComponent(result.answer_id)}` }, "Details"));
  scrollToEnd(false);
}

function showProblem(article, problem) {
  const answer = part(article, "answer");
  answer.setAttribute("aria-busy", "false");
  part(article, "answer-progress").hidden = true;
  const badge = part(article, "badge");
  badge.className = "badge badge-error";
  badge.textContent = problem.status === 429 ? "Try later" : "Failed";
  clear(part(article, "answer-notice")).append(notice("error", problemTitle(problem), describeProblem(problem)));
  scrollToEnd(false);
}

function scrollToEnd(force) {
  const nearEnd = conversation.scrollHeight - conversation.scrollTop - conversation.clientHeight < 160;
  if (force || nearEnd) conversation.scrollTop = conversation.scrollHeight;
}

// ------------------------------------------------------------------ feedback

function feedback(answerId) {
  const status = el("span", { class: "feedback-status", role: "status" });
  const comment = el("input", { type: "text", class: "feedback-comment-input", id: `comment-${answerId}`, maxlength: "2000", autocomplete: "off", placeholder: "What was good or wrong? (optional)" });
  const send = el("button", { type: "submit", class: "button-small button-primary" }, "Send feedback");
  const commentForm = el(
    "form",
    { class: "feedback-comment", hidden: true },
    el("label", { for: `comment-${answerId}`, class: "visually-hidden" }, "Comment (optional)"),
    comment,
    send,
  );
  let rating = null;
  const up = el("button", { type: "button", class: "button-small thumb", "aria-pressed": "false" }, icon("up"), "Helpful");
  const down = el("button", { type: "button", class: "button-small thumb thumb-down", "aria-pressed": "false" }, icon("up"), "Not helpful");
  const choose = (value) => {
    rating = value;
    up.setAttribute("aria-pressed", String(value === "up"));
    down.setAttribute("aria-pressed", String(value === "down"));
    commentForm.hidden = false;
    comment.focus();
  };
  up.addEventListener("click", () => choose("up"));
  down.addEventListener("click", () => choose("down"));
  const box = el("div", { class: "feedback" }, el("span", { class: "muted small" }, "Was this useful?"), up, down, commentForm, status);
  commentForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!rating) return;
    send.disabled = true;
    try {
      const payload = { answer_id: answerId, rating };
      if (comment.value.trim()) payload.comment = comment.value.trim();
      await api("/v1/feedback", { method: "POST", json: payload });
      clear(box).append(el("span", { class: "feedback-done", role: "status", tabindex: "-1" }, "Thanks — your feedback was recorded."));
      box.firstChild.focus();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      send.disabled = false;
      status.textContent = describeProblem(err.problem);
      status.className = "feedback-status error-text";
    }
  });
  return box;
}

// ------------------------------------------------------------------ asking

async function ask(text) {
  const app = appSelect.value || undefined;
  const article = newTurn(text, app || "default");
  busy = true;
  submit.disabled = true;
  const sentences = [];
  let citations = [];
  let final = null;
  let failed = null;
  try {
    const response = await api("/v1/ask?stream=true", {
      method: "POST",
      json: app ? { question: text, app } : { question: text },
      headers: { Accept: "text/event-stream" },
    });
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream")) {
      final = await response.json();
    } else {
      for await (const { event, data } of readEvents(response)) {
        const payload = JSON.parse(data);
        if (event === "token") {
          sentences.push(payload.text);
          showStreamed(article, sentences, citations);
        } else if (event === "citations") {
          citations = payload;
          if (sentences.length) showStreamed(article, sentences, citations);
        } else if (event === "final") {
          final = payload;
        } else if (event === "error") {
          failed = payload;
        }
      }
    }
  } catch (err) {
    if (err instanceof ApiError) failed = err.problem;
    else failed = { status: 0, title: "The answer could not be read", detail: String(err && err.message ? err.message : err) };
  } finally {
    busy = false;
    submit.disabled = false;
  }
  if (failed) {
    showProblem(article, failed);
  } else if (final) {
    showFinal(article, final);
    turns.push({ question: text, app: app || "default", result: slim(final) });
    saveHistory(turns);
  } else {
    showProblem(article, { status: 0, title: "The answer stream ended early", detail: "The server closed the stream before the final answer. Try again." });
  }
}

/** What the conversation keeps across pages: enough to show the answer again. */
function slim(result) {
  const { status, answer, message, citations, answer_id } = result;
  return { status, answer, message, citations, answer_id };
}

function restore() {
  turns = loadHistory();
  for (const turn of turns) {
    const article = newTurn(turn.question, turn.app);
    showFinal(article, turn.result);
  }
  if (turns.length) {
    const clearButton = el("button", { type: "button", class: "button-quiet button-small clear-chat" }, "Clear conversation");
    clearButton.addEventListener("click", () => {
      turns = [];
      saveHistory(turns);
      for (const article of conversation.querySelectorAll(".turn")) article.remove();
      emptyState.hidden = false;
      clearButton.remove();
      question.focus();
    });
    conversation.prepend(clearButton);
  }
}

function onSubmit(event) {
  event.preventDefault();
  const text = question.value.trim();
  if (!text || busy) return;
  question.value = "";
  ask(text);
}

function init() {
  if (!requireKey()) return;
  initChrome();
  form.addEventListener("submit", onSubmit);
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  appSelect.addEventListener("change", () => sessionStorage.setItem(APP_CHOICE, appSelect.value));
  restore();
  loadApps();
}

init();
