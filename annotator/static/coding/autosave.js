// Autosave and drafts: no entry is lost to a reload, a dropped connection or an ended session.
//
// Every change is written at once to localStorage (the draft) and saved to the server after a
// pause in typing (POST labels.json with the revision the page holds). When the server
// refuses because the label set was saved elsewhere in the meantime (409), saving pauses and
// the conflict panel lists what differs; the coder keeps theirs or loads the saved version.
// When the session has ended (401), the draft stays and the page offers to log in again; a
// CSRF refusal after a new login fetches a fresh token and tries again. When the page loads
// with a draft that differs from what the server sent, the draft is put back into the form and
// saved, against the revision it was made on, so that a change made elsewhere since is shown
// rather than overwritten.
//
// The draft holds only what is not saved yet: it is removed once the server has it.

const DELAY_MS = 800;
const RETRY_MS = [1000, 3000, 10000, 30000];
const PREFIX = "annotator:draft:";

export class Autosave {
  constructor(root, messages) {
    this.root = root;
    this.messages = messages;
    this.form = document.getElementById("label-form");
    this.revisionInput = this.form.querySelector("input[name=revision]");
    this.status = root.querySelector("[data-role=save-state]");
    this.panel = root.querySelector("[data-role=conflict]");
    this.key = `${PREFIX}${root.dataset.userId}:${root.dataset.documentId}`;
    this.readOnly = Boolean(this.form.querySelector("fieldset")?.disabled);
    this.timer = null;
    this.retry = null;
    this.attempt = 0;
    this.inFlight = null; // the promise of the save under way
    this.again = false; // something changed while a save was under way
    this.state = "idle"; // idle | conflict | login | offline
    this.conflictRevision = null;
    this.invalid = new Set(); // variables the server refused: saved without them meanwhile
    this.changedSinceSend = false; // the form changed after the last save was sent
  }

  start() {
    this.forgetOtherPeoplesDrafts();
    this.restore();
    if (this.readOnly) return;
    const changed = (event) => {
      if (!event.target.closest("#label-form")) return;
      const variable = event.target.closest(".variable")?.id?.slice("variable-".length);
      if (variable && this.invalid.delete(variable)) this.clearError(variable);
      this.changedSinceSend = true;
      this.writeDraft();
      this.schedule();
    };
    this.form.addEventListener("input", changed);
    this.form.addEventListener("change", changed);
    // A Save or Submit button posts the form: wait for a save under way, whose new revision
    // the post must carry, or the post would be refused as stale by the page's own save.
    this.form.addEventListener("submit", (event) => {
      clearTimeout(this.timer);
      if (!this.inFlight) return;
      event.preventDefault();
      const submitter = event.submitter;
      this.inFlight.finally(() => this.form.requestSubmit(submitter));
    });
    this.panel?.addEventListener("click", (event) => this.onPanelClick(event));
    window.addEventListener("online", () => this.resume());
    window.addEventListener("focus", () => this.resume());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.resume();
    });
  }

  // --- the form's values ---------------------------------------------------------------

  variableIds() {
    return [...this.form.querySelectorAll(".variable[id^='variable-']")].map((element) =>
      element.id.slice("variable-".length),
    );
  }

  // What the form holds: {values: {variable: value}, note}, in the shapes labels.json takes.
  read() {
    const values = {};
    for (const id of this.variableIds()) {
      const inputs = [...this.form.querySelectorAll(`[name="v_${id}"]`)];
      if (inputs.length === 0) continue;
      const kind = inputs[0].type;
      if (kind === "checkbox") {
        values[id] = inputs.filter((input) => input.checked).map((input) => input.value);
      } else if (kind === "radio") {
        values[id] = inputs.find((input) => input.checked)?.value ?? null;
      } else {
        values[id] = inputs[0].value;
      }
    }
    const note = this.form.querySelector("[name=note]")?.value ?? "";
    return { values, note };
  }

  write(state) {
    for (const [id, value] of Object.entries(state.values)) {
      for (const input of this.form.querySelectorAll(`[name="v_${id}"]`)) {
        if (input.type === "checkbox") input.checked = Array.isArray(value) && value.includes(input.value);
        else if (input.type === "radio") input.checked = input.value === value;
        else input.value = value ?? "";
      }
    }
    const note = this.form.querySelector("[name=note]");
    if (note) note.value = state.note ?? "";
  }

  // --- the draft -----------------------------------------------------------------------

  readDraft() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "null");
    } catch {
      return null;
    }
  }

  writeDraft() {
    const draft = { ...this.read(), revision: Number(this.revisionInput.value || 0), at: Date.now() };
    try {
      localStorage.setItem(this.key, JSON.stringify(draft));
    } catch {
      // Storage full or disabled: the server save still runs; nothing else to do here.
    }
  }

  removeDraft() {
    localStorage.removeItem(this.key);
  }

  // Drafts of whoever used this browser before hold their labels: coders are blind to each
  // other's work, so they go as soon as someone else opens a coding page.
  forgetOtherPeoplesDrafts() {
    const mine = `${PREFIX}${this.root.dataset.userId}:`;
    for (let index = localStorage.length - 1; index >= 0; index--) {
      const key = localStorage.key(index);
      if (key?.startsWith(PREFIX) && !key.startsWith(mine)) localStorage.removeItem(key);
    }
  }

  restore() {
    const draft = this.readDraft();
    if (!draft) return;
    if (same(draft, this.read())) {
      this.removeDraft();
      return;
    }
    const when = new Date(draft.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (this.readOnly) {
      this.show(this.messages.draftSubmitted.replace("{time}", when), "warning");
      return;
    }
    this.write(draft);
    this.show(this.messages.restored.replace("{time}", when), "warning");
    // Saved against the revision the draft was made on: if the label set changed since,
    // the server answers 409 and the differences are shown.
    this.save(draft.revision);
  }

  // --- saving --------------------------------------------------------------------------

  schedule() {
    clearTimeout(this.timer);
    if (this.state === "conflict" || this.state === "login") return;
    this.timer = setTimeout(() => this.save(), DELAY_MS);
  }

  resume() {
    if (this.state === "offline" || this.state === "login") this.save();
  }

  async save(revision = null) {
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    if (this.state === "conflict") return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = this.send(revision);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    if (this.again && this.state === "idle") {
      this.again = false;
      this.save();
    }
  }

  async send(revision, tokenRefreshed = false) {
    this.changedSinceSend = false;
    const state = this.read();
    const values = Object.fromEntries(
      Object.entries(state.values).filter(([id]) => !this.invalid.has(id)),
    );
    const body = {
      values,
      note: state.note,
      revision: revision ?? Number(this.revisionInput.value || 0),
    };
    this.show(this.messages.saving, "busy");
    let response;
    try {
      response = await fetch(this.root.dataset.saveUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body),
      });
    } catch {
      this.state = "offline";
      this.show(this.messages.offline, "error");
      this.retryLater();
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      this.saved(answer, { values, note: state.note });
    } else if (response.status === 409) {
      this.conflict(answer);
    } else if (response.status === 401) {
      this.loggedOut();
    } else if (response.status === 400 && answer.error === "csrf" && !tokenRefreshed) {
      if (await this.refreshToken()) await this.send(revision, true);
    } else if (response.status === 422 && answer.errors) {
      await this.refused(answer.errors, revision);
    } else {
      this.show(this.messages.failed.replace("{status}", String(response.status)), "error");
      this.retryLater();
    }
  }

  saved(answer, sent) {
    this.state = "idle";
    this.attempt = 0;
    this.revisionInput.value = String(answer.revision);
    const status = this.root.querySelector("[data-role=status]");
    if (status && answer.status === "in_progress") status.textContent = this.messages.inProgress;
    if (same(sent, this.read())) this.removeDraft();
    else this.writeDraft(); // typed on while saving: the draft now starts from the new revision
    if (this.changedSinceSend) {
      // Not "all saved": what was typed meanwhile goes with the save already scheduled.
      this.show(this.messages.saving, "busy");
      return;
    }
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (this.invalid.size > 0) {
      this.show(this.messages.savedExcept.replace("{time}", time), "warning");
    } else {
      this.show(this.messages.saved.replace("{time}", time), "ok");
    }
  }

  conflict(answer) {
    this.state = "conflict";
    this.conflictRevision = answer.revision;
    const rows = answer.differences || [];
    if (rows.length === 0) {
      // Saved elsewhere, but to what this page holds: nothing to choose.
      this.state = "idle";
      this.revisionInput.value = String(answer.revision);
      this.save();
      return;
    }
    const body = this.panel.querySelector("[data-role=conflict-rows]");
    body.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        tr.dataset.variable = row.variable;
        for (const text of [row.label, row.mine, row.theirs]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }),
    );
    this.panel.hidden = false;
    this.panel.scrollIntoView({ block: "nearest" });
    this.show(this.messages.conflict, "error");
  }

  onPanelClick(event) {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "take-saved") {
      this.removeDraft(); // the link then loads the page with the saved version
      return;
    }
    if (action !== "keep-mine" || this.state !== "conflict") return; // a server-shown panel posts the form
    event.preventDefault();
    this.state = "idle";
    this.revisionInput.value = String(this.conflictRevision);
    this.panel.hidden = true;
    this.writeDraft();
    this.save();
  }

  loggedOut() {
    this.state = "login";
    this.show(this.messages.loggedOut, "error", {
      href: this.root.dataset.loginUrl,
      text: this.messages.logIn,
    });
  }

  async refreshToken() {
    let response;
    try {
      response = await fetch(this.root.dataset.tokenUrl, { credentials: "same-origin" });
    } catch {
      this.state = "offline";
      this.show(this.messages.offline, "error");
      this.retryLater();
      return false;
    }
    if (response.status === 401) {
      this.loggedOut();
      return false;
    }
    const answer = await response.json().catch(() => ({}));
    if (!answer.csrf_token) return false;
    // Every form of the page posts with the new session's token from now on.
    for (const input of document.querySelectorAll("input[name=csrf_token]")) {
      input.value = answer.csrf_token;
    }
    return true;
  }

  async refused(errors, revision) {
    const variables = Object.keys(errors).filter((id) => id && !this.invalid.has(id));
    for (const id of variables) {
      this.invalid.add(id);
      this.markError(id, errors[id]);
    }
    if (variables.length > 0 && variables.length === Object.keys(errors).length) {
      // Save the rest now; the refused variables stay in the draft and the form.
      await this.send(revision);
      return;
    }
    this.show(errors[""] || Object.values(errors).join("; "), "error");
  }

  retryLater() {
    clearTimeout(this.retry);
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.retry = setTimeout(() => this.save(), delay);
  }

  // --- what the coder sees -----------------------------------------------------------------

  show(text, kind, link = null) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.dataset.kind = kind;
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text;
      this.status.append(" ", anchor);
    }
  }

  markError(id, message) {
    const variable = document.getElementById(`variable-${id}`);
    if (!variable) return;
    variable.classList.add("has-error");
    let note = variable.querySelector(".autosave-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error autosave-error";
      variable.querySelector(".variable-head")?.after(note);
    }
    note.textContent = message;
  }

  clearError(id) {
    const variable = document.getElementById(`variable-${id}`);
    variable?.querySelector(".autosave-error")?.remove();
    if (!variable?.querySelector(".field-error")) variable?.classList.remove("has-error");
  }
}

function csrfToken() {
  return document.querySelector("#label-form input[name=csrf_token]")?.value || "";
}

// Two form states hold the same entries (list order and surrounding blanks aside).
function same(a, b) {
  const canonical = (state) =>
    JSON.stringify({
      note: (state.note ?? "").trim(),
      values: Object.fromEntries(
        Object.entries(state.values || {})
          .map(([id, value]) => [
            id,
            Array.isArray(value) ? [...value].sort() : typeof value === "string" ? value.trim() : value,
          ])
          .filter(([, value]) => value !== "" && value !== null && !(Array.isArray(value) && value.length === 0))
          .sort(([x], [y]) => (x < y ? -1 : 1)),
      ),
    });
  return canonical(a) === canonical(b);
}

export function setUpAutosave(root) {
  const form = document.getElementById("label-form");
  if (!form || !root.dataset.messages) return null;
  const autosave = new Autosave(root, JSON.parse(root.dataset.messages));
  autosave.start();
  return autosave;
}
