// Text offsets, matching and highlights shared by the coding page's modules.
//
// Offsets: the server counts characters (code points); the DOM counts UTF-16 units, so every
// offset crosses between the two with codePoints() / unitsFor().
//
// Matching: text is compared "folded": each character NFKC-normalised on its own (full-width
// ＡＢＣ１２３ reads as abc123), lower-cased, and whitespace and invisible characters dropped.
// pdf.js splits a page's lines into spans and <br>s, the extractor has its own line breaks and
// spaces, an HTML rendering its markup's: none of these differences count, so a quote or a
// query spanning a line is found in all three. Each folded unit remembers the characters it
// came from, so a match maps back to the text (or to DOM ranges, for an index of an element).
//
// The views: where the coder reads a page. A PDF's pages are pdf.js text layers, drawn only
// when they scroll into view (and drawn again on zoom); an HTML or Markdown document is its
// sanitised rendering (.document-html); a text document, and any document whose rendering
// failed, is the extracted text (.page .page-text), which is also what evidence offsets count.

const IGNORED = /[\s\u00ad\u180e\u200b-\u200d\u2060\ufeff]/u;
const WORD = /[a-z0-9]/;
const folds = new Map();

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

function foldCharacter(character) {
  const code = character.charCodeAt(0);
  if (code < 128) {
    if (code <= 32 || code === 127) return "";
    return code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : character;
  }
  let folded = folds.get(character);
  if (folded === undefined) {
    folded = [...character.normalize("NFKC").toLowerCase()].filter((c) => !IGNORED.test(c)).join("");
    folds.set(character, folded);
  }
  return folded;
}

// `text` folded: {text, from, to}, where unit i of the folded text came from the source
// characters [from[i], to[i]) (UTF-16 offsets).
export function foldString(text) {
  const parts = [];
  const from = [];
  const to = [];
  let at = 0;
  for (const character of text) {
    const end = at + character.length;
    const folded = foldCharacter(character);
    if (folded) {
      parts.push(folded);
      for (let i = 0; i < folded.length; i++) {
        from.push(at);
        to.push(end);
      }
    }
    at = end;
  }
  return { text: parts.join(""), from, to };
}

export function foldNeedle(text) {
  return foldString(text).text;
}

const foldedElements = new WeakMap();

// The folded text of an element, kept while its text stays the same (highlights wrap text in
// marks but change no character, so the extracted text is folded once).
export function foldedText(element) {
  const content = element.textContent;
  let entry = foldedElements.get(element);
  if (!entry || entry.content !== content) {
    entry = { content, folded: foldString(content) };
    foldedElements.set(element, entry);
  }
  return entry.folded;
}

// The folded text of an element's text nodes, each unit mapped to its node and offsets:
// {text, nodes, node, from, to}. Valid until the element's text nodes change (a mark added or
// removed), so it is built again for each round of highlighting.
export function indexText(container) {
  const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
  const parts = [];
  const nodes = [];
  const node = [];
  const from = [];
  const to = [];
  for (let current = walker.nextNode(); current; current = walker.nextNode()) {
    const folded = foldString(current.data);
    if (!folded.text) continue;
    const number = nodes.length;
    nodes.push(current);
    parts.push(folded.text);
    for (let i = 0; i < folded.from.length; i++) {
      node.push(number);
      from.push(folded.from[i]);
      to.push(folded.to[i]);
    }
  }
  return { text: parts.join(""), nodes, node, from, to };
}

// Whether something (whitespace, a line or node boundary) separated folded units a and a + 1.
function separated(folded, a) {
  const b = a + 1;
  if (folded.node && folded.node[a] !== folded.node[b]) return true;
  return folded.to[a] < folded.from[b];
}

// A match of a Latin word or number stands alone: "110" is not the middle of "21100".
function wholeWord(folded, start, end) {
  const text = folded.text;
  if (start > 0 && WORD.test(text[start]) && WORD.test(text[start - 1]) && !separated(folded, start - 1)) {
    return false;
  }
  if (end < text.length && WORD.test(text[end - 1]) && WORD.test(text[end]) && !separated(folded, end - 1)) {
    return false;
  }
  return true;
}

// Every non-overlapping occurrence of a folded needle in a folded text, as [start, end) of
// folded units. With `wholeWords`, Latin words and numbers only where they stand alone.
export function findAll(folded, needle, { wholeWords = false } = {}) {
  const matches = [];
  if (!needle) return matches;
  const text = folded.text;
  let at = text.indexOf(needle);
  while (at >= 0) {
    const end = at + needle.length;
    if (!wholeWords || wholeWord(folded, at, end)) {
      matches.push([at, end]);
      at = text.indexOf(needle, end);
    } else {
      at = text.indexOf(needle, at + 1);
    }
  }
  return matches;
}

// Wrap each match of an index (see indexText) in <mark class=className> elements, one per
// text node it touches; returns the marks of each match, in document order. Marks of other
// kinds already there stay: the new ones go inside or around their text.
export function markMatches(index, matches, className) {
  const pieces = [];
  matches.forEach(([start, end], match) => {
    let piece = null;
    for (let unit = start; unit < end; unit++) {
      const number = index.node[unit];
      if (piece && piece.number === number) {
        piece.to = Math.max(piece.to, index.to[unit]);
      } else {
        piece = { number, from: index.from[unit], to: index.to[unit], match };
        pieces.push(piece);
      }
    }
  });
  // From the end of each node backwards: splitting off a later piece leaves the node holding
  // the text before it, where the offsets of the earlier pieces still point.
  pieces.sort((a, b) => a.number - b.number || b.from - a.from);
  const marks = matches.map(() => []);
  for (const piece of pieces) {
    const node = index.nodes[piece.number];
    if (piece.to < node.length) node.splitText(piece.to);
    const middle = piece.from > 0 ? node.splitText(piece.from) : node;
    const mark = document.createElement("mark");
    mark.className = className;
    middle.before(mark);
    mark.append(middle);
    marks[piece.match].push(mark);
  }
  return marks; // each match's pieces were wrapped in node order: document order
}

// Remove the marks of a class, keeping their text (and any other marks inside them).
export function unmark(container, className) {
  const parents = new Set();
  for (const mark of container.querySelectorAll(`mark.${className}`)) {
    parents.add(mark.parentNode);
    mark.replaceWith(...mark.childNodes);
  }
  for (const parent of parents) {
    if (parent?.isConnected) parent.normalize();
  }
}

// Where a match sits among all the matches of its needle: {rank, count, ratio}, the ratio
// being its position as a share of the text, to find "the same" occurrence in another view.
export function occurrence(matches, length, match) {
  return {
    rank: matches.indexOf(match),
    count: matches.length,
    ratio: length ? match[0] / length : 0,
  };
}

// The match of `matches` nearest to folded position `position`.
export function nearestMatch(matches, position) {
  let best = null;
  for (const match of matches) {
    if (!best || Math.abs(match[0] - position) < Math.abs(best[0] - position)) best = match;
  }
  return best;
}

// The match that corresponds to an occurrence found in another view of the same page: the
// same rank when both views hold as many occurrences, otherwise the nearest relative position.
export function correspondingMatch(matches, length, wanted) {
  if (matches.length === 0) return null;
  if (matches.length === wanted.count && wanted.rank >= 0) return matches[wanted.rank];
  return nearestMatch(matches, wanted.ratio * length);
}

// --- the views -------------------------------------------------------------------------------

export function pageTextElement(page) {
  return document.querySelector(`.page[data-page="${page}"] .page-text`);
}

export function pageTextElements() {
  return [...document.querySelectorAll(".document-pane .page[data-page] .page-text")];
}

// "pdf" (pdf.js text layers), "html" (the sanitised rendering) or "text" (the extracted text).
export function documentKind() {
  if (document.querySelector("[data-pdf-viewer]:not(.has-failed)")) return "pdf";
  if (document.querySelector(".document-html[data-page]")) return "html";
  return "text";
}

// The pdf.js text layer of a page, once drawn.
export function textLayer(page) {
  return document.querySelector(`.pdf-page[data-page="${page}"] .textLayer`);
}

export function htmlView(page) {
  return document.querySelector(`.document-html[data-page="${page}"]`);
}

// Call back (page, textLayer) whenever pdf.js has drawn a page, again after each zoom.
export function onPageDrawn(callback) {
  document.addEventListener("pdf-page-rendered", (event) => {
    const layer = event.target.querySelector?.(".textLayer");
    if (layer) callback(Number(event.detail?.page), layer);
  });
}

// The pdf.js text layers drawn so far, as [page, layer].
export function drawnTextLayers() {
  return [...document.querySelectorAll(".pdf-page[data-page] .textLayer")].map((layer) => [
    Number(layer.closest(".pdf-page").dataset.page),
    layer,
  ]);
}

// Ask the PDF viewer for a page: it scrolls there and draws it.
export function showPdfPage(page) {
  const input = document.querySelector("[data-pdf-viewer] [data-role=page-number]");
  if (!input) return;
  input.value = String(page);
  input.dispatchEvent(new Event("change"));
}

// Scroll an element to the middle of the document pane, opening a folded section around it.
export function reveal(element) {
  let folded = element.closest("details:not([open])");
  while (folded) {
    folded.open = true;
    folded = folded.parentElement?.closest("details:not([open])");
  }
  element.scrollIntoView({ block: "center" });
}

// Scroll a highlight in a PDF text layer into view, a third of the way down the part of the
// pane the sticky bars leave free; but when the highlight is visible with its page at the
// top of the pane, scroll no further up than that: the viewer's page number names the page
// at the top, which should be the highlight's.
export function revealInPdf(element) {
  const pane = element.closest(".document-pane");
  const pageElement = element.closest(".pdf-page");
  if (!pane || !pageElement) {
    reveal(element);
    return;
  }
  element.scrollIntoView({ block: "nearest", inline: "nearest" }); // sideways, when zoomed in
  const paneBox = pane.getBoundingClientRect();
  const bars = [".find-bar", ".pdf-toolbar"]
    .map((selector) => pane.querySelector(selector)?.offsetHeight || 0)
    .reduce((a, b) => a + b, 0);
  const free = paneBox.top + bars;
  const box = element.getBoundingClientRect();
  let delta = box.top - (free + (paneBox.bottom - free) / 3);
  const pageDelta = pageElement.getBoundingClientRect().top - paneBox.top;
  if (delta < pageDelta && box.top - pageDelta >= free) delta = pageDelta;
  pane.scrollBy({ top: delta });
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
