//! The template context of a request: `path-params`, `query-params`, `json-params`,
//! `header-params`, with declared types coerced.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Number, Value};

use moclojer_domain::spec::{ParamType, QueryParam};

use crate::request::{percent_decode, query_pairs};

/// A value that does not fit its declared type, or a declared query parameter that is
/// missing: the request is refused with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// `path-params`, `query-params` or `json-params`.
    pub(crate) place: &'static str,
    /// The parameter or field.
    pub(crate) name: String,
    /// What is wrong, e.g. "should be an int".
    pub(crate) problem: String,
}

impl Refusal {
    pub(crate) fn new(
        place: &'static str,
        name: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            place,
            name: name.into(),
            problem: problem.into(),
        }
    }

    /// The 400 body: close to the original's coercion errors.
    pub(crate) fn body(refusals: &[Refusal]) -> String {
        let mut humanized = Map::new();
        for r in refusals {
            let entry = humanized
                .entry(r.name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(Value::String(r.problem.clone()));
            }
        }
        let place = refusals.first().map_or("request", |r| r.place);
        serde_json::json!({
            "type": "request-coercion",
            "in": ["request", place],
            "humanized": humanized,
        })
        .to_string()
    }
}

/// `path-params`, as its fields in path order: each raw segment of `raw`, percent-decoded
/// and coerced to the type `declared` for it. A value that does not fit is left out, and
/// refused in `refusals`.
pub(crate) fn path_params<'d>(
    declared: &'d [(String, ParamType)],
    raw: &[&str],
    refusals: &mut Vec<Refusal>,
) -> Vec<(&'d str, Value)> {
    let mut params = Vec::with_capacity(declared.len().min(raw.len()));
    for ((name, ty), raw) in declared.iter().zip(raw) {
        let decoded = percent_decode(raw);
        match coerce(&decoded, *ty) {
            Ok(value) => params.push((name.as_str(), value)),
            Err(problem) => refusals.push(Refusal::new("path-params", name.clone(), problem)),
        }
    }
    params
}

/// `query-params`: the pairs of `query`, a repeated key as a list of its values, with the
/// `declared` parameters coerced to their types. A declared parameter missing, repeated
/// or not fitting its type is refused in `refusals`.
pub(crate) fn query_params(
    query: &str,
    declared: &[QueryParam],
    refusals: &mut Vec<Refusal>,
) -> Map<String, Value> {
    let mut params = Map::new();
    for (key, value) in &query_pairs(query) {
        match params.get_mut(key) {
            None => {
                params.insert(key.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(list)) => list.push(Value::String(value.clone())),
            Some(first) => {
                let earlier = first.take();
                *first = Value::Array(vec![earlier, Value::String(value.clone())]);
            }
        }
    }
    for declared in declared {
        let refuse = |problem| Refusal::new("query-params", declared.name.clone(), problem);
        match params.get(&declared.name) {
            None => refusals.push(refuse("missing required key")),
            Some(Value::String(raw)) => match coerce(raw, declared.ty) {
                Ok(value) => {
                    params.insert(declared.name.clone(), value);
                }
                Err(problem) => refusals.push(refuse(problem)),
            },
            Some(_) => refusals.push(refuse("should be a single value")),
        }
    }
    params
}

/// `json-params`: the request's body, when its content type is JSON and it is not empty,
/// checked against the endpoint's `example` when it gives one (a body missing or not
/// fitting it is refused in `refusals`).
///
/// # Errors
/// A body of a JSON content type that is not JSON: the one refusal of the request.
pub(crate) fn json_params(
    headers: &HeaderMap,
    body: &[u8],
    example: Option<&Value>,
    refusals: &mut Vec<Refusal>,
) -> Result<Option<Value>, Refusal> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|content_type| is_json_media(&media_type(content_type)));
    let parsed = if is_json && !body.is_empty() {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => Some(value),
            Err(_) => return Err(Refusal::new("json-params", "body", "malformed JSON")),
        }
    } else {
        None
    };
    if let Some(example) = example {
        match &parsed {
            Some(value) => check_against_example(value, example, "", refusals),
            None => refusals.push(Refusal::new(
                "json-params",
                "body",
                "a JSON body is required",
            )),
        }
    }
    Ok(parsed)
}

/// `header-params`: the request's header fields whose value is text, the first of each
/// name.
pub(crate) fn header_params(headers: &HeaderMap) -> Map<String, Value> {
    let mut params = Map::new();
    for (name, value) in headers {
        if let Ok(text) = value.to_str() {
            params
                .entry(name.as_str().to_owned())
                .or_insert_with(|| Value::String(text.to_owned()));
        }
    }
    params
}

/// The media type of a `Content-Type` value, lowercased, without its parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether `media_type` (lowercased) is JSON: `application/json` or `…+json`.
pub(crate) fn is_json_media(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Coerces one text value to `ty`.
pub(crate) fn coerce(raw: &str, ty: ParamType) -> Result<Value, &'static str> {
    match ty {
        ParamType::String => Ok(Value::String(raw.to_owned())),
        ParamType::Int => {
            let digits = raw.strip_prefix('+').unwrap_or(raw);
            digits
                .parse::<i64>()
                .map(|n| Value::Number(n.into()))
                .map_err(|_| "should be an int")
        }
        ParamType::Bool => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("should be a boolean"),
        },
        ParamType::Float | ParamType::Double => raw
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or("should be a number"),
        ParamType::Uuid => {
            let ok = raw.len() == 36
                && raw.char_indices().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if ok {
                Ok(Value::String(raw.to_owned()))
            } else {
                Err("should be a uuid")
            }
        }
        ParamType::Date => {
            let b = raw.as_bytes();
            let shaped = b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
            let month = raw
                .get(5..7)
                .and_then(|m| m.parse::<u8>().ok())
                .unwrap_or(0);
            let day = raw
                .get(8..10)
                .and_then(|d| d.parse::<u8>().ok())
                .unwrap_or(0);
            if shaped && (1..=12).contains(&month) && (1..=31).contains(&day) {
                Ok(Value::String(raw.to_owned()))
            } else {
                Err("should be a date (YYYY-MM-DD)")
            }
        }
    }
}

/// Checks a JSON body against the example the endpoint gives: every field of the example
/// must be present with the example's type (numbers: an integer example wants an integer).
pub(crate) fn check_against_example(
    body: &Value,
    example: &Value,
    path: &str,
    out: &mut Vec<Refusal>,
) {
    match (example, body) {
        (Value::Object(shape), Value::Object(given)) => {
            for (key, expected) in shape {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match given.get(key) {
                    None => out.push(Refusal::new("json-params", field, "missing required key")),
                    Some(value) => check_against_example(value, expected, &field, out),
                }
            }
        }
        (Value::Array(shape), Value::Array(given)) => {
            if let Some(first) = shape.first() {
                for (i, item) in given.iter().enumerate() {
                    check_against_example(item, first, &format!("{path}.{i}"), out);
                }
            }
        }
        (Value::Null, _) => {}
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Number(e), Value::Number(g)) => {
            if (e.is_i64() || e.is_u64()) && !(g.is_i64() || g.is_u64()) {
                out.push(Refusal::new("json-params", path, "should be an int"));
            }
        }
        (expected, _) => {
            let kind = match expected {
                Value::Object(_) => "should be a map",
                Value::Array(_) => "should be a list",
                Value::String(_) => "should be a string",
                Value::Bool(_) => "should be a boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "should be an int",
                _ => "should be a number",
            };
            out.push(Refusal::new(
                "json-params",
                if path.is_empty() { "body" } else { path },
                kind,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercion() {
        let ok: &[(&str, ParamType, Value)] = &[
            ("42", ParamType::Int, json!(42)),
            ("007", ParamType::Int, json!(7)),
            ("+5", ParamType::Int, json!(5)),
            ("-3", ParamType::Int, json!(-3)),
            ("true", ParamType::Bool, json!(true)),
            ("2.5", ParamType::Double, json!(2.5)),
            ("10", ParamType::Float, json!(10.0)),
            ("x y", ParamType::String, json!("x y")),
            (
                "0190f5c4-7e1b-7cc0-8000-000000000001",
                ParamType::Uuid,
                json!("0190f5c4-7e1b-7cc0-8000-000000000001"),
            ),
            ("2026-11-29", ParamType::Date, json!("2026-11-29")),
        ];
        for (raw, ty, expected) in ok {
            assert_eq!(coerce(raw, *ty).as_ref(), Ok(expected), "{raw} as {ty:?}");
        }
        let bad: &[(&str, ParamType)] = &[
            ("abc", ParamType::Int),
            ("4.2", ParamType::Int),
            ("", ParamType::Int),
            ("yes", ParamType::Bool),
            ("TRUE", ParamType::Bool),
            ("x", ParamType::Double),
            ("NaN", ParamType::Double),
            ("not-a-uuid", ParamType::Uuid),
            ("2026-13-01", ParamType::Date),
            ("29/11/2026", ParamType::Date),
        ];
        for (raw, ty) in bad {
            assert!(coerce(raw, *ty).is_err(), "{raw} as {ty:?}");
        }
    }

    #[test]
    fn bodies_against_examples() {
        let example =
            json!({"name": "x", "age": 1, "tags": ["a"], "address": {"city": "c"}, "score": 1.5});
        let mut out = Vec::new();
        check_against_example(
            &json!({"name": "n", "age": 3, "tags": [], "address": {"city": "d"}, "score": 2, "extra": 1}),
            &example,
            "",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        check_against_example(
            &json!({"name": 1, "age": 1.5, "tags": [2], "address": {}}),
            &example,
            "",
            &mut out,
        );
        let problems: Vec<(String, String)> = out
            .iter()
            .map(|r| (r.name.clone(), r.problem.clone()))
            .collect();
        assert_eq!(
            problems,
            [
                ("name".to_owned(), "should be a string".to_owned()),
                ("age".to_owned(), "should be an int".to_owned()),
                ("tags.0".to_owned(), "should be a string".to_owned()),
                ("address.city".to_owned(), "missing required key".to_owned()),
                ("score".to_owned(), "missing required key".to_owned()),
            ]
        );
        let mut top = Vec::new();
        check_against_example(&json!([1]), &example, "", &mut top);
        assert_eq!(top[0].problem, "should be a map");
    }

    #[test]
    fn refusal_body_shape() {
        let body = Refusal::body(&[Refusal::new("path-params", "id", "should be an int")]);
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value["humanized"]["id"][0], "should be an int");
        assert_eq!(value["in"][1], "path-params");
    }
}
