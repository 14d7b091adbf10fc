//! The servers the tests talk to: PostgreSQL, Redis and an S3-compatible server (moto).
//! `cargo xtask ci` starts whichever is not running and hands the tests their addresses
//! through `MOCLOJER_TEST_*` variables. Installing the packages is `.ci/run`'s job (or
//! yours, on a new machine); moto comes from PyPI into a virtualenv this task makes.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the tests find each server.
pub(crate) const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub(crate) const REDIS_URL: &str = "redis://127.0.0.1:6379";
pub(crate) const S3_URL: &str = "http://127.0.0.1:9000";

fn answers(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

fn wait_for(address: &str, what: &str, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < within {
        if answers(address) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "{what} did not start listening on {address} within {}s",
        within.as_secs()
    ))
}

/// Runs `program` to its end; an error unless it succeeds.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{program}: {e} (is it installed?)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed: {status}", args.join(" ")))
    }
}

fn postgres() -> Result<(), String> {
    if answers("127.0.0.1:5432") {
        println!("    postgres: running on 127.0.0.1:5432");
        return Ok(());
    }
    let versions = std::fs::read_dir("/etc/postgresql")
        .map_err(|_| "PostgreSQL is not installed (no /etc/postgresql)".to_owned())?;
    let version = versions
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .ok_or("PostgreSQL has no cluster in /etc/postgresql")?;
    println!("    postgres: starting cluster {version}/main");
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "start"],
    )?;
    wait_for("127.0.0.1:5432", "PostgreSQL", Duration::from_secs(30))
}

fn redis() -> Result<(), String> {
    if answers("127.0.0.1:6379") {
        println!("    redis: running on 127.0.0.1:6379");
        return Ok(());
    }
    println!("    redis: starting");
    run(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )?;
    wait_for("127.0.0.1:6379", "Redis", Duration::from_secs(15))
}

/// The virtualenv moto lives in, kept between runs.
fn moto_home() -> PathBuf {
    let base = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    base.join(".cache/moclojer/moto")
}

pub(crate) fn moto_bin() -> PathBuf {
    moto_home().join("bin/moto_server")
}

fn moto() -> Result<(), String> {
    // Installed even when an S3 server already answers: the tests start a second moto of
    // their own to see what a stopped server does.
    let home = moto_home();
    if !moto_bin().is_file() {
        println!(
            "    s3 (moto): installing into {} (from PyPI; a few minutes the first time)",
            home.display()
        );
        let home_str = home.to_string_lossy().into_owned();
        run("python3", &["-m", "venv", &home_str])?;
        let pip = home.join("bin/pip").to_string_lossy().into_owned();
        run(
            &pip,
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "moto[server]",
            ],
        )?;
    }
    if answers("127.0.0.1:9000") {
        println!("    s3 (moto): running on 127.0.0.1:9000");
        return Ok(());
    }
    println!("    s3 (moto): starting on 127.0.0.1:9000");
    let log = std::fs::File::create(std::env::temp_dir().join("moclojer-moto.log"))
        .map_err(|e| e.to_string())?;
    Command::new(moto_bin())
        .args(["-H", "127.0.0.1", "-p", "9000"])
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("start moto: {e}"))?;
    wait_for("127.0.0.1:9000", "moto", Duration::from_secs(60))
}

/// Starts what is not running and sets the tests' variables (unless already set).
pub(crate) fn start() -> Result<Vec<(&'static str, String)>, String> {
    println!("\n==> services");
    postgres()?;
    redis()?;
    moto()?;
    let given =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    Ok(vec![
        (
            "MOCLOJER_TEST_DATABASE_URL",
            given("MOCLOJER_TEST_DATABASE_URL", DATABASE_URL),
        ),
        (
            "MOCLOJER_TEST_REDIS_URL",
            given("MOCLOJER_TEST_REDIS_URL", REDIS_URL),
        ),
        (
            "MOCLOJER_TEST_S3_URL",
            given("MOCLOJER_TEST_S3_URL", S3_URL),
        ),
        (
            "MOCLOJER_TEST_MOTO_BIN",
            given("MOCLOJER_TEST_MOTO_BIN", &moto_bin().to_string_lossy()),
        ),
    ])
}
