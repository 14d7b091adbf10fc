//! The `moclojer-ops` binary: flags and environment in, [`App`] out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use moclojer_cloudflare::{ApiToken as CloudflareToken, CloudflareConfig};
use moclojer_digitalocean::{ApiToken as DigitalOceanToken, DigitalOceanConfig};
use moclojer_domain::Zone;
use moclojer_ops::{App, Config, DnsChoice, Mode, Settings};
use moclojer_wiring::{DatabaseArgs, LogArgs, QueueArgs};

/// Makes published mocks' hosts resolvable and routed: DNS records and App Platform
/// domains, verified through the proxy, reconciled with the providers.
#[derive(Debug, Parser)]
#[command(name = "moclojer-ops", version)]
struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
    /// With a queue, events as the `ops` group (without it, the reconcile alone).
    #[command(flatten)]
    queue: QueueArgs,
    /// The zone of mock hosts: `<mock>-<handle>.<zone>`.
    #[arg(long, env = "MOCLOJER_ZONE")]
    zone: String,
    /// `per-host` (one record and domain per host), `wildcard` (one for `*.<zone>`) or
    /// `local` (no records: names like `*.localhost` resolve by themselves).
    #[arg(long, env = "MOCLOJER_OPS_MODE", default_value = "per-host")]
    mode: String,
    /// What the records point to (the proxy's public name).
    #[arg(long, env = "MOCLOJER_OPS_TARGET")]
    target: String,
    /// `memory`, `cloudflare` or `digitalocean`.
    #[arg(long, env = "MOCLOJER_DNS", default_value = "memory")]
    dns: String,
    /// Cloudflare: the zone id.
    #[arg(long, env = "MOCLOJER_CLOUDFLARE_ZONE_ID")]
    cloudflare_zone_id: Option<String>,
    /// Cloudflare: a file holding an API token with DNS edit rights on the zone; or the
    /// token itself in MOCLOJER_CLOUDFLARE_TOKEN. Never a flag: a command line is visible
    /// to every user of the machine.
    #[arg(long, env = "MOCLOJER_CLOUDFLARE_TOKEN_FILE", value_name = "PATH")]
    cloudflare_token_file: Option<PathBuf>,
    /// DigitalOcean: a file holding a personal access token (Domains, and Apps with
    /// --app-id); or the token itself in MOCLOJER_DIGITALOCEAN_TOKEN.
    #[arg(long, env = "MOCLOJER_DIGITALOCEAN_TOKEN_FILE", value_name = "PATH")]
    digitalocean_token_file: Option<PathBuf>,
    /// DigitalOcean App Platform: the app whose domains ops manages.
    #[arg(long, env = "MOCLOJER_DIGITALOCEAN_APP_ID")]
    app_id: Option<String>,
    /// Probes ask `<scheme>://<host>[:port]/`: `http://:8080`, `https://`.
    #[arg(long, env = "MOCLOJER_OPS_PROBE", default_value = "https://")]
    probe: String,
    /// Seconds between reconciles.
    #[arg(long, env = "MOCLOJER_OPS_RECONCILE_SECS", default_value_t = 60)]
    reconcile_secs: u64,
    /// This instance's name (for the reconcile lease); default: the host name and pid.
    #[arg(long, env = "MOCLOJER_INSTANCE")]
    instance: Option<String>,
    #[command(flatten)]
    log: LogArgs,
}

fn probe(raw: &str) -> anyhow::Result<(String, Option<u16>)> {
    let (scheme, rest) = raw
        .split_once("://")
        .context("--probe is scheme://[:port], e.g. http://:8080")?;
    if scheme != "http" && scheme != "https" {
        bail!("--probe's scheme is http or https");
    }
    let port = match rest.trim_end_matches('/').rsplit_once(':') {
        Some((_, port)) => Some(port.parse().context("--probe's port")?),
        None => None,
    };
    Ok((scheme.to_owned(), port))
}

/// A provider token: the content of `file` (its surrounding whitespace trimmed) when given,
/// else the environment variable `var`; `None` when neither is set. An error names the
/// file, never what it holds.
fn secret(var: &str, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("read the token file {}", file.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("the token file {} is empty", file.display());
        }
        return Ok(Some(token.to_owned()));
    }
    Ok(std::env::var(var).ok().filter(|t| !t.trim().is_empty()))
}

fn config(args: Args) -> anyhow::Result<Config> {
    let zone = Zone::parse(&args.zone).map_err(|e| anyhow::anyhow!("--zone: {e}"))?;
    let mut settings = Settings::new(zone, args.target.clone());
    settings.mode = match args.mode.as_str() {
        "per-host" => Mode::PerHost,
        "wildcard" => Mode::Wildcard,
        "local" => Mode::Local,
        other => bail!("--mode is per-host, wildcard or local, not {other:?}"),
    };
    let digitalocean = secret(
        "MOCLOJER_DIGITALOCEAN_TOKEN",
        args.digitalocean_token_file.as_deref(),
    )?
    .map(|t| DigitalOceanConfig::new(DigitalOceanToken::new(t)));
    let cloudflare_token = secret(
        "MOCLOJER_CLOUDFLARE_TOKEN",
        args.cloudflare_token_file.as_deref(),
    )?;
    let dns = match args.dns.as_str() {
        "memory" => DnsChoice::Memory,
        "cloudflare" => {
            let (Some(zone_id), Some(token)) = (args.cloudflare_zone_id, cloudflare_token) else {
                bail!("--dns cloudflare needs --cloudflare-zone-id and MOCLOJER_CLOUDFLARE_TOKEN");
            };
            DnsChoice::Cloudflare(CloudflareConfig::new(zone_id, CloudflareToken::new(token)))
        }
        "digitalocean" => DnsChoice::DigitalOcean(
            digitalocean
                .clone()
                .context("--dns digitalocean needs MOCLOJER_DIGITALOCEAN_TOKEN")?,
        ),
        other => bail!("--dns is memory, cloudflare or digitalocean, not {other:?}"),
    };
    let (probe_scheme, probe_port) = probe(&args.probe)?;
    let instance = args.instance.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ops".to_owned());
        format!("{host}-{}", std::process::id())
    });
    Ok(Config {
        database: args.database.database_url,
        relay_outbox: args.queue.redis_url.is_some(),
        queue: args.queue.queue(),
        dns,
        paas_app_id: args.app_id,
        paas_config: digitalocean,
        settings,
        probe_scheme,
        probe_port,
        reconcile_every: Duration::from_secs(args.reconcile_secs.max(5)),
        instance,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init()?;
    moclojer_wiring::run_until_signalled::<App>(config(args)?).await
}

#[cfg(test)]
mod tests {
    use super::secret;

    #[test]
    fn a_token_comes_from_a_file_or_the_environment_never_a_flag() {
        let dir = std::env::temp_dir().join(format!("ops-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "tok-from-file\n").unwrap();
        assert_eq!(
            secret("MOCLOJER_TEST_UNSET_TOKEN", Some(&file)).unwrap(),
            Some("tok-from-file".to_owned())
        );
        assert_eq!(secret("MOCLOJER_TEST_UNSET_TOKEN", None).unwrap(), None);
        std::fs::write(&file, "  \n").unwrap();
        let empty = secret("X", Some(&file)).unwrap_err().to_string();
        assert!(empty.contains("is empty"), "{empty}");
        let missing = secret("X", Some(&dir.join("nope")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope"), "{missing}");
        std::fs::remove_dir_all(&dir).ok();
        let help = <super::Args as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(!help.contains("--cloudflare-token "), "{help}");
        assert!(!help.contains("--digitalocean-token "), "{help}");
        assert!(help.contains("--cloudflare-token-file"), "{help}");
    }
}
