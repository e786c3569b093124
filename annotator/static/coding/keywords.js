// Indicator keywords: the codebook's option keywords highlighted in the document
// (mark.keyword, its title naming the variable and option), in each pdf.js text layer as it is
// drawn and in the HTML or text rendering. "Highlight keywords" in the find bar turns them
// off and on; the choice is remembered in this browser.
//
// Kept cheap: one pass per needle over the folded text of a drawn page (a few thousand
// characters), after pdf.js has drawn it; nothing is done for pages not drawn.

import {
  documentKind,
  drawnTextLayers,
  findAll,
  foldNeedle,
  indexText,
  markMatches,
  onPageDrawn,
  pageTextElements,
  unmark,
} from "./text.js";

const KEY = "annotator:keywords";
const LATIN_EDGE = /^[a-z0-9]|[a-z0-9]$/;

// The keywords as needles: one per folded keyword, naming every option that lists it,
// longest first (so that 网上报案 wins over 报案 where both match).
function needles(keywords) {
  const byNeedle = new Map();
  for (const item of keywords) {
    const needle = foldNeedle(item.keyword || "");
    if (!needle) continue;
    let entry = byNeedle.get(needle);
    if (!entry) {
      entry = { needle, names: [], wholeWords: LATIN_EDGE.test(needle) };
      byNeedle.set(needle, entry);
    }
    const name = `${item.variable_label}: ${item.option_label}`;
    if (!entry.names.includes(name)) entry.names.push(name);
  }
  return [...byNeedle.values()].sort((a, b) => b.needle.length - a.needle.length);
}

// Mark every keyword in a view; where keywords overlap, the earliest, then the longest wins.
function markKeywords(view, list) {
  if (view.querySelector("mark.keyword")) return; // marked already
  const index = indexText(view);
  const found = [];
  for (const entry of list) {
    for (const match of findAll(index, entry.needle, { wholeWords: entry.wholeWords })) {
      found.push([match[0], match[1], entry]);
    }
  }
  found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const chosen = [];
  let reached = 0;
  for (const match of found) {
    if (match[0] < reached) continue;
    chosen.push(match);
    reached = match[1];
  }
  const marks = markMatches(index, chosen.map(([start, end]) => [start, end]), "keyword");
  chosen.forEach(([, , entry], position) => {
    for (const mark of marks[position]) mark.title = entry.names.join("; ");
  });
}

// The views keywords are drawn in, besides PDF text layers (drawn as pages come).
function staticViews() {
  const kind = documentKind();
  if (kind === "html") return [...document.querySelectorAll(".document-html[data-page]")];
  if (kind === "text") return pageTextElements();
  return [];
}

export function setUpKeywords(root) {
  const source = root.querySelector("[data-role=find][data-keywords]");
  const toggle = root.querySelector("[data-role=keywords-toggle]");
  if (!source) return;
  let list;
  try {
    list = needles(JSON.parse(source.dataset.keywords));
  } catch {
    return;
  }
  if (list.length === 0) return;
  let on = localStorage.getItem(KEY) !== "off";
  if (toggle) toggle.checked = on;

  const drawAll = () => {
    for (const view of staticViews()) markKeywords(view, list);
    for (const [, layer] of drawnTextLayers()) markKeywords(layer, list);
  };
  const removeAll = () => {
    const pane = root.querySelector(".document-pane");
    if (pane) unmark(pane, "keyword");
  };

  onPageDrawn((page, layer) => {
    if (on) markKeywords(layer, list);
  });
  // After the page's first paint: a long text document has many keywords to mark.
  if (on) setTimeout(drawAll, 0);

  toggle?.addEventListener("change", () => {
    on = toggle.checked;
    try {
      localStorage.setItem(KEY, on ? "on" : "off");
    } catch {
      // Storage disabled: the choice holds for this page only.
    }
    removeAll();
    if (on) drawAll();
  });
}
