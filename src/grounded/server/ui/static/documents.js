// Documents: the list the key may read (with its ACL), upload with ACL fields, delete.

import {
  ApiError,
  api,
  bindDialog,
  clear,
  describeProblem,
  documentPath,
  el,
  icon,
  initChrome,
  openDocument,
  problemTitle,
  requireKey,
  showNotice,
} from "./common.js";

const rows = document.getElementById("doc-rows");
const count = document.getElementById("doc-count");
const filter = document.getElementById("doc-filter");
const listNotice = document.getElementById("page-notice");
const uploadForm = document.getElementById("upload-form");
const uploadNotice = document.getElementById("upload-notice");
const uploadSubmit = document.getElementById("upload-submit");
const confirmDialog = document.getElementById("confirm-dialog");
const confirmText = document.getElementById("confirm-text");
const confirmOk = document.getElementById("confirm-ok");

let documents = [];

function access(doc) {
  const users = doc.allow_users || [];
  const groups = doc.allow_groups || [];
  if (!users.length && !groups.length) return el("span", { class: "acl acl-open" }, "Whole tenant");
  return el(
    "span",
    { class: "acl acl-restricted" },
    icon("lock"),
    el(
      "span",
      {},
      users.length ? el("span", { class: "acl-line" }, `Users: ${users.join(", ")}`) : null,
      groups.length ? el("span", { class: "acl-line" }, `Groups: ${groups.join(", ")}`) : null,
    ),
  );
}

function row(doc) {
  const view = el("button", { type: "button", class: "button-small button-quiet" }, "View", el("span", { class: "visually-hidden" }, ` ${doc.title || doc.id}`));
  view.addEventListener("click", () => openDocument({ id: doc.id, title: doc.title, collection: doc.collection, doc_id: doc.doc_id }, view));
  const remove = el("button", { type: "button", class: "button-small button-danger-quiet" }, "Delete", el("span", { class: "visually-hidden" }, ` ${doc.title || doc.id}`));
  remove.addEventListener("click", () => confirmDelete(doc, remove));
  return el(
    "tr",
    { "data-id": doc.id },
    el("td", {}, el("div", { class: "doc-title" }, doc.title || doc.doc_id), el("div", { class: "muted small doc-id" }, doc.doc_id)),
    el("td", {}, doc.collection),
    el("td", {}, access(doc)),
    el("td", {}, doc.uploaded_by ? doc.uploaded_by : el("span", { class: "muted" }, "—")),
    el("td", { class: "row-actions" }, view, remove),
  );
}

function render() {
  const needle = filter.value.trim().toLowerCase();
  const shown = needle
    ? documents.filter((d) => [d.title, d.id, d.collection, d.uploaded_by].some((v) => (v || "").toLowerCase().includes(needle)))
    : documents;
  clear(rows);
  if (!shown.length) {
    rows.append(el("tr", {}, el("td", { colspan: "5", class: "muted empty-row" }, documents.length ? "No document matches the filter." : "No documents yet. Upload one, or ingest a folder with grounded ingest.")));
  }
  for (const doc of shown) rows.append(row(doc));
  count.textContent = needle ? `(${shown.length} of ${documents.length})` : `(${documents.length})`;
}

async function load() {
  try {
    const response = await api("/v1/documents");
    const body = await response.json();
    documents = (body.documents || []).slice().sort((a, b) => a.collection.localeCompare(b.collection) || (a.title || a.doc_id).localeCompare(b.title || b.doc_id));
    render();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(listNotice, "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

// ------------------------------------------------------------------ upload

function listField(value) {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean)
    .join(",");
}

async function upload(event) {
  event.preventDefault();
  const file = document.getElementById("upload-file");
  if (!file.files.length) {
    showNotice(uploadNotice, "error", "Choose a file", "Pick the file to upload first.");
    file.focus();
    return;
  }
  const data = new FormData();
  data.append("file", file.files[0]);
  const collection = document.getElementById("upload-collection").value.trim();
  const users = listField(document.getElementById("upload-users").value);
  const groups = listField(document.getElementById("upload-groups").value);
  if (collection) data.append("collection", collection);
  if (users) data.append("allow_users", users);
  if (groups) data.append("allow_groups", groups);
  uploadSubmit.disabled = true;
  showNotice(uploadNotice, "info", "Uploading…", `${file.files[0].name} is being parsed and indexed.`);
  try {
    const response = await api("/v1/documents", { method: "POST", body: data });
    const doc = await response.json();
    const readers = [...(doc.allow_users || []), ...(doc.allow_groups || []).map((g) => `group ${g}`)];
    showNotice(uploadNotice, "success", "Uploaded", `“${doc.title || doc.doc_id}” is in ${doc.collection} as ${doc.doc_id}. Readable by ${readers.length ? readers.join(", ") : "the whole tenant"}.`);
    uploadForm.reset();
    await load();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(uploadNotice, "error", problemTitle(err.problem), describeProblem(err.problem));
  } finally {
    uploadSubmit.disabled = false;
  }
}

// ------------------------------------------------------------------ delete

let pending = null;

function confirmDelete(doc, opener) {
  pending = doc;
  confirmText.textContent = `“${doc.title || doc.doc_id}” (${doc.id}) will be removed from the index for everyone who can read it.`;
  bindDialog(confirmDialog, opener);
  confirmDialog.showModal();
  document.getElementById("confirm-cancel").focus();
}

async function remove() {
  const doc = pending;
  pending = null;
  confirmDialog.close();
  if (!doc) return;
  try {
    await api(documentPath(doc.id), { method: "DELETE" });
    showNotice(listNotice, "success", "Deleted", `“${doc.title || doc.doc_id}” was deleted.`);
    documents = documents.filter((d) => d.id !== doc.id);
    render();
    filter.focus();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showNotice(listNotice, "error", problemTitle(err.problem), describeProblem(err.problem));
  }
}

function init() {
  if (!requireKey()) return;
  initChrome();
  uploadForm.addEventListener("submit", upload);
  filter.addEventListener("input", render);
  confirmOk.addEventListener("click", remove);
  load();
}

init();
