// The coding page (templates/coding/code.html): attach a selected passage as evidence, and
// draw each evidence quote as a highlight in the extracted text.
//
// Offsets: the server counts characters (code points); the DOM counts UTF-16 units, so every
// offset crosses between the two with codePoints() / unitsFor().

const root = document.querySelector("[data-coding]");

function csrfToken() {
  return document.querySelector("#label-form input[name=csrf_token]")?.value || "";
}

function codePoints(text) {
  return [...text].length;
}

// The UTF-16 index of code point `count` in `text`.
function unitsFor(text, count) {
  let units = 0;
  let seen = 0;
  for (const character of text) {
    if (seen === count) break;
    units += character.length;
    seen += 1;
  }
  return units;
}

function pageTextElement(page) {
  return document.querySelector(`.page[data-page="${page}"] .page-text`);
}

// Wrap [start, end) (code points of the page text) in <mark> elements, one per text node.
function highlight(page, start, end, id) {
  const container = pageTextElement(page);
  if (!container) return;
  const full = container.textContent;
  const from = unitsFor(full, start);
  const to = unitsFor(full, end);
  const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
  const pieces = [];
  let offset = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const length = node.data.length;
    const a = Math.max(from, offset);
    const b = Math.min(to, offset + length);
    if (a < b) pieces.push([node, a - offset, b - offset]);
    offset += length;
  }
  for (const [node, a, b] of pieces) {
    const range = document.createRange();
    range.setStart(node, a);
    range.setEnd(node, b);
    const mark = document.createElement("mark");
    mark.className = "evidence";
    mark.dataset.evidenceId = String(id);
    range.surroundContents(mark);
  }
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

if (root) {
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

// Keyboard: Ctrl/Cmd+S save, Ctrl/Cmd+Enter submit, Alt+→ / Alt+← next / previous document
// of the queue, 1–9 the nth option of the variable that has the focus.
function onKey(event) {
  const form = document.getElementById("label-form");
  const editable = form && !form.querySelector("fieldset")?.disabled;
  const command = event.ctrlKey || event.metaKey;
  if (command && !event.altKey && (event.key === "s" || event.key === "S")) {
    event.preventDefault();
    if (editable) form.querySelector("button[value=save]")?.click();
    return;
  }
  if (command && event.key === "Enter") {
    event.preventDefault();
    if (editable) form.querySelector("button[value=submit]")?.click();
    return;
  }
  if (event.altKey && !command && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
    const url = event.key === "ArrowRight" ? root.dataset.nextUrl : root.dataset.previousUrl;
    if (url) {
      event.preventDefault();
      window.location.assign(url);
    }
    return;
  }
  if (command || event.altKey || !/^[1-9]$/.test(event.key) || !editable) return;
  const focused = document.activeElement;
  if (!focused || focused.matches("textarea, select, input:not([type=radio]):not([type=checkbox])")) {
    return;
  }
  const variable = focused.closest("#label-form .variable");
  const option = variable?.querySelectorAll(".options input")[Number(event.key) - 1];
  if (!option) return;
  event.preventDefault();
  option.checked = option.type === "radio" ? true : !option.checked;
  option.focus();
  option.dispatchEvent(new Event("change", { bubbles: true }));
}

if (root) document.addEventListener("keydown", onKey);
