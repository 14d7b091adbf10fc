use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::macros::datetime;

use super::*;

/// A test double: a fixed clock, a fixed UUID and a fixed random number.
struct FixedEnv;

impl Env for FixedEnv {
    fn now(&self) -> time::OffsetDateTime {
        datetime!(2024-01-02 03:04:05 UTC)
    }

    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_owned()
    }

    fn random(&self) -> u64 {
        42
    }
}

fn context() -> Value {
    json!({
        "path-params": {"id": "42", "name": "moclojer"},
        "query-params": {"q": "hello world", "n": "5"},
        "json-params": {
            "user": {
                "name": "alice", "age": 30, "tags": ["a", "b", "c"],
                "active": true, "score": 2.5, "none": null
            },
            "items": [3, 1, 2],
            "people": [{"name": "bob", "age": 40}, {"name": "ann", "age": 20}]
        },
        "header-params": {"x-token": "abc"},
        "html": "<b>\"hi\" & 'bye'</b>",
        "empty": "", "falsy": "false", "zero": 0, "one": 1, "f": false, "t": true,
        "float": 10.0, "big": 1_234_567.891, "tie": 0.125,
        "nums": [1, 2, 3], "words": ["x", "y"], "none": [], "map": {"a": 1, "b": 2},
        "date": "2024-03-05T14:07:09Z", "day": "2024-03-05", "multiline": "a\nb\n\nc"
    })
}

fn render(source: &str, ctx: &Value, escape: Escape) -> Result<String, RenderError> {
    let template =
        Template::compile(source).unwrap_or_else(|e| panic!("{source:?} does not compile: {e}"));
    template.render(ctx, escape, &FixedEnv, &RenderLimits::default())
}

/// Renders each `(template, expected)` with `escape` against the shared context.
fn check(escape: Escape, cases: &[(&str, &str)]) {
    let ctx = context();
    for (source, expected) in cases {
        match render(source, &ctx, escape) {
            Ok(actual) => assert_eq!(&actual, expected, "template {source:?}"),
            Err(e) => panic!("template {source:?} failed: {e}"),
        }
    }
}

/// Compiles each source and expects `(line, column, message fragment)`.
fn check_compile_errors(cases: &[(&str, (u32, u32), &str)]) {
    for (source, (line, column), fragment) in cases {
        let error = Template::compile(source)
            .err()
            .unwrap_or_else(|| panic!("{source:?} should not compile"));
        assert_eq!(
            (error.line, error.column),
            (*line, *column),
            "{source:?}: {error}"
        );
        assert!(
            error.message.contains(fragment),
            "{source:?}: {:?} lacks {fragment:?}",
            error.message
        );
    }
}

#[test]
fn variables_and_accessors() {
    check(
        Escape::Html,
        &[
            ("{{path-params.id}}", "42"),
            ("{{ path-params.id }}", "42"),
            ("id={{path-params.id}}!", "id=42!"),
            ("{{json-params.user.tags.0}}", "a"),
            ("{{json-params.user.tags.2}}", "c"),
            ("{{json-params.user.tags.5}}", ""),
            ("{{json-params.user.name}}", "alice"),
            ("{{json-params.user.age}}", "30"),
            ("{{json-params.user.score}}", "2.5"),
            ("{{float}}", "10.0"),
            ("{{json-params.user.active}}", "true"),
            ("{{f}}", "false"),
            ("{{zero}}", "0"),
            ("{{json-params.user.none}}", ""),
            ("{{nope}}", ""),
            ("{{nope.deeper.still}}", ""),
            ("{{path-params.name.0}}", "m"),
            ("{{json-params.people.1.name}}", "ann"),
            ("{{\"literal\"}}", "literal"),
            ("{{123}}", "123"),
            ("{{}}", ""),
            ("a{# a comment #}b", "ab"),
        ],
    );
    check(
        Escape::None,
        &[
            ("{{words}}", r#"["x","y"]"#),
            ("{{map}}", r#"{"a":1,"b":2}"#),
            ("{{json-params.people.0}}", r#"{"name":"bob","age":40}"#),
        ],
    );
}

#[test]
fn built_in_variables() {
    check(
        Escape::Html,
        &[
            ("{{uuid}}", "00000000-0000-4000-8000-000000000000"),
            ("{{random}}", "42"),
            ("{{now}}", "2024-01-02T03:04:05Z"),
            ("{{header-params.x-token}}", "abc"),
        ],
    );
    let ctx = json!({"uuid": "mine", "now": "then"});
    let rendered = render("{{uuid}} {{now}} {{random}}", &ctx, Escape::Html);
    assert_eq!(rendered.as_deref(), Ok("mine then 42"));
}

#[test]
fn handlebars_markers_render_as_missing_variables() {
    check(
        Escape::Html,
        &[
            ("{{#if path-params.id}}yes{{else}}no{{/if}}", "yesno"),
            ("{{#each json-params.items}}x{{/each}}", "x"),
        ],
    );
}

#[test]
fn escaping_modes() {
    check(
        Escape::Html,
        &[
            (
                "{{html}}",
                "&lt;b&gt;&quot;hi&quot; &amp; &#39;bye&#39;&lt;/b&gt;",
            ),
            ("{{html|safe}}", "<b>\"hi\" & 'bye'</b>"),
            ("{{html|upper|safe}}", "<B>\"HI\" & 'BYE'</B>"),
            ("{% safe %}{{html}}{% endsafe %}", "<b>\"hi\" & 'bye'</b>"),
            ("<p>{{path-params.id}}</p>", "<p>42</p>"),
            ("{% now yyyy'<'MM %}", "2024<01"),
            ("{{words}}", "[&quot;x&quot;,&quot;y&quot;]"),
        ],
    );
    check(
        Escape::Json,
        &[
            ("{{html}}", r#"<b>\"hi\" & 'bye'</b>"#),
            ("{{html|safe}}", "<b>\"hi\" & 'bye'</b>"),
            ("{{multiline}}", r"a\nb\n\nc"),
            ("{{words}}", r#"[\"x\",\"y\"]"#),
            ("{{words|json|safe}}", r#"["x","y"]"#),
        ],
    );
    check(Escape::None, &[("{{html}}", "<b>\"hi\" & 'bye'</b>")]);
}

#[test]
fn json_escaping_keeps_a_json_body_valid() {
    let template = Template::compile(r#"{"id": "{{path-params.id}}", "q": "{{query-params.q}}"}"#)
        .expect("compiles");
    for hostile in [
        "a\"b\\c",
        "\"}, \"admin\": true, \"x\": \"",
        "line\nbreak\ttab\u{1}\u{1f}",
        "é ☃ \u{2028}",
    ] {
        let ctx = json!({"path-params": {"id": hostile}, "query-params": {"q": "\\"}});
        let body = template
            .render(&ctx, Escape::Json, &FixedEnv, &RenderLimits::default())
            .expect("renders");
        let parsed: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(parsed, json!({"id": hostile, "q": "\\"}));
    }
}

#[test]
fn string_filters() {
    check(
        Escape::Html,
        &[
            ("{{path-params.nope|default:\"none\"}}", "none"),
            ("{{f|default:\"d\"}}", "d"),
            ("{{empty|default:\"d\"}}", ""),
            ("{{path-params.nope|default:@path-params.id}}", "42"),
            ("{{nope|default:@missing}}", "@missing"),
            ("{{empty|default-if-empty:\"d\"}}", "d"),
            ("{{none|default-if-empty:\"d\"}}", "d"),
            ("{{nope|default-if-empty:\"d\"}}", "d"),
            ("{{path-params.id|default-if-empty:\"d\"}}", "42"),
            ("{{path-params.name|upper}}", "MOCLOJER"),
            ("{{ path-params.name | upper }}", "MOCLOJER"),
            ("{{\"ABC\"|lower}}", "abc"),
            ("{{nope|upper}}", ""),
            ("{{\"hello WORLD\"|capitalize}}", "Hello world"),
            ("{{\"hello big world\"|title}}", "Hello Big World"),
            ("{{path-params.id|str}}", "42"),
            ("{{zero|str}}", "0"),
            ("{{path-params.name|name}}", "moclojer"),
            (
                "{{query-params.q|replace:\"world\":\"there\"}}",
                "hello there",
            ),
            ("{{\"abc\"|replace:\"\":\"-\"}}", "-a-b-c-"),
            ("{{query-params.q|urlescape}}", "hello+world"),
            (
                "{{\"a/b?c=d&e~é\"|urlescape}}",
                "a%2Fb%3Fc%3Dd%26e%7E%C3%A9",
            ),
            (
                "{{\"Az09.-*_ +%~'!()\"|urlescape}}",
                "Az09.-*_+%2B%25%7E%27%21%28%29",
            ),
            ("{{\"abcdefghij\"|abbreviate:5}}", "ab..."),
            ("{{\"abcdefghij\"|abbreviate:20}}", "abcdefghij"),
            ("{{\"abcdefghij\"|abbreviate:8:5}}", "ab..."),
            ("{{\"abcdefghij\"|abbr-left|abbreviate:5}}", "...ij"),
            ("{{\"abcdefghij\"|abbr-middle|abbreviate:7}}", "ab...ij"),
            ("{{\"abcdefghij\"|abbr-right|abbreviate:5}}", "ab..."),
            (
                "{{\"abcdefghij\"|abbr-ellipsis:\"~\"|abbreviate:4}}",
                "abc~",
            ),
            ("{{html|addslashes|safe}}", "<b>\\\"hi\\\" & \\'bye\\'</b>"),
            ("[{{\"ab\"|center:6}}]", "[  ab  ]"),
            ("[{{\"abc\"|center:6}}]", "[  abc ]"),
            ("{{map|sort|first|first}}", "a"),
            ("{{\"banana\"|remove:\"a\"}}", "bnn"),
            ("{{\"hello\"|subs:1:3}}", "el"),
            ("{{\"hello\"|subs:0:2:\"...\"}}", "he..."),
            ("{{\"hello\"|subs:0:5:\"...\"}}", "hello"),
            ("{{multiline|linebreaks-br|safe}}", "a<br />b<br /><br />c"),
            ("{{multiline|linebreaks|safe}}", "<p>a<br />b</p><p>c</p>"),
            ("{{multiline|linenumbers}}", "1. a\n2. b\n3. \n4. c"),
            (
                "{{\"<b>x</b><i>y</i><B class='z'>w</B>\"|remove-tags:b|safe}}",
                "x<i>y</i>w",
            ),
            (
                "{{\"a@b.com\"|email}}",
                "<a href='mailto:a@b.com'>a@b.com</a>",
            ),
            (
                "{{\"not an email\"|email:\"false\"}}",
                "<a href='mailto:not an email'>not an email</a>",
            ),
            (
                "{{\"0123 456\"|phone:\"44\"}}",
                "<a href='tel:+44-123-456'>0123 456</a>",
            ),
            ("{{\"x\"|add:@path-params.id}}", "x42"),
            ("{{nope|default:\"a|b\"}}", "a|b"),
            ("{{nope|default:\"x:y\"|upper}}", "X:Y"),
            ("{{ nope | default : \"d\" }}", "d"),
        ],
    );
}

#[test]
fn number_filters() {
    check(
        Escape::Html,
        &[
            ("{{zero|add:5}}", "5"),
            ("{{query-params.n|add:\"2\":3}}", "10"),
            ("{{path-params.name|add:\"!\"}}", "moclojer!"),
            ("{{json-params.user.score|add:1}}", "3.5"),
            ("{{nope|add:\"x\"}}", "x"),
            ("{{query-params.n|multiply:3}}", "15"),
            ("{{json-params.user.score|multiply:2}}", "5.0"),
            ("{{7|divide:2}}", "3.5"),
            ("{{8|divide:2}}", "4"),
            ("{{json-params.user.score|round}}", "3"),
            ("{{big|double-format:2}}", "1234567.89"),
            ("{{json-params.user.score|double-format}}", "2.5"),
            ("{{tie|double-format:2}}", "0.13"),
            ("{{zero|double-format:3}}", "0.000"),
            ("{{big|number-format:\"%,.2f\"}}", "1,234,567.89"),
            ("{{json-params.user.age|number-format:\"%05d\"}}", "00030"),
            ("{{json-params.user.age|number-format:\"%.1f%%\"}}", "30.0%"),
            (
                "{{json-params.user.age|number-format:\"[%-4d]\"}}",
                "[30  ]",
            ),
            ("{{big|currency-format}}", "$1,234,567.89"),
            ("{{12345|get-digit:2}}", "4"),
            ("{{12345|get-digit:9}}", "12345"),
            ("{{zero|between?:-1:1}}", "true"),
            ("{{query-params.n|between?:1:3}}", "false"),
        ],
    );
}

#[test]
fn collection_filters() {
    check(
        Escape::Html,
        &[
            ("{{json-params.user.tags|length}}", "3"),
            ("{{json-params.user.tags|count}}", "3"),
            ("{{path-params.name|length}}", "8"),
            ("{{map|count}}", "2"),
            ("{{nope|length}}", "0"),
            ("{{nums|length-is:3}}", "true"),
            ("{{nope|count-is:0}}", "true"),
            ("{{empty|empty?}}", "true"),
            ("{{nums|empty?}}", "false"),
            ("{{nums|not-empty|length}}", "3"),
            ("{{none|not-empty|default:\"-\"}}", "-"),
            (
                "{{json-params.user.tags|json}}",
                "[&quot;a&quot;,&quot;b&quot;,&quot;c&quot;]",
            ),
            ("{{json-params.user.tags|json|safe}}", r#"["a","b","c"]"#),
            ("{{path-params.name|json|safe}}", r#""moclojer""#),
            ("{{nope|json|safe}}", "null"),
            ("{{json-params.user.tags|join:\", \"}}", "a, b, c"),
            ("{{nums|join}}", "123"),
            ("{{nums|join:\"-\"}}", "1-2-3"),
            ("{{nope|join:\"-\"}}", ""),
            ("{{nums|first}}", "1"),
            ("{{nums|last}}", "3"),
            ("{{path-params.name|first}}", "m"),
            ("{{path-params.name|last}}", "r"),
            ("{{nope|first}}", ""),
            ("{{none|first}}", ""),
            ("{{nums|take:2}}", "[1,2]"),
            ("{{nums|drop:1}}", "[2,3]"),
            ("{{nums|drop-last:1}}", "[1,2]"),
            ("{{nums|take:2|last}}", "2"),
            ("{{json-params.items|sort}}", "[1,2,3]"),
            ("{{json-params.items|sort-reversed}}", "[3,2,1]"),
            ("{{words|sort-reversed|first}}", "y"),
            (
                "{% for p in json-params.people|sort-by:\"age\" %}{{p.name}} {% endfor %}",
                "ann bob ",
            ),
            (
                "{% for p in json-params.people|sort-by-reversed:\"age\" %}{{p.name}} {% endfor %}",
                "bob ann ",
            ),
            ("{{nums|rand-nth}}", "1"),
            ("{{words|rand-nth}}", "x"),
            ("{{5|range|join:\",\"}}", "0,1,2,3,4"),
            ("{{10|range:5:2|join:\",\"}}", "5,7,9"),
            ("{{nums|pluralize}}", "s"),
            ("{{one|pluralize}}", ""),
            ("{{one|pluralize:\"y\":\"ies\"}}", "y"),
            ("{{nums|pluralize:\"y\":\"ies\"}}", "ies"),
            ("{{nums|pluralize:\"es\"}}", "es"),
        ],
    );
}

#[test]
fn hash_filter() {
    check(
        Escape::Html,
        &[
            (
                "{{path-params.name|hash:\"md5\"}}",
                "4aef35e00c214cfd44068b57098412ba",
            ),
            (
                "{{path-params.name|hash:\"sha\"}}",
                "47e0953aeacae717238607c78638ffe1e6b6c179",
            ),
            (
                "{{path-params.name|hash:\"sha256\"}}",
                "9569213c9de7d4fc48e9840391cf60abaf910fa88be1fc00716eefbb45b13498",
            ),
            ("{{27|hash:\"md5\"}}", "02e74f10e0327ad868d138f2b4fdd6f0"),
            (
                "{{path-params.name|hash:\"sha384\"}}",
                "7aa72840679004bb7f5bbe5b0349a9be8809c807db7ed80359b564966f4479b140dd97de2f9bcb7d36673e14aceee08c",
            ),
            (
                "{{path-params.name|hash:\"sha512\"}}",
                "668bae7c5d174e45d2a525dd0edff68f3645559ae3b20b9e59a939756b3a2a667dbe9c32e603dcdfbc51b77f5ab5b3d55cfab8f76444ecef641d2fbde55fe5f3",
            ),
        ],
    );
}

#[test]
fn date_filter_and_now_tag() {
    check(
        Escape::None,
        &[
            ("{{date|date:\"yyyy-MM-dd\"}}", "2024-03-05"),
            (
                "{{date|date:\"yyyy-MM-dd'T'HH:mm:ss\"}}",
                "2024-03-05T14:07:09",
            ),
            ("{{day|date:\"dd/MM/yyyy\"}}", "05/03/2024"),
            ("{{nope|date:\"yyyy\"}}", ""),
            ("{{now|date:\"yyyy-MM-dd\"}}", "2024-01-02"),
            (
                "{{date|date:\"EEE, d MMM yyyy h:mm a\"}}",
                "Tue, 5 Mar 2024 2:07 PM",
            ),
            (
                "{{date|date:\"EEEE MMMM yy D Q\"}}",
                "Tuesday March 24 65 1",
            ),
            (
                "{{date|date:\"HH:mm:ss.SSS XXX Z\"}}",
                "14:07:09.000 Z +0000",
            ),
            (
                "{{\"2024-03-05T14:07:09+05:30\"|date:\"HH:mm XXX\"}}",
                "14:07 +05:30",
            ),
            ("{{date|date:shortDate}}", "3/5/24"),
            (
                "{{date|date:\"mediumDateTime\"}}",
                "Mar 5, 2024, 2:07:09 PM",
            ),
            (
                "{{date|date:\"'Day' d 'of' MMMM, ''yy\"}}",
                "Day 5 of March, '24",
            ),
            ("{% now yyyy-MM-dd %}", "2024-01-02"),
            ("{% now yyyy-MM-dd'T'HH:mm:ss %}", "2024-01-02T03:04:05"),
            ("{% now dd MMM yyyy %}", "02 Jan 2024"),
        ],
    );
}

#[test]
fn if_tags_and_truthiness() {
    let yes_no = |value: &str| format!("{{% if {value} %}}y{{% else %}}n{{% endif %}}");
    let ctx = context();
    for (operand, expected) in [
        ("empty", "n"),
        ("falsy", "n"),
        ("f", "n"),
        ("nope", "n"),
        ("json-params.user.none", "n"),
        ("zero", "y"),
        ("t", "y"),
        ("nums", "y"),
        ("none", "y"),
        ("path-params.id", "y"),
        ("\"x\"", "y"),
        ("not nope", "y"),
        ("not t", "n"),
        ("path-params.id = 42", "y"),
        ("path-params.id = 42.0", "y"),
        ("path-params.id = \"42\"", "y"),
        ("path-params.id = 43", "n"),
        ("path-params.name = \"moclojer\"", "y"),
        ("path-params.name == \"moclojer\"", "y"),
        ("path-params.name != \"x\"", "y"),
        ("path-params.name = path-params.name", "y"),
        ("nope = \"\"", "n"),
        ("json-params.user.age > 18", "y"),
        ("json-params.user.age < 18", "n"),
        ("json-params.user.age >= 30", "y"),
        ("json-params.user.age <= 29", "n"),
        ("nope > 1", "n"),
        ("path-params.name > 1", "n"),
        ("json-params.user.tags|length > 2", "y"),
        ("t and path-params.id", "y"),
        ("t and f", "n"),
        ("f or t", "y"),
        ("f or nope", "n"),
        ("not f and t", "y"),
        ("any f nope t", "y"),
        ("any f nope", "n"),
        ("all t zero", "y"),
        ("all t f", "n"),
        ("not path-params.id = 1", "y"),
        ("not not t", "y"),
        ("not not not t", "n"),
    ] {
        let source = yes_no(operand);
        assert_eq!(
            render(&source, &ctx, Escape::Html).as_deref(),
            Ok(expected),
            "{source}"
        );
    }
    check(
        Escape::Html,
        &[
            ("{% if f %}a{% elif t %}b{% else %}c{% endif %}", "b"),
            (
                "{% if f %}a{% elif nope %}b{% elif zero %}c{% endif %}",
                "c",
            ),
            ("{% if f %}a{% elif nope %}b{% endif %}", ""),
            (
                "{% if t %}{% if f %}x{% else %}y{% endif %}{% endif %}",
                "y",
            ),
            (
                "{% ifequal path-params.id \"42\" %}y{% else %}n{% endifequal %}",
                "y",
            ),
            ("{% ifequal path-params.id 42 %}y{% endifequal %}", "y"),
            (
                "{% ifequal path-params.id path-params.name %}y{% else %}n{% endifequal %}",
                "n",
            ),
            (
                "{% ifunequal path-params.id \"42\" %}y{% else %}n{% endifunequal %}",
                "n",
            ),
        ],
    );
}

#[test]
fn for_tags() {
    check(
        Escape::Html,
        &[
            (
                "{% for t in json-params.user.tags %}{{forloop.counter}}:{{t}}{% if not forloop.last %},{% endif %}{% endfor %}",
                "1:a,2:b,3:c",
            ),
            (
                "{% for x in nums %}{{forloop.counter0}}{{forloop.revcounter}}{{forloop.revcounter0}}{{forloop.first}}{{forloop.length}};{% endfor %}",
                "023true3;112false3;201false3;",
            ),
            ("{% for x in nope %}a{% empty %}none{% endfor %}", "none"),
            ("{% for x in none %}a{% empty %}none{% endfor %}", "none"),
            ("{% for x in nope %}a{% endfor %}", ""),
            ("{% for k, v in map %}{{k}}={{v}};{% endfor %}", "a=1;b=2;"),
            ("{% for k,v in map %}{{k}}{% endfor %}", "ab"),
            (
                "{% for entry in map %}{{entry.0}}{{entry.1}}{% endfor %}",
                "a1b2",
            ),
            ("{% for c in path-params.id %}[{{c}}]{% endfor %}", "[4][2]"),
            (
                "{% for a in words %}{% for b in nums %}{{forloop.parentloop.counter}}{{forloop.counter}} {% endfor %}{% endfor %}",
                "11 12 13 21 22 23 ",
            ),
            (
                "{% for x in nums %}{{forloop.previous.x}}|{% endfor %}",
                "|1|2|",
            ),
            (
                "{% for p in json-params.people %}{{p.name}}{% endfor %}",
                "bobann",
            ),
            ("{% for x in nums %}{{x}}{% endfor %}{{x}}", "123"),
            ("{% for x in nums %}{% cycle a b %}{% endfor %}", "aba"),
            (
                "{% for x in 3|range %}{% for y in nums %}{% endfor %}{{x}}{% endfor %}",
                "012",
            ),
        ],
    );
    check(
        Escape::None,
        &[(
            "{% for x in nums %}{% if forloop.first %}{{forloop}}{% endif %}{% endfor %}",
            r#"{"length":3,"counter0":0,"counter":1,"revcounter":2,"revcounter0":3,"first":true,"last":false}"#,
        )],
    );
}

#[test]
fn other_tags() {
    check(
        Escape::Html,
        &[
            (
                "{% with n=path-params.name|upper %}{{n}}{% endwith %}",
                "MOCLOJER",
            ),
            (
                "{% with a=\"x y\" b=path-params.id %}{{a}}-{{b}}{% endwith %}{{a}}",
                "x y-42",
            ),
            ("{% firstof nope empty path-params.name %}", "moclojer"),
            ("{% firstof nope empty %}", ""),
            (
                "{% firstof html %}",
                "&lt;b&gt;&quot;hi&quot; &amp; &#39;bye&#39;&lt;/b&gt;",
            ),
            (
                "a{% comment %}hidden {{x}} {% bogus %}{% endcomment %}b",
                "ab",
            ),
            (
                "{% verbatim %}{{x}}{% if %}{% endverbatim %}",
                "{{x}}{% if %}",
            ),
            ("{% sum zero json-params.user.age \\5 %}", "35"),
            (
                "{% block content %}x{{path-params.id}}{% endblock %}",
                "x42",
            ),
            ("{% cycle \"a\" b %}{% cycle \"a\" b %}", "\"a\"\"a\""),
        ],
    );
}

#[test]
fn compile_errors_have_positions() {
    check_compile_errors(&[
        ("{{x|nofilter}}", (1, 5), "unknown filter 'nofilter'"),
        (
            "ab\n  {{ x | upper | nope:1 }}",
            (2, 18),
            "unknown filter 'nope'",
        ),
        ("é{{x|bad}}", (1, 6), "unknown filter 'bad'"),
        ("line1\n  {% if x %}abc", (2, 3), "'{% if %}' is not closed"),
        ("{% for x in nums %}", (1, 1), "expected '{% endfor %}'"),
        (
            "{% if x %}{% else %}{% elif y %}{% endif %}",
            (1, 21),
            "unexpected '{% elif %}'",
        ),
        ("{% bogus %}", (1, 1), "unknown tag 'bogus'"),
        ("x {% endif %}", (1, 3), "unexpected '{% endif %}'"),
        ("{% include \"a.html\" %}", (1, 1), "not supported"),
        ("{{x|default}}", (1, 5), "takes 1 argument, not 0"),
        ("{{x|upper:1}}", (1, 5), "takes 0 arguments, not 1"),
        ("{{x|date:\"yyyy-ww\"}}", (1, 10), "not supported"),
        (
            "{{x|date:\"yyyy-jj\"}}",
            (1, 10),
            "unknown date pattern letter 'j'",
        ),
        ("{{x|hash:\"crc\"}}", (1, 10), "not a valid hash algorithm"),
        (
            "{% now yyyy-bb %}",
            (1, 8),
            "unknown date pattern letter 'b'",
        ),
        ("abc {{ x", (1, 5), "'{{' is not closed"),
        ("abc {% if x", (1, 5), "'{%' is not closed"),
        ("abc {# x", (1, 5), "comment"),
        ("{% if %}{% endif %}", (1, 1), "needs a condition"),
        ("{{x|default:\"a}}", (1, 1), "double quote"),
        ("{% for x items %}{% endfor %}", (1, 1), "malformed 'for'"),
        ("{% if a b %}{% endif %}", (1, 9), "unexpected 'b'"),
        (
            "{% if a = %}{% endif %}",
            (1, 9),
            "needs a value on its right",
        ),
        ("{% with a %}{% endwith %}", (1, 1), "malformed 'with'"),
        ("{% comment %}abc", (1, 1), "endcomment"),
    ]);
}

#[test]
fn nesting_is_capped() {
    let nested = |depth: usize| {
        format!(
            "{}x{}",
            "{% if t %}".repeat(depth),
            "{% endif %}".repeat(depth)
        )
    };
    let ok = Template::compile(&nested(MAX_NESTING)).expect("64 levels compile");
    let rendered = ok.render(
        &context(),
        Escape::Html,
        &FixedEnv,
        &RenderLimits::default(),
    );
    assert_eq!(rendered.as_deref(), Ok("x"));
    let error = Template::compile(&nested(MAX_NESTING + 1)).expect_err("65 levels do not");
    assert_eq!((error.line, error.column), (1, 1 + 10 * 64));
    assert!(error.message.contains("nested too deeply"), "{error}");
}

#[test]
fn fuel_stops_nested_loops_quickly() {
    let big: Vec<u32> = (0..10_000).collect();
    let ctx = json!({ "big": big });
    let template =
        Template::compile("{% for a in big %}{% for b in big %}{{b}}{% endfor %}{% endfor %}")
            .expect("compiles");
    let limits = RenderLimits {
        fuel: 1_000_000,
        max_output: usize::MAX,
    };
    let started = Instant::now();
    let result = template.render(&ctx, Escape::Html, &FixedEnv, &limits);
    assert_eq!(result, Err(RenderError::FuelExhausted));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let range = Template::compile("{{1000000000000|range|length}}").expect("compiles");
    let started = Instant::now();
    let result = range.render(&ctx, Escape::Html, &FixedEnv, &RenderLimits::default());
    assert_eq!(result, Err(RenderError::FuelExhausted));
    assert!(started.elapsed() < Duration::from_secs(1));

    let small = RenderLimits {
        fuel: 3,
        max_output: 1024,
    };
    let static_ok = Template::compile("static").expect("compiles");
    assert_eq!(
        static_ok
            .render(&ctx, Escape::Html, &FixedEnv, &small)
            .as_deref(),
        Ok("static")
    );
    let few = Template::compile("{{a}}{{b}}{{c}}{{d}}").expect("compiles");
    assert_eq!(
        few.render(&ctx, Escape::Html, &FixedEnv, &small),
        Err(RenderError::FuelExhausted)
    );
}

#[test]
fn output_is_capped() {
    let ctx = json!({ "items": (0..1000).collect::<Vec<u32>>(), "s": "x".repeat(200) });
    let limits = RenderLimits {
        fuel: 1_000_000,
        max_output: 100,
    };
    for source in [
        "{% for i in items %}xxxxxxxxxx{% endfor %}",
        "{% for i in items %}{{i}}{% endfor %}",
        "{{s}}",
        "{{s|json|safe}}",
        "{{\"x\"|center:1000000000}}",
        "{{s|replace:\"\":\"yyyyyyyyyy\"}}",
        &"t".repeat(101),
    ] {
        let template = Template::compile(source).expect("compiles");
        assert_eq!(
            template.render(&ctx, Escape::Html, &FixedEnv, &limits),
            Err(RenderError::OutputTooLarge { max: 100 }),
            "{source}"
        );
    }
    // render_into counts only what this render adds.
    let template = Template::compile("{{s}}").expect("compiles");
    let mut out = "y".repeat(500);
    let limits = RenderLimits {
        fuel: 100,
        max_output: 200,
    };
    template
        .render_into(&mut out, &ctx, Escape::Html, &FixedEnv, &limits)
        .expect("fits");
    assert_eq!(out.len(), 700);
}

#[test]
fn filter_failures_are_render_errors() {
    let ctx = context();
    for (source, name) in [
        ("{{zero|first}}", "first"),
        ("{{path-params.name|multiply:2}}", "multiply"),
        ("{{nums|divide:0}}", "divide"),
        ("{{7|divide:0}}", "divide"),
        ("{{path-params.name|date:\"yyyy\"}}", "date"),
        ("{{date|date:@path-params.name}}", "date"),
        ("{{none|rand-nth}}", "rand-nth"),
        ("{{\"x\"|email}}", "email"),
        ("{{json-params.people|sort}}", "sort"),
        ("{{5|range:0:0}}", "range"),
        ("{{\"abc\"|abbreviate:2:5}}", "abbreviate"),
        ("{{\"abc\"|subs:2:9}}", "subs"),
    ] {
        match render(source, &ctx, Escape::Html) {
            Err(RenderError::Filter {
                name: actual,
                message,
            }) => {
                assert_eq!(actual, name, "{source}");
                assert!(!message.is_empty());
            }
            other => panic!("{source}: expected a filter error, got {other:?}"),
        }
    }
}

#[test]
fn conditions() {
    let env = FixedEnv;
    let limits = RenderLimits::default();
    let cases = [
        (
            "path-params.id = 1",
            json!({"path-params": {"id": 1}}),
            true,
        ),
        (
            "path-params.id = 1",
            json!({"path-params": {"id": "1"}}),
            true,
        ),
        (
            "path-params.id = 1",
            json!({"path-params": {"id": 2}}),
            false,
        ),
        ("path-params.id = 1", json!({}), false),
        (
            "path-params.project-name = \"moclojer\"",
            json!({"path-params": {"project-name": "moclojer"}}),
            true,
        ),
        (
            "path-params.name = \"moclojer\"",
            json!({"path-params": {"name": "x"}}),
            false,
        ),
        ("path-params.id", json!({"path-params": {"id": 0}}), true),
        ("not path-params.missing", json!({}), true),
        (
            "json-params.n > 3 and json-params.n < 10",
            json!({"json-params": {"n": 5}}),
            true,
        ),
        (
            "query-params.a or query-params.b",
            json!({"query-params": {"b": "x"}}),
            true,
        ),
    ];
    for (expression, ctx, expected) in cases {
        let condition = Condition::compile(expression).expect("compiles");
        assert_eq!(
            condition.eval(&ctx, &env, &limits),
            Ok(expected),
            "{expression} with {ctx}"
        );
    }
    for (expression, column) in [("", 1), ("   ", 1), ("a =", 3), ("a b", 3), ("x|nope", 3)] {
        let error = Condition::compile(expression).expect_err(expression);
        assert_eq!(
            (error.line, error.column),
            (1, column),
            "{expression:?}: {error}"
        );
    }
    let starved = RenderLimits {
        fuel: 0,
        max_output: 0,
    };
    let condition = Condition::compile("a").expect("compiles");
    assert_eq!(
        condition.eval(&json!({}), &env, &starved),
        Err(RenderError::FuelExhausted)
    );
}

#[test]
fn hostile_sources_compile_in_linear_time() {
    let started = Instant::now();
    let nots = format!("{{% if {}t %}}y{{% endif %}}", "not ".repeat(200_000));
    let template = Template::compile(&nots).expect("compiles");
    let rendered = template.render(
        &context(),
        Escape::Html,
        &FixedEnv,
        &RenderLimits::default(),
    );
    assert_eq!(rendered.as_deref(), Ok("y"));
    let comments = "a{# c #}".repeat(100_000);
    let template = Template::compile(&comments).expect("compiles");
    assert_eq!(template.static_text().map(str::len), Some(100_000));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn static_templates_and_variables() {
    for (source, text) in [
        ("hello", Some("hello")),
        ("a{# c #}b", Some("ab")),
        ("", Some("")),
        ("{% verbatim %}{{x}}{% endverbatim %}", Some("{{x}}")),
        ("{{x}}", None),
        ("{% now yyyy %}", None),
    ] {
        let template = Template::compile(source).expect("compiles");
        assert_eq!(template.static_text(), text, "{source}");
        assert_eq!(template.is_static(), text.is_some(), "{source}");
    }
    let template = Template::compile(
        "{{path-params.id}}{{json-params.a|default:@query-params.b}}{% for x in header-params.list %}{{x}}{% endfor %}{{now}}{{path-params.other}}",
    )
    .expect("compiles");
    let names: Vec<&str> = template.variables().collect();
    assert_eq!(
        names,
        [
            "header-params",
            "json-params",
            "now",
            "path-params",
            "query-params",
            "x"
        ]
    );
    assert!(template.uses_variable("query-params"));
    assert!(!template.uses_variable("uuid"));
    let condition = Condition::compile(
        "path-params.id = 1 and header-params.x|default:@query-params.b = \"x\"",
    )
    .expect("compiles");
    let names: Vec<&str> = condition.variables().collect();
    assert_eq!(names, ["header-params", "path-params", "query-params"]);
    assert!(condition.uses_variable("path-params"));
}

#[test]
fn api_types_behave() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<Condition>();
    let error = Template::compile("{{x|nofilter}}").expect_err("unknown filter");
    assert_eq!(
        error.to_string(),
        "line 1, column 5: unknown filter 'nofilter'"
    );
    assert_eq!(
        RenderError::OutputTooLarge { max: 10 }.to_string(),
        "the template output is larger than the limit of 10 bytes"
    );
    assert_eq!(
        RenderError::Filter {
            name: "date".to_owned(),
            message: "bad".to_owned()
        }
        .to_string(),
        "filter 'date' failed: bad"
    );
    assert_eq!(
        RenderLimits::default(),
        RenderLimits {
            fuel: 1_000_000,
            max_output: 1 << 20
        }
    );
    assert_eq!(Escape::Json.to_string(), "json");
}

#[test]
fn roots_given_as_fields_render_as_the_object_they_make() {
    let path = [("id", json!("42")), ("n", json!(7)), ("id", json!("last"))];
    let rest = json!({"query-params": {"q": "x"}, "path-params": {"hidden": true}});
    let context = Context {
        value: &rest,
        fields: &[("path-params", &path)],
    };
    let object = json!({
        "query-params": {"q": "x"},
        "path-params": {"id": "last", "n": 7},
    });
    for source in [
        "{{path-params.id}}-{{path-params.n}}-{{query-params.q}}",
        "{{path-params}}",
        "{{path-params.hidden|default:\"none\"}} {{path-params.missing.deeper}}",
        "{% for k, v in path-params %}{{k}}={{v}};{% endfor %}",
        "{% if path-params.n > 5 %}big{% endif %} {{path-params.id.0}}",
        "{{path-params.id|upper}} {{uuid}}",
    ] {
        let template = Template::compile(source).expect("compiles");
        let mut out = String::new();
        template
            .render_context_into(
                &mut out,
                context,
                Escape::Json,
                &FixedEnv,
                &RenderLimits::default(),
            )
            .expect("renders");
        let expected = template
            .render(&object, Escape::Json, &FixedEnv, &RenderLimits::default())
            .expect("renders");
        assert_eq!(out, expected, "template {source:?}");
    }
}
