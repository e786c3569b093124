// Keyboard: Ctrl/Cmd+S save, Ctrl/Cmd+Enter submit, Alt+→ / Alt+← next / previous document
// of the queue, 1–9 the nth option of the variable that has the focus.
function onKey(root, event) {
  const form = document.getElementById("label-form");
  const editable = form && !form.querySelector("fieldset")?.disabled;
  const command = event.ctrlKey || event.metaKey;
  if (command && !event.altKey && (event.key === "s" || event.key === "S")) {
    event.preventDefault();
    if (editable) form.querySelector("button[value=save]")?.click();
    return;
  }
  if (command && event.key === "Enter") {
    event.preventDefault();
    if (editable) form.querySelector("button[value=submit]")?.click();
    return;
  }
  if (event.altKey && !command && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
    const url = event.key === "ArrowRight" ? root.dataset.nextUrl : root.dataset.previousUrl;
    if (url) {
      event.preventDefault();
      window.location.assign(url);
    }
    return;
  }
  if (command || event.altKey || !/^[1-9]$/.test(event.key) || !editable) return;
  const focused = document.activeElement;
  if (!focused || focused.matches("textarea, select, input:not([type=radio]):not([type=checkbox])")) {
    return;
  }
  const variable = focused.closest("#label-form .variable");
  const option = variable?.querySelectorAll(".options input")[Number(event.key) - 1];
  if (!option) return;
  event.preventDefault();
  option.checked = option.type === "radio" ? true : !option.checked;
  option.focus();
  option.dispatchEvent(new Event("change", { bubbles: true }));
}

export function setUpKeys(root) {
  document.addEventListener("keydown", (event) => onKey(root, event));
}
