//! What the Redis tests share: a plain client for looking behind an adapter's back.

use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::config::Config;
use fred::types::{ClusterHash, CustomCommand, Value};

/// A plain client, connected.
pub(crate) async fn raw_client(url: &str) -> Client {
    let client = Client::new(Config::from_url(url).expect("redis url"), None, None, None);
    client.init().await.expect("connect to the test redis");
    client
}

/// Runs `name args…` on `client`.
pub(crate) async fn raw(client: &Client, name: &'static str, args: Vec<Value>) -> Value {
    client
        .custom::<Value, Value>(
            CustomCommand::new_static(name, ClusterHash::FirstKey, false),
            args,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}
