//! Hostile specs and templates are refused or stopped with a clear error, fast, and the
//! process goes on.

use std::time::Instant;

use moclojer_domain::spec::{self, Limits};

use crate::helpers::{Req, engine, send};

fn refused(source: &str) -> String {
    let started = Instant::now();
    let diagnostics = spec::parse_yaml(source, &Limits::default()).expect_err("refused");
    let elapsed = started.elapsed();
    // Not a benchmark: a guard against a refusal that only comes after the damage is done.
    assert!(elapsed.as_secs() < 5, "refusal took {elapsed:?}");
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_alias_bomb_is_refused() {
    let bomb = r#"
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;
    let message = refused(bomb);
    assert!(!message.is_empty());
}

#[test]
fn a_ten_megabyte_spec_is_refused_by_size() {
    let big = format!(
        "- endpoint:\n    path: /x\n    response:\n      body: '{}'\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let message = refused(&big);
    assert!(
        message.contains("bytes") || message.contains("large") || message.contains("size"),
        "{message}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let message = refused(&flow);
    assert!(
        message.contains("deep") || message.contains("nest") || message.contains("depth"),
        "{message}"
    );
    let dashes = format!("{}x\n", "- ".repeat(100_000));
    let message = refused(&dashes);
    assert!(!message.is_empty());
}

#[tokio::test]
async fn a_template_that_loops_forever_is_stopped() {
    let yaml = r#"
- endpoint:
    method: POST
    path: /loop
    response:
      body: '{% for a in json-params.xs %}{% for b in json-params.xs %}{% for c in json-params.xs %}{{a}}{{b}}{{c}}{% endfor %}{% endfor %}{% endfor %}'
- endpoint:
    path: /ok
    response:
      body: '{"ok": true}'
"#;
    let engine = engine(yaml);
    let xs: Vec<u32> = (0..2_000).collect();
    let body = serde_json::json!({ "xs": xs }).to_string();
    let started = Instant::now();
    let res = send(&engine, Req::get("/loop").method("POST").json(&body)).await;
    assert!(
        started.elapsed().as_secs() < 5,
        "stopped late: {:?}",
        started.elapsed()
    );
    assert_eq!(res.status, 500, "{}", res.body);
    assert!(
        res.body.contains("fuel") || res.body.contains("too large") || res.body.contains("limit"),
        "{}",
        res.body
    );
    let ok = send(&engine, Req::get("/ok")).await;
    assert_eq!(ok.status, 200, "the engine still serves");
}
