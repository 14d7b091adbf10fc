// The "State" panel of a mock's editor: what its stateful items remember on the mock
// servers (the state each scenario is in, how many requests each sequence answered, how
// many records each resource holds), as the api shows it, and a button that resets it all.
import { h, showError, showNotice } from "./dom.js";

// "1 request", "3 records".
const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function bytesText(bytes) {
  if (bytes < 1024) return count(bytes, "byte", "bytes");
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// One part of the state as a table of `names` (the first column's heading) and their
// values, each row `testid` with its name in `data-name`; null when there is nothing.
function stateTable({ title, names, valueHead, entries, testid, value }) {
  if (!entries.length) return null;
  return h("div", { class: "state-part", "data-testid": `${testid}s` },
    h("h3", {}, title),
    h("table", { class: "state" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, names), h("th", { scope: "col" }, valueHead))),
      h("tbody", {}, entries.map(([name, n]) =>
        h("tr", { "data-testid": testid, "data-name": name, "data-value": n },
          h("th", { scope: "row", class: "name" }, name), h("td", {}, value(n)))))));
}

class StatePanel {
  constructor({ mock, api }) {
    Object.assign(this, { mock, api });
    this.path = `/mocks/${encodeURIComponent(mock.id)}/state`;
    this.ticket = 0; // the last call to load
    this.build();
  }

  build() {
    this.summary = h("span", { class: "muted state-summary", "data-testid": "state-summary", "aria-live": "polite" });
    this.error = h("div", { hidden: true, "data-testid": "state-error" });
    this.notice = h("div", { hidden: true, "data-testid": "state-notice" });
    this.refreshButton = h("button", { type: "button", class: "secondary", "data-testid": "state-refresh", onclick: () => this.load() }, "Refresh");
    this.resetButton = h("button", {
      type: "button",
      class: "danger",
      "data-testid": "state-reset",
      title: "Sequences start at their first response, scenarios in started, resources with their seed records",
      onclick: () => this.reset(),
    }, "Reset state");
    this.empty = h("p", { class: "muted", "data-testid": "state-empty", hidden: true },
      "Nothing remembered: sequences, scenarios and resources show here once the mock answers with them.");
    this.parts = h("div", { class: "state-parts", "data-testid": "state-parts" });
    this.element = h("section", { class: "card state-panel", "data-testid": "state-panel", hidden: true, "aria-label": "State" },
      h("div", { class: "toolbar" }, h("h2", {}, "State"), this.summary, h("span", { class: "spacer" }), this.refreshButton, this.resetButton),
      this.error, this.notice, this.empty, this.parts);
  }

  // Opens the panel if closed, closes it if open; whether it is open now.
  toggle() {
    if (this.element.hidden) this.open();
    else this.close();
    return !this.element.hidden;
  }

  open() {
    this.element.hidden = false;
    showError(this.notice, null);
    this.load();
  }

  close() {
    this.element.hidden = true;
  }

  // Asks the api for the state and shows it; an answer to an older call than the last is
  // dropped. `data-state` on the panel says "loading", then "loaded".
  async load() {
    const ticket = ++this.ticket;
    this.refreshButton.disabled = true;
    this.element.dataset.state = "loading";
    try {
      const state = await this.api("GET", this.path);
      if (ticket !== this.ticket) return;
      this.render(state);
      showError(this.error, null);
    } catch (e) {
      if (ticket === this.ticket) showError(this.error, e);
    } finally {
      if (ticket === this.ticket) {
        this.refreshButton.disabled = false;
        this.element.dataset.state = "loaded";
      }
    }
  }

  render(state) {
    const scenarios = Object.entries(state.scenarios || {});
    const sequences = Object.entries(state.sequences || {});
    const resources = Object.entries(state.resources || {});
    const none = !scenarios.length && !sequences.length && !resources.length;
    const records = resources.length ? ` · ${bytesText(state.bytes ?? 0)} of records` : "";
    this.summary.textContent = state.revision == null ? "nothing remembered" : `revision ${state.revision}${records}`;
    this.empty.hidden = !none;
    this.parts.replaceChildren(...[
      stateTable({ title: "Scenarios", names: "Scenario", valueHead: "State", entries: scenarios, testid: "state-scenario", value: (s) => s }),
      stateTable({ title: "Sequences", names: "Sequence", valueHead: "Answered", entries: sequences, testid: "state-sequence", value: (n) => count(n, "request", "requests") }),
      stateTable({ title: "Resources", names: "Resource", valueHead: "Records", entries: resources, testid: "state-resource", value: (n) => count(n, "record", "records") }),
    ].filter(Boolean));
  }

  // Resets the state on the mock servers, then shows it again (empty).
  async reset() {
    this.resetButton.disabled = true;
    try {
      await this.api("POST", `${this.path}/reset`);
      showError(this.error, null);
      showNotice(this.notice, "State reset: the next request starts afresh.");
      await this.load();
    } catch (e) {
      showError(this.notice, null);
      showError(this.error, e);
    } finally {
      this.resetButton.disabled = false;
    }
  }
}

// The panel of `mock` (its element starts hidden: `open` shows it and loads the state,
// `close` hides it), using `api` for calls.
export function statePanel(options) {
  return new StatePanel(options);
}
