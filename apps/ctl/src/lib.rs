//! `moclojer-ctl`: the moclojer cloud api from a shell or a CI job.
//!
//! It pushes mock files (or a folder of them) as mocks — created, updated or left alone by
//! content digest — publishes them and waits until their hosts answer the new revision,
//! unpublishes what a folder no longer has, and reads a mock's request journal; also
//! `login` (check the token), `mocks list`, `publish`, `unpublish`, `delete`, `export` and
//! `import`.
//!
//! It talks to the api over HTTP only (`MOCLOJER_API`, a personal API token in
//! `MOCLOJER_TOKEN`) and is not a library of api types: it reads the few fields it needs.
//! Every failure maps to one exit code ([`Exit`]).

mod api;
mod commands;
mod diagnostics;
mod exit;
mod mocks;
mod out;
mod push;
mod wait;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use exit::{Exit, Failure};

use crate::api::Api;
use crate::commands::Format;
use crate::exit::CtlResult;
use crate::push::PushOptions;

const AFTER_HELP: &str = "\
Environment:
  MOCLOJER_API        the api's base URL, e.g. http://localhost:3000 (or --api)
  MOCLOJER_TOKEN      a personal API token (POST /api/v1/tokens); never a flag, never printed
  MOCLOJER_WORKSPACE  the workspace to use (or --workspace); your personal one by default

Exit codes:
  0  done
  1  usage or configuration error (flags, MOCLOJER_API, MOCLOJER_TOKEN, a file or a name)
  2  a spec does not validate; each finding is on stderr as FILE:LINE:COL: error: message
  3  no such mock or workspace
  4  the token was refused (401), or may not do this (403)
  5  the server failed, refused for another reason (e.g. 409), or could not be reached
  6  --wait timed out";

/// The moclojer cloud from a shell or CI: push mocks, publish them, wait until they
/// answer, read what they received.
#[derive(Debug, Parser)]
#[command(name = "moclojer-ctl", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The api's base URL, e.g. http://localhost:3000.
    #[arg(long, env = "MOCLOJER_API", global = true, value_name = "URL")]
    api: Option<String>,
    /// The workspace (your handle or an org's); your personal workspace by default.
    #[arg(long, short = 'w', env = "MOCLOJER_WORKSPACE", global = true)]
    workspace: Option<String>,
    /// Print one JSON document on stdout instead of lines for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// How long `--wait` may take.
#[derive(Debug, Args)]
struct WaitArgs {
    /// Return once the mock's host answers the new revision (or no longer answers).
    #[arg(long)]
    wait: bool,
    /// How long --wait may take before exiting with 6.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    wait_timeout: u64,
}

impl WaitArgs {
    fn timeout(&self) -> Option<Duration> {
        self.wait.then(|| Duration::from_secs(self.wait_timeout))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check MOCLOJER_TOKEN (GET /api/v1/me) and say whose it is; stores nothing.
    Login,
    /// List mocks.
    #[command(subcommand)]
    Mocks(MocksCommand),
    /// Create or update mocks from a file, or from every *.yml/*.yaml file of a folder
    /// (one mock per file, named after it); only changed content is sent.
    Push {
        /// A moclojer YAML file, or a folder of them.
        path: PathBuf,
        /// The mock's name (one file only; the file's stem by default).
        #[arg(long, short = 'n')]
        name: Option<String>,
        /// Publish the pushed mocks.
        #[arg(long)]
        publish: bool,
        /// With a folder: unpublish (not delete) every other mock of the workspace.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Publish a mock (by name or id).
    Publish {
        /// The mock's name or id.
        mock: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Unpublish a mock (by name or id): its host stops answering.
    Unpublish {
        /// The mock's name or id.
        mock: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a mock (by name or id) with its history.
    Delete {
        /// The mock's name or id.
        mock: String,
    },
    /// Write a mock out as moclojer YAML or as an OpenAPI document.
    Export {
        /// The mock's name or id.
        mock: String,
        /// `yaml` (as stored) or `openapi` (JSON).
        #[arg(long, value_enum, default_value = "yaml")]
        format: Format,
        /// Write here instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Turn another format (an OpenAPI document, ...) into moclojer YAML.
    Import {
        /// The file to turn into moclojer YAML.
        file: PathBuf,
        /// Write the YAML here instead of stdout.
        #[arg(long, short = 'o', value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// The requests a mock received, newest first.
    Requests {
        /// The mock's name or id.
        mock: String,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum MocksCommand {
    /// Every mock you see (of --workspace when given), with its publication and URL.
    #[command(visible_alias = "ls")]
    List,
}

/// Parses `args` (the program's name first) and runs the command; the exit code.
pub fn main_with(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            e.print().ok();
            return exit.into();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            out::note(&format!("moclojer-ctl: cannot start: {e}"));
            return Exit::Server.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => {
            out::note(&format!("moclojer-ctl: {failure}"));
            failure.exit.into()
        }
    }
}

/// The api client from `--api`/`MOCLOJER_API` and `MOCLOJER_TOKEN`.
fn connect(api: Option<&str>) -> CtlResult<Api> {
    let api = api.filter(|a| !a.trim().is_empty()).ok_or_else(|| {
        Failure::usage("set MOCLOJER_API (or --api) to the api's URL, e.g. http://localhost:3000")
    })?;
    let token = match std::env::var("MOCLOJER_TOKEN") {
        Ok(token) => token,
        Err(std::env::VarError::NotPresent) => String::new(),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::usage("MOCLOJER_TOKEN is not valid text"));
        }
    };
    Api::new(api, &token)
}

/// Runs one parsed command.
///
/// # Errors
/// The [`Failure`] that stopped it, with its exit code.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let api = connect(cli.api.as_deref())?;
    let workspace = cli.workspace.as_deref();
    let json = cli.json;
    match cli.command {
        Command::Login => commands::login(&api, json).await,
        Command::Mocks(MocksCommand::List) => commands::list(&api, workspace, json).await,
        Command::Push {
            path,
            name,
            publish,
            prune,
            wait,
        } => {
            let options = PushOptions {
                path,
                name,
                workspace: cli.workspace.clone(),
                publish,
                prune,
                wait: wait.timeout(),
                json,
            };
            push::push(&api, options).await
        }
        Command::Publish { mock, wait } => {
            commands::publish(&api, &mock, workspace, wait.timeout(), json).await
        }
        Command::Unpublish { mock, wait } => {
            commands::unpublish(&api, &mock, workspace, wait.timeout(), json).await
        }
        Command::Delete { mock } => commands::delete(&api, &mock, workspace, json).await,
        Command::Export {
            mock,
            format,
            output,
        } => commands::export(&api, &mock, workspace, format, output.as_deref()).await,
        Command::Import { file, output } => {
            commands::import(&api, &file, output.as_ref(), json).await
        }
        Command::Requests { mock, limit } => {
            commands::requests(&api, &mock, workspace, limit, json).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_1_and_help_exits_0() {
        let code = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("moclojer-ctl").chain(args.iter().copied()))
                .map_err(|e| e.use_stderr())
        };
        assert!(matches!(code(&["push"]), Err(true)));
        assert!(matches!(code(&["nope"]), Err(true)));
        assert!(matches!(code(&["--help"]), Err(false)));
        assert!(code(&["push", "mocks/", "--publish", "--wait", "--prune"]).is_ok());
        assert!(matches!(
            code(&["requests", "m", "--limit", "0"]),
            Err(true)
        ));
    }
}
