//! Import: the writer, the example generator, the OpenAPI and EDN readers, their
//! diagnostics, and export → import.

use serde_json::{Value, json};

use super::writer::{self, Item, Yaml};
use super::*;
use crate::spec::{
    self, Body, Endpoint, ExportInfo, Format, Method, Mode, ParamType, Spec, check, export_openapi,
    parse_edn, parse_yaml, yaml_to_json,
};
use crate::template::Template;

fn limits() -> Limits {
    Limits::default()
}

/// Imports `doc`, and checks the YAML as the hosted service does.
#[track_caller]
fn openapi(doc: &str) -> (String, Spec, Vec<Diagnostic>) {
    let (yaml, warnings) =
        import_openapi(doc, &limits()).unwrap_or_else(|d| panic!("refused: {d:#?}"));
    let (spec, _) = check(&yaml, Format::Yaml, Mode::Cloud, &limits())
        .unwrap_or_else(|d| panic!("the import does not validate:\n{yaml}\n{d:#?}"));
    (yaml, spec, warnings)
}

/// Imports `doc`, expecting a refusal.
#[track_caller]
fn refused(doc: &str) -> Vec<Diagnostic> {
    match import_openapi(doc, &limits()) {
        Ok((yaml, _)) => panic!("imported:\n{yaml}"),
        Err(diagnostics) => diagnostics,
    }
}

/// The first error: (line, column, message).
#[track_caller]
fn first_error(diagnostics: &[Diagnostic]) -> (u32, u32, String) {
    let error = diagnostics
        .iter()
        .find(|d| d.is_error())
        .unwrap_or_else(|| panic!("no error in {diagnostics:#?}"));
    (error.line, error.column, error.message.clone())
}

/// What a static body renders to (a `{% verbatim %}` block unwrapped).
#[track_caller]
fn body_text(endpoint: &Endpoint) -> String {
    let Body::Text(text) = &endpoint.response.body else {
        panic!("no body: {:?}", endpoint.response.body);
    };
    let template = Template::compile(text).expect("the body compiles");
    template.static_text().expect("a static body").to_owned()
}

#[track_caller]
fn body_json(endpoint: &Endpoint) -> Value {
    let text = body_text(endpoint);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn header<'e>(endpoint: &'e Endpoint, name: &str) -> Option<&'e str> {
    endpoint
        .response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A 3.0 document whose one operation, `GET /x`, answers JSON of `schema` (flow YAML),
/// with `schemas` (a flow map) as its components.
fn doc_with(schema: &str, schemas: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: T, version: '1'}}\npaths:\n  /x:\n    get:\n      \
         responses:\n        '200':\n          description: ok\n          content:\n            \
         application/json:\n              schema: {schema}\ncomponents: {{schemas: {schemas}}}\n"
    )
}

#[track_caller]
fn example_with(schema: &str, schemas: &str) -> Value {
    body_json(&openapi(&doc_with(schema, schemas)).1.endpoints[0])
}

#[track_caller]
fn example(schema: &str) -> Value {
    example_with(schema, "{}")
}

// --- the writer ---------------------------------------------------------------------

#[test]
fn written_strings_read_back_as_they_were() {
    let tricky = [
        "",
        "plain",
        "/pets/:id|int",
        "true",
        "yes",
        "no",
        "null",
        "~",
        "42",
        "0x1F",
        "1.5",
        "1:30",
        "-",
        "- a",
        ": x",
        "a: b",
        "a #b",
        "#c",
        "'",
        "it's",
        "\"",
        "\\",
        "{a}",
        "[1]",
        "*x",
        "&x",
        "!x",
        "%x",
        "@x",
        "`x`",
        "|",
        ">",
        "? x",
        "a\nb",
        "a\r\nb",
        "tab\there",
        " lead",
        "trail ",
        "\u{0}\u{7}\u{1b}",
        "\u{85}\u{2028}\u{2029}",
        "\u{feff}bom",
        "\u{fffe}",
        "ünïcødé ✓",
        "{{path-params.id}}",
        "{% verbatim %}x{% endverbatim %}",
        "application/json; charset=utf-8",
        "Content-Type",
    ];
    for text in tricky {
        let value = Yaml::Map(vec![
            (text.to_owned(), Yaml::Str(text.to_owned())),
            ("quoted".to_owned(), Yaml::Quoted(text.to_owned())),
        ]);
        let yaml = writer::document(
            &[],
            &[Item {
                comments: vec![],
                value,
            }],
        );
        let read = yaml_to_json(&yaml).unwrap_or_else(|d| panic!("{text:?}: {d}\n{yaml}"));
        let mut expected = serde_json::Map::new();
        expected.insert(text.to_owned(), json!(text));
        expected.insert("quoted".to_owned(), json!(text));
        assert_eq!(read, json!([expected]), "{text:?} as\n{yaml}");
    }
}

#[test]
fn written_values_keep_their_types_and_shapes() {
    let value = Yaml::Map(vec![
        (
            "ints".to_owned(),
            Yaml::Seq(vec![Yaml::Int(0), Yaml::Int(-7), Yaml::Int(i64::MAX)]),
        ),
        (
            "floats".to_owned(),
            Yaml::Seq(vec![
                Yaml::Float(1.5),
                Yaml::Float(10.0),
                Yaml::Float(1e21),
                Yaml::Float(-2.5e-7),
            ]),
        ),
        (
            "flags".to_owned(),
            Yaml::Seq(vec![Yaml::Bool(true), Yaml::Bool(false), Yaml::Null]),
        ),
        (
            "empty".to_owned(),
            Yaml::Seq(vec![Yaml::Map(vec![]), Yaml::Seq(vec![])]),
        ),
        (
            "nested".to_owned(),
            Yaml::Seq(vec![
                Yaml::Seq(vec![Yaml::Int(1), Yaml::Int(2)]),
                Yaml::Map(vec![
                    ("a".to_owned(), Yaml::Int(1)),
                    (
                        "b".to_owned(),
                        Yaml::Map(vec![("c".to_owned(), Yaml::Null)]),
                    ),
                ]),
            ]),
        ),
    ]);
    let items = [Item {
        comments: vec!["two\nlines".to_owned(), String::new()],
        value,
    }];
    let yaml = writer::document(&["header".to_owned()], &items);
    assert!(
        yaml.starts_with("# header\n# two lines\n#\n- ints:\n"),
        "{yaml}"
    );
    assert_eq!(
        yaml_to_json(&yaml).expect("reads"),
        json!([{
            "ints": [0, -7, i64::MAX],
            "floats": [1.5, 10.0, 1e21, -2.5e-7],
            "flags": [true, false, null],
            "empty": [{}, []],
            "nested": [[1, 2], {"a": 1, "b": {"c": null}}],
        }])
    );
    assert_eq!(writer::document(&[], &[]), "[]\n");
}

// --- the example generator -------------------------------------------------------------

#[test]
fn strings_follow_their_format_and_length() {
    let got = example(
        "{type: object, properties: {a: {type: string, format: date-time}, b: {type: string, \
         format: date}, c: {type: string, format: email}, d: {type: string, format: uuid}, \
         e: {type: string, format: uri}, f: {type: string}, g: {type: string, minLength: 9}, \
         h: {type: string, maxLength: 3}, i: {type: string, format: byte}, j: {type: string, \
         format: hostname}, k: {type: string, format: ipv4}, l: {type: string, format: time}}}",
    );
    assert_eq!(
        got,
        json!({
            "a": "2024-01-01T00:00:00Z", "b": "2024-01-01", "c": "user@example.com",
            "d": "123e4567-e89b-42d3-a456-426614174000", "e": "https://example.com",
            "f": "string", "g": "stringxxx", "h": "str", "i": "ZXhhbXBsZQ==",
            "j": "example.com", "k": "192.0.2.1", "l": "00:00:00",
        })
    );
    let uuid = got["d"].as_str().expect("a string");
    assert!(uuid::Uuid::parse_str(uuid).is_ok());
    let when = got["a"].as_str().expect("a string");
    assert!(
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339).is_ok()
    );
}

#[test]
fn numbers_follow_their_format_and_bounds() {
    let got = example(
        "{type: object, properties: {i32: {type: integer, format: int32}, i64: {type: integer, \
         format: int64}, min: {type: integer, minimum: 5}, max: {type: integer, maximum: -3}, \
         above: {type: integer, minimum: 0, exclusiveMinimum: true}, above31: {type: integer, \
         exclusiveMinimum: 10}, step: {type: integer, minimum: 7, multipleOf: 5}, big: {type: \
         integer, format: int32, minimum: 9999999999}, n: {type: number}, nmin: {type: number, \
         minimum: 1.5}, nbelow: {type: number, exclusiveMaximum: 0}, nrange: {type: number, \
         minimum: 2, maximum: 3, exclusiveMinimum: true}, flag: {type: boolean}, nothing: \
         {type: 'null'}}}",
    );
    assert_eq!(
        got,
        json!({
            "i32": 0, "i64": 0, "min": 5, "max": -3, "above": 1, "above31": 11, "step": 10,
            "big": i32::MAX, "n": 0.0, "nmin": 1.5, "nbelow": -1.0, "nrange": 3.0,
            "flag": true, "nothing": null,
        })
    );
    assert!(got["i32"].is_i64() && got["n"].is_f64());
}

#[test]
fn explicit_values_come_first() {
    let got = example(
        "{type: object, properties: {e: {type: string, enum: [b, a]}, n: {type: integer, enum: \
         [3, 1]}, c: {const: 7}, d: {type: string, default: d}, x: {type: string, example: ex, \
         enum: [no]}, xs: {type: string, examples: [first, second]}, o: {type: object, \
         example: {k: [1, 2]}}}}",
    );
    assert_eq!(
        got,
        json!({"e": "b", "n": 3, "c": 7, "d": "d", "x": "ex", "xs": "first", "o": {"k": [1, 2]}})
    );
}

#[test]
fn objects_have_every_property_but_write_only_ones() {
    let got = example_with(
        "{type: object, required: [z], properties: {z: {type: string}, a: {type: integer}, \
         secret: {type: string, writeOnly: true}, id: {type: integer, readOnly: true}, \
         hidden: {$ref: '#/components/schemas/Secret'}, map: {additionalProperties: {type: \
         integer}}, any: {}, untyped: {properties: {k: {type: boolean}}}}}",
        "{Secret: {type: string, writeOnly: true}}",
    );
    assert_eq!(
        got,
        json!({"z": "string", "a": 0, "id": 0, "map": {"key": 0}, "any": {}, "untyped": {"k": true}})
    );
    // Properties keep the document's order.
    let keys: Vec<&String> = got.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["z", "a", "id", "map", "any", "untyped"]);
}

#[test]
fn arrays_have_one_item() {
    let got = example(
        "{type: object, properties: {ints: {type: array, items: {type: integer}}, none: {type: \
         array, items: {type: integer}, maxItems: 0}, bare: {type: array}, nested: {type: \
         array, items: {type: array, items: {type: string, enum: [x]}}}, tuple: {type: array, \
         items: [{type: boolean}]}}}",
    );
    assert_eq!(
        got,
        json!({"ints": [0], "none": [], "bare": [], "nested": [["x"]], "tuple": [true]})
    );
    assert_eq!(
        example("{type: array, items: {type: number}}"),
        json!([0.0])
    );
}

#[test]
fn refs_are_followed_and_cycles_cut() {
    let schemas = "{List: {type: object, properties: {value: {type: integer}, next: {$ref: \
                   '#/components/schemas/List'}}}, Tree: {type: object, properties: {name: \
                   {type: string}, children: {type: array, items: {$ref: \
                   '#/components/schemas/Tree'}}}}, A: {type: object, properties: {b: {$ref: \
                   '#/components/schemas/B'}}}, B: {type: object, properties: {n: {type: \
                   integer}, a: {$ref: '#/components/schemas/A'}}}, 'a/b~c': {type: string, \
                   enum: [escaped]}}";
    assert_eq!(
        example_with("{$ref: '#/components/schemas/List'}", schemas),
        json!({"value": 0})
    );
    assert_eq!(
        example_with("{$ref: '#/components/schemas/Tree'}", schemas),
        json!({"name": "string", "children": []})
    );
    assert_eq!(
        example_with("{$ref: '#/components/schemas/A'}", schemas),
        json!({"b": {"n": 0}})
    );
    // The same schema twice side by side is no cycle.
    assert_eq!(
        example_with(
            "{type: object, properties: {one: {$ref: '#/components/schemas/A'}, two: {$ref: \
             '#/components/schemas/A'}}}",
            schemas
        ),
        json!({"one": {"b": {"n": 0}}, "two": {"b": {"n": 0}}})
    );
    // JSON pointers: into a schema, with `~1` for `/`, `~0` for `~`, percent-encoding.
    assert_eq!(
        example_with(
            "{$ref: '#/components/schemas/List/properties/value'}",
            schemas
        ),
        json!(0)
    );
    assert_eq!(
        example_with("{$ref: '#/components/schemas/a~1b~0c'}", schemas),
        json!("escaped")
    );
    assert_eq!(
        example_with("{$ref: '#/components/schemas/a~1b%7E0c'}", schemas),
        json!("escaped")
    );
}

/// `{type: object, properties: {a: …}}` nested `levels` deep, ending with an integer.
fn nested(levels: usize) -> String {
    let mut schema = "{type: integer}".to_owned();
    for _ in 0..levels {
        schema = format!("{{type: object, properties: {{a: {schema}}}}}");
    }
    schema
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Object(fields) => 1 + fields.values().map(depth_of).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn nesting_stops_at_the_depth_cap() {
    assert_eq!(depth_of(&example(&nested(5))), 5);
    assert_eq!(example(&nested(2)), json!({"a": {"a": 0}}));
    let deep = example(&nested(20));
    assert_eq!(depth_of(&deep), MAX_EXAMPLE_DEPTH + 1, "{deep}");
    // Cycles through refs stop the same way, without a cut when the depth allows.
    let schemas = "{S: {type: object, properties: {s: {$ref: '#/components/schemas/S'}}}}";
    assert_eq!(
        example_with("{$ref: '#/components/schemas/S'}", schemas),
        json!({})
    );
}

#[test]
fn wide_examples_stop_at_the_value_budget() {
    // Each level has three properties of the next: 3^12 values without a budget.
    let mut schemas = Vec::new();
    for level in 0..12 {
        let next = format!("{{$ref: '#/components/schemas/L{}'}}", level + 1);
        schemas.push(format!(
            "L{level}: {{type: object, properties: {{a: {next}, b: {next}, c: {next}}}}}"
        ));
    }
    schemas.push("L12: {type: integer}".to_owned());
    let doc = doc_with(
        "{$ref: '#/components/schemas/L0'}",
        &format!("{{{}}}", schemas.join(", ")),
    );
    let (yaml, _, warnings) = openapi(&doc);
    assert!(
        warnings.iter().any(|w| w
            .message
            .contains(&format!("more than {MAX_EXAMPLE_VALUES} values"))),
        "{warnings:#?}"
    );
    assert!(yaml.len() < 400_000, "{} bytes", yaml.len());
}

#[test]
fn all_of_merges_and_one_of_any_of_take_the_first() {
    let schemas = "{Base: {type: object, properties: {id: {type: integer}, kind: {type: \
                   string}}}, Cat: {type: object, properties: {meow: {type: boolean}}}, Dog: \
                   {type: object, properties: {bark: {type: boolean}}}}";
    assert_eq!(
        example_with(
            "{allOf: [{$ref: '#/components/schemas/Base'}, {type: object, properties: {kind: \
             {type: string, enum: [pet]}, extra: {type: number}}}], properties: {own: {type: \
             boolean}}}",
            schemas
        ),
        json!({"id": 0, "kind": "pet", "extra": 0.0, "own": true})
    );
    assert_eq!(
        example_with(
            "{oneOf: [{$ref: '#/components/schemas/Cat'}, {$ref: '#/components/schemas/Dog'}]}",
            schemas
        ),
        json!({"meow": true})
    );
    assert_eq!(
        example_with("{anyOf: [{type: string}, {type: integer}]}", schemas),
        json!("string")
    );
    assert_eq!(
        example_with("{allOf: [{type: integer, minimum: 3}]}", schemas),
        json!(3)
    );
}

#[test]
fn type_lists_and_nullable() {
    assert_eq!(
        example(
            "{type: object, properties: {a: {type: [string, 'null']}, b: {type: ['null', \
             integer]}, c: {type: string, nullable: true}, d: {type: ['null']}}}"
        ),
        json!({"a": "string", "b": 0, "c": "string", "d": null})
    );
}

// --- documents -------------------------------------------------------------------------

const PETS: &str = r#"openapi: 3.0.3
info:
  title: Pets
  version: 1.0.0
paths:
  /pets:
    get:
      operationId: listPets
      summary: List the pets
      tags: [pets]
      parameters:
        - {name: limit, in: query, schema: {type: integer}}
        - {name: species, in: query, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
  /pets/{id}:
    delete:
      responses:
        '204': {description: gone}
components:
  schemas:
    Pet:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
"#;

/// The whole output for a small document: the layout is part of the contract (the editor
/// shows it), and the same document gives the same text every time.
#[test]
fn a_document_imports_to_this_exact_yaml() {
    let expected = r#"# Imported from OpenAPI 3.0.3: Pets (1.0.0)
# listPets: List the pets
- endpoint:
    method: GET
    path: /pets
    tag: pets
    query:
      species: string
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: '[{"id":0,"name":"string"}]'
- endpoint:
    method: DELETE
    path: /pets/:id
    response:
      status: 204
"#;
    let (yaml, spec, warnings) = openapi(PETS);
    assert_eq!(yaml, expected);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(spec.endpoints.len(), 2);
    for _ in 0..3 {
        assert_eq!(
            import_openapi(PETS, &limits()).expect("imports").0,
            expected
        );
    }
}

/// `GET /x` answering `responses` (a flow map).
fn responses_doc(responses: &str) -> String {
    format!(
        "openapi: 3.0.0\ninfo: {{title: T, version: '1'}}\npaths:\n  /x:\n    get:\n      \
         responses: {responses}\ncomponents:\n  examples:\n    Named: {{value: {{from: ref}}}}\n"
    )
}

#[track_caller]
fn answer(responses: &str) -> (Endpoint, Vec<Diagnostic>) {
    let (_, spec, warnings) = openapi(&responses_doc(responses));
    (spec.endpoints[0].clone(), warnings)
}

#[test]
fn the_status_is_the_first_success() {
    let json = "content: {application/json: {example: {s: 1}}}";
    let status = |responses: &str| answer(responses).0.response.status;
    assert_eq!(
        status(&format!(
            "{{'201': {{description: a}}, '200': {{description: b, {json}}}}}"
        )),
        200
    );
    assert_eq!(
        status("{'404': {description: a}, '201': {description: b}, '204': {description: c}}"),
        201
    );
    assert_eq!(
        status("{'4XX': {description: a}, '2XX': {description: b}}"),
        200
    );
    assert_eq!(status("{default: {description: a}}"), 200);
    assert_eq!(status("{200: {description: an integer key}}"), 200);
    let (only_error, warnings) = answer("{'404': {description: a}}");
    assert_eq!(only_error.response.status, 404);
    assert_eq!(
        warnings[0].message,
        "GET /x lists no success response; it answers 404"
    );
    assert_eq!((warnings[0].line, warnings[0].column), (6, 19));
    let (none, warnings) = answer("{}");
    assert_eq!(none.response.status, 200);
    assert_eq!(none.response.body, Body::Absent);
    assert!(
        warnings[0].message.contains("lists no responses"),
        "{warnings:#?}"
    );
    assert_eq!(warnings[0].key.as_deref(), Some("paths[\"/x\"].get"));
}

#[test]
fn the_media_type_is_json_first() {
    let (both, _) = answer(
        "{'200': {description: a, content: {text/plain: {example: hi}, application/json: \
         {example: {a: 1}}}}}",
    );
    assert_eq!(header(&both, "content-type"), Some("application/json"));
    assert_eq!(body_json(&both), json!({"a": 1}));
    let (problem, _) = answer(
        "{'200': {description: a, content: {text/html: {example: x}, \
         application/problem+json: {example: {title: t}}}}}",
    );
    assert_eq!(
        header(&problem, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(body_json(&problem), json!({"title": "t"}));
    let (text, _) = answer("{'200': {description: a, content: {text/plain: {example: hi}}}}");
    assert_eq!(header(&text, "content-type"), Some("text/plain"));
    assert_eq!(body_text(&text), "hi");
    let (json_string, _) =
        answer("{'200': {description: a, content: {application/json: {example: hi}}}}");
    assert_eq!(body_text(&json_string), "\"hi\"");
    let (any, _) = answer("{'200': {description: a, content: {'*/*': {schema: {type: integer}}}}}");
    assert_eq!(header(&any, "content-type"), Some("application/json"));
    assert_eq!(body_json(&any), json!(0));
    let (empty, _) = answer("{'204': {description: none}}");
    assert!(empty.response.headers.is_empty());
    assert_eq!(empty.response.body, Body::Absent);
}

#[test]
fn examples_come_before_schemas() {
    let media = |object: &str| {
        let (endpoint, _) = answer(&format!(
            "{{'200': {{description: a, content: {{application/json: {object}}}}}}}"
        ));
        endpoint
    };
    let schema = "schema: {type: object, properties: {from: {type: string, example: schema}}}";
    assert_eq!(
        body_json(&media(&format!("{{{schema}}}"))),
        json!({"from": "schema"})
    );
    assert_eq!(
        body_json(&media(&format!(
            "{{example: {{from: example}}, examples: {{e: {{value: 1}}}}, {schema}}}"
        ))),
        json!({"from": "example"})
    );
    assert_eq!(
        body_json(&media(&format!(
            "{{examples: {{far: {{externalValue: 'https://example.com/x.json'}}, named: {{$ref: \
             '#/components/examples/Named'}}, last: {{value: 2}}}}, {schema}}}"
        ))),
        json!({"from": "ref"})
    );
    let template = media(&format!(
        "{{x-moclojer-body: '{{\"id\": {{{{path-params.id}}}}}}', example: {{id: 1}}, {schema}}}"
    ));
    assert_eq!(
        template.response.body,
        Body::Text("{\"id\": {{path-params.id}}}".to_owned())
    );
}

#[test]
fn template_markers_in_examples_stay_literal() {
    let (endpoint, _) = answer(
        "{'200': {description: a, headers: {X-Tpl: {schema: {type: string}, example: '{{x}}'}}, \
         content: {application/json: {example: {a: '{{path-params.id|nofilter}}', b: '{% if %}', \
         c: '{# c #}'}}}}}",
    );
    assert_eq!(
        body_json(&endpoint),
        json!({"a": "{{path-params.id|nofilter}}", "b": "{% if %}", "c": "{# c #}"})
    );
    assert_eq!(
        header(&endpoint, "x-tpl"),
        Some("{% verbatim %}{{x}}{% endverbatim %}")
    );
}

#[test]
fn headers_with_an_example_are_kept() {
    let (endpoint, _) = answer(
        "{'200': {description: a, headers: {X-Rate-Limit: {schema: {type: integer}, example: \
         100}, X-Mode: {schema: {type: string, enum: [fast, slow]}}, X-Plain: {schema: {type: \
         string}}, Content-Type: {example: text/evil}}, content: {application/json: {example: 1}}}}",
    );
    let names: Vec<(&str, &str)> = endpoint
        .response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Content-Type", "application/json"),
            ("X-Rate-Limit", "100"),
            ("X-Mode", "fast"),
        ]
    );
}

#[test]
fn parameters_type_the_path_and_declare_required_queries() {
    let doc = r#"openapi: 3.0.0
info: {title: T, version: '1'}
components:
  parameters:
    Limit: {name: limit, in: query, required: true, schema: {type: integer, format: int32}}
paths:
  /a/{i}/{n}/{f}/{b}/{u}/{d}/{s}/{free}:
    parameters:
      - {name: i, in: path, required: true, schema: {type: integer}}
      - {name: s, in: path, required: true, schema: {type: integer}}
    get:
      parameters:
        - {name: s, in: path, required: true, schema: {type: string}}
        - {name: n, in: path, required: true, schema: {type: number}}
        - {name: f, in: path, required: true, schema: {type: number, format: float}}
        - {name: b, in: path, required: true, schema: {type: boolean}}
        - {name: u, in: path, required: true, schema: {type: string, format: uuid}}
        - {name: d, in: path, required: true, schema: {type: string, format: date}}
        - $ref: '#/components/parameters/Limit'
        - {name: on, in: query, required: true, schema: {type: boolean}}
        - {name: ratio, in: query, required: true, schema: {type: number}}
        - {name: q, in: query, required: true}
        - {name: optional, in: query, schema: {type: integer}}
        - {name: tags, in: query, required: true, schema: {type: array, items: {type: string}}}
        - {name: X-Trace, in: header, required: true, schema: {type: string}}
      responses: {'200': {description: ok}}
  /files/{name}.json:
    get: {responses: {'200': {description: ok}}}
  /:
    get: {responses: {'200': {description: root}}}
"#;
    let (_, spec, warnings) = openapi(doc);
    let typed = &spec.endpoints[0];
    assert_eq!(
        typed.path.to_string(),
        "/a/:i|int/:n|double/:f|float/:b|bool/:u|uuid/:d|date/:s/:free"
    );
    let query: Vec<(&str, ParamType)> = typed
        .query
        .iter()
        .map(|q| (q.name.as_str(), q.ty))
        .collect();
    assert_eq!(
        query,
        [
            ("limit", ParamType::Int),
            ("on", ParamType::Bool),
            ("ratio", ParamType::Double),
            ("q", ParamType::String),
        ]
    );
    assert_eq!(spec.endpoints[1].path.to_string(), "/files/:name");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!((warnings[0].line, warnings[0].column), (27, 3));
    assert!(
        warnings[0]
            .message
            .contains("`{name}.json` mixes text and parameters")
    );
    assert_eq!(spec.endpoints[2].path.to_string(), "/");
}

#[test]
fn swagger_2_documents_import() {
    let doc = r#"swagger: "2.0"
info: {title: Store, version: "2"}
produces: [application/xml, application/json]
definitions:
  Order:
    type: object
    properties:
      id: {type: integer, format: int64}
      status: {type: string, enum: [placed, shipped]}
      items: {type: array, items: {$ref: '#/definitions/Item'}}
  Item:
    type: object
    properties:
      sku: {type: string}
      receipt: {type: file}
paths:
  /orders/{orderId}:
    get:
      parameters:
        - {name: orderId, in: path, required: true, type: integer}
        - {name: expand, in: query, required: true, type: boolean}
      responses:
        200: {description: ok, schema: {$ref: '#/definitions/Order'}}
  /orders:
    post:
      produces: [text/plain]
      responses:
        201:
          description: made
          examples: {text/plain: made it}
          headers: {Location: {type: string, default: /orders/1}}
    get:
      responses:
        200:
          description: ok
          examples: {application/json: [{id: 7}]}
"#;
    let (yaml, spec, warnings) = openapi(doc);
    assert!(
        yaml.starts_with("# Imported from Swagger 2.0: Store (2)\n"),
        "{yaml}"
    );
    assert!(warnings.is_empty(), "{warnings:#?}");
    let get = &spec.endpoints[0];
    assert_eq!(get.path.to_string(), "/orders/:orderId|int");
    assert_eq!(get.query[0].ty, ParamType::Bool);
    assert_eq!(header(get, "content-type"), Some("application/json"));
    assert_eq!(
        body_json(get),
        json!({"id": 0, "status": "placed", "items": [{"sku": "string", "receipt": "string"}]})
    );
    let post = &spec.endpoints[1];
    assert_eq!((post.method, post.response.status), (Method::Post, 201));
    assert_eq!(header(post, "content-type"), Some("text/plain"));
    assert_eq!(header(post, "location"), Some("/orders/1"));
    assert_eq!(body_text(post), "made it");
    assert_eq!(body_json(&spec.endpoints[2]), json!([{"id": 7}]));
}

#[test]
fn json_documents_import_whatever_their_indentation() {
    let spaces = r##"{
  "openapi": "3.1.0",
  "info": {"title": "J", "version": "1"},
  "paths": {
    "/j/{id}": {
      "get": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/J"}}}}}
      }
    }
  },
  "components": {"schemas": {"J": {"type": "object", "properties": {"yes": {"type": "boolean"}, "on": {"const": "on"}}}}}
}"##;
    let (_, spec, _) = openapi(spaces);
    assert_eq!(spec.endpoints[0].path.to_string(), "/j/:id|int");
    assert_eq!(
        body_json(&spec.endpoints[0]),
        json!({"yes": true, "on": "on"})
    );
    let tabs = spaces.replace("  ", "\t");
    let (_, tabbed, _) = openapi(&tabs);
    assert_eq!(tabbed, spec);
    let one_line: String = spaces.lines().map(str::trim).collect();
    assert_eq!(openapi(&one_line).1, spec);
}

// --- refusals, with positions in the uploaded text -------------------------------------

const HEAD: &str = "openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n";

#[test]
fn broken_documents_are_refused_where_they_break() {
    let at = |doc: &str| {
        let (line, column, message) = first_error(&refused(doc));
        (line, column, message)
    };
    let (line, column, message) = at(&format!("{HEAD}  /x:\n    get: {{responses: [}}\n"));
    assert_eq!((line, column), (5, 23), "{message}");
    assert!(message.starts_with("YAML syntax error"), "{message}");
    let (line, column, message) = at("{\"openapi\": \"3.0.0\",\n \"paths\": {\"/x\" {}}}");
    assert_eq!((line, column), (2, 17), "{message}");
    let missing = format!(
        "{HEAD}  /x:\n    get:\n      responses:\n        '200':\n          description: ok\n          \
         content:\n            application/json:\n              schema: {{$ref: \
         '#/components/schemas/Nope'}}\n"
    );
    assert_eq!(
        at(&missing),
        (
            11,
            30,
            "`#/components/schemas/Nope` points to nothing in this document".to_owned()
        )
    );
    assert_eq!(
        at("openapi: 2.5\npaths: {}\n"),
        (
            1,
            10,
            "OpenAPI `2.5` is not supported: OpenAPI 3.x and Swagger 2.0 are".to_owned()
        )
    );
    assert_eq!(at("swagger: '1.2'\npaths: {}\n").0, 1);
    assert_eq!(at("swagger: '1.2'\npaths: {}\n").1, 10);
    assert_eq!(
        at("openapi: 3.0.0\ninfo: {title: T}\n"),
        (
            1,
            1,
            "the document needs a `paths` map: its operations are what is imported".to_owned()
        )
    );
    assert_eq!(at("openapi: 3.0.0\npaths: [1]\n").0, 2);
    assert_eq!(
        at(&format!("{HEAD}  pets:\n    get: {{}}\n")),
        (4, 3, "the path `pets` must start with `/`".to_owned())
    );
    assert!(
        at("- endpoint:\n    path: /x\n")
            .2
            .contains("needs no import")
    );
    assert_eq!(
        at("info: {title: T}\n").2,
        "not an OpenAPI document: it has no `openapi` (or `swagger`) key"
    );
    assert_eq!(at("42\n").0, 1);
    assert_eq!(
        at("# nothing\n"),
        (1, 1, "the document is empty".to_owned())
    );
}

#[test]
fn size_and_operation_limits_are_enforced() {
    let small = Limits {
        max_bytes: 40,
        ..Limits::default()
    };
    let refused = import_openapi(PETS, &small).expect_err("too large");
    assert_eq!((refused[0].line, refused[0].column), (1, 1));
    assert!(refused[0].message.contains("at most 40"), "{refused:#?}");
    let few = Limits {
        max_items: 1,
        ..Limits::default()
    };
    let refused = import_openapi(PETS, &few).expect_err("too many");
    let (line, column, message) = first_error(&refused);
    assert_eq!((line, column), (21, 5), "{message}");
    assert!(message.contains("more than 1 operations"));
}

#[test]
fn refusals_keep_the_warnings_and_external_refs_only_warn() {
    let doc = format!(
        "{HEAD}  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          \
         content: {{application/json: {{schema: {{$ref: 'common.yaml#/Pet'}}}}}}\n  b: {{}}\n"
    );
    let diagnostics = refused(&doc);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(!diagnostics[0].is_error());
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (9, 55));
    assert!(
        diagnostics[0]
            .message
            .contains("points outside the document")
    );
    assert!(diagnostics[1].is_error());
    let fixed = doc.replace("  b: {}\n", "");
    let (_, spec, warnings) = openapi(&fixed);
    assert_eq!(warnings.len(), 1);
    assert_eq!(body_json(&spec.endpoints[0]), Value::Null);
}

#[test]
fn clashing_routes_are_reported_at_their_operations() {
    let doc = format!(
        "{HEAD}  /p/{{id}}:\n    get: {{responses: {{'200': {{description: a}}}}}}\n  \
         /p/{{name}}:\n    get: {{responses: {{'200': {{description: b}}}}}}\n"
    );
    let (_, spec, warnings) = openapi(&doc);
    assert_eq!(spec.endpoints.len(), 2);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!((warnings[0].line, warnings[0].column), (7, 5));
    assert_eq!(warnings[0].key.as_deref(), Some("paths[\"/p/{name}\"].get"));
    assert!(warnings[0].message.contains("shadowed"), "{warnings:#?}");
}

// --- EDN -----------------------------------------------------------------------------

const EDN: &str = r#"; a shop, with every kind of item
{:endpoint {:method :get
            :path "/pets/:id|int"
            :host "shop.example.com"
            :query {:page :int}
            :response {:status 200
                       :headers {:X-Kind :pet :X-Count 3 :X-Ratio 1.5 :Content-Type "application/json"}
                       :body {:id "{{path-params.id}}" :name "uber" :tags [:a "b"] :price 9.5 :on nil}}}}
{:endpoint {:method "POST" :path "/pets"
            :body "{\"name\": \"x\"}"
            :response {:status 201 :body :created}
            :webhook {:url "https://hooks.example.com/pets" :method :put :body {:made true}
                      :if "json-params.name = \"x\"" :headers {:X-Hook :yes}}
            :rate-limit {:window-ms 1000 :max-requests 5 :key-fn :api-key}
            :latency {:min-ms 1 :max-ms 2}
            :tag :pets}}
{:endpoint {:path "/rules"
            :responses [{:when {:headers {:x-role :admin}
                                :query-params {:kind {:one-of [:a :b 3]}}
                                :body-contains :needle}
                         :status 201 :body {:admin true}}
                        {:when {:json-params {:user.name {:contains :ann}}}
                         :status 202 :scenario {:name :flow :set-state :done}}]
            :response {:status 200 :body "plain 'quoted' {{query-params.kind}}\nnext line"}}}
{:endpoint {:path "/seq" :sequence [{:status 200 :body {:n 1}} {:status 503}] :sequence-mode :cycle}}
{:websocket {:path "/ws" :on-connect {:response {:hello :world}}
             :on-message [{:pattern "ping" :response "pong"} {:pattern "j.*" :response [1 2]}]}}
{:resource {:path "/users" :seed [{:id 1 :name :ada}]}}
"#;

/// The spec without what only says where things are, and without hosts.
fn without_places(mut spec: Spec) -> Spec {
    for endpoint in &mut spec.endpoints {
        endpoint.line = 0;
        endpoint.host = None;
        for rule in &mut endpoint.rules {
            rule.line = 0;
        }
    }
    for socket in &mut spec.websockets {
        socket.line = 0;
        socket.host = None;
    }
    for resource in &mut spec.resources {
        resource.line = 0;
        resource.host = None;
    }
    spec
}

#[test]
fn edn_imports_to_yaml_that_means_the_same() {
    let (yaml, warnings) = import_edn(EDN, &limits()).unwrap_or_else(|d| panic!("{d:#?}"));
    let from_edn = without_places(parse_edn(EDN, &limits()).expect("the EDN reads"));
    let from_yaml = without_places(parse_yaml(&yaml, &limits()).expect("the YAML reads"));
    assert_eq!(from_yaml, from_edn, "{yaml}");
    check(&yaml, Format::Yaml, Mode::Cloud, &limits()).expect("valid in the hosted service");
    // Spelled-out meanings: keywords keep their colon where the reader takes their `str`.
    let rules = &from_yaml.endpoints[2].rules;
    assert_eq!(
        rules[0].when.headers[0].1,
        spec::Matcher::Equals(":admin".to_owned())
    );
    assert_eq!(
        rules[1]
            .scenario
            .as_ref()
            .and_then(|s| s.set_state.as_deref()),
        Some(":done")
    );
    assert_eq!(from_yaml.endpoints[0].response.headers[0].1, ":pet");
    assert_eq!(from_yaml.endpoints[0].method, Method::Get);
    assert_eq!(
        from_yaml.endpoints[1].response.body,
        Body::Text("\"created\"".to_owned())
    );
    assert!(yaml.contains("      body: '{\"admin\":true}'\n"), "{yaml}");
    // The host is dropped, with a warning where it was.
    assert!(!yaml.contains("shop.example.com"));
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!((warnings[0].line, warnings[0].column), (4, 19));
    assert_eq!(warnings[0].key.as_deref(), Some("endpoint.host"));
    assert_eq!(warnings[0].item, Some(0));
}

#[test]
fn edn_refusals_point_into_the_edn() {
    let refused = import_edn(
        r#"{:endpoint {:path "/x" :response {:status 999}}}"#,
        &limits(),
    )
    .expect_err("a bad status");
    let (line, column, message) = first_error(&refused);
    assert_eq!((line, column), (1, 43), "{message}");
    assert!(message.contains("999"), "{message}");
    let template = "{:endpoint {:path \"/t\"\n :response {:body \"{{x|nofilter}}\"}}}";
    let refused = import_edn(template, &limits()).expect_err("a template error in the cloud");
    assert_eq!(first_error(&refused).0, 2);
    let syntax = import_edn("{:endpoint {:path \"/x\"}", &limits()).expect_err("unclosed");
    assert!(first_error(&syntax).2.contains("EDN"), "{syntax:#?}");
    assert_eq!(
        import_edn("", &limits())
            .map(|(yaml, _)| yaml)
            .ok()
            .as_deref(),
        Some("# Imported from EDN\n[]\n")
    );
}

#[test]
fn the_format_is_sniffed() {
    for edn in [
        "; comment\n{:endpoint {}}",
        "  {:endpoint {}}",
        "\u{feff}{ , :endpoint {}}",
        "#_ {:x 1} {:endpoint {}}",
        "\n\n{\n  :endpoint {}}",
    ] {
        assert_eq!(ImportFormat::sniff(edn), ImportFormat::Edn, "{edn:?}");
    }
    for openapi in [
        "{\"openapi\": \"3.0.0\"}",
        "openapi: 3.0.0",
        "{}",
        "",
        "swagger: '2.0'",
        "- a",
    ] {
        assert_eq!(
            ImportFormat::sniff(openapi),
            ImportFormat::OpenApi,
            "{openapi:?}"
        );
    }
    assert_eq!(ImportFormat::parse("EDN"), Some(ImportFormat::Edn));
    assert_eq!(ImportFormat::parse("openapi"), Some(ImportFormat::OpenApi));
    assert_eq!(ImportFormat::parse("yaml"), None);
    let imported = import(EDN, None, &limits()).expect("imports");
    assert_eq!(imported.format, ImportFormat::Edn);
    let imported = import(PETS, None, &limits()).expect("imports");
    assert_eq!(
        (imported.format, imported.format.to_string()),
        (ImportFormat::OpenApi, "openapi".to_owned())
    );
    assert!(import(PETS, Some(ImportFormat::Edn), &limits()).is_err());
}

// --- export, and back ----------------------------------------------------------------

const EXPORTED: &str = r#"- endpoint:
    method: GET
    path: /pets/:id|int
    tag: pets
    query:
      page: int
    response:
      status: 200
      headers:
        Content-Type: application/json
        X-Kind: pet
      body: '{"id": {{path-params.id}}, "page": {{query-params.page}}}'
- endpoint:
    path: /static
    response:
      body: '{"b": [1, 2.5, "x"], "a": null}'
- endpoint:
    method: POST
    path: /text/:name
    response:
      status: 201
      headers:
        Content-Type: text/plain
      body: hello {{path-params.name}}
- endpoint:
    method: DELETE
    path: /
    response:
      status: 204
- endpoint:
    path: /seq
    sequence:
      - status: 202
        body: '{"n": 1}'
      - status: 503
- endpoint:
    method: PUT
    path: /static
    responses:
      - when: {headers: {x-mode: fast}}
        status: 418
    response:
      status: 200
      body: '{% verbatim %}{"t": "{{x}}"}{% endverbatim %}'
- endpoint:
    method: CONNECT
    path: /tunnel
- endpoint:
    path: /static
    response:
      body: shadowed
- endpoint:
    path: /flags/:on|bool/:u|uuid/:d|date/:f|float/:x|double/:s
"#;

fn exported() -> (Spec, Value) {
    let (spec, _) = check(EXPORTED, Format::Yaml, Mode::Cloud, &limits()).expect("valid");
    let info = ExportInfo {
        title: "shop",
        version: "7",
        server_url: Some("http://shop-alice.localhost:8080"),
    };
    let document = export_openapi(&spec, &info);
    (spec, document)
}

#[test]
fn export_describes_each_endpoint() {
    let (_, document) = exported();
    assert_eq!(document["openapi"], "3.0.3");
    assert_eq!(document["info"], json!({"title": "shop", "version": "7"}));
    assert_eq!(
        document["servers"][0]["url"],
        "http://shop-alice.localhost:8080"
    );
    let paths: Vec<&String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .collect();
    assert_eq!(
        paths,
        [
            "/pets/{id}",
            "/static",
            "/text/{name}",
            "/",
            "/seq",
            "/flags/{on}/{u}/{d}/{f}/{x}/{s}"
        ]
    );
    let pet = &document["paths"]["/pets/{id}"]["get"];
    assert_eq!(
        pet["parameters"],
        json!([
            {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}},
            {"name": "page", "in": "query", "required": true, "schema": {"type": "integer", "format": "int64"}},
        ])
    );
    assert_eq!(
        (pet["operationId"].as_str(), &pet["tags"]),
        (Some("get_pets_id"), &json!(["pets"]))
    );
    let ok = &pet["responses"]["200"];
    assert_eq!(
        ok["headers"],
        json!({"X-Kind": {"schema": {"type": "string"}, "example": "pet"}})
    );
    let template = "{\"id\": {{path-params.id}}, \"page\": {{query-params.page}}}";
    assert_eq!(
        ok["content"],
        json!({"application/json": {"example": template, "x-moclojer-body": template}})
    );
    let stat = &document["paths"]["/static"];
    assert_eq!(
        stat["get"]["responses"]["200"]["content"],
        json!({"application/json": {"example": {"b": [1, 2.5, "x"], "a": null}}})
    );
    assert_eq!(
        stat["put"]["responses"]["200"]["content"]["application/json"]["example"],
        json!({"t": "{{x}}"})
    );
    assert!(
        stat["put"]["responses"].get("418").is_none(),
        "rules are not exported"
    );
    assert_eq!(
        document["paths"]["/text/{name}"]["post"]["responses"]["201"]["content"]["text/plain"]["example"],
        "hello {{path-params.name}}"
    );
    assert_eq!(
        document["paths"]["/"]["delete"]["responses"],
        json!({"204": {"description": "The mock's answer."}})
    );
    assert_eq!(
        document["paths"]["/seq"]["get"]["responses"]["202"]["content"]["application/json"]["example"],
        json!({"n": 1})
    );
    let types: Vec<Value> =
        document["paths"]["/flags/{on}/{u}/{d}/{f}/{x}/{s}"]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| p["schema"].clone())
            .collect();
    assert_eq!(
        types,
        [
            json!({"type": "boolean"}),
            json!({"type": "string", "format": "uuid"}),
            json!({"type": "string", "format": "date"}),
            json!({"type": "number", "format": "float"}),
            json!({"type": "number", "format": "double"}),
            json!({"type": "string"}),
        ]
    );
}

#[test]
fn export_then_import_gives_the_same_answers() {
    let (spec, document) = exported();
    let pretty = serde_json::to_string_pretty(&document).expect("JSON");
    let (_, back, warnings) = openapi(&pretty);
    assert!(warnings.is_empty(), "{warnings:#?}");
    let mut seen = std::collections::HashSet::new();
    let originals: Vec<&Endpoint> = spec
        .endpoints
        .iter()
        .filter(|e| e.method != Method::Connect)
        .filter(|e| seen.insert((e.method, e.path.to_string())))
        .collect();
    assert_eq!(back.endpoints.len(), originals.len());
    for original in originals {
        let path = original.path.to_string();
        let imported = back
            .endpoints
            .iter()
            .find(|e| e.method == original.method && e.path.to_string() == path)
            .unwrap_or_else(|| panic!("{} {path} is not imported", original.method));
        let answer = original
            .sequence
            .as_ref()
            .map_or(&original.response, |s| &s.responses[0]);
        assert_eq!(imported.query, original.query, "{path}");
        assert_eq!(imported.response.status, answer.status, "{path}");
        let content_type = |response: &spec::Response| {
            response
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map_or("application/json".to_owned(), |(_, v)| v.clone())
        };
        assert_eq!(
            content_type(&imported.response),
            content_type(answer),
            "{path}"
        );
        match (&answer.body, &imported.response.body) {
            (Body::Text(before), Body::Text(after)) => {
                match serde_json::from_str::<Value>(before) {
                    Ok(json) => assert_eq!(serde_json::from_str::<Value>(after).ok(), Some(json)),
                    Err(_) => assert_eq!(after, before, "{path}"),
                }
            }
            (before, after) => assert_eq!(after, before, "{path}"),
        }
    }
}
