//! Configuration: the TOML file, its defaults and its validation.
//!
//! Loading happens in two steps, as the design asks: [`Config::parse`] reads and validates the
//! text without touching the file system or the network and reports every bad key at once
//! (unknown keys, bad values); resolving paths and credentials is left to the stages that use
//! them. Defaults live here and only here ([`Limits::default`], [`Config::default`]).
//!
//! Secrets never live in the file: the HTTPS token is read from the environment variable that
//! `repo.token_env` names, and the SSH key from the file that `repo.ssh_key` names.

pub mod commit_status;
pub mod freeze;
pub mod permissions;
pub mod store_location;

pub use freeze::FreezeWindow;

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/gwsync/gwsync.toml";

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Goes into the `gwsync.dev/instance` tag of every AWS resource gwsync creates.
    pub instance_id: String,
    /// Where the clone of a remote repository and the state database live.
    pub state_dir: PathBuf,
    /// The `gatewayClassName`s this instance manages (`gateway_class`, a name or a list);
    /// Gateways of other classes are left alone.
    pub gateway_classes: Vec<String>,
    pub repo: RepoConfig,
    pub aws: AwsConfig,
    pub store: StoreConfig,
    pub limits: Limits,
    pub apply: ApplyConfig,
    pub daemon: DaemonConfig,
    /// Weekly windows in which nothing is applied unattended (`[[freeze]]`).
    pub freeze: Vec<FreezeWindow>,
    /// Commit statuses on the Git host for each commit the daemon applies
    /// (`[commit_status]`); None: none are posted.
    pub commit_status: Option<commit_status::CommitStatusConfig>,
}

/// Whether AWS Secrets Manager takes this secret name: 1 to 512 characters of letters,
/// digits and `/_+=.@-` (the API reference's `Name`). Here because the prefix of OIDC
/// secrets is configured; translation checks each full name with it.
pub fn secret_name_ok(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// How `gwsync run` behaves: its HTTP endpoint, drift checks, retries and triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// Address of the HTTP endpoint (`/healthz`, `/readyz`, `/metrics`, `/status`, `/webhook`).
    pub listen: std::net::SocketAddr,
    /// How often AWS is observed and compared with the last applied state; `None`: never.
    pub drift_interval: Option<Duration>,
    /// Re-apply when drift is found.
    pub self_heal: bool,
    /// Retries of a failed apply before the revision is `stalled`.
    pub apply_retries: u32,
    /// First retry delay; it doubles on every retry, up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Watch a local repository path and the configuration file for changes.
    pub watch: bool,
    /// Name of the environment variable that holds the webhook secret; `None`: no webhook.
    pub webhook_secret_env: Option<String>,
    pub webhook_max_body_bytes: usize,
    pub webhook_per_second: u32,
    pub webhook_burst: u32,
    /// Connections the HTTP endpoint holds at once; more are closed as they arrive, so that
    /// a flood of idle connections never exhausts the file descriptors Git and AWS need.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long one connection may live, body and keep-alive included.
    pub connection_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
            drift_interval: Some(Duration::from_secs(300)),
            self_heal: false,
            apply_retries: 5,
            retry_backoff: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(600),
            watch: true,
            webhook_secret_env: None,
            webhook_max_body_bytes: 1024 * 1024,
            webhook_per_second: 1,
            webhook_burst: 10,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
        }
    }
}

/// Guards on what one apply may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyConfig {
    /// A plan that deletes more listener rules than this is refused unless the operator
    /// passes `--allow-deletes`.
    pub max_rule_deletions: usize,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            max_rule_deletions: 10,
        }
    }
}

/// Where the GitOps repository is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    pub location: Option<RepoLocation>,
    /// Branch, tag or commit to track.
    pub branch: String,
    pub poll_interval: Duration,
    /// Path of `tenants.yaml` inside the repository.
    pub tenants_file: String,
    /// Private key for SSH remotes (a deploy key).
    pub ssh_key: Option<PathBuf>,
    /// Name of the environment variable that holds an HTTPS token.
    pub token_env: Option<String>,
}

/// A repository is either a local path, opened in place, or a remote URL, cloned into the
/// state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    Path(PathBuf),
    Url(String),
}

impl RepoLocation {
    /// Reads a `--repo` argument: URLs (`scheme://...`) and scp-like SSH addresses
    /// (`git@host:path`) are remote, everything else is a local path.
    pub fn from_arg(arg: &str) -> RepoLocation {
        let scp_like = !arg.contains("://")
            && arg
                .split_once(':')
                .is_some_and(|(host, _)| host.contains('@'));
        if arg.contains("://") || scp_like {
            RepoLocation::Url(arg.to_string())
        } else {
            RepoLocation::Path(PathBuf::from(arg))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Endpoint override, for moto or a VPC endpoint.
    pub endpoint_url: Option<String>,
    /// The account's quota of listener rules per load balancer (AWS default: 100).
    pub rules_per_load_balancer: usize,
    /// The account's quota of target groups per load balancer (AWS default: 100).
    pub target_groups_per_load_balancer: usize,
    /// Client-side rate limits on AWS calls: reads and writes per second, and their bursts.
    /// ELB throttles per account and region, and the account's other tools share that budget:
    /// reads default to ELB's documented bucket for non-mutating calls (40 tokens, refilled at
    /// 10 a second), which the AWS Load Balancer Controller also uses; writes are few per
    /// reconcile and go out at a pace that never starves the others (docs/PERFORMANCE.md).
    pub reads_per_second: u32,
    pub read_burst: u32,
    pub writes_per_second: u32,
    pub write_burst: u32,
    /// Prefix of the Secrets Manager secrets that hold OIDC client credentials: a team's
    /// `secret.name` is read from `<prefix><namespace>/<name>`.
    pub oidc_secret_prefix: String,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            region: None,
            profile: None,
            endpoint_url: None,
            rules_per_load_balancer: 100,
            target_groups_per_load_balancer: 100,
            reads_per_second: 10,
            read_burst: 40,
            writes_per_second: 3,
            write_burst: 20,
            oidc_secret_prefix: "gwsync/".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// SQLite database file; defaults to `<state_dir>/gwsync.db`. Unused when `postgres` is set.
    pub path: PathBuf,
    /// `store.url = "postgres://…"`: the database several instances share, and where its
    /// password is read from (`store.password_file` or `store.password_env`).
    pub postgres: Option<PostgresStore>,
    /// How long a lease (the leader's, an apply's) lasts unless renewed
    /// (`store.lease_duration`): a follower takes over a leader that died within this time.
    pub lease_duration: Duration,
    /// Retention: the newest revisions kept whatever their age (`keep_revisions`, 0: all).
    pub keep_revisions: u64,
    /// Retention: revisions seen within this many days are kept (`keep_days`, 0: no age
    /// limit). A revision goes only when neither setting keeps it, and never one that is
    /// pinned, live or wanted for a team, or a team's last admitted state.
    pub keep_days: u64,
}

/// Where a secret (an API token, the database password) is read from at start: never the
/// configuration file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The name of an environment variable.
    Env(String),
    /// A file holding the secret (surrounding whitespace ignored).
    File(PathBuf),
}

/// A PostgreSQL store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresStore {
    pub url: store_location::PostgresUrl,
    pub password: Option<SecretSource>,
}

impl StoreConfig {
    /// Where the store is.
    pub fn location(&self) -> store_location::Location {
        match &self.postgres {
            Some(pg) => store_location::Location::Postgres(pg.url.clone()),
            None => store_location::Location::Sqlite(self.path.clone()),
        }
    }
}

/// `store.lease_duration` unless set.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// `store.keep_revisions` unless set: at 500 teams, about 50 MB of history.
pub const DEFAULT_KEEP_REVISIONS: u64 = 1000;

/// Input limits that keep hostile or accidental input from exhausting the host.
/// Each limit names itself in the error it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest file read from the repository, in bytes.
    pub max_file_bytes: u64,
    /// Largest sum of manifest bytes in one revision: the cap on what one read loads, far
    /// above honest use; the per-owner limits refuse one team long before it.
    pub max_total_bytes: u64,
    /// Most manifest files in one revision (the cap beside `max_total_bytes`).
    pub max_files: usize,
    /// Largest sum of manifest bytes in one owner's folder: beyond it that owner alone is
    /// refused (`owner-too-large`) and its files are not parsed.
    pub max_bytes_per_owner: u64,
    /// Most manifest files in one owner's folder, likewise.
    pub max_files_per_owner: usize,
    /// Most YAML documents in one file.
    pub max_documents_per_file: usize,
    /// Most YAML nodes in one document once aliases are expanded (the billion-laughs guard).
    pub max_yaml_nodes: usize,
    /// Deepest nesting of mappings and sequences in one document.
    pub max_yaml_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            max_files: 10_000,
            max_bytes_per_owner: 4 * 1024 * 1024,
            max_files_per_owner: 500,
            max_documents_per_file: 500,
            max_yaml_nodes: 200_000,
            max_yaml_depth: 64,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let state_dir = PathBuf::from("/var/lib/gwsync");
        Config {
            instance_id: "default".to_string(),
            gateway_classes: vec!["gwsync".to_string()],
            store: StoreConfig {
                path: state_dir.join("gwsync.db"),
                postgres: None,
                lease_duration: DEFAULT_LEASE_DURATION,
                keep_revisions: DEFAULT_KEEP_REVISIONS,
                keep_days: 0,
            },
            state_dir,
            repo: RepoConfig {
                location: None,
                branch: "main".to_string(),
                poll_interval: Duration::from_secs(30),
                tenants_file: "tenants.yaml".to_string(),
                ssh_key: None,
                token_env: None,
            },
            aws: AwsConfig::default(),
            limits: Limits::default(),
            apply: ApplyConfig::default(),
            freeze: Vec::new(),
            commit_status: None,
            daemon: DaemonConfig::default(),
        }
    }
}

/// Every problem found in a configuration file, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<ConfigProblem>,
}

/// One bad key: `key` is the dotted path (`repo.poll_interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration {}:", self.source_name)?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// The file's shape. Strings for durations so that a bad duration is reported with the others
// instead of aborting deserialisation.
#[derive(Deserialize, Default)]
struct RawConfig {
    instance_id: Option<String>,
    state_dir: Option<PathBuf>,
    gateway_class: Option<OneOrMany>,
    #[serde(default)]
    repo: RawRepo,
    #[serde(default)]
    aws: RawAws,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    apply: RawApply,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    freeze: Vec<RawFreeze>,
    commit_status: Option<commit_status::RawCommitStatus>,
}

#[derive(Deserialize, Default)]
struct RawFreeze {
    name: Option<String>,
    time_zone: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawDaemon {
    listen: Option<String>,
    drift_interval: Option<String>,
    self_heal: Option<bool>,
    apply_retries: Option<u32>,
    retry_backoff: Option<String>,
    retry_backoff_max: Option<String>,
    watch: Option<bool>,
    webhook_secret_env: Option<String>,
    webhook_max_body_bytes: Option<usize>,
    webhook_per_second: Option<u32>,
    webhook_burst: Option<u32>,
    max_connections: Option<usize>,
    header_timeout: Option<String>,
    connection_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawApply {
    max_rule_deletions: Option<usize>,
}

#[derive(Deserialize, Default)]
struct RawRepo {
    url: Option<String>,
    path: Option<PathBuf>,
    branch: Option<String>,
    poll_interval: Option<String>,
    tenants_file: Option<String>,
    ssh_key: Option<PathBuf>,
    token_env: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAws {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    rules_per_load_balancer: Option<usize>,
    target_groups_per_load_balancer: Option<usize>,
    reads_per_second: Option<u32>,
    read_burst: Option<u32>,
    writes_per_second: Option<u32>,
    write_burst: Option<u32>,
    oidc_secret_prefix: Option<String>,
}

/// A key that takes one string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct RawStore {
    path: Option<PathBuf>,
    url: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    lease_duration: Option<String>,
    keep_revisions: Option<u64>,
    keep_days: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawLimits {
    max_file_bytes: Option<u64>,
    max_total_bytes: Option<u64>,
    max_files: Option<usize>,
    max_bytes_per_owner: Option<u64>,
    max_files_per_owner: Option<usize>,
    max_documents_per_file: Option<usize>,
    max_yaml_nodes: Option<usize>,
    max_yaml_depth: Option<usize>,
}

impl Config {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: path.display().to_string(),
            problems: vec![ConfigProblem {
                key: "(file)".to_string(),
                message: e.to_string(),
            }],
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text. `source_name` only labels errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source_name: source_name.to_string(),
            problems,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            fail(vec![ConfigProblem {
                key: "(syntax)".to_string(),
                message: e.message().to_string(),
            }])
        })?;
        let mut problems = Vec::new();
        let value = toml::Value::Table(table);
        let mut unknown = |path: serde_ignored::Path<'_>| {
            problems.push(ConfigProblem {
                key: path.to_string(),
                message: "unknown key".to_string(),
            })
        };
        let deserializer = serde_ignored::Deserializer::new(value, &mut unknown);
        let raw: Result<RawConfig, _> = serde_path_to_error::deserialize(deserializer);
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(ConfigProblem {
                    key: e.path().to_string(),
                    message: e.inner().message().to_string(),
                });
                return Err(fail(problems));
            }
        };
        let config = Config::from_raw(raw, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    fn from_raw(raw: RawConfig, problems: &mut Vec<ConfigProblem>) -> Config {
        let mut bad = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let defaults = Config::default();
        let instance_id = raw.instance_id.unwrap_or(defaults.instance_id);
        if let Err(message) = check_instance_id(&instance_id) {
            bad("instance_id", message);
        }
        let state_dir = raw.state_dir.unwrap_or(defaults.state_dir);
        let gateway_classes = match raw.gateway_class {
            None => defaults.gateway_classes,
            Some(OneOrMany::One(name)) => vec![name],
            Some(OneOrMany::Many(names)) => names,
        };
        if gateway_classes.is_empty() || gateway_classes.iter().any(String::is_empty) {
            bad(
                "gateway_class",
                "must name at least one class, and no empty name".to_string(),
            );
        }
        let location = match (raw.repo.url, raw.repo.path) {
            (Some(_), Some(_)) => {
                bad("repo", "set either `url` or `path`, not both".to_string());
                None
            }
            (Some(url), None) if url.trim().is_empty() => {
                bad("repo.url", "must not be empty".to_string());
                None
            }
            (Some(url), None) => Some(RepoLocation::Url(url)),
            (None, Some(path)) => Some(RepoLocation::Path(path)),
            (None, None) => None,
        };
        let poll_interval = duration(
            &mut bad,
            "repo.poll_interval",
            raw.repo.poll_interval,
            defaults.repo.poll_interval,
            Duration::from_secs(1),
        );
        let branch = raw.repo.branch.unwrap_or(defaults.repo.branch);
        if branch.trim().is_empty() {
            bad("repo.branch", "must not be empty".to_string());
        }
        let tenants_file = raw.repo.tenants_file.unwrap_or(defaults.repo.tenants_file);
        if tenants_file.is_empty() || tenants_file.starts_with('/') || tenants_file.contains("..") {
            bad(
                "repo.tenants_file",
                "must be a relative path inside the repository".to_string(),
            );
        }
        for (key, name) in [
            ("repo.token_env", &raw.repo.token_env),
            ("daemon.webhook_secret_env", &raw.daemon.webhook_secret_env),
        ] {
            if let Some(name) = name
                && (name.is_empty() || name.contains('='))
            {
                bad(
                    key,
                    "must name an environment variable (the secret itself never goes in the file)"
                        .to_string(),
                );
            }
        }
        let daemon = daemon_config(raw.daemon, &mut bad);
        let freeze = freeze_windows(raw.freeze, &mut bad);
        let commit_status = raw.commit_status.and_then(|c| c.check(&mut bad));
        if let Some(url) = &raw.aws.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bad(
                "aws.endpoint_url",
                format!("`{url}` must start with http:// or https://"),
            );
        }
        let aws_defaults = AwsConfig::default();
        let mut quota = |key: &str, value: Option<usize>, default: usize| match value {
            Some(v) if (1..=10_000).contains(&v) => v,
            Some(_) => {
                bad(key, "must be between 1 and 10000".to_string());
                default
            }
            None => default,
        };
        let rules_per_load_balancer = quota(
            "aws.rules_per_load_balancer",
            raw.aws.rules_per_load_balancer,
            aws_defaults.rules_per_load_balancer,
        );
        let target_groups_per_load_balancer = quota(
            "aws.target_groups_per_load_balancer",
            raw.aws.target_groups_per_load_balancer,
            aws_defaults.target_groups_per_load_balancer,
        );
        let oidc_secret_prefix = match raw.aws.oidc_secret_prefix {
            Some(p) if !secret_name_ok(&p) => {
                bad(
                    "aws.oidc_secret_prefix",
                    "Secrets Manager names hold only letters, digits and /_+=.@- (at most 512 characters)".to_string(),
                );
                aws_defaults.oidc_secret_prefix.clone()
            }
            Some(p) => p,
            None => aws_defaults.oidc_secret_prefix.clone(),
        };
        let d = Limits::default();
        let mut limit = |key: &str, value: Option<u64>, default: u64| -> u64 {
            match value {
                Some(0) => {
                    bad(key, "must be greater than 0".to_string());
                    default
                }
                Some(v) => v,
                None => default,
            }
        };
        let mut rate = |key: &str, value: Option<u32>, default: u32| {
            limit(key, value.map(u64::from), u64::from(default)) as u32
        };
        let reads_per_second = rate(
            "aws.reads_per_second",
            raw.aws.reads_per_second,
            aws_defaults.reads_per_second,
        );
        let read_burst = rate(
            "aws.read_burst",
            raw.aws.read_burst,
            aws_defaults.read_burst,
        );
        let writes_per_second = rate(
            "aws.writes_per_second",
            raw.aws.writes_per_second,
            aws_defaults.writes_per_second,
        );
        let write_burst = rate(
            "aws.write_burst",
            raw.aws.write_burst,
            aws_defaults.write_burst,
        );
        let l = raw.limits;
        let limits = Limits {
            max_file_bytes: limit("limits.max_file_bytes", l.max_file_bytes, d.max_file_bytes),
            max_total_bytes: limit(
                "limits.max_total_bytes",
                l.max_total_bytes,
                d.max_total_bytes,
            ),
            max_files: limit(
                "limits.max_files",
                l.max_files.map(|v| v as u64),
                d.max_files as u64,
            ) as usize,
            max_bytes_per_owner: limit(
                "limits.max_bytes_per_owner",
                l.max_bytes_per_owner,
                d.max_bytes_per_owner,
            ),
            max_files_per_owner: limit(
                "limits.max_files_per_owner",
                l.max_files_per_owner.map(|v| v as u64),
                d.max_files_per_owner as u64,
            ) as usize,
            max_documents_per_file: limit(
                "limits.max_documents_per_file",
                l.max_documents_per_file.map(|v| v as u64),
                d.max_documents_per_file as u64,
            ) as usize,
            max_yaml_nodes: limit(
                "limits.max_yaml_nodes",
                l.max_yaml_nodes.map(|v| v as u64),
                d.max_yaml_nodes as u64,
            ) as usize,
            max_yaml_depth: limit(
                "limits.max_yaml_depth",
                l.max_yaml_depth.map(|v| v as u64),
                d.max_yaml_depth as u64,
            ) as usize,
        };
        for (key, smaller, larger, than) in [
            (
                "limits.max_file_bytes",
                limits.max_file_bytes,
                limits.max_bytes_per_owner,
                "limits.max_bytes_per_owner",
            ),
            (
                "limits.max_bytes_per_owner",
                limits.max_bytes_per_owner,
                limits.max_total_bytes,
                "limits.max_total_bytes",
            ),
            (
                "limits.max_files_per_owner",
                limits.max_files_per_owner as u64,
                limits.max_files as u64,
                "limits.max_files",
            ),
        ] {
            if smaller > larger {
                bad(key, format!("must not exceed {than}"));
            }
        }
        Config {
            instance_id,
            gateway_classes,
            store: StoreConfig {
                postgres: postgres_store(&mut bad, &raw.store),
                lease_duration: duration(
                    &mut bad,
                    "store.lease_duration",
                    raw.store.lease_duration.clone(),
                    DEFAULT_LEASE_DURATION,
                    Duration::from_secs(1),
                ),
                path: sqlite_path(&mut bad, &raw.store)
                    .unwrap_or_else(|| state_dir.join("gwsync.db")),
                keep_revisions: raw.store.keep_revisions.unwrap_or(DEFAULT_KEEP_REVISIONS),
                keep_days: raw.store.keep_days.unwrap_or(0),
            },
            state_dir,
            repo: RepoConfig {
                location,
                branch,
                poll_interval,
                tenants_file,
                ssh_key: raw.repo.ssh_key,
                token_env: raw.repo.token_env,
            },
            aws: AwsConfig {
                region: raw.aws.region,
                profile: raw.aws.profile,
                endpoint_url: raw.aws.endpoint_url,
                rules_per_load_balancer,
                target_groups_per_load_balancer,
                reads_per_second,
                read_burst,
                writes_per_second,
                write_burst,
                oidc_secret_prefix,
            },
            limits,
            apply: ApplyConfig {
                max_rule_deletions: raw
                    .apply
                    .max_rule_deletions
                    .unwrap_or(ApplyConfig::default().max_rule_deletions),
            },
            daemon,
            freeze,
            commit_status,
        }
    }
}

/// `[[freeze]]` entries: each needs `time_zone`, `from` and `to`; `name` defaults to its
/// position.
fn freeze_windows(raw: Vec<RawFreeze>, bad: &mut impl FnMut(&str, String)) -> Vec<FreezeWindow> {
    let mut windows = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let key = format!("freeze[{i}]");
        let (Some(zone), Some(from), Some(to)) = (w.time_zone, w.from, w.to) else {
            bad(&key, "needs `time_zone`, `from` and `to`".to_string());
            continue;
        };
        let name = w.name.unwrap_or_else(|| format!("#{}", i + 1));
        match FreezeWindow::parse(&name, &zone, &from, &to) {
            Ok(window) => windows.push(window),
            Err(message) => bad(&key, message),
        }
    }
    windows
}

/// `store.url` when it names PostgreSQL, with its password source: a file or an environment
/// variable, never the URL.
fn postgres_store(bad: &mut impl FnMut(&str, String), raw: &RawStore) -> Option<PostgresStore> {
    let location = store_location::Location::parse(raw.url.as_deref()?);
    let url = match location {
        Ok(store_location::Location::Postgres(url)) => url,
        Ok(store_location::Location::Sqlite(_)) => return None,
        Err(message) => {
            bad("store.url", message);
            return None;
        }
    };
    let password = match (&raw.password_env, &raw.password_file) {
        (None, None) => None,
        (Some(name), None) if !name.is_empty() && !name.contains('=') => {
            Some(SecretSource::Env(name.clone()))
        }
        (None, Some(path)) => Some(SecretSource::File(path.clone())),
        _ => {
            bad(
                "store.password_env",
                "name at most one of password_env (an environment variable) or password_file"
                    .to_string(),
            );
            None
        }
    };
    Some(PostgresStore { url, password })
}

/// `store.url = "sqlite:PATH"`, else `store.path`; both set is an error.
fn sqlite_path(bad: &mut impl FnMut(&str, String), raw: &RawStore) -> Option<PathBuf> {
    let from_url = match raw.url.as_deref().map(store_location::Location::parse) {
        Some(Ok(store_location::Location::Sqlite(path))) => Some(path),
        _ => None,
    };
    if raw.url.is_some() && raw.path.is_some() {
        bad(
            "store.path",
            "set store.url or store.path, not both".to_string(),
        );
    }
    from_url.or_else(|| raw.path.clone())
}

/// A duration key: humantime text, at least `min`.
fn duration(
    bad: &mut impl FnMut(&str, String),
    key: &str,
    value: Option<String>,
    default: Duration,
    min: Duration,
) -> Duration {
    let Some(text) = value else {
        return default;
    };
    match humantime::parse_duration(&text) {
        Ok(d) if d >= min => d,
        Ok(_) => {
            bad(
                key,
                format!("must be at least {}", humantime::format_duration(min)),
            );
            default
        }
        Err(e) => {
            bad(
                key,
                format!("`{text}` is not a duration ({e}); write e.g. \"30s\" or \"2m\""),
            );
            default
        }
    }
}

fn daemon_config(raw: RawDaemon, bad: &mut impl FnMut(&str, String)) -> DaemonConfig {
    let d = DaemonConfig::default();
    let listen = match raw.listen {
        None => d.listen,
        Some(text) => text.parse().unwrap_or_else(|_| {
            bad(
                "daemon.listen",
                format!("`{text}` is not an address and port, e.g. \"127.0.0.1:9464\""),
            );
            d.listen
        }),
    };
    // "0s" turns drift checks off.
    let drift_interval = match raw.drift_interval.as_deref().map(str::trim) {
        Some("0" | "0s") => None,
        _ => Some(duration(
            bad,
            "daemon.drift_interval",
            raw.drift_interval,
            Duration::from_secs(300),
            Duration::from_secs(1),
        )),
    };
    let retry_backoff = duration(
        bad,
        "daemon.retry_backoff",
        raw.retry_backoff,
        d.retry_backoff,
        Duration::from_millis(100),
    );
    let retry_backoff_max = duration(
        bad,
        "daemon.retry_backoff_max",
        raw.retry_backoff_max,
        d.retry_backoff_max,
        Duration::from_millis(100),
    );
    if retry_backoff > retry_backoff_max {
        bad(
            "daemon.retry_backoff",
            "must not exceed daemon.retry_backoff_max".to_string(),
        );
    }
    let header_timeout = duration(
        bad,
        "daemon.header_timeout",
        raw.header_timeout,
        d.header_timeout,
        Duration::from_millis(100),
    );
    let connection_timeout = duration(
        bad,
        "daemon.connection_timeout",
        raw.connection_timeout,
        d.connection_timeout,
        Duration::from_millis(100),
    );
    let mut positive = |key: &str, value: Option<u64>, default: u64| match value {
        Some(0) => {
            bad(key, "must be greater than 0".to_string());
            default
        }
        Some(v) => v,
        None => default,
    };
    DaemonConfig {
        listen,
        drift_interval,
        self_heal: raw.self_heal.unwrap_or(d.self_heal),
        apply_retries: raw.apply_retries.unwrap_or(d.apply_retries),
        retry_backoff,
        retry_backoff_max,
        watch: raw.watch.unwrap_or(d.watch),
        webhook_secret_env: raw.webhook_secret_env,
        webhook_max_body_bytes: positive(
            "daemon.webhook_max_body_bytes",
            raw.webhook_max_body_bytes.map(|v| v as u64),
            d.webhook_max_body_bytes as u64,
        ) as usize,
        webhook_per_second: positive(
            "daemon.webhook_per_second",
            raw.webhook_per_second.map(u64::from),
            u64::from(d.webhook_per_second),
        ) as u32,
        webhook_burst: positive(
            "daemon.webhook_burst",
            raw.webhook_burst.map(u64::from),
            u64::from(d.webhook_burst),
        ) as u32,
        max_connections: positive(
            "daemon.max_connections",
            raw.max_connections.map(|v| v as u64),
            d.max_connections as u64,
        ) as usize,
        header_timeout,
        connection_timeout,
    }
}

/// The instance id ends up in AWS tag values (at most 256 characters) and in derived names,
/// so it is kept short and plain.
pub fn check_instance_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` must be 1-32 characters of letters, digits, '-' or '_'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::parse("", "t").unwrap(), Config::default());
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
instance_id = "prod-eu"
state_dir = "/srv/gwsync"
[repo]
url = "git@github.com:acme/gitops.git"
branch = "release"
poll_interval = "2m"
tenants_file = "tenants.yaml"
ssh_key = "/etc/gwsync/deploy_key"
[aws]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:5000"
[limits]
max_file_bytes = 2048
"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.instance_id, "prod-eu");
        assert_eq!(c.store.path, PathBuf::from("/srv/gwsync/gwsync.db"));
        assert_eq!(
            c.repo.location,
            Some(RepoLocation::Url("git@github.com:acme/gitops.git".into()))
        );
        assert_eq!(c.repo.poll_interval, Duration::from_secs(120));
        assert_eq!(c.limits.max_file_bytes, 2048);
        assert_eq!(c.limits.max_files, Limits::default().max_files);
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let err = Config::parse(
            r#"
instance_id = "no spaces allowed"
colour = "blue"
[repo]
branchh = "main"
poll_interval = "soon"
[limits]
max_file_bytes = 0
"#,
            "gwsync.toml",
        )
        .unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "colour",
                "repo.branchh",
                "instance_id",
                "repo.poll_interval",
                "limits.max_file_bytes"
            ]
        );
        let text = err.to_string();
        assert!(text.contains("gwsync.toml"), "{text}");
        assert!(text.contains("repo.branchh: unknown key"), "{text}");
    }

    #[test]
    fn gateway_class_takes_a_name_or_a_list() {
        let one = Config::parse("gateway_class = \"aws-alb\"\n", "t").unwrap();
        assert_eq!(one.gateway_classes, ["aws-alb"]);
        let many = Config::parse("gateway_class = [\"aws-alb\", \"gwsync\"]\n", "t").unwrap();
        assert_eq!(many.gateway_classes, ["aws-alb", "gwsync"]);
        assert_eq!(Config::default().gateway_classes, ["gwsync"]);
        let none = Config::parse("gateway_class = []\n", "t").unwrap_err();
        assert_eq!(none.problems[0].key, "gateway_class");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = Config::parse("[limits]\nmax_files = \"many\"\n", "t").unwrap_err();
        assert_eq!(err.problems[0].key, "limits.max_files");
    }

    #[test]
    fn url_and_path_are_exclusive() {
        let err =
            Config::parse("[repo]\nurl = \"https://x/y.git\"\npath = \"/r\"\n", "t").unwrap_err();
        assert_eq!(err.problems[0].key, "repo");
    }

    #[test]
    fn repo_argument_kinds() {
        assert!(matches!(
            RepoLocation::from_arg("https://github.com/a/b.git"),
            RepoLocation::Url(_)
        ));
        assert!(matches!(
            RepoLocation::from_arg("git@github.com:a/b.git"),
            RepoLocation::Url(_)
        ));
        assert!(matches!(
            RepoLocation::from_arg("./gitops"),
            RepoLocation::Path(_)
        ));
        assert!(matches!(
            RepoLocation::from_arg("C:/gitops"),
            RepoLocation::Path(_)
        ));
    }
}

#[cfg(test)]
mod daemon_tests {
    use super::*;

    #[test]
    fn daemon_table_parses_and_zero_drift_turns_it_off() {
        let c = Config::parse(
            r#"
[daemon]
listen = "0.0.0.0:8080"
drift_interval = "0s"
self_heal = true
apply_retries = 2
retry_backoff = "1s"
retry_backoff_max = "4s"
watch = false
webhook_secret_env = "GWSYNC_WEBHOOK_SECRET"
webhook_max_body_bytes = 4096
webhook_per_second = 5
webhook_burst = 5
max_connections = 8
header_timeout = "2s"
connection_timeout = "20s"
"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            c.daemon,
            DaemonConfig {
                listen: "0.0.0.0:8080".parse().unwrap(),
                drift_interval: None,
                self_heal: true,
                apply_retries: 2,
                retry_backoff: Duration::from_secs(1),
                retry_backoff_max: Duration::from_secs(4),
                watch: false,
                webhook_secret_env: Some("GWSYNC_WEBHOOK_SECRET".into()),
                webhook_max_body_bytes: 4096,
                webhook_per_second: 5,
                webhook_burst: 5,
                max_connections: 8,
                header_timeout: Duration::from_secs(2),
                connection_timeout: Duration::from_secs(20),
            }
        );
    }

    #[test]
    fn bad_daemon_keys_are_all_reported() {
        let e = Config::parse(
            r#"
[daemon]
listen = "localhost"
drift_interval = "soon"
retry_backoff = "1h"
webhook_secret_env = "A=B"
webhook_burst = 0
"#,
            "t",
        )
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "daemon.webhook_secret_env",
                "daemon.listen",
                "daemon.drift_interval",
                "daemon.retry_backoff",
                "daemon.webhook_burst"
            ]
        );
    }

    #[test]
    fn commit_status_takes_a_provider_a_repository_and_a_named_token() {
        use super::SecretSource;
        use super::commit_status::GitHost;
        let c = Config::parse(
            "[commit_status]\nprovider = \"gitlab\"\nrepository = \"acme/routes\"\ntoken_file = \"/etc/gwsync/token\"\n",
            "t",
        )
        .unwrap()
        .commit_status
        .unwrap();
        assert_eq!(c.host, GitHost::GitLab);
        assert_eq!(c.api_url, "https://gitlab.com/api/v4");
        assert_eq!(c.token, SecretSource::File("/etc/gwsync/token".into()));
        assert_eq!(c.context, "gwsync");

        let e = Config::parse(
            "[commit_status]\nprovider = \"bitbucket\"\napi_url = \"http://example.com\"\n",
            "t",
        )
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "commit_status.provider",
                "commit_status.repository",
                "commit_status.token_env",
                "commit_status.api_url"
            ]
        );
    }

    #[test]
    fn store_url_selects_postgres_with_its_password_source_or_a_sqlite_file() {
        let c = Config::parse(
            "[store]\nurl = \"postgres://gwsync@db.internal/gwsync\"\npassword_file = \"/etc/gwsync/db-password\"\nlease_duration = \"6s\"\n",
            "t",
        )
        .unwrap();
        let pg = c.store.postgres.as_ref().unwrap();
        assert_eq!(
            pg.url.to_string(),
            "postgres://gwsync@db.internal/gwsync?sslmode=verify-full"
        );
        assert_eq!(
            pg.password,
            Some(SecretSource::File("/etc/gwsync/db-password".into()))
        );
        assert_eq!(c.store.lease_duration, Duration::from_secs(6));
        let c = Config::parse("[store]\nurl = \"sqlite:/srv/g.db\"\n", "t").unwrap();
        assert_eq!(c.store.postgres, None);
        assert_eq!(c.store.path, PathBuf::from("/srv/g.db"));
        assert_eq!(
            Config::default().store.lease_duration,
            DEFAULT_LEASE_DURATION
        );
    }

    #[test]
    fn a_store_url_with_a_password_or_two_sources_is_refused_by_key() {
        for (text, key) in [
            ("url = \"postgres://gwsync:pw@db/gwsync\"", "store.url"),
            (
                "url = \"postgres://gwsync@db/gwsync\"\npassword_env = \"P\"\npassword_file = \"/f\"",
                "store.password_env",
            ),
            ("url = \"sqlite:/a.db\"\npath = \"/b.db\"", "store.path"),
            ("lease_duration = \"100ms\"", "store.lease_duration"),
        ] {
            let err = Config::parse(&format!("[store]\n{text}\n"), "t").unwrap_err();
            let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, [key], "{text}");
            assert!(!err.to_string().contains(":pw@"), "{err}");
        }
    }
}
