// The browser tests of the web interface: builds and starts a real all-in-one
// (`moclojer-cloud` on free ports and a fresh data directory), drives Debian's Chromium
// headless through playwright-core, and walks the main flow (with revision history and
// file upload, the Requests and State panels), then orgs (two users, two browser contexts), personal API tokens, the
// starters (each published and called), keyboard shortcuts, duplicate, search and filters,
// importing an OpenAPI document into a new mock,
// a 390 px phone viewport, and a list of 1,000 mocks (render and filter timed); axe-core
// checks the list, the new-mock form and the editor. Prints each step with its
// time; exits non-zero on the first failure. Screenshots go to e2e/screenshots/.
//
//   node e2e/run.mjs           (CHROMIUM=/path/to/chromium to use another browser)
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startFakeSupabase } from "./fake-supabase.mjs";

const web = new URL("..", import.meta.url).pathname;
const root = join(web, "..");
const shots = join(web, "e2e", "screenshots");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const started = Date.now();

async function step(name, fn) {
  const t = Date.now();
  process.stdout.write(`--> ${name}\n`);
  const result = await fn();
  console.log(`    ok in ${((Date.now() - t) / 1000).toFixed(2)}s`);
  return result;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

// `method` `path` on the mocks port with `Host: host` (fetch does not let a Host header
// through), with `headers` and a text `body`.
function callMock(port, host, path, { method = "GET", headers = {}, body } = {}) {
  const sent = { ...headers, Host: `${host}:${port}` };
  if (body !== undefined) sent["Content-Length"] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers: sent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => { text += chunk; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const getMock = (port, host, path) => callMock(port, host, path);

async function until(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

const clouds = [];
let browser;
let fakeSupabase;
const dataDirs = [];

// Starts an all-in-one on free ports and a fresh data directory; resolves once it is ready.
async function startCloud(binary, extra = [], port = null) {
  const apiPort = port ?? await freePort();
  const mocksPort = await freePort();
  const base = `http://127.0.0.1:${apiPort}`;
  const dataDir = mkdtempSync(join(tmpdir(), "moclojer-e2e-"));
  dataDirs.push(dataDir);
  const cloud = spawn(binary, [
    "--data-dir", dataDir,
    "--api-addr", `127.0.0.1:${apiPort}`,
    "--mocks-addr", `127.0.0.1:${mocksPort}`,
    "--web-dir", join(web, "dist"),
    ...extra,
  ], { cwd: root, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" } });
  clouds.push(cloud);
  cloud.stderr.on("data", (chunk) => process.env.E2E_VERBOSE && process.stderr.write(chunk));
  cloud.on("exit", (code) => { if (code !== null && code !== 0) console.error(`moclojer-cloud exited with ${code}`); });
  await until("/readyz", async () => (await fetch(`${base}/readyz`)).ok);
  return { apiPort, mocksPort, base };
}

async function main() {
  assert.ok(existsSync(browserPath), `no browser at ${browserPath} (apt-get install chromium)`);
  assert.ok(existsSync(join(web, "dist", "index.html")), "web/dist is not built (npm run build)");
  mkdirSync(shots, { recursive: true });

  const binary = await step("build moclojer-cloud (debug)", () => {
    const built = spawnSync("cargo", ["build", "--jobs", process.env.CARGO_BUILD_JOBS || "2", "-p", "moclojer-cloud"], { cwd: root, stdio: "inherit" });
    assert.equal(built.status, 0, "cargo build failed");
    const target = process.env.CARGO_TARGET_DIR || join(root, "target");
    return join(target, "debug", "moclojer-cloud");
  });

  const { mocksPort, base } = await step("start the all-in-one", () => startCloud(binary));
  browser = await step("launch chromium (headless)", () =>
    chromium.launch({ executablePath: browserPath, headless: true, args: ["--no-sandbox"] }));
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const dialogs = []; // the questions the page asked, newest last
  page.on("dialog", (dialog) => { dialogs.push(dialog.message()); dialog.accept(); });
  const pageErrors = [];
  // Uncaught errors, and anything the content security policy blocked.
  const watch = (p) => {
    p.on("pageerror", (e) => pageErrors.push(e));
    p.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) pageErrors.push(new Error(m.text()));
    });
  };
  watch(page);

  const email = `e2e-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const handle = `e2e${Date.now().toString(36)}`;
  const name = "shop";
  const host = `${name}-${handle}.localhost`;

  await step("open / → sign-in page", async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("signin-form").waitFor();
    await page.screenshot({ path: join(shots, "signin.png") });
  });

  await step("a wrong password shows the api's error", async () => {
    await page.fill("input[name=email]", "nobody@example.com");
    await page.fill("input[name=password]", "wrong password");
    await page.click("button[type=submit]");
    const error = page.getByTestId("auth-error");
    await error.waitFor();
    assert.ok((await error.textContent()).length > 0);
  });

  await step("sign up", async () => {
    await page.click("a[href='/signup']");
    await page.getByTestId("signup-form").waitFor();
    await page.fill("input[name=email]", email);
    await page.fill("input[name=password]", password);
    await page.click("button[type=submit]");
    await page.getByTestId("handle-form").waitFor();
    assert.equal(new URL(page.url()).pathname, "/handle");
  });

  await step("choose the handle, with live availability", async () => {
    await page.fill("input[name=handle]", "-bad-");
    await until("the refusal", async () => (await page.getByTestId("handle-hint").getAttribute("class")).includes("bad"));
    assert.ok(await page.locator("form[data-testid=handle-form] button[type=submit]").isDisabled());
    await page.fill("input[name=handle]", handle);
    await until("the availability", async () => (await page.getByTestId("handle-hint").textContent()).includes("available"));
    await page.click("form[data-testid=handle-form] button[type=submit]");
    await page.getByTestId("create-form").waitFor();
    assert.equal(await page.getByTestId("whoami").textContent(), `@${handle}`);
  });

  await step("sign out and sign in again (the token is kept in localStorage)", async () => {
    await page.getByTestId("signout").click();
    await page.getByTestId("signin-form").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("moclojer.token")), null);
    await page.fill("input[name=email]", email);
    await page.fill("input[name=password]", password);
    await page.click("button[type=submit]");
    await page.getByTestId("create-form").waitFor();
    assert.ok(await page.evaluate(() => localStorage.getItem("moclojer.token")));
  });

  const mockPath = await step("create a mock, with the host preview", async () => {
    const preview = page.getByTestId("host-preview");
    const fromApi = async () => (await preview.getAttribute("data-source")) === "api";
    // An invalid name: the api's own message (GET /api/v1/hosts/{workspace}/{name}).
    const hostToken = await page.evaluate(() => localStorage.getItem("moclojer.token"));
    const invalid = await (await fetch(`${base}/api/v1/hosts/${handle}/xn--bad`, { headers: { Authorization: `Bearer ${hostToken}` } })).json();
    assert.equal(invalid.available, false);
    assert.equal(invalid.reason, "invalid");
    await page.getByTestId("new-name").fill("xn--bad");
    await until("the api's refusal", async () => (await fromApi()) && (await preview.textContent()) === `xn--bad-${handle}.localhost: ${invalid.message}`);
    assert.ok(await page.getByTestId("create").isDisabled());
    await page.getByTestId("new-name").fill(name);
    await until("the host preview", async () => (await fromApi()) && (await preview.textContent()) === `${host} is available`);
    await page.getByTestId("create").click();
    await page.getByTestId("editor").waitFor();
    await page.locator(".cm-content").waitFor();
    assert.equal(await page.getByTestId("mock-name").textContent(), name);
    assert.equal(await page.getByTestId("mock-url").textContent(), `http://${host}:${mocksPort}`);
    return new URL(page.url()).pathname;
  });

  const setText = (text) => setEditorText(page, text);
  const editorText = () => editorTextOf(page);

  const broken = [
    "- endpoint:",
    "    method: GET",
    "    path: /hello",
    "    response:",
    "      status: not-a-number",
    "      body: hi",
    "",
  ].join("\n");
  await step("edit with an error: the diagnostic shows at its line, save is refused", async () => {
    await setText(broken);
    const marker = page.locator(".cm-lint-marker-error");
    await marker.first().waitFor({ timeout: 10000 });
    // The gutter marker sits on the line the api names.
    const diagnostics = await (await fetch(`${base}/api/v1/validate`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${await page.evaluate(() => localStorage.getItem("moclojer.token"))}` },
      body: JSON.stringify({ content: broken }),
    })).json();
    assert.equal(diagnostics.valid, false);
    const line = diagnostics.diagnostics[0].line;
    const markerLine = await page.evaluate(() => {
      const view = window.moclojerEditor;
      const marker = document.querySelector(".cm-lint-marker-error");
      const rect = marker.getBoundingClientRect();
      const pos = view.posAtCoords({ x: view.contentDOM.getBoundingClientRect().left + 2, y: rect.top + rect.height / 2 });
      return view.state.doc.lineAt(pos).number;
    });
    assert.equal(markerLine, line, "the lint marker is on the diagnostic's line");
    assert.ok((await page.locator(".cm-lintRange-error").count()) > 0, "the error range is underlined");
    await page.screenshot({ path: join(shots, "editor-invalid.png") });
    await page.getByTestId("save").click();
    const message = page.getByTestId("editor-message");
    await until("the refusal", async () => (await message.textContent()).includes("Not saved"));
    assert.ok((await message.textContent()).includes(`line ${line}`));
    assert.equal(await editorText(), broken, "the editor keeps the text");
    assert.equal(await page.getByTestId("revision").textContent(), "revision 1");
  });

  const fixed = [
    "- endpoint:",
    "    method: GET",
    "    path: /hello",
    "    response:",
    "      status: 200",
    "      headers:",
    "        Content-Type: application/json",
    "      body: >",
    "        {\"hello\": \"e2e\"}",
    "- endpoint:",
    "    method: POST",
    "    path: /users/:id",
    "    response:",
    "      status: 201",
    "      body: created",
    "",
  ].join("\n");
  await step("fix and save", async () => {
    await setText(fixed);
    await until("the markers to clear", async () => (await page.locator(".cm-lint-marker-error").count()) === 0, 10000);
    await page.getByTestId("save").click();
    await until("the save", async () => (await page.getByTestId("revision").textContent()) === "revision 2");
    assert.ok((await page.getByTestId("editor-message").textContent()).includes("Saved revision 2"));
  });

  await step("publish: the badges reach published by themselves; the banner turns into live", async () => {
    await page.getByTestId("publish-toggle").click();
    await until("server published", async () => (await page.getByTestId("server-status").textContent()) === "server: published", 30000);
    await until("dns published", async () => (await page.getByTestId("dns-status").textContent()) === "dns: published", 30000);
    assert.equal(await page.getByTestId("publish-toggle").textContent(), "Unpublish");
    const banner = page.getByTestId("publication-banner");
    assert.equal(await banner.getAttribute("data-kind"), "live");
    assert.equal(await banner.textContent(), "Live: revision 2 answers.");
    assert.ok(!(await page.locator("body").textContent()).includes("Publishing"), "nothing on the page still says publishing");
    await page.screenshot({ path: join(shots, "editor-published.png") });
  });

  await step("try it: the panel shows the mock's response", async () => {
    await page.getByTestId("try-path").fill("/hello");
    await page.getByTestId("try-send").click();
    await until("the answer", async () => (await page.getByTestId("try-status").textContent()).startsWith("200"), 10000);
    assert.deepEqual(JSON.parse(await page.getByTestId("try-body").textContent()), { hello: "e2e" });
  });

  await step("the host answers (from the test process, by Host header)", async () => {
    const response = await getMock(mocksPort, host, "/hello");
    assert.equal(response.status, 200);
    assert.deepEqual(JSON.parse(response.body), { hello: "e2e" });
  });

  const mockId = decodeURIComponent(mockPath.split("/").pop());
  const token = () => page.evaluate(() => localStorage.getItem("moclojer.token"));
  const apiCall = async (method, path, token, body) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        Accept: "application/json",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };

  await requestsFlow({ page, host, mocksPort, mockId, token, apiCall, fixed });
  await stateFlow({ page, base, handle, mocksPort, token, apiCall });

  await step("the list shows the mock, its link and its badges", async () => {
    await page.goto(`${base}/`);
    const row = page.locator(`[data-testid=mock-row][data-name=${name}]`);
    await row.waitFor();
    // The list links the same URL as the editor, port included.
    assert.equal(await row.locator(`a[href='http://${host}:${mocksPort}']`).textContent(), `http://${host}:${mocksPort}`);
    await until("published badges", async () => (await row.getByTestId("server-status").textContent()) === "server: published");
    // The name now taken: the api says so.
    await page.getByTestId("new-name").fill(name);
    await until("taken", async () => (await page.getByTestId("host-preview").getAttribute("data-source")) === "api"
      && (await page.getByTestId("host-preview").textContent()) === `${host}: already taken`);
    assert.ok(await page.getByTestId("create").isDisabled());
    await page.screenshot({ path: join(shots, "list.png") });
    await row.locator("a[data-link]").click();
    await page.getByTestId("editor").waitFor();
    assert.equal(new URL(page.url()).pathname, mockPath);
  });

  await step("reload on the editor's URL (index.html fallback)", async () => {
    await page.reload();
    await page.getByTestId("editor").waitFor();
    assert.equal(await editorText(), fixed);
  });

  await step("unpublish: the host answers 404; the badges and the banner settle", async () => {
    await page.getByTestId("publish-toggle").click();
    await until("server offline", async () => (await page.getByTestId("server-status").textContent()) === "server: offline", 30000);
    // The host's DNS goes after the server: the page keeps asking until it has.
    await until("dns offline", async () => (await page.getByTestId("dns-status").textContent()) === "dns: offline", 30000);
    assert.equal(await page.getByTestId("publication-banner").isHidden(), true);
    await until("the 404", async () => {
      const response = await getMock(mocksPort, host, "/hello");
      return response.status === 404;
    });
  });

  await step("banner: an invalid publication says what is wrong, line by line; a failed DNS its reason", async () => {
    // The api's answers stood in for (the server accepts only what validates): publishing,
    // then refused with two findings; then, published again, its DNS failed.
    const at = (server, dns, more = {}) => ({ server, dns, live_revision: null, requested_revision: null, updated_at: new Date().toISOString(), ...more });
    const diagnostics = [
      { line: 3, column: 11, severity: "error", message: "the path must start with /" },
      { line: 7, column: 15, severity: "error", message: "status must be a number from 100 to 599" },
    ];
    let current = at({ status: "invalid", diagnostics }, { status: "offline" });
    await page.route(`**/api/v1/mocks/${mockId}/publish`, (route) =>
      route.fulfill({ json: at({ status: "publishing" }, { status: "provisioning" }, { requested_revision: 2 }) }));
    await page.route(`**/api/v1/mocks/${mockId}/publication`, (route) => route.fulfill({ json: current }));
    const banner = page.getByTestId("publication-banner");
    await page.getByTestId("publish-toggle").click();
    await until("the refusal", async () => (await banner.getAttribute("data-kind")) === "bad", 10000);
    assert.equal(await banner.textContent(), [
      "Not published: the server refused the spec.",
      "line 3, column 11: the path must start with /",
      "line 7, column 15: status must be a number from 100 to 599",
      "Nothing is live.",
    ].join("\n"));
    assert.equal(await page.getByTestId("server-status").textContent(), "server: invalid");
    await page.getByTestId("editor").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, "editor-publication-invalid.png") });
    // Ctrl+Enter publishes again (keyboard); this time the DNS fails.
    current = at({ status: "published" }, { status: "failed", reason: "the zone refused the record" }, { live_revision: 2 });
    await page.keyboard.press("Control+Enter");
    await until("the DNS failure", async () => (await banner.textContent()).startsWith("The host cannot be reached."), 10000);
    assert.equal(await banner.textContent(), "The host cannot be reached.\nDNS failed: the zone refused the record");
    assert.equal(await page.getByTestId("dns-status").textContent(), "dns: failed");
    await page.unrouteAll();
    await page.reload();
    await page.getByTestId("editor").waitFor();
    assert.equal(await page.getByTestId("server-status").textContent(), "server: offline");
    assert.equal(await banner.isHidden(), true);
  });

  await step("revert brings back the saved text", async () => {
    await setText("- endpoint: {}\n");
    await page.getByTestId("revert").click();
    await until("the saved text", async () => (await editorText()) === fixed);
  });

  // --- revision history: save a third revision, diff revision 1 against it, bring
  // revision 1 back as a new revision.
  const revisionOf = async (n) => {
    const response = await fetch(`${base}/api/v1/mocks/${encodeURIComponent(mockId)}/revisions/${n}`, { headers: { Authorization: `Bearer ${await token()}` } });
    assert.equal(response.status, 200);
    return (await response.json()).content;
  };
  const third = fixed.replace(`{"hello": "e2e"}`, `{"hello": "history"}`).replace("path: /hello", "path: /hi");
  await step("history: save a third revision", async () => {
    await setText(third);
    await page.getByTestId("save").click();
    await until("the save", async () => (await page.getByTestId("revision").textContent()) === "revision 3");
  });

  await step("history: the panel lists the revisions, newest first", async () => {
    await page.getByTestId("history-toggle").click();
    await page.getByTestId("history-panel").waitFor();
    const rows = page.locator("[data-testid=history-row]");
    await until("three revisions", async () => (await rows.count()) === 3);
    assert.deepEqual(await rows.evaluateAll((els) => els.map((el) => el.dataset.revision)), ["3", "2", "1"]);
  });

  const first = await revisionOf(1);
  await step("history: diff revision 1 → 3 shows the removed and added lines", async () => {
    await page.getByTestId("diff-from").selectOption("1");
    await page.getByTestId("diff-to").selectOption("3");
    await page.getByTestId("diff-show").click();
    await page.getByTestId("diff").waitFor();
    // Unfold everything so every line is in the table.
    while (await page.getByTestId("diff-fold").count()) await page.getByTestId("diff-fold").first().locator("button").click();
    const lines = await page.locator("[data-testid=diff-line]").evaluateAll((els) => els.map((el) => ({
      kind: el.dataset.kind,
      sign: el.querySelector(".sign").textContent,
      text: el.querySelector(".text").textContent,
      old: el.querySelectorAll(".ln")[0].textContent,
      new: el.querySelectorAll(".ln")[1].textContent,
    })));
    const oldLines = first.replace(/\n$/, "").split("\n");
    const newLines = third.replace(/\n$/, "").split("\n");
    // Each side reads back in order from the rows that belong to it, with its line numbers.
    const oldSide = lines.filter((l) => l.kind !== "add");
    const newSide = lines.filter((l) => l.kind !== "del");
    assert.deepEqual(oldSide.map((l) => l.text), oldLines);
    assert.deepEqual(newSide.map((l) => l.text), newLines);
    assert.deepEqual(oldSide.map((l) => Number(l.old)), oldLines.map((_, i) => i + 1));
    assert.deepEqual(newSide.map((l) => Number(l.new)), newLines.map((_, i) => i + 1));
    const removed = lines.filter((l) => l.kind === "del");
    const added = lines.filter((l) => l.kind === "add");
    assert.ok(removed.every((l) => l.sign === "−" && l.new === ""), "removed lines are marked −");
    assert.ok(added.every((l) => l.sign === "+" && l.old === ""), "added lines are marked +");
    assert.ok(added.some((l) => l.text.includes(`{"hello": "history"}`)), "the new body shows as added");
    assert.ok(added.some((l) => l.text.includes("path: /hi")), "the new path shows as added");
    assert.equal(await page.getByTestId("diff-summary").textContent(), `+${added.length} −${removed.length}`);
    assert.ok(removed.length > 0 && added.length > 0);
    await page.getByTestId("history-panel").screenshot({ path: join(shots, "history-diff.png") });
  });

  await step("history: diff 2 → 3 shows just the two changed lines", async () => {
    await page.getByTestId("diff-from").selectOption("2");
    await page.getByTestId("diff-show").click();
    await until("the new diff", async () => (await page.locator("[data-testid=diff-out] h3").textContent()) === "revision 2 → revision 3");
    const kinds = await page.locator("[data-testid=diff-line]").evaluateAll((els) => els.map((el) => [el.dataset.kind, el.querySelector(".text").textContent]));
    assert.deepEqual(kinds.filter(([k]) => k === "del").map(([, t]) => t), ["    path: /hello", `        {"hello": "e2e"}`]);
    assert.deepEqual(kinds.filter(([k]) => k === "add").map(([, t]) => t), ["    path: /hi", `        {"hello": "history"}`]);
    assert.equal(await page.getByTestId("diff-summary").textContent(), "+2 −2");
  });

  await step("history: load revision 1 into the editor and save it as revision 4", async () => {
    await page.locator("[data-testid=history-row][data-revision='1'] [data-testid=history-load]").click();
    await until("revision 1's text", async () => (await editorText()) === first);
    assert.equal(await page.getByTestId("dirty").textContent(), "unsaved changes");
    assert.equal(await page.getByTestId("revision").textContent(), "revision 3");
    await page.getByTestId("save").click();
    await until("the save", async () => (await page.getByTestId("revision").textContent()) === "revision 4");
    assert.equal(await revisionOf(4), first, "revision 4 is revision 1's content");
    await until("the list to show it", async () => (await page.locator("[data-testid=history-row]").count()) === 4);
  });

  // --- upload: a file from disk becomes unsaved, linted text.
  await step("upload: a .yml file shows in the editor with its lint result", async () => {
    await page.getByTestId("upload-input").setInputFiles({ name: "broken.yml", mimeType: "application/x-yaml", buffer: Buffer.from(broken) });
    await until("the file's text", async () => (await editorText()) === broken);
    assert.equal(await page.getByTestId("dirty").textContent(), "unsaved changes");
    assert.ok((await page.getByTestId("editor-message").textContent()).includes("broken.yml"));
    await page.locator(".cm-lint-marker-error").first().waitFor({ timeout: 10000 });
    await page.screenshot({ path: join(shots, "editor-upload.png") });
    await page.getByTestId("upload-input").setInputFiles({ name: "fixed.yaml", mimeType: "application/x-yaml", buffer: Buffer.from(third) });
    await until("the file's text", async () => (await editorText()) === third);
    await until("the markers to clear", async () => (await page.locator(".cm-lint-marker-error").count()) === 0, 10000);
  });

  await step("upload: a file over 1 MiB is refused, the text stays", async () => {
    await page.getByTestId("upload-input").setInputFiles({ name: "huge.yml", mimeType: "application/x-yaml", buffer: Buffer.alloc(1024 * 1024 + 1, "#") });
    await until("the refusal", async () => (await page.getByTestId("editor-message").getAttribute("class")) === "error");
    assert.ok((await page.getByTestId("editor-message").textContent()).includes("the limit is 1 MiB"));
    assert.equal(await editorText(), third);
    await page.getByTestId("revert").click();
    await until("the saved text", async () => (await editorText()) === first);
  });

  await step("delete with confirmation", async () => {
    await page.goto(`${base}/`);
    const row = page.locator(`[data-testid=mock-row][data-name=${name}]`);
    await row.waitFor();
    await row.getByTestId("delete").click();
    await until("the row to go", async () => (await row.count()) === 0);
  });

  // --- orgs: A makes one, renames it, adds B; B sees it without owner controls; A
  // removes B, then deletes it.
  const orgHandle = "acme";
  const bEmail = `e2e-b-${Date.now()}@example.com`;
  const bHandle = `b${handle}`;

  await step("orgs: A creates the org acme from the header's Orgs page", async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("nav-orgs").click();
    await page.getByTestId("org-create-form").waitFor();
    assert.equal(new URL(page.url()).pathname, "/orgs");
    await page.getByTestId("orgs-empty").waitFor();
    await page.getByTestId("org-handle").fill(orgHandle);
    await page.getByTestId("org-name").fill("Acme");
    await page.getByTestId("org-create").click();
    await page.getByTestId("members").waitFor();
    assert.equal(new URL(page.url()).pathname, `/orgs/${orgHandle}`);
    assert.equal(await page.getByTestId("org-title").textContent(), "Acme");
    assert.equal(await page.getByTestId("my-role").textContent(), "owner");
    assert.equal(await page.locator(`[data-testid=member-row][data-handle=${handle}] [data-testid=member-role-change]`).inputValue(), "owner");
  });

  await step("orgs: the same handle again shows the api's error", async () => {
    await page.getByTestId("nav-orgs").click();
    await page.locator(`[data-testid=org-row][data-handle=${orgHandle}]`).waitFor();
    await page.getByTestId("org-handle").fill(orgHandle);
    await page.getByTestId("org-create").click();
    const error = page.getByTestId("org-create-error");
    await error.waitFor();
    const taken = await apiCall("POST", "/orgs", await page.evaluate(() => localStorage.getItem("moclojer.token")), { handle: orgHandle });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, "handle_taken");
    assert.equal(await error.textContent(), taken.body.error.message);
    await page.locator(`[data-testid=org-row][data-handle=${orgHandle}] a`).click();
    await page.getByTestId("members").waitFor();
  });

  await step("orgs: A renames it", async () => {
    await page.getByTestId("rename-input").fill("Acme Corporation");
    await page.getByTestId("rename").click();
    await until("the new name", async () => (await page.getByTestId("org-title").textContent()) === "Acme Corporation");
    assert.equal(await page.getByTestId("org-message").textContent(), "Renamed.");
  });

  await step("orgs: B signs up (through the api) and chooses a handle", async () => {
    const signup = await apiCall("POST", "/auth/signup", null, { email: bEmail, password });
    assert.equal(signup.status, 201, JSON.stringify(signup.body));
    const named = await apiCall("PUT", "/me", signup.body.token, { handle: bHandle });
    assert.equal(named.status, 200, JSON.stringify(named.body));
  });

  await step("orgs: adding an unknown user shows the api's error", async () => {
    await page.getByTestId("member-input").fill("nosuchuser");
    await page.getByTestId("add-member").click();
    await until("the error", async () => (await page.getByTestId("org-message").getAttribute("class")) === "error");
    assert.equal(await page.getByTestId("org-message").textContent(), "no such user");
  });

  await step("orgs: A adds B by handle and sees B among the members", async () => {
    await page.getByTestId("member-input").fill(bHandle);
    await page.getByTestId("add-member").click();
    const row = page.locator(`[data-testid=member-row][data-handle=${bHandle}]`);
    await row.waitFor();
    assert.equal(await row.getByTestId("member-role-change").inputValue(), "member");
    assert.ok((await row.textContent()).includes(bEmail));
    assert.equal(await page.getByTestId("org-message").textContent(), `Added @${bHandle} as member.`);
    await page.screenshot({ path: join(shots, "org-owner.png") });
  });

  const contextB = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const pageB = await contextB.newPage();
  pageB.on("dialog", (dialog) => dialog.accept());
  watch(pageB);

  await step("orgs: B (a second browser context) sees the org, without owner controls", async () => {
    await pageB.goto(`${base}/`);
    await pageB.getByTestId("signin-form").waitFor();
    await pageB.fill("input[name=email]", bEmail);
    await pageB.fill("input[name=password]", password);
    await pageB.click("button[type=submit]");
    await pageB.getByTestId("create-form").waitFor();
    assert.equal(await pageB.getByTestId("whoami").textContent(), `@${bHandle}`);
    await pageB.getByTestId("nav-orgs").click();
    const row = pageB.locator(`[data-testid=org-row][data-handle=${orgHandle}]`);
    await row.waitFor();
    assert.equal(await row.getByTestId("org-role").textContent(), "member");
    await row.locator("a").click();
    await pageB.getByTestId("members").waitFor();
    assert.equal(await pageB.getByTestId("org-title").textContent(), "Acme Corporation");
    assert.equal(await pageB.getByTestId("my-role").textContent(), "member");
    for (const control of ["rename-form", "add-member-form", "remove-member", "delete-org", "danger-zone"]) {
      assert.equal(await pageB.getByTestId(control).count(), 0, `B sees no ${control}`);
    }
    assert.equal(await pageB.getByTestId("leave").count(), 1, "B may leave");
    assert.equal(await pageB.locator("[data-testid=member-row]").count(), 2);
    await pageB.screenshot({ path: join(shots, "org-member.png") });
  });

  await step("orgs: A makes B an owner; B then sees the owner controls", async () => {
    const row = page.locator(`[data-testid=member-row][data-handle=${bHandle}]`);
    await row.getByTestId("member-role-change").selectOption("owner");
    await until("the notice", async () => (await page.getByTestId("org-message").textContent()) === `@${bHandle} is now an owner.`);
    const token = await page.evaluate(() => localStorage.getItem("moclojer.token"));
    const members = await apiCall("GET", `/orgs/${orgHandle}/members`, token);
    assert.equal(members.body.find((m) => m.handle === bHandle).role, "owner");
    await pageB.reload();
    await pageB.getByTestId("rename-form").waitFor();
    assert.equal(await pageB.getByTestId("my-role").textContent(), "owner");
  });

  await step("orgs: A makes B a member again; B's owner controls go", async () => {
    const row = page.locator(`[data-testid=member-row][data-handle=${bHandle}]`);
    await row.getByTestId("member-role-change").selectOption("member");
    await until("the notice", async () => (await page.getByTestId("org-message").textContent()) === `@${bHandle} is now a member.`);
    await pageB.reload();
    await pageB.getByTestId("members").waitFor();
    assert.equal(await pageB.getByTestId("my-role").textContent(), "member");
    assert.equal(await pageB.getByTestId("rename-form").count(), 0);
  });

  await step("orgs: the last owner cannot make themselves a member (last_owner); the select shows owner", async () => {
    const own = page.locator(`[data-testid=member-row][data-handle=${handle}]`);
    await own.getByTestId("member-role-change").selectOption("member");
    await until("the refusal", async () => (await page.getByTestId("org-message").getAttribute("class")) === "error");
    assert.match(await page.getByTestId("org-message").textContent(), /at least one owner/);
    assert.equal(await own.getByTestId("member-role-change").inputValue(), "owner");
  });

  await step("orgs: A removes B (confirm); B no longer sees the org", async () => {
    const row = page.locator(`[data-testid=member-row][data-handle=${bHandle}]`);
    await row.getByTestId("remove-member").click();
    await until("B's row to go", async () => (await row.count()) === 0);
    assert.equal(await page.getByTestId("org-message").textContent(), `Removed @${bHandle}.`);
    await pageB.getByTestId("nav-orgs").click();
    await pageB.getByTestId("orgs-empty").waitFor();
  });

  await step("orgs: the last owner cannot leave (the api's last_owner error)", async () => {
    const own = page.locator(`[data-testid=member-row][data-handle=${handle}]`);
    await own.getByTestId("leave").click();
    await until("the refusal", async () => (await page.getByTestId("org-message").getAttribute("class")) === "error");
    const token = await page.evaluate(() => localStorage.getItem("moclojer.token"));
    const refused = await apiCall("DELETE", `/orgs/${orgHandle}/members/${handle}`, token);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "last_owner");
    assert.equal(await page.getByTestId("org-message").textContent(), refused.body.error.message);
    assert.equal(await own.count(), 1);
  });

  await step("orgs: A deletes the org (confirm) with its mock, and both are gone", async () => {
    const token = await page.evaluate(() => localStorage.getItem("moclojer.token"));
    const mock = await apiCall("POST", "/mocks", token, { workspace: orgHandle, name: "api" });
    assert.equal(mock.status, 201, JSON.stringify(mock.body));
    await page.getByTestId("delete-org").click();
    await page.getByTestId("orgs-empty").waitFor();
    assert.ok(dialogs.at(-1).includes("its 1 mock"), dialogs.at(-1));
    assert.equal((await apiCall("GET", `/mocks/${mock.body.id}`, token)).status, 404);
    assert.equal(new URL(page.url()).pathname, "/orgs");
    assert.equal((await apiCall("GET", `/orgs/${orgHandle}`, token)).status, 404);
    assert.deepEqual((await apiCall("GET", "/orgs", token)).body, []);
  });
  await contextB.close();

  // --- personal API tokens: make one, use it, revoke it.
  await step("tokens: create the token ci; its secret shows once", async () => {
    await page.getByTestId("nav-tokens").click();
    await page.getByTestId("token-create-form").waitFor();
    assert.equal(new URL(page.url()).pathname, "/tokens");
    await page.getByTestId("tokens-empty").waitFor();
    await page.getByTestId("token-name").fill("ci");
    await page.getByTestId("token-create").click();
    await page.getByTestId("token-secret").waitFor();
    assert.ok((await page.getByTestId("token-warning").textContent()).includes("will not be shown again"));
    await page.locator("[data-testid=token-row][data-name=ci]").waitFor();
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await page.getByTestId("token-copy").click();
    await until("the copy", async () => (await page.getByTestId("token-copied").textContent()) === "Copied.");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.getByTestId("token-secret").inputValue());
    await page.screenshot({ path: join(shots, "token-created.png") });
  });

  const secret = await page.getByTestId("token-secret").inputValue();
  await step("tokens: the secret works from the test process (GET /me → 200)", async () => {
    assert.ok(secret.length > 0);
    const reply = await apiCall("GET", "/me", secret);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.handle, handle);
  });

  await step("tokens: the secret is gone once dismissed or reloaded", async () => {
    await page.getByTestId("token-done").click();
    assert.equal(await page.getByTestId("token-secret").count(), 0);
    await page.reload();
    await page.locator("[data-testid=token-row][data-name=ci]").waitFor();
    assert.equal(await page.getByTestId("token-secret").count(), 0);
    assert.ok(!(await page.content()).includes(secret), "the secret is nowhere in the page");
  });

  await step("tokens: revoke it (confirm); the same call → 401", async () => {
    const row = page.locator("[data-testid=token-row][data-name=ci]");
    await row.getByTestId("token-revoke").click();
    await until("the row to go", async () => (await row.count()) === 0);
    await page.getByTestId("tokens-empty").waitFor();
    const reply = await apiCall("GET", "/me", secret);
    assert.equal(reply.status, 401);
    assert.equal(new URL(page.url()).pathname, "/tokens", "the session itself is still signed in");
  });

  const made = await startersFlow({ page, base, mocksPort, handle });
  await filterFlow({ page, base, handle });
  await narrowFlow({ page, base, made });
  await importFlow({ page, base, mocksPort, handle });
  await scaleFlow({ browser, base, apiCall, watch });

  await supabaseFlows(binary, pageErrors, watch);

  assert.deepEqual(pageErrors.map(String), [], "no uncaught errors and nothing the content security policy blocked");
}

// The editor's Requests panel, on the published mock: the requests it received, a new one
// live (no reload), a near miss in words, a request's detail with its secret header
// redacted, the endpoint's item selected in the editor, the request as curl, and Clear.
async function requestsFlow({ page, host, mocksPort, mockId, token, apiCall, fixed }) {
  const url = `http://${host}:${mocksPort}`;
  const lines = fixed.replace(/\n$/, "").split("\n");
  const usersLine = lines.lastIndexOf("- endpoint:") + 1; // where POST /users/:id starts
  const rows = page.locator("[data-testid=request-row]");
  const top = rows.first();
  const journal = async () => (await apiCall("GET", `/mocks/${mockId}/requests?limit=10`, await token())).body.requests;

  await step("requests: the panel lists what the mock received, and goes live", async () => {
    await page.getByTestId("requests-toggle").click();
    await page.getByTestId("requests-panel").waitFor();
    await until("the live stream", async () => (await page.getByTestId("requests-live").getAttribute("data-state")) === "live", 10000);
    // The "try it" GET and the test process's GET of /hello, newest first.
    await until("the earlier requests", async () => (await rows.count()) >= 2);
    assert.deepEqual(await rows.evaluateAll((els) => els.map((el) => el.querySelector(".target").textContent)).then((t) => t.slice(0, 2)), ["/hello", "/hello"]);
    await page.evaluate(() => { window.e2eSamePage = true; }); // gone if the page reloads
  });

  const body = `{"name": "Ada O'Brien"}`;
  await step("requests: a request to the mock shows on top within 2 s, without a reload", async () => {
    const sent = Date.now();
    const reply = await callMock(mocksPort, host, "/users/42?verbose=yes", {
      method: "POST",
      headers: { Authorization: "Bearer secret", "Content-Type": "application/json", "X-Trace": "e2e's" },
      body,
    });
    assert.equal(reply.status, 201);
    await until("the live row", async () => (await top.getAttribute("data-status")) === "201", 2000);
    console.log(`    (the row showed ${Date.now() - sent} ms after the request)`);
    assert.equal(await top.locator(".target").textContent(), "/users/42?verbose=yes");
    assert.equal(await top.getAttribute("data-matched"), "true");
    assert.equal(await page.evaluate(() => window.e2eSamePage), true, "no reload");
  });

  await step("requests: a request no endpoint answers is marked; its near miss is told in words", async () => {
    const reply = await callMock(mocksPort, host, "/users/42", { method: "DELETE" });
    assert.ok([404, 405].includes(reply.status), `status ${reply.status}`);
    await until("the unmatched row", async () => (await top.getAttribute("data-matched")) === "false", 2000);
    assert.ok(await top.evaluate((el) => el.classList.contains("unmatched")));
    await top.click();
    const near = page.getByTestId("request-near-miss-text").first();
    await near.waitFor();
    const expected = `Closest: POST /users/:id (line ${usersLine}) — the method is DELETE; this endpoint answers POST`;
    assert.equal(await near.textContent(), expected);
    const recorded = (await journal())[0];
    assert.equal(recorded.near_misses[0].differences[0].message, "the method is DELETE; this endpoint answers POST");
    assert.ok((await page.getByTestId("request-unmatched").textContent()).includes(`status ${reply.status}`));
  });

  await step("requests: the matched request's detail: [redacted], its line, shown in the editor", async () => {
    const row = page.locator("[data-testid=request-row][data-status='201']").first();
    await row.click();
    const detail = page.getByTestId("request-detail");
    await until("its detail", async () => (await detail.getAttribute("data-id")) === (await row.getAttribute("data-id")));
    const header = (name) => detail.locator(`[data-testid=request-header][data-name=${name}] td`).textContent();
    assert.equal(await header("authorization"), "[redacted]");
    assert.equal(await header("x-trace"), "e2e's");
    assert.equal(await page.getByTestId("request-body").textContent(), body);
    assert.equal(await page.getByTestId("request-matched").textContent(), `Answered 201: matched the endpoint at line ${usersLine}.`);
    assert.ok((await page.getByTestId("request-client").textContent()).includes("127.0.0.1"));
    await page.evaluate(() => window.moclojerEditor.dispatch({ selection: { anchor: 0 } }));
    await page.getByTestId("request-highlight").click();
    const selected = await page.evaluate(() => {
      const view = window.moclojerEditor;
      const { from, to } = view.state.selection.main;
      return [view.state.doc.lineAt(from).number, view.state.doc.lineAt(to).number];
    });
    assert.deepEqual(selected, [usersLine, lines.length], "the endpoint's item is selected");
    const marked = await page.locator(".cm-request-item").evaluateAll((els) => els.map((el) => el.textContent));
    assert.deepEqual(marked, lines.slice(usersLine - 1), "its lines are marked");
    await page.getByTestId("editor").screenshot({ path: join(shots, "requests-highlight.png") });
  });

  await step("requests: copy as curl; the command replays the request", async () => {
    await page.getByTestId("request-curl-copy").click();
    await until("the copy", async () => (await page.getByTestId("request-curl-copied").textContent()) !== "");
    const curl = await page.getByTestId("request-curl").inputValue();
    assert.ok(curl.startsWith(`curl -X POST '${url}/users/42?verbose=yes'`), curl);
    assert.ok(curl.includes("-H 'authorization: <redacted>'"), curl);
    assert.ok(curl.includes(`-H 'x-trace: e2e'\\''s'`), curl);
    assert.ok(!/-H '(host|content-length|x-forwarded-for):/.test(curl), curl);
    // Run it (through the mocks port): the journal shows the same request again.
    const run = spawnSync("bash", ["-c", `${curl} -s -o /dev/null -w '%{http_code}' --connect-to ::127.0.0.1:${mocksPort}`], { encoding: "utf8" });
    assert.equal(run.stdout, "201", run.stderr);
    await until("the replay's row", async () => (await top.getAttribute("data-status")) === "201", 2000);
    const [replayed] = await journal();
    assert.equal(replayed.body, body);
    assert.equal(replayed.headers["x-trace"], "e2e's");
    await page.getByTestId("requests-panel").screenshot({ path: join(shots, "requests.png") });
  });

  await step("requests: Clear empties the list and the journal; closing the panel ends the stream", async () => {
    await page.getByTestId("requests-clear").click();
    await page.getByTestId("requests-empty").waitFor();
    assert.equal(await rows.count(), 0);
    assert.equal(await page.getByTestId("requests-empty").textContent(), `No requests yet — send one to ${url}`);
    assert.equal(await page.getByTestId("request-detail").isHidden(), true);
    assert.deepEqual(await journal(), []);
    // Closing the panel ends the live stream (its fetch is aborted).
    const aborted = page.waitForEvent("requestfailed", { predicate: (r) => r.url().includes("/requests/stream"), timeout: 5000 });
    await page.getByTestId("requests-toggle").click();
    assert.equal(await page.getByTestId("requests-panel").isHidden(), true);
    await aborted;
  });
}

// A mock with a sequence and a scenario, published; what the test process's calls left.
const STATEFUL = [
  "- endpoint:",
  "    path: /seq",
  "    sequence:",
  "      - body: '{\"n\": 1}'",
  "      - body: '{\"n\": 2}'",
  "- endpoint:",
  "    path: /cart",
  "    scenario: {name: cart, when-state: started, set-state: has-items}",
  "    response:",
  "      body: '{\"cart\": \"empty\"}'",
  "- endpoint:",
  "    path: /cart",
  "    scenario: {name: cart, when-state: has-items}",
  "    response:",
  "      body: '{\"cart\": \"full\"}'",
  "- endpoint:",
  "    path: /ready",
  "    response:",
  "      body: ready",
  "",
].join("\n");

// The editor's State panel on a stateful mock: the scenario's state and the sequence's
// count after two calls, Reset state empties both, and the next call answers the
// sequence's first response again. The mock is deleted at the end.
async function stateFlow({ page, base, handle, mocksPort, token, apiCall }) {
  const host = `counter-${handle}.localhost`;
  const json = async (path) => {
    const reply = await getMock(mocksPort, host, path);
    assert.equal(reply.status, 200, `${path}: ${reply.body}`);
    return JSON.parse(reply.body);
  };
  const sequence = "GET /seq (item 0)";
  const id = await step("state: publish a mock with a sequence and a scenario; two calls move both", async () => {
    const made = await apiCall("POST", "/mocks", await token(), { workspace: handle, name: "counter", content: STATEFUL });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.id;
    assert.equal((await apiCall("POST", `/mocks/${encodeURIComponent(id)}/publish`, await token())).status, 200);
    await until("the mock to answer", async () => (await getMock(mocksPort, host, "/ready")).status === 200, 30000);
    assert.deepEqual(await json("/seq"), { n: 1 });
    assert.deepEqual(await json("/seq"), { n: 2 });
    assert.deepEqual(await json("/cart"), { cart: "empty" });
    return id;
  });

  const panel = page.getByTestId("state-panel");
  const rows = panel.locator("[data-testid=state-sequence], [data-testid=state-scenario], [data-testid=state-resource]");
  await step("state: the panel shows the scenario's state and the sequence's count", async () => {
    await page.goto(`${base}/mocks/${encodeURIComponent(id)}`);
    await page.getByTestId("editor").waitFor();
    await page.getByTestId("state-toggle").click();
    await panel.waitFor();
    const seq = panel.locator(`[data-testid=state-sequence][data-name='${sequence}']`);
    await seq.waitFor();
    assert.equal(await seq.getAttribute("data-value"), "2");
    assert.equal(await seq.locator("td").textContent(), "2 requests");
    const cart = panel.locator("[data-testid=state-scenario][data-name=cart]");
    assert.equal(await cart.locator("td").textContent(), "has-items");
    assert.equal(await rows.count(), 2, "a sequence and a scenario, no resource");
    assert.ok((await page.getByTestId("state-summary").textContent()).startsWith("revision 1"));
    assert.ok(await page.getByTestId("state-toggle").evaluate((el) => el.classList.contains("active")));
    await accessibility(page, "the State panel", "[data-testid=state-panel]");
    await panel.screenshot({ path: join(shots, "state.png") });
  });

  await step("state: Reset state empties it; the next call answers the sequence's first response again", async () => {
    await page.getByTestId("state-reset").click();
    await page.getByTestId("state-empty").waitFor();
    assert.equal(await rows.count(), 0);
    assert.equal(await page.getByTestId("state-summary").textContent(), "nothing remembered");
    assert.equal(await page.getByTestId("state-notice").textContent(), "State reset: the next request starts afresh.");
    const shown = await apiCall("GET", `/mocks/${encodeURIComponent(id)}/state`, await token());
    assert.deepEqual(shown.body, { revision: null, scenarios: {}, sequences: {}, resources: {}, bytes: 0 });
    assert.deepEqual(await json("/seq"), { n: 1 });
    assert.deepEqual(await json("/cart"), { cart: "empty" });
    await page.getByTestId("state-refresh").click();
    const seq = panel.locator(`[data-testid=state-sequence][data-name='${sequence}']`);
    await until("the refreshed count", async () => (await seq.count()) === 1 && (await seq.getAttribute("data-value")) === "1", 5000);
    await panel.screenshot({ path: join(shots, "state-after-reset.png") });
    await page.getByTestId("state-toggle").click();
    assert.equal(await panel.isHidden(), true);
    assert.equal((await apiCall("DELETE", `/mocks/${encodeURIComponent(id)}`, await token())).status, 204);
  });
}

// --- helpers of the flows below --------------------------------------------------------

const setEditorText = (page, text) => page.evaluate((text) => {
  const view = window.moclojerEditor;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}, text);
const editorTextOf = (page) => page.evaluate(() => window.moclojerEditor.state.doc.toString());

const axeSource = readFileSync(join(web, "node_modules", "axe-core", "axe.min.js"), "utf8");

// Runs axe-core in `page` (on the element `include` names, else the whole page): no serious
// or critical violation; the others are printed.
async function accessibility(page, what, include) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const { violations } = await page.evaluate((include) => window.axe.run(include ? { include: [include] } : document, { resultTypes: ["violations"] }), include);
  const serious = violations.filter((v) => ["serious", "critical"].includes(v.impact));
  const others = violations.filter((v) => !serious.includes(v)).map((v) => `${v.id} (${v.impact})`);
  console.log(`    axe on ${what}: ${serious.length} serious or critical${others.length ? `; also ${others.join(", ")}` : ""}`);
  assert.deepEqual(serious.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `axe on ${what}`);
}

// The page is no wider than its window: nothing scrolls sideways.
async function noSideScroll(page, what) {
  const [width, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(width <= inner, `${what}: the page is ${width} px wide in a ${inner} px window`);
}

// A small OpenAPI document to import: one operation with an example, one answered from its
// schema.
const IMPORT_DOCUMENT = [
  "openapi: 3.0.3",
  "info: {title: Library, version: '1'}",
  "paths:",
  "  /books/{id}:",
  "    get:",
  "      operationId: showBook",
  "      parameters:",
  "        - {name: id, in: path, required: true, schema: {type: integer}}",
  "      responses:",
  "        '200':",
  "          description: A book",
  "          content:",
  "            application/json:",
  "              example: {id: 7, title: Dom Casmurro, tags: [novel]}",
  "  /books:",
  "    post:",
  "      responses:",
  "        '201':",
  "          description: Shelved",
  "          content:",
  "            application/json:",
  "              schema: {type: object, properties: {id: {type: integer, minimum: 1}, status: {type: string, enum: [shelved, lent]}}}",
  "",
].join("\n");

// Import from the new-mock form: a broken document is refused with its line and column; the
// document picked as a file becomes the new mock's YAML in the editor; saved and published,
// each operation answers its example.
async function importFlow({ page, base, mocksPort, handle }) {
  const name = "library";
  const host = `${name}-${handle}.localhost`;
  await step("import: a broken OpenAPI document is refused, with its line and column", async () => {
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(`${base}/`);
    await page.getByTestId("create-form").waitFor();
    await fillNewMock(page, name);
    await page.getByTestId("import-box").locator("summary").click();
    const broken = IMPORT_DOCUMENT.replace(/schema: \{type: object.*\n/, "schema: {$ref: '#/components/schemas/Book'}\n");
    await page.getByTestId("import-text").fill(broken);
    assert.ok(await page.getByTestId("new-starter").isDisabled(), "the import replaces the starter");
    await page.getByTestId("create").click();
    const error = page.getByTestId("create-error");
    await until("the refusal", async () => (await error.textContent()).startsWith("Not imported"));
    assert.match(await error.textContent(), /line 22, column 30: `#\/components\/schemas\/Book` points to nothing/);
    await accessibility(page, "the new-mock form with its import", "[data-testid=create-form]");
    await page.getByTestId("create-form").screenshot({ path: join(shots, "new-mock-import.png") });
  });

  await step("import: the document, picked as a file, opens in the editor as the new mock's YAML", async () => {
    await page.getByTestId("import-file").setInputFiles({ name: "library.yaml", mimeType: "application/yaml", buffer: Buffer.from(IMPORT_DOCUMENT) });
    await until("the file's text", async () => (await page.getByTestId("import-text").inputValue()) === IMPORT_DOCUMENT);
    await page.getByTestId("create").click();
    await page.getByTestId("editor").waitFor();
    await page.locator(".cm-content").waitFor();
    const text = await editorTextOf(page);
    assert.ok(text.startsWith("# Imported from OpenAPI 3.0.3: Library (1)\n# showBook\n- endpoint:\n"), text);
    assert.ok(text.includes("    path: /books/:id|int\n"), text);
    assert.ok(text.includes(`      body: '{"id":7,"title":"Dom Casmurro","tags":["novel"]}'\n`), text);
    assert.match(await page.getByTestId("editor-message").textContent(), /^Imported from OpenAPI/);
    assert.equal(await page.getByTestId("revision").textContent(), "revision 1");
  });

  await step("import: save and publish (Ctrl+Enter); each operation answers its example", async () => {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("# reviewed\n");
    await page.keyboard.press("Control+Enter");
    await until("saved", async () => (await page.getByTestId("revision").textContent()) === "revision 2");
    await until("live", async () => (await page.getByTestId("publication-banner").textContent()) === "Live: revision 2 answers.", 30000);
    const book = await until("GET /books/7", async () => {
      const r = await callMock(mocksPort, host, "/books/7");
      return r.status === 200 && r;
    }, 10000);
    assert.deepEqual(JSON.parse(book.body), { id: 7, title: "Dom Casmurro", tags: ["novel"] });
    const shelved = await callMock(mocksPort, host, "/books", { method: "POST" });
    assert.equal(shelved.status, 201);
    assert.deepEqual(JSON.parse(shelved.body), { id: 1, status: "shelved" });
    assert.equal((await callMock(mocksPort, host, "/books/seven")).status, 400, "the id is an integer");
  });
}

// Fills the new-mock form (the list page) and waits for the api's word on the name.
async function fillNewMock(page, name, starter = "hello", workspace = null) {
  await page.getByTestId("new-name").fill(name);
  if (workspace) await page.getByTestId("new-workspace").selectOption(workspace);
  await page.getByTestId("new-starter").selectOption(starter);
  await until("the host preview", async () => (await page.getByTestId("host-preview").getAttribute("data-source")) === "api"
    && (await page.getByTestId("host-preview").textContent()).endsWith("is available"));
}

// The last performance measure `name` the page recorded after `count` others.
async function measure(page, name, count) {
  await page.waitForFunction(([name, count]) => performance.getEntriesByName(name).length > count, [name, count]);
  return page.evaluate((name) => performance.getEntriesByName(name).at(-1).duration, name);
}

// How each shipped starter answers once published: [method, path, body?, check(response)].
const STARTER_CALLS = {
  hello: [["GET", "/hello", undefined, (r) => r.status === 200 && JSON.parse(r.body).hello === "world"]],
  rest: [
    ["GET", "/users?page=2&q=ad", undefined, (r) => r.status === 200 && JSON.parse(r.body).page === "2" && JSON.parse(r.body).search === "ad"],
    ["GET", "/users/7", undefined, (r) => r.status === 200 && JSON.parse(r.body).id === 7],
    ["GET", "/users/seven", undefined, (r) => r.status === 400],
    ["POST", "/users", `{"name": "Linus"}`, (r) => r.status === 201 && JSON.parse(r.body).name === "Linus"],
  ],
  errors: [
    ["GET", "/orders/9", undefined, (r) => r.status === 404 && JSON.parse(r.body).message === "no order 9"],
    ["POST", "/payments", undefined, (r) => r.status === 503 && r.headers["retry-after"] === "30"],
    ["GET", "/flaky", undefined, (r) => [200, 500].includes(r.status)],
  ],
  webhook: [["POST", "/orders", `{"id": 7}`, (r) => r.status === 202 && JSON.parse(r.body).status === "accepted"]],
};

// Starters: each is made from the new-mock form, published (one from the keyboard) and
// answers as its description says; the editor and the form pass axe; keyboard shortcuts and
// focus; "Duplicate" into another workspace.
async function startersFlow({ page, base, mocksPort, handle }) {
  const made = {};
  await step("starters: the new-mock form offers the shipped starters; axe passes on the list and the form", async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("create-form").waitFor();
    const starters = await page.locator("[data-testid=new-starter] option").evaluateAll((els) => els.map((el) => el.value));
    assert.deepEqual(starters, ["hello", "rest", "errors", "webhook"]);
    await accessibility(page, "the mocks list");
    await fillNewMock(page, "st-rest", "rest");
    assert.match(await page.getByTestId("starter-description").textContent(), /GET \/users\/:id/);
    await accessibility(page, "the new-mock form", "[data-testid=create-form]");
    await page.getByTestId("create-form").screenshot({ path: join(shots, "new-mock-starter.png") });
  });

  for (const starter of Object.keys(STARTER_CALLS)) {
    await step(`starters: "${starter}" is created, published and answers`, async () => {
      const name = `st-${starter}`;
      await page.goto(`${base}/`);
      await fillNewMock(page, name, starter);
      await page.getByTestId("create").click();
      await page.getByTestId("editor").waitFor();
      made[starter] = { id: decodeURIComponent(new URL(page.url()).pathname.split("/").pop()), host: `${name}-${handle}.localhost` };
      const text = await editorTextOf(page);
      if (starter !== "hello") assert.ok(text.startsWith("# "), "the starter's text, with its comment");
      if (starter === "rest") {
        // Ctrl+Enter publishes (the button's title says so).
        assert.match(await page.getByTestId("publish-toggle").getAttribute("title"), /Ctrl\+Enter/);
        await page.locator(".cm-content").click();
        await page.keyboard.press("Control+Enter");
        assert.equal(await editorTextOf(page), text, "the shortcut did not reach the editor's text");
      } else {
        await page.getByTestId("publish-toggle").click();
      }
      await until("live", async () => (await page.getByTestId("publication-banner").getAttribute("data-kind")) === "live", 30000);
      for (const [method, path, body, check] of STARTER_CALLS[starter]) {
        const headers = body ? { "Content-Type": "application/json" } : {};
        const reply = await until(`${method} ${path}`, async () => {
          const r = await callMock(mocksPort, made[starter].host, path, { method, headers, body });
          return check(r) && r;
        }, 10000);
        assert.ok(reply, `${starter}: ${method} ${path}`);
      }
      if (starter === "errors") {
        const t = Date.now();
        assert.equal((await callMock(mocksPort, made.errors.host, "/slow")).status, 200);
        assert.ok(Date.now() - t >= 300, "GET /slow takes 300 ms or more");
      }
    });
  }

  await step("starters: try it starts at the starter's first path, and the editor passes axe", async () => {
    await page.goto(`${base}/mocks/${encodeURIComponent(made.rest.id)}`);
    await page.getByTestId("editor").waitFor();
    assert.equal(await page.getByTestId("try-path").inputValue(), "/users");
    await page.getByTestId("try-send").click();
    await until("the answer", async () => (await page.getByTestId("try-status").textContent()).startsWith("200"), 10000);
    await page.getByTestId("history-toggle").click();
    await page.locator("[data-testid=history-row]").first().waitFor();
    await accessibility(page, "the editor (with its history and try it)");
  });

  await step("keyboard: Ctrl+S saves from the editor; a visible focus ring on Tab", async () => {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("# saved with Ctrl+S\n");
    assert.equal(await page.getByTestId("dirty").textContent(), "unsaved changes");
    assert.match(await page.getByTestId("save").getAttribute("title"), /Ctrl\+S/);
    await page.keyboard.press("Control+s");
    await until("revision 2", async () => (await page.getByTestId("revision").textContent()) === "revision 2");
    assert.equal(await page.getByTestId("dirty").textContent(), "saved");
    // Saving a published mock republishes it; the banner follows to live.
    await until("live again", async () => (await page.getByTestId("publication-banner").textContent()) === "Live: revision 2 answers.", 30000);
    await page.getByTestId("upload").focus(); // Revert, between the two, is disabled
    await page.keyboard.press("Shift+Tab");
    const ring = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { testid: el.dataset.testid, visible: el.matches(":focus-visible"), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.equal(ring.testid, "save");
    assert.ok(ring.visible && ring.outline !== "none" && ring.width >= 2, JSON.stringify(ring));
    await page.getByTestId("save").screenshot({ path: join(shots, "focus-visible.png") });
  });

  await step("duplicate: the mock into another workspace, under a new name", async () => {
    const org = `dup${handle.slice(-6)}`;
    const made = await page.evaluate(async (org) => (await fetch("/api/v1/orgs", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${localStorage.getItem("moclojer.token")}` },
      body: JSON.stringify({ handle: org }),
    })).status, org);
    assert.equal(made, 201);
    const source = await editorTextOf(page);
    await page.getByTestId("duplicate-toggle").click();
    const form = page.getByTestId("duplicate-form");
    await form.waitFor();
    assert.equal(await form.getByTestId("new-name").inputValue(), "st-rest-copy");
    await until("the workspaces", async () => (await form.locator("[data-testid=new-workspace] option").count()) === 2);
    assert.equal(await form.getByTestId("new-workspace").inputValue(), handle, "the same workspace first");
    await form.getByTestId("new-workspace").selectOption(org);
    await form.getByTestId("new-name").fill("users");
    await until("the host preview", async () => (await form.getByTestId("host-preview").getAttribute("data-source")) === "api"
      && (await form.getByTestId("host-preview").textContent()) === `users-${org}.localhost is available`);
    await accessibility(page, "the duplicate form", "[data-testid=duplicate-form]");
    await form.getByTestId("create").click();
    await until("the copy's editor", async () => (await page.getByTestId("mock-name").textContent()) === "users");
    assert.equal(await editorTextOf(page), source);
    assert.equal(await page.getByTestId("editor-message").textContent(), "Duplicated from st-rest (@" + handle + ").");
    assert.equal(await page.getByTestId("mock-url").textContent(), `http://users-${org}.localhost:${mocksPort}`);
    assert.equal(await page.getByTestId("server-status").textContent(), "server: offline");
  });
  return made;
}

// Search and filters on the list, kept in the URL; the links are the editor's.
async function filterFlow({ page, base, handle }) {
  const shown = () => page.locator("[data-testid=mock-row]:visible").evaluateAll((els) => els.map((el) => el.dataset.name).sort());
  const query = () => new URL(page.url()).search;

  await step("filter: search by name or host, with / to focus it; the URL keeps it", async () => {
    await page.getByTestId("nav-mocks").click();
    await page.getByTestId("filters").waitFor();
    assert.deepEqual(await shown(), ["st-errors", "st-hello", "st-rest", "st-webhook", "users"]);
    await page.locator("h1").click();
    await page.keyboard.press("/");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "filter-q");
    await page.keyboard.type("rest");
    await until("the search", async () => JSON.stringify(await shown()) === JSON.stringify(["st-rest"]));
    assert.equal(query(), "?q=rest");
    assert.equal(await page.getByTestId("filter-count").textContent(), "1 of 5 mocks");
    await page.getByTestId("filter-q").fill(`dup${handle.slice(-6)}`); // a workspace's handle
    await until("by workspace handle", async () => JSON.stringify(await shown()) === JSON.stringify(["users"]));
  });

  await step("filter: by workspace and by status; a reload (a shared link) shows the same", async () => {
    await page.getByTestId("filter-q").fill("");
    await page.getByTestId("filter-workspace").selectOption(handle);
    await page.getByTestId("filter-status").selectOption("published");
    await until("the filters", async () => (await shown()).length === 4);
    assert.equal(query(), `?workspace=${handle}&status=published`);
    await page.getByTestId("filter-q").fill("hook");
    await until("the search too", async () => JSON.stringify(await shown()) === JSON.stringify(["st-webhook"]));
    const url = page.url();
    await page.reload();
    await page.getByTestId("filters").waitFor();
    await until("the same rows", async () => JSON.stringify(await shown()) === JSON.stringify(["st-webhook"]));
    assert.equal(page.url(), url);
    assert.equal(await page.getByTestId("filter-q").inputValue(), "hook");
    assert.equal(await page.getByTestId("filter-status").inputValue(), "published");
    await page.getByTestId("filter-status").selectOption("offline");
    await page.getByTestId("filter-empty").waitFor();
    await page.screenshot({ path: join(shots, "list-filter-empty.png") });
    await page.getByTestId("filter-clear").click();
    await until("everything", async () => (await shown()).length === 5);
    assert.equal(query(), "");
  });

  await step("links: the list's link to a host is the editor's, and it answers in the browser", async () => {
    const row = page.locator("[data-testid=mock-row][data-name=st-hello]");
    const href = await row.locator("a.mock-url").getAttribute("href");
    assert.equal(await row.locator("a.mock-url").textContent(), href);
    const status = await page.evaluate(async (href) => (await fetch(`${href}/hello`)).status, href);
    assert.equal(status, 200);
    await row.locator("a[data-link]").click();
    await page.getByTestId("editor").waitFor();
    assert.equal(await page.getByTestId("mock-url").getAttribute("href"), href);
    await page.getByTestId("nav-mocks").click();
    await page.getByTestId("filters").waitFor();
  });
}

// A phone's width: the list, the editor and try it, with nothing scrolling sideways.
async function narrowFlow({ page, base, made }) {
  await step("narrow (390 px): the list, the editor and try it fit the screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/`);
    await page.locator("[data-testid=mock-row]").first().waitFor();
    await noSideScroll(page, "the list");
    await page.screenshot({ path: join(shots, "list-narrow.png"), fullPage: true });
    await page.goto(`${base}/mocks/${encodeURIComponent(made.rest.id)}`);
    await page.getByTestId("editor").waitFor();
    await page.locator(".cm-content").waitFor();
    await noSideScroll(page, "the editor");
    await page.screenshot({ path: join(shots, "editor-narrow.png") });
    await page.getByTestId("try-path").fill("/users/42");
    await page.getByTestId("try-send").click();
    await until("the answer", async () => (await page.getByTestId("try-status").textContent()).startsWith("200"), 10000);
    await page.getByTestId("requests-toggle").click();
    await page.locator("[data-testid=request-row]").first().waitFor();
    await page.locator("[data-testid=request-row]").first().click();
    await page.getByTestId("request-detail").waitFor();
    await page.getByTestId("history-toggle").click();
    await page.locator("[data-testid=history-row]").first().waitFor();
    await page.getByTestId("state-toggle").click();
    await until("the state", async () => (await page.getByTestId("state-panel").getAttribute("data-state")) === "loaded", 5000);
    await noSideScroll(page, "the editor with try it, requests, state and history open");
    await page.getByTestId("try-panel").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, "try-narrow.png") });
    await page.screenshot({ path: join(shots, "editor-narrow-full.png"), fullPage: true });
    await page.setViewportSize({ width: 1200, height: 900 });
  });
}

// A thousand mocks (made through the api, 100 of them in an org, 3 published): the list
// renders and filters within 200 ms, measured in the page (performance.measure up to the
// next frame drawn).
async function scaleFlow({ browser, base, apiCall, watch }) {
  const COUNT = 1000;
  const BUDGET_MS = 200;
  const who = `s${Date.now().toString(36)}`;
  const org = `o${who.slice(1)}`;
  const session = await step(`1,000 mocks: a user makes ${COUNT} through the REST api`, async () => {
    const signup = await apiCall("POST", "/auth/signup", null, { email: `${who}@example.com`, password: "correct horse battery staple" });
    assert.equal(signup.status, 201);
    const { token } = signup.body;
    assert.equal((await apiCall("PUT", "/me", token, { handle: who })).status, 200);
    const orgMade = await apiCall("POST", "/orgs", token, { handle: org });
    assert.equal(orgMade.status, 201, JSON.stringify(orgMade.body));
    const t = Date.now();
    let next = 0;
    const ids = [];
    const worker = async () => {
      while (next < COUNT) {
        const i = next++;
        const workspace = i % 10 === 9 ? org : who;
        const reply = await apiCall("POST", "/mocks", token, { workspace, name: `m${String(i).padStart(4, "0")}` });
        assert.equal(reply.status, 201, JSON.stringify(reply.body));
        ids[i] = reply.body.id;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.log(`    (${COUNT} mocks made in ${((Date.now() - t) / 1000).toFixed(1)} s)`);
    for (const i of [1, 2, 3]) assert.equal((await apiCall("POST", `/mocks/${ids[i]}/publish`, token)).status, 200);
    // The page lists what the api says at load: wait until the three have settled (server
    // and DNS published), or the status filter would count one still publishing.
    const settled = async (id) => {
      const { body } = await apiCall("GET", `/mocks/${id}/publication`, token);
      return body?.server?.status === "published" && body?.dns?.status === "published";
    };
    const deadline = Date.now() + 20_000;
    while (!(await Promise.all([1, 2, 3].map((i) => settled(ids[i])))).every(Boolean)) {
      assert.ok(Date.now() < deadline, "the three publications settle within 20 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    return { token };
  });

  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  watch(page);
  const figures = {};
  await step(`1,000 mocks: the list renders within ${BUDGET_MS} ms`, async () => {
    await page.goto(`${base}/signin`);
    await page.evaluate((token) => localStorage.setItem("moclojer.token", token), session.token);
    const t = Date.now();
    await page.goto(`${base}/`);
    figures.render = await measure(page, "moclojer:list-render", 0);
    figures.page = Date.now() - t;
    assert.equal(await page.locator("[data-testid=mock-row]").count(), COUNT);
    assert.equal(await page.getByTestId("filter-count").textContent(), "1,000 mocks");
    await page.screenshot({ path: join(shots, "list-1000.png") });
  });

  await step(`1,000 mocks: each filter shows within ${BUDGET_MS} ms`, async () => {
    let measured = 0;
    const filtered = async (what, act, count) => {
      await act();
      figures[what] = await measure(page, "moclojer:list-filter", measured++);
      assert.equal(await page.getByTestId("filter-count").textContent(), count === COUNT ? "1,000 mocks" : `${count} of 1,000 mocks`, what);
    };
    await filtered("search", () => page.getByTestId("filter-q").fill("m0999"), 1);
    await filtered("clear", () => page.getByTestId("filter-q").fill(""), COUNT);
    await filtered("workspace", () => page.getByTestId("filter-workspace").selectOption(org), 100);
    await filtered("status", () => page.getByTestId("filter-workspace").selectOption(""), COUNT);
    await filtered("published", () => page.getByTestId("filter-status").selectOption("published"), 3);
    assert.equal(new URL(page.url()).search, "?status=published");
  });
  await context.close();
  const ms = (n) => `${n.toFixed(1)} ms`;
  console.log(`    1,000 mocks: rendered in ${ms(figures.render)} (page load to render ${figures.page} ms, api included); filtered: search ${ms(figures.search)}, all back ${ms(figures.clear)}, by workspace ${ms(figures.workspace)}, all back ${ms(figures.status)}, by status ${ms(figures.published)}`);
  for (const [what, value] of Object.entries(figures)) {
    if (what !== "page") assert.ok(value <= BUDGET_MS, `${what} took ${value} ms, over ${BUDGET_MS} ms`);
  }
}

// Supabase mode: a second all-in-one checks tokens from a local stand-in for Supabase Auth
// (fake-supabase.mjs); the web interface signs in there by magic link and by GitHub.
async function supabaseFlows(binary, pageErrors, watch) {
  const anonKey = "anon-key-for-the-e2e-run";
  const jwtSecret = `e2e-jwt-secret-${randomBytes(16).toString("hex")}`;
  const appPort = await freePort();
  const appBase = `http://127.0.0.1:${appPort}`;
  fakeSupabase = await step("supabase: start the stand-in for Supabase Auth (access tokens of 61 s)", () =>
    startFakeSupabase({ anonKey, jwtSecret, allowedRedirects: [`${appBase}/`], accessTtl: 61 }));
  const { base, mocksPort } = await step("supabase: start an all-in-one in Supabase mode", () =>
    startCloud(binary, [
      "--supabase-url", fakeSupabase.url,
      "--supabase-anon-key", anonKey,
      "--supabase-jwt-secret", jwtSecret,
    ], appPort));
  assert.equal(base, appBase);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  watch(page);
  const email = `dana-${Date.now()}@example.com`;
  const handle = `d${Date.now().toString(36)}`;

  await step("supabase: the sign-in page offers a magic link and GitHub, no password", async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("supabase-signin").waitFor();
    assert.equal(await page.locator("input[type=password]").count(), 0);
    assert.equal(await page.getByTestId("github-signin").count(), 1);
    await page.screenshot({ path: join(shots, "signin-supabase.png") });
  });

  await step("supabase: an address Supabase refuses shows its message", async () => {
    await page.getByTestId("magic-email").fill("dana@localhost");
    await page.getByTestId("magic-send").click();
    const error = page.getByTestId("auth-error");
    await error.waitFor();
    assert.equal(await error.textContent(), "Unable to validate email address: invalid format");
  });

  const link = await step("supabase: send the magic link → check your inbox", async () => {
    await page.getByTestId("magic-email").fill(email);
    await page.getByTestId("magic-send").click();
    await page.getByTestId("magic-sent").waitFor();
    assert.ok((await page.getByTestId("magic-sent").textContent()).includes(email));
    assert.equal(await page.getByTestId("auth-error").isHidden(), true);
    const sent = fakeSupabase.mailbox(email);
    assert.ok(sent, "a mail was sent");
    assert.equal(new URL(sent).searchParams.get("redirect_to"), `${base}/`);
    return sent;
  });

  await step("supabase: asking again at once shows Supabase's rate limit", async () => {
    await page.getByTestId("magic-send").click();
    await until("the error", async () => /only request this after/.test(await page.getByTestId("auth-error").textContent()));
    assert.equal(fakeSupabase.mailbox(email), link, "no second mail");
  });

  await step("supabase: the link signs in; the token leaves the address bar; the handle is asked", async () => {
    await page.goto(link);
    await page.getByTestId("handle-form").waitFor();
    assert.equal(new URL(page.url()).hash, "", "no token left in the URL");
    await page.fill("input[name=handle]", handle);
    await until("availability", async () => (await page.getByTestId("handle-hint").textContent()).includes("available"));
    await page.click("button[type=submit]");
    await page.getByTestId("create-form").waitFor();
    assert.equal(await page.getByTestId("whoami").textContent(), `@${handle}`);
  });

  await step("supabase: the link a second time says it expired", async () => {
    const other = await browser.newContext();
    const second = await other.newPage();
    watch(second);
    await second.goto(link);
    const error = second.getByTestId("auth-error");
    await error.waitFor();
    assert.equal(await error.textContent(), "Sign-in failed: Email link is invalid or has expired");
    await other.close();
  });

  await step("supabase: the session renews its access token and the api takes the new one", async () => {
    const before = fakeSupabase.calls["/auth/v1/token"] || 0;
    const first = await page.evaluate(() => JSON.parse(localStorage.getItem("moclojer.supabase.session")));
    await until("the token to need renewing", () => Date.now() / 1000 > first.expires_at - 60, 5000);
    await page.getByTestId("new-name").fill("shop");
    await until("the host preview", async () => (await page.getByTestId("host-preview").textContent()).endsWith("is available"));
    await page.getByTestId("create").click();
    await page.getByTestId("editor").waitFor();
    assert.ok((fakeSupabase.calls["/auth/v1/token"] || 0) > before, "a refresh call");
    const now = await page.evaluate(() => JSON.parse(localStorage.getItem("moclojer.supabase.session")).access_token);
    assert.notEqual(now, first.access_token);
  });

  await step("supabase: publish; the host answers", async () => {
    await page.getByTestId("publish-toggle").click();
    await until("published", async () => (await page.getByTestId("server-status").textContent()).includes("published"));
    const host = `shop-${handle}.localhost`;
    await until("the host", async () => (await getMock(mocksPort, host, "/hello")).status === 200);
  });

  await step("supabase: sign out ends the Supabase session too", async () => {
    await page.getByTestId("signout").click();
    await page.getByTestId("supabase-signin").waitFor();
    assert.equal(fakeSupabase.calls["/auth/v1/logout"], 1);
    assert.equal(await page.evaluate(() => localStorage.getItem("moclojer.supabase.session")), null);
  });

  await step("supabase: Continue with GitHub signs in a new user, who is asked for a handle", async () => {
    await page.getByTestId("github-signin").click();
    await page.getByTestId("handle-form").waitFor();
    assert.equal(new URL(page.url()).hash, "");
    assert.equal(await page.getByTestId("whoami").textContent(), "octocat@example.com");
    assert.equal(fakeSupabase.calls["/auth/v1/authorize"], 1);
  });

  await step("supabase: a session ended elsewhere cannot renew, and the page goes back to sign-in", async () => {
    const session = await page.evaluate(() => JSON.parse(localStorage.getItem("moclojer.supabase.session")));
    // Signing out on another device revokes the session's refresh tokens.
    const ended = await fetch(`${fakeSupabase.url}/auth/v1/logout`, {
      method: "POST",
      headers: { apikey: anonKey, Authorization: `Bearer ${session.access_token}` },
    });
    assert.equal(ended.status, 204);
    await until("the token to need renewing", () => Date.now() / 1000 > session.expires_at - 60, 5000);
    await page.reload();
    await page.getByTestId("supabase-signin").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("moclojer.supabase.session")), null);
  });
  await context.close();
}

let failed = false;
try {
  await main();
  console.log(`\ne2e: all green in ${((Date.now() - started) / 1000).toFixed(1)}s (screenshots in e2e/screenshots/)`);
} catch (e) {
  failed = true;
  console.error(`\ne2e: FAILED: ${e.stack || e}`);
} finally {
  await browser?.close().catch(() => {});
  for (const cloud of clouds) cloud.kill("SIGTERM");
  await fakeSupabase?.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
