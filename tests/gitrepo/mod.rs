//! Real Git repositories for admission tests: a small builder over git2 that writes tree
//! entries straight into the index (no working tree), commits them with fixed signatures,
//! and reads the result back through the real pipeline (`Source` → `Snapshot` → `admit`).
//!
//! `baseline()` is a realistic, valid GitOps repository with a platform and two teams,
//! `payments` and `orders`; tests mutate it in one place and check what admission says.
#![allow(dead_code)]

use git2::{Index, IndexEntry, IndexTime, Oid, Repository, Signature, Time};
use gwsync::config::Limits;
use gwsync::diagnostic::{Code, Diagnostic, Severity};
use gwsync::source::{Snapshot, Source};
use gwsync::tenancy::{Admission, AdmitOptions, Outcome, Verdict};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use tempfile::TempDir;

/// Committer time of the first commit; every later commit is one second later, so that
/// commit ids are the same on every run.
pub const EPOCH: i64 = 1_700_000_000;

const MODE_BLOB: u32 = 0o100644;
const MODE_SYMLINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

/// A Git repository in a temporary directory, built through its index.
pub struct TestRepo {
    dir: TempDir,
    pub repo: Repository,
    index: Index,
    commits: i64,
}

impl TestRepo {
    /// An empty repository whose `HEAD` is the unborn branch `main`.
    pub fn new() -> TestRepo {
        let dir = TempDir::new().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        repo.set_head("refs/heads/main").unwrap();
        let index = repo.index().unwrap();
        TestRepo {
            dir,
            repo,
            index,
            commits: 0,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stages a regular file.
    pub fn write(&mut self, path: &str, contents: impl AsRef<[u8]>) -> &mut TestRepo {
        self.write_bytes_path(path.as_bytes(), contents)
    }

    /// Stages a regular file whose path may not be UTF-8.
    pub fn write_bytes_path(&mut self, path: &[u8], contents: impl AsRef<[u8]>) -> &mut TestRepo {
        self.index
            .add_frombuffer(&entry(path, MODE_BLOB, Oid::ZERO_SHA1), contents.as_ref())
            .unwrap();
        self
    }

    /// Stages a regular file whose content is the blob `id`, already in the repository.
    pub fn blob_at(&mut self, path: &str, id: Oid) -> &mut TestRepo {
        self.index
            .add(&entry(path.as_bytes(), MODE_BLOB, id))
            .unwrap();
        self
    }

    /// Stages a symbolic link (mode 120000) to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut TestRepo {
        self.index
            .add_frombuffer(
                &entry(path.as_bytes(), MODE_SYMLINK, Oid::ZERO_SHA1),
                target.as_bytes(),
            )
            .unwrap();
        self
    }

    /// Stages a submodule (gitlink, mode 160000) at `commit`.
    pub fn submodule(&mut self, path: &str, commit: Oid) -> &mut TestRepo {
        self.index
            .add(&entry(path.as_bytes(), MODE_GITLINK, commit))
            .unwrap();
        self
    }

    /// Unstages a path.
    pub fn remove(&mut self, path: &str) -> &mut TestRepo {
        self.index.remove_path(Path::new(path)).unwrap();
        self
    }

    /// Unstages everything (the next commit starts from an empty tree).
    pub fn clear(&mut self) -> &mut TestRepo {
        self.index.clear().unwrap();
        self
    }

    /// Commits the index on the current branch and moves the branch to it.
    pub fn commit(&mut self, message: &str) -> Oid {
        let parent = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id());
        self.commit_with_parents(message, parent, "HEAD")
    }

    /// Commits the index as a new root commit (no parent) and forces the current branch to
    /// it: a rewritten history, as after a force-push.
    pub fn commit_root(&mut self, message: &str) -> Oid {
        let id = self.commit_with_parents(message, None, "");
        let head = self.repo.find_reference("HEAD").unwrap();
        let branch = head.symbolic_target().unwrap().unwrap().to_owned();
        self.repo.reference(&branch, id, true, "rewrite").unwrap();
        id
    }

    fn commit_with_parents(&mut self, message: &str, parent: Option<Oid>, update_ref: &str) -> Oid {
        let parent = parent.map(|id| self.repo.find_commit(id).unwrap());
        let parents: Vec<_> = parent.iter().collect();
        let when = Time::new(EPOCH + self.commits, 0);
        self.commits += 1;
        let author = Signature::new("Alice Example", "alice@example.com", &when).unwrap();
        let committer = Signature::new("Gwsync Test", "test@example.com", &when).unwrap();
        let tree_id = self.index.write_tree_to(&self.repo).unwrap();
        self.index.write().unwrap();
        let tree = self.repo.find_tree(tree_id).unwrap();
        let update = (!update_ref.is_empty()).then_some(update_ref);
        self.repo
            .commit(update, &author, &committer, message, &tree, &parents)
            .unwrap()
    }

    /// Creates branch `name` at the current commit.
    pub fn branch(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo.branch(name, &head, false).unwrap();
    }

    /// Creates a lightweight tag `name` at the current commit.
    pub fn tag(&self, name: &str) {
        let head = self
            .repo
            .head()
            .unwrap()
            .peel(git2::ObjectType::Commit)
            .unwrap();
        self.repo.tag_lightweight(name, &head, false).unwrap();
    }

    /// Creates an annotated tag `name` at the current commit, by a fixed tagger.
    pub fn tag_annotated(&self, name: &str, message: &str) {
        let head = self
            .repo
            .head()
            .unwrap()
            .peel(git2::ObjectType::Commit)
            .unwrap();
        let tagger = Signature::new("Rel Eng", "rel@example.com", &Time::new(EPOCH, 0)).unwrap();
        self.repo.tag(name, &head, &tagger, message, false).unwrap();
    }

    /// Makes `name` the current branch; the index becomes that branch's tree.
    pub fn checkout_branch(&mut self, name: &str) {
        let refname = format!("refs/heads/{name}");
        let commit = self
            .repo
            .find_reference(&refname)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        self.repo.set_head(&refname).unwrap();
        self.index.read_tree(&commit.tree().unwrap()).unwrap();
        self.index.write().unwrap();
    }

    /// The commit id of `HEAD`.
    pub fn head(&self) -> Oid {
        self.repo.head().unwrap().peel_to_commit().unwrap().id()
    }
}

fn entry(path: &[u8], mode: u32, id: Oid) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// The baseline repository.

pub const TENANTS: &str = r#"# Who owns what. Owned by the platform team.
apiVersion: gwsync.dev/v1alpha1
kind: Tenants
platform:
  path: platform/
  namespace: platform
teams:
  - name: payments
    path: teams/payments/
    namespace: payments
    labels: {tier: backend}
    hostnames: ["pay.example.com", "*.pay.example.com"]
    paths: {"api.example.com": ["/payments"]}
    targetGroups: ["payments-*"]
  - name: orders
    path: teams/orders/
    namespace: orders
    labels: {tier: backend}
    hostnames: ["orders.example.com"]
    paths: {"api.example.com": ["/orders"]}
    targetGroups: ["orders-*"]
"#;

pub const GATEWAY: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: platform
spec:
  gatewayClassName: gwsync
  infrastructure:
    parametersRef:
      group: gateway.k8s.aws
      kind: LoadBalancerConfiguration
      name: public-alb
  allowedListeners:
    namespaces:
      from: All
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {tier: backend}
    - name: https
      port: 443
      protocol: HTTPS
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {tier: backend}
"#;

pub const LOAD_BALANCER: &str = r#"apiVersion: gateway.k8s.aws/v1beta1
kind: LoadBalancerConfiguration
metadata:
  name: public-alb
  namespace: platform
spec:
  loadBalancerName: acme-public
  scheme: internet-facing
  ipAddressType: ipv4
  loadBalancerSubnets:
    - identifier: subnet-0a1b2c3d4e5f60718
    - identifier: subnet-0f1e2d3c4b5a69788
  securityGroups: [sg-0123456789abcdef0]
  listenerConfigurations:
    - protocolPort: HTTPS:443
      defaultCertificate: arn:aws:acm:us-east-1:123456789012:certificate/0f9e8d7c-6b5a-4321-9876-0123456789ab
      sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
  loadBalancerAttributes:
    - key: idle_timeout.timeout_seconds
      value: "60"
  tags:
    cost-center: platform
"#;

pub const PAYMENTS_ROUTES: &str = r#"# Payments: its own hostname over HTTPS, a redirect from HTTP, and /payments on the
# shared api.example.com.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: payments-web
  namespace: payments
spec:
  parentRefs:
    - name: public
      namespace: platform
      sectionName: https
  hostnames: ["pay.example.com", "checkout.pay.example.com"]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /api}
      backendRefs:
        - {name: payments-api, port: 8080}
    - backendRefs:
        - group: gateway.k8s.aws
          kind: TargetGroupName
          name: payments-web-asg
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: payments-https-redirect
spec:
  parentRefs:
    - name: public
      namespace: platform
      sectionName: http
  hostnames: ["pay.example.com"]
  rules:
    - filters:
        - type: RequestRedirect
          requestRedirect:
            scheme: https
            statusCode: 301
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: payments-shared-api
spec:
  parentRefs:
    - name: public
      namespace: platform
      sectionName: https
  hostnames: ["api.example.com"]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /payments}
        - path: {type: Exact, value: /payments/health}
      backendRefs:
        - {name: payments-api, port: 8080}
"#;

pub const PAYMENTS_TARGET_GROUPS: &str = r#"apiVersion: gateway.k8s.aws/v1beta1
kind: TargetGroupConfiguration
metadata:
  name: payments-api
spec:
  targetReference:
    name: payments-api
  defaultConfiguration:
    targetType: instance
    protocol: HTTP
    healthCheckConfig:
      healthCheckPath: /healthz
      matcher:
        httpCode: "200"
"#;

pub const ORDERS_ROUTES: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: orders
spec:
  parentRefs:
    - name: public
      namespace: platform
      sectionName: https
  hostnames: ["orders.example.com"]
  rules:
    - backendRefs:
        - {name: orders-api, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: orders-shared-api
  namespace: orders
spec:
  parentRefs:
    - name: public
      namespace: platform
      sectionName: https
  hostnames: ["api.example.com"]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /orders}
      backendRefs:
        - group: gateway.k8s.aws
          kind: TargetGroupName
          name: orders-asg
"#;

pub const ORDERS_TARGET_GROUPS: &str = r#"apiVersion: gateway.k8s.aws/v1beta1
kind: TargetGroupConfiguration
metadata:
  name: orders-api
spec:
  targetReference:
    name: orders-api
  defaultConfiguration:
    targetType: ip
    protocol: HTTP
    targets:
      - id: 10.0.1.15
        port: 8080
      - id: 10.0.2.15
        port: 8080
"#;

/// Every file of the baseline repository.
pub const BASELINE_FILES: &[(&str, &str)] = &[
    ("tenants.yaml", TENANTS),
    ("platform/gateway.yaml", GATEWAY),
    ("platform/lb.yaml", LOAD_BALANCER),
    ("teams/payments/routes.yaml", PAYMENTS_ROUTES),
    ("teams/payments/target-groups.yaml", PAYMENTS_TARGET_GROUPS),
    ("teams/orders/routes.yaml", ORDERS_ROUTES),
    ("teams/orders/target-groups.yaml", ORDERS_TARGET_GROUPS),
];

/// The baseline files staged, not committed yet (for tests that change them first).
pub fn baseline_staged() -> TestRepo {
    let mut repo = TestRepo::new();
    for (path, contents) in BASELINE_FILES {
        repo.write(path, contents);
    }
    repo
}

/// A valid GitOps repository with one commit on `main`: a platform with one Gateway and
/// its load balancer settings, and two teams, `payments` and `orders`.
pub fn baseline() -> TestRepo {
    let mut repo = baseline_staged();
    repo.commit("Baseline");
    repo
}

// ---------------------------------------------------------------------------------------
// The pipeline.

pub fn options(limits: Limits) -> AdmitOptions {
    AdmitOptions {
        tenants_file: "tenants.yaml".into(),
        limits,
        gateway_classes: vec!["gwsync".into()],
    }
}

/// Reads `rev` of the repository through the real source stage.
pub fn snapshot_at(repo: &TestRepo, rev: &str, limits: &Limits) -> Snapshot {
    let source = Source::open_local(repo.path()).unwrap();
    let revision = source.resolve(rev).unwrap();
    source.snapshot(&revision, limits).unwrap()
}

/// Admits `HEAD` with the default limits.
pub fn admit(repo: &TestRepo) -> Admission {
    admit_rev(repo, "HEAD")
}

/// Admits `rev` (branch, tag, SHA) with the default limits.
pub fn admit_rev(repo: &TestRepo, rev: &str) -> Admission {
    admit_with(repo, rev, Limits::default())
}

/// Admits `rev` with `limits`, used by both the snapshot and admission.
pub fn admit_with(repo: &TestRepo, rev: &str, limits: Limits) -> Admission {
    let snapshot = snapshot_at(repo, rev, &limits);
    gwsync::tenancy::admit(&snapshot, &options(limits))
}

/// The baseline with `files` written on top, committed and admitted.
pub fn admit_baseline_with(files: &[(&str, &str)]) -> Admission {
    let mut repo = baseline();
    for (path, contents) in files {
        repo.write(path, contents);
    }
    repo.commit("Mutation");
    admit(&repo)
}

// ---------------------------------------------------------------------------------------
// Assertions.

/// Documents admitted per team in the baseline, computed once.
pub fn baseline_counts() -> &'static BTreeMap<String, usize> {
    static COUNTS: OnceLock<BTreeMap<String, usize>> = OnceLock::new();
    COUNTS.get_or_init(|| {
        let adm = admit(&baseline());
        adm.teams
            .iter()
            .map(|t| (t.name.clone(), t.documents.len()))
            .collect()
    })
}

/// Every diagnostic of the admission, one per line, for failure messages.
pub fn dump(adm: &Admission) -> String {
    let mut out = Vec::new();
    for d in &adm.revision_diagnostics {
        out.push(format!("  [revision] {:?} {} {d}", d.severity, d.code));
    }
    for o in adm.platform.iter().chain(&adm.teams) {
        out.push(format!("  [{}] {:?}", o.name, o.verdict));
        for d in &o.diagnostics {
            out.push(format!("    {:?} {} {d}", d.severity, d.code));
        }
    }
    out.join("\n")
}

pub fn team<'a>(adm: &'a Admission, name: &str) -> &'a Outcome {
    adm.team(name)
        .unwrap_or_else(|| panic!("no outcome for team {name}:\n{}", dump(adm)))
}

/// Asserts every team but `except` is admitted with its baseline documents and no problem
/// worse than a warning.
pub fn assert_others_untouched(adm: &Admission, except: &str) {
    let counts = baseline_counts();
    assert_eq!(
        adm.teams.len(),
        counts.len(),
        "every team has an outcome:\n{}",
        dump(adm)
    );
    for other in adm.teams.iter().filter(|t| t.name != except) {
        assert_eq!(
            other.verdict,
            Verdict::Admitted,
            "team {} must stay admitted:\n{}",
            other.name,
            dump(adm)
        );
        assert_eq!(
            other.documents.len(),
            counts[&other.name],
            "team {} keeps its baseline documents:\n{}",
            other.name,
            dump(adm)
        );
        assert!(
            !other.has_errors(),
            "team {} has no errors:\n{}",
            other.name,
            dump(adm)
        );
    }
}

/// Finds the one diagnostic with this code, severity, file and field in `diagnostics`.
/// `field: None` asks for a diagnostic without a field; `Some(f)` for one whose field
/// contains `f`.
fn find<'a>(
    adm: &Admission,
    diagnostics: &'a [Diagnostic],
    code: Code,
    severity: Severity,
    file: &str,
    field: Option<&str>,
) -> &'a Diagnostic {
    diagnostics
        .iter()
        .find(|d| {
            d.code == code
                && d.severity == severity
                && d.file.as_deref() == Some(file)
                && match field {
                    None => d.field.is_none(),
                    Some(f) => d.field.as_deref().is_some_and(|x| x.contains(f)),
                }
        })
        .unwrap_or_else(|| {
            panic!(
                "expected {severity:?} {code} in {file} (field {field:?}); got:\n{}",
                dump(adm)
            )
        })
}

/// Asserts that `team_name` is refused because of a `code` refusal in `file` at `field`,
/// that the revision is still valid and that every other team is untouched. Returns the
/// diagnostic for further checks.
pub fn assert_refused<'a>(
    adm: &'a Admission,
    team_name: &str,
    code: Code,
    file: &str,
    field: Option<&str>,
) -> &'a Diagnostic {
    assert!(adm.revision_valid(), "revision stays valid:\n{}", dump(adm));
    let outcome = team(adm, team_name);
    assert_eq!(
        outcome.verdict,
        Verdict::Refused,
        "team {team_name} must be refused:\n{}",
        dump(adm)
    );
    assert!(
        outcome.documents.is_empty(),
        "a refused team admits nothing"
    );
    assert!(
        outcome.attachments.is_empty(),
        "a refused team attaches nothing"
    );
    let d = find(
        adm,
        &outcome.diagnostics,
        code,
        Severity::Refusal,
        file,
        field,
    );
    assert_eq!(
        d.team.as_deref(),
        Some(team_name),
        "diagnostic names the team: {d}"
    );
    assert_others_untouched(adm, team_name);
    d
}

/// Asserts that `team_name` stays admitted with a `code` error in `file` at `field`, and
/// that every other team is untouched.
pub fn assert_route_error<'a>(
    adm: &'a Admission,
    team_name: &str,
    code: Code,
    file: &str,
    field: Option<&str>,
) -> &'a Diagnostic {
    assert!(adm.revision_valid(), "revision stays valid:\n{}", dump(adm));
    let outcome = team(adm, team_name);
    assert_eq!(
        outcome.verdict,
        Verdict::Admitted,
        "team {team_name} must stay admitted:\n{}",
        dump(adm)
    );
    assert!(
        !outcome
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Refusal),
        "team {team_name} has no refusal:\n{}",
        dump(adm)
    );
    let d = find(
        adm,
        &outcome.diagnostics,
        code,
        Severity::Error,
        file,
        field,
    );
    assert_eq!(
        d.team.as_deref(),
        Some(team_name),
        "diagnostic names the team: {d}"
    );
    assert_others_untouched(adm, team_name);
    d
}

/// Asserts a warning in `team_name`'s outcome (which stays admitted).
pub fn assert_warning<'a>(
    adm: &'a Admission,
    team_name: &str,
    code: Code,
    file: &str,
    field: Option<&str>,
) -> &'a Diagnostic {
    assert!(adm.revision_valid(), "revision stays valid:\n{}", dump(adm));
    let outcome = team(adm, team_name);
    assert_eq!(outcome.verdict, Verdict::Admitted, "{}", dump(adm));
    assert!(!outcome.has_errors(), "only warnings:\n{}", dump(adm));
    find(
        adm,
        &outcome.diagnostics,
        code,
        Severity::Warning,
        file,
        field,
    )
}

/// Asserts that the whole revision is refused because of a `code` refusal in `file`,
/// reported either against the revision (tenants file) or against the platform.
pub fn assert_revision_refused<'a>(adm: &'a Admission, code: Code, file: &str) -> &'a Diagnostic {
    assert!(
        !adm.revision_valid(),
        "revision must be refused:\n{}",
        dump(adm)
    );
    assert!(adm.teams.is_empty(), "no team is decided:\n{}", dump(adm));
    let platform = adm.platform.iter().flat_map(|p| &p.diagnostics);
    adm.revision_diagnostics
        .iter()
        .chain(platform)
        .find(|d| {
            d.code == code && d.severity == Severity::Refusal && d.file.as_deref() == Some(file)
        })
        .unwrap_or_else(|| panic!("expected refusal {code} in {file}; got:\n{}", dump(adm)))
}
