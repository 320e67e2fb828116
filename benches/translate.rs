//! Translation at scale: a synthetic GitOps repository of 500 teams and 10,000 HTTPRoute
//! rules, from bytes to the desired ALB stack, next to the time to only parse the same YAML.
//!
//! Run with `cargo bench --bench translate` (see docs/PERFORMANCE.md). Before the timed
//! benches, the binary checks once that the synthetic revision is fully admitted and
//! translated (every team admitted, nothing refused, every rule in the stack), so that the
//! benches measure real work, and prints the peak heap of each pipeline, measured by the
//! counting allocator below.
//!
//! Two layouts of the same 500 teams and 10,000 rules:
//! - `sharded` (the realistic one): 125 Gateways (one ALB each), 4 teams per Gateway, so each
//!   load balancer holds 80 rules and 12 target groups, inside AWS's default quotas of 100
//!   rules and 100 target groups per ALB. The translate options are the defaults.
//! - `single_gateway` (a stress case): every team on one Gateway, 10,000 rules on one ALB.
//!   AWS could not run it (100 target groups per ALB is not adjustable), so the quotas are
//!   raised in the options; it shows how translation scales with one large listener.
//!
//! A third group, `one_team_changed`, takes the `sharded` revision and a next one in which
//! one team's route changed, and compares a full admission of it with an incremental one
//! whose cache holds the previous revision (what the daemon does on each commit).

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use gwsync::alb::{Action, RuleSource, Stack};
use gwsync::config::Limits;
use gwsync::diagnostic::Severity;
use gwsync::manifest::{self, FileLoad};
use gwsync::source::{Revision, Snapshot, SourceFile};
use gwsync::tenancy::{Admission, AdmissionCache, AdmitOptions, Verdict, admit, admit_incremental};
use gwsync::translate::{RouteAges, TranslateOptions, Translation, translate};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Peak memory: a global allocator that counts live bytes and remembers the highest count.

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(size: usize) {
        let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(size: usize) {
        CURRENT.fetch_sub(size, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Counting::grew(new_size - layout.size());
            } else {
                Counting::shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap use of one run of `f`, above what was live before it: the peak while it ran, and
/// what its result still holds when it returns.
struct HeapUse {
    peak: usize,
    retained: usize,
}

fn heap_use<T>(f: impl FnOnce() -> T) -> HeapUse {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = black_box(f());
    let use_ = HeapUse {
        peak: PEAK.load(Ordering::Relaxed) - before,
        retained: CURRENT.load(Ordering::Relaxed).saturating_sub(before),
    };
    drop(out);
    use_
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

// ---------------------------------------------------------------------------------------
// The synthetic repository. Plain arithmetic, no randomness: the same bytes on every run.

const TEAMS: usize = 500;
/// HTTPRoute rules per team: 10 + 8 on HTTPS, 1 + 1 on HTTP.
const RULES_PER_TEAM: usize = 20;
const HTTPS_RULES_PER_TEAM: usize = 18;
/// Services (TargetGroupConfigurations) per team: the target groups gwsync owns.
const SERVICES_PER_TEAM: usize = 3;
/// Teams per Gateway in the sharded layout: 4 × 20 = 80 rules per ALB, under the quota.
const TEAMS_PER_SHARD: usize = 4;
const CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0f9e8d7c-6b5a-4321-9876-0123456789ab";

/// The size of a synthetic revision, for the report and the checks.
struct Shape {
    name: &'static str,
    gateways: usize,
    teams_per_gateway: usize,
}

impl Shape {
    fn sharded() -> Shape {
        Shape {
            name: "sharded",
            gateways: TEAMS.div_ceil(TEAMS_PER_SHARD),
            teams_per_gateway: TEAMS_PER_SHARD,
        }
    }

    fn single_gateway() -> Shape {
        Shape {
            name: "single_gateway",
            gateways: 1,
            teams_per_gateway: TEAMS,
        }
    }

    fn gateway_of(&self, team: usize) -> String {
        format!("public-{:03}", (team - 1) / self.teams_per_gateway + 1)
    }

    /// Translation options: AWS's defaults when the layout fits them, raised otherwise.
    fn options(&self) -> TranslateOptions {
        if self.teams_per_gateway * RULES_PER_TEAM <= 100 {
            TranslateOptions {
                instance_id: "bench".to_string(),
                ..TranslateOptions::default()
            }
        } else {
            TranslateOptions {
                instance_id: "bench".to_string(),
                rules_per_load_balancer: 20_000,
                target_groups_per_load_balancer: 20_000,
                ..TranslateOptions::default()
            }
        }
    }
}

fn tenants_yaml(shape: &Shape) -> String {
    let mut y = String::from(
        "# Who owns what: the platform and 500 teams, each in its own folder and namespace.
apiVersion: gwsync.dev/v1alpha1
kind: Tenants
platform:
  path: platform/
  namespace: platform
  owners: [\"@acme/platform\"]
teams:
",
    );
    for n in 1..=TEAMS {
        let _ = write!(
            y,
            "  - name: team-{n}
    path: teams/team-{n}/
    namespace: team-{n}
    labels: {{tier: backend, lb: {gw}}}
    owners: [\"@acme/team-{n}\"]
    hostnames: [\"team-{n}.example.com\", \"*.team-{n}.example.com\"]
    targetGroups: [\"team-{n}-*\"]
",
            gw = shape.gateway_of(n),
        );
    }
    y
}

/// One Gateway (HTTP 80 + HTTPS 443, routes from the namespaces labelled for it) and its
/// LoadBalancerConfiguration.
fn gateway_yaml(gw: &str, index: usize) -> String {
    format!(
        "# ALB {gw}: HTTP on 80 (redirected by the teams' routes), HTTPS on 443.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: {gw}
  namespace: platform
spec:
  gatewayClassName: gwsync
  infrastructure:
    parametersRef:
      group: gateway.k8s.aws
      kind: LoadBalancerConfiguration
      name: {gw}-alb
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {{lb: {gw}}}
    - name: https
      port: 443
      protocol: HTTPS
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {{lb: {gw}}}
---
apiVersion: gateway.k8s.aws/v1beta1
kind: LoadBalancerConfiguration
metadata:
  name: {gw}-alb
  namespace: platform
spec:
  loadBalancerName: acme-{gw}
  scheme: internet-facing
  ipAddressType: ipv4
  loadBalancerSubnets:
    - identifier: subnet-0a1b2c3d4e5f{a:05x}
    - identifier: subnet-0f1e2d3c4b5a{b:05x}
  securityGroups: [sg-0123456789a{index:06x}]
  listenerConfigurations:
    - protocolPort: HTTPS:443
      defaultCertificate: {CERTIFICATE}
      sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
  loadBalancerAttributes:
    - key: idle_timeout.timeout_seconds
      value: \"60\"
  tags:
    cost-center: platform
    shard: {gw}
",
        a = index * 2,
        b = index * 2 + 1,
    )
}

/// The Services a team's routes forward to, each a target group gwsync owns.
fn target_groups_yaml(n: usize) -> String {
    let mut y = String::new();
    for (i, (service, path)) in [
        ("web", "/healthz"),
        ("api", "/health"),
        ("api-canary", "/health"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            y.push_str("---\n");
        }
        let _ = write!(
            y,
            "apiVersion: gateway.k8s.aws/v1beta1
kind: TargetGroupConfiguration
metadata:
  name: {service}
  namespace: team-{n}
spec:
  targetReference:
    name: {service}
  defaultConfiguration:
    targetType: {target_type}
    protocol: HTTP
    healthCheckConfig:
      healthCheckPath: {path}
      healthCheckInterval: {interval}
      matcher:
        httpCode: \"200\"
    tags:
      team: team-{n}
",
            target_type = if (n + i).is_multiple_of(3) {
                "ip"
            } else {
                "instance"
            },
            interval = 10 + 5 * ((n + i) % 4),
        );
    }
    y
}

/// The team's HTTPS routes: `web` (10 rules) on its hostname, `api` (8 rules) on `api.`.
fn routes_yaml(n: usize, gw: &str) -> String {
    let v = n % 7 + 1;
    let canary = 5 + n % 20;
    format!(
        "# team-{n}: the web front end and the API, over HTTPS.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: team-{n}
  labels: {{app: web}}
spec:
  parentRefs:
    - name: {gw}
      namespace: platform
      sectionName: https
  hostnames: [\"team-{n}.example.com\"]
  rules:
    - matches:
        - path: {{type: Exact, value: /}}
      backendRefs:
        - {{name: web, port: 8080}}
    - matches:
        - path: {{type: Exact, value: /healthz}}
      backendRefs:
        - {{name: web, port: 8080}}
    - matches:
        - path: {{type: PathPrefix, value: /static}}
      backendRefs:
        - group: gateway.k8s.aws
          kind: TargetGroupName
          name: team-{n}-static-asg
    - matches:
        - path: {{type: PathPrefix, value: /app/v{v}}}
      backendRefs:
        - {{name: web, port: 8080}}
    # Requests that ask for the canary get it.
    - matches:
        - path: {{type: PathPrefix, value: /api}}
          headers:
            - {{name: x-canary, value: \"1\"}}
      backendRefs:
        - {{name: api-canary, port: 8080}}
    # Everyone else: a weighted split.
    - matches:
        - path: {{type: PathPrefix, value: /api}}
      backendRefs:
        - {{name: api, port: 8080, weight: {stable}}}
        - {{name: api-canary, port: 8080, weight: {canary}}}
    - matches:
        - path: {{type: PathPrefix, value: /api/v2}}
          headers:
            - {{name: x-beta, value: enrolled}}
      backendRefs:
        - {{name: api-canary, port: 8080}}
    - matches:
        - path: {{type: PathPrefix, value: /legacy}}
      backendRefs:
        - group: gateway.k8s.aws
          kind: TargetGroupName
          name: team-{n}-legacy
    - matches:
        - path: {{type: Exact, value: /old-home}}
      filters:
        - type: RequestRedirect
          requestRedirect:
            path: {{type: ReplaceFullPath, replaceFullPath: /}}
            statusCode: 301
    - backendRefs:
        - {{name: web, port: 8080}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
  labels: {{app: api}}
spec:
  parentRefs:
    - name: {gw}
      namespace: platform
      sectionName: https
  hostnames: [\"api.team-{n}.example.com\"]
  rules:
    - matches:
        - path: {{type: PathPrefix, value: /v1/users}}
      backendRefs:
        - {{name: api, port: 8080}}
    - matches:
        - path: {{type: PathPrefix, value: /v1/orders}}
      backendRefs:
        - {{name: api, port: 8080}}
    - matches:
        - path: {{type: Exact, value: /v1/status}}
      backendRefs:
        - {{name: api, port: 8080}}
    - matches:
        - path: {{type: PathPrefix, value: /v2}}
          headers:
            - {{name: x-api-version, value: \"2\"}}
      backendRefs:
        - {{name: api-canary, port: 8080}}
    - matches:
        - path: {{type: PathPrefix, value: /v2}}
      backendRefs:
        - {{name: api, port: 8080, weight: 80}}
        - {{name: api-canary, port: 8080, weight: 20}}
    - matches:
        - path: {{type: PathPrefix, value: /v1/reports}}
      backendRefs:
        - group: gateway.k8s.aws
          kind: TargetGroupName
          name: team-{n}-reports
    - matches:
        - path: {{type: PathPrefix, value: /v1/search}}
          method: GET
      backendRefs:
        - {{name: api, port: 8080}}
    - backendRefs:
        - {{name: api, port: 8080}}
",
        stable = 100 - canary,
    )
}

/// The team's HTTP routes: a permanent redirect to HTTPS per hostname.
fn redirects_yaml(n: usize, gw: &str) -> String {
    let mut y = String::new();
    for (i, (name, host)) in [
        ("web-https", format!("team-{n}.example.com")),
        ("api-https", format!("api.team-{n}.example.com")),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            y.push_str("---\n");
        }
        let _ = write!(
            y,
            "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
spec:
  parentRefs:
    - name: {gw}
      namespace: platform
      sectionName: http
  hostnames: [\"{host}\"]
  rules:
    - filters:
        - type: RequestRedirect
          requestRedirect:
            scheme: https
            statusCode: 301
"
        );
    }
    y
}

/// The whole revision, files sorted by path as `Source::snapshot` returns them.
fn snapshot(shape: &Shape) -> Snapshot {
    let mut files = vec![("tenants.yaml".to_string(), tenants_yaml(shape))];
    for g in 1..=shape.gateways {
        let gw = format!("public-{g:03}");
        files.push((format!("platform/{gw}.yaml"), gateway_yaml(&gw, g)));
    }
    for n in 1..=TEAMS {
        let gw = shape.gateway_of(n);
        let dir = format!("teams/team-{n}");
        files.push((format!("{dir}/target-groups.yaml"), target_groups_yaml(n)));
        files.push((format!("{dir}/routes.yaml"), routes_yaml(n, &gw)));
        files.push((format!("{dir}/redirects.yaml"), redirects_yaml(n, &gw)));
    }
    files.sort();
    Snapshot {
        revision: Revision {
            commit: "5eed".repeat(10),
            author: "Bench <bench@example.com>".to_string(),
            committed_at: 1_700_000_000,
            summary: "synthetic revision".to_string(),
        },
        files: files
            .into_iter()
            .map(|(path, text)| SourceFile {
                path,
                bytes: text.into_bytes(),
            })
            .collect(),
        entries_refused: Vec::new(),
        submodules: Vec::new(),
        over_limits: None,
    }
}

/// Route ages as the store would give them: every route has one, a few seconds apart.
fn ages() -> RouteAges {
    let mut ages = RouteAges::new();
    for n in 1..=TEAMS {
        for (i, route) in ["web", "api", "web-https", "api-https"].iter().enumerate() {
            ages.insert(
                format!("team-{n}/{route}"),
                1_600_000_000 + (n * 4 + i) as i64,
            );
        }
    }
    ages
}

fn admit_options() -> AdmitOptions {
    AdmitOptions {
        tenants_file: "tenants.yaml".to_string(),
        limits: Limits::default(),
        gateway_classes: vec!["gwsync".to_string()],
    }
}

// ---------------------------------------------------------------------------------------
// The pipeline stages, as the benches call them.

fn parse_all(snapshot: &Snapshot, limits: &Limits) -> Vec<FileLoad> {
    snapshot
        .files
        .iter()
        .map(|f| manifest::load_file(&f.path, &f.bytes, limits))
        .collect()
}

fn admit_and_translate(
    snapshot: &Snapshot,
    options: &AdmitOptions,
    ages: &RouteAges,
    translate_options: &TranslateOptions,
) -> (Admission, Translation) {
    let admission = admit(snapshot, options);
    let translation = translate(&admission, ages, translate_options);
    (admission, translation)
}

// ---------------------------------------------------------------------------------------
// The checks, once, outside the timed loops: the benches must measure a full translation.

fn rules_of(stack: &Stack) -> usize {
    stack
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .map(|l| l.rules.len())
        .sum()
}

fn check(shape: &Shape, snapshot: &Snapshot, admission: &Admission, translation: &Translation) {
    let loads = parse_all(snapshot, &Limits::default());
    let documents: usize = loads.iter().map(|l| l.documents.len()).sum();
    let parse_problems: usize = loads.iter().map(|l| l.diagnostics.len()).sum();
    assert_eq!(parse_problems, 0, "the synthetic YAML must parse cleanly");
    // 1 Tenants, 2 per Gateway, 3 TargetGroupConfigurations and 4 HTTPRoutes per team.
    assert_eq!(documents, 1 + 2 * shape.gateways + 7 * TEAMS);

    assert!(
        admission.revision_valid(),
        "revision refused: {:#?}",
        admission.revision_diagnostics
    );
    let platform = admission.platform.as_ref().unwrap();
    assert_eq!(platform.verdict, Verdict::Admitted);
    assert!(
        platform.diagnostics.is_empty(),
        "{:#?}",
        platform.diagnostics
    );
    assert_eq!(admission.teams.len(), TEAMS);
    for team in &admission.teams {
        assert_eq!(team.verdict, Verdict::Admitted, "{}", team.name);
        assert!(
            team.diagnostics.is_empty(),
            "{}: {:#?}",
            team.name,
            team.diagnostics
        );
        assert_eq!(team.attachments.len(), 4, "{}", team.name);
        assert!(team.attachments.values().all(|a| a.len() == 1));
    }

    assert!(
        translation.refused_teams.is_empty(),
        "{:?}",
        translation.refused_teams
    );
    assert!(translation.refused_gateways.is_empty());
    let problems: Vec<_> = translation
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Warning)
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let stack = &translation.stack;
    assert_eq!(stack.load_balancers.len(), shape.gateways);
    // Every HTTPRoute rule has one match (or none) and one hostname, so it is one ALB rule;
    // listeners have no hostname, so there are no listener-isolation rules.
    assert_eq!(rules_of(stack), TEAMS * RULES_PER_TEAM);
    let options = shape.options();
    for lb in &stack.load_balancers {
        let rules: usize = lb.listeners.iter().map(|l| l.rules.len()).sum();
        assert!(rules <= options.rules_per_load_balancer, "{}", lb.gateway);
        assert!(lb.target_groups.len() <= options.target_groups_per_load_balancer);
        let https = lb.listener(443).expect("HTTPS listener");
        assert_eq!(
            https.rules.len(),
            shape.teams_per_gateway * HTTPS_RULES_PER_TEAM
        );
        assert_eq!(https.certificates.len(), 1);
    }
    let target_groups: usize = stack
        .load_balancers
        .iter()
        .map(|lb| lb.target_groups.len())
        .sum();
    assert_eq!(target_groups, TEAMS * SERVICES_PER_TEAM);
    for rule in stack
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| &l.rules)
    {
        assert!(matches!(rule.source, Some(RuleSource::Route { .. })));
        // No fixed 500: every backend resolved.
        assert!(
            rule.actions
                .iter()
                .all(|a| matches!(a, Action::Forward { .. } | Action::Redirect { .. })),
            "{rule:?}"
        );
    }
}

/// Time on the CPU of the calling thread, in nanoseconds (Linux' schedstat): unlike the
/// wall clock, it leaves out the time the thread waited for a core that another process had.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Wall and on-CPU time of one run of `f`, in milliseconds.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    f();
    let wall = start.elapsed().as_secs_f64() * 1e3;
    let cpu = match (cpu, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e6,
        _ => f64::NAN,
    };
    (wall, cpu)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Checks one layout; with `full_report`, prints the input size, the heap peaks and a quick
/// per-stage timing.
fn report(shape: &Shape, snapshot: &Snapshot, full_report: bool) {
    let options = admit_options();
    let ages = ages();
    let topts = shape.options();
    let (admission, translation) = admit_and_translate(snapshot, &options, &ages, &topts);
    check(shape, snapshot, &admission, &translation);
    if !full_report {
        return;
    }

    let bytes: usize = snapshot.files.iter().map(|f| f.bytes.len()).sum();
    let lines: usize = snapshot
        .files
        .iter()
        .map(|f| f.bytes.iter().filter(|b| **b == b'\n').count())
        .sum();
    let routes: usize = admission.teams.iter().map(|t| t.attachments.len()).sum();
    let warnings = translation.diagnostics.len();
    eprintln!(
        "[{}] input: {TEAMS} teams, {} Gateways, {routes} HTTPRoutes, {} HTTPRoute rules, {} files, {bytes} bytes ({}) / {lines} lines of YAML",
        shape.name,
        shape.gateways,
        TEAMS * RULES_PER_TEAM,
        snapshot.files.len(),
        mib(bytes),
    );
    eprintln!(
        "[{}] output: {} load balancers, {} ALB rules, {} target groups, {warnings} warnings; options: {} rules / {} target groups per load balancer",
        shape.name,
        translation.stack.load_balancers.len(),
        rules_of(&translation.stack),
        translation
            .stack
            .load_balancers
            .iter()
            .map(|lb| lb.target_groups.len())
            .sum::<usize>(),
        topts.rules_per_load_balancer,
        topts.target_groups_per_load_balancer,
    );

    // Heap, each in a fresh run after resetting the peak to what is live before it (the
    // snapshot's bytes are live throughout and not counted).
    let parse = heap_use(|| parse_all(snapshot, &options.limits));
    let admit_only = heap_use(|| admit(snapshot, &options));
    let full = heap_use(|| admit_and_translate(snapshot, &options, &ages, &topts));
    let translate_only = heap_use(|| translate(&admission, &ages, &topts));
    eprintln!(
        "[{}] heap peak (retained): parse_floor {} ({}), admit {} ({}), admit_and_translate {} ({}), translate alone {} ({}); ratio of peaks (admit_and_translate / parse_floor) {:.2}",
        shape.name,
        mib(parse.peak),
        mib(parse.retained),
        mib(admit_only.peak),
        mib(admit_only.retained),
        mib(full.peak),
        mib(full.retained),
        mib(translate_only.peak),
        mib(translate_only.retained),
        full.peak as f64 / parse.peak as f64,
    );

    // The stages, interleaved round by round so that a slow spell of the machine (other
    // processes on the same cores) weighs on every stage alike; ratios are taken per round.
    const ROUNDS: usize = 7;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let parse = timed(|| drop(black_box(parse_all(snapshot, &options.limits))));
        let admit_ = timed(|| drop(black_box(admit(snapshot, &options))));
        let translate_ = timed(|| drop(black_box(translate(&admission, &ages, &topts))));
        let full = timed(|| {
            drop(black_box(admit_and_translate(
                snapshot, &options, &ages, &topts,
            )))
        });
        rounds.push([parse, admit_, translate_, full]);
    }
    for (clock, pick) in [
        ("wall", (|t: (f64, f64)| t.0) as fn((f64, f64)) -> f64),
        ("on-CPU", |t: (f64, f64)| t.1),
    ] {
        let stage = |i: usize| median(rounds.iter().map(|r| pick(r[i])).collect());
        let ratio = median(rounds.iter().map(|r| pick(r[3]) / pick(r[0])).collect());
        eprintln!(
            "[{}] {clock} time, median of {ROUNDS} interleaved rounds: parse_floor {:.1} ms, admit {:.1} ms (admission logic without parsing ~{:.1} ms), translate {:.1} ms, admit_and_translate {:.1} ms; ratio admit_and_translate / parse_floor {:.2} (target <= 1.5)",
            shape.name,
            stage(0),
            stage(1),
            stage(1) - stage(0),
            stage(2),
            stage(3),
            ratio,
        );
    }
}

// ---------------------------------------------------------------------------------------
// The criterion benches.

fn bench_layout(c: &mut Criterion, shape: &Shape, snapshot: &Snapshot) {
    let options = admit_options();
    let ages = ages();
    let topts = shape.options();
    let admission = admit(snapshot, &options);
    let bytes: u64 = snapshot.files.iter().map(|f| f.bytes.len() as u64).sum();

    let mut group = c.benchmark_group(shape.name);
    group
        // Iterations take hundreds of milliseconds: flat sampling keeps each bench near
        // 10 s (2 s warm-up, 10 samples of equal size).
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(bytes));
    group.bench_function(BenchmarkId::from_parameter("parse_floor"), |b| {
        b.iter(|| parse_all(black_box(snapshot), &options.limits))
    });
    group.bench_function(BenchmarkId::from_parameter("admit"), |b| {
        b.iter(|| admit(black_box(snapshot), &options))
    });
    group.bench_function(BenchmarkId::from_parameter("translate"), |b| {
        b.iter(|| translate(black_box(&admission), &ages, &topts))
    });
    group.bench_function(BenchmarkId::from_parameter("admit_and_translate"), |b| {
        b.iter(|| admit_and_translate(black_box(snapshot), &options, &ages, &topts))
    });
    group.finish();
}

/// The team whose route changes in `one_team_changed`.
const CHANGED_TEAM: usize = 250;

/// `snapshot` with one path of team 250's `web` route changed.
fn with_one_team_changed(snapshot: &Snapshot) -> Snapshot {
    let mut next = snapshot.clone();
    let path = format!("teams/team-{CHANGED_TEAM}/routes.yaml");
    let file = next.files.iter_mut().find(|f| f.path == path).unwrap();
    let text = String::from_utf8(file.bytes.clone()).unwrap();
    let changed = text.replacen("{type: Exact, value: /}", "{type: Exact, value: /home}", 1);
    assert_ne!(text, changed, "the route to change is in {path}");
    file.bytes = changed.into_bytes();
    next
}

/// Full admission of the next revision against incremental admission with the previous
/// revision cached, alone and followed by translation. With `full_report`, first prints
/// what the cache holds and the heap peak of an incremental admission.
fn bench_one_team_changed(
    c: &mut Criterion,
    shape: &Shape,
    snapshot: &Snapshot,
    full_report: bool,
) {
    let options = admit_options();
    let ages = ages();
    let topts = shape.options();
    let next = with_one_team_changed(snapshot);
    // Each incremental call gets the revision the cache did not see last, so that every
    // call reads exactly the changed team again.
    let revisions = [&next, snapshot];
    let mut cache = AdmissionCache::default();
    admit_incremental(snapshot, &options, &mut cache);
    let incremental = admit_incremental(&next, &options, &mut cache);
    assert_eq!(
        cache.stats().owners_loaded,
        [format!("team-{CHANGED_TEAM}")],
        "{}",
        cache.stats()
    );
    assert_eq!(
        serde_json::to_value(&incremental).unwrap(),
        serde_json::to_value(admit(&next, &options)).unwrap(),
        "incremental admission equals a full one"
    );
    drop(incremental);
    if full_report {
        let kept = heap_use(|| {
            let mut cache = AdmissionCache::default();
            admit_incremental(snapshot, &options, &mut cache);
            cache
        });
        let mut warm = AdmissionCache::default();
        admit_incremental(snapshot, &options, &mut warm);
        let incremental = heap_use(|| admit_incremental(&next, &options, &mut warm));
        eprintln!(
            "[one_team_changed] heap: the cache keeps {}; an incremental admission with it peaks at {} ({} retained) above it",
            mib(kept.retained),
            mib(incremental.peak),
            mib(incremental.retained),
        );
    }

    let mut group = c.benchmark_group("one_team_changed");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group.bench_function(BenchmarkId::from_parameter("admit"), |b| {
        b.iter(|| admit(black_box(&next), &options))
    });
    let mut round = 0;
    group.bench_function(BenchmarkId::from_parameter("admit_incremental"), |b| {
        b.iter(|| {
            round += 1;
            admit_incremental(black_box(revisions[round % 2]), &options, &mut cache)
        })
    });
    group.bench_function(BenchmarkId::from_parameter("admit_and_translate"), |b| {
        b.iter(|| admit_and_translate(black_box(&next), &options, &ages, &topts))
    });
    group.bench_function(
        BenchmarkId::from_parameter("admit_incremental_and_translate"),
        |b| {
            b.iter(|| {
                round += 1;
                let admission =
                    admit_incremental(black_box(revisions[round % 2]), &options, &mut cache);
                let translation = translate(&admission, &ages, &topts);
                (admission, translation)
            })
        },
    );
    group.finish();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and then only the
    // checks run before criterion's one-iteration test mode.
    let benching = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    for shape in [Shape::sharded(), Shape::single_gateway()] {
        let snapshot = snapshot(&shape);
        report(&shape, &snapshot, benching);
        bench_layout(&mut c, &shape, &snapshot);
        if shape.name == "sharded" {
            bench_one_team_changed(&mut c, &shape, &snapshot, benching);
        }
    }
    c.final_summary();
}
