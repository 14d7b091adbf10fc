//! Tests of the stateful and conditional keys: an endpoint's `responses` (rules with
//! `when`), `sequence`, `sequence-mode` and `scenario`, the `resource` item, and what the
//! validator and [`CloudCheck`] make of them. Every diagnostic is asserted with its
//! severity, line, column and key.

use super::tests::{endpoint, findings, limits, ok_yaml, yaml_findings};
use super::*;
use crate::Severity;

/// Asserts a finding with this severity at `line`:`column`, about `key`, whose message
/// contains `needle`.
#[track_caller]
fn expect_at(
    diagnostics: &[Diagnostic],
    severity: Severity,
    (line, column): (u32, u32),
    key: &str,
    needle: &str,
) {
    assert!(
        diagnostics.iter().any(|d| d.severity == severity
            && (d.line, d.column) == (line, column)
            && d.key.as_deref() == Some(key)
            && d.message.contains(needle)),
        "no {severity:?} at {line}:{column} on {key} containing {needle:?} in\n{diagnostics:#?}"
    );
}

#[track_caller]
fn error_at(diagnostics: &[Diagnostic], at: (u32, u32), key: &str, needle: &str) {
    expect_at(diagnostics, Severity::Error, at, key, needle);
}

#[track_caller]
fn warning_at(diagnostics: &[Diagnostic], at: (u32, u32), key: &str, needle: &str) {
    expect_at(diagnostics, Severity::Warning, at, key, needle);
}

/// The errors among `diagnostics`, as `(line, column, key)`.
fn errors(diagnostics: &[Diagnostic]) -> Vec<(u32, u32, Option<&str>)> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.line, d.column, d.key.as_deref()))
        .collect()
}

/// The warnings among `diagnostics`, as `(line, column, key)`.
fn warnings(diagnostics: &[Diagnostic]) -> Vec<(u32, u32, Option<&str>)> {
    diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| (d.line, d.column, d.key.as_deref()))
        .collect()
}

/// A spec whose one endpoint (`GET /users/:id`) has one rule with this flow-style `when`,
/// which starts at line 4, column 15.
fn with_when(conditions: &str) -> String {
    format!("- endpoint:\n    path: /users/:id\n    responses:\n      - when: {conditions}\n")
}

/// The `when` of [`with_when`]'s rule, which must read without a finding.
#[track_caller]
fn when(conditions: &str) -> When {
    let source = with_when(conditions);
    let diagnostics = yaml_findings(&source);
    assert_eq!(diagnostics, [], "{source}");
    let mut endpoint = endpoint(&source);
    assert_eq!(endpoint.rules.len(), 1);
    endpoint.rules.remove(0).when
}

fn named(name: &str, matcher: Matcher) -> (String, Matcher) {
    (name.to_owned(), matcher)
}

fn equals(text: &str) -> Matcher {
    Matcher::Equals(text.to_owned())
}

fn text_response(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Body::Text(body.to_owned()),
    }
}

// ---------------------------------------------------------------------------------------
// the binding example
// ---------------------------------------------------------------------------------------

const EXAMPLE: &str = r#"- endpoint:
    method: GET
    path: /users/:id
    responses:                 # tried in order; the first whose `when` holds answers
      - when:
          path-params: {id: "42"}              # a string means "equals"
          headers: {x-mode: {matches: "^adm"}}  # header names case-insensitive (stored lowercase)
          query-params: {verbose: {present: true}}
          json-params: {user.role: {one-of: [admin, owner]}}   # dotted path into the JSON body
        status: 200
        headers: {Content-Type: application/json}
        body: '{"id": "{{path-params.id}}", "admin": true}'
      - when: {query-params: {fail: "true"}}
        status: 503
        body: '{"error": "down"}'
    response:                  # the answer when no rule holds
      status: 404
      body: '{"error": "no such user"}'
"#;

#[test]
fn the_example_parses_to_the_exact_model() {
    let (spec, warnings) =
        check(EXAMPLE, Format::Yaml, Mode::Cloud, &limits()).expect("the example is valid");
    assert_eq!(warnings, []);
    let admin = Rule {
        line: 5,
        when: When {
            path_params: vec![named("id", equals("42"))],
            headers: vec![named("x-mode", Matcher::Matches("^adm".to_owned()))],
            query_params: vec![named("verbose", Matcher::Present(true))],
            json_params: vec![named(
                "user.role",
                Matcher::OneOf(vec!["admin".to_owned(), "owner".to_owned()]),
            )],
            body_contains: None,
        },
        scenario: None,
        response: Response {
            status: 200,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: Body::Text(r#"{"id": "{{path-params.id}}", "admin": true}"#.to_owned()),
        },
    };
    let down = Rule {
        line: 13,
        when: When {
            query_params: vec![named("fail", equals("true"))],
            ..When::default()
        },
        scenario: None,
        response: text_response(503, r#"{"error": "down"}"#),
    };
    let expected = Endpoint {
        item: 0,
        line: 1,
        host: None,
        method: Method::Get,
        path: PathPattern::parse("/users/:id").expect("a path"),
        query: Vec::new(),
        body_example: None,
        response: text_response(404, r#"{"error": "no such user"}"#),
        webhook: None,
        rate_limit: None,
        latency: None,
        tag: None,
        secret_headers: Vec::new(),
        rules: vec![admin, down],
        sequence: None,
        scenario: None,
    };
    assert_eq!(spec.endpoints, [expected]);
    assert_eq!(spec.websockets, []);
    assert_eq!(spec.resources, []);
}

#[test]
fn all_responses_name_every_response_by_its_key() {
    let endpoint = endpoint(
        "- endpoint:\n    path: /a\n    responses:\n      - {status: 201}\n      - {status: 202}\n    sequence:\n      - {status: 203}\n    response: {status: 204}\n",
    );
    let found: Vec<(String, u16)> = endpoint
        .all_responses()
        .into_iter()
        .map(|(key, response)| (key, response.status))
        .collect();
    assert_eq!(
        found,
        [
            ("endpoint.response".to_owned(), 204),
            ("endpoint.responses[0]".to_owned(), 201),
            ("endpoint.responses[1]".to_owned(), 202),
            ("endpoint.sequence[0]".to_owned(), 203),
        ]
    );
}

#[test]
fn a_spec_in_the_old_style_reads_with_none_of_the_new_keys() {
    let spec = ok_yaml(
        "- endpoint:\n    method: POST\n    path: /users\n    response:\n      status: 201\n      body: '{\"ok\": true}'\n- websocket:\n    path: /ws\n",
    );
    assert_eq!(spec.endpoints.len(), 1);
    let endpoint = &spec.endpoints[0];
    assert_eq!(endpoint.rules, []);
    assert_eq!(endpoint.sequence, None);
    assert_eq!(endpoint.scenario, None);
    assert!(!endpoint.has_scenario());
    assert_eq!(endpoint.response, text_response(201, "{\"ok\": true}"));
    assert_eq!(spec.resources, []);
    assert_eq!(spec.websockets.len(), 1);
}

// ---------------------------------------------------------------------------------------
// conditions
// ---------------------------------------------------------------------------------------

#[test]
fn every_condition_kind_reads() {
    let read = when(
        "{query-params: {a: x, b: {equals: y}, c: {matches: '^v[0-9]+$'}, d: {contains: z}, e: {present: true}, f: {present: false}, g: {one-of: [p, q]}}, body-contains: needle}",
    );
    assert_eq!(
        read,
        When {
            query_params: vec![
                named("a", equals("x")),
                named("b", equals("y")),
                named("c", Matcher::Matches("^v[0-9]+$".to_owned())),
                named("d", Matcher::Contains("z".to_owned())),
                named("e", Matcher::Present(true)),
                named("f", Matcher::Present(false)),
                named("g", Matcher::OneOf(vec!["p".to_owned(), "q".to_owned()])),
            ],
            body_contains: Some("needle".to_owned()),
            ..When::default()
        }
    );
    assert!(!read.is_empty());
}

#[test]
fn every_section_of_when_reads_in_order() {
    let read = when(
        "{path-params: {id: '1'}, headers: {x-a: '2'}, query-params: {q: '3'}, json-params: {items.0.id: '4'}}",
    );
    assert_eq!(
        read,
        When {
            path_params: vec![named("id", equals("1"))],
            headers: vec![named("x-a", equals("2"))],
            query_params: vec![named("q", equals("3"))],
            json_params: vec![named("items.0.id", equals("4"))],
            body_contains: None,
        }
    );
}

#[test]
fn a_rule_without_when_always_holds() {
    let endpoint = endpoint("- endpoint:\n    path: /a\n    responses:\n      - status: 418\n");
    assert_eq!(
        endpoint.rules,
        [Rule {
            line: 4,
            when: When::default(),
            scenario: None,
            response: Response {
                status: 418,
                ..Response::default()
            },
        }]
    );
    assert!(endpoint.rules[0].when.is_empty());
    // An empty `when:` and empty sections are no conditions either.
    assert!(when("").is_empty());
    assert!(when("{headers: }").is_empty());
}

#[test]
fn header_names_are_lowercased() {
    let read = when("{headers: {X-Mode: a, AUTHORIZATION: {present: true}, x-lower: b}}");
    assert_eq!(
        read.headers,
        [
            named("x-mode", equals("a")),
            named("authorization", Matcher::Present(true)),
            named("x-lower", equals("b")),
        ]
    );
    // Only header names: a query parameter or a JSON path keeps its case.
    let read = when("{query-params: {Page: '1'}, json-params: {User.Role: x}}");
    assert_eq!(read.query_params, [named("Page", equals("1"))]);
    assert_eq!(read.json_params, [named("User.Role", equals("x"))]);
}

#[test]
fn numbers_and_booleans_compare_as_the_yaml_value_and_quoted_text_as_written() {
    // As the original's `str`, and as a published mock's JSON keeps them.
    let read = when(
        "{query-params: {int: 42, neg: -7, float: 1.10, zeros: 007, yes: true, no: false, word: yes, eq: {equals: 3}, one: {one-of: [1, 2.50, true]}, has: {contains: 5}, re: {matches: 12}, quoted: '1.10'}}",
    );
    assert_eq!(
        read.query_params,
        [
            named("int", equals("42")),
            named("neg", equals("-7")),
            named("float", equals("1.1")),
            named("zeros", equals("7")),
            named("yes", equals("true")),
            named("no", equals("false")),
            named("word", equals("true")),
            named("eq", equals("3")),
            named(
                "one",
                Matcher::OneOf(vec!["1".to_owned(), "2.5".to_owned(), "true".to_owned()])
            ),
            named("has", Matcher::Contains("5".to_owned())),
            named("re", Matcher::Matches("12".to_owned())),
            named("quoted", equals("1.10")),
        ]
    );
}

#[test]
fn a_condition_map_needs_exactly_one_kind() {
    // `{query-params: {q: ` is 19 characters: the condition's map starts at column 34.
    let diagnostics = yaml_findings(&with_when("{query-params: {q: {}}}"));
    let key = "endpoint.responses[0].when.query-params.q";
    error_at(&diagnostics, (4, 34), key, "exactly one of `equals`");
    error_at(&diagnostics, (4, 34), key, "this one has 0");
    assert_eq!(errors(&diagnostics), [(4, 34, Some(key))]);

    let diagnostics = yaml_findings(&with_when("{query-params: {q: {equals: a, contains: b}}}"));
    error_at(&diagnostics, (4, 34), key, "this one has 2");
    assert_eq!(errors(&diagnostics), [(4, 34, Some(key))]);
}

#[test]
fn an_unknown_condition_kind_is_named_with_a_suggestion() {
    let diagnostics = yaml_findings(&with_when("{query-params: {q: {equal: a}}}"));
    let key = "endpoint.responses[0].when.query-params.q";
    warning_at(
        &diagnostics,
        (4, 35),
        "endpoint.responses[0].when.query-params.q.equal",
        "unknown key `equal`; did you mean `equals`?",
    );
    error_at(&diagnostics, (4, 34), key, "this one has 0");
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
}

#[test]
fn a_condition_kind_given_twice_counts_once() {
    let source = with_when("{query-params: {q: {equals: a, equals: b}}}");
    let diagnostics = yaml_findings(&source);
    warning_at(
        &diagnostics,
        (4, 46),
        "endpoint.responses[0].when.query-params.q.equals",
        "`equals` is given twice; the last one is used",
    );
    assert_eq!(errors(&diagnostics), []);
    let endpoint = endpoint(&source);
    assert_eq!(
        endpoint.rules[0].when.query_params,
        [named("q", equals("b"))]
    );
}

#[test]
fn a_null_or_list_condition_is_an_error() {
    let diagnostics = yaml_findings(&with_when("{query-params: {q: , r: [a]}}"));
    // The parser places an empty value at the `:` before it.
    assert_eq!(
        errors(&diagnostics),
        [
            (4, 32, Some("endpoint.responses[0].when.query-params.q")),
            (4, 39, Some("endpoint.responses[0].when.query-params.r")),
        ]
    );
    error_at(
        &diagnostics,
        (4, 32),
        "endpoint.responses[0].when.query-params.q",
        "a condition must be a value or a map such as `{matches: \"^a\"}`",
    );
    error_at(
        &diagnostics,
        (4, 39),
        "endpoint.responses[0].when.query-params.r",
        "a condition must be a value or a map with one of `equals`, `matches`",
    );
}

#[test]
fn a_bad_regex_is_an_error_at_its_matches_value() {
    // The value `'('` starts at column 44: `{headers: {x-mode: {matches: ` is 29 long.
    let diagnostics = yaml_findings(&with_when("{headers: {x-mode: {matches: '('}}}"));
    error_at(
        &diagnostics,
        (4, 44),
        "endpoint.responses[0].when.headers.x-mode.matches",
        "`matches` is not a valid regular expression: unclosed group",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    // In a block map too, at the value's own line and column.
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    responses:\n      - when:\n          query-params:\n            q:\n              matches: 'a[z-a]'\n",
    );
    error_at(
        &diagnostics,
        (7, 24),
        "endpoint.responses[0].when.query-params.q.matches",
        "invalid character class range",
    );
}

#[test]
fn a_regex_too_large_to_compile_is_an_error() {
    // Unicode `\w` repeated a thousand times compiles to far more than 1 MiB.
    let diagnostics = yaml_findings(&with_when(r"{query-params: {q: {matches: '\w{1000}'}}}"));
    error_at(
        &diagnostics,
        (4, 44),
        "endpoint.responses[0].when.query-params.q.matches",
        "the expression compiles to more than 1048576 bytes",
    );
    // Unicode classes are large: many repetitions exceed the limit, ASCII ones do not;
    // a dozen fit.
    assert_eq!(compile_matches(r"^\w{12}$").map(|_| ()), Ok(()));
    assert_eq!(compile_matches(r"(?-u:\w){1000}").map(|_| ()), Ok(()));
    assert_eq!(compile_matches(r"\w+").map(|_| ()), Ok(()));
    assert_eq!(
        compile_matches(r"\w{1000}").map(|_| ()),
        Err("the expression compiles to more than 1048576 bytes".to_owned())
    );
}

#[test]
fn matches_is_unanchored() {
    let regex = compile_matches("adm").expect("a regex");
    assert!(regex.is_match("the admin"));
    let anchored = compile_matches("^adm$").expect("a regex");
    assert!(!anchored.is_match("the admin"));
}

#[test]
fn a_spec_has_a_budget_of_regular_expressions() {
    let source = with_when("{query-params: {a: {matches: x}, b: {matches: y}, c: {matches: z}}}");
    let small = Limits {
        max_items: 2,
        ..limits()
    };
    let diagnostics = match check(&source, Format::Yaml, Mode::Standalone, &small) {
        Ok((spec, _)) => panic!("accepted: {spec:#?}"),
        Err(diagnostics) => diagnostics,
    };
    assert_eq!(
        errors(&diagnostics),
        [(
            4,
            78,
            Some("endpoint.responses[0].when.query-params.c.matches")
        )]
    );
    error_at(
        &diagnostics,
        (4, 78),
        "endpoint.responses[0].when.query-params.c.matches",
        "too many regular expressions",
    );
}

#[test]
fn present_takes_a_boolean_only() {
    let diagnostics = yaml_findings(&with_when("{query-params: {q: {present: \"yes\"}}}"));
    error_at(
        &diagnostics,
        (4, 44),
        "endpoint.responses[0].when.query-params.q.present",
        "`present` must be true or false",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    // YAML 1.1's unquoted `yes` and `off` are booleans.
    let read = when("{query-params: {a: {present: yes}, b: {present: off}}}");
    assert_eq!(
        read.query_params,
        [
            named("a", Matcher::Present(true)),
            named("b", Matcher::Present(false))
        ]
    );
}

#[test]
fn one_of_takes_a_non_empty_list_of_values() {
    let key = "endpoint.responses[0].when.query-params.q.one-of";
    let diagnostics = yaml_findings(&with_when("{query-params: {q: {one-of: admin}}}"));
    error_at(
        &diagnostics,
        (4, 43),
        key,
        "`one-of` must be a non-empty list",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");

    let diagnostics = yaml_findings(&with_when("{query-params: {q: {one-of: []}}}"));
    error_at(
        &diagnostics,
        (4, 43),
        key,
        "`one-of` must be a non-empty list",
    );

    let diagnostics = yaml_findings(&with_when("{query-params: {q: {one-of: [a, {b: c}]}}}"));
    error_at(
        &diagnostics,
        (4, 47),
        "endpoint.responses[0].when.query-params.q.one-of[1]",
        "a `one-of` value must be a string, a number or a boolean",
    );
}

#[test]
fn equals_and_contains_take_scalars() {
    let diagnostics = yaml_findings(&with_when(
        "{query-params: {q: {equals: [a]}, r: {contains: {a: b}}}}",
    ));
    error_at(
        &diagnostics,
        (4, 43),
        "endpoint.responses[0].when.query-params.q.equals",
        "`equals` must be a string, a number or a boolean",
    );
    error_at(
        &diagnostics,
        (4, 63),
        "endpoint.responses[0].when.query-params.r.contains",
        "`contains` must be a string",
    );
    assert_eq!(errors(&diagnostics).len(), 2, "{diagnostics:#?}");
}

#[test]
fn an_unknown_key_in_when_is_a_warning_with_a_suggestion() {
    let source = with_when("{header: {x-a: b}, query-params: {q: c}}");
    let diagnostics = yaml_findings(&source);
    warning_at(
        &diagnostics,
        (4, 16),
        "endpoint.responses[0].when.header",
        "unknown key `header`; did you mean `headers`?",
    );
    assert_eq!(errors(&diagnostics), []);
    assert_eq!(warnings(&diagnostics).len(), 1, "{diagnostics:#?}");
    // The unknown key is ignored; the rest is read.
    let endpoint = endpoint(&source);
    assert_eq!(endpoint.rules[0].when.headers, []);
    assert_eq!(
        endpoint.rules[0].when.query_params,
        [named("q", equals("c"))]
    );
}

#[test]
fn when_must_be_a_map() {
    let diagnostics = yaml_findings(&with_when("[a, b]"));
    error_at(
        &diagnostics,
        (4, 15),
        "endpoint.responses[0].when",
        "`when` must be a map with `path-params`, `headers`",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    let diagnostics = yaml_findings(&with_when("always"));
    error_at(
        &diagnostics,
        (4, 15),
        "endpoint.responses[0].when",
        "`when` must be a map",
    );
}

#[test]
fn each_section_of_when_must_be_a_map() {
    let diagnostics = yaml_findings(&with_when("{headers: [x-a], body-contains: {a: b}}"));
    error_at(
        &diagnostics,
        (4, 25),
        "endpoint.responses[0].when.headers",
        "`endpoint.responses[0].when.headers` must be a map of name to condition",
    );
    error_at(
        &diagnostics,
        (4, 47),
        "endpoint.responses[0].when.body-contains",
        "`body-contains` must be a string",
    );
    assert_eq!(errors(&diagnostics).len(), 2, "{diagnostics:#?}");
}

#[test]
fn names_to_match_must_be_usable() {
    let diagnostics = yaml_findings(&with_when(
        "{headers: {'x a': '1'}, json-params: {user.: '2', .id: '3', a..b: '4', ok.path: '5'}}",
    ));
    error_at(
        &diagnostics,
        (4, 26),
        "endpoint.responses[0].when.headers.x a",
        "`x a` is not a valid header name",
    );
    let json = "is not a path to match: its dotted parts must not be empty";
    error_at(
        &diagnostics,
        (4, 53),
        "endpoint.responses[0].when.json-params.user.",
        json,
    );
    error_at(
        &diagnostics,
        (4, 65),
        "endpoint.responses[0].when.json-params..id",
        json,
    );
    error_at(
        &diagnostics,
        (4, 75),
        "endpoint.responses[0].when.json-params.a..b",
        json,
    );
    assert_eq!(errors(&diagnostics).len(), 4, "{diagnostics:#?}");
}

// ---------------------------------------------------------------------------------------
// rules
// ---------------------------------------------------------------------------------------

#[test]
fn responses_must_be_a_list_of_maps() {
    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    responses: {status: 200}\n");
    error_at(
        &diagnostics,
        (3, 16),
        "endpoint.responses",
        "`responses` must be a list of rules",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");

    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    responses:\n      - 200\n");
    error_at(
        &diagnostics,
        (4, 9),
        "endpoint.responses[0]",
        "a rule must be a map with `when` and `status`",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
}

#[test]
fn more_than_a_hundred_rules_are_refused() {
    let rules = |count: usize| vec!["{}"; count].join(", ");
    let source = format!(
        "- endpoint:\n    path: /a\n    responses: [{}]\n",
        rules(101)
    );
    let diagnostics = yaml_findings(&source);
    error_at(
        &diagnostics,
        (3, 16),
        "endpoint.responses",
        "`responses` has 101 rules; at most 100 are accepted",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    assert_eq!(MAX_RULES, 100);
    let source = format!(
        "- endpoint:\n    path: /a\n    responses: [{}]\n",
        rules(100)
    );
    assert_eq!(endpoint(&source).rules.len(), 100);
}

#[test]
fn a_rule_reads_its_response_keys_and_warns_once_about_unknown_ones() {
    let source = "- endpoint:\n    path: /a\n    responses:\n      - when: {headers: {x-a: '1'}}\n        stauts: 201\n        headers: {X-B: 2}\n        body: {a: 1}\n";
    let diagnostics = yaml_findings(source);
    assert_eq!(
        diagnostics,
        [
            Diagnostic::warning(5, 9, "unknown key `stauts`; did you mean `status`?")
                .in_item(0, "endpoint.responses[0].stauts")
        ]
    );
    let endpoint = endpoint(source);
    assert_eq!(
        endpoint.rules[0].response,
        Response {
            status: 200,
            headers: vec![("X-B".to_owned(), "2".to_owned())],
            body: Body::Text("{\"a\":1}".to_owned()),
        }
    );
}

#[test]
fn a_rule_response_is_checked_like_a_response() {
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    responses:\n      - status: 99\n        headers: {'bad name': x}\n",
    );
    error_at(
        &diagnostics,
        (4, 17),
        "endpoint.responses[0].status",
        "status 99 is out of range",
    );
    error_at(
        &diagnostics,
        (5, 19),
        "endpoint.responses[0].headers.bad name",
        "is not a valid header name",
    );
    assert_eq!(errors(&diagnostics).len(), 2, "{diagnostics:#?}");
}

#[test]
fn when_belongs_to_a_rule() {
    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    when: {headers: {a: b}}\n");
    warning_at(
        &diagnostics,
        (3, 5),
        "endpoint.when",
        "unknown key `when`: `when` belongs to a rule under `responses`",
    );
}

#[test]
fn rules_read_from_edn_too() {
    let spec = super::tests::ok(
        r#"{:endpoint {:path "/a/:id" :responses [{:when {:headers {:X-A "1"} :path-params {:id 7}} :status 201}]}}"#,
        Format::Edn,
    );
    let rule = &spec.endpoints[0].rules[0];
    assert_eq!(rule.line, 1);
    assert_eq!(rule.when.headers, [named("x-a", equals("1"))]);
    assert_eq!(rule.when.path_params, [named("id", equals("7"))]);
    assert_eq!(rule.response.status, 201);
}

// ---------------------------------------------------------------------------------------
// sequences
// ---------------------------------------------------------------------------------------

#[test]
fn a_sequence_reads_its_responses_and_mode() {
    let read = endpoint(
        "- endpoint:\n    path: /a\n    sequence:\n      - {status: 202, body: wait}\n      - status: 200\n        body: done\n",
    );
    assert_eq!(
        read.sequence,
        Some(Sequence {
            responses: vec![text_response(202, "wait"), text_response(200, "done")],
            cycle: false,
        })
    );
    let mode = |mode: &str| {
        let source =
            format!("- endpoint:\n    path: /a\n    sequence-mode: {mode}\n    sequence: [{{}}]\n");
        endpoint(&source).sequence.expect("a sequence").cycle
    };
    assert!(mode("cycle"));
    assert!(!mode("last"));
}

#[test]
fn a_sequence_must_be_a_list_of_one_to_a_hundred_responses() {
    let message = "`sequence` must be a list of 1 to 100 responses";
    for value in ["[]", "{status: 200}", "done"] {
        let diagnostics = yaml_findings(&format!(
            "- endpoint:\n    path: /a\n    sequence: {value}\n"
        ));
        error_at(&diagnostics, (3, 15), "endpoint.sequence", message);
        assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    }
    let many = vec!["{}"; 101].join(", ");
    let diagnostics = yaml_findings(&format!(
        "- endpoint:\n    path: /a\n    sequence: [{many}]\n"
    ));
    error_at(&diagnostics, (3, 15), "endpoint.sequence", message);

    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    sequence:\n      - {status: 200}\n      - ok\n",
    );
    error_at(
        &diagnostics,
        (5, 9),
        "endpoint.sequence[1]",
        "`response` must be a map",
    );
}

#[test]
fn an_unknown_sequence_mode_is_an_error_at_its_value() {
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    sequence: [{status: 200}]\n    sequence-mode: loop\n",
    );
    error_at(
        &diagnostics,
        (4, 20),
        "endpoint.sequence-mode",
        "`sequence-mode` must be `cycle` or `last`, not `loop`",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    sequence: [{status: 200}]\n    sequence-mode: [cycle]\n",
    );
    error_at(
        &diagnostics,
        (4, 20),
        "endpoint.sequence-mode",
        "`sequence-mode` must be a string",
    );
}

#[test]
fn keys_a_sequence_makes_useless_are_warned_about() {
    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    sequence-mode: cycle\n");
    assert_eq!(
        diagnostics,
        [Diagnostic::warning(
            3,
            20,
            "`sequence-mode` is ignored: the endpoint has no `sequence`"
        )
        .in_item(0, "endpoint.sequence-mode")]
    );
    // Checked even so.
    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    sequence-mode: loop\n");
    error_at(
        &diagnostics,
        (3, 20),
        "endpoint.sequence-mode",
        "not `loop`",
    );

    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    response: {status: 404}\n    sequence: [{status: 200}]\n",
    );
    assert_eq!(
        diagnostics,
        [Diagnostic::warning(
            3,
            15,
            "`response` is never answered: `sequence` answers when no rule holds"
        )
        .in_item(0, "endpoint.response")]
    );
}

// ---------------------------------------------------------------------------------------
// scenarios
// ---------------------------------------------------------------------------------------

#[test]
fn scenarios_read_on_endpoints_and_rules() {
    let endpoint = endpoint(
        "- endpoint:\n    method: POST\n    path: /cart\n    scenario: {name: cart, when-state: started, set-state: has-items}\n    responses:\n      - when: {body-contains: clear}\n        scenario: {name: cart, set-state: started}\n",
    );
    assert_eq!(
        endpoint.scenario,
        Some(Scenario {
            name: "cart".to_owned(),
            when_state: Some("started".to_owned()),
            set_state: Some("has-items".to_owned()),
        })
    );
    assert_eq!(
        endpoint.rules[0].scenario,
        Some(Scenario {
            name: "cart".to_owned(),
            when_state: None,
            set_state: Some("started".to_owned()),
        })
    );
    assert_eq!(
        endpoint.rules[0].when.body_contains.as_deref(),
        Some("clear")
    );
    assert!(endpoint.has_scenario());
}

#[test]
fn a_scenario_needs_a_name() {
    let diagnostics =
        yaml_findings("- endpoint:\n    path: /a\n    scenario: {when-state: started}\n");
    error_at(
        &diagnostics,
        (3, 15),
        "endpoint.scenario.name",
        "a `scenario` needs a `name`",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");

    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /a\n    responses:\n      - scenario: {set-state: x}\n",
    );
    error_at(
        &diagnostics,
        (4, 19),
        "endpoint.responses[0].scenario.name",
        "a `scenario` needs a `name`",
    );
}

#[test]
fn scenario_names_and_states_are_short_non_empty_values() {
    let diagnostics = yaml_findings(&format!(
        "- endpoint:\n    path: /a\n    scenario: {{name: '', set-state: {}}}\n",
        "s".repeat(257)
    ));
    error_at(
        &diagnostics,
        (3, 22),
        "endpoint.scenario.name",
        "`name` must have 1 to 256 bytes",
    );
    error_at(
        &diagnostics,
        (3, 37),
        "endpoint.scenario.set-state",
        "`set-state` must have 1 to 256 bytes",
    );
    assert_eq!(errors(&diagnostics).len(), 2, "{diagnostics:#?}");

    let diagnostics = yaml_findings("- endpoint:\n    path: /a\n    scenario: cart\n");
    error_at(
        &diagnostics,
        (3, 15),
        "endpoint.scenario",
        "`scenario` must be a map",
    );
    let diagnostics =
        yaml_findings("- endpoint:\n    path: /a\n    scenario: {name: cart, set_state: x}\n");
    warning_at(
        &diagnostics,
        (3, 28),
        "endpoint.scenario.set_state",
        "did you mean `set-state`?",
    );
}

// ---------------------------------------------------------------------------------------
// resources
// ---------------------------------------------------------------------------------------

#[test]
fn a_resource_reads_every_key() {
    let source = "- resource:\n    host: Api.Example.com:8080\n    path: /users\n    id: uid\n    seed:\n      - {uid: 1, name: ada}\n      - {uid: b2, name: bob, tags: [x]}\n";
    let (spec, warnings) =
        check(source, Format::Yaml, Mode::Cloud, &limits()).expect("a valid resource");
    assert_eq!(warnings, []);
    let record = |value: serde_json::Value| match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not a map: {other}"),
    };
    assert_eq!(
        spec.resources,
        [Resource {
            item: 0,
            line: 1,
            host: Some("api.example.com".to_owned()),
            path: PathPattern::parse("/users").expect("a path"),
            id_field: "uid".to_owned(),
            seed: vec![
                record(serde_json::json!({"uid": 1, "name": "ada"})),
                record(serde_json::json!({"uid": "b2", "name": "bob", "tags": ["x"]})),
            ],
        }]
    );
    assert_eq!(spec.endpoints, []);
}

#[test]
fn an_item_with_only_a_resource_is_a_whole_spec() {
    let (spec, warnings) = check(
        "- resource: {path: /users}\n",
        Format::Yaml,
        Mode::Cloud,
        &limits(),
    )
    .expect("a valid spec");
    assert_eq!(
        warnings,
        [],
        "a resource answers requests: no `no endpoints` warning"
    );
    assert_eq!(
        spec.resources,
        [Resource {
            item: 0,
            line: 1,
            host: None,
            path: PathPattern::parse("/users").expect("a path"),
            id_field: "id".to_owned(),
            seed: Vec::new(),
        }]
    );
    assert_eq!(validate(&spec, Mode::Cloud), []);
}

#[test]
fn a_resource_in_an_item_with_a_host_is_traced_to_it() {
    let report = check_by_item(
        "- resource:\n    host: a.test\n    path: /users\n- resource:\n    host: B.test\n    path: /users/:id\n",
        Mode::Cloud,
        &limits(),
    )
    .expect("a readable config");
    assert_eq!(report.spec.resources.len(), 1);
    assert_eq!(report.spec.resources[0].host.as_deref(), Some("a.test"));
    assert_eq!(
        report.item_hosts.into_iter().collect::<Vec<_>>(),
        [(0, "a.test".to_owned()), (1, "b.test".to_owned())]
    );
    error_at(
        &report.diagnostics,
        (6, 11),
        "resource.path",
        "has no parameters",
    );
    assert_eq!(report.diagnostics[0].item, Some(1));
}

#[test]
fn a_resource_path_names_the_collection_without_parameters() {
    let diagnostics = yaml_findings("- resource:\n    path: /users/:id\n");
    assert_eq!(
        errors(&diagnostics),
        [(2, 11, Some("resource.path"))],
        "{diagnostics:#?}"
    );
    error_at(
        &diagnostics,
        (2, 11),
        "resource.path",
        "a resource's `path` names the collection (`/users`) and has no parameters",
    );
    let diagnostics = yaml_findings("- resource: {seed: []}\n");
    error_at(
        &diagnostics,
        (1, 13),
        "resource.path",
        "missing `resource.path`: every resource needs the path of its collection, such as `/users`",
    );
    let diagnostics = yaml_findings("- resource: /users\n");
    error_at(
        &diagnostics,
        (1, 13),
        "resource",
        "`resource` must be a map",
    );
    let diagnostics = yaml_findings("- resource: {path: /users, id: ''}\n");
    error_at(
        &diagnostics,
        (1, 32),
        "resource.id",
        "`id` must name a field",
    );
}

#[test]
fn seed_records_need_a_distinct_id() {
    let diagnostics = yaml_findings(
        "- resource:\n    path: /users\n    seed:\n      - {id: 1}\n      - {name: bob}\n",
    );
    error_at(
        &diagnostics,
        (5, 9),
        "resource.seed[1]",
        "a seed record needs its `id`: a string or a whole number",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");

    for id in ["1.5", "[1]", "true", "~"] {
        let diagnostics = yaml_findings(&format!(
            "- resource:\n    path: /users\n    seed:\n      - {{id: {id}}}\n"
        ));
        error_at(
            &diagnostics,
            (4, 9),
            "resource.seed[0]",
            "a seed record needs its `id`",
        );
    }

    // `1` and `"1"` are the same record at `/users/1`.
    let diagnostics = yaml_findings(
        "- resource:\n    path: /users\n    seed:\n      - {id: 1}\n      - {id: '2'}\n      - {id: '1'}\n",
    );
    error_at(
        &diagnostics,
        (6, 9),
        "resource.seed[2]",
        "two seed records have `id` 1",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
}

#[test]
fn seed_must_be_a_list_of_maps() {
    let diagnostics = yaml_findings("- resource:\n    path: /users\n    seed: {id: 1}\n");
    error_at(
        &diagnostics,
        (3, 11),
        "resource.seed",
        "`seed` must be a list of records (maps)",
    );
    assert_eq!(errors(&diagnostics).len(), 1, "{diagnostics:#?}");
    let diagnostics = yaml_findings("- resource:\n    path: /users\n    seed: [1]\n");
    error_at(
        &diagnostics,
        (3, 12),
        "resource.seed[0]",
        "a seed record must be a map",
    );
}

#[test]
fn a_bad_resource_item_is_dropped_alone() {
    let report = check_by_item(
        "- resource: {path: /ok}\n- resource: {path: /bad, seed: [{name: x}]}\n- endpoint: {path: /e}\n",
        Mode::Cloud,
        &limits(),
    )
    .expect("a readable config");
    let paths: Vec<String> = report
        .spec
        .resources
        .iter()
        .map(|r| r.path.to_string())
        .collect();
    assert_eq!(paths, ["/ok"]);
    assert_eq!(report.spec.endpoints.len(), 1);
    assert_eq!(
        errors(&report.diagnostics),
        [(2, 33, Some("resource.seed[0]"))]
    );
}

#[test]
fn routed_items_come_in_item_order() {
    let spec = ok_yaml(
        "- endpoint: {path: /e0}\n- resource: {path: /r1}\n- resource: {path: /r2}\n- endpoint: {path: /e3}\n- websocket: {path: /w4}\n- resource: {path: /r5}\n- endpoint: {path: /e6}\n  resource: {path: /r6}\n- endpoint: {path: /e7}\n",
    );
    let order: Vec<(u32, String)> = spec
        .routed_items()
        .map(|owner| match owner {
            RoutedItem::Endpoint(e) => (e.item, format!("endpoint {}", e.path)),
            RoutedItem::Resource(r) => (r.item, format!("resource {}", r.path)),
        })
        .collect();
    assert_eq!(
        order,
        [
            (0, "endpoint /e0".to_owned()),
            (1, "resource /r1".to_owned()),
            (2, "resource /r2".to_owned()),
            (3, "endpoint /e3".to_owned()),
            (5, "resource /r5".to_owned()),
            (6, "endpoint /e6".to_owned()),
            (6, "resource /r6".to_owned()),
            (7, "endpoint /e7".to_owned()),
        ]
    );
    assert_eq!(Spec::default().routed_items().count(), 0);
    let only_resources = ok_yaml("- resource: {path: /a}\n- resource: {path: /b}\n");
    assert_eq!(only_resources.routed_items().count(), 2);
}

// ---------------------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------------------

const TEMPLATE_IN_A_RULE: &str = r#"- endpoint:
    path: /a/:id
    responses:
      - when: {headers: {x-a: "1"}}
        body: fine
      - when: {headers: {x-a: "2"}}
        body: '{"id": "{{id|nofilter}}"}'
    sequence:
      - headers: {X-S: '{{id|nofilter}}'}
"#;

#[test]
fn a_template_error_in_a_rule_is_located_exactly() {
    let diagnostics = findings(TEMPLATE_IN_A_RULE, Format::Yaml, Mode::Cloud);
    assert_eq!(
        errors(&diagnostics),
        [
            (7, 29, Some("endpoint.responses[1].body")),
            (9, 30, Some("endpoint.sequence[0].headers.X-S")),
        ]
    );
    error_at(
        &diagnostics,
        (7, 29),
        "endpoint.responses[1].body",
        "the template does not compile: unknown filter 'nofilter'",
    );
    // Standalone, the same findings are warnings.
    let diagnostics = findings(TEMPLATE_IN_A_RULE, Format::Yaml, Mode::Standalone);
    assert_eq!(errors(&diagnostics), []);
    warning_at(
        &diagnostics,
        (7, 29),
        "endpoint.responses[1].body",
        "this endpoint answers 500 until it is fixed",
    );
    warning_at(
        &diagnostics,
        (9, 30),
        "endpoint.sequence[0].headers.X-S",
        "unknown filter 'nofilter'",
    );
}

const LOCAL_BODIES: &str = r#"- endpoint:
    path: /a
    responses:
      - external-body: {provider: json, path: ./rule.json}
    sequence:
      - external-body: {provider: json, path: 'https://data.test/{{path-params.x}}'}
      - external-body: {provider: json, path: /etc/seq.json}
"#;

#[test]
fn local_external_bodies_in_rules_and_sequences_are_cloud_errors() {
    let diagnostics = findings(LOCAL_BODIES, Format::Yaml, Mode::Cloud);
    assert_eq!(
        errors(&diagnostics),
        [
            (4, 47, Some("endpoint.responses[0].external-body.path")),
            (7, 47, Some("endpoint.sequence[1].external-body.path")),
        ]
    );
    error_at(
        &diagnostics,
        (4, 47),
        "endpoint.responses[0].external-body.path",
        "local files are not available in the hosted service: `./rule.json`",
    );
    assert_eq!(findings(LOCAL_BODIES, Format::Yaml, Mode::Standalone), []);
}

/// Refuses every URL with "internal" in it.
#[derive(Debug)]
struct NoInternal;

impl DestinationPolicy for NoInternal {
    fn check_destination(&self, url: &str) -> Result<(), String> {
        if url.contains("internal") {
            return Err("a private address".to_owned());
        }
        Ok(())
    }
}

#[test]
fn cloud_check_refuses_literal_destinations_in_rules_and_sequences() {
    let limits = limits();
    let cloud = CloudCheck {
        limits: &limits,
        destinations: &NoInternal,
    };
    let refused = cloud
        .check(
            "- endpoint:\n    path: /a\n    responses:\n      - external-body: {provider: json, path: 'http://internal.test/a'}\n    sequence:\n      - external-body: {provider: json, path: 'http://public.test/b'}\n      - external-body: {provider: json, path: 'http://internal.test/{{path-params.x}}'}\n      - external-body: {provider: json, path: 'http://internal.test/c'}\n",
        )
        .expect_err("refused");
    let found: Vec<(u32, Option<u32>, Option<&str>)> = refused
        .iter()
        .map(|d| (d.line, d.item, d.key.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (1, Some(0), Some("endpoint.responses[0].external-body.path")),
            (1, Some(0), Some("endpoint.sequence[2].external-body.path")),
        ]
    );
    assert!(refused.iter().all(Diagnostic::is_error));
    assert_eq!(
        refused[0].message,
        "destination not allowed: http://internal.test/a: a private address"
    );
}

#[test]
fn an_endpoint_in_a_scenario_state_does_not_shadow_the_next() {
    let spec = "- endpoint:\n    path: /cart\n    scenario: {name: cart, when-state: has-items}\n- endpoint:\n    path: /cart\n    scenario: {name: cart, when-state: paid}\n- endpoint:\n    path: /cart\n- endpoint:\n    path: /cart\n";
    let diagnostics = yaml_findings(spec);
    assert_eq!(
        diagnostics,
        [Diagnostic::warning(
            10,
            11,
            "GET /cart is shadowed by item 2, which defines the same route first; this \
             endpoint never answers"
        )
        .in_item(3, "endpoint.path")]
    );
}

#[test]
fn a_scenario_without_when_state_answers_in_every_state_and_shadows() {
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /cart\n    scenario: {name: cart, set-state: seen}\n- endpoint:\n    path: /cart\n",
    );
    assert_eq!(
        warnings(&diagnostics),
        [(5, 11, Some("endpoint.path"))],
        "{diagnostics:#?}"
    );
    warning_at(&diagnostics, (5, 11), "endpoint.path", "shadowed by item 0");
    // A rule's scenario does not make the endpoint itself answer in a state only.
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /cart\n    responses:\n      - scenario: {name: cart, when-state: paid}\n- endpoint:\n    path: /cart\n",
    );
    warning_at(&diagnostics, (6, 11), "endpoint.path", "shadowed by item 0");
}

#[test]
fn a_resource_after_an_endpoint_on_its_route_is_shadowed() {
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /users\n- endpoint:\n    method: DELETE\n    path: /users/:uid\n- resource:\n    path: /users\n",
    );
    assert_eq!(
        diagnostics,
        [
            Diagnostic::warning(
                7,
                11,
                "GET /users of this resource is shadowed by item 0, which defines the same \
                 route first"
            )
            .in_item(2, "resource.path"),
            Diagnostic::warning(
                7,
                11,
                "DELETE /users/:id of this resource is shadowed by item 1, which defines the \
                 same route first"
            )
            .in_item(2, "resource.path"),
        ]
    );
}

#[test]
fn an_endpoint_after_a_resource_on_its_route_is_shadowed() {
    let diagnostics = yaml_findings(
        "- resource:\n    path: /users\n- endpoint:\n    method: PATCH\n    path: /users/:name\n- endpoint:\n    method: HEAD\n    path: /users/:name\n- endpoint:\n    host: other.test\n    path: /users\n",
    );
    assert_eq!(
        diagnostics,
        [Diagnostic::warning(
            5,
            11,
            "PATCH /users/:name is shadowed by item 0, which defines the same route first; \
             this endpoint never answers"
        )
        .in_item(1, "endpoint.path")]
    );
}

#[test]
fn a_resource_after_an_endpoint_in_a_scenario_state_is_reachable() {
    let diagnostics = yaml_findings(
        "- endpoint:\n    path: /users\n    scenario: {name: s, when-state: down}\n    response: {status: 503}\n- resource:\n    path: /users\n- endpoint:\n    path: /users\n",
    );
    assert_eq!(
        diagnostics,
        [Diagnostic::warning(
            8,
            11,
            "GET /users is shadowed by item 1, which defines the same route first; this \
             endpoint never answers"
        )
        .in_item(2, "endpoint.path")]
    );
}
