//! A moto server per test: the AWS stand-in for integration tests.
//!
//! [`MotoServer::start`] runs moto's standalone server (installed into `.venv/` by
//! `scripts/test`) on a free port of 127.0.0.1 and waits until it answers HTTP; dropping the
//! value kills it. Moto keeps all state in memory, so each test starting its own server gets
//! an empty, isolated "account". The real Rust SDK clients are pointed at it with an endpoint
//! override; nothing here fakes AWS by hand.
//!
//! What this leaves to the tests: moto accepts many requests that real AWS rejects (limits,
//! some validation), so tests must not take moto's acceptance as proof that AWS would agree.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_elasticloadbalancingv2::config::Credentials;

/// Environment variable naming the `moto_server` executable; set by `scripts/test`.
pub const MOTO_SERVER_ENV: &str = "GWSYNC_MOTO_SERVER";

/// Moto's default region; its EC2 backend has the us-east-1a.. zones there.
pub const REGION: &str = "us-east-1";

/// How long moto may take to answer its first request (it imports a lot of Python).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Attempts at finding a port when another process takes ours between probe and bind.
const PORT_ATTEMPTS: usize = 5;

/// A running moto server, killed on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
    log_path: PathBuf,
    // Holds the log file's directory alive for as long as the server.
    _log_dir: tempfile::TempDir,
}

/// What [`MotoServer::create_network`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub vpc: String,
    /// Two subnets, in us-east-1a and us-east-1b.
    pub subnets: Vec<String>,
    pub security_group: String,
    /// Name -> ARN of the target groups made outside gwsync.
    pub target_groups: BTreeMap<String, String>,
    /// ARN of the ACM certificate, when one was asked for.
    pub certificate: Option<String>,
}

/// Gives a `gwsync` process moto's fake credentials and nothing of the machine's AWS set-up
/// (profiles, config files, the instance metadata service).
pub fn fake_aws_env(command: &mut std::process::Command) -> &mut std::process::Command {
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        )
}

impl MotoServer {
    /// Starts a fresh moto server and waits until it serves requests.
    ///
    /// Panics (failing the test) if moto is not installed or does not come up.
    pub fn start() -> MotoServer {
        let program = moto_server_path();
        let log_dir = tempfile::Builder::new()
            .prefix("gwsync-moto-")
            .tempdir()
            .expect("create temp dir for the moto log");

        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let log_path = log_dir.path().join(format!("moto-{port}.log"));
            let log = File::create(&log_path).expect("create moto log file");
            let mut child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("PYTHONUNBUFFERED", "1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone moto log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));

            match wait_ready(&mut child, port, &log_path) {
                Ok(()) => {
                    return MotoServer {
                        child,
                        port,
                        log_path,
                        _log_dir: log_dir,
                    };
                }
                // Another process took the port between our probe and moto's bind.
                Err(Exit::PortTaken) if attempt < PORT_ATTEMPTS => {
                    let _ = child.wait();
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto server ({}) on port {port} did not come up: {why}\n\
                         --- moto log tail ---\n{}",
                        program.display(),
                        log_tail(&log_path, 40)
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The base URL to point SDK clients at, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Shared SDK configuration: region us-east-1, static test credentials, moto endpoint.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    pub async fn elbv2_client(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk_config().await)
    }

    pub async fn acm_client(&self) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.sdk_config().await)
    }

    /// Creates what an ALB needs around it in moto's EC2: a VPC (10.0.0.0/16), two subnets
    /// in us-east-1a and us-east-1b (ALBs need two zones), and a security group. Done by
    /// `scripts/moto-network.py` with boto3 from moto's virtualenv, the same script the demo
    /// uses, so that no EC2 SDK is compiled for it.
    ///
    /// Returns `(vpc_id, subnet_ids, security_group_id)`.
    pub fn create_vpc_and_subnets(&self) -> (String, Vec<String>, String) {
        let network = self.create_network(&[], None);
        (network.vpc, network.subnets, network.security_group)
    }

    /// [`MotoServer::create_vpc_and_subnets`], plus target groups made outside gwsync (as an
    /// Auto Scaling group's would be: HTTP port 80, instance targets, in the VPC, no tags)
    /// named `target_groups`, and, with `certificate`, an ACM certificate requested for that
    /// domain and its wildcard. Same script (`--target-group NAME`, `--certificate DOMAIN`).
    pub fn create_network(&self, target_groups: &[&str], certificate: Option<&str>) -> Network {
        let python = moto_server_path().with_file_name("python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto-network.py");
        let mut command = Command::new(&python);
        command.arg(&script).arg(self.endpoint());
        for name in target_groups {
            command.args(["--target-group", name]);
        }
        if let Some(domain) = certificate {
            command.args(["--certificate", domain]);
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "scripts/moto-network.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ids: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("moto-network.py prints JSON");
        let text = |v: &serde_json::Value| v.as_str().expect("an id").to_owned();
        let network = Network {
            vpc: text(&ids["vpc"]),
            subnets: ids["subnets"]
                .as_array()
                .expect("subnets")
                .iter()
                .map(text)
                .collect(),
            security_group: text(&ids["security_group"]),
            target_groups: ids["target_groups"]
                .as_object()
                .map(|groups| groups.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                .unwrap_or_default(),
            certificate: ids.get("certificate").map(text),
        };
        assert_eq!(
            network.target_groups.len(),
            target_groups.len(),
            "moto-network.py made every target group asked for: {ids}"
        );
        assert_eq!(
            network.certificate.is_some(),
            certificate.is_some(),
            "moto-network.py made the certificate asked for: {ids}"
        );
        network
    }

    /// The last `lines` lines of moto's output (request log, tracebacks).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // A failing test shows moto's side of the story next to its own panic.
        if std::thread::panicking() {
            eprintln!(
                "--- moto log tail ({}) ---\n{}",
                self.endpoint(),
                self.log_tail(40)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
enum Exit {
    PortTaken,
    Exited(String),
    Timeout,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::PortTaken => write!(f, "its port was taken by another process"),
            Exit::Exited(status) => write!(f, "it exited early ({status})"),
            Exit::Timeout => write!(f, "no HTTP answer within {READY_TIMEOUT:?}"),
        }
    }
}

/// Polls until moto answers HTTP, exits, or runs out of time.
fn wait_ready(child: &mut Child, port: u16, log_path: &Path) -> Result<(), Exit> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Some(status) = child.try_wait().expect("poll moto process") {
            let port_taken = log_tail(log_path, 40).contains("Address already in use");
            return Err(if port_taken {
                Exit::PortTaken
            } else {
                Exit::Exited(status.to_string())
            });
        }
        if answers_http(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Exit::Timeout);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of a moto log, without werkzeug's terminal colours.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = strip_ansi(&fs::read_to_string(path).unwrap_or_default());
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Drops `ESC [ ... m` colour sequences, the only escapes werkzeug writes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `GWSYNC_MOTO_SERVER`, else `.venv/bin/gwsync-moto-server` in the crate root (written by
/// `scripts/ensure-moto`: moto's server with the patches of `scripts/moto_server.py`).
pub fn moto_server_path() -> PathBuf {
    let from_env = std::env::var_os(MOTO_SERVER_ENV).map(PathBuf::from);
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/gwsync-moto-server");
    match from_env {
        Some(path) if path.is_file() => path,
        Some(path) => panic!(
            "{MOTO_SERVER_ENV}={} does not exist; run `scripts/test` to install moto",
            path.display()
        ),
        None if local.is_file() => local,
        None => panic!(
            "moto_server not found ({MOTO_SERVER_ENV} unset, no {}): \
             run the tests with `scripts/test`, which installs moto into .venv/",
            local.display()
        ),
    }
}

/// A port that was free a moment ago (the OS picks it; there is a window for a race).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a probe socket on 127.0.0.1:0")
        .port()
}

/// Whether something on `addr` answers `GET /moto-api/` with any HTTP response.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}
