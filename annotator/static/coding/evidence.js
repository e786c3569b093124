// Evidence: select a passage in the document pane, attach it to a variable, and draw each
// evidence quote as a highlight wherever the page is shown: in the extracted text by its
// offsets, and in the pdf.js text layer (each time a page is drawn) or the HTML rendering by
// matching the quote; a click on an evidence item goes to its highlight.

import {
  codePoints,
  correspondingMatch,
  documentKind,
  drawnTextLayers,
  findAll,
  foldNeedle,
  foldString,
  foldedText,
  highlight,
  htmlView,
  indexText,
  markMatches,
  nearestMatch,
  occurrence,
  onPageDrawn,
  pageTextElement,
  reveal,
  revealInPdf,
  showPdfPage,
  textLayer,
  unitsFor,
} from "./text.js";

let root = null;
// What this script says, in the interface language (the page's data-messages), with the
// English as a fallback.
let messages = {};

function say(key, english, values = {}) {
  let text = messages[key] || english;
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
  return text;
}

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
  const layer = anchor?.closest(".pdf-page[data-page] .textLayer");
  if (layer) return locateSelection(Number(layer.closest(".pdf-page").dataset.page), layer, range, text);
  const html = anchor?.closest(".document-html[data-page]");
  if (html) return locateSelection(Number(html.dataset.page), html, range, text);
  return null;
}

// A passage selected in a view other than the page text (a text layer, the HTML rendering):
// the same occurrence in the page text, as {page, quote, start} with the page's own text as
// the quote, so that a quote found twice on a page is stored where the coder selected it.
// Without a match there, {page, quote}: the server then looks for it itself.
function locateSelection(page, view, range, text) {
  const quote = text.trim();
  const needle = foldNeedle(quote);
  const pageText = pageTextElement(page);
  if (!needle || !pageText) return { page, quote };
  const before = document.createRange();
  before.setStart(view, 0);
  before.setEnd(range.startContainer, range.startOffset);
  const viewFolded = foldString(view.textContent);
  const viewMatches = findAll(viewFolded, needle);
  const selected = nearestMatch(viewMatches, foldNeedle(before.toString()).length);
  if (!selected) return { page, quote };
  const folded = foldedText(pageText);
  const wanted = occurrence(viewMatches, viewFolded.text.length, selected);
  const match = correspondingMatch(findAll(folded, needle), folded.text.length, wanted);
  if (!match) return { page, quote };
  const content = pageText.textContent;
  const from = folded.from[match[0]];
  const own = content.slice(from, folded.to[match[1] - 1]);
  if (own !== own.trim()) return { page, quote };
  return { page, quote: own, start: codePoints(content.slice(0, from)) };
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
  link.textContent = `${say("evidencePage", "p. {page}", { page: item.page })}: “${item.quote}”`;
  entry.append(link);
  list.append(entry);
  return entry;
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
    const problems = error.message || String(error);
    showMessage(say("evidenceNotAdded", "Evidence not added: {problems}", { problems }), true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const problems = body.error || String(response.status);
    showMessage(say("evidenceNotAdded", "Evidence not added: {problems}", { problems }), true);
    return;
  }
  const item = body.evidence;
  // Attaching changed the label set: the form saves against the new revision.
  const revision = document.querySelector("#label-form input[name=revision]");
  if (revision) revision.value = String(body.revision);
  const entry = addToList(item);
  highlight(item.page, item.start, item.end, item.id);
  if (entry) drawInViews(entry);
  window.getSelection()?.removeAllRanges();
  showMessage(say("evidenceAdded", "Evidence added."), false);
}

function openMenu(chosen, x, y) {
  closeMenu();
  menu = document.createElement("div");
  menu.className = "attach-menu";
  menu.setAttribute("role", "menu");
  const title = document.createElement("p");
  title.textContent = say("attachTo", "Attach to…");
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

// --- highlights in the text layer and the HTML rendering ------------------------------------

let target = null; // the evidence the coder last went to: .is-target, also when drawn again
let scrollPending = null; // the evidence to scroll to once its PDF page is drawn

function entries() {
  return [...document.querySelectorAll("ul.evidence li[data-evidence-id]")];
}

function markSelector(id) {
  return `mark.evidence[data-evidence-id="${CSS.escape(String(id))}"]`;
}

// The quote as stored: the page text between the item's offsets (the link shows it too).
function quoteOf(entry) {
  const pageText = pageTextElement(entry.dataset.page);
  const start = Number(entry.dataset.start);
  const end = Number(entry.dataset.end);
  if (pageText && end > start) {
    const content = pageText.textContent;
    return content.slice(unitsFor(content, start), unitsFor(content, end));
  }
  const shown = /“([\s\S]*)”$/.exec(entry.querySelector(".evidence-link")?.textContent.trim() || "");
  return shown ? shown[1] : "";
}

const occurrences = new WeakMap();

// Which occurrence of its quote in the page text the item is: {rank, count, ratio}.
function storedOccurrence(entry, needle) {
  let known = occurrences.get(entry);
  if (known) return known;
  const pageText = pageTextElement(entry.dataset.page);
  if (!pageText) return { rank: 0, count: 1, ratio: 0 };
  const folded = foldedText(pageText);
  const unit = unitsFor(pageText.textContent, Number(entry.dataset.start));
  let position = folded.from.findIndex((from) => from >= unit);
  if (position < 0) position = folded.text.length;
  const matches = findAll(folded, needle);
  const match = nearestMatch(matches, position);
  known = match
    ? occurrence(matches, folded.text.length, match)
    : { rank: -1, count: 0, ratio: folded.text.length ? position / folded.text.length : 0 };
  occurrences.set(entry, known);
  return known;
}

// Highlight an item's quote in a view of its page (a text layer, the HTML rendering): the
// occurrence that corresponds to the stored one when the quote is there more than once.
function drawIn(view, entry) {
  const id = entry.dataset.evidenceId;
  const drawn = view.querySelectorAll(markSelector(id));
  if (drawn.length > 0) return [...drawn];
  const needle = foldNeedle(quoteOf(entry));
  if (!needle) return [];
  const index = indexText(view);
  const match = correspondingMatch(
    findAll(index, needle),
    index.text.length,
    storedOccurrence(entry, needle),
  );
  if (!match) return [];
  const [marks] = markMatches(index, [match], "evidence");
  for (const mark of marks) {
    mark.dataset.evidenceId = id;
    mark.classList.toggle("is-target", id === target);
  }
  return marks;
}

function drawInViews(entry) {
  const page = Number(entry.dataset.page);
  for (const view of [textLayer(page), htmlView(page)]) {
    if (view) drawIn(view, entry);
  }
}

function drawOnPage(page, layer) {
  for (const entry of entries()) {
    if (Number(entry.dataset.page) !== page) continue;
    const marks = drawIn(layer, entry);
    if (scrollPending === entry.dataset.evidenceId && marks.length > 0) {
      scrollPending = null;
      revealInPdf(marks[0]);
    }
  }
}

function goToEvidence(entry) {
  const id = entry.dataset.evidenceId;
  const page = Number(entry.dataset.page);
  target = id;
  for (const other of document.querySelectorAll("mark.evidence.is-target")) {
    other.classList.remove("is-target");
  }
  for (const mark of document.querySelectorAll(markSelector(id))) mark.classList.add("is-target");
  const kind = documentKind();
  if (kind === "pdf") {
    const layer = textLayer(page);
    const mark = layer?.querySelector(markSelector(id));
    if (mark) {
      revealInPdf(mark);
      return;
    }
    // Not drawn yet: the viewer goes to the page, and the highlight is scrolled to once it is.
    scrollPending = layer ? null : id;
    showPdfPage(page);
    return;
  }
  const view = kind === "html" ? htmlView(page) : pageTextElement(page);
  const destination =
    view?.querySelector(markSelector(id)) || view || document.getElementById(`page-${page}`);
  if (destination) reveal(destination);
}

export function setUpEvidence(element) {
  root = element;
  messages = JSON.parse(root.dataset.messages || "{}");
  for (const entry of entries()) {
    highlight(
      Number(entry.dataset.page),
      Number(entry.dataset.start),
      Number(entry.dataset.end),
      entry.dataset.evidenceId,
    );
    drawInViews(entry);
  }
  onPageDrawn(drawOnPage);
  for (const [page, layer] of drawnTextLayers()) drawOnPage(page, layer);
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
    goToEvidence(link.closest("li"));
  });
}

