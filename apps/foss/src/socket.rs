//! WebSocket endpoints (`- websocket:`): a message on connect, and for each text message the
//! response of every `on-message` entry whose pattern matches the whole message, in order.
//!
//! The context is the request's `path-params` and `query-params`, plus `message` (the text)
//! and `json-params` (the message parsed as JSON when it is JSON — the original passed the
//! raw text, so `{{json-params.x}}` never worked there). A JSON-looking template escapes
//! values as JSON.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use moclojer_domain::spec::{ParamType, WebSocket};
use moclojer_domain::template::{Env, Escape, RenderLimits, Template};
use regex::Regex;
use serde_json::{Map, Value};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// The largest message read from a client.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// A connection with no message for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// A websocket endpoint with its templates and patterns compiled.
#[derive(Debug)]
pub(crate) struct CompiledSocket {
    pub(crate) params: Vec<(String, ParamType)>,
    on_connect: Option<(Template, Escape)>,
    on_message: Vec<(Regex, Template, Escape)>,
}

fn escape_for(source: &str) -> Escape {
    let start = source.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        Escape::Json
    } else {
        Escape::None
    }
}

impl CompiledSocket {
    /// Compiles `socket`; what does not compile is left out with a message.
    pub(crate) fn compile(socket: &WebSocket) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let on_connect =
            socket
                .on_connect
                .as_deref()
                .and_then(|source| match Template::compile(source) {
                    Ok(t) => Some((t, escape_for(source))),
                    Err(e) => {
                        problems.push(format!("on-connect: {e}"));
                        None
                    }
                });
        let mut on_message = Vec::new();
        for (i, (pattern, response)) in socket.on_message.iter().enumerate() {
            let regex = match regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                .size_limit(256 * 1024)
                .build()
            {
                Ok(regex) => regex,
                Err(e) => {
                    problems.push(format!("on-message[{i}].pattern: {e}"));
                    continue;
                }
            };
            match Template::compile(response) {
                Ok(t) => on_message.push((regex, t, escape_for(response))),
                Err(e) => problems.push(format!("on-message[{i}].response: {e}")),
            }
        }
        let params = socket
            .path
            .params()
            .map(|(name, ty)| (name.to_owned(), ty))
            .collect();
        (
            Self {
                params,
                on_connect,
                on_message,
            },
            problems,
        )
    }

    /// The on-connect message, rendered (for a plain GET without upgrade, as the original
    /// answered).
    pub(crate) fn greeting(
        &self,
        context: &Value,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Option<Result<String, String>> {
        let (template, escape) = self.on_connect.as_ref()?;
        Some(
            template
                .render(context, *escape, env, limits)
                .map_err(|e| e.to_string()),
        )
    }

    /// Serves one upgraded connection until the client leaves or goes idle.
    pub(crate) async fn serve(
        self: Arc<Self>,
        upgraded: Upgraded,
        mut context: Value,
        env: Arc<dyn Env + Send + Sync>,
        limits: RenderLimits,
    ) {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let mut stream =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        if let Some(Ok(greeting)) = self.greeting(&context, env.as_ref(), &limits)
            && stream.send(Message::text(greeting)).await.is_err()
        {
            return;
        }
        loop {
            let next = tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await;
            let text = match next {
                Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
                Ok(Some(Ok(
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_),
                ))) => continue,
                Ok(Some(Ok(Message::Close(_))) | None) | Err(_) => break,
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %e, "websocket ended");
                    break;
                }
            };
            if let Value::Object(map) = &mut context {
                map.insert("message".to_owned(), Value::String(text.clone()));
                let parsed = serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|_| Value::String(text.clone()));
                map.insert("json-params".to_owned(), parsed);
            }
            for (regex, template, escape) in &self.on_message {
                if !regex.is_match(&text) {
                    continue;
                }
                let reply = match template.render(&context, *escape, env.as_ref(), &limits) {
                    Ok(reply) => reply,
                    Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
                };
                if stream.send(Message::text(reply)).await.is_err() {
                    return;
                }
            }
        }
        stream.close(None).await.ok();
    }
}

/// The context of a websocket connection: its typed path parameters and raw query.
pub(crate) fn context(path_params: Map<String, Value>, query: &str) -> Value {
    let mut query_params = Map::new();
    for (key, value) in crate::request::query_pairs(query) {
        query_params.entry(key).or_insert(Value::String(value));
    }
    serde_json::json!({ "path-params": path_params, "query-params": query_params })
}
