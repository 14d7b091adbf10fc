// The "Requests" panel of a mock's editor: what the mock's host received, newest first and
// live (the api's request journal, followed as server-sent events), the detail of one
// request (headers, body, the endpoint that answered or, in words, why none did), the
// endpoint's item shown in the editor, the request as a curl command, and clearing it all.
import { StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView } from "@codemirror/view";
import { h, showError, copyText } from "./dom.js";
import { mockUrl } from "./status.js";

const PAGE = 50; // requests loaded at a time
const KEEP = 500; // rows the panel holds; older ones stay behind "Older requests"
const BACKOFF_MS = [500, 1000, 2000, 5000]; // waits before opening the stream again, growing
const REDACTED = "[redacted]"; // what the journal shows for a secret header's value

// --- the editor: the item of an endpoint --------------------------------------------------

const indentOf = (text) => text.length - text.trimStart().length;

// The lines of the item that starts at `line` (1-based) of `doc`: it runs until a line
// indented no deeper than its first (the next item, or the end of the list), trailing
// blank lines left out; a closing bracket at its own depth (JSON) belongs to it.
export function itemLines(doc, line) {
  const first = Math.min(Math.max(line || 1, 1), doc.lines);
  const depth = indentOf(doc.line(first).text);
  let last = first;
  for (let n = first + 1; n <= doc.lines; n++) {
    const text = doc.line(n).text;
    if (!text.trim()) continue;
    if (indentOf(text) > depth) { last = n; continue; }
    if (indentOf(text) === depth && /^\s*[\]}]/.test(text)) last = n;
    break;
  }
  return { first, last };
}

const markItem = StateEffect.define();
const itemLine = Decoration.line({ class: "cm-request-item" });

function itemMarks(doc, { first, last }) {
  const marks = [];
  for (let n = first; n <= last; n++) marks.push(itemLine.range(doc.line(n).from));
  return Decoration.set(marks);
}

// The editor extension that marks the lines of the item the panel last showed, until the
// text changes.
export const requestHighlight = StateField.define({
  create: () => Decoration.none,
  update(marks, tr) {
    const shown = tr.effects.find((effect) => effect.is(markItem));
    if (shown) return itemMarks(tr.state.doc, shown.value);
    return tr.docChanged ? Decoration.none : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// Selects and marks, in `view`, the item that starts at `line`, and brings it into sight.
export function showItem(view, line) {
  const doc = view.state.doc;
  const lines = itemLines(doc, line);
  const from = doc.line(lines.first).from;
  view.dispatch({
    selection: { anchor: from, head: doc.line(lines.last).to },
    effects: [markItem.of(lines), EditorView.scrollIntoView(from, { y: "start", yMargin: 24 })],
  });
  view.dom.scrollIntoView({ block: "nearest" });
  view.focus();
  return lines;
}

// --- words and commands -----------------------------------------------------------------

export const requestTarget = (record) => `${record.path}${record.query ? `?${record.query}` : ""}`;

function timeOf(at) {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at ?? "";
  return date.toLocaleTimeString(undefined, { hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 });
}

function durationText(ms) {
  if (typeof ms !== "number") return "";
  return `${ms < 1 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

// "Closest: GET /users/:id (line 1) — the method is DELETE; this endpoint answers GET".
export function nearMissText(miss, index) {
  const why = (miss.differences || []).map((d) => d.message).join("; ");
  return `${index === 0 ? "Closest" : "Also close"}: ${miss.method} ${miss.path} (line ${miss.line}) — ${why}`;
}

// Headers a replay leaves out: curl sends its own host and content-length, hop-by-hop
// headers belonged to the connection the request came on, and the forwarding headers are
// the ones the service's own proxy added (it adds them again).
const NOT_REPLAYED = new Set([
  "host", "content-length", "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
  "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
  "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
]);

// `text` as one shell word: in single quotes, each ' written as '\''.
export const shellQuote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;

// The request as a curl command against the mock's `url`. A secret header (`[redacted]` in
// the journal) is kept with the placeholder `<redacted>`, so the command shows where it
// goes: put the real value there before running it. A cut body is sent as far as it was kept,
// which a comment above the command says.
export function curlCommand(record, url) {
  const method = /^[A-Za-z]+$/.test(record.method) ? record.method : shellQuote(record.method);
  const parts = [`curl -X ${method} ${shellQuote(`${url.replace(/\/+$/, "")}${requestTarget(record)}`)}`];
  for (const [name, value] of Object.entries(record.headers || {})) {
    if (NOT_REPLAYED.has(name.toLowerCase())) continue;
    parts.push(`-H ${shellQuote(`${name}: ${value === REDACTED ? "<redacted>" : value}`)}`);
  }
  if (record.body) parts.push(`--data-raw ${shellQuote(record.body)}`);
  const command = parts.join(" \\\n  ");
  return record.body_truncated ? `# the body was cut at 64 KiB: this sends its beginning\n${command}` : command;
}

// --- the live stream ----------------------------------------------------------------------

// One server-sent event from its block of lines: {event, id, data}, or null without data
// (a comment, such as a keep-alive).
export function parseEvent(block) {
  const event = { event: "message", id: null, data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.data.push(value);
    else if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
  }
  return event.data.length ? { ...event, data: event.data.join("\n") } : null;
}

// The events of a server-sent event `body` as they arrive; blocks end at a blank line.
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer = (buffer + value).replace(/\r\n/g, "\n");
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// A refusal that asking again will not change (the mock is gone, the session ended).
const final = (error) => error?.status >= 400 && error.status < 500 && ![408, 429].includes(error.status);

// Follows the request stream at `path` until `signal` aborts, resuming after `after`: each
// record goes to `onRecord`, the connection's state ("connecting", "live", "reconnecting",
// "stopped", with the error if any) to `onState`. A stream that ends (they last an hour) or
// fails opens again after a short wait, growing while it keeps failing, after the last
// record seen (Last-Event-ID).
async function follow({ stream, path, after, signal, onRecord, onState }) {
  let lastEventId = after;
  let failures = 0;
  while (!signal.aborted) {
    try {
      onState(failures ? "reconnecting" : "connecting");
      const response = await stream(`${path}/stream`, { lastEventId, signal });
      onState("live");
      failures = 0;
      for await (const event of serverSentEvents(response.body)) {
        if (event.event !== "request") continue;
        if (event.id) lastEventId = event.id;
        onRecord(JSON.parse(event.data));
      }
    } catch (e) {
      if (signal.aborted) return;
      if (final(e)) { onState("stopped", e); return; }
      failures++;
      onState("reconnecting", e);
    }
    await sleep(BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)], signal);
  }
}

// --- the detail of one request -------------------------------------------------------------

function showLine(line, testid, onShow) {
  return h("button", { type: "button", class: "link", "data-testid": testid, "data-line": line, onclick: () => onShow(line) },
    `show line ${line} in the editor`);
}

// Which endpoint answered, or that none did and which came closest, in words.
function matchSection(record, onShow) {
  const misses = record.near_misses || [];
  const answered = record.matched
    ? h("p", {}, h("span", { "data-testid": "request-matched" }, `Answered ${record.status}: matched the endpoint at line ${record.matched.line}.`),
      " ", showLine(record.matched.line, "request-highlight", onShow))
    : h("p", { class: "unmatched-note", "data-testid": "request-unmatched" },
      `No endpoint answered this request (status ${record.status}).`, misses.length ? "" : " No endpoint comes close.");
  const near = misses.length
    ? h("ul", { class: "near-misses", "data-testid": "request-near-misses" }, misses.map((miss, i) =>
      h("li", { "data-testid": "request-near-miss", "data-line": miss.line },
        h("span", { "data-testid": "request-near-miss-text" }, nearMissText(miss, i)), " ",
        showLine(miss.line, "request-near-miss-show", onShow))))
    : null;
  return h("div", { class: "request-match" }, answered, near);
}

function headersTable(headers) {
  const entries = Object.entries(headers || {});
  if (!entries.length) return h("p", { class: "muted" }, "No headers.");
  return h("table", { class: "headers", "data-testid": "request-headers" }, h("tbody", {}, entries.map(([name, value]) =>
    h("tr", { "data-testid": "request-header", "data-name": name },
      h("th", {}, name), h("td", { class: value === REDACTED ? "redacted" : null }, value)))));
}

function bodyBlock(record) {
  if (!record.body) return h("p", { class: "muted", "data-testid": "request-body-empty" }, "No body.");
  return h("div", {},
    h("pre", { class: "body", tabindex: 0, "data-testid": "request-body" }, record.body),
    record.body_truncated && h("p", { class: "hint", "data-testid": "request-body-truncated" },
      "The body was longer: the journal keeps its first 64 KiB, shown here."));
}

// "Copy as curl": copies the command, and shows it (to copy by hand when the browser may not).
function curlBlock(record, url) {
  const command = curlCommand(record, url);
  const text = h("textarea", { readonly: true, class: "curl", hidden: true, spellcheck: "false", rows: Math.min(command.split("\n").length + 1, 14), "data-testid": "request-curl" });
  text.value = command;
  const copied = h("span", { class: "hint", "data-testid": "request-curl-copied" });
  const copy = h("button", {
    type: "button",
    class: "secondary",
    "data-testid": "request-curl-copy",
    onclick: async () => {
      text.hidden = false;
      const ok = await copyText(command, text);
      copied.className = `hint ${ok ? "ok" : "bad"}`;
      copied.textContent = ok ? "Copied." : "Could not copy: select the text and copy it.";
    },
  }, "Copy as curl");
  return h("div", { class: "request-curl" }, h("div", { class: "row" }, copy, copied), text);
}

function requestDetail(record, url, onShow) {
  return [
    h("h3", { "data-testid": "request-title" }, `${record.method} ${requestTarget(record)}`),
    h("p", { class: "muted" }, new Date(record.at).toLocaleString(), ` · status ${record.status} · ${durationText(record.duration_ms)} · from `,
      h("span", { "data-testid": "request-client" }, record.client || "an unknown client")),
    matchSection(record, onShow),
    h("h4", {}, "Headers"), headersTable(record.headers),
    h("h4", {}, "Body"), bodyBlock(record),
    curlBlock(record, url),
  ];
}

function requestRow(record, onSelect) {
  const unmatched = !record.matched;
  return h("tr", {
    class: `request-row${unmatched ? " unmatched" : ""}`,
    "data-testid": "request-row",
    "data-id": record.id,
    "data-status": record.status,
    "data-matched": String(!unmatched),
    tabindex: 0,
    onclick: () => onSelect(record),
    onkeydown: (event) => { if (event.key === "Enter") onSelect(record); },
  },
    h("td", { class: "muted", title: record.at }, timeOf(record.at)),
    h("td", { class: "method" }, record.method),
    h("td", { class: "target" }, requestTarget(record)),
    h("td", {}, h("span", { class: `status s${String(record.status)[0]}xx` }, record.status),
      unmatched ? h("span", { class: "no-match", title: "no endpoint answered" }, "no match") : null),
    h("td", { class: "muted num" }, durationText(record.duration_ms)));
}

// --- the panel ------------------------------------------------------------------------------

const STATES = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", stopped: "stopped", loading: "loading…" };

class RequestsPanel {
  constructor({ mock, api, stream, view }) {
    Object.assign(this, { mock, api, stream, view });
    this.path = `/mocks/${encodeURIComponent(mock.id)}/requests`;
    this.rows = new Map(); // id → row, newest first in the table
    this.next = null; // the cursor of the older page, if any
    this.selected = null;
    this.controller = null;
    this.build();
  }

  build() {
    this.status = h("span", { class: "live muted", "data-testid": "requests-live" });
    this.error = h("div", { hidden: true, "data-testid": "requests-error" });
    this.clearButton = h("button", { class: "secondary", "data-testid": "requests-clear", onclick: () => this.clear() }, "Clear");
    this.body = h("tbody", {});
    this.table = h("table", { class: "requests", "data-testid": "requests-list", hidden: true },
      h("thead", {}, h("tr", {}, ["Time", "Method", "Path", "Status", "Duration"].map((t) => h("th", {}, t)))), this.body);
    this.empty = h("p", { class: "muted", "data-testid": "requests-empty", hidden: true },
      "No requests yet — send one to ", h("code", {}, mockUrl(this.mock)));
    this.more = h("button", { class: "link", "data-testid": "requests-more", hidden: true, onclick: () => this.loadOlder() }, "Older requests");
    this.detail = h("div", { class: "request-detail", "data-testid": "request-detail", hidden: true });
    this.element = h("section", { class: "card requests-panel", "data-testid": "requests-panel", hidden: true },
      h("div", { class: "toolbar" }, h("h2", {}, "Requests"), this.status, h("span", { class: "spacer" }), this.clearButton),
      this.error,
      h("div", { class: "requests-body" },
        h("div", { class: "requests-scroll", tabindex: 0, "aria-label": "Requests received" }, this.empty, this.table, h("p", {}, this.more)),
        this.detail));
  }

  // Opens the panel if closed, closes it if open; whether it is open now.
  toggle() {
    if (this.element.hidden) this.open();
    else this.close();
    return !this.element.hidden;
  }

  open() {
    this.controller?.abort();
    this.controller = new AbortController();
    this.element.hidden = false;
    this.start(this.controller.signal);
  }

  close() {
    this.controller?.abort();
    this.controller = null;
    this.element.hidden = true;
  }

  setState(state, error) {
    this.status.textContent = STATES[state] ?? state;
    this.status.className = `live ${state === "live" ? "on" : "muted"}`;
    this.status.dataset.state = state;
    if (state === "live") showError(this.error, null);
    else if (error) showError(this.error, state === "stopped" ? `The live view stopped: ${error.message}` : error);
  }

  // The newest page, then the live stream after it.
  async start(signal) {
    this.setState("loading");
    showError(this.error, null);
    let page;
    try {
      page = await this.api("GET", `${this.path}?limit=${PAGE}`);
    } catch (e) {
      if (!signal.aborted) { showError(this.error, e); this.setState("stopped"); }
      return;
    }
    if (signal.aborted) return;
    this.reset();
    this.append(page);
    await follow({
      stream: this.stream,
      path: this.path,
      after: page.requests[0]?.id,
      signal,
      onRecord: (record) => this.prepend(record),
      onState: (state, error) => this.setState(state, error),
    });
  }

  async loadOlder() {
    if (!this.next) return;
    this.more.disabled = true;
    try {
      this.append(await this.api("GET", `${this.path}?limit=${PAGE}&before=${encodeURIComponent(this.next)}`));
    } catch (e) {
      showError(this.error, e);
    } finally {
      this.more.disabled = false;
    }
  }

  async clear() {
    this.clearButton.disabled = true;
    try {
      await this.api("DELETE", this.path);
      showError(this.error, null);
      this.reset();
    } catch (e) {
      showError(this.error, e);
    } finally {
      this.clearButton.disabled = false;
    }
  }

  reset() {
    this.rows.clear();
    this.body.replaceChildren();
    this.next = null;
    this.select(null);
    this.update();
  }

  // A page of older requests (newest first) goes below the rows there are.
  append(page) {
    for (const record of page.requests) {
      if (this.rows.has(record.id)) continue;
      const row = requestRow(record, (r) => this.select(r));
      this.rows.set(record.id, row);
      this.body.append(row);
    }
    this.next = page.next;
    this.update();
  }

  // A request that just arrived goes on top; past KEEP rows, the oldest go below "Older".
  prepend(record) {
    if (this.rows.has(record.id)) return;
    const row = requestRow(record, (r) => this.select(r));
    this.rows.set(record.id, row);
    this.body.prepend(row);
    while (this.rows.size > KEEP) {
      const oldest = this.body.lastElementChild;
      this.rows.delete(oldest.dataset.id);
      oldest.remove();
      this.next = this.body.lastElementChild.dataset.id;
    }
    this.update();
  }

  update() {
    const none = this.rows.size === 0;
    this.empty.hidden = !none;
    this.table.hidden = none;
    this.more.hidden = !this.next;
  }

  select(record) {
    this.rows.get(this.selected?.id)?.classList.remove("selected");
    this.selected = record;
    this.detail.hidden = !record;
    if (!record) { this.detail.replaceChildren(); return; }
    this.rows.get(record.id)?.classList.add("selected");
    this.detail.dataset.id = record.id;
    this.detail.replaceChildren(...requestDetail(record, mockUrl(this.mock), (line) => showItem(this.view, line)));
  }
}

// The panel of `mock` (its element starts hidden: `open` shows it and follows the requests,
// `close` hides it and stops), using `api` for calls, `stream` for the live stream and
// showing endpoints in the editor `view`.
export function requestsPanel(options) {
  return new RequestsPanel(options);
}
