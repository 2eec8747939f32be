#![doc = include_str!("../README.md")]

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An address on the loopback interface that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A bridge's `serve` process: `<bin> serve --config <dir>/<config_file>`, with a clean
/// environment and its log (stderr) appended to `<dir>/service.log`. Killed when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    bin: PathBuf,
    dir: PathBuf,
    config_file: String,
}

impl Service {
    pub fn spawn(bin: impl AsRef<Path>, dir: &Path, config_file: &str) -> Self {
        let bin = bin.as_ref().to_owned();
        let child = spawn(&bin, dir, config_file);
        Self {
            child,
            bin,
            dir: dir.to_owned(),
            config_file: config_file.to_owned(),
        }
    }

    /// A second process of the service configured in `dir` (a replica behind the same public URL,
    /// on the same store) listening on a port of its own, in a directory of its own under `dir`.
    /// Returns it with its listening address; it may not answer yet.
    pub fn spawn_replica(
        bin: impl AsRef<Path>,
        dir: &Path,
        config_file: &str,
    ) -> (Self, SocketAddr) {
        let listen = free_port();
        let config = std::fs::read_to_string(dir.join(config_file)).expect("config");
        let replica_dir = dir.join(format!("replica-{}", listen.port()));
        std::fs::create_dir_all(&replica_dir).expect("replica dir");
        std::fs::write(
            replica_dir.join(config_file),
            replica_config(&config, listen),
        )
        .expect("write replica config");
        (Self::spawn(bin, &replica_dir, config_file), listen)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// How many lines of the log contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// SIGKILL: no shutdown, claims and leases left as they were.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process (if it runs) and starts it again on the same configuration.
    pub fn respawn(&mut self) {
        self.kill();
        self.child = spawn(&self.bin, &self.dir, &self.config_file);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(bin: &Path, dir: &Path, config_file: &str) -> Child {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("service.log"))
        .expect("log file");
    Command::new(bin)
        .args(["serve", "--config"])
        .arg(dir.join(config_file))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
}

/// Polls `url` until it answers 200 or `within` passes; panics then with `what` and the log.
pub async fn wait_for_ok(
    http: &reqwest::Client,
    url: &str,
    within: Duration,
    what: &str,
    service: &Service,
) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {url} did not answer 200 within {within:?}; log:\n{}",
            service.log_tail(200)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it holds or `secs` pass; returns whether it held.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The configuration sections every bridge has. `render` writes them in TOML with each product's
/// extra lines; values are test values (no quoting beyond plain strings is needed).
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    pub listen: String,
    pub public_url: String,
    pub store_url: String,
    pub encryption_key: String,
    pub mattermost_url: String,
    pub bot_token: String,
    /// Lines added to `[mattermost]` (`admin_token = ...` or `command_token = ...`).
    pub mattermost_extra: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    pub graph_url: String,
    pub login_url: String,
    /// Lines added to `[microsoft]`.
    pub microsoft_extra: String,
    /// Sections after `[microsoft]` (a product's own, `[log]`), verbatim.
    pub rest: String,
}

impl ServiceConfig {
    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = write!(
            text,
            r#"[server]
listen = "{listen}"
public_url = "{public_url}"

[store]
url = "{store_url}"
encryption_key = "{encryption_key}"

[mattermost]
url = "{mattermost_url}"
bot_token = "{bot_token}"
{mattermost_extra}

[microsoft]
tenant_id = "{tenant_id}"
client_id = "{client_id}"
client_secret = "{client_secret}"
webhook_secret = "{webhook_secret}"
graph_url = "{graph_url}"
login_url = "{login_url}"
{microsoft_extra}

{rest}
"#,
            listen = self.listen,
            public_url = self.public_url,
            store_url = self.store_url,
            encryption_key = self.encryption_key,
            mattermost_url = self.mattermost_url,
            bot_token = self.bot_token,
            mattermost_extra = self.mattermost_extra,
            tenant_id = self.tenant_id,
            client_id = self.client_id,
            client_secret = self.client_secret,
            webhook_secret = self.webhook_secret,
            graph_url = self.graph_url,
            login_url = self.login_url,
            microsoft_extra = self.microsoft_extra,
            rest = self.rest,
        );
        text
    }
}

/// The same configuration for a second process (a replica behind the same public URL and store)
/// listening on `listen`.
pub fn replica_config(config: &str, listen: SocketAddr) -> String {
    config
        .lines()
        .map(|line| {
            if line.starts_with("listen = ") {
                format!("listen = \"{listen}\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh PostgreSQL database for one test or run, on the server `STORE_TEST_POSTGRES_URL`
/// names; dropped (with its connections) when the guard is.
#[derive(Debug)]
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// `None` when `STORE_TEST_POSTGRES_URL` is unset or empty: the caller says it skipped.
    pub async fn from_env() -> Option<Self> {
        let admin_url = std::env::var("STORE_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        Some(Self::create(&admin_url, "bridge_e2e").await)
    }

    /// A database named `<prefix>_<pid>_<n>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}_{}", std::process::id(), free_port().port());
        let admin = sqlx::PgPool::connect(admin_url).await.expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let mut url = url::Url::parse(admin_url).expect("url");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async code; a short-lived runtime on its own thread does the SQL.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// One sample of a Prometheus exposition (`name` or `name{labels}`), when present.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(sample)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A `/proc/<pid>/status` memory field (`VmHWM`, `VmRSS`) in MiB.
pub fn proc_memory_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: f64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb / 1024.0)
    })
}

/// The target of the first `[label](url)` link in a reply.
pub fn markdown_link(reply: &str) -> String {
    let start = reply.find("](").expect("markdown link") + 2;
    let end = reply[start..].find(')').expect("link end") + start;
    reply[start..end].to_owned()
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location header")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_exact_name_and_labels() {
        let text = "# HELP a_total x\na_total 3\na_total_more 9\nb{kind=\"x\"} 2.5\n";
        assert_eq!(metric(text, "a_total"), Some(3.0));
        assert_eq!(metric(text, "b{kind=\"x\"}"), Some(2.5));
        assert_eq!(metric(text, "b{kind=\"y\"}"), None);
    }

    #[test]
    fn a_replica_listens_elsewhere_with_everything_else_equal() {
        let config = ServiceConfig {
            listen: "127.0.0.1:1000".into(),
            public_url: "http://127.0.0.1:1000".into(),
            rest: "[log]\nlevel = \"info\"".into(),
            ..ServiceConfig::default()
        }
        .render();
        let replica = replica_config(&config, "127.0.0.1:2000".parse().expect("addr"));
        assert!(replica.contains("listen = \"127.0.0.1:2000\""), "{replica}");
        assert!(replica.contains("public_url = \"http://127.0.0.1:1000\""));
        assert!(replica.contains("[log]\nlevel = \"info\""));
        assert!(!replica.contains("listen = \"127.0.0.1:1000\""));
    }

    #[test]
    fn the_first_link_of_a_reply_is_taken() {
        assert_eq!(
            markdown_link("Click [here](https://x/y?a=1) or [there](https://z)."),
            "https://x/y?a=1"
        );
    }
}
