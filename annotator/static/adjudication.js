// The adjudication page (templates/adjudication/document.html): the document beside the
// coders' values, with the coding page's split and evidence highlights (static/coding/). The
// root carries data-submitted, so a selection in the document attaches nothing.

import { setUpEvidence } from "./coding/evidence.js";
import { setUpSplit } from "./coding/split.js";

const root = document.querySelector("[data-adjudication]");

if (root) {
  setUpSplit(root);
  setUpEvidence(root);
}
