//! `gwsync doctor`, the real binary: a healthy deployment against moto (a local repository, a
//! state directory, secrets in an environment file, a unit) passes every check; a broken one
//! fails each broken check with its fix, and never shows a secret.

mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::example::ExampleRepo;
use support::moto::{MotoServer, REGION, fake_aws_env};

const SECRET: &str = "a-webhook-secret-nobody-guesses-0123456789";

/// The name of the user running the tests: the deployment under test is "theirs".
fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A deployment in a scratch directory: configuration, state directory, environment file and
/// unit, all as docs/deploy.md sets them up, for the user running the tests.
struct Deployment {
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new(repo: &ExampleRepo, aws_endpoint: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = root.join("state");
        std::fs::create_dir(&state).unwrap();
        chmod(&state, 0o700);
        std::fs::write(state.join("gwsync.db"), "").unwrap();
        chmod(&state.join("gwsync.db"), 0o600);
        std::fs::write(
            root.join("gwsync.toml"),
            format!(
                "instance_id = \"doctor-test\"\nstate_dir = \"{}\"\n\n[repo]\npath = \"{}\"\nbranch = \"{}\"\n\n[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{aws_endpoint}\"\n\n[daemon]\nwebhook_secret_env = \"GWSYNC_WEBHOOK_SECRET\"\n",
                state.display(),
                repo.path().display(),
                repo.branch()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("gwsync.env"),
            format!("# secrets\nGWSYNC_WEBHOOK_SECRET={SECRET}\n"),
        )
        .unwrap();
        chmod(&root.join("gwsync.env"), 0o600);
        let unit = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gwsync.service"),
        )
        .unwrap()
        .replace("User=gwsync", &format!("User={}", me()));
        std::fs::write(root.join("gwsync.service"), unit).unwrap();
        Deployment { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `gwsync doctor` on this deployment: exit code, stdout.
    fn doctor(&self, extra: &[&str]) -> (i32, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gwsync"));
        fake_aws_env(&mut command)
            .env_remove("GWSYNC_CONFIG")
            .env_remove("GWSYNC_STATE_DIR")
            .env_remove("GWSYNC_WEBHOOK_SECRET")
            .env("NO_COLOR", "1")
            .arg("doctor")
            .arg("--config")
            .arg(self.path("gwsync.toml"))
            .arg("--env-file")
            .arg(self.path("gwsync.env"))
            .arg("--unit")
            .arg(self.path("gwsync.service"))
            .args(extra);
        let out = command.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.contains(SECRET) && !String::from_utf8_lossy(&out.stderr).contains(SECRET),
            "doctor showed the webhook secret"
        );
        (out.status.code().unwrap(), stdout)
    }
}

/// The line of `check` in doctor's text output.
fn line<'a>(stdout: &'a str, check: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no line for {check}:\n{stdout}"))
}

#[test]
fn a_healthy_deployment_passes_every_check_against_git_and_aws() {
    let moto = MotoServer::start();
    let repo = ExampleRepo::new();
    let deployment = Deployment::new(&repo, &moto.endpoint());
    let (code, stdout) = deployment.doctor(&["--user", &me()]);
    assert_eq!(code, 0, "{stdout}");
    for (check, says) in [
        ("configuration", "loads (instance doctor-test)"),
        ("environment file", "1 variables, private"),
        ("state directory", "mode 0700"),
        ("state database", "mode 0600"),
        ("webhook secret", &format!("{} bytes", SECRET.len())),
        ("systemd unit", "LimitNOFILE 65536, TimeoutStopSec 300s"),
        ("git", &format!("is at {}", &repo.head()[..12])),
        ("aws region", REGION),
        ("aws identity", "account 123456789012"),
        ("aws resources", "0 load balancers"),
        ("aws permissions", "acm:ListCertificates"),
    ] {
        let line = line(&stdout, check);
        assert!(line.starts_with("ok "), "{line}");
        assert!(line.contains(says), "{check}: {line}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn each_broken_part_fails_with_its_fix_and_the_rest_still_runs() {
    let repo = ExampleRepo::new();
    // AWS on a port nothing listens on; the checks of this machine need none of it.
    let deployment = Deployment::new(&repo, "http://127.0.0.1:9");
    chmod(&deployment.path("state"), 0o755);
    chmod(&deployment.path("gwsync.env"), 0o644);
    std::fs::write(
        deployment.path("gwsync.env"),
        "GWSYNC_WEBHOOK_SECRET=short\n",
    )
    .unwrap();
    let unit = std::fs::read_to_string(deployment.path("gwsync.service"))
        .unwrap()
        .replace("LimitNOFILE=65536", "LimitNOFILE=100")
        .replace("TimeoutStopSec=300s", "TimeoutStopSec=30s");
    std::fs::write(deployment.path("gwsync.service"), unit).unwrap();

    let (code, stdout) = deployment.doctor(&["--user", &me(), "--offline", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    let finding = |check: &str| -> &Value {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no finding for {check}: {report:#}"))
    };
    let state = deployment.path("state");
    for (check, detail, fix) in [
        (
            "state-directory",
            "mode 0755".to_string(),
            format!("chmod 0700 {}", state.display()),
        ),
        (
            "environment-file",
            "mode 0644".to_string(),
            "chmod 0600".to_string(),
        ),
        (
            "webhook-secret",
            "shorter than 16 bytes".to_string(),
            "openssl rand".to_string(),
        ),
        (
            "systemd-unit",
            "LimitNOFILE=100 is below".to_string(),
            "LimitNOFILE=65536".to_string(),
        ),
        (
            "systemd-unit",
            "TimeoutStopSec=30s".to_string(),
            "TimeoutStopSec=300s".to_string(),
        ),
    ] {
        let f = finding(check);
        assert_eq!(f["outcome"], "fail", "{f}");
        assert!(f["detail"].as_str().unwrap().contains(&detail), "{f}");
        assert!(f["fix"].as_str().unwrap().contains(&fix), "{f}");
    }
    assert_eq!(finding("git")["outcome"], "skip");
    assert_eq!(finding("configuration")["outcome"], "pass");

    // Online: Git still answers, AWS does not, and says so in one short line.
    let (code, stdout) = deployment.doctor(&["--user", &me()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(line(&stdout, "git").starts_with("ok "), "{stdout}");
    let aws = line(&stdout, "aws identity");
    assert!(aws.starts_with("FAIL"), "{aws}");
    assert!(aws.contains("GetCallerIdentity failed"), "{aws}");
    assert!(aws.len() < 400, "one short line: {aws}");
}

#[test]
fn a_configuration_that_does_not_load_is_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gwsync.toml");
    std::fs::write(&config, "instance_id = \"ok\"\n[repo]\nbranch = 3\n").unwrap();
    let out =
        support::example::gwsync(&["doctor", "--config", config.to_str().unwrap(), "--offline"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("FAIL  configuration"), "{stdout}");
    assert!(stdout.contains("repo.branch"), "names the key: {stdout}");
}

/// With `store.url` on PostgreSQL: the password's source is checked on the host (never shown),
/// and the server is asked, without changing it, for its schema and its leader.
#[test]
fn a_postgres_store_is_checked_for_its_password_and_its_server() {
    let moto = MotoServer::start();
    let repo = ExampleRepo::new();
    let deployment = Deployment::new(&repo, &moto.endpoint());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(support::postgres::fresh_database());
    let config = deployment.path("gwsync.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[store]\nurl = \"{url}\"\npassword_env = \"GWSYNC_DB_PASSWORD\"\n"),
    )
    .unwrap();
    // The password is not in the environment file yet.
    let (code, stdout) = deployment.doctor(&["--user", &me()]);
    assert_eq!(code, 1, "{stdout}");
    let missing = line(&stdout, "state database");
    assert!(
        missing.contains("GWSYNC_DB_PASSWORD is not set"),
        "{missing}"
    );
    // Set (the test cluster trusts loopback and ignores it): the server is a fresh database,
    // which doctor leaves as it is.
    let env = deployment.path("gwsync.env");
    let mut secrets = std::fs::read_to_string(&env).unwrap();
    secrets.push_str("GWSYNC_DB_PASSWORD=not-shown-anywhere\n");
    std::fs::write(&env, secrets).unwrap();
    let (_, stdout) = deployment.doctor(&["--user", &me()]);
    assert!(
        line(&stdout, "state database").starts_with("ok "),
        "{stdout}"
    );
    let server = line(&stdout, "store server");
    assert!(server.contains("schema not made yet"), "{server}");
    assert!(!stdout.contains("not-shown-anywhere"), "{stdout}");
    // Once a gwsync opened it: up to date, nobody leads.
    runtime.block_on(async {
        let location = gwsync::store::Location::parse(&url).unwrap();
        gwsync::store::Store::at(&location, None)
            .await
            .unwrap()
            .close()
            .await;
    });
    let (_, stdout) = deployment.doctor(&["--user", &me()]);
    let server = line(&stdout, "store server");
    assert!(
        server.starts_with("ok ") && server.contains("no instance leads"),
        "{server}"
    );
}
