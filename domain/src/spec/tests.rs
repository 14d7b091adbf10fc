//! Tests of the spec model: every key and default, YAML 1.1 scalars, EDN, OpenAPI, every
//! diagnostic with its position, and the limits (which must answer fast: each limit test
//! completes in microseconds; a regression shows up as a hang or a stack overflow).

use super::tree::{Scalar, java_double, resolve_plain};
use super::*;
use crate::Severity;

pub(super) fn limits() -> Limits {
    Limits::default()
}

#[track_caller]
pub(super) fn ok(source: &str, format: Format) -> Spec {
    match check(source, format, Mode::Standalone, &limits()) {
        Ok((spec, _)) => spec,
        Err(diagnostics) => panic!("{source}\n{diagnostics:#?}"),
    }
}

#[track_caller]
pub(super) fn ok_yaml(source: &str) -> Spec {
    ok(source, Format::Yaml)
}

#[track_caller]
pub(super) fn endpoint(source: &str) -> Endpoint {
    let spec = ok_yaml(source);
    assert_eq!(spec.endpoints.len(), 1, "{spec:#?}");
    spec.endpoints.into_iter().next().expect("one endpoint")
}

pub(super) fn findings(source: &str, format: Format, mode: Mode) -> Vec<Diagnostic> {
    match check(source, format, mode, &limits()) {
        Ok((_, warnings)) => warnings,
        Err(diagnostics) => diagnostics,
    }
}

pub(super) fn yaml_findings(source: &str) -> Vec<Diagnostic> {
    findings(source, Format::Yaml, Mode::Standalone)
}

/// Asserts a finding with this severity at `line`:`column` whose message contains `needle`.
#[track_caller]
pub(super) fn expect(
    diagnostics: &[Diagnostic],
    severity: Severity,
    line: u32,
    column: u32,
    needle: &str,
) {
    assert!(
        diagnostics.iter().any(|d| d.severity == severity
            && d.line == line
            && d.column == column
            && d.message.contains(needle)),
        "no {severity:?} at {line}:{column} containing {needle:?} in\n{diagnostics:#?}"
    );
}

#[track_caller]
pub(super) fn expect_error(diagnostics: &[Diagnostic], line: u32, column: u32, needle: &str) {
    expect(diagnostics, Severity::Error, line, column, needle);
}

#[track_caller]
pub(super) fn expect_warning(diagnostics: &[Diagnostic], line: u32, column: u32, needle: &str) {
    expect(diagnostics, Severity::Warning, line, column, needle);
}

/// Wraps endpoint keys (indented by four spaces) into a one-item spec.
pub(super) fn one(keys: &str) -> String {
    format!("- endpoint:\n{keys}")
}

// ---------------------------------------------------------------------------------------
// the original's documentation: the annotated example, YAML and EDN
// ---------------------------------------------------------------------------------------

const ANNOTATED: &str = r#"- endpoint:
    method: POST                     # default GET; case-insensitive
    host: api.example.com            # parsed, not enforced at HEAD (§12)
    path: /users/:id|int/posts       # :param, :param|int|string|bool|float|double (§3)
    tag: users                       # Swagger tag only
    query:                           # declared query params: name -> type (§4.2)
      page: int
      q: string
    body: '{"title": "x", "draft": false}'   # example request body -> schema (§4.3)
    response:
      status: 201                    # default 200
      headers:                       # default Content-Type: application/json
        X-Id: 42                     # values stringified, not templated
      body: >                        # Selmer template; JSON text, YAML structure, or text (§6, §7)
        {"id": {{path-params.id}}, "title": "{{json-params.title}}", "page": {{query-params.page}}}
      # external-body: {provider: json|xlsx, path: <template>, sheet-name: <xlsx sheet>}  (§8)
    rate-limit: {window-ms: 60000, max-requests: 10, key-fn: remote-addr}   # §10
    webhook:                         # §9 (not executed at HEAD)
      url: http://127.0.0.1:9999/hook
      method: POST
      body: '{"id": {{path-params.id}}}'
      sleep-time: 1000
      if: path-params.id = 1
- websocket:                         # §13
    path: /ws/echo
    on-connect: {response: '{"status": "connected"}'}
    on-message:
      - {pattern: "ping", response: "pong"}
"#;

#[test]
fn the_annotated_example_reads_every_key() {
    let (spec, warnings) =
        check(ANNOTATED, Format::Yaml, Mode::Cloud, &limits()).expect("the example is valid");
    assert_eq!(warnings, []);
    let expected = Endpoint {
        item: 0,
        line: 1,
        host: Some("api.example.com".to_owned()),
        method: Method::Post,
        path: PathPattern {
            raw: "/users/:id|int/posts".to_owned(),
            segments: vec![
                Segment::Static("users".to_owned()),
                Segment::Param {
                    name: "id".to_owned(),
                    ty: ParamType::Int,
                },
                Segment::Static("posts".to_owned()),
            ],
        },
        query: vec![
            QueryParam {
                name: "page".to_owned(),
                ty: ParamType::Int,
            },
            QueryParam {
                name: "q".to_owned(),
                ty: ParamType::String,
            },
        ],
        body_example: Some(serde_json::json!({"title": "x", "draft": false})),
        response: Response {
            status: 201,
            headers: vec![("X-Id".to_owned(), "42".to_owned())],
            body: Body::Text(
                "{\"id\": {{path-params.id}}, \"title\": \"{{json-params.title}}\", \"page\": {{query-params.page}}}\n"
                    .to_owned(),
            ),
        },
        webhook: Some(Webhook {
            url: "http://127.0.0.1:9999/hook".to_owned(),
            method: Method::Post,
            headers: vec![],
            body: Some("{\"id\": {{path-params.id}}}".to_owned()),
            sleep_ms: 1000,
            condition: Some("path-params.id = 1".to_owned()),
        }),
        rate_limit: Some(RateLimit {
            window_ms: 60_000,
            max_requests: 10,
            key: RateKey::RemoteAddr,
        }),
        latency: None,
        tag: Some("users".to_owned()),
        secret_headers: Vec::new(),
        rules: Vec::new(),
        sequence: None,
        scenario: None,
    };
    assert_eq!(spec.endpoints, [expected]);
    assert_eq!(
        spec.websockets,
        [WebSocket {
            item: 1,
            line: 24,
            host: None,
            path: PathPattern::parse("/ws/echo").expect("a path"),
            on_connect: Some("{\"status\": \"connected\"}".to_owned()),
            on_message: vec![("ping".to_owned(), "pong".to_owned())],
        }]
    );
}

#[test]
fn the_edn_example_reads_like_the_yaml_one() {
    let spec = ok(
        r#"{:endpoint {:method :get
            :path "/pet/:id"
            :response {:status 200
                       :body {:id "{{path-params.id}}" :name "uber"}}}}
{:endpoint {:method "POST" :path "/pets" :response {:status 201}}}
"#,
        Format::Edn,
    );
    assert_eq!(spec.endpoints.len(), 2);
    let pet = &spec.endpoints[0];
    assert_eq!((pet.item, pet.line, pet.method), (0, 1, Method::Get));
    assert_eq!(pet.path.to_string(), "/pet/:id");
    assert_eq!(
        pet.response.body,
        Body::Text(r#"{"id":"{{path-params.id}}","name":"uber"}"#.to_owned())
    );
    let pets = &spec.endpoints[1];
    assert_eq!((pets.item, pets.line, pets.method), (1, 5, Method::Post));
    assert_eq!(pets.response.status, 201);
    assert_eq!(pets.response.body, Body::Absent);
}

#[test]
fn the_annotated_example_in_edn_gives_the_same_spec() {
    let edn = r#"
; the annotated example of the original's documentation, in EDN
{:endpoint {:method :post, :host "api.example.com", :path "/users/:id|int/posts", :tag "users"
            :query {:page :int, :q "string"}
            :body "{\"title\": \"x\", \"draft\": false}"
            :response {:status 201
                       :headers {:X-Id 42}
                       :body "{\"id\": {{path-params.id}}, \"title\": \"{{json-params.title}}\", \"page\": {{query-params.page}}}\n"}
            :rate-limit {:window-ms 60000 :max-requests 10 :key-fn :remote-addr}
            :webhook {:url "http://127.0.0.1:9999/hook" :method "POST"
                      :body "{\"id\": {{path-params.id}}}" :sleep-time 1000
                      :if "path-params.id = 1"}}}
#_{:endpoint {:path "/discarded"}}
{:websocket {:path "/ws/echo"
             :on-connect {:response "{\"status\": \"connected\"}"}
             :on-message [{:pattern "ping" :response "pong"}]}}
"#;
    let from_yaml = ok_yaml(ANNOTATED);
    let mut from_edn = ok(edn, Format::Edn);
    // Only the lines differ.
    from_edn.endpoints[0].line = 1;
    from_edn.websockets[0].line = 24;
    assert_eq!(from_edn, from_yaml);
}

// ---------------------------------------------------------------------------------------
// Keys and defaults
// ---------------------------------------------------------------------------------------

#[test]
fn a_minimal_endpoint_gets_the_defaults() {
    let endpoint = endpoint("- endpoint:\n    path: /hello\n");
    assert_eq!(endpoint.method, Method::Get);
    assert_eq!(endpoint.host, None);
    assert_eq!(endpoint.query, []);
    assert_eq!(endpoint.body_example, None);
    assert_eq!(endpoint.response, Response::default());
    assert_eq!(endpoint.response.status, 200);
    assert_eq!(endpoint.webhook, None);
    assert_eq!(endpoint.rate_limit, None, "no implicit rate limit");
    assert_eq!(endpoint.latency, None);
    assert_eq!(endpoint.tag, None);
}

#[test]
fn methods_are_case_insensitive_names_or_keywords() {
    let cases = [
        ("get", Method::Get),
        ("GET", Method::Get),
        ("Head", Method::Head),
        ("post", Method::Post),
        ("PUT", Method::Put),
        ("delete", Method::Delete),
        ("connect", Method::Connect),
        ("options", Method::Options),
        ("trace", Method::Trace),
        ("PaTcH", Method::Patch),
    ];
    for (name, method) in cases {
        let endpoint = endpoint(&one(&format!("    method: {name}\n    path: /m\n")));
        assert_eq!(endpoint.method, method, "{name}");
        assert_eq!(Method::parse(method.as_str()), Some(method));
        assert_eq!(method.to_string(), method.as_str());
    }
    let spec = ok("{:endpoint {:method :delete :path \"/m\"}}", Format::Edn);
    assert_eq!(spec.endpoints[0].method, Method::Delete);
}

#[test]
fn paths_parse_into_segments() {
    let cases: &[(&str, &str, usize)] = &[
        ("/", "/", 0),
        ("/slashy/", "/slashy", 1),
        ("/a//", "/a", 1),
        ("/users/:id", "/users/:id", 2),
        ("/pets/:id|int", "/pets/:id|int", 2),
        (
            "/pets/:number|int/:id|string/test",
            "/pets/:number|int/:id/test",
            4,
        ),
        ("/f/:x|float/:y|double", "/f/:x|float/:y|double", 3),
        ("/b/:x|bool/:y|boolean", "/b/:x|bool/:y|bool", 3),
        ("/u/:x|uuid/:d|date", "/u/:x|uuid/:d|date", 3),
        ("/i/:x|integer", "/i/:x|int", 2),
        ("/reitit/{id}", "/reitit/:id", 2),
        ("/a//b", "/a//b", 3),
    ];
    for (raw, shown, count) in cases {
        let path = PathPattern::parse(raw).expect(raw);
        assert_eq!(path.raw, *raw);
        assert_eq!(path.to_string(), *shown, "{raw}");
        assert_eq!(path.segments.len(), *count, "{raw}");
    }
    let path = PathPattern::parse("/users/:id|int/posts").expect("a path");
    assert_eq!(path.params().collect::<Vec<_>>(), [("id", ParamType::Int)]);
    assert!(path.same_route(&PathPattern::parse("/users/:user/posts").expect("a path")));
    assert!(!path.same_route(&PathPattern::parse("/users/me/posts").expect("a path")));
}

#[test]
fn the_root_path_is_mockable() {
    let endpoint = endpoint("- endpoint:\n    path: /\n    response:\n      body: home\n");
    assert_eq!(endpoint.path.segments, []);
    assert_eq!(endpoint.response.body, Body::Text("home".to_owned()));
}

#[test]
fn param_types_accept_both_spellings() {
    let cases = [
        ("string", ParamType::String),
        ("int", ParamType::Int),
        ("integer", ParamType::Int),
        ("bool", ParamType::Bool),
        ("boolean", ParamType::Bool),
        ("float", ParamType::Float),
        ("double", ParamType::Double),
        ("uuid", ParamType::Uuid),
        ("date", ParamType::Date),
        ("INT", ParamType::Int),
    ];
    for (name, ty) in cases {
        assert_eq!(ParamType::parse(name), Some(ty), "{name}");
    }
    assert_eq!(ParamType::parse("uuidd"), None);
    for ty in ParamType::ALL {
        assert_eq!(ParamType::parse(ty.as_str()), Some(ty));
    }
}

#[test]
fn query_params_are_declared_with_types() {
    let endpoint = endpoint(&one(
        "    path: /q\n    query:\n      page: int\n      on: boolean\n      id: uuid\n",
    ));
    assert_eq!(
        endpoint.query,
        [
            QueryParam {
                name: "page".to_owned(),
                ty: ParamType::Int
            },
            QueryParam {
                name: "on".to_owned(),
                ty: ParamType::Bool
            },
            QueryParam {
                name: "id".to_owned(),
                ty: ParamType::Uuid
            },
        ]
    );
}

#[test]
fn hosts_are_lowercased_without_port_or_trailing_dot() {
    let cases = [
        ("api.example.com", "api.example.com"),
        ("Api.Example.COM", "api.example.com"),
        ("api.example.com:8080", "api.example.com"),
        ("hello-alice.localhost.", "hello-alice.localhost"),
        ("'[::1]:8000'", "[::1]"),
    ];
    for (raw, host) in cases {
        let endpoint = endpoint(&one(&format!("    host: {raw}\n    path: /h\n")));
        assert_eq!(endpoint.host.as_deref(), Some(host), "{raw}");
    }
}

#[test]
fn response_status_and_headers() {
    let endpoint = endpoint(&one("    path: /r
    response:
      status: 0xC9
      headers:
        Content-Type: text/plain
        X-Id: 42
        X-Flag: yes
        X-Off: off
        X-Rate: 1.50
        X-Octal: 012
        X-Quoted: '012'
        X-Null: ~
        X-Big: 1e10
        X-Template: '{{path-params.id}}'
"));
    assert_eq!(endpoint.response.status, 201, "YAML 1.1 hex int");
    let headers: Vec<(&str, &str)> = endpoint
        .response
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Content-Type", "text/plain"),
            ("X-Id", "42"),
            ("X-Flag", "true"),
            ("X-Off", "false"),
            ("X-Rate", "1.5"),
            ("X-Octal", "10"),
            ("X-Quoted", "012"),
            ("X-Null", ""),
            ("X-Big", "1.0E10"),
            ("X-Template", "{{path-params.id}}"),
        ]
    );
    let spec = ok(
        "{:endpoint {:path \"/e\" :response {:headers {:X-Kind :json :X-N 7 :X-B true}}}}",
        Format::Edn,
    );
    assert_eq!(
        spec.endpoints[0].response.headers,
        [
            ("X-Kind".to_owned(), ":json".to_owned()),
            ("X-N".to_owned(), "7".to_owned()),
            ("X-B".to_owned(), "true".to_owned()),
        ]
    );
}

#[test]
fn bodies_are_text_or_json_text() {
    let cases: &[(&str, Body)] = &[
        ("body: pong", Body::Text("pong".to_owned())),
        ("body: 'OK'", Body::Text("OK".to_owned())),
        ("body: \"012\"", Body::Text("012".to_owned())),
        ("body: 012", Body::Text("10".to_owned())),
        ("body: 42", Body::Text("42".to_owned())),
        ("body: 2.50", Body::Text("2.5".to_owned())),
        ("body: yes", Body::Text("true".to_owned())),
        ("body: ~", Body::Absent),
        ("body:", Body::Absent),
        (
            "body: {b: 1, a: [x, 2, true, null], c: {d: off}}",
            Body::Text(r#"{"b":1,"a":["x",2,true,null],"c":{"d":false}}"#.to_owned()),
        ),
        (
            "body: {on: 1, 'on': 2, no: NO}",
            Body::Text(r#"{"true":1,"on":2,"false":false}"#.to_owned()),
        ),
        (
            "body: [{id: '{{path-params.id}}'}]",
            Body::Text(r#"[{"id":"{{path-params.id}}"}]"#.to_owned()),
        ),
        (
            "body: '{\"id\": {{path-params.id}}}'",
            Body::Text(r#"{"id": {{path-params.id}}}"#.to_owned()),
        ),
    ];
    for (line, body) in cases {
        let endpoint = endpoint(&one(&format!(
            "    path: /b\n    response:\n      {line}\n"
        )));
        assert_eq!(&endpoint.response.body, body, "{line}");
    }
    let literal = endpoint(&one(
        "    path: /b\n    response:\n      body: |\n        {\"a\": 1,\n         \"b\": 2}\n",
    ));
    assert_eq!(
        literal.response.body,
        Body::Text("{\"a\": 1,\n \"b\": 2}\n".to_owned())
    );
}

#[test]
fn edn_bodies_encode_keywords_sets_and_lists_as_json() {
    let spec = ok(
        r#"{:endpoint {:path "/e"
            :response {:body {:kw :value, :set #{1}, :list (1 2.5 nil), :ns/key "x",
                              :str "tab\there \"q\" \u00e9", :big 12N, :dec 1.5M}}}}"#,
        Format::Edn,
    );
    assert_eq!(
        spec.endpoints[0].response.body,
        Body::Text(
            r#"{"kw":"value","set":[1],"list":[1,2.5,null],"ns/key":"x","str":"tab\there \"q\" é","big":12,"dec":1.5}"#
                .to_owned()
        )
    );
}

#[test]
fn a_body_example_must_be_a_json_string() {
    let good = endpoint(&one(
        "    path: /x\n    body: '{\"age\": 0, \"tags\": [\"a\"]}'\n",
    ));
    assert_eq!(
        good.body_example,
        Some(serde_json::json!({"age": 0, "tags": ["a"]}))
    );

    let source = one("    path: /x\n    body: '{\"a\": }'\n");
    let diagnostics = yaml_findings(&source);
    expect_warning(
        &diagnostics,
        3,
        18,
        "`body` (a request body example) is not valid JSON",
    );
    let (spec, _) = check(&source, Format::Yaml, Mode::Cloud, &limits()).expect("only a warning");
    assert_eq!(spec.endpoints[0].body_example, None);

    let diagnostics = yaml_findings(&one("    path: /x\n    body: {a: 1}\n"));
    expect_warning(&diagnostics, 3, 11, "must be a JSON string");
}

#[test]
fn external_bodies() {
    let cases: &[(&str, Provider, Option<&str>)] = &[
        (
            "{provider: json, path: data/users.json}",
            Provider::Json,
            None,
        ),
        (
            "{provider: JSON, path: 'https://x.test/u.json'}",
            Provider::Json,
            None,
        ),
        (
            "{provider: yaml, path: data/users.yml}",
            Provider::Yaml,
            None,
        ),
        (
            "{provider: xlsx, path: data/users.xlsx, sheet-name: Sheet1}",
            Provider::Xlsx,
            Some("Sheet1"),
        ),
        (
            "{provider: xml, path: data/users.xml}",
            Provider::Unknown("xml".to_owned()),
            None,
        ),
    ];
    for (map, provider, sheet) in cases {
        let source = one(&format!(
            "    path: /x\n    response:\n      external-body: {map}\n"
        ));
        let spec = ok_yaml(&source);
        let Body::External(external) = &spec.endpoints[0].response.body else {
            panic!("{map}: {:?}", spec.endpoints[0].response.body);
        };
        assert_eq!(&external.provider, provider);
        assert_eq!(external.sheet_name.as_deref(), *sheet);
    }

    let unknown = yaml_findings(&one(
        "    path: /x\n    response:\n      external-body: {provider: jsn, path: a.json}\n",
    ));
    expect_warning(&unknown, 4, 33, "unknown provider `jsn`");
    expect_warning(&unknown, 4, 33, "Did you mean `json`?");

    let both = yaml_findings(&one(
        "    path: /x\n    response:\n      body: hi\n      external-body: {provider: json, path: a.json}\n",
    ));
    expect_warning(&both, 4, 13, "`external-body` takes precedence");

    let no_path = yaml_findings(&one(
        "    path: /x\n    response:\n      external-body: {provider: json}\n",
    ));
    expect_error(&no_path, 4, 22, "`external-body` needs a `path`");
}

#[test]
fn local_external_bodies_are_refused_in_the_cloud_only() {
    let local = one(
        "    path: /x\n    response:\n      external-body:\n        provider: json\n        path: data/{{path-params.id}}.json\n",
    );
    let cloud = findings(&local, Format::Yaml, Mode::Cloud);
    expect_error(
        &cloud,
        6,
        15,
        "local files are not available in the hosted service",
    );
    assert_eq!(
        cloud[0].key.as_deref(),
        Some("endpoint.response.external-body.path")
    );
    assert!(check(&local, Format::Yaml, Mode::Standalone, &limits()).is_ok());

    let remote = local.replace("data/", "https://files.example.com/");
    assert!(check(&remote, Format::Yaml, Mode::Cloud, &limits()).is_ok());
}

#[test]
fn webhooks_with_defaults_and_every_key() {
    let minimal = endpoint(&one(
        "    path: /w\n    webhook:\n      url: https://hooks.test/a\n",
    ));
    assert_eq!(
        minimal.webhook,
        Some(Webhook {
            url: "https://hooks.test/a".to_owned(),
            method: Method::Post,
            headers: vec![],
            body: None,
            sleep_ms: 0,
            condition: None,
        })
    );
    let full = endpoint(&one("    path: /w
    webhook:
      url: 'https://hooks.test/{{path-params.id}}'
      method: put
      headers: {X-Token: abc, X-N: 1}
      body: {id: '{{path-params.id}}', ok: yes}
      sleep-time: 60
      if: path-params.project-name = \"moclojer\"
"));
    let webhook = full.webhook.expect("a webhook");
    assert_eq!(webhook.method, Method::Put);
    assert_eq!(
        webhook.headers,
        [
            ("X-Token".to_owned(), "abc".to_owned()),
            ("X-N".to_owned(), "1".to_owned())
        ]
    );
    assert_eq!(
        webhook.body.as_deref(),
        Some(r#"{"id":"{{path-params.id}}","ok":true}"#)
    );
    assert_eq!(webhook.sleep_ms, 60);
    assert_eq!(
        webhook.condition.as_deref(),
        Some("path-params.project-name = \"moclojer\"")
    );

    let diagnostics = yaml_findings(&one(
        "    path: /w\n    webhook:\n      method: post\n      sleep-time: -5\n",
    ));
    expect_error(&diagnostics, 4, 7, "a webhook needs a `url`");
    expect_error(
        &diagnostics,
        5,
        19,
        "`sleep-time` (milliseconds) must be a whole number",
    );

    let ftp = one("    path: /w\n    webhook:\n      url: ftp://x.test/\n");
    let diagnostics = findings(&ftp, Format::Yaml, Mode::Cloud);
    expect_error(
        &diagnostics,
        4,
        12,
        "must be an http:// or https:// URL, not `ftp://x.test/`",
    );
    let diagnostics = yaml_findings(&ftp);
    expect_warning(&diagnostics, 4, 12, "the webhook is not sent");
    assert!(!diagnostics.iter().any(Diagnostic::is_error));
    let templated = one("    path: /w\n    webhook:\n      url: '{{json-params.callback}}'\n");
    assert!(check(&templated, Format::Yaml, Mode::Cloud, &limits()).is_ok());
}

#[test]
fn rate_limits_with_defaults_and_header_keys() {
    let defaults = endpoint(&one("    path: /r\n    rate-limit: {}\n"));
    assert_eq!(defaults.rate_limit, Some(RateLimit::default()));
    assert_eq!(
        RateLimit::default(),
        RateLimit {
            window_ms: 900_000,
            max_requests: 100,
            key: RateKey::RemoteAddr
        }
    );
    let header = endpoint(&one(
        "    path: /r\n    rate-limit:\n      window-ms: 1000\n      max-requests: 2\n      key-fn: X-Api-Key\n",
    ));
    assert_eq!(
        header.rate_limit,
        Some(RateLimit {
            window_ms: 1000,
            max_requests: 2,
            key: RateKey::Header("x-api-key".to_owned())
        })
    );
    let diagnostics = yaml_findings(&one(
        "    path: /r\n    rate-limit: {window-ms: 0, max-requests: lots, key-fn: 'a b'}\n",
    ));
    expect_error(
        &diagnostics,
        3,
        29,
        "`window-ms` must be from 1 to 86400000, not 0",
    );
    expect_error(
        &diagnostics,
        3,
        46,
        "`max-requests` must be a whole number of at least 0, not `lots`",
    );
    expect_error(
        &diagnostics,
        3,
        60,
        "`key-fn` must be `remote-addr` or a header name",
    );
}

#[test]
fn a_shared_server_bounds_rate_limits_and_webhook_sleeps() {
    let at_most = endpoint(&one(
        "    path: /r\n    rate-limit: {window-ms: 86400000, max-requests: 1000000}\n    webhook: {url: 'https://hooks.test/', sleep-time: 60000}\n",
    ));
    assert_eq!(
        at_most.rate_limit.map(|r| (r.window_ms, r.max_requests)),
        Some((MAX_RATE_WINDOW_MS, MAX_RATE_REQUESTS))
    );
    assert_eq!(
        at_most.webhook.map(|w| w.sleep_ms),
        Some(MAX_WEBHOOK_SLEEP_MS)
    );
    let diagnostics = yaml_findings(&one(
        "    path: /r\n    rate-limit: {window-ms: 86400001, max-requests: 1000001}\n    webhook: {url: 'https://hooks.test/', sleep-time: 60001}\n",
    ));
    expect_error(
        &diagnostics,
        3,
        29,
        "`window-ms` must be from 1 to 86400000, not 86400001",
    );
    expect_error(
        &diagnostics,
        3,
        53,
        "`max-requests` must be from 0 to 1000000, not 1000001",
    );
    expect_error(
        &diagnostics,
        4,
        55,
        "`sleep-time` (milliseconds) must be from 0 to 60000, not 60001",
    );
}

#[test]
fn latency_with_defaults_and_ranges() {
    let latency = endpoint(&one(
        "    path: /l\n    latency:\n      min-ms: 10\n      max-ms: 50\n      failure-rate: 0.1\n      timeout-rate: 0\n",
    ))
    .latency
    .expect("a latency");
    assert_eq!(
        latency,
        Latency {
            min_ms: 10,
            max_ms: 50,
            failure_rate: 0.1,
            timeout_rate: 0.0,
            timeout_ms: 30_000
        }
    );
    assert_eq!(
        endpoint(&one("    path: /l\n    latency: {}\n")).latency,
        Some(Latency::default())
    );
    let diagnostics = yaml_findings(&one(
        "    path: /l\n    latency: {min-ms: 100, max-ms: 5, failure-rate: 1.5, timeout-ms: x}\n",
    ));
    expect_error(
        &diagnostics,
        3,
        53,
        "`failure-rate` must be a number from 0 to 1",
    );
    expect_error(&diagnostics, 3, 70, "`timeout-ms` must be a whole number");
    let diagnostics = yaml_findings(&one(
        "    path: /l\n    latency: {min-ms: 100, max-ms: 5}\n",
    ));
    expect_error(
        &diagnostics,
        3,
        23,
        "`min-ms` (100) is larger than `max-ms` (5)",
    );
}

#[test]
fn tag_and_router_name() {
    let endpoint = endpoint(&one(
        "    path: /t\n    tag: yes\n    router-name: whatever\n",
    ));
    assert_eq!(
        endpoint.tag.as_deref(),
        Some("yes"),
        "strings stay as written"
    );
}

#[test]
fn websockets_read_every_key() {
    let spec = ok_yaml(
        "- websocket:
    host: WS.example.com:443
    path: /ws/:room
    on-connect:
      response: {status: connected}
    on-message:
      - pattern: 'ping'
        response: pong
      - pattern: '\\{.*\\}'
        response: '{{message}}'
",
    );
    assert_eq!(
        spec.websockets,
        [WebSocket {
            item: 0,
            line: 1,
            host: Some("ws.example.com".to_owned()),
            path: PathPattern::parse("/ws/:room").expect("a path"),
            on_connect: Some(r#"{"status":"connected"}"#.to_owned()),
            on_message: vec![
                ("ping".to_owned(), "pong".to_owned()),
                ("\\{.*\\}".to_owned(), "{{message}}".to_owned()),
            ],
        }]
    );
}

#[test]
fn an_item_may_carry_both_an_endpoint_and_a_websocket() {
    let spec = ok_yaml("- endpoint: {path: /a}\n  websocket: {path: /ws}\n");
    assert_eq!((spec.endpoints.len(), spec.websockets.len()), (1, 1));
    assert_eq!((spec.endpoints[0].item, spec.websockets[0].item), (0, 0));
}

#[test]
fn json_specs_are_yaml() {
    let spec = ok_yaml(
        r#"[{"endpoint": {"method": "GET", "path": "/json",
   "response": {"status": 200, "body": {"hello": "world"}}}}]"#,
    );
    assert_eq!(
        spec.endpoints[0].response.body,
        Body::Text(r#"{"hello":"world"}"#.to_owned())
    );
}

#[test]
fn yaml_anchors_aliases_and_merge_keys() {
    let spec = ok_yaml(
        "- endpoint:
    path: /a
    response: &ok
      status: 201
      headers: &h {X-A: a}
      body: {x: 1}
- endpoint:
    path: /b
    response: *ok
- endpoint:
    path: /c
    response:
      <<: *ok
      status: 202
- endpoint:
    path: /d
    response:
      <<: [{status: 203}, *ok]
      headers: {<<: *h, X-B: b}
",
    );
    let statuses: Vec<u16> = spec.endpoints.iter().map(|e| e.response.status).collect();
    assert_eq!(statuses, [201, 201, 202, 203]);
    assert_eq!(
        spec.endpoints[2].response.body,
        Body::Text(r#"{"x":1}"#.to_owned())
    );
    assert_eq!(
        spec.endpoints[3].response.headers,
        [
            ("X-B".to_owned(), "b".to_owned()),
            ("X-A".to_owned(), "a".to_owned())
        ]
    );
}

#[test]
fn an_empty_spec_is_valid_with_a_warning() {
    for source in ["", "# nothing\n", "[]", "---\n"] {
        let (spec, warnings) =
            check(source, Format::Yaml, Mode::Cloud, &limits()).expect("empty is fine");
        assert_eq!(spec, Spec::default());
        expect_warning(&warnings, 1, 1, "defines no endpoints");
    }
    let (spec, _) = check(" ; nothing\n", Format::Edn, Mode::Cloud, &limits()).expect("empty");
    assert_eq!(spec, Spec::default());
}

#[test]
fn format_follows_the_extension() {
    assert_eq!(Format::from_path_extension("mocks/a.edn"), Format::Edn);
    assert_eq!(Format::from_path_extension("A.EDN"), Format::Edn);
    assert_eq!(Format::from_path_extension("moclojer.yml"), Format::Yaml);
    assert_eq!(Format::from_path_extension("spec.json"), Format::Yaml);
    assert_eq!(Format::from_path_extension("edn"), Format::Yaml);
}

// ---------------------------------------------------------------------------------------
// YAML 1.1 scalars
// ---------------------------------------------------------------------------------------

#[test]
fn plain_scalars_resolve_as_yaml_1_1() {
    let cases: &[(&str, Scalar<'_>)] = &[
        ("yes", Scalar::Bool(true)),
        ("Yes", Scalar::Bool(true)),
        ("YES", Scalar::Bool(true)),
        ("on", Scalar::Bool(true)),
        ("ON", Scalar::Bool(true)),
        ("true", Scalar::Bool(true)),
        ("True", Scalar::Bool(true)),
        ("no", Scalar::Bool(false)),
        ("No", Scalar::Bool(false)),
        ("off", Scalar::Bool(false)),
        ("Off", Scalar::Bool(false)),
        ("FALSE", Scalar::Bool(false)),
        ("y", Scalar::Str("y")),
        ("n", Scalar::Str("n")),
        ("yEs", Scalar::Str("yEs")),
        ("~", Scalar::Null),
        ("null", Scalar::Null),
        ("NULL", Scalar::Null),
        ("", Scalar::Null),
        ("42", Scalar::Int(42)),
        ("-7", Scalar::Int(-7)),
        ("+5", Scalar::Int(5)),
        ("1_000", Scalar::Int(1000)),
        ("012", Scalar::Int(10)),
        ("0x1F", Scalar::Int(31)),
        ("0b101", Scalar::Int(5)),
        ("1:30", Scalar::Int(90)),
        ("0", Scalar::Int(0)),
        ("09", Scalar::Float(9.0)),
        ("1.5", Scalar::Float(1.5)),
        ("1e3", Scalar::Float(1000.0)),
        ("-.5", Scalar::Float(-0.5)),
        (".inf", Scalar::Float(f64::INFINITY)),
        ("-.Inf", Scalar::Float(f64::NEG_INFINITY)),
        ("1:30.5", Scalar::Float(90.5)),
        ("2024-01-02", Scalar::Str("2024-01-02")),
        ("1.2.3", Scalar::Str("1.2.3")),
        ("/path", Scalar::Str("/path")),
        ("-", Scalar::Str("-")),
    ];
    for (text, expected) in cases {
        assert_eq!(&resolve_plain(text), expected, "{text}");
    }
    assert!(matches!(resolve_plain(".nan"), Scalar::Float(f) if f.is_nan()));
    assert_eq!(
        resolve_plain("99999999999999999999"),
        Scalar::Float(1e20),
        "beyond i64"
    );
}

#[test]
fn doubles_print_as_java_does() {
    let cases = [
        (2.5, "2.5"),
        (10.0, "10.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1e7, "1.0E7"),
        (1.5e10, "1.5E10"),
        (9_999_999.0, "9999999.0"),
        (-0.0, "-0.0"),
        (f64::INFINITY, "Infinity"),
        (f64::NAN, "NaN"),
    ];
    for (value, text) in cases {
        assert_eq!(java_double(value), text, "{value}");
    }
}

// ---------------------------------------------------------------------------------------
// Diagnostics, each with its position
// ---------------------------------------------------------------------------------------

#[test]
fn yaml_syntax_errors_carry_the_parser_position() {
    let cases: &[(&str, u32, u32, &str)] = &[
        (
            "- endpoint:\n    path: /a\n   method: [GET\n",
            3,
            4,
            "did not find expected key",
        ),
        ("- a: 'unclosed\n", 1, 6, "found unexpected end of stream"),
        ("- endpoint:\n\tpath: /a\n", 2, 2, "tabs disallowed"),
        (
            "- endpoint:\n    path: /a\n    x /b: c: d\n",
            3,
            12,
            "mapping values are not allowed",
        ),
        ("- *nothing\n", 1, 3, "unknown anchor"),
    ];
    for (source, line, column, needle) in cases {
        let diagnostics = yaml_findings(source);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        expect_error(&diagnostics, *line, *column, needle);
        assert!(diagnostics[0].message.starts_with("YAML syntax error: "));
    }
}

#[test]
fn edn_syntax_errors_carry_their_position() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("{:endpoint {:path \"/a\"}", 1, 1, "`{` is never closed"),
        ("{:endpoint}", 1, 1, "even number of forms"),
        ("{:a 1 :a 2}", 1, 7, "duplicate key"),
        ("\n  \"abc", 2, 3, "a string is never closed"),
        ("\"\\q\"", 1, 2, "unsupported escape"),
        ("]", 1, 1, "unmatched `]`"),
        ("[1 2)", 1, 5, "does not close the `[` at 1:1"),
        ("{:a 0x}", 1, 5, "invalid number `0x`"),
        ("#_", 1, 1, "`#_` discards nothing"),
        ("'a", 1, 1, "Clojure reader syntax"),
        ("::a", 1, 1, "invalid keyword"),
    ];
    for (source, line, column, needle) in cases {
        let diagnostics = findings(source, Format::Edn, Mode::Standalone);
        expect_error(&diagnostics, *line, *column, needle);
    }
}

#[test]
fn edn_reads_every_form() {
    let spec = ok(
        r#"; comment
{:endpoint {:path "/x" ,,, :response {:body [1 -2 +3 4.5 1e2 0x10 012 1/2 ##Inf nil true false
                                             \a \newline \u00e9 sym ns/sym :kw #inst "2024-01-01"
                                             #uuid "00000000-0000-0000-0000-000000000000"
                                             #_ignored #_#_a b "kept" #{} () []]}}}"#,
        Format::Edn,
    );
    assert_eq!(
        spec.endpoints[0].response.body,
        Body::Text(
            r#"[1,-2,3,4.5,100.0,16,10,0.5,null,null,true,false,"a","\n","é","sym","ns/sym","kw","2024-01-01","00000000-0000-0000-0000-000000000000","kept",[],[],[]]"#
                .to_owned()
        )
    );
}

#[test]
fn the_top_level_must_be_a_list() {
    let diagnostics = yaml_findings("endpoint:\n  path: /a\n");
    expect_error(&diagnostics, 1, 1, "put `- ` before `endpoint:`");
    let diagnostics = yaml_findings("just text\n");
    expect_error(&diagnostics, 1, 1, "must be a list of items");
}

#[test]
fn items_that_are_not_maps_are_ignored_with_a_warning() {
    let diagnostics = yaml_findings("- endpoint: {path: /a}\n- 42\n- [1]\n-\n- other: 1\n");
    expect_warning(&diagnostics, 2, 3, "not a map and is ignored");
    expect_warning(&diagnostics, 3, 3, "not a map and is ignored");
    expect_warning(
        &diagnostics,
        5,
        3,
        "no `endpoint`, `websocket` or `resource`",
    );
    expect_warning(&diagnostics, 5, 3, "unknown key `other`");
    assert!(!diagnostics.iter().any(Diagnostic::is_error));
    let item = diagnostics.iter().find(|d| d.line == 2).expect("a finding");
    assert_eq!((item.item, item.key.as_deref()), (Some(1), None));

    let diagnostics = findings(
        "[{:endpoint {:path \"/a\"}}]",
        Format::Edn,
        Mode::Standalone,
    );
    expect_warning(&diagnostics, 1, 1, "without an enclosing `[ ]`");
}

#[test]
fn a_second_yaml_document_is_an_error() {
    let diagnostics = yaml_findings("- endpoint: {path: /a}\n---\n- endpoint: {path: /b}\n");
    expect_error(&diagnostics, 2, 1, "second document");
}

#[test]
fn missing_path_and_bad_paths() {
    let diagnostics = yaml_findings("- endpoint:\n    method: GET\n");
    expect_error(&diagnostics, 2, 5, "missing `endpoint.path`");
    assert_eq!(diagnostics[0].key.as_deref(), Some("endpoint.path"));
    assert_eq!(diagnostics[0].item, Some(0));

    let cases: &[(&str, u32, &str)] = &[
        ("users", 11, "must start with `/`"),
        ("/users/:id|uuidd", 22, "unknown parameter type `uuidd`"),
        ("\"/users/:id|uuidd\"", 23, "did you mean `uuid`?"),
        ("/a/:|int", 14, "has no name"),
        ("/x/:id|number", 18, "unknown parameter type `number`"),
    ];
    for (path, column, needle) in cases {
        let diagnostics = yaml_findings(&one(&format!("    path: {path}\n")));
        expect_error(&diagnostics, 2, *column, needle);
    }
    let diagnostics = yaml_findings(&one("    path: [a]\n"));
    expect_error(&diagnostics, 2, 11, "`path` must be a string");
    let diagnostics = findings(
        "{:endpoint\n {:path \"/users/:id|uuidd\"}}",
        Format::Edn,
        Mode::Standalone,
    );
    expect_error(&diagnostics, 2, 21, "unknown parameter type `uuidd`");
}

#[test]
fn unknown_methods_and_types() {
    let diagnostics = yaml_findings(&one("    method: GTE\n    path: /a\n"));
    expect_error(&diagnostics, 2, 13, "unknown method `GTE`");
    let diagnostics = yaml_findings(&one("    method: {a: 1}\n    path: /a\n"));
    expect_error(&diagnostics, 2, 13, "`method` must be a string");

    let diagnostics = yaml_findings(&one(
        "    path: /q\n    query:\n      page: integr\n      q: [string]\n",
    ));
    expect_error(&diagnostics, 4, 13, "unknown parameter type `integr`");
    expect_error(&diagnostics, 5, 10, "query parameter `q` needs a type name");
    let diagnostics = yaml_findings(&one("    path: /q\n    query: [page]\n"));
    expect_error(&diagnostics, 3, 12, "`query` must be a map");
}

#[test]
fn statuses_must_be_integers_in_range() {
    let cases: &[(&str, &str)] = &[
        ("abc", "must be an integer from 100 to 599, not `abc`"),
        ("'201'", "must be an integer from 100 to 599, not `201`"),
        ("200.0", "must be an integer"),
        ("99", "status 99 is out of range"),
        ("600", "status 600 is out of range"),
        ("70000", "status 70000 is out of range"),
    ];
    for (status, needle) in cases {
        let diagnostics = yaml_findings(&one(&format!(
            "    path: /s\n    response:\n      status: {status}\n"
        )));
        expect_error(&diagnostics, 4, 15, needle);
        assert_eq!(
            diagnostics[0].key.as_deref(),
            Some("endpoint.response.status")
        );
    }
    for status in ["100", "599", "418"] {
        ok_yaml(&one(&format!(
            "    path: /s\n    response:\n      status: {status}\n"
        )));
    }
}

#[test]
fn header_values_must_be_scalars() {
    let diagnostics = yaml_findings(&one(
        "    path: /h\n    response:\n      headers:\n        X-Map: {a: 1}\n        X-List: [1]\n        'Bad Name': x\n",
    ));
    expect_error(&diagnostics, 5, 16, "header `X-Map` has a map as value");
    expect_error(&diagnostics, 6, 17, "header `X-List` has a list as value");
    expect_error(&diagnostics, 7, 9, "`Bad Name` is not a valid header name");
    let map = diagnostics
        .iter()
        .find(|d| d.line == 5)
        .expect("the map finding");
    assert_eq!(map.key.as_deref(), Some("endpoint.response.headers.X-Map"));
    let diagnostics = yaml_findings(&one("    path: /h\n    response:\n      headers: [a]\n"));
    expect_error(&diagnostics, 4, 16, "`headers` must be a map");
}

#[test]
fn unknown_keys_warn_with_a_suggestion() {
    let diagnostics = yaml_findings(
        "- endpoint:
    pth: /a
    respons:
      stauts: 200
    status: 201
- endpont:
    path: /b
",
    );
    expect_warning(
        &diagnostics,
        2,
        5,
        "unknown key `pth`; did you mean `path`?",
    );
    expect_warning(
        &diagnostics,
        3,
        5,
        "unknown key `respons`; did you mean `response`?",
    );
    expect_warning(&diagnostics, 5, 5, "`status` belongs under `response`");
    expect_warning(
        &diagnostics,
        6,
        3,
        "unknown key `endpont`; did you mean `endpoint`?",
    );
    expect_error(&diagnostics, 2, 5, "missing `endpoint.path`");
    let suggestion = diagnostics
        .iter()
        .find(|d| d.line == 3)
        .expect("the respons finding");
    assert_eq!(suggestion.key.as_deref(), Some("endpoint.respons"));

    let diagnostics = yaml_findings(&one(
        "    path: /a\n    response:\n      stauts: 200\n      fooo: 1\n",
    ));
    expect_warning(
        &diagnostics,
        4,
        7,
        "unknown key `stauts`; did you mean `status`?",
    );
    expect_warning(
        &diagnostics,
        5,
        7,
        "unknown key `fooo` (known here: status, headers, body, external-body)",
    );
}

#[test]
fn duplicated_keys_warn_and_the_last_wins() {
    let source = one("    path: /a\n    path: /b\n");
    let diagnostics = yaml_findings(&source);
    expect_warning(
        &diagnostics,
        3,
        5,
        "`path` is given twice; the last one is used",
    );
    assert_eq!(endpoint(&source).path.raw, "/b");
}

#[test]
fn shadowed_routes_warn_and_the_first_wins() {
    let diagnostics = yaml_findings(
        "- endpoint: {path: /users/:id}
- endpoint: {path: /users/me}
- endpoint: {path: /users/:user_id, response: {status: 202}}
- endpoint: {path: /users/:id, method: POST}
- endpoint: {path: /users/:id, host: a.test}
- endpoint: {path: /users/:id, host: A.test:80}
- endpoint: {path: /slash/}
- endpoint: {path: /slash}
- websocket: {path: /users/me}
- websocket: {path: /ws}
- websocket: {path: /ws}
",
    );
    let shadowed: Vec<(u32, u32, &str)> = diagnostics
        .iter()
        .filter(|d| d.message.contains("shadowed") || d.message.contains("same path"))
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        shadowed,
        [
            (
                3,
                20,
                "GET /users/:user_id is shadowed by item 0, which defines the same route first; \
                 this endpoint never answers"
            ),
            (
                6,
                20,
                "GET /users/:id on host a.test is shadowed by item 4, which defines the same \
                 route first; this endpoint never answers"
            ),
            (
                8,
                20,
                "GET /slash is shadowed by item 6, which defines the same route first; this \
                 endpoint never answers"
            ),
            (
                9,
                21,
                "websocket /users/me has the same path as the GET endpoint of item 1; plain GET \
                 requests go to the endpoint, upgrades to the websocket"
            ),
            (
                11,
                21,
                "websocket /ws is shadowed by item 9, which defines the same route first"
            ),
        ]
    );
}

#[test]
fn invalid_websocket_patterns_are_errors() {
    let diagnostics = yaml_findings(
        "- websocket:\n    path: /ws\n    on-message:\n      - pattern: '{\"echo\": \"(.*)\"}'\n        response: x\n      - pattern: '(unclosed'\n",
    );
    expect_error(&diagnostics, 4, 18, "is not a valid regular expression");
    expect_error(&diagnostics, 6, 18, "is not a valid regular expression");
    expect_warning(&diagnostics, 6, 9, "has no `response`");
    let error = diagnostics.iter().find(|d| d.line == 4).expect("a finding");
    assert_eq!(
        error.key.as_deref(),
        Some("websocket.on-message[0].pattern")
    );
    assert!(!error.message.contains('\n'));

    let few = Limits {
        max_items: 2,
        ..limits()
    };
    let many =
        "- websocket:\n    path: /ws\n    on-message: [{pattern: a}, {pattern: b}, {pattern: c}]\n";
    let diagnostics = parse_yaml(many, &few).expect_err("three patterns");
    expect_error(&diagnostics, 3, 56, "too many `on-message` patterns");
    let diagnostics = yaml_findings(
        "- websocket:\n    path: /ws\n    on-message: [{pattern: '\\w{1000}', response: x}]\n",
    );
    expect_error(&diagnostics, 3, 28, "compiles to more than");

    let diagnostics = yaml_findings("- websocket:\n    on-message: {pattern: x}\n");
    expect_error(&diagnostics, 2, 5, "missing `websocket.path`");
    expect_error(&diagnostics, 2, 17, "`on-message` must be a list");
}

#[test]
fn non_map_sections_are_errors() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("- endpoint: /a\n", 1, 13, "`endpoint` must be a map"),
        (
            "- endpoint: {path: /a, response: 200}\n",
            1,
            34,
            "`response` must be a map",
        ),
        (
            "- endpoint: {path: /a, webhook: x}\n",
            1,
            33,
            "`webhook` must be a map",
        ),
        (
            "- endpoint: {path: /a, rate-limit: 5}\n",
            1,
            36,
            "`rate-limit` must be a map",
        ),
        (
            "- endpoint: {path: /a, latency: 5}\n",
            1,
            33,
            "`latency` must be a map",
        ),
        (
            "- endpoint: {path: /a, host: 'http://a.test'}\n",
            1,
            30,
            "is a URL",
        ),
        ("- websocket: [1]\n", 1, 14, "`websocket` must be a map"),
        (
            "- endpoint: {path: /a, response: {external-body: x}}\n",
            1,
            50,
            "`external-body` must be a map",
        ),
    ];
    for (source, line, column, needle) in cases {
        expect_error(&yaml_findings(source), *line, *column, needle);
    }
}

#[test]
fn unsupported_yaml_tags_are_errors_and_core_tags_work() {
    let diagnostics = yaml_findings("- endpoint: !custom {path: /a}\n");
    expect_error(&diagnostics, 1, 13, "unsupported YAML tag `!custom`");
    let spec =
        ok_yaml("- endpoint: {path: /a, response: {headers: {X-A: !!str 012}, body: !!str yes}}\n");
    assert_eq!(spec.endpoints[0].response.headers[0].1, "012");
    assert_eq!(
        spec.endpoints[0].response.body,
        Body::Text("yes".to_owned())
    );
}

#[test]
fn findings_come_sorted_and_display_their_place() {
    let diagnostics = yaml_findings("- endpoint:\n    path: nope\n    respons: {}\n");
    let lines: Vec<u32> = diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    assert_eq!(
        diagnostics[0].to_string(),
        "2:11: error in item 0 at endpoint.path: a path must start with `/`, `nope` does not"
    );
}

#[test]
fn validate_works_on_specs_built_by_hand() {
    let endpoint = |item: u32| Endpoint {
        item,
        line: item + 1,
        host: None,
        method: Method::Get,
        path: PathPattern::parse("/same").expect("a path"),
        query: vec![],
        body_example: None,
        response: Response {
            body: Body::External(ExternalBody {
                provider: Provider::Json,
                path: "/etc/passwd".to_owned(),
                sheet_name: None,
            }),
            ..Response::default()
        },
        webhook: None,
        rate_limit: None,
        latency: None,
        tag: None,
        secret_headers: Vec::new(),
        rules: Vec::new(),
        sequence: None,
        scenario: None,
    };
    let spec = Spec {
        endpoints: vec![endpoint(0), endpoint(1)],
        websockets: vec![],
        resources: vec![],
    };
    let diagnostics = validate(&spec, Mode::Cloud);
    expect_warning(&diagnostics, 2, 1, "shadowed by item 0");
    expect_error(&diagnostics, 1, 1, "local files are not available");
    assert!(
        validate(&spec, Mode::Standalone)
            .iter()
            .all(|d| !d.is_error())
    );
    expect_warning(
        &validate(&Spec::default(), Mode::Cloud),
        1,
        1,
        "no endpoints",
    );
}

// ---------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------

const TEMPLATES: &str = r#"- endpoint:
    path: /a
    response:
      headers:
        X-A: '{{x|nofilter}}'
      body: '{"a": "{{x|nofilter}}"}'
- endpoint:
    path: /b
    response:
      body: |
        {"a": 1,
         "b": "{% iff x %}"}
    webhook:
      url: https://h.test/{{x|upper}}
      body: '{{ x | badf }}'
      if: path-params.id = = 1
- endpoint:
    path: /c
    response:
      body: >
        {"a": 1,
         "b": "{% for %}"}
- websocket:
    path: /ws
    on-connect: {response: '{{'}
    on-message:
      - {pattern: a, response: '{% endif %}'}
"#;

#[test]
fn templates_that_do_not_compile_are_errors_in_the_cloud() {
    let diagnostics = findings(TEMPLATES, Format::Yaml, Mode::Cloud);
    let found: Vec<(u32, u32, Option<&str>)> = diagnostics
        .iter()
        .map(|d| {
            assert!(d.is_error(), "{d}");
            (d.line, d.column, d.key.as_deref())
        })
        .collect();
    assert_eq!(
        found,
        [
            (5, 19, Some("endpoint.response.headers.X-A")),
            (6, 25, Some("endpoint.response.body")),
            (12, 16, Some("endpoint.response.body")),
            (15, 21, Some("endpoint.webhook.body")),
            (16, 26, Some("endpoint.webhook.if")),
            (21, 9, Some("endpoint.response.body")),
            (25, 29, Some("websocket.on-connect.response")),
            (27, 33, Some("websocket.on-message[0].response")),
        ]
    );
    expect_error(
        &diagnostics,
        6,
        25,
        "the template does not compile: unknown filter 'nofilter'",
    );
    expect_error(&diagnostics, 16, 26, "the webhook `if` does not compile");
    // A folded scalar cannot be mapped back exactly: the message says where in the template.
    expect_error(&diagnostics, 21, 9, "(at line 2, column 8 of the template)");
}

#[test]
fn templates_that_do_not_compile_are_warnings_standalone() {
    let (spec, warnings) = check(TEMPLATES, Format::Yaml, Mode::Standalone, &limits())
        .expect("standalone serves the rest");
    assert_eq!(spec.endpoints.len(), 3);
    assert_eq!(warnings.len(), 8);
    expect_warning(
        &warnings,
        6,
        25,
        "this endpoint answers 500 until it is fixed",
    );
    expect_warning(&warnings, 15, 21, "the webhook is not sent");
    expect_warning(&warnings, 27, 33, "this message is not sent");

    let edn = "{:endpoint {:path \"/e\"\n :response {:body \"{\\\"a\\\":\n  {{x|nf}}}\"}}}\n";
    let diagnostics = findings(edn, Format::Edn, Mode::Cloud);
    expect_error(&diagnostics, 3, 7, "unknown filter 'nf'");
}

#[test]
fn an_empty_webhook_condition_is_always_true() {
    let endpoint = endpoint(&one(
        "    path: /w\n    webhook: {url: 'https://h.test', if: ''}\n",
    ));
    assert_eq!(endpoint.webhook.expect("a webhook").condition, None);
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[test]
fn a_source_over_the_size_limit_is_refused_without_parsing() {
    let huge = format!(
        "- endpoint: {{path: /a}}\n#{}\n",
        "x".repeat(10 * 1024 * 1024)
    );
    for format in [Format::Yaml, Format::Edn] {
        let diagnostics = findings(&huge, format, Mode::Cloud);
        assert_eq!(diagnostics.len(), 1);
        expect_error(&diagnostics, 1, 1, "at most 1048576 are accepted");
    }
    let small = Limits {
        max_bytes: 10,
        ..limits()
    };
    assert!(parse_yaml("- endpoint: {path: /a}", &small).is_err());
    let diagnostics = parse_openapi("{}", "a: b", &small).expect_err("too large");
    assert_eq!(diagnostics.len(), 1);
}

#[test]
fn deep_nesting_is_refused_quickly() {
    let depth = 100_000;
    let cases: Vec<(String, Format)> = vec![
        ("[".repeat(depth), Format::Yaml),
        ("- ".repeat(depth), Format::Yaml),
        ("{a: ".repeat(depth), Format::Yaml),
        ("[".repeat(depth), Format::Edn),
        ("{:a ".repeat(depth), Format::Edn),
        ("#{".repeat(depth), Format::Edn),
        ("#t ".repeat(depth) + "1", Format::Edn),
    ];
    for (source, format) in cases {
        let diagnostics = findings(&source, format, Mode::Cloud);
        assert_eq!(diagnostics.len(), 1, "{format:?} {}", &source[..8]);
        assert!(
            diagnostics[0]
                .message
                .contains("nests deeper than 64 levels"),
            "{diagnostics:?}"
        );
    }
    // A chain of `#_` discards is iterative, not a recursion.
    let discards = format!("{}{}", "#_".repeat(depth), "1 ".repeat(depth));
    assert!(check(&discards, Format::Edn, Mode::Cloud, &limits()).is_ok());

    let shallow = Limits {
        max_depth: 3,
        ..limits()
    };
    assert!(parse_yaml("- endpoint: {path: /a}", &shallow).is_ok());
    let diagnostics =
        parse_yaml("- endpoint: {path: /a, response: {}}", &shallow).expect_err("4 deep");
    expect_error(&diagnostics, 1, 34, "nests deeper than 3 levels");
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let bomb = r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;
    let diagnostics = findings(bomb, Format::Yaml, Mode::Cloud);
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics[0].message.contains("alias bombs"),
        "{diagnostics:?}"
    );
    assert_eq!(
        diagnostics[0].line, 6,
        "refused at the first alias past the budget"
    );

    // Wide: one anchor of 3,000 values referenced 3,000 times (a 9 M-value expansion).
    let wide = format!(
        "- &w [{}]\n- [{}]\n",
        vec!["x"; 3000].join(","),
        vec!["*w"; 3000].join(",")
    );
    let diagnostics = findings(&wide, Format::Yaml, Mode::Cloud);
    assert!(
        diagnostics[0].message.contains("alias bombs"),
        "{diagnostics:?}"
    );

    // Text: a long string repeated through aliases.
    let text = format!(
        "- &s '{}'\n- [{}]\n",
        "x".repeat(100_000),
        vec!["*s"; 60].join(",")
    );
    let diagnostics = findings(&text, Format::Yaml, Mode::Cloud);
    assert!(
        diagnostics[0].message.contains("bytes of text"),
        "{diagnostics:?}"
    );

    // Depth through aliases: each anchor nests the previous one.
    let mut chain = String::from("- &a0 [[[[[[[[[[1]]]]]]]]]]\n");
    for i in 1..10 {
        chain.push_str(&format!("- &a{i} [[[[[[[[[[*a{}]]]]]]]]]]\n", i - 1));
    }
    let diagnostics = findings(&chain, Format::Yaml, Mode::Cloud);
    assert!(
        diagnostics[0].message.contains("nests deeper"),
        "{diagnostics:?}"
    );
}

#[test]
fn the_item_and_node_budgets_hold() {
    let few = Limits {
        max_items: 2,
        ..limits()
    };
    let diagnostics = parse_yaml(
        "- endpoint: {path: /a}\n- endpoint: {path: /b}\n- endpoint: {path: /c}\n",
        &few,
    )
    .expect_err("three items");
    expect_error(&diagnostics, 3, 3, "more than 2 items");
    let tiny = Limits {
        max_nodes: 10,
        ..limits()
    };
    let diagnostics = parse_edn(&"1 ".repeat(11), &tiny).expect_err("eleven values");
    assert!(diagnostics[0].message.contains("more than 10 values"));
    assert!(parse_yaml(&format!("[{}]", ["1"; 11].join(",")), &tiny).is_err());
}

// ---------------------------------------------------------------------------------------
// OpenAPI
// ---------------------------------------------------------------------------------------

const PETSTORE: &str = r#"openapi: "3.0.0"
info: {title: Swagger Petstore, version: 1.0.0}
paths:
  /pets:
    get:
      operationId: findPets
      responses: {"200": {description: pet response}}
    post:
      operationId: addPet
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true}
    get:
      operationId: find pet by id
    delete:
      operationId: deletePet
    summary: one pet
"#;

const PET_MOCKS: &str = r#"findPets:
  status: 200
  body: [{id: 1, name: uber}]
addPet:
  status: 201
  headers: {Location: /pets/1}
  body: '{"id": 1}'
find pet by id:
  status: 200
  body: '{"id": {{path-params.id}}, "name": "uber"}'
findPet:
  status: 404
"#;

#[test]
fn openapi_operations_become_endpoints() {
    let (spec, warnings) =
        check_openapi(PETSTORE, PET_MOCKS, Mode::Cloud, &limits()).expect("a valid pair");
    let routes: Vec<(u32, Method, String, u16)> = spec
        .endpoints
        .iter()
        .map(|e| (e.item, e.method, e.path.to_string(), e.response.status))
        .collect();
    assert_eq!(
        routes,
        [
            (0, Method::Get, "/pets".to_owned(), 200),
            (1, Method::Post, "/pets".to_owned(), 201),
            (2, Method::Get, "/pets/:id".to_owned(), 200),
            (3, Method::Delete, "/pets/:id".to_owned(), 200),
        ]
    );
    assert_eq!(spec.endpoints[0].line, 5);
    assert_eq!(
        spec.endpoints[0].response.body,
        Body::Text(r#"[{"id":1,"name":"uber"}]"#.to_owned())
    );
    assert_eq!(
        spec.endpoints[1].response.headers,
        [("Location".to_owned(), "/pets/1".to_owned())]
    );
    assert_eq!(
        spec.endpoints[2].response.body,
        Body::Text(r#"{"id": {{path-params.id}}, "name": "uber"}"#.to_owned())
    );
    assert_eq!(spec.endpoints[3].response, Response::default());
    expect_warning(&warnings, 15, 5, "no mock for operationId `deletePet`");
    let unused = warnings
        .iter()
        .find(|d| d.message.contains("findPet`"))
        .expect("the unused mock");
    assert_eq!((unused.line, unused.column), (11, 1));
    assert_eq!(
        unused.message,
        "mocks file: mock `findPet` matches no operationId in the document; did you mean `findPets`?"
    );
}

#[test]
fn openapi_mock_errors_point_into_the_mocks_file() {
    let mocks = "findPets:\n  status: abc\naddPet: {status: 201}\n";
    let diagnostics = parse_openapi(PETSTORE, mocks, &limits()).expect_err("a bad status");
    let status = diagnostics.iter().find(|d| d.is_error()).expect("an error");
    assert_eq!((status.line, status.column), (2, 11));
    assert_eq!(status.key.as_deref(), Some("mocks[\"findPets\"].status"));
    assert_eq!(status.item, Some(0));

    let diagnostics =
        parse_openapi("info: {}\n", "a: {status: 200}\n", &limits()).expect_err("no paths");
    expect_error(&diagnostics, 1, 1, "needs a `paths` map");
    let diagnostics = parse_openapi("paths: {}", "a: [1\n", &limits()).expect_err("bad yaml");
    assert!(
        diagnostics[0]
            .message
            .starts_with("mocks file: YAML syntax error")
    );
}

#[test]
fn a_mocks_list_is_a_moclojer_spec_and_empty_mocks_read_the_document() {
    let spec = parse_openapi(PETSTORE, "- endpoint: {path: /from-mocks}\n", &limits())
        .expect("the mocks list");
    assert_eq!(spec.endpoints[0].path.raw, "/from-mocks");
    let spec = parse_openapi("- endpoint: {path: /from-config}\n", "", &limits())
        .expect("the document as a spec");
    assert_eq!(spec.endpoints[0].path.raw, "/from-config");
    let spec = parse_openapi(
        r#"{"swagger": "2.0", "paths": {"/v2/{a}/{b}": {"put": {"operationId": "x"}}}}"#,
        "x: {status: 204}",
        &limits(),
    )
    .expect("swagger 2.0 with JSON");
    assert_eq!(spec.endpoints[0].path.to_string(), "/v2/:a/:b");
    assert_eq!(spec.endpoints[0].response.status, 204);
}

#[test]
fn secret_headers_are_header_names_lowercased() {
    let endpoint = endpoint(
        "- endpoint:\n    path: /s\n    secret-headers: [X-Session, x-token]\n    response:\n      status: 200\n",
    );
    assert_eq!(endpoint.secret_headers, ["x-session", "x-token"]);
    for (bad, says) in [
        (
            "secret-headers: x-session",
            "must be a list of header names",
        ),
        ("secret-headers: [\"x session\"]", "is not a header name"),
        ("secret-headers: [{a: 1}]", "a header name must be a string"),
    ] {
        let source = format!("- endpoint:\n    path: /s\n    {bad}\n");
        let errors = parse_yaml(&source, &Limits::default()).expect_err(bad);
        assert!(
            errors.iter().any(|d| d.message.contains(says)),
            "{bad}: {errors:?}"
        );
    }
}
