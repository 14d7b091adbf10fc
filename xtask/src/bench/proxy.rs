//! `cargo xtask bench proxy`: the edge proxy, the leanest reverse proxy hyper makes and,
//! when installed, HAProxy, each in front of the same foss, against foss straight, in one
//! run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    CONNECTIONS, Load, Server, load_placed, load_with, release_build, start, start_foss, url,
    work_dir,
};

/// The mock host every load asks for.
const HOST: &str = "hello-bench.localhost";

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
pub(crate) fn run(seconds: &str) -> Result<(), String> {
    let release = release_build(&[
        "--package",
        "moclojer-proxy",
        "--bin",
        "moclojer-proxy",
        "--example",
        "reference_proxy",
    ])?;
    let loadgen = release.join("examples/loadgen");
    let (work, spec) = work_dir("moclojer-bench-proxy")?;
    let servers = Servers::start(&release, &spec, &work)?;
    let targets = servers.targets();
    let bench = ProxyBench {
        targets: &targets,
        foss: &servers.foss,
        loadgen: &loadgen,
        host: HOST,
        seconds,
    };
    bench.warm_up()?;
    let figures = bench.measure()?;
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    drop(targets);
    drop(servers);
    std::fs::remove_dir_all(&work).ok();
    if haproxy_missing() {
        println!("\n(haproxy is not installed: `apt-get install haproxy` adds it as a reference)");
    }
    print_table(&names, &figures);
    Ok(())
}

/// The processes of `bench proxy`, stopped when dropped: HAProxy, the reference, the proxy,
/// then foss.
struct Servers {
    haproxy: Option<Server>,
    reference: Server,
    proxy: Server,
    foss: Server,
}

impl Servers {
    /// foss on `spec`, and each proxy in front of it with one worker thread.
    fn start(release: &Path, spec: &Path, work: &Path) -> Result<Self, String> {
        let foss = start_foss(&release.join("moclojer"), spec, &[])?;
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
        let haproxy = start_haproxy(work, &upstream)?;
        Ok(Self {
            haproxy,
            reference,
            proxy,
            foss,
        })
    }

    /// Straight to foss first, as the base of the ratios; then the proxies.
    fn targets(&self) -> Vec<Target<'_>> {
        let mut targets = vec![
            Target {
                name: "straight to foss",
                address: self.foss.address.clone(),
                server: None,
            },
            Target {
                name: "moclojer-proxy",
                address: self.proxy.address.clone(),
                server: Some(&self.proxy),
            },
            Target {
                name: "reference proxy",
                address: self.reference.address.clone(),
                server: Some(&self.reference),
            },
        ];
        if let Some(haproxy) = &self.haproxy {
            targets.push(Target {
                name: "haproxy",
                address: haproxy.address.clone(),
                server: Some(haproxy),
            });
        }
        targets
    }
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
                let run = self.load_once(target, connections, client_cores)?;
                println!(
                    "    round {round}, {}: {:.0} req/s, p50 {:.0} us, p99 {:.0} us, \
                     {:.0} failed; CPU per request: {}foss {:.1} us, client {:.1} us",
                    target.name,
                    run.load.rps,
                    run.load.p50_us,
                    run.load.p99_us,
                    run.load.errors,
                    if run.proxy_cpu_us.is_nan() {
                        String::new()
                    } else {
                        format!("proxy {:.1} us, ", run.proxy_cpu_us)
                    },
                    run.foss_cpu_us,
                    run.load.client_cpu_us,
                );
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// One load on `target`, the client on `client_cores` when given, with the CPU time
    /// the proxy and foss spent on it.
    fn load_once(
        &self,
        target: &Target<'_>,
        connections: &str,
        client_cores: Option<&str>,
    ) -> Result<ProxyRun, String> {
        let before = (
            target.server.map(Server::cpu_seconds),
            self.foss.cpu_seconds(),
        );
        let load = load_placed(
            self.loadgen,
            &url(&target.address, "/hello"),
            Some(self.host),
            connections,
            self.seconds,
            client_cores,
        )?;
        let per_request = |seconds: f64| seconds * 1e6 / load.requests.max(1.0);
        Ok(ProxyRun {
            load,
            proxy_cpu_us: match (before.0, target.server) {
                (Some(start), Some(server)) => per_request(server.cpu_seconds() - start),
                _ => f64::NAN,
            },
            foss_cpu_us: per_request(self.foss.cpu_seconds() - before.1),
        })
    }

    /// A second of load on each target, unmeasured: upstream connections pooled,
    /// allocators and caches warm, so round 1 measures the same state as the others.
    fn warm_up(&self) -> Result<(), String> {
        for target in self.targets {
            load_with(
                self.loadgen,
                &url(&target.address, "/hello"),
                Some(self.host),
                CONNECTIONS,
                "1",
            )?;
        }
        Ok(())
    }

    /// Every load, in order: saturation with the cores shared, one connection at a time,
    /// then saturation with a core each (when this machine allows); the median run of each
    /// target.
    fn measure(&self) -> Result<ProxyFigures, String> {
        let shared = self.rounds(CONNECTIONS, Placement::Shared)?;
        let single = self.rounds("1", Placement::Shared)?;
        let added_p99 = paired_added_p99(&single);
        let core_each = match Placement::CoreEach.unavailable() {
            None => Some(self.rounds(CONNECTIONS, Placement::CoreEach)?),
            Some(why) => {
                println!("\n(no run with a core each: {why})");
                None
            }
        };
        let median = |runs: Vec<Vec<ProxyRun>>| -> Vec<ProxyRun> {
            runs.into_iter().map(median_run).collect()
        };
        Ok(ProxyFigures {
            shared: median(shared),
            core_each: core_each.map(median).unwrap_or_default(),
            single: median(single),
            added_p99,
        })
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
fn print_table(names: &[&str], figures: &ProxyFigures) {
    let (Some(direct), Some(direct1)) = (figures.shared.first(), figures.single.first()) else {
        return;
    };
    let saturated = &figures.shared[1..];
    println!();
    println!(
        "| measure | {} | {} | target |",
        names[1..].join(" | "),
        names[0]
    );
    println!("|{}", " --- |".repeat(names.len() + 2));
    print_saturation(&figures.core_each, "a core each", "moclojer-proxy >= 0.80");
    print_saturation(&figures.shared, "cores shared", "");
    print_shared_cpu(direct, saturated);
    print_latency(direct1, figures, saturated.len());
    let failed = |i: usize| {
        [&figures.shared, &figures.core_each, &figures.single]
            .iter()
            .filter_map(|runs| runs.get(i))
            .map(|run| run.load.errors)
            .sum::<f64>()
    };
    row(
        "failed requests",
        (1..=saturated.len())
            .map(|i| format!("{:.0}", failed(i)))
            .collect(),
        &format!("{:.0}", failed(0)),
        "0",
    );
    print_explanation(direct, saturated);
}

/// A row of the table: its label, a cell per proxy, the cell straight to foss, the target.
fn row(label: &str, cells: Vec<String>, straight: &str, target: &str) {
    println!(
        "| {label} | {} | {straight} | {target} |",
        cells.join(" | ")
    );
}

/// A cell per run of `runs`.
fn cells(runs: &[ProxyRun], cell: impl Fn(&ProxyRun) -> String) -> Vec<String> {
    runs.iter().map(cell).collect()
}

/// Requests/s, its ratio, the proxy's CPU and the p99 of one saturation load: `runs`,
/// straight to foss first, placed as `placement` (a row-label suffix) says.
fn print_saturation(runs: &[ProxyRun], placement: &str, target: &str) {
    let Some((direct, proxied)) = runs.split_first() else {
        return;
    };
    row(
        &format!("req/s, {CONNECTIONS} connections, {placement}"),
        cells(proxied, |run| format!("{:.0}", run.load.rps)),
        &format!("{:.0}", direct.load.rps),
        "",
    );
    row(
        &format!("ratio to straight, {placement}"),
        cells(proxied, |run| {
            format!("{:.2}", run.load.rps / direct.load.rps)
        }),
        "1",
        target,
    );
    row(
        &format!("CPU per request: the proxy, {placement}"),
        cells(proxied, |run| format!("{:.1} us", run.proxy_cpu_us)),
        "",
        "",
    );
    row(
        &format!("p99, {CONNECTIONS} connections, {placement}"),
        cells(proxied, |run| format!("{:.2} ms", run.load.p99_us / 1000.0)),
        &format!("{:.2} ms", direct.load.p99_us / 1000.0),
        "",
    );
}

/// CPU per request spent by foss and the client on a request, straight or through a proxy.
fn shared_cpu(run: &ProxyRun) -> f64 {
    run.foss_cpu_us + run.load.client_cpu_us
}

/// With the cores shared: each proxy against the reference, the CPU foss and the client
/// spend, the ratio that CPU allows, and the proxy's CPU against foss's.
fn print_shared_cpu(direct: &ProxyRun, saturated: &[ProxyRun]) {
    let straight_rest = shared_cpu(direct);
    row(
        "ratio to the reference proxy, cores shared",
        cells(saturated, |run| {
            format!("{:.2}", run.load.rps / saturated[1].load.rps)
        }),
        "",
        "",
    );
    row(
        "CPU per request: foss + client, cores shared",
        cells(saturated, |run| format!("{:.1} us", shared_cpu(run))),
        &format!("{:.1} us", straight_rest),
        "",
    );
    row(
        "ratio the shared CPU allows",
        cells(saturated, |run| {
            format!(
                "{:.2}",
                straight_rest / (shared_cpu(run) + run.proxy_cpu_us)
            )
        }),
        "1",
        "",
    );
    row(
        "a proxy core against a foss core",
        cells(saturated, |run| {
            format!("{:.2}", direct.foss_cpu_us / run.proxy_cpu_us)
        }),
        "1",
        "",
    );
}

/// The p99 of one connection at a time, and what each of the `proxies` adds to it.
fn print_latency(direct1: &ProxyRun, figures: &ProxyFigures, proxies: usize) {
    let single = &figures.single[1..];
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
}

/// What the placements mean, and the CPU a proxy could spend to keep 0.80 of the straight
/// rate with the cores shared.
fn print_explanation(direct: &ProxyRun, saturated: &[ProxyRun]) {
    let straight_rest = shared_cpu(direct);
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
