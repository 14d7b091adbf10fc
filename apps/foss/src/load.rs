//! Loading a spec from files or bytes into an engine, and the per-host reload of the cloud
//! mode.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use moclojer_domain::Diagnostic;
use moclojer_domain::spec::{
    self, AnyDestination, CloudCheck, DestinationPolicy, Format, Limits, Spec,
};

use crate::engine::{Engine, EngineOptions};

/// Where a standalone spec comes from.
#[derive(Debug, Clone)]
pub struct SpecFiles {
    /// The moclojer file (YAML, JSON or EDN), or the OpenAPI document when `mocks` is set.
    pub config: PathBuf,
    /// The OpenAPI mocks file (operationId → response).
    pub mocks: Option<PathBuf>,
}

/// Why a spec could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// A file could not be read.
    Read {
        /// Which file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The spec does not validate; nothing of it is served.
    Invalid {
        /// Where the problems are.
        diagnostics: Vec<Diagnostic>,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Self::Invalid { diagnostics } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                write!(f, "the spec has {errors} error(s)")?;
                for d in diagnostics.iter().filter(|d| d.is_error()) {
                    write!(f, "\n  {d}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

fn read_bounded(path: &Path, limits: &Limits) -> Result<Option<String>, LoadError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(LoadError::Read {
                path: path.to_path_buf(),
                error,
            });
        }
        Ok(meta) if meta.len() > limits.max_bytes as u64 => {
            let message = format!(
                "the file has {} bytes; a spec has at most {}",
                meta.len(),
                limits.max_bytes
            );
            return Err(LoadError::Invalid {
                diagnostics: vec![Diagnostic::error(1, 1, message)],
            });
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|error| LoadError::Read {
            path: path.to_path_buf(),
            error,
        })
}

/// Reads and compiles the files. A missing config file is an empty spec (the original
/// starts with no routes and a warning); the watcher picks the file up when it appears.
///
/// # Errors
/// A [`LoadError`] when a file cannot be read or the spec does not validate.
pub fn load_files(
    files: &SpecFiles,
    options: EngineOptions,
    limits: &Limits,
) -> Result<Engine, LoadError> {
    let Some(config) = read_bounded(&files.config, limits)? else {
        tracing::warn!(path = %files.config.display(), "the spec file does not exist; serving no routes");
        return build(Spec::default(), options);
    };
    let spec = match &files.mocks {
        Some(mocks_path) => {
            let mocks = read_bounded(mocks_path, limits)?.unwrap_or_default();
            spec::parse_openapi(&config, &mocks, limits)
        }
        None => {
            let format = Format::from_path_extension(&files.config.to_string_lossy());
            match format {
                Format::Edn => spec::parse_edn(&config, limits),
                Format::Yaml => spec::parse_yaml(&config, limits),
            }
        }
    }
    .map_err(|diagnostics| LoadError::Invalid { diagnostics })?;
    build(spec, options)
}

/// The engine of a file: its first revision (a reload that changes the spec makes the
/// next).
fn build(spec: Spec, options: EngineOptions) -> Result<Engine, LoadError> {
    Engine::build(spec, options)
        .map(|engine| engine.with_revision(1))
        .map_err(|diagnostics| LoadError::Invalid { diagnostics })
}

/// The hosted service's one check within `limits`, with destinations judged by
/// `options.egress`, the guard the calls would go through (none: no outbound calls at all,
/// so no destination to refuse).
pub(crate) fn cloud_check<'a>(options: &'a EngineOptions, limits: &'a Limits) -> CloudCheck<'a> {
    let destinations: &dyn DestinationPolicy = match &options.egress {
        Some(egress) => egress,
        None => &AnyDestination,
    };
    CloudCheck {
        limits,
        destinations,
    }
}

/// What a cloud reload did.
#[derive(Debug)]
pub struct ReloadReport {
    /// The engine to serve now.
    pub engine: Engine,
    /// Hosts whose new part was refused; their previous endpoints are kept.
    pub kept_previous: BTreeSet<String>,
    /// Every diagnostic of the new config.
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds an engine from a new unified config, checked item by item with the hosted
/// service's one check ([`CloudCheck`]; destinations judged by `options.egress`, the guard
/// the calls would go through), keeping for each host whose part does not validate the
/// endpoints it had in `previous` (a tenant's bad edit never takes down its
/// last good version, nor anyone else's update).
///
/// # Errors
/// When the whole text does not parse (then nothing of it can be trusted, and the caller
/// keeps serving `previous`).
pub fn reload_unified(
    previous: Option<&Engine>,
    source: &str,
    options: EngineOptions,
    limits: &Limits,
) -> Result<ReloadReport, Vec<Diagnostic>> {
    let report = cloud_check(&options, limits).check_by_item(source)?;
    let mut diagnostics = report.diagnostics;
    let bad_hosts: BTreeSet<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .filter_map(|d| d.item)
        .map(|item| report.item_hosts.get(&item).cloned().unwrap_or_default())
        .collect();
    let is_bad = |host: &Option<String>| bad_hosts.contains(host.as_deref().unwrap_or(""));
    let mut merged = Spec::default();
    merged.endpoints.extend(
        report
            .spec
            .endpoints
            .into_iter()
            .filter(|e| !is_bad(&e.host)),
    );
    merged.websockets.extend(
        report
            .spec
            .websockets
            .into_iter()
            .filter(|w| !is_bad(&w.host)),
    );
    merged.resources.extend(
        report
            .spec
            .resources
            .into_iter()
            .filter(|r| !is_bad(&r.host)),
    );
    if let Some(previous) = previous {
        let old = previous.spec();
        merged
            .endpoints
            .extend(old.endpoints.iter().filter(|e| is_bad(&e.host)).cloned());
        merged
            .websockets
            .extend(old.websockets.iter().filter(|w| is_bad(&w.host)).cloned());
        merged
            .resources
            .extend(old.resources.iter().filter(|r| is_bad(&r.host)).cloned());
    }
    let engine = match Engine::build(merged, options) {
        Ok(engine) => engine,
        Err(more) => {
            diagnostics.extend(more);
            return Err(diagnostics);
        }
    };
    Ok(ReloadReport {
        engine,
        kept_previous: bad_hosts,
        diagnostics,
    })
}
