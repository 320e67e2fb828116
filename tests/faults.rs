//! gwsync under faults and crashes, through the real binary, against moto behind the
//! fault-injecting proxy (`scripts/fault_proxy.py`): a seeded share of AWS calls is throttled,
//! answered 500 or 503, delayed, or has its connection dropped before or after it reached
//! moto. Every world also holds a load balancer made by hand, which must come out untouched.
//!
//! These are the small variants CI runs (the example repository, a few seeds, a few kill
//! points); `scripts/reliability` runs the large ones, and docs/RELIABILITY.md has the
//! figures.

mod support;

use aws_sdk_elasticloadbalancingv2 as elb;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::aws_state::{hand_made_load_balancer, load_balancer_snapshot, owned_inventory};
use support::example::{EXISTING_TARGET_GROUPS, ExampleRepo};
use support::fault_proxy::FaultProxy;
use support::moto::{MotoServer, REGION, fake_aws_env};

const INSTANCE: &str = "faults-test";

/// A count from the environment (`scripts/reliability` raises them), or `default`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs of `gwsync apply` that a seed may need at 30% faults before it converges (on the
/// example every seed converges in one; the second is slack).
const RUNS_AT_30_PERCENT: usize = 2;

struct World {
    /// Kept alive for the world's lifetime.
    _moto: MotoServer,
    proxy: FaultProxy,
    repo: ExampleRepo,
    elb: elb::Client,
    dir: tempfile::TempDir,
    hand_made: String,
    hand_made_snapshot: String,
}

impl World {
    async fn start(rate: f64, seed: u64) -> World {
        let moto = MotoServer::start();
        let network = moto.create_network(&EXISTING_TARGET_GROUPS, Some("example.com"));
        let repo = ExampleRepo::in_network(&network);
        let elb = moto.elbv2_client().await;
        let hand_made = hand_made_load_balancer(
            &elb,
            &network.subnets,
            &network.security_group,
            &network.vpc,
            vec![],
        )
        .await
        .load_balancer;
        let hand_made_snapshot = load_balancer_snapshot(&elb, &hand_made).await;
        let proxy = FaultProxy::start(&moto.endpoint(), rate, seed);
        let world = World {
            _moto: moto,
            proxy,
            repo,
            elb,
            dir: tempfile::tempdir().unwrap(),
            hand_made,
            hand_made_snapshot,
        };
        world.write_config("");
        world
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("gwsync.toml")
    }

    /// gwsync's configuration: the repository, a state directory, AWS through the proxy,
    /// and `daemon` added to the `[daemon]` table.
    fn write_config(&self, daemon: &str) {
        let text = format!(
            r#"instance_id = "{INSTANCE}"
state_dir = "{state}"

[repo]
path = "{repo}"
branch = "{branch}"
poll_interval = "1s"

[aws]
region = "{REGION}"
endpoint_url = "{endpoint}"
writes_per_second = 50
write_burst = 50

[daemon]
drift_interval = "0s"
{daemon}
"#,
            state = self.dir.path().join("state").display(),
            repo = self.repo.path().display(),
            branch = self.repo.branch(),
            endpoint = self.proxy.endpoint(),
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gwsync"));
        command
            .args(["--config", self.config_path().to_str().unwrap()])
            .args(args)
            .env_remove("GWSYNC_CONFIG")
            .env_remove("GWSYNC_STATE_DIR")
            .env_remove("GWSYNC_INSTANCE_ID")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("RUST_LOG");
        fake_aws_env(&mut command);
        command
    }

    fn gwsync(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().expect("run gwsync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// `gwsync apply` until it succeeds, at most `bound` runs; how many it took.
    fn apply_until_converged(&self, bound: usize) -> usize {
        for run in 1..=bound {
            let (code, stdout, stderr) = self.gwsync(&["apply", "--auto-approve"]);
            eprintln!("run {run}: exit {code}\n{stdout}{stderr}");
            if code == 0 {
                return run;
            }
        }
        panic!("not converged after {bound} runs");
    }

    /// With the faults off: nothing left to plan, every owned resource exactly once, the
    /// hand-made load balancer as it was.
    async fn assert_converged_once(&self) {
        self.proxy.set_rate(0.0);
        let (code, stdout, stderr) = self.gwsync(&["plan"]);
        assert_eq!(code, 0, "nothing left to do:\n{stdout}{stderr}");
        let inventory = owned_inventory(&self.elb, INSTANCE).await;
        assert!(!inventory.is_empty());
        let twins: BTreeMap<&String, &usize> = inventory.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twins.is_empty(), "twins on AWS: {twins:?}");
        assert_eq!(
            load_balancer_snapshot(&self.elb, &self.hand_made).await,
            self.hand_made_snapshot,
            "the hand-made load balancer is untouched"
        );
    }
}

/// At 30% faults, `apply` converges within a few runs for five seeds, with no twin and
/// nothing foreign touched.
#[tokio::test(flavor = "multi_thread")]
async fn apply_converges_under_30_percent_faults() {
    let mut runs = Vec::new();
    let first = knob("GWSYNC_FAULT_FIRST_SEED", 1);
    for seed in first..first + knob("GWSYNC_FAULT_SEEDS", 5) {
        let started = Instant::now();
        let w = World::start(0.3, seed).await;
        let needed = w.apply_until_converged(RUNS_AT_30_PERCENT);
        let counts = w.proxy.counts();
        w.assert_converged_once().await;
        eprintln!(
            "seed {seed}: converged in {needed} run(s), {:?}; proxy: {counts}",
            started.elapsed()
        );
        runs.push(needed);
    }
    eprintln!("runs per seed at 30%: {runs:?}");
}

/// An AWS that refused DescribeTags calls naming several kinds of resource (its API reference
/// allows them; this guards the reading): each process has one call refused, says so once,
/// reads one kind a call from then on, and applies and plans as it would otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn describe_tags_one_kind_a_call_when_aws_refuses_mixed_kinds() {
    let w = World::start(0.0, 0).await;
    w.proxy.refuse_mixed_tags(true);
    const WARNING: &str = "AWS refused a DescribeTags call naming several kinds";
    for (args, what) in [
        (&["apply", "--auto-approve"][..], "the first apply"),
        (&["plan"][..], "a converged plan"),
    ] {
        let before = w.proxy.counts()["refused_mixed_tags"].as_u64().unwrap();
        let (code, stdout, stderr) = w.gwsync(args);
        assert_eq!(code, 0, "{what}:\n{stdout}{stderr}");
        let refused = w.proxy.counts()["refused_mixed_tags"].as_u64().unwrap() - before;
        assert_eq!(refused, 1, "{what}: one refused call, then one kind a call");
        assert_eq!(
            stderr.matches(WARNING).count(),
            1,
            "{what}: said once:\n{stderr}"
        );
    }
    w.assert_converged_once().await;
}

/// At 50% faults the daemon keeps running and converges once the faults stop.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_rides_out_50_percent_faults_and_converges_after() {
    let w = World::start(0.5, 42).await;
    let port = support::moto::free_port();
    w.write_config(&format!(
        "listen = \"127.0.0.1:{port}\"\napply_retries = 1000\nretry_backoff = \"200ms\"\nretry_backoff_max = \"1s\""
    ));
    let mut daemon: Child = w
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(w.dir.path().join("daemon.log")).unwrap())
        .spawn()
        .expect("start the daemon");
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon keeps running under 50% faults:\n{}",
        std::fs::read_to_string(w.dir.path().join("daemon.log")).unwrap_or_default()
    );
    let counts = w.proxy.counts();
    assert!(counts["requests"].as_u64().unwrap() > 10, "{counts}");
    w.proxy.set_rate(0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, _, _) = w.gwsync(&["plan"]);
        if code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not converged a minute after the faults stopped"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    w.assert_converged_once().await;
    eprintln!("proxy at 50%: {counts}");
}

/// `apply` killed (SIGKILL) at ten seeded points of its run converges with the next run:
/// no twin, no orphan, and the killed apply is closed as `interrupted` in the history.
#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_anywhere_converges_on_the_next_run() {
    // Where to kill: after the n-th call that reached moto, for ten seeded n over the
    // first apply's calls (about 20 on the example: its reads, then 13 writes).
    let points: Vec<u64> = {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..knob("GWSYNC_KILL_POINTS", 10))
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                3 + (state >> 33) % 16
            })
            .collect()
    };
    for (i, &after) in points.iter().enumerate() {
        let w = World::start(0.0, 0).await;
        let mut apply = w
            .command(&["apply", "--auto-approve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = loop {
            if let Some(status) = apply.try_wait().unwrap() {
                break !status.success();
            }
            if w.proxy.counts()["forwarded"].as_u64().unwrap() >= after {
                apply.kill().unwrap();
                apply.wait().unwrap();
                break true;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
        assert_eq!(code, 0, "point {i} (after {after} calls): {stdout}{stderr}");
        w.assert_converged_once().await;
        let (_, history, _) = w.gwsync(&["history"]);
        assert!(
            !history.contains("unfinished"),
            "point {i}: the killed apply is closed: {history}"
        );
        eprintln!("point {i}: killed after {after} calls: {killed}");
    }
}
