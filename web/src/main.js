// The moclojer cloud web interface: sign-in, the mocks of every workspace, an editor per
// mock (with its history, the requests it received, live, and what its stateful items remember), orgs with their members, and personal API tokens. A small single-page app over the REST api (/api/v1); routes are real paths
// (the api answers index.html for them).
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";
import { SupabaseAuth } from "./supabase.js";
import { h, showError, showNotice, copyText, field, label } from "./dom.js";
import { requestsPanel, requestHighlight } from "./requests.js";
import { statePanel } from "./state.js";
import { mockUrl, mockLink, statusOf, settling, problems, banner, badge, setBadge, badges, STATUSES, diagnosticLine, errorsOf } from "./status.js";
import { readFilter, filterQuery, filtering, searchText, matcher } from "./filter.js";
import { STARTERS, starterById } from "./starters.js";
import { importBox } from "./import.js";
import { listenShortcuts, shortcutLabel, ariaShortcut, typingIn } from "./keys.js";

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
let flash = null; // a notice for the next page (the editor of a mock just duplicated)

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
// `raw` is sent as it is (with the caller's Content-Type) instead of `body` as JSON.
async function apiFetch(method, path, { body, raw, headers = {}, signal } = {}, retried = false) {
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
      body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: `the api cannot be reached (${e.message})` } });
  }
  if (response.status === 401 && !path.startsWith("/auth/")) {
    // A Supabase access token may have expired meanwhile: renew it once and try again.
    if (supabase && !retried && (await currentToken(true).catch(() => null))) {
      return apiFetch(method, path, { body, raw, headers, signal }, true);
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

// Runs `fn` (which changes the page), then records the time until the next frame is drawn as
// the performance measure `name` (the browser tests read the list's).
function timed(name, fn) {
  const start = performance.now();
  fn();
  requestAnimationFrame(() => setTimeout(() => performance.measure(name, { start })));
}

// --- routing ----------------------------------------------------------------------------

function go(path) {
  if (location.pathname + location.search !== path) history.pushState(null, "", path);
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
    label("E-mail", email), email,
    label("Password", password), password,
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
    label("E-mail", email), email,
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
    label("Handle", input), input, hint,
    h("p", {}, submit),
    error,
  );
  app.replaceChildren(form);
  input.focus();
}

// --- naming a new mock ------------------------------------------------------------------

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

// What is wrong with `name` as the page sees it (the api has the last word), or null.
function nameProblem(name, host, workspaces) {
  if (!NAME_RULE.test(name)) return "lowercase letters, digits and dashes; no dash at either end; up to 30 characters";
  if (name.startsWith("xn--")) return "cannot start with xn--";
  if (workspaces.some((g) => g.mocks.some((m) => m.host === host))) return "already taken";
  return null;
}

// A form that names a new mock: its name and workspace, with the host previewed (the page's
// guess at once, then the api's word), `fields` beside them and `notes` below.
// `onSubmit({workspace, name})` makes the mock; what it throws shows under the form. Both
// "New mock" and "Duplicate" are one of these. `setWorkspaces` gives it the workspaces (with
// their mocks) to choose from and check names against.
function mockForm({ testid, title, submitLabel, name: firstName = "", workspace: firstWorkspace = "", fields = [], notes = [], onSubmit }) {
  const name = h("input", { name: "name", autocomplete: "off", placeholder: "my-api", value: firstName, "data-testid": "new-name" });
  const workspace = h("select", { name: "workspace", "data-testid": "new-workspace" });
  const preview = h("div", { class: "hint", "data-testid": "host-preview", "aria-live": "polite" });
  const submit = h("button", { type: "submit", disabled: true, "data-testid": "create" }, submitLabel);
  const error = h("div", { hidden: true, "data-testid": "create-error" });
  let workspaces = [];

  const say = (ok, text, source) => {
    preview.className = `hint ${ok ? "ok" : "bad"}`;
    preview.textContent = text;
    preview.dataset.source = source;
    submit.disabled = !ok;
  };
  // The api has the last word (a host may be taken by a mock this page does not list).
  let asked = "";
  const askHost = debounce(async (handle, value, guess) => {
    const key = `${handle}/${value}`;
    asked = key;
    let reply;
    try {
      reply = await api("GET", `/hosts/${encodeURIComponent(handle)}/${encodeURIComponent(value)}`);
    } catch {
      return; // the local guess stands
    }
    if (asked !== key || name.value.trim() !== value || workspace.value !== handle) return;
    const host = reply.host || guess;
    say(reply.available, reply.available
      ? `${host} is available`
      : `${host}: ${reply.reason === "taken" ? "already taken" : reply.message || "not a valid name"}`, "api");
  }, 200);
  const update = () => {
    const value = name.value.trim();
    const group = workspaces.find((g) => g.workspace.handle === workspace.value);
    if (!value || !group) { preview.textContent = ""; submit.disabled = true; return; }
    const host = `${value}-${group.workspace.handle}.${zoneOf(workspaces)}`;
    const problem = nameProblem(value, host, workspaces);
    say(!problem, problem ? `${host}: ${problem}` : `${host} is available`, "local");
    askHost(group.workspace.handle, value, host);
  };
  name.addEventListener("input", update);
  workspace.addEventListener("change", update);

  const element = h("form", {
    class: "card",
    "data-testid": testid,
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        await onSubmit({ workspace: workspace.value, name: name.value.trim() });
      } catch (e) {
        showError(error, e);
        submit.disabled = false;
      }
    },
  },
    h("h2", {}, title),
    h("div", { class: "row" },
      field("Name", name, { class: "grow" }),
      field("Workspace", workspace),
      ...fields,
      h("div", {}, submit)),
    preview,
    ...notes,
    error,
  );

  return {
    element,
    focus: () => name.focus(),
    fail: (e) => showError(error, e),
    setWorkspaces(list) {
      workspaces = list;
      if (workspace.options.length !== list.length) {
        const chosen = workspace.value || firstWorkspace;
        workspace.replaceChildren(...list.map((g) =>
          h("option", { value: g.workspace.handle }, `${g.workspace.name || g.workspace.handle} (${g.workspace.kind})`)));
        if (list.some((g) => g.workspace.handle === chosen)) workspace.value = chosen;
      }
      update();
    },
  };
}

// Turns an OpenAPI document or an EDN spec into moclojer YAML (nothing is stored); a
// refusal lists every error, with its line and column in the document.
async function importDocument(text) {
  const response = await apiFetch("POST", "/mocks/import", { raw: text, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  const data = await readJson(response);
  if (response.ok) return data;
  const error = new ApiError(response.status, data);
  if (error.code === "invalid_spec") error.message = `Not imported: ${error.message}\n${describe(error.details?.diagnostics ?? [])}`;
  throw error;
}

// "New mock": a name, a workspace and a starter to begin from, or a document to import.
function newMockForm() {
  const starter = h("select", { name: "starter", "data-testid": "new-starter" },
    STARTERS.map((s) => h("option", { value: s.id }, s.label)));
  const about = h("p", { class: "hint muted", "data-testid": "starter-description" });
  const describeStarter = () => { about.textContent = starterById(starter.value).description; };
  starter.addEventListener("change", describeStarter);
  describeStarter();
  const imported = importBox({
    onChange: (given) => {
      starter.disabled = given;
      if (given) about.textContent = "The imported document replaces the starter.";
      else describeStarter();
    },
  });
  return mockForm({
    testid: "create-form",
    title: "New mock",
    submitLabel: "Create mock",
    fields: [field("Start from", starter)],
    notes: [about, imported.element],
    onSubmit: async ({ workspace, name }) => {
      let { content } = starterById(starter.value);
      const source = imported.value();
      if (source.trim()) {
        const reply = await importDocument(source);
        content = reply.content;
        const warnings = reply.diagnostics.map(diagnosticLine);
        flash = `Imported from ${reply.format === "edn" ? "EDN" : "OpenAPI"}: check the endpoints, then publish.`
          + (warnings.length ? ` ${warnings.length} warning(s): ${warnings.join("; ")}` : "");
      }
      const mock = await api("POST", "/mocks", { workspace, name, ...(content ? { content } : {}) });
      go(`/mocks/${encodeURIComponent(mock.id)}`);
    },
  });
}

// --- the mocks list ---------------------------------------------------------------------

async function renderList() {
  const error = h("div", { hidden: true, "data-testid": "list-error" });
  const create = newMockForm();
  let timer = null;
  let alive = true;
  const list = mocksList(() => load());
  app.replaceChildren(h("h1", {}, "Mocks"), error, create.element, list.element);
  cleanup.push(() => { alive = false; clearTimeout(timer); }, list.stop);

  const load = async () => {
    clearTimeout(timer);
    let data;
    try {
      data = await api("GET", "/mocks");
      showError(error, null);
    } catch (e) {
      showError(error, e);
      return;
    }
    if (!alive) return;
    create.setWorkspaces(data.workspaces);
    list.show(data.workspaces);
    if (data.workspaces.some((g) => g.mocks.some((m) => settling(m.publication)))) timer = setTimeout(load, POLL_MS);
  };
  await load();
}

// The mocks of every workspace, with a search box and filters kept in the URL. Rows are made
// once per mock and state (a poll remakes only what changed); a filter only hides rows, and
// rows out of sight are not laid out (content-visibility), so a thousand mocks stay quick.
function mocksList(reload) {
  let filter = readFilter(location.search);
  const search = h("input", {
    type: "search", name: "q", value: filter.q, autocomplete: "off", placeholder: "name, host or workspace — press /",
    "aria-keyshortcuts": "/", "data-testid": "filter-q",
  });
  const workspace = h("select", { name: "workspace", "data-testid": "filter-workspace" });
  const status = h("select", { name: "status", "data-testid": "filter-status" },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)));
  const clear = h("button", { type: "button", class: "secondary", "data-testid": "filter-clear" }, "Clear filters");
  const count = h("p", { class: "muted count", role: "status", "data-testid": "filter-count" });
  const none = h("p", { class: "card muted", hidden: true, "data-testid": "filter-empty" }, "No mock matches these filters.");
  const groups = h("div", { "data-testid": "workspaces", onclick: (event) => deleteClicked(event, reload) });
  let rows = new Map(); // mock id → {key, row}
  let entries = []; // {mock, workspace, text, row}, in the order shown
  let sections = []; // {section, entries}

  const apply = () => {
    const matches = matcher(filter);
    let shown = 0;
    for (const entry of entries) {
      entry.row.hidden = !matches(entry);
      if (!entry.row.hidden) shown++;
    }
    const narrowed = filtering(filter);
    for (const { section, entries: own } of sections) section.hidden = narrowed && !own.some((e) => !e.row.hidden);
    none.hidden = !narrowed || shown > 0;
    clear.hidden = !narrowed;
    count.textContent = narrowed
      ? `${NUMBER.format(shown)} of ${plural(entries.length, "mock")}`
      : plural(entries.length, "mock");
  };
  const change = () => {
    filter = { q: search.value, workspace: workspace.value, status: status.value };
    history.replaceState(null, "", `/${filterQuery(filter)}`);
    timed("moclojer:list-filter", apply);
  };
  search.addEventListener("input", change);
  workspace.addEventListener("change", change);
  status.addEventListener("change", change);
  clear.addEventListener("click", () => {
    search.value = workspace.value = status.value = "";
    change();
    search.focus();
  });

  const rowOf = (mock, next) => {
    const key = [mock.name, mock.revision, mock.url, mock.publication.updated_at, mock.publication.server.status, mock.publication.dns.status].join(" ");
    const row = rows.get(mock.id)?.key === key ? rows.get(mock.id).row : mockRow(mock);
    next.set(mock.id, { key, row });
    return row;
  };
  const sectionOf = ({ workspace: ws, mocks }, next) => {
    const own = mocks.map((mock) => ({ mock, workspace: ws, text: searchText(mock, ws), row: rowOf(mock, next) }));
    const section = h("section", { class: "card", "data-testid": "workspace", "data-handle": ws.handle },
      h("h2", {}, ws.name || ws.handle, " ", h("span", { class: "muted" }, `@${ws.handle} · ${ws.kind} · ${ws.role}`)),
      own.length
        ? h("ul", { class: "mocks", "aria-label": `Mocks of @${ws.handle}` }, own.map((e) => e.row))
        : h("p", { class: "muted" }, "No mocks yet."));
    return { section, entries: own };
  };
  const fillWorkspaces = (list) => {
    const handles = list.map((g) => g.workspace.handle);
    if (filter.workspace && !handles.includes(filter.workspace)) handles.push(filter.workspace); // a shared link's
    if (workspace.options.length === handles.length + 1) return;
    const names = new Map(list.map((g) => [g.workspace.handle, g.workspace.name || g.workspace.handle]));
    workspace.replaceChildren(h("option", { value: "" }, "all workspaces"),
      ...handles.map((handle) => h("option", { value: handle }, `${names.get(handle) ?? handle} (@${handle})`)));
    workspace.value = filter.workspace;
  };

  // Slash focuses the search box, wherever one is not typing.
  const onSlash = (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
    event.preventDefault();
    search.focus();
    search.select();
  };
  document.addEventListener("keydown", onSlash);

  return {
    element: h("div", {},
      h("form", { class: "filters", role: "search", "aria-label": "Find mocks", "data-testid": "filters", onsubmit: (e) => e.preventDefault() },
        field("Search", search, { class: "grow" }), field("Workspace", workspace), field("Status", status), h("div", {}, clear)),
      count, groups),
    show(list) {
      timed("moclojer:list-render", () => {
        fillWorkspaces(list);
        const next = new Map();
        sections = list.map((group) => sectionOf(group, next));
        rows = next;
        entries = sections.flatMap((s) => s.entries);
        groups.replaceChildren(...sections.map((s) => s.section), none);
        apply();
      });
    },
    stop: () => document.removeEventListener("keydown", onSlash),
  };
}

const NUMBER = new Intl.NumberFormat("en");
const plural = (n, word) => `${NUMBER.format(n)} ${word}${n === 1 ? "" : "s"}`;

// The row every mock's row is cloned from: cloning is several times quicker than making a
// thousand rows element by element, on a page that has just loaded.
let rowTemplate = null;

function mockRow(mock) {
  rowTemplate ??= h("li", { class: "mock-row", "data-testid": "mock-row" },
    h("div", {}, h("a", { class: "mock-name", "data-link": true }), h("div", { class: "muted revision" })),
    h("div", { class: "host" }, h("a", { class: "mock-url", target: "_blank", rel: "noopener" })),
    h("div", { class: "status" }, badge("server", "", "server-status"), " ", badge("dns", "", "dns-status")),
    h("div", { class: "actions" }, h("button", { class: "danger", "data-testid": "delete" }, "Delete")));
  const row = rowTemplate.cloneNode(true);
  const part = (selector) => row.querySelector(selector);
  const { publication } = mock;
  Object.assign(row.dataset, { name: mock.name, status: statusOf(publication) });
  Object.assign(part(".mock-name"), { href: `/mocks/${encodeURIComponent(mock.id)}`, textContent: mock.name });
  part(".revision").textContent = `revision ${mock.revision}`;
  Object.assign(part(".mock-url"), { href: mockUrl(mock), textContent: mockUrl(mock) });
  setBadge(part("[data-testid=server-status]"), "server", publication.server.status);
  setBadge(part("[data-testid=dns-status]"), "dns", publication.dns.status);
  const trouble = problems(publication);
  if (trouble.length) part(".status").append(h("div", { class: "lasterror", "data-testid": "last-error" }, trouble.join("\n")));
  const remove = part("[data-testid=delete]");
  Object.assign(remove.dataset, { id: mock.id, host: mock.host });
  remove.setAttribute("aria-label", `Delete ${mock.name} (@${mock.workspace})`);
  return row;
}

// A Delete button of the list was clicked (one listener for every row): asks, deletes, reloads.
async function deleteClicked(event, reload) {
  const button = event.target.closest("button[data-testid=delete]");
  if (!button || !confirm(`Delete the mock ${button.dataset.host}? This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await api("DELETE", `/mocks/${encodeURIComponent(button.dataset.id)}`);
  } catch (e) {
    alert(e.message);
  }
  reload();
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
    h("div", { class: "diff-wrap", tabindex: 0, "aria-label": "Differences" }, h("table", { class: "diff", "data-testid": "diff" }, h("tbody", {}, rows))),
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

const describe = (diagnostics) => errorsOf(diagnostics).map(diagnosticLine).join("\n");

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
  const statusBadges = h("span");
  const statusBanner = h("div", { hidden: true, role: "status", "data-testid": "publication-banner" });
  const revisionLabel = h("span", { class: "muted", "data-testid": "revision" });
  const dirtyLabel = h("span", { class: "muted", "data-testid": "dirty" });
  const save = h("button", { "data-testid": "save", title: `Save (${shortcutLabel("S")})`, "aria-keyshortcuts": ariaShortcut("S") }, "Save");
  const revert = h("button", { class: "secondary", "data-testid": "revert" }, "Revert");
  const toggle = h("button", { class: "secondary", "data-testid": "publish-toggle" });
  const historyToggle = h("button", { class: "secondary", "data-testid": "history-toggle" }, "History");
  const duplicate = duplicateCard(mock, () => saved);
  const duplicateToggle = h("button", {
    class: "secondary",
    "data-testid": "duplicate-toggle",
    onclick: () => duplicateToggle.classList.toggle("active", duplicate.toggle()),
  }, "Duplicate");
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
        // A tab stop (it is one already, as contenteditable): axe asks it of a scrolling region.
        EditorView.contentAttributes.of({ "aria-label": `${mock.name}: moclojer YAML`, tabindex: "0" }),
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

  // What its sequences, scenarios and resources remember, with a reset.
  const mockState = statePanel({ mock, api });
  const stateToggle = h("button", {
    class: "secondary",
    "data-testid": "state-toggle",
    onclick: () => stateToggle.classList.toggle("active", mockState.toggle()),
  }, "State");

  const dirty = () => view.state.doc.toString() !== saved;
  const refresh = () => {
    dirtyLabel.textContent = dirty() ? "unsaved changes" : "saved";
    revert.disabled = !dirty();
    revisionLabel.textContent = `revision ${revision}`;
    statusBadges.replaceChildren(...badges(publication));
    showBanner(statusBanner, banner(publication));
    const published = publication.server.status !== "offline";
    toggle.textContent = published ? "Unpublish" : "Publish";
    toggle.dataset.action = published ? "unpublish" : "publish";
    toggle.title = published ? "Take the mock offline: its host stops answering" : `Publish (${shortcutLabel("Enter")})`;
    if (published) toggle.removeAttribute("aria-keyshortcuts");
    else toggle.setAttribute("aria-keyshortcuts", ariaShortcut("Enter"));
  };

  const poll = async () => {
    clearTimeout(timer);
    if (!alive || !settling(publication)) return;
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

  // Saves the editor's text as a new revision; whether it did.
  const saveNow = async () => {
    if (save.disabled) return false;
    const content = view.state.doc.toString();
    save.disabled = true;
    try {
      const result = await validate(content);
      if (!result.valid) {
        showError(message, `Not saved: the spec is invalid.\n${describe(result.diagnostics)}`);
        forceLinting(view);
        return false;
      }
      const updated = await api("PUT", `/mocks/${encodeURIComponent(id)}`, { content, revision });
      saved = content;
      revision = updated.revision;
      publication = updated.publication ?? publication;
      showNotice(message, `Saved revision ${revision}.`);
      refresh();
      poll();
      if (!historyPanel.hidden) loadHistory();
      return true;
    } catch (e) {
      if (e.code === "invalid_spec") {
        const diagnostics = e.details?.diagnostics ?? [];
        showError(message, `Not saved: ${e.message}\n${describe(diagnostics)}`);
      } else if (e.code === "stale_revision") {
        showError(message, `Not saved: ${e.message}\nThe mock changed elsewhere; your text is kept. Copy it, then Revert to load the saved version.`);
      } else {
        showError(message, e);
      }
      return false;
    } finally {
      save.disabled = false;
    }
  };
  save.addEventListener("click", saveNow);

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

  // Publishes or unpublishes; the banner then follows the publication until it settles.
  const publishNow = async (action) => {
    toggle.disabled = true;
    try {
      publication = await api("POST", `/mocks/${encodeURIComponent(id)}/${action}`);
      showError(message, null);
      refresh();
      poll();
    } catch (e) {
      showError(message, e);
    } finally {
      toggle.disabled = false;
    }
  };
  toggle.addEventListener("click", () => publishNow(toggle.dataset.action));

  // Ctrl/⌘+S saves; Ctrl/⌘+Enter saves what is unsaved, then publishes unless the mock is
  // live or on its way (saving a published mock republishes it).
  const saveAndPublish = async () => {
    if (dirty() && !(await saveNow())) return;
    if (!["published", "publishing"].includes(statusOf(publication))) await publishNow("publish");
  };
  cleanup.push(listenShortcuts({ s: saveNow, Enter: saveAndPublish }));

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
  // The history comes a page at a time, newest first: the first page, then older ones on
  // demand ("Older revisions", from the page's `next` cursor).
  const historyMore = h("button", { type: "button", class: "secondary", "data-testid": "history-more", hidden: true }, "Older revisions");
  let revisions = [];
  let olderThan = null;
  const loadHistory = async (older = false) => {
    let page;
    try {
      const cursor = older && olderThan !== null ? `&before=${olderThan}` : "";
      page = await api("GET", `/mocks/${encodeURIComponent(id)}/revisions?limit=100${cursor}`);
      showError(historyError, null);
    } catch (e) {
      showError(historyError, e);
      return;
    }
    if (!alive) return;
    revisions = older ? revisions.concat(page.revisions) : page.revisions;
    olderThan = page.next;
    historyMore.hidden = olderThan === null;
    const options = (select, fallback) => {
      const chosen = select.value;
      select.replaceChildren(...revisions.map((r) => h("option", { value: String(r.revision) }, `revision ${r.revision} · ${when(r.created_at)}`)));
      select.value = revisions.some((r) => String(r.revision) === chosen) ? chosen : String(fallback);
    };
    const latest = revisions[0]?.revision;
    options(diffFrom, revisions[1]?.revision ?? latest);
    options(diffTo, latest);
    historyList.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Revision"), h("th", {}, "Saved"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
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
  historyMore.addEventListener("click", async () => {
    historyMore.disabled = true;
    try {
      await loadHistory(true);
    } finally {
      historyMore.disabled = false;
    }
  });
  historyPanel.append(
    h("h2", {}, "History"),
    historyError,
    historyList,
    historyMore,
    h("div", { class: "row" },
      field("From (old)", diffFrom, { class: "grow" }),
      field("To (new)", diffTo, { class: "grow" }),
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

  const shortcuts = h("p", { class: "hint muted shortcuts" },
    h("kbd", {}, shortcutLabel("S")), " saves · ", h("kbd", {}, shortcutLabel("Enter")), " saves and publishes");
  app.replaceChildren(
    h("p", {}, h("a", { href: "/", "data-link": true }, "← Mocks")),
    h("div", { class: "card" },
      h("h1", { "data-testid": "mock-name" }, mock.name),
      h("p", { class: "mock-head" }, mockLink(mock, { "data-testid": "mock-url" }),
        " ", statusBadges, " ", revisionLabel, " · ", dirtyLabel),
      statusBanner,
      h("div", { class: "toolbar" }, save, revert, upload, uploadInput, historyToggle, requestsToggle, stateToggle, duplicateToggle,
        h("span", { class: "spacer" }), toggle),
      message,
      h("div", { class: "editor", "data-testid": "editor" }, view.dom),
      shortcuts,
    ),
    duplicate.element,
    requests.element,
    mockState.element,
    historyPanel,
    tryPanel(mock, saved),
  );
  if (flash) { showNotice(message, flash); flash = null; }
  refresh();
  poll();
}

// The banner `said` ({kind, text} or null) in `box`.
function showBanner(box, said) {
  box.hidden = !said;
  box.className = `banner ${said?.kind ?? ""}`;
  box.dataset.kind = said?.kind ?? "";
  box.textContent = said?.text ?? "";
}

// The first path of `content` without parameters, to try first ("/" when there is none).
function firstPath(content) {
  const paths = [...content.matchAll(/^\s*path:\s*["']?(\/[^\s"':]*)["']?\s*$/gm)].map((m) => m[1]);
  return paths[0] ?? "/";
}

// "Try it": the browser calls the mock itself (the mock server answers with CORS).
function tryPanel(mock, content) {
  const path = h("input", { value: firstPath(content), autocomplete: "off", "data-testid": "try-path" });
  const status = h("div", { class: "muted", role: "status", "data-testid": "try-status" });
  const body = h("pre", { class: "body", tabindex: 0, "aria-label": "Response body", "data-testid": "try-body", hidden: true });
  const send = h("button", { type: "submit", "data-testid": "try-send" }, "Send GET");
  return h("form", {
    class: "card",
    "data-testid": "try-panel",
    onsubmit: async (event) => {
      event.preventDefault();
      const url = mockUrl(mock, path.value.startsWith("/") ? path.value : `/${path.value}`);
      status.textContent = `GET ${url} …`;
      try {
        const response = await fetch(url, { method: "GET", cache: "no-store" });
        const text = await response.text();
        status.textContent = `${response.status} ${response.statusText}`.trim();
        body.hidden = false;
        body.textContent = text || "(empty body)";
      } catch (e) {
        status.textContent = `The mock could not be reached: ${e.message}. Is it published?`;
        body.hidden = true;
      }
    },
  },
    h("h2", {}, "Try it"),
    h("div", { class: "row" }, field("Path", path, { class: "grow" }), h("div", {}, send)),
    status, body);
}

// "Duplicate": a new mock with this one's saved text (`savedText()`), under a new name, in
// any workspace the user is in. It opens empty-handed: the workspaces load when it opens.
function duplicateCard(mock, savedText) {
  const form = mockForm({
    testid: "duplicate-form",
    title: `Duplicate ${mock.name}`,
    submitLabel: "Duplicate",
    name: copyName(mock.name),
    workspace: mock.workspace,
    notes: [h("p", { class: "hint muted" }, "The copy starts from the saved text, unpublished; this mock stays as it is.")],
    onSubmit: async ({ workspace, name }) => {
      const copy = await api("POST", "/mocks", { workspace, name, content: savedText() });
      flash = `Duplicated from ${mock.name} (@${mock.workspace}).`;
      go(`/mocks/${encodeURIComponent(copy.id)}`);
    },
  });
  form.element.hidden = true;
  const open = async () => {
    form.element.hidden = false;
    try {
      form.setWorkspaces((await api("GET", "/mocks")).workspaces);
    } catch (e) {
      form.fail(e);
    }
    form.focus();
  };
  return {
    element: form.element,
    // Opens the form if closed, closes it if open; whether it is open now.
    toggle() {
      if (form.element.hidden) open();
      else form.element.hidden = true;
      return !form.element.hidden;
    },
  };
}

// "shop" → "shop-copy", within the 30 characters a name may have.
const copyName = (name) => `${name.slice(0, 25).replace(/-+$/, "")}-copy`;

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
      field("Handle", handle, { class: "grow" }),
      field("Name", name, { class: "grow" }),
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
        h("thead", {}, h("tr", {}, h("th", {}, "Handle"), h("th", {}, "E-mail"), h("th", {}, "Role"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
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
          field("Add a user", who, { class: "grow" }),
          field("Role", role),
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
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Created"), h("th", {}, "Expires"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
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
      field("Name", name, { class: "grow" }),
      field("Expires", expires),
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
