//! Where configuration values come from: a TOML file, then environment overrides on top.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::Problem;

/// Where a value was set, so a problem report can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["store.previous_encryption_keys"];

/// The merged, not yet validated, configuration: `section -> key -> value`, with each value's origin.
#[derive(Debug, Default)]
pub struct RawConfig {
    pub(crate) sections: BTreeMap<String, BTreeMap<String, (Value, Origin)>>,
}

impl RawConfig {
    /// Reads `path` (if given) and applies every `prefix`-ed environment variable from `env`.
    /// Problems that stop a value from being read at all (unreadable file, bad TOML, a variable that
    /// does not name `SECTION__KEY`) are returned together; the rest is kept.
    pub fn load(
        path: Option<&Path>,
        prefix: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> (Self, Vec<Problem>) {
        let mut raw = Self::default();
        let mut problems = Vec::new();
        if let Some(path) = path {
            match std::fs::read_to_string(path) {
                Ok(text) => raw.add_toml(&text, path, &mut problems),
                Err(err) => problems.push(Problem::error(
                    "--config",
                    format!("cannot read {}: {err}", path.display()),
                )),
            }
        }
        let mut env: Vec<_> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        env.sort();
        for (var, value) in env {
            raw.add_env(&var, &var[prefix.len()..], value, &mut problems);
        }
        (raw, problems)
    }

    fn add_toml(&mut self, text: &str, path: &Path, problems: &mut Vec<Problem>) {
        let table: Table = match text.parse() {
            Ok(table) => table,
            Err(err) => {
                let message = err.to_string();
                problems.push(Problem::error(
                    "--config",
                    format!("{} is not valid TOML: {}", path.display(), message.trim()),
                ));
                return;
            }
        };
        for (section, value) in table {
            let Value::Table(keys) = value else {
                problems.push(Problem::error(
                    &section,
                    format!("expected a [{section}] section, found a single value"),
                ));
                continue;
            };
            let entry = self.sections.entry(section).or_default();
            for (key, value) in keys {
                entry.insert(key, (value, Origin::File(path.to_owned())));
            }
        }
    }

    fn add_env(&mut self, var: &str, rest: &str, value: String, problems: &mut Vec<Problem>) {
        let parts: Vec<&str> = rest.split("__").collect();
        let [section, key] = parts.as_slice() else {
            problems.push(Problem::error(
                var,
                "environment overrides are named PREFIX__SECTION__KEY, for example TEAMS_BRIDGE__MATTERMOST__URL",
            ));
            return;
        };
        if section.is_empty() || key.is_empty() {
            problems.push(Problem::error(var, "empty section or key name"));
            return;
        }
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let value = if LIST_KEYS.contains(&format!("{section}.{key}").as_str()) {
            Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        } else {
            Value::String(value)
        };
        self.sections
            .entry(section)
            .or_default()
            .insert(key, (value, Origin::Env(var.to_owned())));
    }
}
