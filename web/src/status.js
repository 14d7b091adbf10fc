// A mock's address and its publication in words: what the list, the editor and the Requests
// panel show of it, from one place, so no two of them can disagree.
import { h } from "./dom.js";

// Where `mock` answers, with `path` after it: the api's URL of the mock (its scheme, host
// and, on the all-in-one, the mocks port).
export const mockUrl = (mock, path = "") => `${String(mock.url).replace(/\/+$/, "")}${path}`;

// A link to the mock's host that opens in a new tab; it reads as the URL it goes to.
export function mockLink(mock, attrs = {}) {
  const url = mockUrl(mock);
  return h("a", { href: url, target: "_blank", rel: "noopener", class: "mock-url", ...attrs }, url);
}

// The statuses a mock is listed and filtered by, in the order the filter offers them.
export const STATUSES = ["published", "publishing", "invalid", "failed", "offline"];

// One word for where the publication stands: invalid (the server refused the spec), failed
// (the host's DNS), publishing (the server or the DNS still at work), published or offline.
export function statusOf(publication) {
  const server = publication?.server?.status;
  const dns = publication?.dns?.status;
  if (server === "invalid") return "invalid";
  if (dns === "failed") return "failed";
  if (server === "publishing" || dns === "provisioning") return "publishing";
  return server === "published" ? "published" : "offline";
}

// Whether the publication is still moving, so the page asks again: publishing, or its host
// still being taken down after an unpublish.
export function settling(publication) {
  return statusOf(publication) === "publishing"
    || (publication?.server?.status === "offline" && publication?.dns?.status === "published");
}

export const diagnosticLine = (d) => `line ${d.line}, column ${d.column}: ${d.message}`;

export const errorsOf = (diagnostics = []) => diagnostics.filter((d) => (d.severity || "error") === "error");

// What went wrong, a line each: every error the server found in the spec, or why DNS failed.
export function problems(publication) {
  if (publication?.server?.status === "invalid") return errorsOf(publication.server.diagnostics).map(diagnosticLine);
  if (publication?.dns?.status === "failed") return [`DNS failed: ${publication.dns.reason || "no reason given"}`];
  return [];
}

// The editor's banner: {kind: "busy" | "live" | "bad", text}, or null when there is nothing
// to say (offline). It says what the publication does now, so it settles when it does.
export function banner(publication) {
  const live = publication?.live_revision;
  const stillLive = live ? `Revision ${live} is still live.` : "Nothing is live.";
  switch (statusOf(publication)) {
    case "invalid":
      return { kind: "bad", text: ["Not published: the server refused the spec.", ...problems(publication), stillLive].join("\n") };
    case "failed":
      return { kind: "bad", text: ["The host cannot be reached.", ...problems(publication)].join("\n") };
    case "publishing":
      return { kind: "busy", text: `Publishing revision ${publication.requested_revision ?? live}…` };
    case "published":
      return { kind: "live", text: `Live: revision ${live} answers.` };
    default:
      return settling(publication) ? { kind: "busy", text: "Unpublishing…" } : null;
  }
}

// Shows `kind`'s `status` in the badge `el`.
export function setBadge(el, kind, status) {
  el.className = `badge ${status}`;
  el.textContent = `${kind}: ${status}`;
  return el;
}

export const badge = (kind, status, testid) => setBadge(h("span", { "data-testid": testid, title: kind }), kind, status);

// The server's and the DNS's badges of a publication.
export const badges = (publication) => [
  badge("server", publication.server.status, "server-status"), " ",
  badge("dns", publication.dns.status, "dns-status"),
];
