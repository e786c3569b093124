// Evidence: select a passage in the document pane, attach it to a variable, and draw each
// evidence quote as a highlight in the document.

import { codePoints, highlight } from "./text.js";

let root = null;

function csrfToken() {
  return document.querySelector("#label-form input[name=csrf_token]")?.value || "";
}

function variables() {
  return [...document.querySelectorAll("#label-form .variable[id^='variable-']")].map((element) => ({
    id: element.id.slice("variable-".length),
    label: element.querySelector(".variable-label")?.childNodes[0]?.textContent.trim() || "",
    element,
  }));
}

// What is selected in the document pane: {page, quote, start?}, or null.
function currentSelection() {
  const selection = window.getSelection();
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) return null;
  const range = selection.getRangeAt(0);
  const anchor =
    range.commonAncestorContainer.nodeType === Node.ELEMENT_NODE
      ? range.commonAncestorContainer
      : range.commonAncestorContainer.parentElement;
  const text = selection.toString();
  if (!text.trim()) return null;
  const pageText = anchor?.closest(".page[data-page] .page-text");
  if (pageText) {
    const before = document.createRange();
    before.setStart(pageText, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const leading = text.length - text.trimStart().length;
    const start = codePoints(before.toString() + text.slice(0, leading));
    const page = Number(pageText.closest(".page").dataset.page);
    return { page, quote: text.trim(), start };
  }
  const pdfPage = anchor?.closest(".pdf-page[data-page]");
  if (pdfPage && anchor.closest(".textLayer, .pdf-page")) {
    return { page: Number(pdfPage.dataset.page), quote: text.trim() };
  }
  return null;
}

let menu = null;

function closeMenu() {
  menu?.remove();
  menu = null;
}

function showMessage(text, isError) {
  let message = document.querySelector(".attach-message");
  if (!message) {
    message = document.createElement("p");
    message.className = "attach-message";
    message.setAttribute("role", "status");
    root.querySelector(".form-pane")?.prepend(message);
  }
  message.textContent = text;
  message.classList.toggle("is-error", Boolean(isError));
}

function addToList(item) {
  const variable = document.getElementById(`variable-${item.variable}`);
  if (!variable) return;
  let list = variable.querySelector("ul.evidence");
  if (!list) {
    list = document.createElement("ul");
    list.className = "evidence";
    variable.append(list);
  }
  const entry = document.createElement("li");
  entry.dataset.evidenceId = String(item.id);
  entry.dataset.page = String(item.page);
  entry.dataset.start = String(item.start);
  entry.dataset.end = String(item.end);
  const link = document.createElement("a");
  link.href = `#page-${item.page}`;
  link.className = "evidence-link";
  link.textContent = `p. ${item.page}: “${item.quote}”`;
  entry.append(link);
  list.append(entry);
}

async function attach(variable, chosen) {
  closeMenu();
  let response;
  try {
    response = await fetch(root.dataset.evidenceUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ variable, ...chosen }),
    });
  } catch (error) {
    showMessage(`Evidence not added: ${error.message || error}`, true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    showMessage(`Evidence not added: ${body.error || response.status}`, true);
    return;
  }
  const item = body.evidence;
  // Attaching changed the label set: the form saves against the new revision.
  const revision = document.querySelector("#label-form input[name=revision]");
  if (revision) revision.value = String(body.revision);
  addToList(item);
  highlight(item.page, item.start, item.end, item.id);
  window.getSelection()?.removeAllRanges();
  showMessage("Evidence added.", false);
}

function openMenu(chosen, x, y) {
  closeMenu();
  menu = document.createElement("div");
  menu.className = "attach-menu";
  menu.setAttribute("role", "menu");
  const title = document.createElement("p");
  title.textContent = "Attach to…";
  menu.append(title);
  for (const variable of variables()) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.dataset.variable = variable.id;
    button.textContent = variable.label || variable.id;
    button.addEventListener("click", () => attach(variable.id, chosen));
    menu.append(button);
  }
  menu.style.left = `${x + window.scrollX}px`;
  menu.style.top = `${y + window.scrollY + 8}px`;
  document.body.append(menu);
}

function scrollToEvidence(entry) {
  const id = entry.dataset.evidenceId;
  const page = Number(entry.dataset.page);
  const input = document.querySelector("[data-pdf-viewer] [data-role=page-number]");
  if (input) {
    input.value = String(page);
    input.dispatchEvent(new Event("change"));
    return;
  }
  const mark = document.querySelector(`mark.evidence[data-evidence-id="${id}"]`);
  const target = mark || document.getElementById(`page-${page}`);
  for (const other of document.querySelectorAll("mark.evidence.is-target")) {
    other.classList.remove("is-target");
  }
  mark?.classList.add("is-target");
  target?.scrollIntoView({ block: "center" });
}

export function setUpEvidence(element) {
  root = element;
  for (const entry of document.querySelectorAll("ul.evidence li[data-evidence-id]")) {
    highlight(
      Number(entry.dataset.page),
      Number(entry.dataset.start),
      Number(entry.dataset.end),
      entry.dataset.evidenceId,
    );
  }
  const pane = root.querySelector(".document-pane");
  if (!("submitted" in root.dataset)) {
    pane?.addEventListener("mouseup", (event) => {
      // Let the selection settle first.
      setTimeout(() => {
        const chosen = currentSelection();
        if (chosen) openMenu(chosen, event.clientX, event.clientY);
      }, 0);
    });
  }
  document.addEventListener("mousedown", (event) => {
    if (menu && !menu.contains(event.target)) closeMenu();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeMenu();
  });
  root.addEventListener("click", (event) => {
    const link = event.target.closest(".evidence-link");
    if (!link) return;
    event.preventDefault();
    scrollToEvidence(link.closest("li"));
  });
}

