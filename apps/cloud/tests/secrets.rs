//! No binary shows a URL's password: not in `--help` when the URL is in the environment,
//! and not when it refuses a URL given on the command line.

mod support;

use std::process::{Command, Output};

const PASSWORD: &str = "hunter2-in-the-url";

/// Every binary of the workspace, by package.
const BINARIES: [(&str, &str); 6] = [
    ("moclojer-api", "moclojer-api"),
    ("moclojer-generator", "moclojer-generator"),
    ("moclojer-ops", "moclojer-ops"),
    ("moclojer-foss", "moclojer"),
    ("moclojer-proxy", "moclojer-proxy"),
    ("moclojer-cloud", "moclojer-cloud"),
];

fn shown(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn help_never_shows_a_url_from_the_environment() {
    for (package, name) in BINARIES {
        let output = Command::new(support::binary(package, name))
            .arg("--help")
            .env(
                "MOCLOJER_DATABASE_URL",
                format!("postgres://moclojer:{PASSWORD}@db:5432/m"),
            )
            .env(
                "MOCLOJER_REDIS_URL",
                format!("redis://:{PASSWORD}@redis:6379"),
            )
            .env(
                "MOCLOJER_STATE_URL",
                format!("redis://:{PASSWORD}@state:6379"),
            )
            .output()
            .expect("run --help");
        let text = shown(&output);
        assert!(output.status.success(), "{name} --help: {text}");
        assert!(text.contains("Usage"), "{name} --help: {text}");
        assert!(
            !text.contains(PASSWORD),
            "{name} --help shows a password: {text}"
        );
    }
}

#[test]
fn a_refused_state_url_is_never_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("--store={}", dir.path().display());
    let data_dir = format!("--data-dir={}", dir.path().display());
    for (package, name, extra) in [
        ("moclojer-api", "moclojer-api", "--database-url=memory://"),
        ("moclojer-foss", "moclojer", store.as_str()),
        ("moclojer-cloud", "moclojer-cloud", data_dir.as_str()),
    ] {
        let flag = format!("--state-url=rediss://:{PASSWORD}@redis:6380");
        let output = Command::new(support::binary(package, name))
            .args([flag.as_str(), extra])
            .env_remove("MOCLOJER_STATE_URL")
            .output()
            .expect("run the binary");
        let text = shown(&output);
        assert!(!output.status.success(), "{name} took {flag}: {text}");
        assert!(text.contains("--state-url"), "{name}: {text}");
        assert!(
            !text.contains(PASSWORD),
            "{name} repeats a password: {text}"
        );
    }
}

#[test]
fn a_refused_url_is_never_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().display().to_string();
    let cases: [(&str, &str, Vec<String>); 5] = [
        ("moclojer-api", "moclojer-api", vec![]),
        (
            "moclojer-generator",
            "moclojer-generator",
            vec![format!("--store={store}")],
        ),
        (
            "moclojer-ops",
            "moclojer-ops",
            vec![
                "--zone=moclojer.test".to_owned(),
                "--target=proxy".to_owned(),
            ],
        ),
        (
            "moclojer-cloud",
            "moclojer-cloud",
            vec![format!("--data-dir={store}")],
        ),
        (
            "moclojer-foss",
            "moclojer",
            vec![format!("--store={store}")],
        ),
    ];
    for (package, name, extra) in cases {
        let flag = if name == "moclojer" {
            format!("--redis-url=amqp://user:{PASSWORD}@rabbit:5672")
        } else {
            format!("--database-url=mysql://root:{PASSWORD}@db/moclojer")
        };
        let output = Command::new(support::binary(package, name))
            .arg(&flag)
            .args(&extra)
            .env_remove("MOCLOJER_DATABASE_URL")
            .env_remove("MOCLOJER_REDIS_URL")
            .output()
            .expect("run the binary");
        let text = shown(&output);
        assert!(!output.status.success(), "{name} took {flag}: {text}");
        assert!(text.contains("the scheme"), "{name}: {text}");
        assert!(
            !text.contains(PASSWORD),
            "{name} repeats a password: {text}"
        );
    }
}
