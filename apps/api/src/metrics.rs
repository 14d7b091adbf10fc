//! The api's Prometheus metrics at `GET /metrics`: requests by route, method and status,
//! and their latency as a histogram by route and method.
//!
//! A route is the operation's path template from the OpenAPI document
//! (`/api/v1/mocks/{id}/publish`), never the path a client sent, so ids and handles never
//! become label values; anything else (the web interface's files, unknown paths) is
//! `other`. The series are bounded by the number of operations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The histogram's upper bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route of every request no operation has.
const OTHER: &str = "other";

/// One route and method's latencies.
#[derive(Debug, Default, Clone)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counts and latencies of the api's requests.
#[derive(Debug)]
pub struct ApiMetrics {
    /// Each operation's path template, split into segments (`None` for a parameter).
    routes: Vec<(String, Vec<Option<String>>)>,
    counts: Mutex<BTreeMap<(String, String, u16), u64>>,
    latencies: Mutex<BTreeMap<(String, String), Latency>>,
}

impl ApiMetrics {
    /// Metrics for the operations `openapi` (the api's OpenAPI document, as JSON) lists.
    pub fn from_openapi(openapi: &str) -> Self {
        let paths: Vec<String> = serde_json::from_str::<serde_json::Value>(openapi)
            .ok()
            .and_then(|doc| {
                doc.get("paths")
                    .and_then(|p| p.as_object())
                    .map(|p| p.keys().cloned().collect())
            })
            .unwrap_or_default();
        let routes = paths
            .into_iter()
            .map(|template| {
                let segments = template
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                (template, segments)
            })
            .collect();
        Self {
            routes,
            counts: Mutex::new(BTreeMap::new()),
            latencies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The template of the operation `path` is for, or `other`; a literal segment beats
    /// a parameter (`/mocks/import` is not `/mocks/{id}`).
    fn route_of(&self, path: &str) -> &str {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let fits = |template: &[Option<String>]| {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
        };
        self.routes
            .iter()
            .filter(|(_, template)| fits(template))
            .max_by_key(|(_, template)| template.iter().filter(|t| t.is_some()).count())
            .map_or(OTHER, |(name, _)| name.as_str())
    }

    /// Counts one request to `path` answered with `status` after `seconds`.
    pub fn record(&self, method: &str, path: &str, status: u16, seconds: f64) {
        let route = self.route_of(path).to_owned();
        let method = method.to_owned();
        *lock(&self.counts)
            .entry((route.clone(), method.clone(), status))
            .or_default() += 1;
        let mut latencies = lock(&self.latencies);
        let latency = latencies.entry((route, method)).or_default();
        for (bucket, bound) in latency.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        latency.count += 1;
        latency.sum += seconds;
    }

    /// The metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP moclojer_api_requests_total Requests answered, by route, method and status.\n",
        );
        out.push_str("# TYPE moclojer_api_requests_total counter\n");
        for ((route, method, status), count) in lock(&self.counts).iter() {
            writeln!(
                out,
                "moclojer_api_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            )
            .ok();
        }
        out.push_str(
            "# HELP moclojer_api_request_duration_seconds Time to answer, by route and method.\n",
        );
        out.push_str("# TYPE moclojer_api_request_duration_seconds histogram\n");
        for ((route, method), latency) in lock(&self.latencies).iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (bound, count) in BUCKETS.iter().zip(latency.buckets) {
                writeln!(
                    out,
                    "moclojer_api_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                )
                .ok();
            }
            let (count, sum) = (latency.count, latency.sum);
            writeln!(
                out,
                "moclojer_api_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            )
            .ok();
            writeln!(
                out,
                "moclojer_api_request_duration_seconds_sum{{{labels}}} {sum}"
            )
            .ok();
            writeln!(
                out,
                "moclojer_api_request_duration_seconds_count{{{labels}}} {count}"
            )
            .ok();
        }
        out
    }
}

/// A poisoned lock still holds counts that were each written whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> ApiMetrics {
        ApiMetrics::from_openapi(
            r#"{"paths": {"/api/v1/mocks": {}, "/api/v1/mocks/{id}": {}, "/api/v1/mocks/import": {}, "/api/v1/mocks/{id}/publish": {}}}"#,
        )
    }

    #[test]
    fn paths_become_their_operation_s_template_and_literals_win() {
        let m = metrics();
        assert_eq!(m.route_of("/api/v1/mocks/0191-abc"), "/api/v1/mocks/{id}");
        assert_eq!(m.route_of("/api/v1/mocks/import"), "/api/v1/mocks/import");
        assert_eq!(
            m.route_of("/api/v1/mocks/x/publish"),
            "/api/v1/mocks/{id}/publish"
        );
        assert_eq!(m.route_of("/api/v1/mocks/"), "/api/v1/mocks");
        assert_eq!(m.route_of("/index.html"), OTHER);
        assert_eq!(m.route_of("/api/v1/mocks/x/y/z"), OTHER);
    }

    #[test]
    fn counts_and_buckets_are_rendered_cumulatively() {
        let m = metrics();
        m.record("GET", "/api/v1/mocks/a", 200, 0.003);
        m.record("GET", "/api/v1/mocks/b", 200, 0.2);
        m.record("GET", "/api/v1/mocks/c", 404, 20.0);
        let text = m.render();
        let route = r#"route="/api/v1/mocks/{id}",method="GET""#;
        for line in [
            format!(r#"moclojer_api_requests_total{{{route},status="200"}} 2"#),
            format!(r#"moclojer_api_requests_total{{{route},status="404"}} 1"#),
            format!(r#"moclojer_api_request_duration_seconds_bucket{{{route},le="0.005"}} 1"#),
            format!(r#"moclojer_api_request_duration_seconds_bucket{{{route},le="0.25"}} 2"#),
            format!(r#"moclojer_api_request_duration_seconds_bucket{{{route},le="10"}} 2"#),
            format!(r#"moclojer_api_request_duration_seconds_bucket{{{route},le="+Inf"}} 3"#),
            format!(r#"moclojer_api_request_duration_seconds_count{{{route}}} 3"#),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(!text.contains("/mocks/a\""), "no path becomes a label");
    }
}
