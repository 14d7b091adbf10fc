use serde_json::json;

use super::*;
use crate::spec::{Limits, parse_yaml};

const SPEC: &str = r#"- endpoint:
    method: GET
    path: /users/:id
    response:
      status: 200
- endpoint:
    method: POST
    path: /users
    body: '{"name": "alice", "email": "a@example.com"}'
    response:
      status: 201
- endpoint:
    method: GET
    path: /search
    query:
      q: string
      page: int
    response:
      status: 200
- endpoint:
    method: GET
    path: /orders/:id/items
    response:
      status: 200
"#;

fn endpoints() -> Vec<crate::spec::Endpoint> {
    parse_yaml(SPEC, &Limits::default())
        .expect("the spec reads")
        .endpoints
}

fn attempt<'a>(method: &'a str, path: &'a str, query: &'a str) -> Attempt<'a> {
    Attempt {
        method,
        path,
        query,
        json: None,
    }
}

#[test]
fn a_wrong_method_names_the_endpoint_and_its_method_first() {
    let misses = near_misses(&endpoints(), &attempt("DELETE", "/users/7", ""));
    let first = &misses[0];
    assert_eq!(
        (first.endpoint, first.line, first.path.as_str()),
        (0, 1, "/users/:id")
    );
    assert_eq!(
        first.differences,
        [Difference::Method {
            expected: "GET".into(),
            got: "DELETE".into()
        }]
    );
    assert_eq!(
        first.differences[0].describe(),
        "the method is DELETE; this endpoint answers GET"
    );
}

#[test]
fn a_wrong_segment_is_named_with_its_position() {
    let misses = near_misses(&endpoints(), &attempt("GET", "/orders/9/itemz", ""));
    assert_eq!(misses[0].path, "/orders/:id/items");
    assert_eq!(
        misses[0].differences,
        [Difference::Segment {
            position: 3,
            expected: "items".into(),
            got: "itemz".into()
        }]
    );
}

#[test]
fn a_missing_required_query_parameter_is_named() {
    let misses = near_misses(&endpoints(), &attempt("GET", "/search", "q=shoes"));
    assert_eq!(misses[0].path, "/search");
    assert_eq!(
        misses[0].differences,
        [Difference::QueryParam {
            name: "page".into()
        }]
    );
}

#[test]
fn a_missing_body_field_is_named_and_a_full_match_is_no_miss() {
    let body = json!({"name": "bob"});
    let misses = near_misses(
        &endpoints(),
        &Attempt {
            json: Some(&body),
            ..attempt("POST", "/users", "")
        },
    );
    assert_eq!(misses[0].path, "/users");
    assert_eq!(
        misses[0].differences,
        [Difference::BodyField {
            name: "email".into()
        }]
    );

    let full = json!({"name": "bob", "email": "b@example.com"});
    let misses = near_misses(
        &endpoints(),
        &Attempt {
            json: Some(&full),
            ..attempt("POST", "/users", "")
        },
    );
    assert!(
        misses
            .iter()
            .all(|m| m.path != "/users" || m.method != "POST")
    );
}

#[test]
fn misses_are_ranked_closest_first_and_bounded() {
    let misses = near_misses(&endpoints(), &attempt("GET", "/user/7", ""));
    assert_eq!(misses.len(), MAX_NEAR_MISSES);
    // One similar segment beats a different shape and a different method.
    assert_eq!(misses[0].path, "/users/:id");
    let weights: Vec<usize> = misses.iter().map(|m| m.differences.len()).collect();
    assert_eq!(weights[0], 1, "{misses:#?}");
}

#[test]
fn percent_encoded_segments_are_compared_decoded() {
    let misses = near_misses(&endpoints(), &attempt("POST", "/%75sers", ""));
    assert_eq!(misses[0].path, "/users");
    assert!(
        misses[0]
            .differences
            .iter()
            .all(|d| matches!(d, Difference::BodyField { .. }))
    );
}

#[test]
fn secret_headers_are_redacted_whatever_their_case() {
    let marked = vec!["X-Session".to_owned()];
    let headers = redact_headers(
        [
            ("Authorization", "Bearer abc"),
            ("proxy-authorization", "Basic xyz"),
            ("Cookie", "sid=1"),
            ("set-cookie", "sid=2"),
            ("X-Api-Key", "k"),
            ("x-session", "s"),
            ("Accept", "application/json"),
        ],
        &marked,
    );
    let values: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            ("authorization", REDACTED),
            ("proxy-authorization", REDACTED),
            ("cookie", REDACTED),
            ("set-cookie", REDACTED),
            ("x-api-key", REDACTED),
            ("x-session", REDACTED),
            ("accept", "application/json"),
        ]
    );
}

#[test]
fn bodies_are_cut_at_the_limit_on_a_character_boundary() {
    let (small, cut) = recorded_body(b"{\"a\": 1}");
    assert_eq!((small.as_str(), cut), ("{\"a\": 1}", false));

    let exact = vec![b'x'; MAX_RECORDED_BODY];
    let (text, cut) = recorded_body(&exact);
    assert_eq!((text.len(), cut), (MAX_RECORDED_BODY, false));

    // 'é' is two bytes; the limit falls inside the last one.
    let mut long = vec![b'x'; MAX_RECORDED_BODY - 1];
    long.extend("é and more".as_bytes());
    let (text, cut) = recorded_body(&long);
    assert!(cut);
    assert_eq!(text.len(), MAX_RECORDED_BODY - 1);
    assert!(text.bytes().all(|b| b == b'x'));

    // Invalid bytes become U+FFFD, and the text still keeps to the limit.
    let invalid = vec![0xff; MAX_RECORDED_BODY];
    let (text, cut) = recorded_body(&invalid);
    assert!(cut && text.len() <= MAX_RECORDED_BODY && text.starts_with('\u{fffd}'));
}

#[test]
fn retention_keeps_what_is_younger_than_the_age() {
    let retention = Retention {
        max_records: 10,
        max_age: Duration::from_secs(60),
    };
    let now = Timestamp::from_unix_millis(1_000_000);
    assert!(retention.keeps(Timestamp::from_unix_millis(940_000), now));
    assert!(!retention.keeps(Timestamp::from_unix_millis(939_999), now));
    assert_eq!(Retention::default().max_records, 1_000);
}

fn record(method: &str, path: &str, status: u16) -> RequestRecord {
    RequestRecord {
        at: Timestamp::from_unix_millis(0),
        host: "a.example".into(),
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: Vec::new(),
        body: String::new(),
        body_truncated: false,
        status,
        matched: None,
        near_misses: Vec::new(),
        duration_us: 1_500,
        client: None,
    }
}

#[test]
fn filters_admit_by_method_status_and_path_prefix() {
    let get = record("GET", "/users/1", 200);
    let post = record("POST", "/orders", 404);
    let by_method = JournalFilter {
        method: Some("get".into()),
        ..JournalFilter::default()
    };
    assert!(by_method.admits(&get) && !by_method.admits(&post));
    let by_status = JournalFilter {
        status: Some(404),
        ..JournalFilter::default()
    };
    assert!(!by_status.admits(&get) && by_status.admits(&post));
    let by_prefix = JournalFilter {
        path_prefix: Some("/users".into()),
        ..JournalFilter::default()
    };
    assert!(by_prefix.admits(&get) && !by_prefix.admits(&post));
    assert!(JournalFilter::default().admits(&post));
    assert!((get.duration_ms() - 1.5).abs() < f64::EPSILON);
}

#[test]
fn a_record_reads_back_from_json() {
    let mut original = record("GET", "/users/1", 404);
    original.near_misses = near_misses(&endpoints(), &attempt("GET", "/users/1/x", ""));
    original.matched = Some(Matched {
        endpoint: 2,
        line: 14,
    });
    let text = serde_json::to_string(&original).expect("serializes");
    assert!(text.contains(r#""kind":"path-length""#), "{text}");
    let back: RequestRecord = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, original);
}

#[test]
fn item_lines_turn_a_generated_objects_indexes_into_the_users_lines() {
    let spec = parse_yaml(SPEC, &Limits::default()).expect("the spec reads");
    let lines = ItemLines::of(&spec);
    assert_eq!(
        (lines.line(0), lines.line(1), lines.line(3), lines.line(9)),
        (Some(1), Some(6), Some(20), None)
    );
    let mut record = RequestRecord {
        at: crate::Timestamp::from_unix_millis(0),
        host: "h".into(),
        method: "GET".into(),
        path: "/user/7".into(),
        query: String::new(),
        headers: Vec::new(),
        body: String::new(),
        body_truncated: false,
        status: 404,
        matched: Some(Matched {
            endpoint: 1,
            line: 3,
        }),
        near_misses: near_misses(&endpoints(), &attempt("GET", "/user/7", "")),
        duration_us: 1,
        client: None,
    };
    for miss in &mut record.near_misses {
        miss.line = 1_000;
    }
    record.matched.as_mut().unwrap().line = 3;
    lines.relocate(&mut record);
    assert_eq!(record.matched.unwrap().line, 6);
    assert!(
        record
            .near_misses
            .iter()
            .all(|m| Some(m.line) == lines.line(m.endpoint))
    );
    assert!(!record.near_misses.is_empty());
}
