//! `cargo xtask bench scale [SIZES] [PUBLISHES]`: how the cost of one publish grows with the
//! number of live mocks of all tenants.
//!
//! The bench is the `bench_scale` example of `moclojer-cloud` (its module docs say what it
//! seeds and measures); here it is built in release mode with the `moclojer-cloud` binary
//! it starts as a process of its own, and run.

use crate::{cargo, jobs, project_root, step};

/// The sizes measured when none are given.
const SIZES: &str = "100,1000,10000,50000";

/// Publishes per size when not given.
const PUBLISHES: &str = "20";

/// Builds the all-in-one and the bench in release mode and runs the bench on `sizes`
/// (live mocks, comma-separated) with `publishes` publishes each.
pub(crate) fn run(sizes: Option<&str>, publishes: Option<&str>) -> Result<(), String> {
    let sizes = sizes.unwrap_or(SIZES);
    let publishes = publishes.unwrap_or(PUBLISHES);
    if sizes.split(',').any(|s| s.trim().parse::<u64>().is_err()) {
        return Err(format!(
            "sizes are numbers separated by commas, as 100,1000, not {sizes:?}"
        ));
    }
    if publishes.parse::<u64>().is_err() {
        return Err(format!("publishes must be a number, not {publishes:?}"));
    }
    let jobs = jobs();
    step(
        "build (release)",
        cargo().args([
            "build",
            "--release",
            "--jobs",
            &jobs,
            "--package",
            "moclojer-cloud",
            "--bin",
            "moclojer-cloud",
            "--example",
            "bench_scale",
        ]),
    )?;
    let release = project_root().join("target/release");
    let mut bench = std::process::Command::new(release.join("examples/bench_scale"));
    bench
        .arg("--cloud")
        .arg(release.join("moclojer-cloud"))
        .args([sizes, publishes]);
    step("bench scale", &mut bench)
}
