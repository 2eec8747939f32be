//! The dependency rule of ARCHITECTURE.md, checked against what Cargo actually resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CORE: &[&str] = &["bridge-core", "calendar-core"];
const ADAPTERS: &[&str] = &["store", "teams-graph", "mm-client"];
/// Crates that mean I/O: a database driver, an HTTP stack, an async runtime, the remote SDKs.
const IO_CRATES: &[&str] = &[
    "sqlx",
    "sqlx-core",
    "libsqlite3-sys",
    "tokio",
    "mio",
    "hyper",
    "reqwest",
    "axum",
    "graph-rs-sdk",
    "mattermost_api",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

struct Graph {
    /// package id -> name
    names: BTreeMap<String, String>,
    /// package id -> ids of its normal and build dependencies (dev-dependencies excluded)
    deps: BTreeMap<String, Vec<String>>,
    members: Vec<String>,
    manifests: BTreeMap<String, PathBuf>,
}

/// `cargo metadata`, run once for all tests of this file: concurrent runs contend for Cargo's
/// package-cache lock.
fn graph() -> &'static Graph {
    static GRAPH: std::sync::OnceLock<Graph> = std::sync::OnceLock::new();
    GRAPH.get_or_init(load_graph)
}

fn load_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let mut names = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        let id = package["id"].as_str().expect("id").to_owned();
        names.insert(
            id.clone(),
            package["name"].as_str().expect("name").to_owned(),
        );
        manifests.insert(
            id,
            PathBuf::from(package["manifest_path"].as_str().expect("manifest")),
        );
    }
    let mut deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("nodes") {
        let id = node["id"].as_str().expect("id").to_owned();
        let runtime_deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].as_str() != Some("dev")))
            })
            .map(|dep| dep["pkg"].as_str().expect("pkg").to_owned())
            .collect();
        deps.insert(id, runtime_deps);
    }
    let members = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().expect("member").to_owned())
        .collect();
    Graph {
        names,
        deps,
        members,
        manifests,
    }
}

impl Graph {
    fn id(&self, name: &str) -> String {
        self.members
            .iter()
            .find(|id| self.names[*id] == name)
            .unwrap_or_else(|| panic!("{name} is not a workspace member"))
            .clone()
    }

    /// Names of everything `name` depends on at build or run time, transitively.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![self.id(name)];
        while let Some(id) = stack.pop() {
            for dep in self.deps.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen.into_iter().map(|id| self.names[&id].clone()).collect()
    }
}

#[test]
fn core_crates_do_no_io_and_know_no_adapter() {
    let graph = graph();
    for core in CORE {
        let closure = graph.closure(core);
        let offending: Vec<_> = closure
            .iter()
            .filter(|dep| IO_CRATES.contains(&dep.as_str()) || ADAPTERS.contains(&dep.as_str()))
            .collect();
        assert!(offending.is_empty(), "{core} depends on {offending:?}");
        assert!(
            !closure.contains("bridge-service"),
            "{core} depends on the service crate"
        );
    }
}

#[test]
fn adapters_do_not_depend_on_each_other() {
    let graph = graph();
    for adapter in ADAPTERS {
        let closure = graph.closure(adapter);
        for other in ADAPTERS.iter().filter(|other| *other != adapter) {
            assert!(!closure.contains(*other), "{adapter} depends on {other}");
        }
        assert!(
            !closure.contains("bridge-service"),
            "{adapter} depends on the service crate"
        );
    }
}

#[test]
fn every_member_inherits_the_workspace_lints_and_has_a_readme() {
    let graph = graph();
    let root_manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    assert!(
        root_manifest.contains("unsafe_code = \"forbid\""),
        "unsafe code must be forbidden"
    );
    assert!(graph.members.len() >= 10, "members: {:?}", graph.members);
    for id in &graph.members {
        let manifest_path = &graph.manifests[id];
        let manifest = std::fs::read_to_string(manifest_path).expect("manifest");
        let name = &graph.names[id];
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{name} does not inherit [workspace.lints]"
        );
        let dir = manifest_path.parent().expect("dir");
        assert!(dir.join("README.md").exists(), "{name} has no README.md");
        let lib = dir.join("src/lib.rs");
        if lib.exists() {
            let text = std::fs::read_to_string(&lib).expect("lib.rs");
            assert!(
                text.starts_with("#![doc = include_str!(\"../README.md\")]"),
                "{name}'s crate docs are not its README"
            );
        }
    }
}

#[test]
fn emulators_stand_alone() {
    let graph = graph();
    let members: Vec<String> = graph
        .members
        .iter()
        .map(|id| graph.names[id].clone())
        .collect();
    for emulator in members.iter().filter(|name| name.ends_with("-emulator")) {
        let closure = graph.closure(emulator);
        let inside: Vec<_> = closure.iter().filter(|dep| members.contains(dep)).collect();
        assert!(
            inside.is_empty(),
            "{emulator} depends on workspace crates {inside:?}"
        );
    }
}

#[test]
fn test_support_never_ships() {
    let graph = graph();
    for id in &graph.members {
        let name = &graph.names[id];
        let closure = graph.closure(name);
        assert!(
            !closure.contains("e2e-support"),
            "{name} depends on e2e-support outside [dev-dependencies]"
        );
    }
}
