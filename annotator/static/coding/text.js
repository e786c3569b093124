// Text offsets and highlights shared by the coding page's modules.
//
// Offsets: the server counts characters (code points); the DOM counts UTF-16 units, so every
// offset crosses between the two with codePoints() / unitsFor().

export function codePoints(text) {
  return [...text].length;
}

// The UTF-16 index of code point `count` in `text`.
export function unitsFor(text, count) {
  let units = 0;
  let seen = 0;
  for (const character of text) {
    if (seen === count) break;
    units += character.length;
    seen += 1;
  }
  return units;
}

export function pageTextElement(page) {
  return document.querySelector(`.page[data-page="${page}"] .page-text`);
}

// Wrap [start, end) (code points of the page text) in <mark> elements, one per text node.
export function highlight(page, start, end, id) {
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
