//! `cargo xtask bench foss`: the mock server against a minimal hyper server returning the
//! same bytes, measured in the same run on loopback, printed as ratios.
//!
//! Measured: (a) `GET /hello`, static JSON; (b) `GET /users/42`, the id templated twice;
//! (c) a spec of 10,000 hosts × 5 endpoints: load time, RSS, and (a) and (b) against it;
//! (d) requests during repeated reloads, which must all succeed.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, jobs, project_root, step};

const CONNECTIONS: &str = "64";

struct Server {
    child: Child,
    address: String,
    started_in: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    /// CPU time the process has used so far (user and system), in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        match (ticks(11), ticks(12)) {
            // In clock ticks of 1/100 s (USER_HZ on Linux).
            (Some(user), Some(system)) => (user + system) / 100.0,
            _ => f64::NAN,
        }
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

/// Starts `program`, waiting for the line that says where it listens (stdout or stderr).
fn start(program: &Path, args: &[&str]) -> Result<Server, String> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn,moclojer_foss=info,moclojer=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", program.display()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        let said = std::sync::Arc::clone(&said);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut said) = said.lock()
                    && said.len() < 20
                {
                    said.push(line.clone());
                }
                if let Some(at) = line.find("http://") {
                    let address: String = line[at + 7..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    tx.send(address).ok();
                }
            }
        });
    }
    drop(tx);
    let address = rx.recv_timeout(Duration::from_secs(120)).map_err(|_| {
        let said = said.lock().map(|s| s.join("\n")).unwrap_or_default();
        format!(
            "{} did not say where it listens; it said:\n{said}",
            program.display()
        )
    })?;
    Ok(Server {
        child,
        address,
        started_in: started.elapsed(),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Load {
    requests: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: f64,
}

fn load(loadgen: &Path, url: &str, host: Option<&str>, seconds: &str) -> Result<Load, String> {
    load_with(loadgen, url, host, CONNECTIONS, seconds)
}

fn load_with(
    loadgen: &Path,
    url: &str,
    host: Option<&str>,
    connections: &str,
    seconds: &str,
) -> Result<Load, String> {
    let mut command = Command::new(loadgen);
    command.args([url, connections, seconds]);
    if let Some(host) = host {
        command.arg(host);
    }
    let output = command.output().map_err(|e| format!("loadgen: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> f64 {
        text.split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    if !output.status.success() {
        return Err(format!(
            "loadgen failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(Load {
        requests: field("requests"),
        rps: field("rps"),
        p50_us: field("p50_us"),
        p99_us: field("p99_us"),
        errors: field("errors"),
    })
}

const SMALL_SPEC: &str = r#"- endpoint:
    method: GET
    path: /hello
    response:
      status: 200
      body: '{"hello":"world"}'
- endpoint:
    method: GET
    path: /users/:id
    response:
      status: 200
      body: '{"id":{{path-params.id}},"name":"user-{{path-params.id}}"}'
"#;

fn large_spec(hosts: usize) -> String {
    let mut spec = String::with_capacity(hosts * 5 * 200);
    for i in 0..hosts {
        let host = format!("m{i}-bench.localhost");
        for (path, body) in [
            ("/hello", r#"'{"hello":"world"}'"#),
            (
                "/users/:id",
                r#"'{"id":{{path-params.id}},"name":"user-{{path-params.id}}"}'"#,
            ),
            ("/items", r#"'[1,2,3]'"#),
            ("/items/:id|int", r#"'{"item":{{path-params.id}}}'"#),
            ("/status", r#"'{"ok":true}'"#),
        ] {
            writeln!(spec, "- endpoint:\n    host: {host}\n    method: GET\n    path: {path}\n    response:\n      body: {body}").ok();
        }
    }
    spec
}

pub(crate) fn foss(seconds: &str) -> Result<(), String> {
    step(
        "build (release)",
        cargo().args([
            "build",
            "--release",
            "--jobs",
            &jobs(),
            "--package",
            "moclojer-foss",
            "--bin",
            "moclojer",
            "--example",
            "bench_reference",
            "--example",
            "loadgen",
        ]),
    )?;
    let release = project_root().join("target/release");
    let moclojer = release.join("moclojer");
    let reference = release.join("examples/bench_reference");
    let loadgen = release.join("examples/loadgen");
    let work = std::env::temp_dir().join(format!("moclojer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let small = work.join("small.yml");
    std::fs::write(&small, SMALL_SPEC).map_err(|e| e.to_string())?;
    let big = work.join("big.yml");
    std::fs::write(&big, large_spec(10_000)).map_err(|e| e.to_string())?;

    let mut report = String::new();
    let mut line = |text: String| {
        println!("{text}");
        report.push_str(&text);
        report.push('\n');
    };
    let serve = |spec: &PathBuf| {
        start(
            &moclojer,
            &[
                "-c",
                &spec.to_string_lossy(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--max-spec-bytes",
                "67108864",
            ],
        )
    };

    println!("\n==> static: GET /hello ({CONNECTIONS} connections, {seconds}s each)");
    let reference_static = start(&reference, &["0", r#"{"hello":"world"}"#])?;
    let base_static = load(
        &loadgen,
        &format!("http://{}/hello", reference_static.address),
        None,
        seconds,
    )?;
    drop(reference_static);
    let server = serve(&small)?;
    let ours_static = load(
        &loadgen,
        &format!("http://{}/hello", server.address),
        None,
        seconds,
    )?;

    println!("==> templated: GET /users/42");
    let ours_templated = load(
        &loadgen,
        &format!("http://{}/users/42", server.address),
        None,
        seconds,
    )?;
    let small_rss = server.rss_mib();
    drop(server);
    let reference_templated = start(&reference, &["0", r#"{"id":42,"name":"user-42"}"#])?;
    let base_templated = load(
        &loadgen,
        &format!("http://{}/users/42", reference_templated.address),
        None,
        seconds,
    )?;
    drop(reference_templated);

    println!("==> 10,000 hosts x 5 endpoints");
    let big_server = serve(&big)?;
    let big_load = big_server.started_in;
    let big_rss = big_server.rss_mib();
    let host = "m9999-bench.localhost";
    let big_static = load(
        &loadgen,
        &format!("http://{}/hello", big_server.address),
        Some(host),
        seconds,
    )?;
    let big_templated = load(
        &loadgen,
        &format!("http://{}/users/42", big_server.address),
        Some(host),
        seconds,
    )?;
    drop(big_server);

    println!("==> reloads under load");
    let server = serve(&small)?;
    let url = format!("http://{}/hello", server.address);
    let (loadgen_c, seconds_c) = (loadgen.clone(), seconds.to_owned());
    let during = std::thread::spawn(move || load(&loadgen_c, &url, None, &seconds_c));
    let secs: f64 = seconds.parse().unwrap_or(5.0);
    let mut reloads = 0;
    let until = Instant::now() + Duration::from_secs_f64(secs * 0.8);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(600));
        let edited = SMALL_SPEC.replace("world", &format!("world-{reloads}"));
        std::fs::write(&small, edited).map_err(|e| e.to_string())?;
        reloads += 1;
    }
    let reload_load = during
        .join()
        .map_err(|_| "loadgen thread panicked".to_owned())??;
    drop(server);
    std::fs::remove_dir_all(&work).ok();

    line(String::new());
    line("| measure | moclojer | reference (hyper) | ratio | target |".to_owned());
    line("| --- | --- | --- | --- | --- |".to_owned());
    line(format!(
        "| static GET /hello, req/s | {:.0} | {:.0} | {:.2} | >= 0.85 |",
        ours_static.rps,
        base_static.rps,
        ours_static.rps / base_static.rps
    ));
    line(format!(
        "| templated GET /users/42, req/s | {:.0} | {:.0} | {:.2} | >= 0.70 |",
        ours_templated.rps,
        base_templated.rps,
        ours_templated.rps / base_templated.rps
    ));
    line(format!(
        "| static p99 (64 conns) | {:.2} ms | {:.2} ms | | < 2 ms |",
        ours_static.p99_us / 1000.0,
        base_static.p99_us / 1000.0
    ));
    line(format!(
        "| templated p99 (64 conns) | {:.2} ms | {:.2} ms | | < 2 ms |",
        ours_templated.p99_us / 1000.0,
        base_templated.p99_us / 1000.0
    ));
    line(format!(
        "| 10k hosts: load to listening | {:.2} s | | | < 2 s |",
        big_load.as_secs_f64()
    ));
    line(format!(
        "| 10k hosts: RSS | {big_rss:.0} MiB (small spec: {small_rss:.0} MiB) | | | < 300 MB |"
    ));
    line(format!(
        "| 10k hosts: static req/s | {:.0} | {:.0} | {:.2} | |",
        big_static.rps,
        base_static.rps,
        big_static.rps / base_static.rps
    ));
    line(format!(
        "| 10k hosts: templated req/s | {:.0} | {:.0} | {:.2} | |",
        big_templated.rps,
        base_templated.rps,
        big_templated.rps / base_templated.rps
    ));
    line(format!(
        "| {reloads} reloads under load: failed requests | {:.0} of {:.0} | | | 0 |",
        reload_load.errors,
        reload_load.rps * secs
    ));
    let errors =
        ours_static.errors + ours_templated.errors + big_static.errors + big_templated.errors;
    line(format!(
        "| failed requests in the other runs | {errors:.0} | {:.0} | | 0 |",
        base_static.errors + base_templated.errors
    ));
    Ok(())
}

/// `cargo xtask bench api [SECONDS]`: the all-in-one's api, in a release build.
pub(crate) fn api(seconds: &str) -> Result<(), String> {
    let seconds: f64 = seconds
        .parse()
        .map_err(|_| format!("seconds must be a number, not {seconds:?}"))?;
    let mut command = cargo();
    command.current_dir(project_root()).args([
        "run",
        "--release",
        "--quiet",
        "--jobs",
        &jobs(),
        "--package",
        "moclojer-cloud",
        "--example",
        "bench_api",
        "--",
        &seconds.to_string(),
    ]);
    step("bench api", &mut command)
}

/// `cargo xtask bench proxy [SECONDS]`: `GET /hello` on a mock host straight to foss,
/// through `moclojer-proxy`, and through the reference (`reference_proxy`, the leanest
/// reverse proxy hyper makes), all in front of the same foss in one run (release build,
/// loopback, the `loadgen` example of `moclojer-foss`).
///
/// Two loads: saturation (64 connections, as fast as they go) for requests/s, and one
/// connection at a time for the latency a proxy adds when nothing queues. Both proxies get
/// one worker thread: the load generator and foss use the machine's other cycles.
pub(crate) fn proxy(seconds: &str) -> Result<(), String> {
    step(
        "build (release)",
        cargo().args([
            "build",
            "--release",
            "--jobs",
            &jobs(),
            "--package",
            "moclojer-foss",
            "--bin",
            "moclojer",
            "--example",
            "loadgen",
            "--package",
            "moclojer-proxy",
            "--bin",
            "moclojer-proxy",
            "--example",
            "reference_proxy",
        ]),
    )?;
    let release = project_root().join("target/release");
    let loadgen = release.join("examples/loadgen");
    let work = std::env::temp_dir().join(format!("moclojer-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let spec = work.join("small.yml");
    std::fs::write(&spec, SMALL_SPEC).map_err(|e| e.to_string())?;
    let foss = start(
        &release.join("moclojer"),
        &[
            "-c",
            &spec.to_string_lossy(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
    )?;
    let upstream = foss.address.clone();
    let proxy = start(
        &release.join("moclojer-proxy"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--threads",
            "1",
            "--rate-limit",
            "0",
            // The listening line, not one access line per request.
            "--log-filter",
            "warn,moclojer_proxy=info,moclojer_proxy::access=warn",
        ],
    )?;
    let reference = start(&release.join("examples/reference_proxy"), &[&upstream, "1"])?;
    let host = "hello-bench.localhost";
    let targets = [
        ("straight to foss", upstream.clone(), None),
        ("moclojer-proxy", proxy.address.clone(), Some(&proxy)),
        (
            "reference proxy",
            reference.address.clone(),
            Some(&reference),
        ),
    ];

    let mut saturated = Vec::new();
    let mut single = Vec::new();
    for (connections, results) in [(CONNECTIONS, &mut saturated), ("1", &mut single)] {
        println!("\n==> GET /hello on {host} ({connections} connections, {seconds}s each)");
        for (name, address, server) in &targets {
            let cpu_before = server.map(Server::cpu_seconds);
            let measured = load_with(
                &loadgen,
                &format!("http://{address}/hello"),
                Some(host),
                connections,
                seconds,
            )?;
            let cpu_us = match (cpu_before, server) {
                (Some(before), Some(server)) if measured.requests > 0.0 => {
                    (server.cpu_seconds() - before) * 1e6 / measured.requests
                }
                _ => f64::NAN,
            };
            println!(
                "    {name}: {:.0} req/s, p50 {:.0} us, p99 {:.0} us, {:.0} failed{}",
                measured.rps,
                measured.p50_us,
                measured.p99_us,
                measured.errors,
                if cpu_us.is_nan() {
                    String::new()
                } else {
                    format!(", proxy CPU {cpu_us:.1} us/request")
                }
            );
            results.push((measured, cpu_us));
        }
    }
    drop(reference);
    drop(proxy);
    drop(foss);
    std::fs::remove_dir_all(&work).ok();

    let [(direct, _), (ours, ours_cpu), (lean, lean_cpu)] = saturated[..] else {
        return Err("three saturation runs expected".to_owned());
    };
    let [(direct1, _), (ours1, _), (lean1, _)] = single[..] else {
        return Err("three single-connection runs expected".to_owned());
    };
    println!();
    println!("| measure | moclojer-proxy | reference proxy | straight to foss | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| req/s, {CONNECTIONS} connections | {:.0} | {:.0} | {:.0} | |",
        ours.rps, lean.rps, direct.rps
    );
    println!(
        "| ratio to straight | {:.2} | {:.2} | 1 | moclojer-proxy >= 0.80 |",
        ours.rps / direct.rps,
        lean.rps / direct.rps
    );
    println!(
        "| ratio to the reference proxy | {:.2} | 1 | | |",
        ours.rps / lean.rps
    );
    println!("| proxy CPU per request | {ours_cpu:.1} us | {lean_cpu:.1} us | | |");
    println!(
        "| p99, {CONNECTIONS} connections | {:.2} ms | {:.2} ms | {:.2} ms | |",
        ours.p99_us / 1000.0,
        lean.p99_us / 1000.0,
        direct.p99_us / 1000.0
    );
    println!(
        "| p99, 1 connection (added) | {:.3} ms (+{:.3}) | {:.3} ms (+{:.3}) | {:.3} ms | < 1 ms added |",
        ours1.p99_us / 1000.0,
        (ours1.p99_us - direct1.p99_us) / 1000.0,
        lean1.p99_us / 1000.0,
        (lean1.p99_us - direct1.p99_us) / 1000.0,
        direct1.p99_us / 1000.0
    );
    println!(
        "| failed requests | {:.0} | {:.0} | {:.0} | 0 |",
        ours.errors + ours1.errors,
        lean.errors + lean1.errors,
        direct.errors + direct1.errors
    );
    Ok(())
}
