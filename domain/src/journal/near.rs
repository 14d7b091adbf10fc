//! Near misses: for a request no endpoint answered, the endpoints that came closest and
//! what differed, as WireMock reports them. Each difference has a weight; the endpoints
//! with the smallest total come first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{Endpoint, Segment};

/// The most near misses a record keeps.
pub const MAX_NEAR_MISSES: usize = 3;

/// The request as near misses look at it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The method as sent.
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query string without `?`.
    pub query: &'a str,
    /// The body, when it is JSON.
    pub json: Option<&'a Value>,
}

/// One way a request differs from an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Difference {
    /// The endpoint wants another method.
    Method {
        /// The endpoint's method.
        expected: String,
        /// The request's.
        got: String,
    },
    /// The paths have different numbers of segments.
    PathLength {
        /// The endpoint's path.
        expected: String,
        /// The request's.
        got: String,
    },
    /// A path segment differs (1-based position).
    Segment {
        /// Which segment, 1-based.
        position: usize,
        /// The endpoint's segment.
        expected: String,
        /// The request's.
        got: String,
    },
    /// A query parameter the endpoint requires is missing.
    QueryParam {
        /// Its name.
        name: String,
    },
    /// A field of the endpoint's body example is missing from the request's JSON body.
    BodyField {
        /// Its name.
        name: String,
    },
}

impl Difference {
    /// How far this difference puts the request from the endpoint.
    fn weight(&self) -> f64 {
        match self {
            Difference::Method { .. } | Difference::QueryParam { .. } => 1.0,
            Difference::BodyField { .. } => 0.5,
            Difference::Segment { expected, got, .. } => {
                2.0 - strsim::normalized_levenshtein(expected, got)
            }
            Difference::PathLength { .. } => 4.0,
        }
    }

    /// The difference in words, for people.
    pub fn describe(&self) -> String {
        match self {
            Difference::Method { expected, got } => {
                format!("the method is {got}; this endpoint answers {expected}")
            }
            Difference::PathLength { expected, got } => {
                format!("the path {got} does not have the shape of {expected}")
            }
            Difference::Segment {
                position,
                expected,
                got,
            } => format!("path segment {position} is {got:?}; this endpoint wants {expected:?}"),
            Difference::QueryParam { name } => {
                format!("the query parameter {name:?} is required and missing")
            }
            Difference::BodyField { name } => {
                format!("the JSON body has no field {name:?}, which the endpoint's body has")
            }
        }
    }
}

/// An endpoint close to a request no endpoint answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearMiss {
    /// The endpoint's item index in the user's file, 0-based.
    pub endpoint: u32,
    /// The item's line, 1-based.
    pub line: u32,
    /// The endpoint's method.
    pub method: String,
    /// The endpoint's path as written.
    pub path: String,
    /// What differs, in the order method, path, query, body.
    pub differences: Vec<Difference>,
}

/// The endpoints of `endpoints` closest to `attempt`, closest first (ties in definition
/// order), at most [`MAX_NEAR_MISSES`]; an endpoint that matches the request entirely is not
/// a miss and is left out.
pub fn near_misses<'e>(
    endpoints: impl IntoIterator<Item = &'e Endpoint>,
    attempt: &Attempt<'_>,
) -> Vec<NearMiss> {
    let segments = request_segments(attempt.path);
    let mut scored: Vec<(f64, usize, NearMiss)> = endpoints
        .into_iter()
        .enumerate()
        .filter_map(|(at, endpoint)| {
            let differences = differences(endpoint, attempt, &segments);
            if differences.is_empty() {
                return None;
            }
            let weight = differences.iter().map(Difference::weight).sum();
            Some((
                weight,
                at,
                NearMiss {
                    endpoint: endpoint.item,
                    line: endpoint.line,
                    method: endpoint.method.as_str().to_owned(),
                    path: endpoint.path.raw.clone(),
                    differences,
                },
            ))
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(MAX_NEAR_MISSES)
        .map(|(_, _, miss)| miss)
        .collect()
}

fn differences(endpoint: &Endpoint, attempt: &Attempt<'_>, segments: &[String]) -> Vec<Difference> {
    let mut found = Vec::new();
    if !endpoint
        .method
        .as_str()
        .eq_ignore_ascii_case(attempt.method)
    {
        found.push(Difference::Method {
            expected: endpoint.method.as_str().to_owned(),
            got: attempt.method.to_owned(),
        });
    }
    let pattern = &endpoint.path.segments;
    if pattern.len() == segments.len() {
        for (i, (want, got)) in pattern.iter().zip(segments).enumerate() {
            let differs = match want {
                Segment::Static(s) => s != got,
                Segment::Param { .. } => got.is_empty(),
            };
            if differs {
                found.push(Difference::Segment {
                    position: i + 1,
                    expected: segment_text(want),
                    got: got.clone(),
                });
            }
        }
    } else {
        found.push(Difference::PathLength {
            expected: endpoint.path.raw.clone(),
            got: attempt.path.to_owned(),
        });
    }
    let given: Vec<String> = form_urlencoded::parse(attempt.query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect();
    for param in &endpoint.query {
        if !given.contains(&param.name) {
            found.push(Difference::QueryParam {
                name: param.name.clone(),
            });
        }
    }
    if let Some(Value::Object(example)) = &endpoint.body_example {
        let body = attempt.json.and_then(Value::as_object);
        for name in example.keys() {
            if body.is_none_or(|b| !b.contains_key(name)) {
                found.push(Difference::BodyField { name: name.clone() });
            }
        }
    }
    found
}

fn segment_text(segment: &Segment) -> String {
    match segment {
        Segment::Static(s) => s.clone(),
        Segment::Param { name, .. } => format!(":{name}"),
    }
}

/// The request path's segments after the leading `/`, percent-decoded, trailing empty ones
/// dropped (as route paths are read).
fn request_segments(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(percent_decoded)
        .collect();
    while segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    segments
}

fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
