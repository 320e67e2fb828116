//! The example GitOps repository as a real Git repository in a temp dir, and the real
//! `gwsync` binary to run against it: what the CLI tests start from.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the example's load balancer is declared.
pub const LOAD_BALANCER_FILE: &str = "platform/loadbalancer.yaml";
/// The certificate `platform/loadbalancer.yaml` names in the example (replaced by moto's).
pub const EXAMPLE_CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0f9e8d7c-6b5a-4321-9876-0123456789ab";
/// Target groups the example forwards to that exist before gwsync, as an Auto Scaling
/// group's would.
pub const EXISTING_TARGET_GROUPS: [&str; 2] = ["orders-asg", "payments-web-asg"];

/// A Git repository holding a copy of `examples/gitops-repo`, committed once.
pub struct ExampleRepo {
    dir: tempfile::TempDir,
    repo: git2::Repository,
    commits: i64,
}

impl ExampleRepo {
    pub fn new() -> ExampleRepo {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&example_dir(), dir.path());
        // Tests keep gwsync's state database in the repository's folder, never in Git.
        std::fs::write(dir.path().join(".gitignore"), ".gwsync-state/\n").unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let mut example = ExampleRepo {
            dir,
            repo,
            commits: 0,
        };
        example.commit("example");
        example
    }

    /// The example with `platform/loadbalancer.yaml` pointed at `network`'s subnets,
    /// security group and certificate, committed: what tests against moto start from.
    pub fn in_network(network: &super::moto::Network) -> ExampleRepo {
        let mut repo = ExampleRepo::new();
        let certificate = network.certificate.as_deref().expect("a certificate");
        for (from, to) in [
            ("subnet-0a1b2c3d4e5f60718", network.subnets[0].as_str()),
            ("subnet-0f1e2d3c4b5a69788", network.subnets[1].as_str()),
            ("sg-0123456789abcdef0", network.security_group.as_str()),
            (EXAMPLE_CERTIFICATE, certificate),
        ] {
            repo.edit(LOAD_BALANCER_FILE, from, to);
        }
        repo.commit("the load balancer in moto's network");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Replaces `from` (which must be there) with `to` in `file`.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path().join(file)).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        self.write(file, &text.replace(from, to));
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path().join(file)).unwrap();
    }

    /// Commits every change; each commit is a minute after the previous one, so that route
    /// ages differ.
    pub fn commit(&mut self, message: &str) {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let time = git2::Time::new(1_700_000_000 + 60 * self.commits, 0);
        let sig = git2::Signature::new("Test", "test@example.com", &time).unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap();
        self.commits += 1;
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        self.repo
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
            .to_string()
    }

    /// The current branch's name.
    pub fn branch(&self) -> String {
        self.repo.head().unwrap().shorthand().unwrap().to_string()
    }
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops-repo")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the real binary, without any configuration from the environment.
pub fn gwsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gwsync"))
        .args(args)
        .env_remove("GWSYNC_CONFIG")
        .output()
        .unwrap()
}
