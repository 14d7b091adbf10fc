//! WebSocket endpoints on a real socket: the greeting on connect, responses for matching
//! messages in order, JSON messages usable as json-params.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::{SinkExt, StreamExt};
use moclojer_domain::spec::Mode;
use moclojer_foss::{ServeOptions, SharedEngine, serve_with};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Req, engine_with, options, send};

const SPEC: &str = r#"
- websocket:
    path: /ws/:room
    on-connect:
      response: '{"status": "connected", "room": "{{path-params.room}}", "who": "{{query-params.who}}"}'
    on-message:
      - pattern: ping
        response: pong
      - pattern: '\{.*\}'
        response: '{"echo": "{{json-params.echo}}"}'
      - pattern: '.*'
        response: 'got {{message}}'
"#;

async fn next_text(
    stream: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> String {
    let message = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("ok");
    message.into_text().expect("text").to_string()
}

#[tokio::test]
async fn a_websocket_greets_and_answers_in_order() {
    let engine: SharedEngine = Arc::new(ArcSwap::from_pointee(engine_with(
        SPEC,
        options(Mode::Standalone),
    )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(serve_with(
        listener,
        engine,
        ServeOptions::default(),
        std::future::pending(),
    ));

    let (mut ws, response) =
        tokio_tungstenite::connect_async(format!("ws://{address}/ws/lobby?who=ana"))
            .await
            .expect("handshake");
    assert_eq!(response.status(), 101);
    let greeting: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await).expect("JSON greeting");
    assert_eq!(
        greeting,
        serde_json::json!({"status": "connected", "room": "lobby", "who": "ana"})
    );

    ws.send(Message::text("ping")).await.expect("send");
    assert_eq!(
        next_text(&mut ws).await,
        "pong",
        "the first matching entry answers first"
    );
    assert_eq!(
        next_text(&mut ws).await,
        "got ping",
        "every matching entry answers, in order"
    );

    ws.send(Message::text(r#"{"echo": "hi \"there\""}"#))
        .await
        .expect("send");
    let echo: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await).expect("JSON echo");
    assert_eq!(
        echo,
        serde_json::json!({"echo": "hi \"there\""}),
        "json-params come from a JSON message, escaped as JSON"
    );
    assert!(next_text(&mut ws).await.starts_with("got {"));

    ws.send(Message::text("pingpong")).await.expect("send");
    assert_eq!(
        next_text(&mut ws).await,
        "got pingpong",
        "patterns match the whole message"
    );
    ws.close(None).await.ok();
}

#[tokio::test]
async fn a_plain_get_of_a_websocket_path_gets_the_greeting() {
    let engine = engine_with(SPEC, options(Mode::Standalone));
    let res = send(&engine, Req::get("/ws/hall")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["room"], "hall");
    let other = send(&engine, Req::get("/nope")).await;
    assert_eq!(other.status, 404);
}

#[test]
fn in_cloud_mode_a_websocket_without_a_host_is_refused_like_an_endpoint() {
    use moclojer_domain::spec::{self, Limits, Mode};

    let source = "- websocket:\n    path: /ws\n    on-connect:\n      response: hi\n";
    let spec = spec::parse_yaml(source, &Limits::default()).expect("parses");
    let refused = moclojer_foss::Engine::build(spec.clone(), crate::helpers::options(Mode::Cloud))
        .expect_err("a host-less websocket in cloud mode");
    let error = refused.iter().find(|d| d.is_error()).expect("an error");
    assert!(
        error.message.contains("every websocket has a host"),
        "{refused:#?}"
    );
    assert_eq!(error.line, 1);
    moclojer_foss::Engine::build(spec, crate::helpers::options(Mode::Standalone))
        .expect("standalone serves it on any host");
    let hosted = source.replace("    path: /ws", "    host: a-b.localhost\n    path: /ws");
    let hosted = spec::parse_yaml(&hosted, &Limits::default()).expect("parses");
    moclojer_foss::Engine::build(hosted, crate::helpers::options(Mode::Cloud))
        .expect("with a host");
}
