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
        proc_cpu_seconds(&self.child.id().to_string(), Whose::Own)
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
/// When `haproxy` is installed, HAProxy (one thread, upstream connections reused) joins as
/// a second reference: a production proxy on the same machine, in the same run.
///
/// Three loads: saturation (64 connections, as fast as they go) for requests/s, once with
/// the cores shared as the scheduler likes and once with [a core each](Placement::CoreEach),
/// as a proxy tier runs in front of foss; and one connection at a time, cores shared, for
/// the latency a proxy adds when nothing queues. Every proxy gets one worker thread. Each target is
/// measured in [`PROXY_ROUNDS`] interleaved rounds; the table shows the median.
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
    let haproxy = start_haproxy(&work, &upstream)?;
    let host = "hello-bench.localhost";
    // Straight to foss first, as the base of the ratios; then the proxies.
    let mut targets = vec![
        Target {
            name: "straight to foss",
            address: upstream.clone(),
            server: None,
        },
        Target {
            name: "moclojer-proxy",
            address: proxy.address.clone(),
            server: Some(&proxy),
        },
        Target {
            name: "reference proxy",
            address: reference.address.clone(),
            server: Some(&reference),
        },
    ];
    if let Some(haproxy) = &haproxy {
        targets.push(Target {
            name: "haproxy",
            address: haproxy.address.clone(),
            server: Some(haproxy),
        });
    }
    let bench = ProxyBench {
        targets: &targets,
        foss: &foss,
        loadgen: &loadgen,
        host,
        seconds,
    };

    // A second of load on each target first, unmeasured: upstream connections pooled,
    // allocators and caches warm, so round 1 measures the same state as the others.
    for target in &targets {
        load_with(
            &loadgen,
            &format!("http://{}/hello", target.address),
            Some(host),
            CONNECTIONS,
            "1",
        )?;
    }
    let shared = bench.rounds(CONNECTIONS, Placement::Shared)?;
    let single = bench.rounds("1", Placement::Shared)?;
    let added_p99 = paired_added_p99(&single);
    let core_each = match Placement::CoreEach.unavailable() {
        None => Some(bench.rounds(CONNECTIONS, Placement::CoreEach)?),
        Some(why) => {
            println!("\n(no run with a core each: {why})");
            None
        }
    };
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    drop(targets);
    drop(haproxy);
    drop(reference);
    drop(proxy);
    drop(foss);
    std::fs::remove_dir_all(&work).ok();
    if haproxy_missing() {
        println!("\n(haproxy is not installed: `apt-get install haproxy` adds it as a reference)");
    }
    let median =
        |runs: Vec<Vec<ProxyRun>>| -> Vec<ProxyRun> { runs.into_iter().map(median_run).collect() };
    print_proxy_table(
        &names,
        &ProxyFigures {
            shared: median(shared),
            core_each: core_each.map(median).unwrap_or_default(),
            single: median(single),
            added_p99,
        },
    );
    Ok(())
}

/// Where the processes of a `bench proxy` load run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Wherever the scheduler puts them: the client, foss and the proxy share every core.
    Shared,
    /// A core each, as a proxy tier runs in front of foss: the proxy alone on the second
    /// core; foss and the client, which stands for the rest of the world, on the first.
    /// Straight to foss, the second core idles. Other cores are left out, so the split is
    /// the same on any machine.
    CoreEach,
}

impl Placement {
    /// The cores of foss and the client under [`Placement::CoreEach`], and the proxy's
    /// (`taskset` lists).
    const CLIENT_AND_FOSS_CORE: &str = "0";
    const PROXY_CORE: &str = "1";

    /// What the heading of a load says of the placement.
    fn describe(self) -> &'static str {
        match self {
            Self::Shared => "",
            Self::CoreEach => "; a core each: the proxy on one, foss and the client on the other",
        }
    }

    /// Why this placement cannot run here, if it cannot.
    fn unavailable(self) -> Option<&'static str> {
        if self == Self::Shared {
            return None;
        }
        if std::thread::available_parallelism().map_or(0, usize::from) < 2 {
            return Some("this machine has one core");
        }
        (!installed("taskset", "-V")).then_some("`taskset` (util-linux) is not installed")
    }
}

/// Moves every thread of `server` onto `cores` (threads it starts later follow).
fn place(server: &Server, cores: &str) -> Result<(), String> {
    let pid = server.child.id().to_string();
    crate::services::run(
        "taskset",
        &["--all-tasks", "--cpu-list", "--pid", cores, &pid],
    )
}

/// One thing `bench proxy` sends load to.
struct Target<'a> {
    name: &'static str,
    address: String,
    /// The proxy's process; none straight to foss.
    server: Option<&'a Server>,
}

/// What every load of `bench proxy` shares.
struct ProxyBench<'a> {
    targets: &'a [Target<'a>],
    foss: &'a Server,
    loadgen: &'a Path,
    host: &'a str,
    seconds: &'a str,
}

impl ProxyBench<'_> {
    /// [`PROXY_ROUNDS`] rounds of load on every target in turn, placed as `placement` says:
    /// for each target, its runs in round order. [`Placement::CoreEach`] moves foss and the
    /// proxies for good, so its loads come after the shared ones.
    fn rounds(
        &self,
        connections: &str,
        placement: Placement,
    ) -> Result<Vec<Vec<ProxyRun>>, String> {
        let client_cores =
            (placement == Placement::CoreEach).then_some(Placement::CLIENT_AND_FOSS_CORE);
        if let Some(cores) = client_cores {
            place(self.foss, cores)?;
            for server in self.targets.iter().filter_map(|t| t.server) {
                place(server, Placement::PROXY_CORE)?;
            }
        }
        let host = self.host;
        let seconds = self.seconds;
        println!(
            "\n==> GET /hello on {host} ({connections} connections, {seconds}s each, \
             {PROXY_ROUNDS} rounds{})",
            placement.describe(),
        );
        let mut runs: Vec<Vec<ProxyRun>> = vec![Vec::new(); self.targets.len()];
        for round in 1..=PROXY_ROUNDS {
            for (target, runs) in self.targets.iter().zip(&mut runs) {
                let before = (
                    target.server.map(Server::cpu_seconds),
                    self.foss.cpu_seconds(),
                );
                let load = load_placed(
                    self.loadgen,
                    &format!("http://{}/hello", target.address),
                    Some(host),
                    connections,
                    seconds,
                    client_cores,
                )?;
                let per_request = |seconds: f64| seconds * 1e6 / load.requests.max(1.0);
                let run = ProxyRun {
                    load,
                    proxy_cpu_us: match (before.0, target.server) {
                        (Some(start), Some(server)) => per_request(server.cpu_seconds() - start),
                        _ => f64::NAN,
                    },
                    foss_cpu_us: per_request(self.foss.cpu_seconds() - before.1),
                };
                println!(
                    "    round {round}, {}: {:.0} req/s, p50 {:.0} us, p99 {:.0} us, \
                     {:.0} failed; CPU per request: {}foss {:.1} us, client {:.1} us",
                    target.name,
                    load.rps,
                    load.p50_us,
                    load.p99_us,
                    load.errors,
                    if run.proxy_cpu_us.is_nan() {
                        String::new()
                    } else {
                        format!("proxy {:.1} us, ", run.proxy_cpu_us)
                    },
                    run.foss_cpu_us,
                    load.client_cpu_us,
                );
                runs.push(run);
            }
        }
        Ok(runs)
    }
}

/// For each proxy (`runs[1..]`), the median over the rounds of its p99 less the p99 straight
/// to foss (`runs[0]`) in the same round: a slow spell of the machine that spans a round
/// touches both sides of each difference alike.
fn paired_added_p99(runs: &[Vec<ProxyRun>]) -> Vec<f64> {
    let Some((straight, proxies)) = runs.split_first() else {
        return Vec::new();
    };
    proxies
        .iter()
        .map(|rounds| {
            let mut added: Vec<f64> = rounds
                .iter()
                .zip(straight)
                .map(|(proxy, straight)| proxy.load.p99_us - straight.load.p99_us)
                .collect();
            added.sort_by(f64::total_cmp);
            added.get(added.len() / 2).copied().unwrap_or(f64::NAN)
        })
        .collect()
}

/// Rounds of `bench proxy`: each round measures every target once, in turn, so a slow
/// spell of the machine touches them all alike.
const PROXY_ROUNDS: usize = 3;

/// One load on one target of `bench proxy`, with the CPU time each process spent on a
/// request (µs): the proxy (NaN straight to foss), foss, and the client in `load`.
#[derive(Debug, Default, Clone, Copy)]
struct ProxyRun {
    load: Load,
    proxy_cpu_us: f64,
    foss_cpu_us: f64,
}

/// The run with the median requests/s stands for a target; failures add up over all runs.
fn median_run(mut runs: Vec<ProxyRun>) -> ProxyRun {
    let failed: f64 = runs.iter().map(|run| run.load.errors).sum();
    runs.sort_by(|a, b| a.load.rps.total_cmp(&b.load.rps));
    let mut median = runs.get(runs.len() / 2).copied().unwrap_or_default();
    median.load.errors = failed;
    median
}

/// The medians of `bench proxy`, one per target, straight to foss first; `core_each` is
/// empty when that placement could not run.
struct ProxyFigures {
    shared: Vec<ProxyRun>,
    core_each: Vec<ProxyRun>,
    single: Vec<ProxyRun>,
    /// Per proxy (not straight to foss).
    added_p99: Vec<f64>,
}

/// The table of `bench proxy`: one column per proxy, then straight to foss (measured first,
/// `names[0]`), then the target; the reference proxy is `names[2]`. Below it, the bound the
/// machine puts on every proxy when the cores are shared: when the client, foss and the
/// proxy share them and the run saturates them, requests/s fall as the CPU spent per
/// request grows, so a proxy that spends `p` µs keeps at most
/// `(foss + client) / (foss + client + p)` of the straight rate.
fn print_proxy_table(names: &[&str], figures: &ProxyFigures) {
    let (Some(direct), Some(direct1)) = (figures.shared.first(), figures.single.first()) else {
        return;
    };
    let (saturated, single) = (&figures.shared[1..], &figures.single[1..]);
    let proxies = saturated.len();
    let row = |label: &str, cells: Vec<String>, last: &str, target: &str| {
        println!("| {label} | {} | {last} | {target} |", cells.join(" | "));
    };
    println!();
    println!(
        "| measure | {} | {} | target |",
        names[1..].join(" | "),
        names[0]
    );
    println!("|{}", " --- |".repeat(names.len() + 2));
    // Requests/s, its ratio, the proxy's CPU and the p99 of one saturation load: `runs`,
    // straight to foss first, placed as `placement` (a row-label suffix) says.
    let saturation = |runs: &[ProxyRun], placement: &str, target: &str| {
        let Some((direct, proxied)) = runs.split_first() else {
            return;
        };
        let each = |f: &dyn Fn(&ProxyRun) -> String| proxied.iter().map(f).collect::<Vec<_>>();
        row(
            &format!("req/s, {CONNECTIONS} connections, {placement}"),
            each(&|run| format!("{:.0}", run.load.rps)),
            &format!("{:.0}", direct.load.rps),
            "",
        );
        row(
            &format!("ratio to straight, {placement}"),
            each(&|run| format!("{:.2}", run.load.rps / direct.load.rps)),
            "1",
            target,
        );
        row(
            &format!("CPU per request: the proxy, {placement}"),
            each(&|run| format!("{:.1} us", run.proxy_cpu_us)),
            "",
            "",
        );
        row(
            &format!("p99, {CONNECTIONS} connections, {placement}"),
            each(&|run| format!("{:.2} ms", run.load.p99_us / 1000.0)),
            &format!("{:.2} ms", direct.load.p99_us / 1000.0),
            "",
        );
    };
    saturation(&figures.core_each, "a core each", "moclojer-proxy >= 0.80");
    saturation(&figures.shared, "cores shared", "");
    let each = |f: &dyn Fn(&ProxyRun) -> String| saturated.iter().map(f).collect::<Vec<_>>();
    let rest = |run: &ProxyRun| run.foss_cpu_us + run.load.client_cpu_us;
    let straight_rest = rest(direct);
    row(
        "ratio to the reference proxy, cores shared",
        each(&|run| format!("{:.2}", run.load.rps / saturated[1].load.rps)),
        "",
        "",
    );
    row(
        "CPU per request: foss + client, cores shared",
        each(&|run| format!("{:.1} us", rest(run))),
        &format!("{:.1} us", straight_rest),
        "",
    );
    row(
        "ratio the shared CPU allows",
        each(&|run| format!("{:.2}", straight_rest / (rest(run) + run.proxy_cpu_us))),
        "1",
        "",
    );
    row(
        "a proxy core against a foss core",
        each(&|run| format!("{:.2}", direct.foss_cpu_us / run.proxy_cpu_us)),
        "1",
        "",
    );
    row(
        "p99, 1 connection",
        (0..proxies)
            .map(|i| format!("{:.3} ms", single[i].load.p99_us / 1000.0))
            .collect(),
        &format!("{:.3} ms", direct1.load.p99_us / 1000.0),
        "",
    );
    row(
        "p99 added, 1 connection (median of the rounds' differences)",
        (0..proxies)
            .map(|i| match figures.added_p99.get(i) {
                Some(added) => format!("{:+.3} ms", added / 1000.0),
                None => String::new(),
            })
            .collect(),
        "",
        "< 1 ms",
    );
    let failed = |i: usize| {
        [&figures.shared, &figures.core_each, &figures.single]
            .iter()
            .filter_map(|runs| runs.get(i))
            .map(|run| run.load.errors)
            .sum::<f64>()
    };
    row(
        "failed requests",
        (1..=proxies).map(|i| format!("{:.0}", failed(i))).collect(),
        &format!("{:.0}", failed(0)),
        "0",
    );
    let cheapest = saturated
        .iter()
        .map(|run| run.proxy_cpu_us)
        .fold(f64::INFINITY, f64::min);
    println!(
        "\nWith a core each, the proxy has a core to itself, as a proxy tier in front of foss \
         does, and foss shares the other with the client; straight to foss the proxy's core \
         idles. With the cores shared, the client, foss and the proxy share this machine's {} \
         cores: straight to foss a request costs {straight_rest:.1} us of CPU (foss and client), \
         so a proxy would keep 0.80 of the straight rate only if it spent at most {:.1} us per \
         request; the cheapest proxy here spent {cheapest:.1} us. \"A proxy core against a foss \
         core\" is the ratio of their CPU per request.",
        std::thread::available_parallelism().map_or(0, usize::from),
        straight_rest / 4.0,
    );
}

fn haproxy_missing() -> bool {
    !installed("haproxy", "-v")
}

/// Whether `program` runs here: asked for its version (`flag`), it answers with success.
fn installed(program: &str, flag: &str) -> bool {
    Command::new(program)
        .arg(flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// HAProxy in front of `upstream` with one thread and upstream connections reused, when it
/// is installed: a production proxy measured in the same run, as a second reference.
fn start_haproxy(work: &Path, upstream: &str) -> Result<Option<Server>, String> {
    if haproxy_missing() {
        return Ok(None);
    }
    let started = Instant::now();
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("a free port for haproxy: {e}"))?
        .to_string();
    let config = work.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n    nbthread 1\n    maxconn 4000\n\
             defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n\
             \x20   timeout server 30s\n    http-reuse always\n\
             frontend bench\n    bind {address}\n    default_backend foss\n\
             backend foss\n    server foss {upstream}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start haproxy: {e}"))?;
    let mut server = Server {
        child,
        address,
        started_in: Duration::ZERO,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&server.address).is_err() {
        if Instant::now() > deadline {
            return Err(format!("haproxy did not listen on {}", server.address));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.started_in = started.elapsed();
    Ok(Some(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p99_us: f64) -> ProxyRun {
        ProxyRun {
            load: Load {
                p99_us,
                ..Load::default()
            },
            ..ProxyRun::default()
        }
    }

    /// A round where the whole machine was slow moves both sides of its difference: the
    /// median difference is the proxy's own, where comparing medians would not be.
    #[test]
    fn added_latency_is_the_median_of_each_rounds_difference() {
        let straight = vec![run(650.0), run(1400.0), run(370.0)];
        let proxy = vec![run(1100.0), run(3200.0), run(1170.0)];
        let other = vec![run(1180.0), run(1730.0), run(1290.0)];
        let added = paired_added_p99(&[straight, proxy, other]);
        assert_eq!(added, [800.0, 530.0]);
        assert!(paired_added_p99(&[]).is_empty());
    }
}
