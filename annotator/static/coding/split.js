// The split between the document and the form: drag the handle between them, or focus it and
// use the arrow keys (Home and End for the extremes, a double click for the default). The
// document's share of the width is remembered in this browser for every coding page; a page
// with another balance (adjudication's wide comparison) names its own data-split-key and
// data-split-default on the root.

const KEY = "annotator:split";
const DEFAULT = 60;
const MIN = 20;
const MAX = 80;
const STEP = 2;

function clamp(share) {
  return Math.min(MAX, Math.max(MIN, Math.round(share * 10) / 10));
}

export function setUpSplit(root) {
  const handle = root.querySelector("[data-role=split-handle]");
  if (!handle) return;
  const key = root.dataset.splitKey || KEY;
  const fallback = Number(root.dataset.splitDefault) || DEFAULT;
  const apply = (share, remember) => {
    const value = clamp(share);
    root.style.setProperty("--document-share", `${value}%`);
    handle.setAttribute("aria-valuenow", String(Math.round(value)));
    if (remember) localStorage.setItem(key, String(value));
  };
  const stored = Number(localStorage.getItem(key));
  apply(Number.isFinite(stored) && stored > 0 ? stored : fallback, false);

  handle.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    handle.setPointerCapture(event.pointerId);
    root.classList.add("is-resizing");
  });
  handle.addEventListener("pointermove", (event) => {
    if (!handle.hasPointerCapture(event.pointerId)) return;
    const box = root.getBoundingClientRect();
    apply(((event.clientX - box.left) / box.width) * 100, false);
  });
  const finish = (event) => {
    if (!handle.hasPointerCapture(event.pointerId)) return;
    handle.releasePointerCapture(event.pointerId);
    root.classList.remove("is-resizing");
    apply(Number(handle.getAttribute("aria-valuenow")), true);
  };
  handle.addEventListener("pointerup", finish);
  handle.addEventListener("pointercancel", finish);
  handle.addEventListener("dblclick", () => apply(fallback, true));
  handle.addEventListener("keydown", (event) => {
    const now = Number(handle.getAttribute("aria-valuenow"));
    const next = {
      ArrowLeft: now - STEP,
      ArrowRight: now + STEP,
      Home: MIN,
      End: MAX,
    }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    apply(next, true);
  });
}
