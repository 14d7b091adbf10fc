//! `cargo xtask bench`: the services in release builds, under load on loopback, against
//! references measured in the same run. What each bench measures is said in its module:
//! `foss` (the mock server) and `proxy` (the edge proxy); `api` and `scale` (the cost of a
//! publish by the number of live mocks) run the all-in-one's own benches.
//!
//! Here: starting a server and finding where it listens, the load generator (the `loadgen`
//! example of `moclojer-foss`), and the CPU time a process spends.

mod foss;
mod proxy;
mod scale;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, jobs, project_root, release_dir, step};

pub(crate) use self::foss::run as foss;
pub(crate) use self::proxy::run as proxy;
pub(crate) use self::scale::run as scale;

/// Connections of a saturation load.
const CONNECTIONS: &str = "64";

/// A server started for a bench; killed when dropped.
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
        proc_cpu_seconds(&self.child.id().to_string(), Whose::Own)
    }

    /// Its resident memory, in MiB.
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
                // Not another listener's line (an admin listener's, a health check's).
                const LISTENING: &str = "listening on http://";
                if let Some(at) = line.find(LISTENING) {
                    let address: String = line[at + LISTENING.len()..]
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

/// foss (`moclojer` here) serving `spec` on a port of its own, with the flags `more`.
fn start_foss(moclojer: &Path, spec: &Path, more: &[&str]) -> Result<Server, String> {
    let spec = spec.to_string_lossy();
    let mut args = vec!["-c", &spec, "--host", "127.0.0.1", "--port", "0"];
    args.extend_from_slice(more);
    start(moclojer, &args)
}

/// What one load measured.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    requests: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: f64,
    /// The load generator's own CPU time per request, in µs.
    client_cpu_us: f64,
}

/// Whose CPU time [`proc_cpu_seconds`] reads.
#[derive(Clone, Copy)]
enum Whose {
    /// The process's own.
    Own,
    /// That of its children it has waited for.
    WaitedChildren,
}

/// CPU time (user and system) from `/proc/<pid>/stat`, in seconds; NaN when unreadable.
fn proc_cpu_seconds(pid: &str, whose: Whose) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // utime, stime, cutime and cstime are fields 14 to 17 of the whole line: 11 to 14
    // after the name.
    let first = match whose {
        Whose::Own => 11,
        Whose::WaitedChildren => 13,
    };
    match (ticks(first), ticks(first + 1)) {
        // In clock ticks of 1/100 s (USER_HZ on Linux).
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// `seconds` of load on `url` ([`CONNECTIONS`] connections), with `host` as its `Host` when
/// given.
fn load(loadgen: &Path, url: &str, host: Option<&str>, seconds: &str) -> Result<Load, String> {
    load_with(loadgen, url, host, CONNECTIONS, seconds)
}

/// [`load`] over `connections` connections.
fn load_with(
    loadgen: &Path,
    url: &str,
    host: Option<&str>,
    connections: &str,
    seconds: &str,
) -> Result<Load, String> {
    load_placed(loadgen, url, host, connections, seconds, None)
}

/// [`load_with`], with the load generator kept on `cores` (a `taskset` list) when given.
fn load_placed(
    loadgen: &Path,
    url: &str,
    host: Option<&str>,
    connections: &str,
    seconds: &str,
    cores: Option<&str>,
) -> Result<Load, String> {
    let mut command = match cores {
        Some(cores) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["--cpu-list", cores]).arg(loadgen);
            taskset
        }
        None => Command::new(loadgen),
    };
    command.args([url, connections, seconds]);
    if let Some(host) = host {
        command.arg(host);
    }
    // The load generator's CPU time: what this process's waited-for children gained.
    let before = proc_cpu_seconds("self", Whose::WaitedChildren);
    let output = command.output().map_err(|e| format!("loadgen: {e}"))?;
    let client_cpu = proc_cpu_seconds("self", Whose::WaitedChildren) - before;
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
        client_cpu_us: client_cpu * 1e6 / field("requests").max(1.0),
    })
}

/// The spec of the small benches: a static and a templated endpoint.
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

/// Builds foss and the load generator, and `more` (cargo's `--package`, `--bin` and
/// `--example` flags), in release mode; the folder the programs are in.
fn release_build(more: &[&str]) -> Result<PathBuf, String> {
    let jobs = jobs();
    let mut build = cargo();
    build
        .args(["build", "--release", "--jobs", &jobs])
        .args(["--package", "moclojer-foss", "--bin", "moclojer"])
        .args(["--example", "loadgen"])
        .args(more);
    step("build (release)", &mut build)?;
    Ok(release_dir())
}

/// A folder of its own for this run's files, named after `name`, with [`SMALL_SPEC`] in
/// it: the folder, and the spec's file.
fn work_dir(name: &str) -> Result<(PathBuf, PathBuf), String> {
    let work = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let small = work.join("small.yml");
    std::fs::write(&small, SMALL_SPEC).map_err(|e| e.to_string())?;
    Ok((work, small))
}

/// The `http://` URL of `path` on `address`.
fn url(address: &str, path: &str) -> String {
    format!("http://{address}{path}")
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
