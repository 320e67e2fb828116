//! The files in `deploy/`, checked against the tools and the code they describe:
//! - `gwsync.service` passes `systemd-analyze verify` (run on a copy whose `ExecStart=` is the
//!   binary just built) and keeps its sandbox (`systemd-analyze security`);
//! - `iam-policy.json` allows exactly the AWS operations the code calls (found in `src/`,
//!   unit tests left out, by the way the code calls the SDK clients:
//!   `clients.elb.create_rule()`), every write only on resources carrying this instance's tag.
//!   (`gwsync doctor`'s STS `GetCallerIdentity` is not among them: it needs no permission.)
//!
//! `systemd-analyze` must be installed: scripts/test installs it when it is missing, and
//! these tests fail (never skip) without it.

use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const UNIT_BINARY: &str = "/usr/bin/gwsync";
const KILL: &str = "/bin/kill";
const PLACEHOLDER: &str = "REPLACE-WITH-INSTANCE-ID";
const INSTANCE_TAG: &str = "gwsync.dev/instance";
/// Highest acceptable `systemd-analyze security` exposure, in its tenths (20 = 2.0).
const MAX_EXPOSURE: u32 = 20;

fn systemd_analyze() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("systemd-analyze"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "systemd-analyze is not on PATH; scripts/test installs it (Debian package \
                 `systemd`), or run `apt-get install --no-install-recommends systemd`"
            )
        })
}

/// deploy/gwsync.service with `ExecStart=` pointing at the binary under test, written as
/// `gwsync.service` into a fresh directory (the unit's name is its file name).
fn unit_copy() -> (tempfile::TempDir, PathBuf) {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/gwsync.service")).unwrap();
    let exec_start = format!("ExecStart={UNIT_BINARY} ");
    assert!(
        unit.contains(&exec_start),
        "deploy/gwsync.service no longer starts `{UNIT_BINARY} ...`; update this test"
    );
    let binary = env!("CARGO_BIN_EXE_gwsync");
    assert!(
        !binary.contains(char::is_whitespace),
        "the test binary's path has a space: {binary}"
    );
    assert!(
        unit.contains(&format!("ExecReload={KILL} ")),
        "deploy/gwsync.service no longer reloads with {KILL}; update this test"
    );
    assert!(
        Path::new(KILL).is_file(),
        "{KILL} does not exist on this machine (Debian package `procps`; scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gwsync.service");
    std::fs::write(
        &path,
        unit.replace(&exec_start, &format!("ExecStart={binary} ")),
    )
    .unwrap();
    (dir, path)
}

fn run(mut command: Command) -> Output {
    // Plain, untranslated messages: they are matched below.
    command.env("SYSTEMD_LOG_COLOR", "0").env("LC_ALL", "C");
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

#[test]
fn the_unit_verifies_without_warnings() {
    let (_dir, unit) = unit_copy();
    let mut verify = Command::new(systemd_analyze());
    verify.arg("verify").arg(&unit);
    let out = run(verify);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed ({}):\n{stderr}",
        out.status
    );
    // verify also loads the units this one names (network-online.target, ...) and may
    // complain about other units installed on this machine: only gwsync's own lines count.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("gwsync.service") || line.contains(&*unit.to_string_lossy()))
        .collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify warns about the unit:\n{}",
        ours.join("\n")
    );
}

#[test]
fn the_unit_keeps_its_sandbox() {
    let (_dir, unit) = unit_copy();
    let mut security = Command::new(systemd_analyze());
    security
        .arg("security")
        .arg("--offline=true")
        .arg(format!("--threshold={MAX_EXPOSURE}"))
        .arg("--no-pager")
        .arg(&unit);
    let out = run(security);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let overall = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("(no overall exposure level)");
    assert!(
        out.status.success(),
        "systemd-analyze security: {overall}, above {}.{}; the sandbox was weakened:\n{stdout}\n{stderr}",
        MAX_EXPOSURE / 10,
        MAX_EXPOSURE % 10
    );
}

/// What the daemon's protocol with systemd and docs/deploy.md rely on.
#[test]
fn the_unit_runs_the_daemon_as_documented() {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/gwsync.service")).unwrap();
    let settings: BTreeSet<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .collect();
    for expected in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/bin/gwsync run --config /etc/gwsync/gwsync.toml --log-format json",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=gwsync",
        "Group=gwsync",
        "StateDirectory=gwsync",
        "StateDirectoryMode=0700",
        "Environment=GWSYNC_STATE_DIR=%S/gwsync",
        "ConfigurationDirectory=gwsync",
        "EnvironmentFile=-/etc/gwsync/gwsync.env",
        "UMask=0077",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
        "After=network-online.target",
        "Wants=network-online.target",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=",
        "ProtectSystem=strict",
    ] {
        assert!(
            settings.contains(expected),
            "deploy/gwsync.service lacks `{expected}`"
        );
    }
    let seconds = |key: &str| -> u64 {
        let line = settings
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("deploy/gwsync.service lacks {key}="));
        humantime::parse_duration(line.trim())
            .unwrap_or_else(|e| panic!("{key}={line}: {e}"))
            .as_secs()
    };
    assert!(seconds("WatchdogSec") >= 30, "too short a watchdog");
    assert!(
        seconds("TimeoutStopSec") >= 120,
        "SIGTERM must leave time for the apply in flight to finish"
    );
}

/// Every AWS operation the code calls, as IAM actions, with where it is called.
fn called_operations() -> BTreeMap<String, Vec<String>> {
    // Every SDK call goes through the fields of `aws::client::Clients`:
    // `clients.elb.describe_rules()`, `self.clients\n.elb\n.create_rule()`. (A bare `elb.x()`
    // is a config builder in client.rs, not a call.)
    let call = Regex::new(r"\.\s*(elb|acm|secrets)\s*\.\s*([a-z][a-z0-9_]*)\s*\(").unwrap();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in rust_files(&Path::new(ROOT).join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let text = without_unit_tests(&text);
        for c in call.captures_iter(text) {
            let service = match &c[1] {
                "elb" => "elasticloadbalancing",
                "secrets" => "secretsmanager",
                _ => "acm",
            };
            let line = text[..c.get(0).unwrap().start()].matches('\n').count() + 1;
            let place = format!(
                "{}:{line}",
                file.strip_prefix(ROOT).unwrap_or(&file).display()
            );
            found
                .entry(format!("{service}:{}", pascal_case(&c[2])))
                .or_default()
                .push(place);
        }
    }
    found
}

/// A source file up to its `#[cfg(test)] mod ...`: what unit tests call is not what gwsync
/// calls in production.
fn without_unit_tests(text: &str) -> &str {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The SDK's method name as the API operation (and IAM action) name.
fn pascal_case(snake: &str) -> String {
    let name: String = snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    // Operations whose names keep an acronym in capitals.
    match name.as_str() {
        "DescribeSslPolicies" => "DescribeSSLPolicies".to_string(),
        _ => name,
    }
}

fn policy() -> Value {
    let path = Path::new(ROOT).join("deploy/iam-policy.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().expect("a list of strings"))
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn is_read(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    name.starts_with("Describe") || name.starts_with("List") || name.starts_with("Get")
}

/// `Condition.StringEquals[key]` of a statement, when it is exactly `value`.
fn requires(statement: &Value, key: &str, value: &str) -> bool {
    statement["Condition"]["StringEquals"]
        .get(key)
        .is_some_and(|v| strings(v) == [value])
}

#[test]
fn the_iam_policy_allows_exactly_what_gwsync_calls() {
    let called = called_operations();
    assert!(
        called.contains_key("elasticloadbalancing:DescribeLoadBalancers")
            && called.contains_key("elasticloadbalancing:CreateRule")
            && called.contains_key("acm:ListCertificates"),
        "the scan of src/ for SDK calls found too little; has the calling style changed? {called:?}"
    );

    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().expect("Statement is a list");
    let mut allowed: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for statement in statements {
        assert_eq!(
            statement["Effect"], "Allow",
            "only Allow statements: {statement}"
        );
        for forbidden in ["NotAction", "NotResource", "Principal"] {
            assert!(
                statement.get(forbidden).is_none(),
                "{forbidden} in {statement}"
            );
        }
        for action in strings(&statement["Action"]) {
            assert!(
                !action.contains(['*', '?']),
                "wildcard action {action}: name every action"
            );
            allowed.entry(action).or_default().push(statement);
        }
    }

    let called_names: BTreeSet<&str> = called.keys().map(String::as_str).collect();
    let allowed_names: BTreeSet<&str> = allowed.keys().copied().collect();
    let missing: Vec<String> = called_names
        .difference(&allowed_names)
        .map(|a| format!("{a} (called at {})", called[*a].join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/iam-policy.json does not allow:\n  {}",
        missing.join("\n  ")
    );
    let unused: Vec<&&str> = allowed_names.difference(&called_names).collect();
    assert!(
        unused.is_empty(),
        "deploy/iam-policy.json allows what gwsync never calls: {unused:?}"
    );
    // Secrets: only those under gwsync's prefix (`aws.oidc_secret_prefix`'s default).
    for statement in &allowed["secretsmanager:GetSecretValue"] {
        assert_eq!(
            strings(&statement["Resource"]),
            ["arn:aws:secretsmanager:*:*:secret:gwsync/*"],
            "OIDC secrets are read only under gwsync/: {statement}"
        );
    }

    // Writes: never unconditioned. Creates need this instance's tag in the request; every
    // other write needs it on the resource, except AddTags while creating (tag-on-create
    // authorization, restricted to gwsync's own Create* calls).
    let creates: BTreeSet<&str> = called_names
        .iter()
        .filter_map(|a| a.strip_prefix("elasticloadbalancing:"))
        .filter(|a| a.starts_with("Create"))
        .collect();
    for (action, statements) in &allowed {
        if is_read(action) {
            continue;
        }
        let name = action.split_once(':').unwrap().1;
        for statement in statements {
            let by_request = requires(
                statement,
                &format!("aws:RequestTag/{INSTANCE_TAG}"),
                PLACEHOLDER,
            );
            let by_resource = requires(
                statement,
                &format!("aws:ResourceTag/{INSTANCE_TAG}"),
                PLACEHOLDER,
            );
            // A create is authorized on the new resource (the tag in the request) and, for a
            // listener or rule, on its parent (the tag on it): the parent's statement names
            // the parent's resource type, so it never allows the new resource by itself.
            let parent_only = statement["Resource"].as_str().is_some_and(|r| {
                r.contains(":loadbalancer/") || r.ends_with(":listener/app/*/*/*")
            });
            let ok = if name.starts_with("Create") {
                by_request || (by_resource && parent_only)
            } else if name == "AddTags" && !by_resource {
                let create_actions: BTreeSet<&str> = statement["Condition"]["StringEquals"]
                    .get("elasticloadbalancing:CreateAction")
                    .map(strings)
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                assert_eq!(
                    create_actions, creates,
                    "AddTags while creating must name exactly the Create* calls gwsync makes"
                );
                by_request
            } else {
                by_resource
            };
            assert!(
                ok,
                "{action} is allowed without this instance's tag ({}) by {statement}",
                if name.starts_with("Create") {
                    "aws:RequestTag"
                } else {
                    "aws:ResourceTag"
                }
            );
        }
    }
}
