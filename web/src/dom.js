// Small DOM helpers shared by the pages of the web interface.

// An element: `attrs` become attributes (`on…` ones listeners, `class` the class name;
// null, undefined and false are left out), `children` nodes or text.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function showError(box, error) {
  box.replaceChildren();
  if (!error) { box.hidden = true; return; }
  box.hidden = false;
  box.className = "error";
  box.textContent = error instanceof Error ? error.message : String(error);
}

export function showNotice(box, text) {
  box.hidden = false;
  box.className = "notice";
  box.textContent = text;
}

// Copies `text` to the clipboard; without the permission, selects `input` (where the text
// shows) and asks the browser to copy the selection.
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    try { return document.execCommand("copy"); } catch { return false; }
  }
}

let fieldIds = 0;

// The label of `control`, tied to it (`for`), so assistive technology names the control.
export function label(text, control) {
  if (!control.id) control.id = `field-${++fieldIds}`;
  return h("label", { for: control.id }, text);
}

// A labelled control in its own box; `attrs` are the box's (its class, for the layout).
export const field = (text, control, attrs = {}) => h("div", attrs, label(text, control), control);
