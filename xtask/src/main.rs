//! Project automation, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `ci`: what CI runs — format check, clippy with warnings denied, every test;
//! - `dev`: runs the whole system on its embedded defaults (`moclojer-cloud`), building the
//!   web interface first when its sources changed;
//! - `web`: builds the web interface (`web/` into `web/dist`, with npm);
//! - `tidy`: the repository's own rules (dependency directions, module docs), also run as a
//!   test by `ci`.
//!
//! It has no dependencies, so it builds in seconds on a cold machine. It is not a build
//! system: each task is a short, readable list of commands.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

mod bench;
mod length;
mod services;
mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Instant, SystemTime};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      format check, clippy (-D warnings), all tests, then the web interface's
          build and its browser tests (Chromium); what CI runs. Starts
          PostgreSQL, Redis and moto (S3) when they are not running
  dev     run every service in one process on the embedded defaults (builds
          the web interface first when web/src is newer than web/dist)
  web     build the web interface into web/dist (npm ci when needed)
  db migrate [URL]
          bring a PostgreSQL schema up to date (URL or MOCLOJER_DATABASE_URL)
  bench foss [SECONDS]
          the mock server against a minimal hyper server, as ratios (release build)
  bench api [SECONDS]
          publish-to-live latency (50 publishes) and GET /api/v1/mocks with 100 mocks
          against GET /livez on the same server (release build)
  bench proxy [SECONDS]
          requests/s and p99 through moclojer-proxy against straight to foss,
          a lean hyper proxy and, when installed, HAProxy (release build)
  bench scale [--services] [SIZES] [PUBLISHES]
          publish-to-live, CPU, I/O and memory by the number of live mocks
          (default 100,1000,10000,50000, seeded in SQLite; 20 publishes each);
          --services: the all-in-one on PostgreSQL, Redis and S3 instead, the servers
          of MOCLOJER_TEST_DATABASE_URL, MOCLOJER_TEST_REDIS_URL, MOCLOJER_TEST_S3_URL
  tidy    check dependency directions and module docs
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("dev") => dev(&args[1..]),
        Some("web") => web(),
        Some("db") => match args.get(1).map(String::as_str) {
            Some("migrate") => {
                let mut command = cargo();
                command.args([
                    "run",
                    "--quiet",
                    "--jobs",
                    &jobs(),
                    "--package",
                    "moclojer-postgres",
                    "--example",
                    "migrate",
                    "--",
                ]);
                command.args(&args[2..]);
                step("migrate", &mut command)
            }
            _ => Err(format!(
                "db what? `cargo xtask db migrate [url]`\n\n{USAGE}"
            )),
        },
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("foss") => bench::foss(args.get(2).map_or("5", String::as_str)),
            Some("api") => bench::api(args.get(2).map_or("5", String::as_str)),
            Some("proxy") => bench::proxy(args.get(2).map_or("5", String::as_str)),
            Some("scale") => bench::scale(&args[2..]),
            _ => Err(format!(
                "bench what? `cargo xtask bench foss|api|proxy [seconds]` or `cargo xtask bench scale [--services] [sizes] [publishes]`\n\n{USAGE}"
            )),
        },
        Some("tidy") => tidy::check(&project_root()).map_err(|problems| problems.join("\n")),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, from this crate's manifest directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo puts what it builds in release mode: `$CARGO_TARGET_DIR/release`, or the
/// workspace's `target/release`.
fn release_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from)
        .join("release")
}

/// Two cores on every machine of ours: more jobs only thrash.
fn jobs() -> String {
    env::var("CARGO_BUILD_JOBS").unwrap_or_else(|_| "2".to_owned())
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(project_root());
    command
}

/// Runs one step, printing its name before and its duration after.
fn step(name: &str, command: &mut Command) -> Result<(), String> {
    println!("\n==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    let took = started.elapsed().as_secs_f32();
    if status.success() {
        println!("==> {name}: ok in {took:.1}s");
        Ok(())
    } else {
        Err(format!("{name}: failed ({status}) after {took:.1}s"))
    }
}

fn ci() -> Result<(), String> {
    let started = Instant::now();
    let jobs = jobs();
    tidy::check(&project_root()).map_err(|problems| format!("tidy:\n{}", problems.join("\n")))?;
    step("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--jobs",
            &jobs,
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let services = services::start()?;
    step(
        "tests",
        cargo()
            .args(["test", "--workspace", "--no-fail-fast", "--jobs", &jobs])
            .envs(services),
    )?;
    web()?;
    step(
        "browser tests",
        npm().args(["run", "e2e"]).env("CARGO_BUILD_JOBS", &jobs),
    )?;
    println!(
        "\n==> ci: all green in {:.0}s",
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

/// `npm` in `web/`.
fn npm() -> Command {
    let mut command = Command::new("npm");
    command.current_dir(project_root().join("web"));
    command
}

/// The latest modification time under `path` (the file itself, or every file below).
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

/// Builds the web interface: `npm ci` when `node_modules` is missing or older than
/// `package-lock.json`, then `npm run build` (into `web/dist`).
fn web() -> Result<(), String> {
    let dir = project_root().join("web");
    let installed = newest(&dir.join("node_modules").join(".package-lock.json"));
    let locked = newest(&dir.join("package-lock.json"));
    if installed.is_none() || installed < locked {
        step("web: npm ci", npm().args(["ci", "--no-audit", "--no-fund"]))?;
    }
    step("web: build", npm().args(["run", "build"]))
}

fn dev(args: &[String]) -> Result<(), String> {
    // `cargo xtask dev -- --flag` and `cargo xtask dev --flag` both pass `--flag` on.
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    let dir = project_root().join("web");
    let built = newest(&dir.join("dist").join("index.html"));
    if (built.is_none() || newest(&dir.join("src")) > built)
        && let Err(e) = web()
    {
        eprintln!("xtask: the web interface is not built ({e}); running without it");
    }
    let mut command = cargo();
    command
        .args([
            "run",
            "--jobs",
            &jobs(),
            "--package",
            "moclojer-cloud",
            "--",
        ])
        .args(args);
    step("moclojer-cloud", &mut command)
}
