//! The repository's own rules, checked from the files themselves:
//!
//! - dependency directions (ARCHITECTURE.md): domain depends on no workspace crate and on
//!   nothing that does IO; ports only on domain; adapters only on domain and ports, and on
//!   `adapters/sql`, the SQL core the database adapters share (which itself is an adapter
//!   like the others); `wiring`, the one place that turns URLs into adapters, on domain,
//!   ports and adapters; apps on domain, ports, adapters and wiring, never on each other
//!   (the all-in-one `apps/cloud` excepted); testkit on anything but apps; nothing on
//!   xtask, and nothing but apps and testkit on wiring. Dev-dependencies are exempt.
//! - every crate root (`lib.rs`, `main.rs`) opens with a `//!` doc comment;
//! - no function outside tests is longer than 100 lines (`length`).

use std::fs;
use std::path::Path;

/// Crates that do IO or bring a runtime; the domain stays free of them.
const IO_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "fred",
    "rust-s3",
    "poem",
    "poem-openapi",
    "pingora",
    "reqwest",
    "hyper",
    "async-trait",
];

/// A workspace member as this check sees it.
#[derive(Debug)]
struct Member {
    name: String,
    /// `domain`, `ports`, `adapters`, `apps`, `testkit` or `xtask`.
    group: String,
    /// `apps/cloud`, `adapters/memory`, ...
    place: String,
    /// Normal and build dependencies, not dev-dependencies.
    dependencies: Vec<String>,
}

/// Checks every rule; returns the problems found.
pub(crate) fn check(root: &Path) -> Result<(), Vec<String>> {
    let members = read_members(root).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    for member in &members {
        for dep in &member.dependencies {
            if let Some(target) = members.iter().find(|m| &m.name == dep) {
                if !allowed(member, target) {
                    problems.push(format!(
                        "{} ({}) must not depend on {} ({})",
                        member.name, member.place, target.name, target.place
                    ));
                }
            } else if member.group == "domain" && IO_CRATES.contains(&dep.as_str()) {
                problems.push(format!(
                    "{} depends on {dep}: the domain does no IO",
                    member.name
                ));
            }
        }
        problems.extend(crate::length::check_member(root, &member.place));
        for root_file in ["src/lib.rs", "src/main.rs"] {
            let path = root.join(&member.place).join(root_file);
            if let Ok(text) = fs::read_to_string(&path)
                && !text.trim_start().starts_with("//!")
            {
                problems.push(format!(
                    "{}/{root_file} does not open with a //! doc comment",
                    member.place
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The SQL core the database adapters share: an adapter other adapters may depend on.
const SQL_CORE: &str = "adapters/sql";

fn allowed(from: &Member, to: &Member) -> bool {
    if to.group == "xtask" {
        return false;
    }
    match from.group.as_str() {
        "domain" => false,
        "ports" => to.group == "domain",
        "adapters" => {
            matches!(to.group.as_str(), "domain" | "ports")
                || (to.place == SQL_CORE && from.place != SQL_CORE)
        }
        "wiring" => matches!(to.group.as_str(), "domain" | "ports" | "adapters"),
        "testkit" => matches!(
            to.group.as_str(),
            "domain" | "ports" | "adapters" | "wiring"
        ),
        "apps" => {
            matches!(
                to.group.as_str(),
                "domain" | "ports" | "adapters" | "wiring"
            ) || (from.place == "apps/cloud" && to.group == "apps")
        }
        _ => true,
    }
}

/// Reads the members from their manifests (a small, purpose-made reader: the manifests
/// are ours and follow one layout, `[dependencies]` tables with one crate per line).
fn read_members(root: &Path) -> Result<Vec<Member>, String> {
    let mut places: Vec<String> = ["domain", "ports", "wiring", "testkit", "xtask"]
        .into_iter()
        .filter(|place| root.join(place).join("Cargo.toml").is_file())
        .map(str::to_owned)
        .collect();
    for group in ["adapters", "apps"] {
        let dir = root.join(group);
        let entries = fs::read_dir(&dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").is_file() {
                places.push(format!("{group}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    places.sort();
    places
        .iter()
        .map(|place| read_member(root, place))
        .collect()
}

fn read_member(root: &Path, place: &str) -> Result<Member, String> {
    let path = root.join(place).join("Cargo.toml");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut name = None;
    let mut section = String::new();
    let mut dependencies = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if section == "package" && key == "name" {
            name = Some(value.trim().trim_matches('"').to_owned());
        }
        if section == "dependencies" || section == "build-dependencies" {
            dependencies.push(key.split('.').next().unwrap_or(key).to_owned());
        }
    }
    let name = name.ok_or_else(|| format!("{} has no package name", path.display()))?;
    let group = place.split('/').next().unwrap_or(place).to_owned();
    Ok(Member {
        name,
        group,
        place: place.to_owned(),
        dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, place: &str) -> Member {
        Member {
            name: name.to_owned(),
            group: place.split('/').next().unwrap_or(place).to_owned(),
            place: place.to_owned(),
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn the_repository_is_tidy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        if let Err(problems) = check(root) {
            panic!("tidy:\n{}", problems.join("\n"));
        }
    }

    #[test]
    fn the_manifest_reader_agrees_with_cargo_metadata() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let output = std::process::Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(root)
            .output()
            .expect("cargo metadata");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let members = read_members(root).expect("members");
        for package in meta["packages"].as_array().expect("packages") {
            let name = package["name"].as_str().expect("name");
            let ours = members
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} not read"));
            let mut theirs: Vec<String> = package["dependencies"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|d| d["kind"].is_null() || d["kind"] == "build")
                .map(|d| d["name"].as_str().expect("dep name").to_owned())
                .collect();
            let mut mine = ours.dependencies.clone();
            theirs.sort();
            mine.sort();
            assert_eq!(mine, theirs, "dependencies of {name}");
        }
        assert_eq!(
            members.len(),
            meta["packages"].as_array().map_or(0, Vec::len)
        );
    }

    #[test]
    fn the_rules_refuse_what_the_design_rules_out() {
        let cases = [
            ("domain", "ports", false),
            ("ports", "domain", true),
            ("ports", "adapters/memory", false),
            ("adapters/sqlite", "ports", true),
            ("adapters/sqlite", "adapters/memory", false),
            ("adapters/sqlite", "apps/api", false),
            ("apps/api", "adapters/sqlite", true),
            ("apps/api", "apps/foss", false),
            ("apps/cloud", "apps/foss", true),
            ("testkit", "adapters/memory", true),
            ("testkit", "apps/api", false),
            ("apps/api", "xtask", false),
            ("adapters/sqlite", "adapters/sql", true),
            ("adapters/postgres", "adapters/sql", true),
            ("adapters/sql", "ports", true),
            ("adapters/sql", "adapters/sqlite", false),
            ("adapters/sql", "adapters/sql", false),
            ("ports", "adapters/sql", false),
            ("wiring", "adapters/sqlite", true),
            ("wiring", "ports", true),
            ("wiring", "apps/api", false),
            ("apps/api", "wiring", true),
            ("apps/cloud", "wiring", true),
            ("testkit", "wiring", true),
            ("adapters/memory", "wiring", false),
            ("ports", "wiring", false),
            ("domain", "wiring", false),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                allowed(&member("a", from), &member("b", to)),
                expected,
                "{from} -> {to}"
            );
        }
    }
}
