//! Shared set-up: a fake API, an egress guard to reach it, and adapters over both.

use std::sync::Arc;
use std::time::Duration;

use moclojer_digitalocean::{
    ApiToken, DigitalOceanApps, DigitalOceanConfig, DigitalOceanDns, RetryPolicy,
};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_ports::{HttpClient, HttpRequest};
use moclojer_testkit::fakes::digitalocean::FakeDigitalOcean;
use serde_json::Value;

pub(crate) const ZONE: &str = "moclojer.test";
pub(crate) const APP_ID: &str = "6a3c1f2e-1b2c-4d5e-8f90-123456789abc";
pub(crate) const TOKEN: &str = "dop_v1_0123456789abcdefsecret";

pub(crate) async fn fake() -> FakeDigitalOcean {
    FakeDigitalOcean::start(ZONE, APP_ID, TOKEN).await
}

pub(crate) fn http() -> Arc<dyn HttpClient> {
    Arc::new(Egress::new(EgressConfig::open()).expect("egress"))
}

pub(crate) fn config(fake: &FakeDigitalOcean, token: &str) -> DigitalOceanConfig {
    DigitalOceanConfig {
        base_url: fake.base_url(),
        token: ApiToken::new(token),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
        },
    }
}

pub(crate) fn dns(fake: &FakeDigitalOcean) -> DigitalOceanDns {
    DigitalOceanDns::new(http(), &config(fake, TOKEN), ZONE).expect("dns adapter")
}

pub(crate) fn apps(fake: &FakeDigitalOcean) -> DigitalOceanApps {
    DigitalOceanApps::new(http(), &config(fake, TOKEN), APP_ID).expect("apps adapter")
}

/// One request straight to the fake, as any client would send it.
pub(crate) async fn raw(
    fake: &FakeDigitalOcean,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let response = http()
        .send(HttpRequest {
            method,
            url: format!("{}{path}", fake.base_url()),
            headers,
            body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        })
        .await
        .expect("the fake answers");
    let json = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body).expect("the fake answers JSON")
    };
    (response.status, json)
}
