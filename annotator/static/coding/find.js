// Find in the document: the find bar at the top of the document pane (templates/coding/code.html).
//
// Enter / Shift+Enter (or the arrows) go to the next / previous match, Escape clears, and
// Ctrl/Cmd+F focuses the bar (pressed again there, it opens the browser's own find). The
// browser's find cannot see PDF pages pdf.js has not drawn, so for a PDF the matches are
// counted over the whole document in the extracted text (the same pages), the viewer goes to
// the page of the current match, and the matches are highlighted in each text layer once it is
// drawn (all .find-hit, the current one also .find-current). HTML and text documents are
// searched and highlighted in what the coder sees. Matching ignores whitespace and case and
// folds full-width characters (see text.js), so a query may span a line break.

import {
  documentKind,
  drawnTextLayers,
  findAll,
  foldNeedle,
  foldedText,
  indexText,
  markMatches,
  onPageDrawn,
  pageTextElements,
  reveal,
  revealInPdf,
  showPdfPage,
  textLayer,
  unmark,
} from "./text.js";

const DELAY_MS = 150;

class Find {
  constructor(root, bar) {
    this.root = root;
    this.bar = bar;
    this.pane = root.querySelector(".document-pane");
    this.input = bar.querySelector("[data-role=find-query]");
    this.count = bar.querySelector("[data-role=find-count]");
    this.query = null;
    this.needle = "";
    this.kind = "text";
    this.matches = []; // {page, k (its rank on the page), source}
    this.current = -1;
    this.pending = false; // scroll to the current match once its PDF page is drawn
    this.hits = new WeakMap(); // view → the marks of each match in it
    this.timer = null;
  }

  start() {
    this.input.addEventListener("input", (event) => {
      if (event.isComposing) return; // an input method is still composing the query
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.search(), DELAY_MS);
    });
    this.input.addEventListener("compositionend", () => this.search());
    this.input.addEventListener("keydown", (event) => {
      if (event.isComposing) return;
      if (event.key === "Enter") {
        event.preventDefault();
        this.go(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.input.value = "";
        this.search();
      }
    });
    this.bar.addEventListener("click", (event) => {
      const direction = event.target.closest("[data-find]")?.dataset.find;
      if (direction === "next") this.go(1);
      else if (direction === "previous") this.go(-1);
    });
    document.addEventListener("keydown", (event) => {
      const command = (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey;
      if (!command || event.key.toLowerCase() !== "f") return;
      if (document.activeElement === this.input) return; // again: the browser's own find
      event.preventDefault();
      this.input.focus();
      this.input.select();
    });
    onPageDrawn((page, layer) => {
      if (this.needle && this.kind === "pdf") this.markView(layer, page);
    });
    // The PDF toolbar sticks below the bar, whose height changes as the pane narrows.
    if (this.pane && "ResizeObserver" in window) {
      new ResizeObserver(() => {
        this.pane.style.setProperty("--find-bar-height", `${this.bar.offsetHeight}px`);
      }).observe(this.bar);
    }
  }

  // Where matches are counted, and the view each is highlighted in.
  sources() {
    const pageOf = (element) => Number(element.closest("[data-page]").dataset.page);
    if (this.kind === "pdf") {
      return pageTextElements().map((element) => {
        const page = pageOf(element);
        return { page, element, view: () => textLayer(page) };
      });
    }
    const elements =
      this.kind === "html"
        ? [...document.querySelectorAll(".document-html[data-page]")]
        : pageTextElements();
    return elements.map((element) => ({ page: pageOf(element), element, view: () => element }));
  }

  search() {
    clearTimeout(this.timer);
    const query = this.input.value;
    if (this.pane) unmark(this.pane, "find-hit");
    this.hits = new WeakMap();
    this.query = query;
    this.needle = foldNeedle(query);
    this.matches = [];
    this.current = -1;
    this.pending = false;
    this.kind = documentKind();
    if (!this.needle) {
      this.showCount();
      return;
    }
    const sources = this.sources();
    for (const source of sources) {
      const found = findAll(foldedText(source.element), this.needle);
      found.forEach((_, k) => this.matches.push({ page: source.page, k, source }));
    }
    if (this.kind === "pdf") {
      for (const [page, layer] of drawnTextLayers()) this.markView(layer, page);
    } else {
      for (const source of sources) this.markView(source.element, source.page);
    }
    if (this.matches.length === 0) {
      this.showCount();
      return;
    }
    // From the page the coder is on, as a browser's find does.
    const here = this.kind === "pdf" ? this.viewerPage() : 1;
    this.select(Math.max(0, this.matches.findIndex((match) => match.page >= here)));
  }

  go(step) {
    if (this.input.value !== this.query) {
      this.search();
      return;
    }
    const total = this.matches.length;
    if (total === 0) return;
    this.select((this.current + step + total) % total);
  }

  viewerPage() {
    const input = document.querySelector("[data-pdf-viewer] [data-role=page-number]");
    return Number(input?.value) || 1;
  }

  // Highlight every match in a view of a page.
  markView(view, page) {
    if (this.hits.has(view)) return;
    const index = indexText(view);
    this.hits.set(view, markMatches(index, findAll(index, this.needle), "find-hit"));
    if (this.matches[this.current]?.page === page) this.showCurrent(this.pending);
  }

  select(position) {
    for (const mark of document.querySelectorAll("mark.find-current")) {
      mark.classList.remove("find-current");
    }
    this.current = position;
    this.showCount();
    this.showCurrent(true);
  }

  // Mark the current match, and scroll to it (going to its page first if it is not drawn).
  showCurrent(scroll) {
    const match = this.matches[this.current];
    if (!match) return;
    const view = match.source.view();
    const marks = view ? this.hits.get(view) : null;
    if (marks && marks.length > 0) {
      // pdf.js and the extractor may split a page differently: the nearest rank there is.
      const own = marks[Math.min(match.k, marks.length - 1)];
      for (const mark of own) mark.classList.add("find-current");
      if (scroll) {
        this.pending = false;
        if (this.kind === "pdf") revealInPdf(own[0]);
        else reveal(own[0]);
      }
      return;
    }
    if (scroll && this.kind === "pdf") {
      this.pending = !view;
      showPdfPage(match.page);
    }
  }

  showCount() {
    if (!this.count) return;
    const total = this.matches.length;
    if (!this.needle) this.count.textContent = "";
    else if (total === 0) this.count.textContent = this.bar.dataset.noneMessage || "No matches";
    else {
      this.count.textContent = (this.bar.dataset.countMessage || "{current} of {total}")
        .replace("{current}", String(this.current + 1))
        .replace("{total}", String(total));
    }
    this.bar.classList.toggle("has-no-match", Boolean(this.needle) && total === 0);
  }
}

export function setUpFind(root) {
  const bar = root.querySelector("[data-role=find]");
  if (!bar || !bar.querySelector("[data-role=find-query]")) return null;
  const find = new Find(root, bar);
  find.start();
  if (find.input.value) find.search(); // typed while this module was loading
  bar.classList.add("is-ready");
  return find;
}
