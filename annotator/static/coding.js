// The coding page (templates/coding/code.html). Each part of the page is a module under
// static/coding/; this one starts them.

import { setUpEvidence } from "./coding/evidence.js";
import { setUpKeys } from "./coding/keys.js";

const root = document.querySelector("[data-coding]");

if (root) {
  setUpEvidence(root);
  setUpKeys(root);
}
