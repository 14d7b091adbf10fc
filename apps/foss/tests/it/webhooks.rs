//! Webhooks arrive at a local receiver with the rendered body, after the delay, when the
//! condition holds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use moclojer_domain::spec::Mode;
use moclojer_egress::{Egress, EgressConfig};
use moclojer_foss::EngineOptions;
use tokio::sync::mpsc;

use crate::helpers::{Req, engine_with, options, send};

#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    content_type: Option<String>,
    token: Option<String>,
    body: String,
    at: Instant,
}

async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let header = |name: &str| {
                                parts
                                    .headers
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            tx.send(Received {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                content_type: header("content-type"),
                                token: header("x-token"),
                                body: String::from_utf8_lossy(&body).into_owned(),
                                at: Instant::now(),
                            })
                            .ok();
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                                b"ok",
                            ))))
                        }
                    },
                );
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await
                    .ok();
            });
        }
    });
    (address, rx)
}

fn spec(receiver: SocketAddr) -> String {
    format!(
        r#"
- endpoint:
    method: POST
    path: /orders/:id
    response:
      status: 202
      body: '{{"accepted": {{{{path-params.id}}}}}}'
    webhook:
      url: http://{receiver}/hooks/{{{{path-params.id}}}}
      method: PUT
      sleep-time: 300
      headers:
        X-Token: "{{{{header-params.x-token}}}}"
      body: '{{"order": {{{{path-params.id}}}}, "item": "{{{{json-params.item}}}}"}}'
      if: path-params.id = 7
"#
    )
}

#[tokio::test]
async fn a_webhook_arrives_rendered_after_its_delay() {
    let (address, mut received) = receiver().await;
    let egress = Egress::new(EgressConfig::open()).expect("egress");
    let engine = engine_with(
        &spec(address),
        EngineOptions {
            egress: Some(egress),
            ..options(Mode::Standalone)
        },
    );

    let sent_at = Instant::now();
    let res = send(
        &engine,
        Req::get("/orders/7")
            .method("POST")
            .header("x-token", "t-1")
            .json(r#"{"item": "book"}"#),
    )
    .await;
    assert_eq!(res.status, 202, "{}", res.body);
    assert!(
        sent_at.elapsed() < Duration::from_millis(250),
        "the response does not wait for the webhook"
    );

    let hook = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the webhook arrived")
        .expect("hook");
    assert_eq!(hook.method, "PUT");
    assert_eq!(hook.path, "/hooks/7");
    assert_eq!(hook.content_type.as_deref(), Some("application/json"));
    assert_eq!(hook.token.as_deref(), Some("t-1"));
    let body: serde_json::Value = serde_json::from_str(&hook.body).expect("JSON body");
    assert_eq!(body, serde_json::json!({"order": 7, "item": "book"}));
    assert!(
        hook.at.duration_since(sent_at) >= Duration::from_millis(300),
        "sent after sleep-time"
    );

    // The condition is false for another id: nothing is sent.
    let res = send(
        &engine,
        Req::get("/orders/8")
            .method("POST")
            .json(r#"{"item": "pen"}"#),
    )
    .await;
    assert_eq!(res.status, 202);
    let nothing = tokio::time::timeout(Duration::from_millis(900), received.recv()).await;
    assert!(
        nothing.is_err(),
        "no webhook when the condition is false: {nothing:?}"
    );
}

#[tokio::test]
async fn a_strict_guard_refuses_a_loopback_webhook_and_the_response_is_unaffected() {
    let (address, mut received) = receiver().await;
    let egress = Egress::new(EgressConfig::strict()).expect("egress");
    let engine = engine_with(
        &spec(address),
        EngineOptions {
            egress: Some(egress),
            ..options(Mode::Standalone)
        },
    );
    let res = send(
        &engine,
        Req::get("/orders/7")
            .method("POST")
            .json(r#"{"item": "book"}"#),
    )
    .await;
    assert_eq!(res.status, 202);
    let nothing = tokio::time::timeout(Duration::from_millis(1200), received.recv()).await;
    assert!(
        nothing.is_err(),
        "the strict guard let a loopback webhook through"
    );
}

#[tokio::test]
async fn one_host_cannot_take_every_webhook_and_a_reload_does_not_reset_the_budget() {
    use moclojer_foss::{MAX_PENDING_WEBHOOKS_PER_HOST, WebhookBudget};
    // Every webhook waits a minute, holding its room all through the test.
    let spec = "- endpoint:\n    path: /h\n    response: {status: 200}\n    webhook:\n      url: http://127.0.0.1:9/never\n      sleep-time: 60000\n";
    let budget = WebhookBudget::default();
    let options = EngineOptions {
        egress: Some(Egress::new(EgressConfig::open()).expect("egress")),
        webhooks: budget.clone(),
        ..options(Mode::Standalone)
    };
    let engine = engine_with(spec, options.clone());
    for _ in 0..MAX_PENDING_WEBHOOKS_PER_HOST {
        assert_eq!(call(&engine, "greedy.test").await, 200);
    }
    assert_eq!(budget.pending("greedy.test"), MAX_PENDING_WEBHOOKS_PER_HOST);
    assert_eq!(budget.dropped(), 0);

    assert_eq!(
        call(&engine, "greedy.test").await,
        200,
        "the answer never waits"
    );
    assert_eq!(budget.dropped(), 1, "the host's room is used up");
    assert_eq!(call(&engine, "polite.test").await, 200);
    assert_eq!(
        budget.pending("polite.test"),
        1,
        "another host still has room"
    );

    // A publish builds a new engine on the same options: the room used stays used.
    let reloaded = engine_with(spec, options);
    assert_eq!(call(&reloaded, "greedy.test").await, 200);
    assert_eq!(budget.dropped(), 2);
    assert_eq!(budget.pending("greedy.test"), MAX_PENDING_WEBHOOKS_PER_HOST);
}

/// The status of `GET /h` on `engine` sent to `host`.
async fn call(engine: &moclojer_foss::Engine, host: &str) -> u16 {
    send(engine, Req::get("/h").host(host)).await.status
}
