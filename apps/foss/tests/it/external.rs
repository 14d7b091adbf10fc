//! External bodies: JSON, YAML and XLSX sources, local (standalone, inside the spec's
//! folder only) or by URL through the egress guard; their content is a template.

use std::convert::Infallible;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use moclojer_domain::spec::{self, Limits, Mode};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_foss::{
    EXTERNAL_CACHE_TTL, Engine, EngineOptions, MAX_EXTERNAL_FETCHES_PER_HOST,
    MAX_EXTERNAL_URL_BYTES,
};

use crate::helpers::{Req, engine_with, options, send};

fn spec_dir_options(dir: &Path) -> EngineOptions {
    EngineOptions {
        spec_dir: Some(dir.to_path_buf()),
        ..options(Mode::Standalone)
    }
}

const SPEC: &str = r#"
- endpoint:
    path: /users/:id
    response:
      external-body:
        provider: json
        path: data/user-{{path-params.id}}.json
- endpoint:
    path: /config
    response:
      external-body:
        provider: yaml
        path: data/config.yml
- endpoint:
    path: /sheet
    response:
      external-body:
        provider: xlsx
        path: data/people.xlsx
        sheet-name: People
- endpoint:
    path: /escape
    response:
      external-body:
        provider: json
        path: ../secret.json
- endpoint:
    path: /other-format
    response:
      external-body:
        provider: xml
        path: data/config.yml
"#;

/// A minimal XLSX (stored, uncompressed) with one sheet of inline strings and numbers.
fn write_xlsx(path: &Path) {
    let file = std::fs::File::create(path).expect("create xlsx");
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let parts: [(&str, &str); 5] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        (
            "xl/worksheets/sheet1.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>age</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Ana</t></is></c><c r="B2"><v>30</v></c></row><row r="3"><c r="A3" t="inlineStr"><is><t>Bruno</t></is></c><c r="B3"><v>41</v></c></row></sheetData></worksheet>"#,
        ),
    ];
    for (name, content) in parts {
        zip.start_file(name, stored).expect("zip entry");
        zip.write_all(content.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish");
}

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let spec_dir = root.path().join("spec");
    std::fs::create_dir_all(spec_dir.join("data")).expect("mkdir");
    std::fs::write(
        spec_dir.join("data/user-7.json"),
        r#"{"id": {{path-params.id}}, "name": "seven"}"#,
    )
    .expect("write");
    std::fs::write(
        spec_dir.join("data/config.yml"),
        "name: moclojer\nfeatures: [mocks, webhooks]\nlimits: {rps: 100}\n",
    )
    .expect("write");
    write_xlsx(&spec_dir.join("data/people.xlsx"));
    std::fs::write(root.path().join("secret.json"), r#"{"secret": true}"#).expect("write");
    (root, spec_dir)
}

#[tokio::test]
async fn local_json_yaml_and_xlsx_sources() {
    let (_root, spec_dir) = fixture();
    let engine = engine_with(SPEC, spec_dir_options(&spec_dir));

    let user = send(&engine, Req::get("/users/7")).await;
    assert_eq!(
        (user.status, user.json()),
        (200, serde_json::json!({"id": 7, "name": "seven"})),
        "{}",
        user.body
    );

    let missing = send(&engine, Req::get("/users/8")).await;
    assert_eq!(missing.status, 500);
    assert!(
        missing.body.contains("user-8.json"),
        "the error names the file: {}",
        missing.body
    );

    let config = send(&engine, Req::get("/config")).await;
    assert_eq!(
        config.json(),
        serde_json::json!({"name": "moclojer", "features": ["mocks", "webhooks"], "limits": {"rps": 100}})
    );

    let sheet = send(&engine, Req::get("/sheet")).await;
    assert_eq!(sheet.status, 200, "{}", sheet.body);
    assert_eq!(
        sheet.json(),
        serde_json::json!([{"name": "Ana", "age": 30}, {"name": "Bruno", "age": 41}])
    );

    let escape = send(&engine, Req::get("/escape")).await;
    assert_eq!(escape.status, 500);
    assert!(escape.body.contains("outside"), "{}", escape.body);
    assert!(
        !escape.body.contains("secret\": true"),
        "nothing of the file leaks"
    );

    let other = send(&engine, Req::get("/other-format")).await;
    assert_eq!(other.body, "format not supported, read documentation");
}

async fn json_server() -> std::net::SocketAddr {
    source_server(
        Duration::ZERO,
        Bytes::from_static(br#"{"remote": "{{query-params.who}}"}"#),
    )
    .await
    .0
}

/// A server answering `body` after `delay` to every request, and how many it was sent.
async fn source_server(delay: Duration, body: Bytes) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (body, hits) = (body.clone(), Arc::clone(&counted));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let body = body.clone();
                    hits.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, Infallible>(http::Response::new(Full::new(body)))
                    }
                });
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await
                    .ok();
            });
        }
    });
    (address, hits)
}

fn open_options() -> EngineOptions {
    EngineOptions {
        egress: Some(Egress::new(EgressConfig::open()).expect("egress")),
        ..options(Mode::Standalone)
    }
}

fn url_spec(address: std::net::SocketAddr) -> String {
    format!(
        "- endpoint:\n    path: /remote\n    response:\n      external-body:\n        provider: json\n        path: http://{address}/data.json\n"
    )
}

#[tokio::test]
async fn sources_by_url_go_through_the_egress_guard() {
    let address = json_server().await;
    let open = EngineOptions {
        egress: Some(Egress::new(EgressConfig::open()).expect("egress")),
        ..options(Mode::Standalone)
    };
    let engine = engine_with(&url_spec(address), open);
    let res = send(&engine, Req::get("/remote?who=ana")).await;
    assert_eq!(
        (res.status, res.json()),
        (200, serde_json::json!({"remote": "ana"})),
        "{}",
        res.body
    );

    let strict = EngineOptions {
        egress: Some(Egress::new(EgressConfig::strict()).expect("egress")),
        ..options(Mode::Standalone)
    };
    let engine = engine_with(&url_spec(address), strict);
    let res = send(&engine, Req::get("/remote?who=ana")).await;
    assert_eq!(
        res.status, 502,
        "a strict guard refuses loopback: {}",
        res.body
    );
    assert!(
        !res.body.contains("127.0.0.1"),
        "the answer names no address: {}",
        res.body
    );
}

#[tokio::test]
async fn a_source_by_url_is_at_most_a_mebibyte() {
    let big = Bytes::from(vec![b' '; MAX_EXTERNAL_URL_BYTES + 1]);
    let (address, _) = source_server(Duration::ZERO, big).await;
    let engine = engine_with(&url_spec(address), open_options());
    let res = send(&engine, Req::get("/remote")).await;
    assert_eq!(res.status, 502, "{}", res.body);
    assert!(
        res.body.contains("larger than 1048576 bytes"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn a_fetched_source_is_reused_for_a_few_seconds() {
    let (address, hits) = source_server(
        Duration::ZERO,
        Bytes::from_static(br#"{"n": "{{query-params.n}}"}"#),
    )
    .await;
    let engine = engine_with(&url_spec(address), open_options());
    for n in 0..5 {
        let res = send(&engine, Req::get(&format!("/remote?n={n}"))).await;
        assert_eq!(
            res.json(),
            serde_json::json!({"n": n.to_string()}),
            "rendered per request"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "fetched once within {EXTERNAL_CACHE_TTL:?}"
    );
}

#[tokio::test]
async fn one_host_cannot_take_every_fetch() {
    let (address, hits) = source_server(Duration::from_secs(2), Bytes::from_static(b"{}")).await;
    let engine = Arc::new(engine_with(&url_spec(address), open_options()));
    let slow: Vec<_> = (0..MAX_EXTERNAL_FETCHES_PER_HOST)
        .map(|_| {
            let engine = Arc::clone(&engine);
            tokio::spawn(
                async move { send(&engine, Req::get("/remote").host("greedy.test")).await },
            )
        })
        .collect();
    // Until every one of them is being fetched.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits.load(Ordering::SeqCst) < MAX_EXTERNAL_FETCHES_PER_HOST {
        assert!(Instant::now() < deadline, "the fetches start");
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let refused = send(&engine, Req::get("/remote").host("greedy.test")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    let other = send(&engine, Req::get("/remote").host("polite.test")).await;
    assert_eq!(
        other.status, 200,
        "another host still fetches: {}",
        other.body
    );
    for task in slow {
        assert_eq!(task.await.expect("task").status, 200);
    }
}

#[test]
fn in_cloud_mode_local_files_and_broken_templates_are_refused_at_load() {
    for source in [
        "- endpoint:\n    host: a-b.localhost\n    path: /x\n    response:\n      external-body: {provider: json, path: data/x.json}\n",
        "- endpoint:\n    host: a-b.localhost\n    path: /x\n    response:\n      body: '{{x|nofilter}}'\n",
    ] {
        let spec = spec::parse_yaml(source, &Limits::default()).expect("parses");
        let refused = Engine::build(spec, options(Mode::Cloud)).expect_err("refused in cloud mode");
        assert!(refused.iter().any(|d| d.is_error()), "{refused:#?}");
    }
    let hostless =
        spec::parse_yaml("- endpoint:\n    path: /x\n", &Limits::default()).expect("parses");
    let refused =
        Engine::build(hostless, options(Mode::Cloud)).expect_err("a host-less route in cloud mode");
    assert!(
        refused.iter().any(|d| d.message.contains("host")),
        "{refused:#?}"
    );
}

#[tokio::test]
async fn cors_can_be_turned_off() {
    let spec = "- endpoint:\n    path: /x\n    response:\n      body: '{}'\n";
    let engine = engine_with(
        spec,
        EngineOptions {
            cors: false,
            ..options(Mode::Standalone)
        },
    );
    let res = send(
        &engine,
        Req::get("/x").header("origin", "https://app.example"),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), None);
}
