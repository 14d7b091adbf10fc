//! The routing table: host first, then path, then method, compiled once per config.
//!
//! Paths are a trie of segments. At each level a static segment is tried before the
//! parameter slot, with backtracking, so `/users/me` and `/users/:id` coexist and the static
//! one wins. Routes that land on the same node and method are equals: the first definition
//! wins. A host-specific route beats a host-less one; a request whose host has no table and
//! for which no host-less route exists finds nothing.

use std::collections::HashMap;

/// How many methods a node distinguishes (`GET` ... `PATCH`).
pub(crate) const METHODS: usize = 9;

/// A path pattern's segments, as the router needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternSegment {
    /// Matches exactly this text.
    Static(String),
    /// Matches any one non-empty segment.
    Param,
}

#[derive(Debug, Default)]
struct Node {
    statics: HashMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    methods: [Option<u32>; METHODS],
}

impl Node {
    fn insert(&mut self, segments: &[PatternSegment], method: usize, endpoint: u32) -> bool {
        let mut node = self;
        for segment in segments {
            node = match segment {
                PatternSegment::Static(text) => {
                    node.statics.entry(text.as_str().into()).or_default()
                }
                PatternSegment::Param => node.param.get_or_insert_with(Box::default),
            };
        }
        if node.methods[method].is_some() {
            return false;
        }
        node.methods[method] = Some(endpoint);
        true
    }

    /// The node matching the segments of `rest` (the path after its leading `/`, `None`
    /// past the last segment), preferring static children, with the raw text of each
    /// parameter segment pushed onto `params`.
    fn find<'p>(&self, rest: Option<&'p str>, params: &mut Vec<&'p str>) -> Option<&Node> {
        let Some(rest) = rest else {
            return self.has_methods().then_some(self);
        };
        let (first, rest) = match rest.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (rest, None),
        };
        if let Some(child) = self.statics.get(first)
            && let Some(found) = child.find(rest, params)
        {
            return Some(found);
        }
        if let Some(child) = &self.param
            && !first.is_empty()
        {
            params.push(first);
            if let Some(found) = child.find(rest, params) {
                return Some(found);
            }
            params.pop();
        }
        None
    }

    fn has_methods(&self) -> bool {
        self.methods.iter().any(Option::is_some)
    }
}

/// The outcome of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'p> {
    /// This endpoint answers; `params` are the raw parameter segments, in path order.
    Found { endpoint: u32, params: Vec<&'p str> },
    /// The path exists for this host, but not with this method; these methods are defined.
    MethodNotAllowed { allowed: [bool; METHODS] },
    /// Nothing for this host and path.
    NotFound,
}

/// Routes per host, plus those that answer any host.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    hosts: HashMap<Box<str>, Node>,
    any_host: Node,
}

impl RouteTable {
    /// Adds a route. Returns false when an equal route (same host, shape and method) was
    /// added before, which keeps the first.
    pub(crate) fn insert(
        &mut self,
        host: Option<&str>,
        segments: &[PatternSegment],
        method: usize,
        endpoint: u32,
    ) -> bool {
        let node = match host {
            Some(host) => self.hosts.entry(host.into()).or_default(),
            None => &mut self.any_host,
        };
        node.insert(segments, method, endpoint)
    }

    /// Finds the route for `host` (lower case, no port), `method` and `path` (no query).
    /// Whether some route is for `host` (routes without a host do not count).
    pub(crate) fn serves_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    pub(crate) fn lookup<'p>(&self, host: &str, method: usize, path: &'p str) -> Lookup<'p> {
        let rest = path_segments(path);
        let mut params = Vec::new();
        let specific = self
            .hosts
            .get(host)
            .and_then(|tree| tree.find(rest, &mut params));
        if let Some(endpoint) = specific.and_then(|node| node.methods[method]) {
            return Lookup::Found { endpoint, params };
        }
        params.clear();
        let general = self.any_host.find(rest, &mut params);
        if let Some(endpoint) = general.and_then(|node| node.methods[method]) {
            return Lookup::Found { endpoint, params };
        }
        let mut allowed = [false; METHODS];
        for node in specific.iter().chain(general.iter()) {
            for (slot, defined) in allowed.iter_mut().zip(node.methods) {
                *slot |= defined.is_some();
            }
        }
        if allowed.iter().any(|a| *a) {
            Lookup::MethodNotAllowed { allowed }
        } else {
            Lookup::NotFound
        }
    }
}

/// The segments of `path` as [`Node::find`] walks them: the text after the leading `/`, or
/// `None` when there is no segment (`/`).
fn path_segments(path: &str) -> Option<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    (!trimmed.is_empty()).then_some(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PatternSegment::{Param, Static};

    const GET: usize = 0;
    const POST: usize = 2;

    fn s(text: &str) -> PatternSegment {
        Static(text.to_owned())
    }

    fn table(routes: &[(Option<&str>, &[PatternSegment], usize)]) -> RouteTable {
        let mut table = RouteTable::default();
        for (i, (host, segments, method)) in routes.iter().enumerate() {
            table.insert(*host, segments, *method, i as u32);
        }
        table
    }

    fn found(
        table: &RouteTable,
        host: &str,
        method: usize,
        path: &str,
    ) -> Option<(u32, Vec<String>)> {
        match table.lookup(host, method, path) {
            Lookup::Found { endpoint, params } => {
                Some((endpoint, params.iter().map(|p| (*p).to_owned()).collect()))
            }
            _ => None,
        }
    }

    #[test]
    fn static_beats_param_and_backtracks() {
        let t = table(&[
            (None, &[s("users"), Param], GET),
            (None, &[s("users"), s("me")], GET),
            (None, &[s("a"), Param, s("c")], GET),
            (None, &[s("a"), s("b"), s("d")], GET),
            (None, &[], GET),
        ]);
        assert_eq!(found(&t, "x", GET, "/users/me"), Some((1, vec![])));
        assert_eq!(
            found(&t, "x", GET, "/users/42"),
            Some((0, vec!["42".to_owned()]))
        );
        assert_eq!(
            found(&t, "x", GET, "/a/b/c"),
            Some((2, vec!["b".to_owned()]))
        );
        assert_eq!(found(&t, "x", GET, "/a/b/d"), Some((3, vec![])));
        assert_eq!(
            found(&t, "x", GET, "/"),
            Some((4, vec![])),
            "GET / is mockable"
        );
        assert_eq!(
            t.lookup("x", GET, "/users/"),
            Lookup::NotFound,
            "a parameter is never empty"
        );
        assert_eq!(t.lookup("x", GET, "/users/1/2"), Lookup::NotFound);
        assert_eq!(
            t.lookup("x", GET, "/Users/me"),
            Lookup::NotFound,
            "static segments are case-sensitive"
        );
    }

    #[test]
    fn first_definition_wins_among_equals() {
        let mut t = RouteTable::default();
        assert!(t.insert(None, &[s("dup")], GET, 0));
        assert!(!t.insert(None, &[s("dup")], GET, 1));
        assert!(t.insert(None, &[Param], GET, 2));
        assert!(
            !t.insert(None, &[Param], GET, 3),
            "differently named parameters are equal"
        );
        assert_eq!(found(&t, "h", GET, "/dup"), Some((0, vec![])));
        assert_eq!(
            found(&t, "h", GET, "/zzz"),
            Some((2, vec!["zzz".to_owned()]))
        );
    }

    #[test]
    fn hosts_route_first() {
        let t = table(&[
            (Some("a.test"), &[s("hello")], GET),
            (Some("b.test"), &[s("hello")], GET),
            (None, &[s("hello")], GET),
            (None, &[s("shared")], GET),
            (Some("a.test"), &[s("only-a")], POST),
        ]);
        assert_eq!(found(&t, "a.test", GET, "/hello").map(|f| f.0), Some(0));
        assert_eq!(found(&t, "b.test", GET, "/hello").map(|f| f.0), Some(1));
        assert_eq!(
            found(&t, "c.test", GET, "/hello").map(|f| f.0),
            Some(2),
            "host-less answers other hosts"
        );
        assert_eq!(
            found(&t, "a.test", GET, "/shared").map(|f| f.0),
            Some(3),
            "host-less answers known hosts too"
        );
        assert_eq!(
            t.lookup("b.test", GET, "/only-a"),
            Lookup::NotFound,
            "a host's route never answers another host"
        );
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        let t = table(&[(None, &[s("x")], GET), (Some("h"), &[s("x")], POST)]);
        let Lookup::MethodNotAllowed { allowed } = t.lookup("h", 3, "/x") else {
            panic!("405 expected")
        };
        assert!(allowed[GET] && allowed[POST] && !allowed[3]);
        assert_eq!(
            found(&t, "h", GET, "/x").map(|f| f.0),
            Some(0),
            "a host-less method fills in"
        );
    }

    #[test]
    fn segments() {
        let t = table(&[
            (None, &[], GET),
            (None, &[s("a")], GET),
            (None, &[s("a"), Param], GET),
            (Some("h"), &[s("a"), Param], POST),
        ]);
        assert_eq!(found(&t, "x", GET, "/"), Some((0, vec![])));
        assert_eq!(found(&t, "x", GET, ""), Some((0, vec![])));
        assert_eq!(found(&t, "x", GET, "/a"), Some((1, vec![])));
        assert_eq!(
            t.lookup("x", GET, "/a/"),
            Lookup::NotFound,
            "a trailing slash is an empty segment, so it does not match /a"
        );
        assert_eq!(
            found(&t, "h", GET, "/a/b"),
            Some((2, vec!["b".to_owned()])),
            "the host's route lacks GET: the host-less one answers, with its own parameters"
        );
        assert_eq!(
            found(&t, "h", POST, "/a/b"),
            Some((3, vec!["b".to_owned()]))
        );
    }
}
