// The moclojer cloud web interface: sign-in, the mocks of every workspace, an editor per
// mock (with its history and the requests it received, live), orgs with their members, and personal API tokens. A small single-page app over the REST api (/api/v1); routes are real paths
// (the api answers index.html for them).
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";
import { SupabaseAuth } from "./supabase.js";
import { h, showError, showNotice, copyText } from "./dom.js";
import { requestsPanel, requestHighlight } from "./requests.js";

const TOKEN_KEY = "moclojer.token";
const UPLOAD_TYPES = [".yml", ".yaml", ".json", ".edn"];
const UPLOAD_MAX = 1024 * 1024;
const POLL_MS = 1000;
const app = document.getElementById("app");
const nav = document.getElementById("nav");
let me = null; // {id, email, handle}
let cleanup = []; // timers and editors of the current page
let config = { mode: "local", supabase: null }; // how people sign in (GET /api/v1/config)
let supabase = null; // the Supabase sign-in, in Supabase mode
let authMessage = null; // an error Supabase sent back in the URL, shown on the sign-in page

// --- the api ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message || `the api answered ${status}`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.details = error.details;
  }
}

// Whether a session is kept: the service's own token (local mode) or Supabase's.
function signedIn() {
  return supabase ? supabase.signedIn() : Boolean(localStorage.getItem(TOKEN_KEY));
}

async function currentToken(renew = false) {
  return supabase ? supabase.accessToken({ renew }) : localStorage.getItem(TOKEN_KEY);
}

function forgetSession() {
  if (supabase) supabase.forget();
  localStorage.removeItem(TOKEN_KEY);
  me = null;
}

// A call to the api with the session's token, answering the response as it came. A 401
// (outside /auth/) renews a Supabase token once and tries again, else ends the session.
async function apiFetch(method, path, { body, headers = {}, signal } = {}, retried = false) {
  const sent = { Accept: "application/json", ...headers };
  let token;
  try {
    token = await currentToken();
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: e.message } });
  }
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers: sent,
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: `the api cannot be reached (${e.message})` } });
  }
  if (response.status === 401 && !path.startsWith("/auth/")) {
    // A Supabase access token may have expired meanwhile: renew it once and try again.
    if (supabase && !retried && (await currentToken(true).catch(() => null))) {
      return apiFetch(method, path, { body, headers, signal }, true);
    }
    forgetSession();
    go("/signin");
  }
  return response;
}

async function readJson(response) {
  const text = await response.text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

async function api(method, path, body) {
  const response = await apiFetch(method, path, { body });
  const data = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A stream of server-sent events from the api (read with fetch: EventSource cannot send
// the token), resuming after `lastEventId`; the api's error when it refuses.
async function apiStream(path, { lastEventId, signal }) {
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await apiFetch("GET", path, { headers, signal });
  if (!response.ok) throw new ApiError(response.status, await readJson(response));
  return response;
}

// --- small DOM helpers ----------------------------------------------------------------

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function badge(kind, status, testid) {
  return h("span", { class: `badge ${status}`, "data-testid": testid, title: kind }, `${kind}: ${status}`);
}

function lastError(publication) {
  const server = publication?.server;
  if (server?.status === "invalid" && Array.isArray(server.diagnostics) && server.diagnostics.length) {
    const d = server.diagnostics[0];
    return `line ${d.line}, column ${d.column}: ${d.message}`;
  }
  if (publication?.dns?.status === "failed") return publication.dns.reason || "DNS failed";
  return null;
}

const busy = (publication) =>
  ["publishing"].includes(publication?.server?.status) || ["provisioning"].includes(publication?.dns?.status);

// --- routing ----------------------------------------------------------------------------

function go(path) {
  if (location.pathname !== path) history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (link && !event.metaKey && !event.ctrlKey) {
    event.preventDefault();
    go(link.getAttribute("href"));
  }
});
window.addEventListener("popstate", route);

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const path = location.pathname;
  if (!signedIn()) {
    renderNav();
    if (config.mode === "supabase") {
      if (path !== "/signin") history.replaceState(null, "", "/signin");
      return renderSupabaseSignIn();
    }
    return path === "/signup" ? renderAuth("signup") : (path !== "/signin" && history.replaceState(null, "", "/signin"), renderAuth("login"));
  }
  if (!me) {
    try {
      me = await api("GET", "/me");
    } catch (e) {
      if (e.status === 401) return;
      app.replaceChildren(h("div", { class: "error" }, e.message));
      return;
    }
  }
  renderNav();
  if (!me.handle) {
    if (path !== "/handle") history.replaceState(null, "", "/handle");
    return renderHandle();
  }
  const editor = path.match(/^\/mocks\/([^/]+)$/);
  if (editor) return renderEditor(decodeURIComponent(editor[1]));
  if (path === "/orgs") return renderOrgs();
  const org = path.match(/^\/orgs\/([^/]+)$/);
  if (org) return renderOrg(decodeURIComponent(org[1]));
  if (path === "/tokens") return renderTokens();
  if (path !== "/") history.replaceState(null, "", "/");
  return renderList();
}

function renderNav() {
  nav.replaceChildren();
  if (!signedIn()) return;
  if (me?.handle) {
    const path = location.pathname;
    const link = (href, label, testid, active) =>
      h("a", { href, "data-link": true, "data-testid": testid, class: active ? "active" : null }, label);
    nav.append(
      link("/", "Mocks", "nav-mocks", path === "/" || path.startsWith("/mocks/")),
      link("/orgs", "Orgs", "nav-orgs", path === "/orgs" || path.startsWith("/orgs/")),
      link("/tokens", "API tokens", "nav-tokens", path === "/tokens"),
    );
  }
  nav.append(
    h("span", { class: "muted", "data-testid": "whoami" }, me?.handle ? `@${me.handle}` : me?.email ?? ""),
    h("button", { class: "secondary", "data-testid": "signout", onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  if (supabase) await supabase.signOut();
  else try { await api("POST", "/auth/logout"); } catch { /* signed out either way */ }
  forgetSession();
  go("/signin");
}

// --- sign in / sign up ------------------------------------------------------------------

function renderAuth(kind) {
  const signup = kind === "signup";
  const error = h("div", { hidden: true, "data-testid": "auth-error" });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: signup ? "new-password" : "current-password", required: true });
  const submit = h("button", { type: "submit" }, signup ? "Create account" : "Sign in");
  const form = h("form", {
    class: "card narrow",
    "data-testid": signup ? "signup-form" : "signin-form",
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const reply = await api("POST", `/auth/${signup ? "signup" : "login"}`, { email: email.value, password: password.value });
        localStorage.setItem(TOKEN_KEY, reply.token);
        me = reply.user;
        go("/");
      } catch (e) {
        showError(error, e);
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h1", {}, signup ? "Create your account" : "Sign in"),
    h("label", {}, "E-mail"), email,
    h("label", {}, "Password"), password,
    h("p", {}, submit),
    error,
    h("p", { class: "muted" }, signup ? "Have an account? " : "New here? ",
      h("a", { href: signup ? "/signin" : "/signup", "data-link": true }, signup ? "Sign in" : "Create an account")),
  );
  app.replaceChildren(form);
  email.focus();
}

// Supabase mode: a magic link by e-mail, or GitHub; both come back to this page.
function renderSupabaseSignIn() {
  const error = h("div", { hidden: true, "data-testid": "auth-error" });
  const sent = h("div", { hidden: true, "data-testid": "magic-sent" });
  if (authMessage) {
    showError(error, `Sign-in failed: ${authMessage}`);
    authMessage = null;
  }
  if (!supabase) {
    app.replaceChildren(h("div", { class: "card narrow", "data-testid": "supabase-unconfigured" },
      h("h1", {}, "Sign in"),
      h("p", {}, "This service signs people in through Supabase, but the api was not told the project: start it with ",
        h("code", {}, "--supabase-url"), " and ", h("code", {}, "--supabase-anon-key"), "."),
      h("p", { class: "muted" }, "Personal API tokens still work with the api.")));
    return;
  }
  const back = `${location.origin}/`;
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, "data-testid": "magic-email" });
  const send = h("button", { type: "submit", "data-testid": "magic-send" }, "Email me a sign-in link");
  const github = h("button", {
    type: "button",
    class: "secondary",
    "data-testid": "github-signin",
    onclick: () => location.assign(supabase.authorizeUrl("github", back)),
  }, "Continue with GitHub");
  const form = h("form", {
    class: "card narrow",
    "data-testid": "supabase-signin",
    onsubmit: async (event) => {
      event.preventDefault();
      send.disabled = true;
      showError(error, null);
      sent.hidden = true;
      try {
        await supabase.sendMagicLink(email.value, back);
        showNotice(sent, `Check your inbox: a sign-in link is on its way to ${email.value.trim()}. Open it in this browser.`);
      } catch (e) {
        showError(error, e);
      } finally {
        send.disabled = false;
      }
    },
  },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "New here? The same link makes your account."),
    h("label", {}, "E-mail"), email,
    h("p", {}, send),
    sent,
    h("p", { class: "muted or" }, "or"),
    h("p", {}, github),
    error,
  );
  app.replaceChildren(form);
  email.focus();
}

// --- choosing the handle ----------------------------------------------------------------

function renderHandle() {
  const error = h("div", { hidden: true, "data-testid": "handle-error" });
  const hint = h("div", { class: "hint", "data-testid": "handle-hint" });
  const input = h("input", { name: "handle", autocomplete: "off", placeholder: "your-name" });
  const submit = h("button", { type: "submit", disabled: true }, "Choose this handle");
  let asked = "";
  const check = debounce(async () => {
    const handle = input.value.trim();
    asked = handle;
    if (!handle) { hint.textContent = ""; submit.disabled = true; return; }
    try {
      const reply = await api("GET", `/handles/${encodeURIComponent(handle)}`);
      if (asked !== handle) return;
      hint.className = `hint ${reply.available ? "ok" : "bad"}`;
      hint.textContent = reply.available ? `${handle} is available` : reply.message || `${handle} is taken`;
      submit.disabled = !reply.available;
    } catch (e) {
      hint.className = "hint bad";
      hint.textContent = e.message;
      submit.disabled = true;
    }
  }, 250);
  input.addEventListener("input", () => { submit.disabled = true; check(); });
  const form = h("form", {
    class: "card narrow",
    "data-testid": "handle-form",
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        me = await api("PUT", "/me", { handle: input.value.trim() });
        go("/");
      } catch (e) {
        showError(error, e);
        submit.disabled = false;
      }
    },
  },
    h("h1", {}, "Choose your handle"),
    h("p", { class: "muted" }, "Your mocks answer at ", h("code", {}, "<mock>-<handle>.<zone>"), ". It cannot be changed later."),
    h("label", {}, "Handle"), input, hint,
    h("p", {}, submit),
    error,
  );
  app.replaceChildren(form);
  input.focus();
}

// --- the mocks list ---------------------------------------------------------------------

const NAME_RULE = /^[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?$/;

function zoneOf(workspaces) {
  for (const group of workspaces) {
    for (const mock of group.mocks) {
      const prefix = `${mock.name}-${group.workspace.handle}.`;
      if (mock.host.startsWith(prefix)) return mock.host.slice(prefix.length);
    }
  }
  return "localhost";
}

async function renderList() {
  const error = h("div", { hidden: true, "data-testid": "list-error" });
  const groups = h("div", { "data-testid": "workspaces" });
  const name = h("input", { name: "name", autocomplete: "off", placeholder: "my-api", "data-testid": "new-name" });
  const workspace = h("select", { name: "workspace", "data-testid": "new-workspace" });
  const preview = h("div", { class: "hint", "data-testid": "host-preview" });
  const create = h("button", { type: "submit", disabled: true, "data-testid": "create" }, "Create mock");
  const createError = h("div", { hidden: true, "data-testid": "create-error" });
  let data = { workspaces: [] };

  const updatePreview = () => {
    const value = name.value.trim();
    const group = data.workspaces.find((g) => g.workspace.handle === workspace.value);
    if (!value || !group) { preview.textContent = ""; create.disabled = true; return; }
    const host = `${value}-${group.workspace.handle}.${zoneOf(data.workspaces)}`;
    let problem = null;
    if (!NAME_RULE.test(value)) problem = "lowercase letters, digits and dashes; no dash at either end; up to 30 characters";
    else if (value.startsWith("xn--")) problem = "cannot start with xn--";
    else if (data.workspaces.some((g) => g.mocks.some((m) => m.host === host))) problem = "already taken";
    preview.className = `hint ${problem ? "bad" : "ok"}`;
    preview.textContent = problem ? `${host}: ${problem}` : `${host} is available`;
    preview.dataset.source = "local";
    create.disabled = Boolean(problem);
    askHost(group.workspace.handle, value, host);
  };
  // The api has the last word (a host may be taken by a mock this page does not list).
  let askedHost = "";
  const askHost = debounce(async (handle, value, guess) => {
    const key = `${handle}/${value}`;
    askedHost = key;
    let reply;
    try {
      reply = await api("GET", `/hosts/${encodeURIComponent(handle)}/${encodeURIComponent(value)}`);
    } catch {
      return; // the local guess stands
    }
    if (askedHost !== key || name.value.trim() !== value || workspace.value !== handle) return;
    const host = reply.host || guess;
    preview.className = `hint ${reply.available ? "ok" : "bad"}`;
    preview.textContent = reply.available
      ? `${host} is available`
      : `${host}: ${reply.reason === "taken" ? "already taken" : reply.message || "not a valid name"}`;
    preview.dataset.source = "api";
    create.disabled = !reply.available;
  }, 200);
  name.addEventListener("input", updatePreview);
  workspace.addEventListener("change", updatePreview);

  const createForm = h("form", {
    class: "card",
    "data-testid": "create-form",
    onsubmit: async (event) => {
      event.preventDefault();
      create.disabled = true;
      try {
        const mock = await api("POST", "/mocks", { workspace: workspace.value, name: name.value.trim() });
        go(`/mocks/${encodeURIComponent(mock.id)}`);
      } catch (e) {
        showError(createError, e);
        create.disabled = false;
      }
    },
  },
    h("h2", {}, "New mock"),
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", {}, "Name"), name),
      h("div", {}, h("label", {}, "Workspace"), workspace),
      h("div", {}, create)),
    preview,
    createError,
  );

  app.replaceChildren(h("h1", {}, "Mocks"), error, createForm, groups);

  let timer = null;
  let alive = true;
  cleanup.push(() => { alive = false; clearTimeout(timer); });

  const load = async () => {
    try {
      data = await api("GET", "/mocks");
      showError(error, null);
    } catch (e) {
      showError(error, e);
    }
    if (!alive) return;
    if (!workspace.options.length || workspace.options.length !== data.workspaces.length) {
      const chosen = workspace.value;
      workspace.replaceChildren(...data.workspaces.map((g) =>
        h("option", { value: g.workspace.handle }, `${g.workspace.name || g.workspace.handle} (${g.workspace.kind})`)));
      if (chosen) workspace.value = chosen;
    }
    groups.replaceChildren(...data.workspaces.map((group) => renderGroup(group, load)));
    updatePreview();
    if (data.workspaces.some((g) => g.mocks.some((m) => busy(m.publication)))) {
      timer = setTimeout(load, POLL_MS);
    }
  };
  await load();
}

function renderGroup(group, reload) {
  const ws = group.workspace;
  const rows = group.mocks.map((mock) => {
    const problem = lastError(mock.publication);
    return h("tr", { "data-testid": "mock-row", "data-name": mock.name },
      h("td", {}, h("a", { href: `/mocks/${encodeURIComponent(mock.id)}`, "data-link": true }, mock.name),
        h("div", { class: "muted" }, `revision ${mock.revision}`)),
      h("td", {}, h("a", { href: mock.url, target: "_blank", rel: "noopener" }, mock.host)),
      h("td", {},
        badge("server", mock.publication.server.status, "server-status"), " ",
        badge("dns", mock.publication.dns.status, "dns-status"),
        problem && h("div", { class: "lasterror", "data-testid": "last-error" }, problem)),
      h("td", {}, h("button", {
        class: "danger",
        "data-testid": "delete",
        onclick: async (event) => {
          if (!confirm(`Delete the mock ${mock.host}? This cannot be undone.`)) return;
          event.target.disabled = true;
          try {
            await api("DELETE", `/mocks/${encodeURIComponent(mock.id)}`);
          } catch (e) {
            alert(e.message);
          }
          reload();
        },
      }, "Delete")),
    );
  });
  return h("section", { class: "card", "data-testid": "workspace", "data-handle": ws.handle },
    h("h2", {}, ws.name || ws.handle, " ", h("span", { class: "muted" }, `@${ws.handle} · ${ws.kind} · ${ws.role}`)),
    rows.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Mock"), h("th", {}, "Host"), h("th", {}, "Status"), h("th", {}, ""))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No mocks yet."));
}

// --- line diff ----------------------------------------------------------------------------

// The line diff of two texts: [{kind: "ctx"|"del"|"add", text, old, new}] in order, where
// old/new are 1-based line numbers on each side (null where the line is absent). The longest
// common subsequence of lines, after trimming the common head and tail.
function diffLines(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length && a.at(-1) === "") a.pop();
  if (b.length && b.at(-1) === "") b.pop();
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const middle = [];
  if (x.length * y.length > 4_000_000) {
    // Too big for the table: everything in between is removed, then added.
    for (const text of x) middle.push(["del", text]);
    for (const text of y) middle.push(["add", text]);
  } else {
    // lcs[i][j]: the length of the LCS of x[i..] and y[j..].
    const width = y.length + 1;
    const lcs = new Uint32Array((x.length + 1) * width);
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) {
        lcs[i * width + j] = x[i] === y[j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < x.length && j < y.length) {
      if (x[i] === y[j]) { middle.push(["ctx", x[i]]); i++; j++; }
      else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) middle.push(["del", x[i++]]);
      else middle.push(["add", y[j++]]);
    }
    while (i < x.length) middle.push(["del", x[i++]]);
    while (j < y.length) middle.push(["add", y[j++]]);
  }
  const lines = [];
  let oldNo = 0;
  let newNo = 0;
  const push = (kind, text) => {
    if (kind !== "add") oldNo++;
    if (kind !== "del") newNo++;
    lines.push({ kind, text, old: kind === "add" ? null : oldNo, new: kind === "del" ? null : newNo });
  };
  for (const text of a.slice(0, head)) push("ctx", text);
  for (const [kind, text] of middle) push(kind, text);
  for (const text of a.slice(a.length - tail)) push("ctx", text);
  return lines;
}

const CONTEXT = 3;

// The diff as a table: line numbers of both sides, a sign, the text; runs of unchanged
// lines longer than the context around the changes fold into a row that unfolds on click.
function renderDiff(lines) {
  const row = (line) => h("tr", { class: `diff-${line.kind}`, "data-testid": "diff-line", "data-kind": line.kind },
    h("td", { class: "ln" }, line.old ?? ""),
    h("td", { class: "ln" }, line.new ?? ""),
    h("td", { class: "sign" }, line.kind === "add" ? "+" : line.kind === "del" ? "−" : " "),
    h("td", { class: "text" }, line.text));
  const rows = [];
  let k = 0;
  while (k < lines.length) {
    if (lines[k].kind !== "ctx") { rows.push(row(lines[k++])); continue; }
    let end = k;
    while (end < lines.length && lines[end].kind === "ctx") end++;
    const keepHead = k === 0 ? 0 : CONTEXT;
    const keepTail = end === lines.length ? 0 : CONTEXT;
    if (end - k > keepHead + keepTail + 1) {
      for (const line of lines.slice(k, k + keepHead)) rows.push(row(line));
      const hidden = lines.slice(k + keepHead, end - keepTail);
      const fold = h("tr", { class: "diff-fold", "data-testid": "diff-fold" },
        h("td", { colspan: 4 }, h("button", {
          type: "button",
          class: "link",
          onclick: () => fold.replaceWith(...hidden.map(row)),
        }, `⋯ ${hidden.length} unchanged line${hidden.length === 1 ? "" : "s"}`)));
      rows.push(fold);
      for (const line of lines.slice(end - keepTail, end)) rows.push(row(line));
    } else {
      for (const line of lines.slice(k, end)) rows.push(row(line));
    }
    k = end;
  }
  const added = lines.filter((l) => l.kind === "add").length;
  const removed = lines.filter((l) => l.kind === "del").length;
  return [
    h("p", { class: "muted", "data-testid": "diff-summary" },
      added || removed ? h("span", {}, h("span", { class: "plus" }, `+${added}`), " ", h("span", { class: "minus" }, `−${removed}`)) : "no differences"),
    h("div", { class: "diff-wrap" }, h("table", { class: "diff", "data-testid": "diff" }, h("tbody", {}, rows))),
  ];
}

// --- the editor -------------------------------------------------------------------------

function toPosition(doc, line, column) {
  const l = doc.line(Math.min(Math.max(line || 1, 1), doc.lines));
  return Math.min(l.from + Math.max((column || 1) - 1, 0), l.to);
}

function toCodeMirror(doc, diagnostics) {
  return diagnostics.map((d) => {
    const from = toPosition(doc, d.line, d.column);
    const lineEnd = doc.lineAt(from).to;
    return {
      from,
      to: Math.max(from, lineEnd),
      severity: ["error", "warning", "info"].includes(d.severity) ? d.severity : "error",
      message: d.message,
    };
  });
}

function describe(diagnostics) {
  return diagnostics
    .filter((d) => (d.severity || "error") === "error")
    .map((d) => `line ${d.line}, column ${d.column}: ${d.message}`)
    .join("\n");
}

async function renderEditor(id) {
  let mock;
  try {
    mock = await api("GET", `/mocks/${encodeURIComponent(id)}`);
  } catch (e) {
    app.replaceChildren(h("p", {}, h("a", { href: "/", "data-link": true }, "← Mocks")), h("div", { class: "error" }, e.message));
    return;
  }
  let saved = mock.content;
  let revision = mock.revision;
  let validation = { content: null, valid: true, diagnostics: [] };
  const message = h("div", { hidden: true, "data-testid": "editor-message" });
  const serverBadge = h("span");
  const dnsBadge = h("span");
  const problem = h("div", { class: "lasterror", "data-testid": "last-error" });
  const revisionLabel = h("span", { class: "muted", "data-testid": "revision" });
  const dirtyLabel = h("span", { class: "muted", "data-testid": "dirty" });
  const save = h("button", { "data-testid": "save" }, "Save");
  const revert = h("button", { class: "secondary", "data-testid": "revert" }, "Revert");
  const toggle = h("button", { class: "secondary", "data-testid": "publish-toggle" });
  const historyToggle = h("button", { class: "secondary", "data-testid": "history-toggle" }, "History");
  const uploadInput = h("input", { type: "file", accept: UPLOAD_TYPES.join(","), hidden: true, "data-testid": "upload-input" });
  const upload = h("button", { class: "secondary", "data-testid": "upload", title: `Load a ${UPLOAD_TYPES.join(" / ")} file (up to 1 MiB) into the editor`, onclick: () => uploadInput.click() }, "Upload file");
  let publication = mock.publication;
  let timer = null;
  let alive = true;
  cleanup.push(() => { alive = false; clearTimeout(timer); });

  const validate = async (content) => {
    if (validation.content === content) return validation;
    const reply = await api("POST", "/validate", { content });
    validation = { content, valid: reply.valid, diagnostics: reply.diagnostics || [] };
    return validation;
  };

  const lint = linter(async (view) => {
    const content = view.state.doc.toString();
    try {
      const result = await validate(content);
      if (view.state.doc.toString() !== content) return [];
      return toCodeMirror(view.state.doc, result.diagnostics);
    } catch (e) {
      showError(message, e);
      return [];
    }
  }, { delay: 400 });

  const view = new EditorView({
    state: EditorState.create({
      doc: saved,
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        lint,
        requestHighlight,
        EditorView.updateListener.of((update) => { if (update.docChanged) refresh(); }),
      ],
    }),
  });
  cleanup.push(() => view.destroy());
  window.moclojerEditor = view; // for the browser tests

  // What the mock received, live; closing the panel or leaving the page stops the stream.
  const requests = requestsPanel({ mock, api, stream: apiStream, view });
  cleanup.push(() => requests.close());
  const requestsToggle = h("button", {
    class: "secondary",
    "data-testid": "requests-toggle",
    onclick: () => requestsToggle.classList.toggle("active", requests.toggle()),
  }, "Requests");

  const refresh = () => {
    const dirty = view.state.doc.toString() !== saved;
    dirtyLabel.textContent = dirty ? "unsaved changes" : "saved";
    revert.disabled = !dirty;
    revisionLabel.textContent = `revision ${revision}`;
    serverBadge.replaceChildren(badge("server", publication.server.status, "server-status"));
    dnsBadge.replaceChildren(badge("dns", publication.dns.status, "dns-status"));
    problem.textContent = lastError(publication) ?? "";
    const published = publication.server.status !== "offline" || publication.dns.status !== "offline";
    toggle.textContent = published ? "Unpublish" : "Publish";
    toggle.dataset.action = published ? "unpublish" : "publish";
  };

  const poll = async () => {
    clearTimeout(timer);
    if (!alive || !busy(publication)) return;
    timer = setTimeout(async () => {
      try {
        publication = await api("GET", `/mocks/${encodeURIComponent(id)}/publication`);
        refresh();
      } catch (e) {
        showError(message, e);
      }
      poll();
    }, POLL_MS);
  };

  save.addEventListener("click", async () => {
    const content = view.state.doc.toString();
    save.disabled = true;
    try {
      const result = await validate(content);
      if (!result.valid) {
        showError(message, `Not saved: the spec is invalid.\n${describe(result.diagnostics)}`);
        forceLinting(view);
        return;
      }
      const updated = await api("PUT", `/mocks/${encodeURIComponent(id)}`, { content, revision });
      saved = content;
      revision = updated.revision;
      publication = updated.publication ?? publication;
      showNotice(message, `Saved revision ${revision}.`);
      refresh();
      poll();
      if (!historyPanel.hidden) loadHistory();
    } catch (e) {
      if (e.code === "invalid_spec") {
        const diagnostics = e.details?.diagnostics ?? [];
        showError(message, `Not saved: ${e.message}\n${describe(diagnostics)}`);
      } else if (e.code === "stale_revision") {
        showError(message, `Not saved: ${e.message}\nThe mock changed elsewhere; your text is kept. Copy it, then Revert to load the saved version.`);
      } else {
        showError(message, e);
      }
    } finally {
      save.disabled = false;
    }
  });

  revert.addEventListener("click", async () => {
    try {
      const fresh = await api("GET", `/mocks/${encodeURIComponent(id)}`);
      saved = fresh.content;
      revision = fresh.revision;
      publication = fresh.publication;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: saved } });
      showNotice(message, `Reverted to revision ${revision}.`);
      refresh();
      poll();
    } catch (e) {
      showError(message, e);
    }
  });

  toggle.addEventListener("click", async () => {
    const action = toggle.dataset.action;
    toggle.disabled = true;
    try {
      publication = await api("POST", `/mocks/${encodeURIComponent(id)}/${action}`);
      showNotice(message, action === "publish" ? `Publishing revision ${revision}…` : "Unpublished.");
      refresh();
      poll();
    } catch (e) {
      showError(message, e);
    } finally {
      toggle.disabled = false;
    }
  });

  // Revision history: the list, a diff of any two, and loading an old one into the editor.
  const historyPanel = h("div", { class: "card", "data-testid": "history-panel", hidden: true });
  const historyError = h("div", { hidden: true, "data-testid": "history-error" });
  const historyList = h("div", { "data-testid": "history-list" });
  const diffFrom = h("select", { "data-testid": "diff-from" });
  const diffTo = h("select", { "data-testid": "diff-to" });
  const diffShow = h("button", { type: "button", "data-testid": "diff-show" }, "Compare");
  const diffOut = h("div", { "data-testid": "diff-out" });
  const contents = new Map(); // revision → content (revisions never change)
  const revisionContent = async (n) => {
    if (!contents.has(n)) {
      const reply = await api("GET", `/mocks/${encodeURIComponent(id)}/revisions/${n}`);
      contents.set(n, reply.content);
    }
    return contents.get(n);
  };
  const loadHistory = async () => {
    let revisions;
    try {
      revisions = await api("GET", `/mocks/${encodeURIComponent(id)}/revisions`);
      showError(historyError, null);
    } catch (e) {
      showError(historyError, e);
      return;
    }
    if (!alive) return;
    const options = (select, fallback) => {
      const chosen = select.value;
      select.replaceChildren(...revisions.map((r) => h("option", { value: String(r.revision) }, `revision ${r.revision} · ${when(r.created_at)}`)));
      select.value = revisions.some((r) => String(r.revision) === chosen) ? chosen : String(fallback);
    };
    const latest = revisions[0]?.revision;
    options(diffFrom, revisions[1]?.revision ?? latest);
    options(diffTo, latest);
    historyList.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Revision"), h("th", {}, "Saved"), h("th", {}, ""))),
      h("tbody", {}, revisions.map((r) => h("tr", { "data-testid": "history-row", "data-revision": r.revision },
        h("td", {}, `revision ${r.revision}`, r.revision === revision ? h("span", { class: "muted" }, " (current)") : null),
        h("td", { class: "muted" }, when(r.created_at)),
        h("td", {}, h("button", {
          class: "secondary",
          "data-testid": "history-load",
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              const content = await revisionContent(r.revision);
              view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: content } });
              showNotice(message, `Loaded revision ${r.revision} into the editor (unsaved): Save makes it the new revision, Revert drops it.`);
            } catch (e) {
              showError(message, e);
            } finally {
              event.target.disabled = false;
            }
          },
        }, "Load into editor")))))));
  };
  diffShow.addEventListener("click", async () => {
    const from = Number(diffFrom.value);
    const to = Number(diffTo.value);
    if (!from || !to) return;
    diffShow.disabled = true;
    try {
      const [before, after] = await Promise.all([revisionContent(from), revisionContent(to)]);
      diffOut.replaceChildren(h("h3", {}, `revision ${from} → revision ${to}`), ...renderDiff(diffLines(before, after)));
      showError(historyError, null);
    } catch (e) {
      showError(historyError, e);
    } finally {
      diffShow.disabled = false;
    }
  });
  historyPanel.append(
    h("h2", {}, "History"),
    historyError,
    historyList,
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", {}, "From (old)"), diffFrom),
      h("div", { class: "grow" }, h("label", {}, "To (new)"), diffTo),
      h("div", {}, diffShow)),
    diffOut,
  );
  historyToggle.addEventListener("click", async () => {
    historyPanel.hidden = !historyPanel.hidden;
    historyToggle.classList.toggle("active", !historyPanel.hidden);
    if (!historyPanel.hidden) await loadHistory();
  });

  // Upload: a file from disk becomes the editor's (unsaved) text, linted like typing.
  uploadInput.addEventListener("change", () => {
    const file = uploadInput.files?.[0];
    uploadInput.value = "";
    if (!file) return;
    const lower = file.name.toLowerCase();
    if (!UPLOAD_TYPES.some((ext) => lower.endsWith(ext))) {
      showError(message, `Not loaded: ${file.name} is not a ${UPLOAD_TYPES.join(", ")} file.`);
      return;
    }
    if (file.size > UPLOAD_MAX) {
      showError(message, `Not loaded: ${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB; the limit is 1 MiB.`);
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      if (!alive) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: String(reader.result) } });
      showNotice(message, `Loaded ${file.name} into the editor (unsaved): Save makes it the new revision, Revert drops it.`);
    };
    reader.onerror = () => showError(message, `Could not read ${file.name}: ${reader.error?.message ?? "unknown error"}`);
    reader.readAsText(file);
  });

  // "Try it": the browser calls the mock itself (the mock server answers with CORS).
  const tryPath = h("input", { value: "/hello", "data-testid": "try-path" });
  const tryStatus = h("div", { class: "muted", "data-testid": "try-status" });
  const tryBody = h("pre", { class: "body", "data-testid": "try-body", hidden: true });
  const trySend = h("button", {
    "data-testid": "try-send",
    onclick: async () => {
      const path = tryPath.value.startsWith("/") ? tryPath.value : `/${tryPath.value}`;
      tryStatus.textContent = `GET ${mock.url}${path} …`;
      try {
        const response = await fetch(`${mock.url}${path}`, { method: "GET", cache: "no-store" });
        const body = await response.text();
        tryStatus.textContent = `${response.status} ${response.statusText}`.trim();
        tryBody.hidden = false;
        tryBody.textContent = body || "(empty body)";
      } catch (e) {
        tryStatus.textContent = `The mock could not be reached: ${e.message}. Is it published?`;
        tryBody.hidden = true;
      }
    },
  }, "Send GET");

  app.replaceChildren(
    h("p", {}, h("a", { href: "/", "data-link": true }, "← Mocks")),
    h("div", { class: "card" },
      h("h1", { "data-testid": "mock-name" }, mock.name),
      h("p", {}, h("a", { href: mock.url, target: "_blank", rel: "noopener", "data-testid": "mock-url" }, mock.url),
        " ", serverBadge, " ", dnsBadge, " ", revisionLabel, " · ", dirtyLabel),
      problem,
      h("div", { class: "toolbar" }, save, revert, upload, uploadInput, historyToggle, requestsToggle, h("span", { class: "spacer" }), toggle),
      message,
      h("div", { class: "editor", "data-testid": "editor" }, view.dom),
    ),
    requests.element,
    historyPanel,
    h("div", { class: "card", "data-testid": "try-panel" },
      h("h2", {}, "Try it"),
      h("div", { class: "row" }, h("div", { class: "grow" }, h("label", {}, "Path"), tryPath), h("div", {}, trySend)),
      tryStatus, tryBody),
  );
  refresh();
  poll();
}

// --- orgs -------------------------------------------------------------------------------

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");

async function renderOrgs() {
  const error = h("div", { hidden: true, "data-testid": "orgs-error" });
  const list = h("div", { "data-testid": "orgs" });
  const handle = h("input", { name: "handle", autocomplete: "off", placeholder: "acme", "data-testid": "org-handle" });
  const name = h("input", { name: "name", autocomplete: "off", placeholder: "Acme Inc. (optional)", "data-testid": "org-name" });
  const create = h("button", { type: "submit", "data-testid": "org-create" }, "Create org");
  const createError = h("div", { hidden: true, "data-testid": "org-create-error" });
  const form = h("form", {
    class: "card",
    "data-testid": "org-create-form",
    onsubmit: async (event) => {
      event.preventDefault();
      create.disabled = true;
      try {
        const body = { handle: handle.value.trim() };
        if (name.value.trim()) body.name = name.value.trim();
        const org = await api("POST", "/orgs", body);
        go(`/orgs/${encodeURIComponent(org.handle)}`);
      } catch (e) {
        showError(createError, e);
      } finally {
        create.disabled = false;
      }
    },
  },
    h("h2", {}, "New org"),
    h("p", { class: "muted" }, "An org is a shared workspace: its mocks answer at ", h("code", {}, "<mock>-<org>.<zone>"), "."),
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", {}, "Handle"), handle),
      h("div", { class: "grow" }, h("label", {}, "Name"), name),
      h("div", {}, create)),
    createError,
  );
  app.replaceChildren(h("h1", {}, "Orgs"), error, form, list);

  let orgs = [];
  try {
    orgs = await api("GET", "/orgs");
  } catch (e) {
    showError(error, e);
    return;
  }
  list.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Your orgs"),
    orgs.length
      ? h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Org"), h("th", {}, "Your role"), h("th", {}, "Created"))),
        h("tbody", {}, orgs.map((org) => h("tr", { "data-testid": "org-row", "data-handle": org.handle },
          h("td", {}, h("a", { href: `/orgs/${encodeURIComponent(org.handle)}`, "data-link": true }, org.name || org.handle),
            h("div", { class: "muted" }, `@${org.handle}`)),
          h("td", { "data-testid": "org-role" }, org.role),
          h("td", { class: "muted" }, when(org.created_at))))))
      : h("p", { class: "muted", "data-testid": "orgs-empty" }, "You are in no org yet.")));
}

async function renderOrg(handle) {
  const back = h("p", {}, h("a", { href: "/orgs", "data-link": true }, "← Orgs"));
  const message = h("div", { hidden: true, "data-testid": "org-message" });
  const body = h("div");
  app.replaceChildren(back, message, body);
  const path = `/orgs/${encodeURIComponent(handle)}`;
  let alive = true;
  cleanup.push(() => { alive = false; });

  // Runs an action; on success, shows `done` and reloads; on failure, shows the api's message.
  const act = async (button, fn, done) => {
    if (button) button.disabled = true;
    try {
      const next = await fn();
      if (next === false) return;
      if (done) showNotice(message, done);
      else showError(message, null);
      await load();
    } catch (e) {
      showError(message, e);
    } finally {
      if (button) button.disabled = false;
    }
  };

  const load = async () => {
    let org;
    try {
      org = await api("GET", path);
    } catch (e) {
      if (!alive) return;
      body.replaceChildren();
      showError(message, e);
      return;
    }
    if (!alive) return;
    const owner = org.role === "owner";
    const members = org.members || [];

    const memberRows = members.map((m) => {
      const self = m.id === me?.id;
      let action = null;
      const who = m.handle ? `@${m.handle}` : m.email;
      if (owner || self) {
        action = h("button", {
          class: "danger",
          "data-testid": self ? "leave" : "remove-member",
          onclick: (event) => act(event.target, async () => {
            const question = self
              ? `Leave the org @${org.handle}? You lose access to its mocks.`
              : `Remove ${who} from the org @${org.handle}?`;
            if (!confirm(question)) return false;
            await api("DELETE", `${path}/members/${encodeURIComponent(m.id)}`);
            if (self) { go("/orgs"); return false; }
            return true;
          }, self ? null : `Removed ${who}.`),
        }, self ? "Leave" : "Remove");
      }
      return h("tr", { "data-testid": "member-row", "data-handle": m.handle || "" },
        h("td", {}, m.handle ? `@${m.handle}` : h("span", { class: "muted" }, "(no handle yet)"), self ? h("span", { class: "muted" }, " (you)") : null),
        h("td", { class: "muted" }, m.email),
        h("td", {}, owner
          ? h("select", {
            "data-testid": "member-role-change",
            "aria-label": `Role of ${who}`,
            onchange: (event) => {
              const role = event.target.value;
              act(event.target, async () => {
                try {
                  await api("PUT", `${path}/members/${encodeURIComponent(m.id)}`, { role });
                } catch (e) {
                  event.target.value = m.role; // the select shows what is true
                  throw e;
                }
              }, `${who} is now ${role === "owner" ? "an owner" : "a member"}.`);
            },
          }, ["member", "owner"].map((r) => h("option", { value: r, selected: r === m.role }, r)))
          : h("span", { "data-testid": "member-role" }, m.role)),
        h("td", {}, action));
    });

    const sections = [
      h("div", { class: "card" },
        h("h1", { "data-testid": "org-title" }, org.name || org.handle),
        h("p", { class: "muted" }, `@${org.handle} · ${org.kind} · you are `, h("span", { "data-testid": "my-role" }, org.role),
          ` · created ${when(org.created_at)}`)),
    ];

    if (owner) {
      const name = h("input", { name: "name", value: org.name || "", autocomplete: "off", "data-testid": "rename-input" });
      const save = h("button", { type: "submit", "data-testid": "rename" }, "Rename");
      sections.push(h("form", {
        class: "card",
        "data-testid": "rename-form",
        onsubmit: (event) => {
          event.preventDefault();
          act(save, () => api("PUT", path, { name: name.value.trim() }), "Renamed.");
        },
      },
        h("h2", {}, "Name"),
        h("p", { class: "muted" }, "The handle, and so the hosts of the org's mocks, stay as they are."),
        h("div", { class: "row" }, h("div", { class: "grow" }, name), h("div", {}, save))));
    }

    const membersCard = h("section", { class: "card", "data-testid": "members" },
      h("h2", {}, `Members (${members.length})`),
      h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Handle"), h("th", {}, "E-mail"), h("th", {}, "Role"), h("th", {}, ""))),
        h("tbody", {}, memberRows)));
    if (owner) {
      const who = h("input", { name: "member", autocomplete: "off", placeholder: "handle or e-mail address", "data-testid": "member-input" });
      const role = h("select", { name: "role", "data-testid": "member-role-select" },
        h("option", { value: "member" }, "member"), h("option", { value: "owner" }, "owner"));
      const add = h("button", { type: "submit", "data-testid": "add-member" }, "Add member");
      membersCard.append(h("form", {
        "data-testid": "add-member-form",
        onsubmit: (event) => {
          event.preventDefault();
          const value = who.value.trim();
          const byEmail = value.includes("@") && !value.startsWith("@");
          const request = byEmail ? { email: value } : { handle: value.replace(/^@/, "") };
          request.role = role.value;
          act(add, async () => {
            const added = await api("POST", `${path}/members`, request);
            who.value = "";
            return added;
          }, `Added ${byEmail ? value : `@${request.handle}`} as ${role.value}.`);
        },
      },
        h("div", { class: "row" },
          h("div", { class: "grow" }, h("label", {}, "Add a user"), who),
          h("div", {}, h("label", {}, "Role"), role),
          h("div", {}, add))));
    }
    sections.push(membersCard);

    if (owner) {
      const remove = h("button", {
        class: "danger",
        "data-testid": "delete-org",
        onclick: (event) => act(event.target, async () => {
          let mocks = null;
          try {
            const data = await api("GET", "/mocks");
            mocks = data.workspaces.find((g) => g.workspace.handle === org.handle)?.mocks.length ?? 0;
          } catch { /* the question goes without the count */ }
          const count = mocks === null ? "all its mocks" : mocks === 1 ? "its 1 mock" : `its ${mocks} mocks`;
          if (!confirm(`Delete the org @${org.handle} and ${count}? Its mocks stop answering. This cannot be undone.`)) return false;
          await api("DELETE", path);
          go("/orgs");
          return false;
        }),
      }, "Delete org");
      sections.push(h("section", { class: "card danger-zone", "data-testid": "danger-zone" },
        h("h2", {}, "Delete"),
        h("p", { class: "muted" }, "Deleting the org deletes its mocks with it; their hosts stop answering."),
        remove));
    }
    body.replaceChildren(...sections);
  };
  await load();
}

// --- personal API tokens ----------------------------------------------------------------

async function renderTokens() {
  const error = h("div", { hidden: true, "data-testid": "tokens-error" });
  const fresh = h("div", { hidden: true, "data-testid": "token-created" });
  const list = h("div", { "data-testid": "tokens" });
  const name = h("input", { name: "name", autocomplete: "off", placeholder: "ci", "data-testid": "token-name" });
  const expires = h("select", { name: "expires", "data-testid": "token-expires" },
    h("option", { value: "" }, "never"),
    ...[7, 30, 90, 365].map((days) => h("option", { value: String(days) }, `in ${days} days`)));
  const create = h("button", { type: "submit", "data-testid": "token-create" }, "Create token");

  const showSecret = (token) => {
    const secret = h("input", { readonly: true, value: token.token, class: "secret", "data-testid": "token-secret", onfocus: (e) => e.target.select() });
    const copied = h("span", { class: "hint", "data-testid": "token-copied" });
    const copy = h("button", {
      type: "button",
      "data-testid": "token-copy",
      onclick: async () => {
        const ok = await copyText(token.token, secret);
        copied.className = `hint ${ok ? "ok" : "bad"}`;
        copied.textContent = ok ? "Copied." : "Could not copy: select the text and copy it.";
      },
    }, "Copy");
    fresh.hidden = false;
    fresh.className = "card secret-card";
    fresh.replaceChildren(
      h("h2", {}, `Your new token “${token.name}”`),
      h("p", { class: "warning", "data-testid": "token-warning" },
        "Copy it now: this is the only time it is shown. It will not be shown again; if you lose it, revoke it and make another."),
      h("div", { class: "row" }, h("div", { class: "grow" }, secret), h("div", {}, copy)),
      copied,
      h("p", { class: "muted" }, "Send it as ", h("code", {}, "Authorization: Bearer <token>"), "."),
      h("p", {}, h("button", { class: "secondary", "data-testid": "token-done", onclick: () => { fresh.hidden = true; fresh.replaceChildren(); } }, "Done")),
    );
  };

  const load = async () => {
    let tokens;
    try {
      tokens = await api("GET", "/tokens");
      showError(error, null);
    } catch (e) {
      showError(error, e);
      return;
    }
    list.replaceChildren(h("section", { class: "card" },
      h("h2", {}, "Your tokens"),
      tokens.length
        ? h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Created"), h("th", {}, "Expires"), h("th", {}, ""))),
          h("tbody", {}, tokens.map((token) => h("tr", { "data-testid": "token-row", "data-id": token.id, "data-name": token.name },
            h("td", {}, token.name),
            h("td", { class: "muted" }, when(token.created_at)),
            h("td", { class: "muted" }, when(token.expires_at)),
            h("td", {}, h("button", {
              class: "danger",
              "data-testid": "token-revoke",
              onclick: async (event) => {
                if (!confirm(`Revoke the token “${token.name}”? Whatever uses it stops working at once.`)) return;
                event.target.disabled = true;
                try {
                  await api("DELETE", `/tokens/${encodeURIComponent(token.id)}`);
                  await load();
                  showNotice(error, `Revoked “${token.name}”.`);
                } catch (e) {
                  showError(error, e);
                  event.target.disabled = false;
                }
              },
            }, "Revoke"))))))
        : h("p", { class: "muted", "data-testid": "tokens-empty" }, "No tokens yet.")));
  };

  const form = h("form", {
    class: "card",
    "data-testid": "token-create-form",
    onsubmit: async (event) => {
      event.preventDefault();
      create.disabled = true;
      try {
        const body = { name: name.value.trim() };
        if (expires.value) body.expires_in_days = Number(expires.value);
        const token = await api("POST", "/tokens", body);
        name.value = "";
        showError(error, null);
        showSecret(token);
        await load();
      } catch (e) {
        showError(error, e);
      } finally {
        create.disabled = false;
      }
    },
  },
    h("h2", {}, "New token"),
    h("p", { class: "muted" }, "Personal API tokens act as you, for scripts and CI."),
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", {}, "Name"), name),
      h("div", {}, h("label", {}, "Expires"), expires),
      h("div", {}, create)),
  );
  app.replaceChildren(h("h1", {}, "API tokens"), error, fresh, form, list);
  await load();
}

// How people sign in here decides the sign-in page; Supabase may have just sent someone
// back with a session (or an error) in the URL.
async function start() {
  try {
    const response = await fetch("/api/v1/config", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`the api answered ${response.status}`);
    config = await response.json();
  } catch (e) {
    app.replaceChildren(h("div", { class: "error", "data-testid": "start-error" },
      `The api cannot be reached (${e.message}). Reload to try again.`));
    return;
  }
  if (config.mode === "supabase" && config.supabase) {
    supabase = new SupabaseAuth(config.supabase);
    const back = supabase.takeFromUrl();
    if (back?.error) authMessage = back.error;
  }
  route();
}

start();
