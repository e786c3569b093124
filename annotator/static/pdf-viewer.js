// The PDF viewer of the coding page: the vendored pdf.js draws each page on a canvas, with
// a text layer above it so that a coder can select and copy a passage as evidence.
//
// Markup (templates/_pdf_viewer.html): an element with [data-pdf-viewer], data-pdf-url (the
// stored file) and data-pdfjs-base (the vendored pdf.js folder, ending in "/").
// Pages are drawn only when they scroll into view. For tests, the element's
// data-rendered-pages lists the pages drawn so far ("1 2"), and each drawn page fires a
// `pdf-page-rendered` event (detail: {page}) that bubbles from the page.
//
// Safety: pdf.js runs the PDF's parsing in a worker, never runs a PDF's own JavaScript
// (no scripting sandbox is vendored or enabled) and never evaluates strings (6.x has no
// eval code path; the page's CSP forbids it anyway). XFA forms stay off.

const MIN_SCALE = 0.5;
const MAX_SCALE = 3;
const SCALE_STEP = 0.25;

class PdfViewer {
  constructor(root, pdfjs) {
    this.root = root;
    this.pdfjs = pdfjs;
    this.scale = 1.25;
    this.pages = []; // {number, element, state: "empty" | "rendering" | "done", task, textLayer}
    this.pagesElement = root.querySelector("[data-role=pages]");
    this.statusElement = root.querySelector("[data-role=status]");
    this.pageInput = root.querySelector("[data-role=page-number]");
    this.pageCountElement = root.querySelector("[data-role=page-count]");
    this.zoomElement = root.querySelector("[data-role=zoom]");
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), {
      rootMargin: "200px 0px",
    });
  }

  async open() {
    const base = new URL(this.root.dataset.pdfjsBase, document.baseURI).href;
    const task = this.pdfjs.getDocument({
      url: this.root.dataset.pdfUrl,
      cMapUrl: base + "cmaps/",
      cMapPacked: true,
      standardFontDataUrl: base + "standard_fonts/",
      wasmUrl: base + "wasm/",
      iccUrl: base + "iccs/",
      enableXfa: false,
      // Kept for older pdf.js versions (the fix for CVE-2024-4367); 6.x ignores it.
      isEvalSupported: false,
    });
    this.document = await task.promise;
    const first = await this.document.getPage(1);
    this.defaultSize = first.getViewport({ scale: 1 });
    this.pageCountElement.textContent = String(this.document.numPages);
    this.pageInput.max = String(this.document.numPages);
    this.statusElement.remove();
    for (let number = 1; number <= this.document.numPages; number++) {
      const element = document.createElement("div");
      element.className = "pdf-page";
      element.dataset.page = String(number);
      element.setAttribute("aria-label", this.root.dataset.pageLabel.replace("{number}", number));
      this.pagesElement.append(element);
      this.pages.push({ number, element, state: "empty", size: null });
    }
    this.layout();
    this.bindControls();
    this.root.dataset.pageCount = String(this.document.numPages);
    this.root.classList.add("is-ready");
  }

  bindControls() {
    this.root.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action === "prev") this.goTo(this.currentPage() - 1);
      else if (action === "next") this.goTo(this.currentPage() + 1);
      else if (action === "zoom-in") this.zoom(this.scale + SCALE_STEP);
      else if (action === "zoom-out") this.zoom(this.scale - SCALE_STEP);
    });
    this.pageInput.addEventListener("change", () => this.goTo(Number(this.pageInput.value)));
    this.pagesElement.addEventListener("scroll", () => this.updatePageInput(), { passive: true });
    this.scrollParent().addEventListener("scroll", () => this.updatePageInput(), {
      passive: true,
    });
  }

  scrollParent() {
    return this.root.closest(".document-pane") || document.scrollingElement;
  }

  // Size every page (placeholder or drawn) for the current scale, then (re)observe them so
  // that the observer reports which ones are in view now.
  layout() {
    this.observer.disconnect();
    for (const page of this.pages) {
      const size = page.size || this.defaultSize;
      page.element.style.setProperty("--scale-factor", String(this.scale));
      page.element.style.width = `${Math.floor(size.width * this.scale)}px`;
      page.element.style.height = `${Math.floor(size.height * this.scale)}px`;
      this.observer.observe(page.element);
    }
    this.zoomElement.textContent = `${Math.round(this.scale * 100)}%`;
  }

  onIntersect(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const page = this.pages[Number(entry.target.dataset.page) - 1];
      if (page.state === "empty") this.render(page);
    }
  }

  async render(page) {
    page.state = "rendering";
    const scale = this.scale;
    const pdfPage = await this.document.getPage(page.number);
    const viewport = pdfPage.getViewport({ scale });
    page.size = pdfPage.getViewport({ scale: 1 });
    const ratio = window.devicePixelRatio || 1;
    const canvas = document.createElement("canvas");
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    const textLayer = document.createElement("div");
    textLayer.className = "textLayer";
    page.task = pdfPage.render({
      canvas,
      viewport,
      transform: ratio === 1 ? null : [ratio, 0, 0, ratio, 0, 0],
    });
    page.textLayer = new this.pdfjs.TextLayer({
      textContentSource: pdfPage.streamTextContent(),
      container: textLayer,
      viewport,
    });
    try {
      await Promise.all([page.task.promise, page.textLayer.render()]);
    } catch (error) {
      if (error?.name === "RenderingCancelledException" || error?.name === "AbortException") {
        return;
      }
      throw error;
    }
    if (scale !== this.scale) return; // zoomed while drawing: layout() queued a redraw
    page.element.replaceChildren(canvas, textLayer);
    page.element.style.width = `${Math.floor(viewport.width)}px`;
    page.element.style.height = `${Math.floor(viewport.height)}px`;
    page.state = "done";
    const drawn = new Set((this.root.dataset.renderedPages || "").split(" ").filter(Boolean));
    drawn.add(String(page.number));
    this.root.dataset.renderedPages = [...drawn].sort((a, b) => a - b).join(" ");
    page.element.dispatchEvent(
      new CustomEvent("pdf-page-rendered", { bubbles: true, detail: { page: page.number } }),
    );
  }

  zoom(scale) {
    const clamped = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    if (clamped === this.scale) return;
    const current = this.currentPage();
    this.scale = clamped;
    for (const page of this.pages) {
      page.task?.cancel();
      page.textLayer?.cancel();
      page.task = page.textLayer = null;
      page.state = "empty";
      page.element.replaceChildren();
    }
    this.root.dataset.renderedPages = "";
    this.layout();
    this.goTo(current);
  }

  currentPage() {
    const top = this.scrollParent().getBoundingClientRect().top;
    for (const page of this.pages) {
      if (page.element.getBoundingClientRect().bottom > top + 1) return page.number;
    }
    return this.pages.length;
  }

  goTo(number) {
    if (!Number.isInteger(number) || number < 1 || number > this.pages.length) {
      this.updatePageInput();
      return;
    }
    this.pages[number - 1].element.scrollIntoView({ block: "start" });
    this.pageInput.value = String(number);
  }

  updatePageInput() {
    if (document.activeElement !== this.pageInput) {
      this.pageInput.value = String(this.currentPage());
    }
  }
}

async function start(root) {
  const base = new URL(root.dataset.pdfjsBase, document.baseURI).href;
  try {
    const pdfjs = await import(base + "build/pdf.min.mjs");
    pdfjs.GlobalWorkerOptions.workerSrc = base + "build/pdf.worker.min.mjs";
    await new PdfViewer(root, pdfjs).open();
  } catch (error) {
    root.classList.add("has-failed");
    const status = root.querySelector("[data-role=status]");
    if (status) {
      status.textContent = root.dataset.failedMessage.replace("{error}", error?.message || error);
    }
    throw error;
  }
}

for (const root of document.querySelectorAll("[data-pdf-viewer]")) {
  start(root);
}
