//! `cargo xtask bench foss`: the mock server against a minimal hyper server returning the
//! same bytes, measured in the same run on loopback, printed as ratios.
//!
//! Measured: (a) `GET /hello`, static JSON; (b) `GET /users/42`, the id templated twice;
//! (c) a spec of 10,000 hosts × 5 endpoints: load time, RSS, and (a) and (b) against it;
//! (d) requests during repeated reloads, which must all succeed; (e) the request journal's
//! cost: (a) with the journal off, in memory (`--journal 1000`) and on Redis
//! (`--journal-url`, `MOCLOJER_BENCH_REDIS_URL`, default `redis://127.0.0.1:6379`; left
//! out when unreachable), the off run repeated last and averaged; each with the server's CPU
//! time per request and the records it dropped; (f) response rules and resources: five
//! rules of which the fourth holds, and a resource's record read, against the plain
//! templated endpoint in the same server.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    CONNECTIONS, Load, SMALL_SPEC, Server, load, release_build, start, start_foss, url, work_dir,
};

/// `cargo xtask bench foss [SECONDS]`: builds, measures, prints the table.
pub(crate) fn run(seconds: &str) -> Result<(), String> {
    let release = release_build(&["--example", "bench_reference"])?;
    let (work, small) = work_dir("moclojer-bench")?;
    let big = work.join("big.yml");
    std::fs::write(&big, large_spec(10_000)).map_err(|e| e.to_string())?;
    let bench = FossBench {
        moclojer: release.join("moclojer"),
        reference: release.join("examples/bench_reference"),
        loadgen: release.join("examples/loadgen"),
        seconds,
    };
    let small_spec = bench.measure_small(&small)?;
    let large_spec = bench.measure_large(&big)?;
    let reloads = bench.measure_reloads(&small)?;
    let journal = bench.measure_journal(&small)?;
    let stateful = bench.measure_stateful(&work)?;
    std::fs::remove_dir_all(&work).ok();
    print_table(&small_spec, &large_spec, &reloads);
    print_journal(&journal);
    print_stateful(&stateful);
    Ok(())
}

/// The programs of `bench foss`, and how long each load lasts.
struct FossBench<'a> {
    moclojer: PathBuf,
    /// The minimal hyper server answering fixed bytes.
    reference: PathBuf,
    loadgen: PathBuf,
    seconds: &'a str,
}

/// The small spec's endpoints, on moclojer and on the reference.
struct SmallSpec {
    ours_static: Load,
    base_static: Load,
    ours_templated: Load,
    base_templated: Load,
    rss_mib: f64,
}

/// The spec of 10,000 hosts: how long moclojer took to listen, its RSS, and the small
/// spec's endpoints on its last host.
struct LargeSpec {
    load_time: Duration,
    rss_mib: f64,
    static_load: Load,
    templated_load: Load,
}

/// `GET /hello` with the journal off (twice: first and last) and on.
struct JournalCost {
    off: [JournalRun; 2],
    memory: JournalRun,
    /// `None` when no Redis answered.
    redis: Option<JournalRun>,
}

/// One load with the journal off or on: the load, the server's CPU time per request (µs),
/// and the records it dropped (read from its admin listener's `/metrics`).
struct JournalRun {
    load: Load,
    server_cpu_us: f64,
    dropped: Option<u64>,
}

/// The templated endpoint, a rule-chosen response and a resource read, on one server.
struct Stateful {
    templated: Load,
    rules: Load,
    resource: Load,
}

/// A spec with the templated endpoint, an endpoint whose fourth of five rules holds for
/// `GET /rules/42?verbose=1`, and a resource of 100 records.
fn stateful_spec() -> String {
    let template = r#"'{"id":{{path-params.id}},"name":"user-{{path-params.id}}"}'"#;
    let seed: Vec<String> = (1..=100)
        .map(|i| format!(r#"{{"id": {i}, "name": "thing-{i}"}}"#))
        .collect();
    format!(
        "- endpoint:\n    path: /users/:id\n    response:\n      body: {template}\n\
         - endpoint:\n    path: /rules/:id\n    responses:\n\
         \x20     - when: {{path-params: {{id: \"1\"}}}}\n        body: '{{\"rule\": 1}}'\n\
         \x20     - when: {{headers: {{x-mode: {{matches: \"^adm\"}}}}}}\n        body: '{{\"rule\": 2}}'\n\
         \x20     - when: {{query-params: {{debug: {{present: true}}}}}}\n        body: '{{\"rule\": 3}}'\n\
         \x20     - when: {{path-params: {{id: \"42\"}}, query-params: {{verbose: \"1\"}}}}\n        body: {template}\n\
         \x20     - when: {{path-params: {{id: {{one-of: [\"7\", \"8\"]}}}}}}\n        body: '{{\"rule\": 5}}'\n\
         \x20   response:\n      status: 404\n\
         - resource:\n    path: /things\n    seed: [{}]\n",
        seed.join(", ")
    )
}

/// Requests while the spec is rewritten `count` times, over `seconds`.
struct Reloads {
    count: usize,
    load: Load,
    seconds: f64,
}

impl FossBench<'_> {
    /// moclojer serving `spec` on a port of its own.
    fn serve(&self, spec: &Path) -> Result<Server, String> {
        start_foss(&self.moclojer, spec, &["--max-spec-bytes", "67108864"])
    }

    /// A load of `path` on `server` (with `host` as its `Host` when given).
    fn load(&self, server: &Server, path: &str, host: Option<&str>) -> Result<Load, String> {
        load(
            &self.loadgen,
            &url(&server.address, path),
            host,
            self.seconds,
        )
    }

    /// A load of `path` on the reference answering `body`.
    fn load_reference(&self, body: &str, path: &str) -> Result<Load, String> {
        let reference = start(&self.reference, &["0", body])?;
        self.load(&reference, path, None)
    }

    /// The static and the templated endpoint of `small` (the small spec), each on moclojer
    /// and on the reference, one at a time.
    fn measure_small(&self, small: &Path) -> Result<SmallSpec, String> {
        let seconds = self.seconds;
        println!("\n==> static: GET /hello ({CONNECTIONS} connections, {seconds}s each)");
        let base_static = self.load_reference(r#"{"hello":"world"}"#, "/hello")?;
        let server = self.serve(small)?;
        let ours_static = self.load(&server, "/hello", None)?;

        println!("==> templated: GET /users/42");
        let ours_templated = self.load(&server, "/users/42", None)?;
        let rss_mib = server.rss_mib();
        drop(server);
        let base_templated = self.load_reference(r#"{"id":42,"name":"user-42"}"#, "/users/42")?;
        Ok(SmallSpec {
            ours_static,
            base_static,
            ours_templated,
            base_templated,
            rss_mib,
        })
    }

    /// moclojer on `big` (the spec of 10,000 hosts).
    fn measure_large(&self, big: &Path) -> Result<LargeSpec, String> {
        println!("==> 10,000 hosts x 5 endpoints");
        let server = self.serve(big)?;
        let host = Some("m9999-bench.localhost");
        Ok(LargeSpec {
            load_time: server.started_in,
            rss_mib: server.rss_mib(),
            static_load: self.load(&server, "/hello", host)?,
            templated_load: self.load(&server, "/users/42", host)?,
        })
    }

    /// Requests to moclojer on `small` while the file is rewritten every 600 ms.
    fn measure_reloads(&self, small: &Path) -> Result<Reloads, String> {
        println!("==> reloads under load");
        let server = self.serve(small)?;
        let url = url(&server.address, "/hello");
        let (loadgen, seconds) = (self.loadgen.clone(), self.seconds.to_owned());
        let during = std::thread::spawn(move || load(&loadgen, &url, None, &seconds));
        let secs: f64 = self.seconds.parse().unwrap_or(5.0);
        let mut count = 0;
        let until = Instant::now() + Duration::from_secs_f64(secs * 0.8);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(600));
            let edited = SMALL_SPEC.replace("world", &format!("world-{count}"));
            std::fs::write(small, edited).map_err(|e| e.to_string())?;
            count += 1;
        }
        let load = during
            .join()
            .map_err(|_| "loadgen thread panicked".to_owned())??;
        drop(server);
        Ok(Reloads {
            count,
            load,
            seconds: secs,
        })
    }
}

impl FossBench<'_> {
    /// `GET /hello` on `small` with the journal off, in memory, on Redis, and off again.
    fn measure_journal(&self, small: &Path) -> Result<JournalCost, String> {
        println!("==> request journal: GET /hello off, in memory, on Redis, off again");
        let with = |flags: &[&str]| -> Result<JournalRun, String> {
            let admin = flags
                .first()
                .is_some_and(|f| *f == "--journal")
                .then(free_address)
                .transpose()?;
            let mut flags = flags.to_vec();
            if let Some(admin) = &admin {
                flags.extend(["--admin-addr", admin]);
            }
            let server = start_foss(&self.moclojer, small, &flags)?;
            let cpu = server.cpu_seconds();
            let load = self.load(&server, "/hello", None)?;
            let server_cpu_us = (server.cpu_seconds() - cpu) * 1e6 / load.requests.max(1.0);
            // What is still in the channel is written within the linger.
            std::thread::sleep(Duration::from_millis(300));
            let dropped = admin.as_deref().and_then(dropped_records);
            Ok(JournalRun {
                load,
                server_cpu_us,
                dropped,
            })
        };
        let first_off = with(&[])?;
        let memory = with(&["--journal", "1000"])?;
        let redis_url = std::env::var("MOCLOJER_BENCH_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let redis = if reachable(&redis_url) {
            Some(with(&["--journal", "1000", "--journal-url", &redis_url])?)
        } else {
            println!("    no Redis at {redis_url}: the Redis row is left out");
            None
        };
        let last_off = with(&[])?;
        Ok(JournalCost {
            off: [first_off, last_off],
            memory,
            redis,
        })
    }
}

impl FossBench<'_> {
    /// The templated endpoint, the rules and the resource read on one server.
    fn measure_stateful(&self, work: &Path) -> Result<Stateful, String> {
        println!("==> rules and resources: GET /users/42, /rules/42?verbose=1, /things/42");
        let spec = work.join("stateful.yml");
        std::fs::write(&spec, stateful_spec()).map_err(|e| e.to_string())?;
        let server = self.serve(&spec)?;
        Ok(Stateful {
            templated: self.load(&server, "/users/42", None)?,
            rules: self.load(&server, "/rules/42?verbose=1", None)?,
            resource: self.load(&server, "/things/42", None)?,
        })
    }
}

/// The rules' and the resource's rows, against the templated endpoint.
fn print_stateful(stateful: &Stateful) {
    let base = stateful.templated.rps;
    println!();
    println!("| rules and resources | req/s | ratio to templated | target | p99 | failed |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let row = |name: &str, load: &Load, target: &str| {
        println!(
            "| {name} | {:.0} | {:.2} | {target} | {:.2} ms | {:.0} |",
            load.rps,
            load.rps / base,
            load.p99_us / 1000.0,
            load.errors
        );
    };
    row("templated GET /users/42", &stateful.templated, "");
    row("five rules, the fourth holds", &stateful.rules, ">= 0.80");
    row("resource record read", &stateful.resource, "");
}

/// A loopback address no one listens on, for an admin listener.
fn free_address() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string())
}

/// `moclojer_journal_dropped_total` from the admin listener at `admin`; `None` when it
/// cannot be read.
fn dropped_records(admin: &str) -> Option<u64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(admin).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("moclojer_journal_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether something listens at the `host:port` of `redis://host:port[/db]`.
fn reachable(url: &str) -> bool {
    use std::net::ToSocketAddrs as _;
    let authority = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    authority.to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    })
}

/// The journal's rows: requests/s with it on against off (the mean of both off runs), and
/// the server's CPU per request.
fn print_journal(journal: &JournalCost) {
    let [first, last] = &journal.off;
    let off = (first.load.rps + last.load.rps) / 2.0;
    let off_cpu = (first.server_cpu_us + last.server_cpu_us) / 2.0;
    println!();
    println!(
        "| request journal, static GET /hello | req/s | ratio to off | target | server CPU per request | ratio to off | records dropped |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| journal off (2 runs, first / last) | {:.0} / {:.0} | 1.00 | | {:.2} / {:.2} µs | 1.00 | |",
        first.load.rps, last.load.rps, first.server_cpu_us, last.server_cpu_us
    );
    let row = |name: &str, run: &JournalRun| {
        let dropped = run
            .dropped
            .map_or_else(|| "unknown".to_owned(), |d| d.to_string());
        println!(
            "| journal on, {name} (p99 {:.2} ms, {:.0} failed) | {:.0} | {:.2} | >= 0.90 | {:.2} µs | {:.2} | {dropped} of {:.0} |",
            run.load.p99_us / 1000.0,
            run.load.errors,
            run.load.rps,
            run.load.rps / off,
            run.server_cpu_us,
            run.server_cpu_us / off_cpu,
            run.load.requests,
        );
    };
    row("in memory", &journal.memory);
    if let Some(redis) = &journal.redis {
        row("on Redis", redis);
    }
}

/// The table of `bench foss`: moclojer against the reference, and the targets.
fn print_table(small: &SmallSpec, large: &LargeSpec, reloads: &Reloads) {
    println!();
    println!("| measure | moclojer | reference (hyper) | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    let (ours_static, base_static) = (&small.ours_static, &small.base_static);
    let (ours_templated, base_templated) = (&small.ours_templated, &small.base_templated);
    println!(
        "| static GET /hello, req/s | {:.0} | {:.0} | {:.2} | >= 0.85 |",
        ours_static.rps,
        base_static.rps,
        ours_static.rps / base_static.rps
    );
    println!(
        "| templated GET /users/42, req/s | {:.0} | {:.0} | {:.2} | >= 0.70 |",
        ours_templated.rps,
        base_templated.rps,
        ours_templated.rps / base_templated.rps
    );
    println!(
        "| static p99 (64 conns) | {:.2} ms | {:.2} ms | | < 2 ms |",
        ours_static.p99_us / 1000.0,
        base_static.p99_us / 1000.0
    );
    println!(
        "| templated p99 (64 conns) | {:.2} ms | {:.2} ms | | < 2 ms |",
        ours_templated.p99_us / 1000.0,
        base_templated.p99_us / 1000.0
    );
    print_large_rows(small, large);
    println!(
        "| {} reloads under load: failed requests | {:.0} of {:.0} | | | 0 |",
        reloads.count,
        reloads.load.errors,
        reloads.load.rps * reloads.seconds
    );
    let errors = ours_static.errors
        + ours_templated.errors
        + large.static_load.errors
        + large.templated_load.errors;
    println!(
        "| failed requests in the other runs | {errors:.0} | {:.0} | | 0 |",
        base_static.errors + base_templated.errors
    );
}

/// The rows of the spec of 10,000 hosts, its requests/s against the small spec's reference.
fn print_large_rows(small: &SmallSpec, large: &LargeSpec) {
    println!(
        "| 10k hosts: load to listening | {:.2} s | | | < 2 s |",
        large.load_time.as_secs_f64()
    );
    println!(
        "| 10k hosts: RSS | {:.0} MiB (small spec: {:.0} MiB) | | | < 300 MB |",
        large.rss_mib, small.rss_mib
    );
    println!(
        "| 10k hosts: static req/s | {:.0} | {:.0} | {:.2} | |",
        large.static_load.rps,
        small.base_static.rps,
        large.static_load.rps / small.base_static.rps
    );
    println!(
        "| 10k hosts: templated req/s | {:.0} | {:.0} | {:.2} | |",
        large.templated_load.rps,
        small.base_templated.rps,
        large.templated_load.rps / small.base_templated.rps
    );
}

/// A spec of `hosts` hosts with five endpoints each, the small spec's two among them.
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

#[cfg(test)]
mod tests {
    use super::stateful_spec;

    #[test]
    fn the_stateful_spec_has_five_rules_at_their_indentation_and_a_seed_of_100() {
        let spec = stateful_spec();
        assert_eq!(spec.matches("      - when: ").count(), 5, "{spec}");
        assert_eq!(spec.matches("        body: ").count(), 5, "{spec}");
        assert_eq!(spec.matches("\"name\": \"thing-").count(), 100);
        assert!(
            spec.contains("\n    response:\n      status: 404\n"),
            "{spec}"
        );
    }
}
