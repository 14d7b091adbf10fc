//! Reading the keys of stateful and conditional mocks: an endpoint's `responses` (rules with
//! `when`), `sequence` and `scenario`, and the `resource` item. Every key is checked with
//! its line and column, every regular expression compiled once here.

use super::read::{Fields, Key, Reader, is_header_name};
use super::tree::{Kind, Node, Scalar};
use super::{Matcher, PathPattern, Resource, Response, Rule, Scenario, Segment, Sequence, When};

/// The keys of one `responses:` entry: the response's own and the rule's.
const RULE_KEYS: &[&str] = &[
    "when",
    "scenario",
    "status",
    "headers",
    "body",
    "external-body",
];
const WHEN_KEYS: &[&str] = &[
    "path-params",
    "headers",
    "query-params",
    "json-params",
    "body-contains",
];
const MATCHER_KEYS: &[&str] = &["equals", "matches", "contains", "present", "one-of"];
const SCENARIO_KEYS: &[&str] = &["name", "when-state", "set-state"];
pub(super) const RESOURCE_KEYS: &[&str] = &["path", "host", "id", "seed"];

/// The most rules an endpoint may have, and the most responses in a sequence.
pub const MAX_RULES: usize = 100;

/// The largest compiled form of a `matches` expression, in bytes.
pub(super) const MATCHES_SIZE_LIMIT: usize = 1024 * 1024;

/// The longest scenario name or state, in bytes.
const MAX_STATE_NAME: usize = 256;

/// Compiles a `matches` expression as the mock server uses it: unanchored, linear-time,
/// size-limited.
///
/// # Errors
/// The regex error, on one line.
pub fn compile_matches(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MATCHES_SIZE_LIMIT)
        .dfa_size_limit(MATCHES_SIZE_LIMIT)
        .build()
        .map_err(|error| super::validate::regex_error(&error, "expression"))
}

/// What [`Reader::stateful`] reads: rules, a sequence, a scenario.
type Stateful = (Vec<Rule>, Option<Sequence>, Option<Scenario>);

impl Reader<'_> {
    /// An endpoint's `responses`, `sequence` (with `sequence-mode`) and `scenario`.
    pub(super) fn stateful(&mut self, fields: &Fields<'_>, key: &Key) -> Option<Stateful> {
        let rules = match fields.get("responses") {
            None => Some(Vec::new()),
            Some(value) => self.rules(value, &key.child("responses")),
        };
        let cycle = match fields.get("sequence-mode") {
            None => Some(false),
            Some(value) => self.sequence_mode(value, &key.child("sequence-mode")),
        };
        let sequence = match fields.get("sequence") {
            None => Some(None),
            Some(value) => self.sequence(value, &key.child("sequence")).map(Some),
        };
        self.ignored_by_sequence(fields, key);
        let sequence = match (sequence, cycle) {
            (Some(sequence), Some(cycle)) => Some(sequence.map(|s| Sequence { cycle, ..s })),
            _ => None,
        };
        let scenario = match fields.get("scenario") {
            None => Some(None),
            Some(value) => self.scenario(value, &key.child("scenario")).map(Some),
        };
        Some((rules?, sequence?, scenario?))
    }

    /// `responses:`: a list of rules.
    fn rules(&mut self, node: &Node, key: &Key) -> Option<Vec<Rule>> {
        let Kind::Seq(entries) = &node.kind else {
            self.error(
                node,
                key,
                "`responses` must be a list of rules, each with `when` and a response",
            );
            return None;
        };
        if entries.len() > MAX_RULES {
            self.error(
                node,
                key,
                format!(
                    "`responses` has {} rules; at most {MAX_RULES} are accepted",
                    entries.len()
                ),
            );
            return None;
        }
        let mut rules = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (index, entry) in entries.iter().enumerate() {
            match self.rule(entry, &key.index(index)) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        ok.then_some(rules)
    }

    fn rule(&mut self, node: &Node, key: &Key) -> Option<Rule> {
        let Some(fields) = self.fields(node, key, RULE_KEYS, &[]) else {
            self.error(
                node,
                key,
                "a rule must be a map with `when` and `status`, `headers`, `body`, ...",
            );
            return None;
        };
        let when = match fields.get("when") {
            None => Some(When::default()),
            Some(value) => self.when(value, &key.child("when")),
        };
        let scenario = match fields.get("scenario") {
            None => Some(None),
            Some(value) => self.scenario(value, &key.child("scenario")).map(Some),
        };
        let response = self.response_fields(&fields, key);
        Some(Rule {
            line: node.line,
            when: when?,
            scenario: scenario?,
            response: response?,
        })
    }

    fn when(&mut self, node: &Node, key: &Key) -> Option<When> {
        let Some(fields) = self.fields(node, key, WHEN_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`when` must be a map with `path-params`, `headers`, `query-params`, \
                 `json-params` or `body-contains`",
            );
            return None;
        };
        let mut when = When::default();
        let mut ok = true;
        for (name, _, value) in fields.iter() {
            if value.is_null() {
                continue;
            }
            let here = key.child(name);
            let target = match name {
                "path-params" => &mut when.path_params,
                "headers" => &mut when.headers,
                "query-params" => &mut when.query_params,
                "json-params" => &mut when.json_params,
                "body-contains" => {
                    when.body_contains = self.string(value, &here, "`body-contains`");
                    ok &= when.body_contains.is_some();
                    continue;
                }
                _ => continue,
            };
            match self.matchers(value, &here, name) {
                Some(matchers) => *target = matchers,
                None => ok = false,
            }
        }
        ok.then_some(when)
    }

    /// A map of name to condition for the `section` of a `when` (`headers`, `json-params`,
    /// ...): header names are checked and lowercased, JSON paths checked.
    fn matchers(
        &mut self,
        node: &Node,
        key: &Key,
        section: &str,
    ) -> Option<Vec<(String, Matcher)>> {
        let Some(fields) = self.fields(node, key, &[], &[]) else {
            self.error(
                node,
                key,
                format!(
                    "`{}` must be a map of name to condition, such as `id: \"42\"`",
                    key.display
                ),
            );
            return None;
        };
        let mut matchers = Vec::new();
        let mut ok = true;
        for (name, name_node, value) in fields.iter() {
            let here = key.child(name);
            if let Some(problem) = name_problem(section, name) {
                self.error(name_node, &here, format!("`{name}` {problem}"));
                ok = false;
                continue;
            }
            match self.matcher(value, &here) {
                Some(matcher) if section == "headers" => {
                    matchers.push((name.to_ascii_lowercase(), matcher));
                }
                Some(matcher) => matchers.push((name.to_owned(), matcher)),
                None => ok = false,
            }
        }
        ok.then_some(matchers)
    }

    /// A condition: a scalar (equals) or a map with exactly one of the matcher keys.
    fn matcher(&mut self, node: &Node, key: &Key) -> Option<Matcher> {
        if !node.is_collection() {
            return match scalar_source_text(node) {
                Some(text) => Some(Matcher::Equals(text)),
                None => {
                    self.error(
                        node,
                        key,
                        "a condition must be a value or a map such as `{matches: \"^a\"}`",
                    );
                    None
                }
            };
        }
        let Some(fields) = self.fields(node, key, MATCHER_KEYS, &[]) else {
            self.error(
                node,
                key,
                "a condition must be a value or a map with one of `equals`, `matches`, \
                 `contains`, `present`, `one-of`",
            );
            return None;
        };
        // A key given twice counts once: the last one is used, as the warning says.
        let mut given: Vec<(&str, &Node)> = Vec::new();
        for (name, _, value) in fields.iter() {
            if MATCHER_KEYS.contains(&name) {
                given.retain(|(seen, _)| *seen != name);
                given.push((name, value));
            }
        }
        let [(name, value)] = given.as_slice() else {
            self.error(
                node,
                key,
                format!(
                    "a condition needs exactly one of `equals`, `matches`, `contains`, \
                     `present`, `one-of`; this one has {}",
                    given.len()
                ),
            );
            return None;
        };
        let here = key.child(name);
        match *name {
            "equals" => self
                .scalar_text(value, &here, "`equals`")
                .map(Matcher::Equals),
            "contains" => self
                .string(value, &here, "`contains`")
                .map(Matcher::Contains),
            "matches" => {
                let pattern = self.string(value, &here, "`matches`")?;
                self.regex(value, &here, &pattern)?;
                Some(Matcher::Matches(pattern))
            }
            "present" => match value.scalar() {
                Some(Scalar::Bool(on)) => Some(Matcher::Present(on)),
                _ => {
                    self.error(value, &here, "`present` must be true or false");
                    None
                }
            },
            _ => self.one_of(value, &here),
        }
    }

    fn one_of(&mut self, node: &Node, key: &Key) -> Option<Matcher> {
        let entries = match &node.kind {
            Kind::Seq(entries) if !entries.is_empty() => entries,
            _ => {
                self.error(node, key, "`one-of` must be a non-empty list of values");
                return None;
            }
        };
        let mut values = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            values.push(self.scalar_text(entry, &key.index(index), "a `one-of` value")?);
        }
        Some(Matcher::OneOf(values))
    }

    /// A scalar's text as written (`42` → `"42"`, `true` → `"true"`, `1.10` → `"1.10"`).
    fn scalar_text(&mut self, node: &Node, key: &Key, what: &str) -> Option<String> {
        match scalar_source_text(node) {
            Some(text) => Some(text),
            None => {
                self.error(
                    node,
                    key,
                    format!("{what} must be a string, a number or a boolean"),
                );
                None
            }
        }
    }

    /// Checks that `pattern` compiles, within the spec's budget of expressions.
    fn regex(&mut self, node: &Node, key: &Key, pattern: &str) -> Option<()> {
        if *self.patterns_left == 0 {
            self.error(node, key, "the spec has too many regular expressions");
            return None;
        }
        *self.patterns_left -= 1;
        match compile_matches(pattern) {
            Ok(_) => Some(()),
            Err(message) => {
                self.error(
                    node,
                    key,
                    format!("`matches` is not a valid regular expression: {message}"),
                );
                None
            }
        }
    }

    /// `sequence-mode`: whether a sequence starts again after its last response.
    fn sequence_mode(&mut self, node: &Node, key: &Key) -> Option<bool> {
        match self.string(node, key, "`sequence-mode`")?.as_str() {
            "cycle" => Some(true),
            "stay" | "last" => Some(false),
            other => {
                self.error(
                    node,
                    key,
                    format!("`sequence-mode` must be `cycle` or `last`, not `{other}`"),
                );
                None
            }
        }
    }

    /// Warns about the endpoint keys that have no effect given its `sequence` (or its
    /// lack of one).
    fn ignored_by_sequence(&mut self, fields: &Fields<'_>, key: &Key) {
        match (fields.get("sequence"), fields.get("sequence-mode")) {
            (None, Some(mode)) => self.warning(
                mode,
                &key.child("sequence-mode"),
                "`sequence-mode` is ignored: the endpoint has no `sequence`",
            ),
            (Some(_), _) => {
                if let Some(response) = fields.get("response") {
                    self.warning(
                        response,
                        &key.child("response"),
                        "`response` is never answered: `sequence` answers when no rule holds",
                    );
                }
            }
            (None, None) => {}
        }
    }

    /// `sequence:`, answering its last response after the others (the caller sets
    /// `cycle` from `sequence-mode`).
    fn sequence(&mut self, node: &Node, key: &Key) -> Option<Sequence> {
        let entries = match &node.kind {
            Kind::Seq(entries) if !entries.is_empty() && entries.len() <= MAX_RULES => entries,
            _ => {
                self.error(
                    node,
                    key,
                    format!("`sequence` must be a list of 1 to {MAX_RULES} responses"),
                );
                return None;
            }
        };
        let mut responses: Vec<Response> = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (index, entry) in entries.iter().enumerate() {
            match self.response(entry, &key.index(index)) {
                Some(response) => responses.push(response),
                None => ok = false,
            }
        }
        ok.then_some(Sequence {
            responses,
            cycle: false,
        })
    }

    /// `scenario: {name, when-state, set-state}`.
    fn scenario(&mut self, node: &Node, key: &Key) -> Option<Scenario> {
        let Some(fields) = self.fields(node, key, SCENARIO_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`scenario` must be a map with `name`, `when-state` and `set-state`",
            );
            return None;
        };
        let mut ok = true;
        let mut text = |reader: &mut Self, name: &str| match fields.get(name) {
            None => None,
            Some(value) => {
                let here = key.child(name);
                let got = reader.scalar_text(value, &here, &format!("`{name}`"));
                match got {
                    Some(t) if !t.is_empty() && t.len() <= MAX_STATE_NAME => Some(t),
                    Some(_) => {
                        reader.error(
                            value,
                            &here,
                            format!("`{name}` must have 1 to {MAX_STATE_NAME} bytes"),
                        );
                        ok = false;
                        None
                    }
                    None => {
                        ok = false;
                        None
                    }
                }
            }
        };
        let name = text(self, "name");
        let when_state = text(self, "when-state");
        let set_state = text(self, "set-state");
        if !ok {
            return None;
        }
        let Some(name) = name else {
            self.error(node, &key.child("name"), "a `scenario` needs a `name`");
            return None;
        };
        Some(Scenario {
            name,
            when_state,
            set_state,
        })
    }

    /// One `resource` item.
    pub(super) fn resource(&mut self, item: &Node, node: &Node) -> Option<Resource> {
        let key = Key::new("resource", "resource");
        let Some(fields) = self.fields(node, &key, RESOURCE_KEYS, &[]) else {
            self.error(
                node,
                &key,
                "`resource` must be a map with `path`, `id` and `seed`",
            );
            return None;
        };
        self.place(&key, item);
        let host = match fields.get("host") {
            None => Some(None),
            Some(value) => self.host(value, &key.child("host")).map(Some),
        };
        let path = self.resource_path(node, fields.get("path"), &key);
        let id_field = match fields.get("id") {
            None => Some("id".to_owned()),
            Some(value) => {
                let here = key.child("id");
                match self.string(value, &here, "`id`") {
                    Some(name) if !name.is_empty() => Some(name),
                    Some(_) => {
                        self.error(value, &here, "`id` must name a field");
                        None
                    }
                    None => None,
                }
            }
        };
        let seed = match (fields.get("seed"), &id_field) {
            (None, _) => Some(Vec::new()),
            (Some(value), Some(id)) => self.seed(value, &key.child("seed"), id),
            (Some(_), None) => None,
        };
        Some(Resource {
            item: self.item,
            line: item.line,
            host: host?,
            path: path?,
            id_field: id_field?,
            seed: seed?,
        })
    }

    /// A resource's `path`: required, with no parameters.
    fn resource_path(
        &mut self,
        parent: &Node,
        node: Option<&Node>,
        base: &Key,
    ) -> Option<PathPattern> {
        let Some(node) = node else {
            self.error(
                parent,
                &base.child("path"),
                "missing `resource.path`: every resource needs the path of its collection, \
                 such as `/users`",
            );
            return None;
        };
        let path = self.path(parent, Some(node), base)?;
        if path
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Param { .. }))
        {
            self.error(
                node,
                &base.child("path"),
                "a resource's `path` names the collection (`/users`) and has no parameters; \
                 its records are at `/users/:id`",
            );
            return None;
        }
        Some(path)
    }

    /// `seed:`: a list of JSON objects, each with a distinct id.
    fn seed(
        &mut self,
        node: &Node,
        key: &Key,
        id_field: &str,
    ) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
        let Kind::Seq(entries) = &node.kind else {
            self.error(node, key, "`seed` must be a list of records (maps)");
            return None;
        };
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let here = key.index(index);
            let serde_json::Value::Object(record) = entry.to_json() else {
                self.error(entry, &here, "a seed record must be a map");
                return None;
            };
            let id = match record.get(id_field) {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
                _ => {
                    self.error(
                        entry,
                        &here,
                        format!("a seed record needs its `{id_field}`: a string or a whole number"),
                    );
                    return None;
                }
            };
            if !seen.insert(id.clone()) {
                self.error(
                    entry,
                    &here,
                    format!("two seed records have `{id_field}` {id}"),
                );
                return None;
            }
            records.push(record);
        }
        Some(records)
    }
}

/// A scalar's text as the original's `str` gives it: a string's content, a number or a
/// boolean as YAML 1.1 reads it (`1.10` is `1.1`, `yes` is `true`; quote a value to keep
/// it as written). The hosted service stores a mock's items as JSON, which keeps exactly
/// this, so a condition means the same in a file and on a published mock. `None` for a
/// null or a collection.
fn scalar_source_text(node: &Node) -> Option<String> {
    if node.is_collection() || node.is_null() {
        return None;
    }
    node.clojure_str()
}

/// Why `name` cannot be matched in the `section` of a `when`, if it cannot.
fn name_problem(section: &str, name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is not a name to match");
    }
    match section {
        "headers" if !is_header_name(name) => Some("is not a valid header name"),
        "json-params" if name.split('.').any(str::is_empty) => {
            Some("is not a path to match: its dotted parts must not be empty")
        }
        _ => None,
    }
}
