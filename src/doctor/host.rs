//! Doctor's checks of this machine: the configuration file, the state directory and what is
//! in it, the secrets the configuration names, and the systemd unit.

use super::{Check, Finding};
use crate::config::SecretSource;
use crate::config::{Config, RepoLocation};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The service's unit name.
const UNIT: &str = "gwsync.service";
/// Where packages and operators put the unit, most specific first.
const UNIT_PATHS: [&str; 3] = [
    "/etc/systemd/system/gwsync.service",
    "/usr/lib/systemd/system/gwsync.service",
    "/lib/systemd/system/gwsync.service",
];
/// The user the package makes, when neither `--user` nor the unit names one.
const DEFAULT_USER: &str = "gwsync";
/// File descriptors the daemon needs beyond its HTTP connections: Git, AWS, SQLite, notify.
const SPARE_FILES: u64 = 256;
/// Shortest stop timeout that lets an apply in flight finish (the unit asks for 300 s).
const MIN_STOP_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) fn configuration(config: &Config, file: Option<&Path>) -> Finding {
    let Some(file) = file else {
        return Finding::warn(
            Check::Configuration,
            format!(
                "no configuration file: the defaults (instance {})",
                config.instance_id
            ),
            "install /etc/gwsync/gwsync.toml (the package does) and set instance_id, repo.url and aws.region",
        );
    };
    let exposed = crate::config::permissions::world_writable(Some(file), &config.state_dir);
    if let Some(exposed) = exposed.iter().find(|e| e.path == file) {
        return Finding::fail(
            Check::Configuration,
            exposed.to_string(),
            format!("chmod 0640 {}", file.display()),
        );
    }
    Finding::pass(
        Check::Configuration,
        format!("{} loads (instance {})", file.display(), config.instance_id),
    )
}

/// The user the daemon runs as, and its ids when the system knows it.
pub(super) struct ServiceUser {
    pub name: String,
    pub uid: Option<u32>,
}

impl ServiceUser {
    /// `--user`, else the unit's `User=`, else `gwsync`; looked up with `getent` (NSS).
    pub(super) fn pick(flag: Option<&str>, unit: Option<&Unit>) -> ServiceUser {
        let name = flag
            .map(str::to_string)
            .or_else(|| unit.and_then(|u| u.user.clone()))
            .unwrap_or_else(|| DEFAULT_USER.to_string());
        let uid = getent_passwd(&name).and_then(|fields| fields.get(2)?.parse().ok());
        ServiceUser { name, uid }
    }

    /// Why `path` is not right for this user (owned by someone else, readable by others).
    fn problem(&self, path: &Path, meta: &std::fs::Metadata) -> Option<String> {
        if self.uid.is_some_and(|uid| uid != meta.uid()) {
            return Some(format!(
                "{} is owned by {}, not {}: the daemon cannot write it",
                path.display(),
                user_name(meta.uid()),
                self.name
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} is mode {mode:04o}: other users can read it",
                path.display()
            )
        })
    }
}

/// The fields of `name`'s passwd entry.
fn getent_passwd(key: &str) -> Option<Vec<String>> {
    let out = Command::new("getent").args(["passwd", key]).output().ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    let fields: Vec<String> = line.trim().split(':').map(str::to_string).collect();
    (out.status.success() && fields.len() >= 7).then_some(fields)
}

fn user_name(uid: u32) -> String {
    getent_passwd(&uid.to_string())
        .and_then(|fields| fields.into_iter().next())
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The state directory, the database (with its WAL files; for PostgreSQL, its password) and a
/// remote repository's clone.
pub(super) fn state(
    config: &Config,
    environment: &Environment,
    user: &ServiceUser,
) -> Vec<Finding> {
    if user.uid.is_none() {
        return vec![Finding::fail(
            Check::StateDirectory,
            format!("there is no user {} to run the daemon as", user.name),
            format!(
                "install the package (it makes the user), or: useradd --system --user-group --home-dir {} --shell /usr/sbin/nologin {}",
                config.state_dir.display(),
                user.name
            ),
        )];
    }
    vec![
        state_directory(&config.state_dir, user),
        match &config.store.postgres {
            None => state_database(&config.store.path, user),
            Some(pg) => postgres_password(pg, environment, user),
        },
        clone(config, user),
    ]
}

/// The fix for a path under the state directory that is not the user's, or too open.
fn chown_fix(path: &Path, recursive: bool, user: &ServiceUser) -> String {
    format!(
        "chown {}{u}:{u} {p} && chmod {mode} {p}",
        if recursive { "-R " } else { "" },
        p = path.display(),
        u = user.name,
        mode = if recursive { "-R go-rwx" } else { "0700" },
    )
}

fn state_directory(dir: &Path, user: &ServiceUser) -> Finding {
    match std::fs::metadata(dir) {
        Err(_) => Finding::warn(
            Check::StateDirectory,
            format!("{} does not exist yet", dir.display()),
            format!(
                "install -d -o {u} -g {u} -m 0700 {} (the package and the unit's StateDirectory= make it)",
                dir.display(),
                u = user.name
            ),
        ),
        Ok(meta) => match user.problem(dir, &meta) {
            Some(problem) => {
                Finding::fail(Check::StateDirectory, problem, chown_fix(dir, false, user))
            }
            None => Finding::pass(
                Check::StateDirectory,
                format!("{}: {}'s, mode 0700", dir.display(), user.name),
            ),
        },
    }
}

fn state_database(db: &Path, user: &ServiceUser) -> Finding {
    let files: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .filter(|p| p.exists())
        .collect();
    if files.is_empty() {
        return Finding::skip(
            Check::StateDatabase,
            format!("{} not made yet (the first run makes it)", db.display()),
        );
    }
    let problem = files.iter().find_map(|path| {
        let meta = std::fs::metadata(path).ok()?;
        user.problem(path, &meta)
    });
    match problem {
        Some(problem) => Finding::fail(
            Check::StateDatabase,
            problem,
            format!(
                "chown {u}:{u} {db}* && chmod 0600 {db}*, and run commands on it as {u} (sudo -u {u} gwsync ...)",
                db = db.display(),
                u = user.name
            ),
        ),
        None => Finding::pass(
            Check::StateDatabase,
            format!("{}: {}'s, mode 0600", db.display(), user.name),
        ),
    }
}

/// Where the PostgreSQL password comes from, and whether the daemon can read it.
fn postgres_password(
    pg: &crate::config::PostgresStore,
    environment: &Environment,
    user: &ServiceUser,
) -> Finding {
    let Some(source) = &pg.password else {
        return Finding::pass(
            Check::StateDatabase,
            format!("{} (no password: the server must not ask for one)", pg.url),
        );
    };
    let check = Check::StateDatabase;
    match secret_place(check, source, "the database password", environment, user) {
        Ok(place) => Finding::pass(check, format!("{}, password in {place}", pg.url)),
        Err(failure) => failure,
    }
}

/// Where a secret (`what`: "the API token", "the database password") is read from, when the
/// daemon can read it there; else the failure of `check`, with its fix.
fn secret_place(
    check: Check,
    source: &SecretSource,
    what: &str,
    environment: &Environment,
    user: &ServiceUser,
) -> Result<String, Finding> {
    match source {
        SecretSource::Env(var) => match environment.var(var) {
            Some(secret) if !secret.trim().is_empty() => Ok(var.clone()),
            _ => Err(Finding::fail(
                check,
                format!("{var} is not set: the daemon will not start"),
                environment.fix_for(var, what),
            )),
        },
        SecretSource::File(path) => {
            let fix = format!(
                "write {what} to {p}, then chown {u} {p} && chmod 0600 {p}",
                p = path.display(),
                u = user.name
            );
            match std::fs::metadata(path) {
                Err(e) => Err(Finding::fail(
                    check,
                    format!("{}: {e}", path.display()),
                    fix,
                )),
                Ok(meta) => match user.problem(path, &meta) {
                    Some(problem) => Err(Finding::fail(check, problem, fix)),
                    None => Ok(path.display().to_string()),
                },
            }
        }
    }
}

fn clone(config: &Config, user: &ServiceUser) -> Finding {
    let clone = config.state_dir.join(crate::source::CLONE_DIR_NAME);
    match (&config.repo.location, clone.exists()) {
        (Some(RepoLocation::Url(_)), true) => match foreign_entry(&clone, user) {
            Some(problem) => Finding::fail(Check::Clone, problem, chown_fix(&clone, true, user)),
            None => Finding::pass(
                Check::Clone,
                format!("{}: {}'s throughout", clone.display(), user.name),
            ),
        },
        (Some(RepoLocation::Url(_)), false) => Finding::skip(
            Check::Clone,
            format!(
                "{} not made yet (the first fetch makes it)",
                clone.display()
            ),
        ),
        (Some(RepoLocation::Path(_)), _) => {
            Finding::skip(Check::Clone, "repo.path is read in place: no clone")
        }
        (None, _) => Finding::skip(Check::Clone, "no repository configured"),
    }
}

/// The first file under `dir` that is not the service user's (as after `git fetch` run by
/// root in the clone), or readable by others.
fn foreign_entry(dir: &Path, user: &ServiceUser) -> Option<String> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if user.uid.is_some_and(|uid| uid != meta.uid()) {
            return user.problem(&path, &meta);
        }
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path).ok()?;
            pending.extend(entries.filter_map(|e| Some(e.ok()?.path())));
        }
    }
    None
}

/// The daemon's environment: this process's, and the unit's `EnvironmentFile=`, where the
/// secrets live. Values are only looked up, never shown.
pub(super) struct Environment {
    path: PathBuf,
    file: Result<Option<BTreeMap<String, String>>, String>,
    mode: Option<u32>,
}

impl Environment {
    pub(super) fn read(path: &Path) -> Environment {
        let mode = std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777);
        let file = match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(parse_environment_file(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        Environment {
            path: path.to_path_buf(),
            file,
            mode,
        }
    }

    /// `name` from this process's environment, else from the file.
    pub(super) fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().or_else(|| match &self.file {
            Ok(Some(vars)) => vars.get(name).cloned(),
            _ => None,
        })
    }

    /// Where a missing variable goes.
    fn fix_for(&self, var: &str, what: &str) -> String {
        format!(
            "add {var}=<{what}> to {} (root:root 0600), then systemctl restart gwsync",
            self.path.display()
        )
    }

    pub(super) fn finding(&self) -> Finding {
        let path = self.path.display();
        match (&self.file, self.mode) {
            (Ok(None), _) => Finding::skip(
                Check::EnvironmentFile,
                format!("{path} does not exist (needed only for secrets)"),
            ),
            (Err(error), _) => Finding::warn(
                Check::EnvironmentFile,
                format!("{path}: {error}: the secrets in it are not checked"),
                "run gwsync doctor as root",
            ),
            (Ok(Some(_)), Some(mode)) if mode & 0o077 != 0 => Finding::fail(
                Check::EnvironmentFile,
                format!("{path} is mode {mode:04o}: other users can read the secrets in it"),
                format!("chown root:root {path} && chmod 0600 {path}"),
            ),
            (Ok(Some(vars)), _) => Finding::pass(
                Check::EnvironmentFile,
                format!("{path}: {} variables, private", vars.len()),
            ),
        }
    }
}

/// `NAME=value` lines as systemd reads an `EnvironmentFile=`: comments (`#`, `;`) and blank
/// lines skipped, one pair of surrounding quotes removed.
fn parse_environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';']))
        .filter_map(|line| {
            let (name, value) = line.split_once('=')?;
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
                .unwrap_or(value);
            Some((name.trim().to_string(), unquoted.to_string()))
        })
        .collect()
}

pub(super) fn webhook_secret(config: &Config, environment: &Environment) -> Finding {
    let Some(var) = &config.daemon.webhook_secret_env else {
        return Finding::skip(
            Check::WebhookSecret,
            "the webhook is off (daemon.webhook_secret_env)",
        );
    };
    let random = "a random string, e.g. from openssl rand -hex 32";
    match environment.var(var) {
        None => Finding::fail(
            Check::WebhookSecret,
            format!("{var} is not set: the daemon will not start"),
            environment.fix_for(var, random),
        ),
        Some(secret) => match crate::daemon::webhook::WebhookAuth::new(secret.clone()) {
            Ok(_) => Finding::pass(
                Check::WebhookSecret,
                format!("{var}: {} bytes", secret.len()),
            ),
            Err(weak) => Finding::fail(
                Check::WebhookSecret,
                format!("{var}: {weak}: the daemon will not start"),
                environment.fix_for(var, random),
            ),
        },
    }
}

pub(super) fn commit_status_token(
    config: &Config,
    environment: &Environment,
    user: &ServiceUser,
) -> Finding {
    let Some(statuses) = &config.commit_status else {
        return Finding::skip(Check::CommitStatusToken, "off ([commit_status])");
    };
    let check = Check::CommitStatusToken;
    let what = "an API token that may post commit statuses";
    match secret_place(check, &statuses.token, what, environment, user) {
        Ok(place) => Finding::pass(
            check,
            format!("token in {place} for {}", statuses.repository),
        ),
        Err(failure) => failure,
    }
}

/// What the unit sets that doctor checks, from `systemctl show` or the unit file.
pub(super) struct Unit {
    /// Where it was read: `systemctl show gwsync.service`, or a file.
    source: String,
    user: Option<String>,
    open_files: Option<u64>,
    stop_timeout: Option<Duration>,
}

impl Unit {
    /// The unit as systemd has loaded it (drop-ins included), else its file; `path` (the
    /// `--unit` flag) is read instead of both. Err: why none was found.
    pub(super) fn find(path: Option<&Path>) -> Result<Unit, String> {
        if let Some(path) = path {
            return Unit::from_file(path);
        }
        if let Some(unit) = Unit::from_systemctl() {
            return Ok(unit);
        }
        UNIT_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .map(Unit::from_file)
            .unwrap_or_else(|| Err(format!("{UNIT} is not installed")))
    }

    fn from_systemctl() -> Option<Unit> {
        let out = Command::new("systemctl")
            .args([
                "show",
                UNIT,
                "--property=LoadState,User,LimitNOFILESoft,TimeoutStopUSec",
            ])
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let props: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        if !out.status.success() || props.get("LoadState") != Some(&"loaded") {
            return None;
        }
        Some(Unit {
            source: format!("systemctl show {UNIT}"),
            user: props
                .get("User")
                .filter(|u| !u.is_empty())
                .map(|u| u.to_string()),
            open_files: props.get("LimitNOFILESoft").and_then(|v| v.parse().ok()),
            stop_timeout: props.get("TimeoutStopUSec").and_then(|v| parse_timespan(v)),
        })
    }

    fn from_file(path: &Path) -> Result<Unit, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The last assignment wins, as in systemd.
        let mut settings = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if let Some((key, value)) = line.split_once('=') {
                settings.insert(key.trim().to_string(), value.trim().to_string());
            }
        }
        let soft_limit = |v: &String| v.split(':').next()?.parse().ok();
        Ok(Unit {
            source: path.display().to_string(),
            user: settings.get("User").cloned(),
            open_files: settings.get("LimitNOFILE").and_then(soft_limit),
            stop_timeout: settings
                .get("TimeoutStopSec")
                .and_then(|v| parse_timespan(v)),
        })
    }
}

/// A systemd time span: `300`, `300s`, `5min`, `2min 30s`.
fn parse_timespan(value: &str) -> Option<Duration> {
    match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(value).ok(),
    }
}

pub(super) fn systemd_unit(
    config: &Config,
    unit: &Result<Unit, String>,
    user: &ServiceUser,
) -> Finding {
    let unit = match unit {
        Ok(unit) => unit,
        Err(why) => {
            return Finding::warn(
                Check::SystemdUnit,
                why.clone(),
                "install the package, which installs the unit (docs/deploy.md)",
            );
        }
    };
    let wanted_files = config.daemon.max_connections as u64 + SPARE_FILES;
    // (what is wrong, what fixes it)
    let mut problems: Vec<(String, String)> = Vec::new();
    if let Some(unit_user) = unit.user.as_deref().filter(|u| *u != user.name) {
        problems.push((
            format!(
                "runs as {unit_user}, but the state is checked for {}",
                user.name
            ),
            format!("run doctor with --user {unit_user}, or set User= to the state's owner"),
        ));
    }
    if let Some(files) = unit.open_files.filter(|n| *n < wanted_files) {
        problems.push((
            format!("LimitNOFILE={files} is below daemon.max_connections + {SPARE_FILES} = {wanted_files}"),
            "LimitNOFILE=65536 under [Service] in a drop-in (systemctl edit gwsync)".to_string(),
        ));
    }
    if let Some(timeout) = unit.stop_timeout.filter(|t| *t < MIN_STOP_TIMEOUT) {
        problems.push((
            format!(
                "TimeoutStopSec={}s leaves an apply in flight too little time to finish (at least {}s)",
                timeout.as_secs(),
                MIN_STOP_TIMEOUT.as_secs()
            ),
            "TimeoutStopSec=300s under [Service] in a drop-in (systemctl edit gwsync)".to_string(),
        ));
    }
    if problems.is_empty() {
        return Finding::pass(
            Check::SystemdUnit,
            format!(
                "{}: user {}, LimitNOFILE {}, TimeoutStopSec {}",
                unit.source,
                unit.user.as_deref().unwrap_or("root"),
                unit.open_files
                    .map_or("(default)".to_string(), |n| n.to_string()),
                unit.stop_timeout
                    .map_or("(default)".to_string(), |t| format!("{}s", t.as_secs()))
            ),
        );
    }
    let (what, fixes): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
    Finding::fail(
        Check::SystemdUnit,
        format!("{}: {}", unit.source, what.join("; ")),
        fixes.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_files_read_as_systemd_does() {
        let vars = parse_environment_file(
            "# secrets\n\nGWSYNC_WEBHOOK_SECRET=\"abc def\"\n; old\nTOKEN='x=y'\n  PLAIN = z \n",
        );
        assert_eq!(vars["GWSYNC_WEBHOOK_SECRET"], "abc def");
        assert_eq!(vars["TOKEN"], "x=y");
        assert_eq!(vars["PLAIN"], "z");
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn time_spans_as_systemd_writes_them() {
        assert_eq!(parse_timespan("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_timespan("300s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_timespan("5min"), Some(Duration::from_secs(300)));
        assert_eq!(parse_timespan("2min 30s"), Some(Duration::from_secs(150)));
        assert_eq!(parse_timespan("infinity"), None);
    }

    #[test]
    fn the_shipped_unit_passes_its_own_checks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gwsync.service");
        let unit = Unit::from_file(&path).unwrap();
        assert_eq!(unit.user.as_deref(), Some("gwsync"));
        assert_eq!(unit.open_files, Some(65536));
        assert_eq!(unit.stop_timeout, Some(Duration::from_secs(300)));
        let user = ServiceUser {
            name: "gwsync".to_string(),
            uid: Some(1),
        };
        let finding = systemd_unit(&Config::default(), &Ok(unit), &user);
        assert_eq!(finding.outcome, super::super::Outcome::Pass, "{finding:?}");
    }
}
