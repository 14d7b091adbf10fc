// Keyboard shortcuts: Ctrl (⌘ on a Mac) with a key, listened to on the whole page before
// anything else (the editor included) sees the key.

const MAC = /Mac|iPhone|iPad/.test(navigator.userAgentData?.platform ?? navigator.platform ?? "");

// How a shortcut reads in a title: "Ctrl+S" or "⌘S", "Ctrl+Enter" or "⌘Enter".
export const shortcutLabel = (key) => (MAC ? `⌘${key}` : `Ctrl+${key}`);

// The shortcut as aria-keyshortcuts names it: both modifiers work everywhere.
export const ariaShortcut = (key) => `Control+${key} Meta+${key}`;

// Calls `run` for Ctrl/⌘ + `key` (case aside; no Shift, no Alt) of `bindings`, {key: run},
// instead of what the browser would do. Returns the function that stops listening.
export function listenShortcuts(bindings) {
  const byKey = new Map(Object.entries(bindings).map(([key, run]) => [key.toLowerCase(), run]));
  const onKey = (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.shiftKey || event.altKey) return;
    const run = byKey.get(event.key.toLowerCase());
    if (!run) return;
    event.preventDefault();
    event.stopPropagation();
    run();
  };
  document.addEventListener("keydown", onKey, true);
  return () => document.removeEventListener("keydown", onKey, true);
}

// Whether a key typed into `target` is text (a field, a select, the editor), not a command.
export const typingIn = (target) =>
  Boolean(target?.closest?.("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
