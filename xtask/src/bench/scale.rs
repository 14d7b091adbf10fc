//! `cargo xtask bench scale [--services] [SIZES] [PUBLISHES]`: how the cost of one publish
//! grows with the number of live mocks of all tenants.
//!
//! First the mock server alone, the `bench_reload` example of `moclojer-foss`, once per size
//! in a process of its own: N hosts of five endpoints loaded from a folder store, then one
//! host's reload timed, and the RSS. Then the whole path, the `bench_scale` example of
//! `moclojer-cloud` (its module docs say what it seeds and measures), which starts the
//! `moclojer-cloud` binary as a process of its own. All built in release mode.
//!
//! With `--services` only the whole path runs, with the all-in-one on PostgreSQL, Redis and
//! S3 instead of the embedded defaults (the mock server alone reads a folder either way):
//! the servers the tests use, named by [`SERVER_VARS`].

use crate::{cargo, jobs, release_dir, step};

/// The sizes measured when none are given.
const SIZES: &str = "100,1000,10000,50000";

/// Publishes per size when not given.
const PUBLISHES: &str = "20";

/// The variables naming the servers `--services` runs on (the tests' own).
const SERVER_VARS: [&str; 3] = [
    "MOCLOJER_TEST_DATABASE_URL",
    "MOCLOJER_TEST_REDIS_URL",
    "MOCLOJER_TEST_S3_URL",
];

/// Builds the all-in-one and the bench in release mode and runs the bench as `args` say:
/// `[--services] [SIZES] [PUBLISHES]`, the live mocks comma-separated.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let services = args.iter().any(|a| a == "--services");
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--services")
        .collect();
    if let Some(flag) = rest.iter().find(|a| a.starts_with("--")) {
        return Err(format!(
            "unknown flag {flag:?}: `cargo xtask bench scale [--services] [sizes] [publishes]`"
        ));
    }
    let sizes = rest.first().copied().unwrap_or(SIZES);
    let publishes = rest.get(1).copied().unwrap_or(PUBLISHES);
    if sizes.split(',').any(|s| s.trim().parse::<u64>().is_err()) {
        return Err(format!(
            "sizes are numbers separated by commas, as 100,1000, not {sizes:?}"
        ));
    }
    if publishes.parse::<u64>().is_err() {
        return Err(format!("publishes must be a number, not {publishes:?}"));
    }
    if services {
        // Before a release build of minutes: the bench would refuse to start.
        let unset: Vec<&str> = SERVER_VARS
            .into_iter()
            .filter(|var| std::env::var(var).map_or(true, |v| v.trim().is_empty()))
            .collect();
        if !unset.is_empty() {
            return Err(format!(
                "--services runs on the servers the tests use; set {} (unset: {})",
                SERVER_VARS.join(", "),
                unset.join(", ")
            ));
        }
    }
    build(services)?;
    let release = release_dir();
    if !services {
        for size in sizes.split(',') {
            let mut reload = std::process::Command::new(release.join("examples/bench_reload"));
            reload.args([size.trim(), publishes]);
            step(&format!("bench reload, {} hosts", size.trim()), &mut reload)?;
        }
    }
    let mut bench = std::process::Command::new(release.join("examples/bench_scale"));
    bench.arg("--cloud").arg(release.join("moclojer-cloud"));
    if services {
        bench.arg("--services");
    }
    bench.args([sizes, publishes]);
    step("bench scale", &mut bench)
}

/// The all-in-one and the bench in release mode; without `services`, the mock server's
/// reload bench too.
fn build(services: bool) -> Result<(), String> {
    let jobs = jobs();
    let mut build = cargo();
    build.args(["build", "--release", "--jobs", &jobs]).args([
        "--package",
        "moclojer-cloud",
        "--bin",
        "moclojer-cloud",
        "--example",
        "bench_scale",
    ]);
    if !services {
        build.args(["--package", "moclojer-foss", "--example", "bench_reload"]);
    }
    step("build (release)", &mut build)
}
