//! Hostile specs and templates are refused or stopped with a clear error, fast, and the
//! process goes on.

use std::time::Instant;

use moclojer_domain::TrustedProxies;
use moclojer_domain::spec::{self, Limits, Mode};
use moclojer_foss::EngineOptions;

use crate::helpers::{Req, engine, engine_with, options, send};

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

#[tokio::test]
async fn behind_a_trusted_proxy_the_rate_limit_counts_the_client_it_names() {
    let spec = "- endpoint:\n    path: /limited\n    rate-limit:\n      window-ms: 60000\n      \
                max-requests: 1\n    response:\n      body: ok\n";
    // Requests come from 127.0.0.1, the proxy.
    let engine = engine_with(
        spec,
        EngineOptions {
            trusted_proxies: TrustedProxies::loopback(),
            ..options(Mode::Standalone)
        },
    );
    let from = |client: &str| Req::get("/limited").header("x-real-ip", client);
    assert_eq!(send(&engine, from("198.51.100.1")).await.status, 200);
    assert_eq!(send(&engine, from("198.51.100.1")).await.status, 429);
    assert_eq!(send(&engine, from("198.51.100.2")).await.status, 200);
    // Without the header (or with one that is no address) the proxy is the client.
    assert_eq!(send(&engine, Req::get("/limited")).await.status, 200);
    assert_eq!(send(&engine, from("nobody")).await.status, 429);

    // From a peer that is not trusted, X-Real-IP is the client's own claim: a new one each
    // time does not buy a new count.
    let outsider = |client: &str| Req {
        remote: "203.0.113.9:4000".parse().expect("address"),
        ..from(client)
    };
    assert_eq!(send(&engine, outsider("198.51.100.3")).await.status, 200);
    assert_eq!(send(&engine, outsider("198.51.100.4")).await.status, 429);
}
