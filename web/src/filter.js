// The mocks list's search and filters, kept in the URL's query string so a filtered view
// can be shared and survives a reload: `/?q=shop&workspace=acme&status=published`.
import { statusOf } from "./status.js";

const KEYS = ["q", "workspace", "status"];

// The filter in `search` (location.search): {q, workspace, status}, "" where absent.
export function readFilter(search) {
  const params = new URLSearchParams(search);
  return Object.fromEntries(KEYS.map((key) => [key, params.get(key) ?? ""]));
}

// The query string of `filter` ("" when it filters nothing), for the URL.
export function filterQuery(filter) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (filter[key].trim()) params.set(key, filter[key].trim());
  const query = params.toString();
  return query ? `?${query}` : "";
}

export const filtering = (filter) => filterQuery(filter) !== "";

// The text a search looks in: the mock's name and host, its workspace's handle and name.
export const searchText = (mock, workspace) =>
  `${mock.name} ${mock.host} ${workspace.handle} ${workspace.name ?? ""}`.toLowerCase();

// A test of a listed mock ({mock, workspace, text}): every word of q somewhere in its
// text, and its workspace and status the ones chosen, if any.
export function matcher(filter) {
  const words = filter.q.toLowerCase().split(/\s+/).filter(Boolean);
  return ({ mock, workspace, text }) =>
    (!filter.workspace || workspace.handle === filter.workspace)
    && (!filter.status || statusOf(mock.publication) === filter.status)
    && words.every((word) => text.includes(word));
}
