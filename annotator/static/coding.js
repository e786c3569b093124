// The coding page (templates/coding/code.html). Each part of the page is a module under
// static/coding/; this one starts them.

import { setUpAutosave } from "./coding/autosave.js";
import { setUpEvidence } from "./coding/evidence.js";
import { setUpKeys } from "./coding/keys.js";
import { setUpSplit } from "./coding/split.js";

const root = document.querySelector("[data-coding]");

if (root) {
  setUpSplit(root);
  setUpEvidence(root);
  setUpKeys(root);
  setUpAutosave(root);
  // Find and the keyword highlights load after the rest, keeping the form and its shortcuts
  // as quick to start as before; both take up pages pdf.js drew in the meantime.
  import("./coding/find.js").then(({ setUpFind }) => setUpFind(root));
  import("./coding/keywords.js").then(({ setUpKeywords }) => setUpKeywords(root));
}
