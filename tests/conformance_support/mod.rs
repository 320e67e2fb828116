//! The harness behind `tests/conformance.rs`: Gateway API conformance cases run through
//! gwsync's real pipeline.
//!
//! The data is `../shared/conformance` (see its README for the format and the upstream
//! semantics). For one test folder the harness
//!
//! 1. **builds a gwsync repository** from `manifest.yaml` and `_base/services.yaml`
//!    ([`repo_files`]): Gateways in `platform/` (HTTPS listeners find their certificates in
//!    ACM by their own or their routes' hostnames; only a listener with neither names an ARN,
//!    in a LoadBalancerConfiguration), every other document in `teams/<namespace>/`, one team
//!    per namespace with that namespace's labels, and one TargetGroupConfiguration per Service;
//! 2. **commits it with git2** and reads it back through `Source` → `snapshot` → `admit` →
//!    `translate` ([`Pipeline::run`]), once per phase (HTTPRouteReferenceGrant deletes its
//!    ReferenceGrant in its second phase);
//! 3. **sends every case** to the load balancer of the case's Gateway with the ALB evaluator
//!    (in the live run, [`run_on_moto`], the load balancer as `observe` reads it back from
//!    moto after the revision was planned and applied, and the next plan is empty)
//!    and compares the answer with the upstream expectation ([`check_expectation`]). Cases that
//!    ALB cannot express (`alb_expressible: false`) must be refused, or warned about, or
//!    happen to be answered right ([`judge`]); caveat cases pass when refused with a named
//!    error;
//! 4. **checks the status assertions** that map onto gwsync's attachment decisions
//!    ([`check_status`]);
//! 5. panics with one report naming every failing case, with the request, the expectation,
//!    the evaluator's answer as JSON and the rules of the listener ([`Report`]).

use crate::support::certificates;
use crate::support::moto::{MotoServer, Network};
use git2::{IndexEntry, IndexTime, Oid, Repository, Signature, Time};
use gwsync::alb::evaluate::{Answer, Outcome, Request, evaluate};
use gwsync::alb::{Action, Condition, LoadBalancer, Patterns, Rule, RuleSource, Stack, Transform};
use gwsync::aws::apply::apply;
use gwsync::aws::client::{Clients, RateLimits};
use gwsync::aws::observe::observe;
use gwsync::config::Limits;
use gwsync::diagnostic::{Diagnostic, Severity};
use gwsync::plan::render;
use gwsync::reconcile::{Observing, PlanFor, live_plan};
use gwsync::source::{Revision, Source};
use gwsync::tenancy::{Admission, AdmitOptions, ParentKind, admit};
use gwsync::translate::{RouteAges, TranslateOptions, Translation, translate};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The namespace of the platform: every upstream Gateway lives there.
const PLATFORM_NAMESPACE: &str = "gateway-conformance-infra";
/// The gateway class gwsync is configured with; `{GATEWAY_CLASS_NAME}` becomes this.
const GATEWAY_CLASS: &str = "gwsync";
/// The `gwsync.dev/instance` of the live run.
const INSTANCE: &str = "conformance";
/// The phase of every case that names none.
const INITIAL_PHASE: &str = "initial";

// ---------------------------------------------------------------------------------------
// Entry points.

/// Runs every case and status assertion of one conformance folder on the translated
/// desired state; panics with a report of every failure.
pub fn run(folder: &str) {
    run_folder(folder, None);
}

/// The same cases against moto: each phase is planned against AWS, applied through the real
/// SDK and read back by `observe`; the evaluator answers from the rules AWS holds, and the
/// next plan must be empty. HTTPS listeners get their certificates by discovery, from an ACM
/// certificate imported for every hostname the folder names.
pub fn run_on_moto(folder: &str) {
    let live = Live::start();
    run_folder(folder, Some(&live));
}

fn run_folder(folder: &str, live: Option<&Live>) {
    let data = Folder::load(folder);
    let mut report = Report::new(folder);
    let platform = match live {
        None => Platform::offline(),
        Some(live) => Platform {
            network: Some(&live.network),
            certificate_arn: live.import_certificate(&data.documents_for(INITIAL_PHASE)),
        },
    };
    for phase in data.phases() {
        let docs = data.documents_for(&phase);
        let mut pipeline = Pipeline::run(&repo_files(&docs, &data.services, &platform));
        if let Some(live) = live {
            pipeline.live = Some(live.apply(&pipeline));
        }
        report.diagnostics(
            &phase,
            &pipeline.diagnostics(),
            &pipeline.translation.refused_teams,
        );
        let routes = RouteIndex::new(&docs);
        for case in data.cases.iter().filter(|c| c.phase() == phase) {
            let (verdict, answer) = judge(case, &pipeline, &routes);
            report.case(case, verdict, answer, &pipeline);
        }
        if phase == INITIAL_PHASE {
            for expectation in &data.meta.status_expectations {
                report.status(expectation, check_status(expectation, &pipeline, &routes));
            }
        }
    }
    assert_eq!(
        report.cases,
        data.cases.len(),
        "{folder}: some cases name a phase that test.yaml does not list"
    );
    report.finish();
}

/// moto with a network, and gwsync's clients for it (no rate limits).
struct Live {
    runtime: tokio::runtime::Runtime,
    clients: Clients,
    network: Network,
    moto: MotoServer,
}

impl Live {
    fn start() -> Live {
        let moto = MotoServer::start();
        let network = moto.create_network(&[], None);
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let sdk = runtime.block_on(moto.sdk_config());
        let unlimited = RateLimits {
            read_per_second: 0,
            read_burst: 0,
            write_per_second: 0,
            write_burst: 0,
        };
        Live {
            clients: Clients::from_sdk_config(&sdk, unlimited),
            runtime,
            network,
            moto,
        }
    }

    /// One ACM certificate for every hostname of the folder's HTTPS listeners and routes (and
    /// `example.org`, for a listener with nothing to find one by), so that discovery finds
    /// what each HTTPS listener needs; its ARN.
    fn import_certificate(&self, documents: &[Value]) -> String {
        let listeners = |doc: &Value| -> Vec<Value> {
            doc["spec"]["listeners"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        };
        let https: Vec<Value> = documents
            .iter()
            .filter(|d| matches!(kind(d), "Gateway" | "ListenerSet"))
            .flat_map(listeners)
            .filter(|l| l["protocol"].as_str() == Some("HTTPS"))
            .collect();
        let names: BTreeSet<String> = https
            .iter()
            .filter_map(|l| l["hostname"].as_str().map(str::to_string))
            .chain(
                documents
                    .iter()
                    .filter(|d| kind(d) == "HTTPRoute")
                    .flat_map(|d| {
                        d["spec"]["hostnames"]
                            .as_sequence()
                            .cloned()
                            .unwrap_or_default()
                    })
                    .filter_map(|h| h.as_str().map(str::to_string)),
            )
            .chain(["example.org".to_string()])
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.runtime.block_on(async {
            let acm = self.moto.acm_client().await;
            certificates::import_self_signed(&acm, "rsa", &names).await
        })
    }

    /// Plans the pipeline's revision against moto, applies it, checks that the next plan is
    /// empty, and returns what AWS holds.
    fn apply(&self, pipeline: &Pipeline) -> Stack {
        let nothing_held = BTreeMap::new();
        self.runtime.block_on(async {
            let plan = || {
                let wanted = PlanFor {
                    revision: &pipeline.revision,
                    admission: &pipeline.admission,
                    translation: &pipeline.translation,
                    held: &nothing_held,
                    rules_quota: 100,
                };
                live_plan(&self.clients, INSTANCE, wanted, Observing::Everything)
            };
            let live = plan().await.expect("plan against moto");
            let mut ids = live.ids;
            let report = apply(&self.clients, &live.plan, &mut ids, INSTANCE).await;
            assert!(report.succeeded(), "apply on moto:\n{}", report.render());
            let next = plan().await.expect("plan against moto, again");
            assert!(
                next.plan.is_empty(),
                "converged on moto, yet the next plan has changes:\n{}",
                render::text(&next.plan)
            );
            let (observed, _) = observe(&self.clients, INSTANCE)
                .await
                .expect("observe moto");
            observed.stack
        })
    }
}

/// Checks that the folders the tests run are exactly the tests of `index.yaml`, and that the
/// case counts add up.
pub fn check_index(folders: &[&str], tests: usize, cases: usize) {
    #[derive(Deserialize)]
    struct Entry {
        test: String,
        cases: usize,
        cases_not_expressible_on_alb: usize,
    }
    let dir = conformance_dir();
    let index: Vec<Entry> = read_yaml(&dir.join("index.yaml"));
    let listed: BTreeSet<&str> = index.iter().map(|e| e.test.as_str()).collect();
    let run: BTreeSet<&str> = folders.iter().copied().collect();
    assert_eq!(
        listed, run,
        "the tests in tests/conformance.rs must be exactly the tests of index.yaml"
    );
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("list the conformance folder")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .filter(|name| !name.starts_with('_'))
        .collect();
    assert_eq!(
        on_disk.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        listed,
        "the test folders on disk must be exactly the tests of index.yaml"
    );
    assert_eq!(index.len(), tests, "tests in index.yaml");
    assert_eq!(folders.len(), tests, "tests in tests/conformance.rs");
    let mut total = 0;
    for entry in &index {
        let cases = Folder::load(&entry.test).cases;
        assert_eq!(
            cases.len(),
            entry.cases,
            "{}: cases in cases.yaml vs index.yaml",
            entry.test
        );
        assert_eq!(
            cases.iter().filter(|c| !c.alb_expressible).count(),
            entry.cases_not_expressible_on_alb,
            "{}: ALB-inexpressible cases in cases.yaml vs index.yaml",
            entry.test
        );
        total += cases.len();
    }
    assert_eq!(total, cases, "cases over all folders");
    println!(
        "index.yaml: {} tests, {total} cases, all covered",
        index.len()
    );
}

// ---------------------------------------------------------------------------------------
// The data set.

/// `../shared/conformance`, next to the clone; a missing folder is an error, never a skip.
fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    assert!(
        dir.join("index.yaml").is_file(),
        "the conformance data is missing: expected {} (with index.yaml) next to the gwsync \
         clone. CI lays the shared folder out there; locally, copy or link it there.",
        dir.display()
    );
    dir
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_yaml::from_str(&read_text(path))
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// One test folder: its manifest documents, cases and metadata, and the base Services.
struct Folder {
    documents: Vec<Value>,
    cases: Vec<Case>,
    meta: TestMeta,
    services: Vec<Service>,
}

/// One request case (format: the data set's README, "cases.yaml").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    phase: Option<String>,
    gateway: String,
    port: u16,
    scheme: String,
    /// The TLS server name; the model has no TLS, the Host decides.
    #[serde(default)]
    #[allow(dead_code)]
    sni: Option<String>,
    request: CaseRequest,
    expect: Expect,
    #[serde(default = "expressible")]
    alb_expressible: bool,
    #[serde(default)]
    alb_caveat: Option<String>,
}

fn expressible() -> bool {
    true
}

impl Case {
    fn phase(&self) -> &str {
        self.phase.as_deref().unwrap_or(INITIAL_PHASE)
    }
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CaseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    path: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    query: Mapping,
    method: String,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    headers: Mapping,
}

/// The expectation forms of the README's "Expectation forms" table.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend_request: Option<BackendRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect: Option<RedirectExpect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    samples: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct BackendRequest {
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    absent_headers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RedirectExpect {
    status: u16,
    scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    defaulted: Vec<String>,
}

/// The parts of `test.yaml` the harness uses.
#[derive(Debug, Deserialize)]
struct TestMeta {
    #[serde(default)]
    phases: Vec<Phase>,
    #[serde(default)]
    status_expectations: Vec<StatusExpectation>,
}

#[derive(Debug, Deserialize)]
struct Phase {
    name: String,
    #[serde(default)]
    delete: Vec<DocumentRef>,
}

#[derive(Debug, Deserialize)]
struct DocumentRef {
    kind: String,
    namespace: String,
    name: String,
}

/// One upstream status assertion (README, "test.yaml").
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct StatusExpectation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listenerset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listener: Option<String>,
    #[serde(
        default,
        rename = "attachedRoutes",
        skip_serializing_if = "Option::is_none"
    )]
    attached_routes: Option<usize>,
    #[serde(
        default,
        rename = "attachedListeners",
        skip_serializing_if = "Option::is_none"
    )]
    attached_listeners: Option<usize>,
}

/// A Service of `_base/services.yaml`.
#[derive(Debug, Deserialize)]
struct Service {
    namespace: String,
    name: String,
}

impl Folder {
    fn load(name: &str) -> Folder {
        let root = conformance_dir();
        let dir = root.join(name);
        assert!(
            dir.is_dir(),
            "conformance folder {} is missing",
            dir.display()
        );
        Folder {
            documents: split_documents(&read_text(&dir.join("manifest.yaml"))),
            cases: read_yaml(&dir.join("cases.yaml")),
            meta: read_yaml(&dir.join("test.yaml")),
            services: read_yaml(&root.join("_base/services.yaml")),
        }
    }

    /// The phases in order; a folder without `phases` has the initial one only.
    fn phases(&self) -> Vec<String> {
        if self.meta.phases.is_empty() {
            vec![INITIAL_PHASE.to_string()]
        } else {
            self.meta.phases.iter().map(|p| p.name.clone()).collect()
        }
    }

    /// The manifest as it stands in `phase`: without the documents the phase deletes.
    fn documents_for(&self, phase: &str) -> Vec<Value> {
        let deleted: &[DocumentRef] = self
            .meta
            .phases
            .iter()
            .find(|p| p.name == phase)
            .map_or(&[], |p| &p.delete);
        self.documents
            .iter()
            .filter(|doc| {
                !deleted.iter().any(|d| {
                    kind(doc) == d.kind
                        && namespace(doc) == Some(&d.namespace)
                        && name(doc) == d.name
                })
            })
            .cloned()
            .collect()
    }
}

/// The non-empty documents of a multi-document YAML file.
fn split_documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("manifest.yaml is valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace(doc: &Value) -> Option<&str> {
    doc["metadata"]["namespace"].as_str()
}

/// A YAML scalar as the string a client would send.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

fn pairs(mapping: &Mapping) -> Vec<(String, String)> {
    mapping
        .iter()
        .map(|(k, v)| (scalar(k), scalar(v)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The gwsync repository built from a folder.

/// The team that owns a namespace: the namespace itself, made a DNS label other than
/// `platform`.
fn team_name(namespace: &str) -> String {
    let mut name: String = namespace
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    let name = name.trim_matches('-').to_string();
    if name == "platform" || name.is_empty() {
        format!("ns-{name}")
    } else {
        name
    }
}

fn team_folder(namespace: &str) -> String {
    format!("teams/{namespace}/")
}

/// Every file of the gwsync repository for these manifest documents, by path, for
/// `platform`.
fn repo_files(
    documents: &[Value],
    services: &[Service],
    platform: &Platform<'_>,
) -> BTreeMap<String, String> {
    let labels = namespace_labels(documents);
    // Gateways that some route with hostnames reaches: discovery has names to go by.
    let routes = RouteIndex::new(documents);
    let with_hostnames: BTreeSet<String> = documents
        .iter()
        .filter(|d| kind(d) == "HTTPRoute")
        .filter(|d| {
            d["spec"]["hostnames"]
                .as_sequence()
                .is_some_and(|h| !h.is_empty())
        })
        .flat_map(|d| {
            let route = format!("{}/{}", namespace(d).unwrap_or_default(), name(d));
            routes.gateways.get(&route).cloned().unwrap_or_default()
        })
        .collect();
    let mut namespaces: BTreeSet<String> = labels.keys().cloned().collect();
    namespaces.extend(services.iter().map(|s| s.namespace.clone()));
    let mut files = BTreeMap::new();
    for doc in documents {
        match kind(doc) {
            "Namespace" => {}
            "Gateway" => {
                let id = format!(
                    "{}/{}",
                    namespace(doc).unwrap_or(PLATFORM_NAMESPACE),
                    name(doc)
                );
                let (gateway, config) = platform.gateway(doc, with_hostnames.contains(&id));
                files.insert(
                    format!("platform/gateway-{}.yaml", name(doc)),
                    to_yaml(&gateway),
                );
                if let Some(config) = config {
                    files.insert(
                        format!("platform/loadbalancerconfiguration-{}.yaml", name(&config)),
                        to_yaml(&config),
                    );
                }
            }
            other => {
                let ns = namespace(doc).unwrap_or(PLATFORM_NAMESPACE).to_string();
                files.insert(
                    format!(
                        "{}{}-{}.yaml",
                        team_folder(&ns),
                        other.to_ascii_lowercase(),
                        name(doc)
                    ),
                    to_yaml(doc),
                );
                namespaces.insert(ns);
            }
        }
    }
    for service in services {
        files.insert(
            format!(
                "{}targetgroupconfiguration-{}.yaml",
                team_folder(&service.namespace),
                service.name
            ),
            to_yaml(&target_group_configuration(service)),
        );
    }
    files.insert(
        "tenants.yaml".to_string(),
        to_yaml(&tenants(&namespaces, &labels)),
    );
    if let Some(class) = platform.class() {
        files.insert("platform/class.yaml".to_string(), class);
    }
    files
}

fn to_yaml<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("serialisable")
}

/// The labels of every namespace a Namespace document declares.
fn namespace_labels(documents: &[Value]) -> BTreeMap<String, BTreeMap<String, String>> {
    documents
        .iter()
        .filter(|doc| kind(doc) == "Namespace")
        .map(|doc| {
            let labels = doc["metadata"]["labels"]
                .as_mapping()
                .map(|m| pairs(m).into_iter().collect())
                .unwrap_or_default();
            (name(doc).to_string(), labels)
        })
        .collect()
}

/// `tenants.yaml`: the platform in the infra namespace, one team per namespace, every team
/// granted every hostname.
fn tenants(
    namespaces: &BTreeSet<String>,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> serde_json::Value {
    let labels_of = |ns: &str| labels.get(ns).cloned().unwrap_or_default();
    let teams: Vec<serde_json::Value> = namespaces
        .iter()
        .map(|ns| {
            serde_json::json!({
                "name": team_name(ns),
                "path": team_folder(ns),
                "namespace": ns,
                "labels": labels_of(ns),
                "hostnames": ["*"],
            })
        })
        .collect();
    serde_json::json!({
        "apiVersion": "gwsync.dev/v1alpha1",
        "kind": "Tenants",
        "platform": {
            "path": "platform/",
            "namespace": PLATFORM_NAMESPACE,
            "labels": labels_of(PLATFORM_NAMESPACE),
        },
        "teams": teams,
    })
}

/// Where the repository's load balancers go: moto's network (the live run), and the ACM
/// certificate an HTTPS listener names when there is nothing to find one by.
struct Platform<'a> {
    network: Option<&'a Network>,
    certificate_arn: String,
}

impl Platform<'_> {
    /// The offline run: no network, and a certificate ARN nothing looks up.
    fn offline() -> Platform<'static> {
        Platform {
            network: None,
            certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/conformance"
                .to_string(),
        }
    }

    /// The LoadBalancerConfiguration spec that places a load balancer in the network.
    fn network_spec(&self) -> serde_json::Value {
        match self.network {
            None => serde_json::json!({}),
            Some(network) => serde_json::json!({
                "scheme": "internet-facing",
                "loadBalancerSubnets": network
                    .subnets
                    .iter()
                    .map(|s| serde_json::json!({"identifier": s}))
                    .collect::<Vec<_>>(),
                "securityGroups": [network.security_group],
            }),
        }
    }

    /// The GatewayClass, with the class-wide LoadBalancerConfiguration that puts every load
    /// balancer in the network (the live run only).
    fn class(&self) -> Option<String> {
        self.network?;
        let config = serde_json::json!({
            "apiVersion": "gateway.k8s.aws/v1beta1",
            "kind": "LoadBalancerConfiguration",
            "metadata": {"name": "conformance-network", "namespace": PLATFORM_NAMESPACE},
            "spec": self.network_spec(),
        });
        let class = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {
                "controllerName": "gwsync.dev/gateway-controller",
                "parametersRef": {
                    "group": "gateway.k8s.aws",
                    "kind": "LoadBalancerConfiguration",
                    "name": "conformance-network",
                    "namespace": PLATFORM_NAMESPACE,
                },
            },
        });
        Some(format!("{}---\n{}", to_yaml(&class), to_yaml(&config)))
    }

    /// A Gateway with gwsync's class. HTTPS listeners get their certificates by discovery
    /// (upstream's `certificateRefs` to a Secret mean nothing without Kubernetes): from the
    /// listener's hostname, or its routes' hostnames. Only a listener with neither
    /// (`has_route_hostnames` false and no hostname) names a certificate ARN, in the
    /// Gateway's LoadBalancerConfiguration, as an operator would.
    fn gateway(&self, doc: &Value, has_route_hostnames: bool) -> (Value, Option<Value>) {
        let mut gateway = doc.clone();
        gateway["spec"]["gatewayClassName"] = Value::String(GATEWAY_CLASS.to_string());
        let undiscoverable: BTreeSet<u64> = gateway["spec"]["listeners"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter(|l| l["protocol"].as_str() == Some("HTTPS"))
            .filter(|l| l["hostname"].as_str().is_none() && !has_route_hostnames)
            .filter_map(|l| l["port"].as_u64())
            .collect();
        if undiscoverable.is_empty() {
            return (gateway, None);
        }
        let config_name = format!("{}-config", name(doc));
        let mut spec = self.network_spec();
        spec["listenerConfigurations"] = undiscoverable
            .iter()
            .map(|port| {
                serde_json::json!({
                    "protocolPort": format!("HTTPS:{port}"),
                    "defaultCertificate": self.certificate_arn,
                })
            })
            .collect();
        let config = serde_json::json!({
            "apiVersion": "gateway.k8s.aws/v1beta1",
            "kind": "LoadBalancerConfiguration",
            "metadata": {"name": config_name, "namespace": PLATFORM_NAMESPACE},
            "spec": spec,
        });
        gateway["spec"]["infrastructure"] = serde_yaml::to_value(serde_json::json!({
            "parametersRef": {
                "group": "gateway.k8s.aws",
                "kind": "LoadBalancerConfiguration",
                "name": config_name,
            }
        }))
        .expect("JSON is YAML");
        (
            gateway,
            Some(serde_yaml::to_value(config).expect("JSON is YAML")),
        )
    }
}

/// The TargetGroupConfiguration that makes a Service exist for gwsync.
fn target_group_configuration(service: &Service) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gateway.k8s.aws/v1beta1",
        "kind": "TargetGroupConfiguration",
        "metadata": {"name": service.name, "namespace": service.namespace},
        "spec": {"targetReference": {"name": service.name}},
    })
}

/// Commits `files` as the only commit of a new repository.
fn commit(files: &BTreeMap<String, String>) -> TempDir {
    let dir = TempDir::new().expect("temporary directory");
    let repo = Repository::init(dir.path()).expect("git init");
    let mut index = repo.index().expect("index");
    for (path, text) in files {
        index
            .add_frombuffer(&blob_entry(path), text.as_bytes())
            .expect("stage a file");
    }
    let tree = repo
        .find_tree(index.write_tree_to(&repo).expect("write tree"))
        .expect("tree");
    let when = Time::new(1_700_000_000, 0);
    let signature = Signature::new("Conformance", "conformance@example.com", &when).unwrap();
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "conformance",
        &tree,
        &[],
    )
    .expect("commit");
    dir
}

fn blob_entry(path: &str) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: Oid::ZERO_SHA1,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// The pipeline.

/// What gwsync made of one repository.
struct Pipeline {
    revision: Revision,
    admission: Admission,
    translation: Translation,
    /// What AWS holds after the revision was applied to moto (the live run only).
    live: Option<Stack>,
}

impl Pipeline {
    /// Commit, read back through `Source`, admit, translate: the real pipeline.
    fn run(files: &BTreeMap<String, String>) -> Pipeline {
        let dir = commit(files);
        let source = Source::open_local(dir.path()).expect("open the repository");
        let revision = source.resolve("HEAD").expect("resolve HEAD");
        let snapshot = source
            .snapshot(&revision, &Limits::default())
            .expect("snapshot");
        let admission = admit(
            &snapshot,
            &AdmitOptions {
                tenants_file: "tenants.yaml".to_string(),
                limits: Limits::default(),
                gateway_classes: vec![GATEWAY_CLASS.to_string()],
            },
        );
        let translation = translate(&admission, &RouteAges::new(), &TranslateOptions::default());
        Pipeline {
            revision,
            admission,
            translation,
            live: None,
        }
    }

    /// Every diagnostic of admission and translation.
    fn diagnostics(&self) -> Vec<&Diagnostic> {
        let a = &self.admission;
        a.revision_diagnostics
            .iter()
            .chain(a.platform.iter().flat_map(|p| &p.diagnostics))
            .chain(a.teams.iter().flat_map(|t| &t.diagnostics))
            .chain(&self.translation.diagnostics)
            .collect()
    }

    /// The Gateway's load balancer: as AWS holds it in the live run, as translated otherwise.
    fn load_balancer(&self, gateway: &str) -> Option<&LoadBalancer> {
        self.live
            .as_ref()
            .unwrap_or(&self.translation.stack)
            .load_balancer(gateway)
    }

    /// Rules of `gateway`'s translated load balancer that come from `route` (status is
    /// decided by admission and translation, whatever AWS holds).
    fn route_rules<'a>(&'a self, gateway: &str, route: &'a str) -> Vec<&'a Rule> {
        self.translation
            .stack
            .load_balancer(gateway)
            .into_iter()
            .flat_map(|lb| &lb.listeners)
            .flat_map(|l| &l.rules)
            .filter(move |r| {
                matches!(&r.source, Some(RuleSource::Route { route: r2, .. }) if r2 == route)
            })
            .collect()
    }

    /// Listener parents (`Gateway ns/name` or `ListenerSet ns/name`, with the listener name)
    /// that admission attached `route` to.
    fn attachments(&self, route: &str) -> Vec<(String, String)> {
        self.admission
            .teams
            .iter()
            .flat_map(|t| t.attachments.get(route))
            .flatten()
            .map(|a| {
                let kind = match a.listener.parent_kind {
                    ParentKind::Gateway => "Gateway",
                    ParentKind::ListenerSet => "ListenerSet",
                };
                (
                    format!("{kind} {}", a.listener.parent),
                    a.listener.listener.clone(),
                )
            })
            .collect()
    }
}

/// Which Gateway each route reaches through its parentRefs, read from the manifest: the
/// routes "responsible" for a case on that Gateway.
struct RouteIndex {
    /// `ns/name` of a route to the Gateways (`ns/name`) its parentRefs name.
    gateways: BTreeMap<String, BTreeSet<String>>,
    /// `ns/name` of a ListenerSet to its Gateway.
    listener_sets: BTreeMap<String, String>,
}

impl RouteIndex {
    fn new(documents: &[Value]) -> RouteIndex {
        let listener_sets: BTreeMap<String, String> = documents
            .iter()
            .filter(|d| kind(d) == "ListenerSet")
            .map(|d| {
                let ns = namespace(d).unwrap_or_default();
                let parent = &d["spec"]["parentRef"];
                let gw_ns = parent["namespace"].as_str().unwrap_or(ns);
                (
                    format!("{ns}/{}", name(d)),
                    format!("{gw_ns}/{}", scalar(&parent["name"])),
                )
            })
            .collect();
        let gateways = documents
            .iter()
            .filter(|d| kind(d) == "HTTPRoute")
            .map(|d| {
                let ns = namespace(d).unwrap_or_default();
                let reached = d["spec"]["parentRefs"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let target = format!(
                            "{}/{}",
                            p["namespace"].as_str().unwrap_or(ns),
                            scalar(&p["name"])
                        );
                        match p["kind"].as_str().unwrap_or("Gateway") {
                            "ListenerSet" => listener_sets.get(&target).cloned(),
                            _ => Some(target),
                        }
                    })
                    .collect();
                (format!("{ns}/{}", name(d)), reached)
            })
            .collect();
        RouteIndex {
            gateways,
            listener_sets,
        }
    }

    /// The routes whose parentRefs reach `gateway`.
    fn on_gateway(&self, gateway: &str) -> Vec<&str> {
        self.gateways
            .iter()
            .filter(|(_, g)| g.contains(gateway))
            .map(|(r, _)| r.as_str())
            .collect()
    }

    /// The Gateway (`ns/name`) of a parent written `Gateway ns/name` or `ListenerSet ns/name`.
    fn gateway_of_parent(&self, parent: &str) -> Option<String> {
        match parent.split_once(' ')? {
            ("Gateway", gw) => Some(gw.to_string()),
            ("ListenerSet", ls) => self.listener_sets.get(ls).cloned(),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cases.

/// The outcome of one case.
enum Verdict {
    Pass,
    /// Passed in a way worth saying (a refusal, a warning): printed in the test output.
    PassWithNote(String),
    Fail(String),
}

/// The evaluator request for a case.
fn request(case: &Case) -> Request {
    Request {
        scheme: case.scheme.clone(),
        port: case.port,
        host: case.request.host.clone(),
        path: case.request.path.clone(),
        query: pairs(&case.request.query),
        method: case.request.method.clone(),
        headers: pairs(&case.request.headers),
        source_ip: None,
    }
}

/// The evaluator's answer for a case, or why there is none.
fn answer(case: &Case, pipeline: &Pipeline) -> Result<Answer, String> {
    let lb = pipeline.load_balancer(&case.gateway).ok_or_else(|| {
        format!(
            "no load balancer for Gateway {} (refused gateways: {:?})",
            case.gateway, pipeline.translation.refused_gateways
        )
    })?;
    evaluate(lb, &request(case)).map_err(|e| format!("evaluate: {e}"))
}

/// Decides one case: the expectation, or for inexpressible and caveat cases the refusal or
/// warning that stands for it.
fn judge(case: &Case, pipeline: &Pipeline, routes: &RouteIndex) -> (Verdict, Option<Answer>) {
    let answer = answer(case, pipeline);
    let checked = answer
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|a| check_expectation(&case.expect, a));
    let answer = answer.ok();
    let why = match checked {
        Ok(()) if case.alb_expressible => return (Verdict::Pass, answer),
        Ok(()) => {
            let note = "not expressible on ALB, but the evaluator's answer equals upstream's";
            return (Verdict::PassWithNote(note.to_string()), answer);
        }
        Err(why) => why,
    };
    let refusal = refusal_for(case, pipeline, routes);
    let verdict = if !case.alb_expressible {
        match (refusal, differs_warning(case, pipeline, routes)) {
            (Some(d), _) => Verdict::PassWithNote(format!("not expressible on ALB, refused: {d}")),
            (None, Some(d)) => {
                Verdict::PassWithNote(format!("not expressible on ALB, warned: {d}"))
            }
            (None, None) => Verdict::Fail(format!(
                "not expressible on ALB, yet neither refused nor warned about, and routed differently: {why}"
            )),
        }
    } else if case.alb_caveat.is_some() {
        match refusal {
            Some(d) => Verdict::PassWithNote(format!(
                "caveat case refused with a named error (accepted for caveat cases): {d}"
            )),
            None => Verdict::Fail(why),
        }
    } else {
        Verdict::Fail(why)
    };
    (verdict, answer)
}

/// A refusal of a route that reaches the case's Gateway, on that route's team, or an error
/// that makes one of its rules answer 500 (an action ALB cannot perform: the rule is dropped
/// to a 500 and the route's other rules stay, the Gateway API's PartiallyInvalid).
fn refusal_for<'a>(
    case: &Case,
    pipeline: &'a Pipeline,
    routes: &RouteIndex,
) -> Option<&'a Diagnostic> {
    let responsible = routes.on_gateway(&case.gateway);
    pipeline.diagnostics().into_iter().find(|d| {
        d.severity != Severity::Warning
            && !d.code.0.is_empty()
            && responsible.iter().any(|route| {
                let (ns, _) = route.split_once('/').unwrap_or_default();
                d.object.as_deref() == Some(&format!("HTTPRoute/{route}"))
                    && d.team.as_deref() == Some(&team_name(ns))
            })
    })
}

/// An `alb-differs` warning on a route of the case's Gateway that names one of the case's
/// query parameters (the case-insensitive query match).
fn differs_warning<'a>(
    case: &Case,
    pipeline: &'a Pipeline,
    routes: &RouteIndex,
) -> Option<&'a Diagnostic> {
    let responsible = routes.on_gateway(&case.gateway);
    let keys: Vec<String> = pairs(&case.request.query)
        .into_iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    pipeline.diagnostics().into_iter().find(|d| {
        d.code.0 == "alb-differs"
            && responsible
                .iter()
                .any(|r| d.object.as_deref() == Some(&format!("HTTPRoute/{r}")))
            && keys
                .iter()
                .any(|k| d.message.to_ascii_lowercase().contains(k.as_str()))
    })
}

// ---------------------------------------------------------------------------------------
// Expectations.

/// Compares the evaluator's answer with one expectation, as upstream checks it.
fn check_expectation(expect: &Expect, answer: &Answer) -> Result<(), String> {
    if let Some(weights) = &expect.weights {
        return check_weights(weights, expect.tolerance.unwrap_or(0.05), answer);
    }
    if let Some(redirect) = &expect.redirect {
        return check_redirect(redirect, answer);
    }
    if let Some(backend) = &expect.backend {
        let request = check_backend(answer, |b| b == backend, backend)?;
        return match &expect.backend_request {
            Some(expected) => check_backend_request(expected, request),
            None => Ok(()),
        };
    }
    if let Some(ns) = &expect.backend_namespace {
        if expect.status.is_some_and(|s| s != 200) {
            return Err(format!(
                "unsupported expectation: status with backend_namespace {ns}"
            ));
        }
        let prefix = format!("{ns}/");
        return check_backend(
            answer,
            |b| b.starts_with(&prefix),
            &format!("any backend in {ns}"),
        )
        .map(|_| ());
    }
    if let Some(status) = expect.status {
        return match &answer.action {
            Outcome::FixedResponse { status: s } if *s == status => Ok(()),
            _ => Err(format!("expected a fixed response {status}")),
        };
    }
    Err("unknown expectation form".to_string())
}

/// The backends of a forward that receive traffic (weight > 0), deduplicated.
fn weighted_backends(answer: &Answer) -> Option<BTreeSet<&str>> {
    match &answer.action {
        Outcome::Forward { backends, .. } => Some(
            backends
                .iter()
                .filter(|b| b.weight > 0)
                .map(|b| b.backend.as_str())
                .collect(),
        ),
        _ => None,
    }
}

/// A forward whose weighted backends are non-empty and all accepted by `wanted`; returns the
/// forwarded request.
fn check_backend<'a>(
    answer: &'a Answer,
    wanted: impl Fn(&str) -> bool,
    what: &str,
) -> Result<&'a gwsync::alb::evaluate::ForwardedRequest, String> {
    let Outcome::Forward { request, .. } = &answer.action else {
        return Err(format!("expected a forward to {what}"));
    };
    let weighted = weighted_backends(answer).unwrap_or_default();
    if weighted.is_empty() || !weighted.iter().all(|b| wanted(b)) {
        return Err(format!(
            "expected a forward to {what} only; backends with weight > 0: {weighted:?}"
        ));
    }
    Ok(request)
}

/// The request the backend saw: path (and query, which must be kept) and host.
fn check_backend_request(
    expected: &BackendRequest,
    got: &gwsync::alb::evaluate::ForwardedRequest,
) -> Result<(), String> {
    let path = got
        .path
        .split_once('?')
        .map_or(got.path.as_str(), |(p, _)| p);
    if path != expected.path {
        return Err(format!(
            "the backend saw path {path:?}, expected {:?}",
            expected.path
        ));
    }
    if let Some(host) = &expected.host
        && !got.host.eq_ignore_ascii_case(host)
    {
        return Err(format!(
            "the backend saw Host {:?}, expected {host:?}",
            got.host
        ));
    }
    if expected.headers.is_some() || expected.absent_headers.is_some() {
        return Err(
            "expected backend request headers, which ALB rules cannot set and the model does not carry"
                .to_string(),
        );
    }
    Ok(())
}

fn check_redirect(expected: &RedirectExpect, answer: &Answer) -> Result<(), String> {
    let Outcome::Redirect { status, location } = &answer.action else {
        return Err(format!("expected a {} redirect", expected.status));
    };
    let got =
        Location::parse(location).ok_or_else(|| format!("unparsable Location {location:?}"))?;
    let mut problems = Vec::new();
    if *status != expected.status {
        problems.push(format!("status {status}, expected {}", expected.status));
    }
    if !got.scheme.eq_ignore_ascii_case(&expected.scheme) {
        problems.push(format!(
            "scheme {}, expected {}",
            got.scheme, expected.scheme
        ));
    }
    if let Some(host) = &expected.host
        && !got.host.eq_ignore_ascii_case(host)
    {
        problems.push(format!("host {}, expected {host}", got.host));
    }
    if got.path != expected.path {
        problems.push(format!("path {}, expected {}", got.path, expected.path));
    }
    let default_port = match got.scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        _ => 80,
    };
    match (expected.port, got.port) {
        (Some(want), Some(port)) if want == port => {}
        (Some(want), port) => problems.push(format!("port {port:?}, expected {want}")),
        (None, None) => {}
        (None, Some(port)) if port == default_port => {}
        (None, Some(port)) => problems.push(format!(
            "port {port}, expected none or the scheme's default {default_port}"
        )),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("redirect to {location}: {}", problems.join("; ")))
    }
}

/// The parts of a redirect's `Location` that upstream compares.
struct Location {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl Location {
    fn parse(location: &str) -> Option<Location> {
        let (scheme, rest) = location.split_once("://")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_string(), Some(p.parse().ok()?))
            }
            _ => (authority.to_string(), None),
        };
        let path = path_and_query.split('?').next().unwrap_or_default();
        Some(Location {
            scheme: scheme.to_string(),
            host,
            port,
            path: if path.is_empty() { "/" } else { path }.to_string(),
        })
    }
}

/// The forward's weights as shares within `tolerance` of the expected ones; weight 0 means
/// no traffic, and no other backend may get any.
fn check_weights(
    expected: &BTreeMap<String, f64>,
    tolerance: f64,
    answer: &Answer,
) -> Result<(), String> {
    let Outcome::Forward { backends, .. } = &answer.action else {
        return Err("expected a weighted forward".to_string());
    };
    let mut weights: BTreeMap<&str, u32> = BTreeMap::new();
    for b in backends {
        *weights.entry(b.backend.as_str()).or_default() += b.weight;
    }
    let total: u32 = weights.values().sum();
    if total == 0 {
        return Err("every weight is 0".to_string());
    }
    let mut problems = Vec::new();
    for (backend, share) in expected {
        let weight = weights.get(backend.as_str()).copied().unwrap_or(0);
        let got = f64::from(weight) / f64::from(total);
        if *share == 0.0 && weight != 0 {
            problems.push(format!("{backend} has weight {weight}, expected none"));
        } else if (got - share).abs() > tolerance {
            problems.push(format!(
                "{backend} gets {got:.3}, expected {share} ± {tolerance}"
            ));
        }
    }
    for (backend, weight) in &weights {
        if *weight > 0 && !expected.contains_key(*backend) {
            problems.push(format!(
                "{backend} has weight {weight}, expected no traffic"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------
// Status assertions.

/// The result of one status assertion.
enum StatusCheck {
    Pass,
    Fail(String),
    /// Not mapped onto gwsync; the reason is printed.
    Skipped(&'static str),
}

/// Checks the status assertions that map onto gwsync's decisions:
///
/// - `Accepted` (route, parent): True means admission attached the route to a listener of
///   that parent and the parent's load balancer has rules from it; False means no attachment
///   to that parent and, unless another parentRef puts the route on the same Gateway, no
///   rule from the route on that Gateway's load balancer.
/// - `ResolvedRefs: False`: the route's rules on that Gateway include a fixed 500.
/// - `attachedRoutes` of a Gateway or ListenerSet listener: the routes admission attached
///   there.
///
/// Skipped: `ResolvedRefs: True` (a rule without backendRefs answers 500 yet has its refs
/// resolved, so the rules prove nothing), and `attachedListeners` (a Gateway status count
/// that gwsync keeps nowhere).
fn check_status(e: &StatusExpectation, pipeline: &Pipeline, routes: &RouteIndex) -> StatusCheck {
    if let (Some(route), Some(parent), Some(condition)) = (&e.route, &e.parent, &e.condition) {
        let Some(gateway) = routes.gateway_of_parent(parent) else {
            return StatusCheck::Fail(format!("unknown parent {parent}"));
        };
        let attached = pipeline.attachments(route).iter().any(|(p, _)| p == parent);
        let rules = pipeline.route_rules(&gateway, route);
        let expected = e.status.as_deref() == Some("True");
        return match (condition.as_str(), expected) {
            ("Accepted", true) if !attached => {
                StatusCheck::Fail(format!("admission did not attach {route} to {parent}"))
            }
            ("Accepted", true) if rules.is_empty() => StatusCheck::Fail(format!(
                "{route} is attached to {parent} but has no rules on {gateway}'s load balancer"
            )),
            ("Accepted", true) => StatusCheck::Pass,
            ("Accepted", false) if attached => {
                StatusCheck::Fail(format!("admission attached {route} to {parent}"))
            }
            ("Accepted", false) => {
                let elsewhere_on_gateway = pipeline
                    .attachments(route)
                    .iter()
                    .any(|(p, _)| routes.gateway_of_parent(p).as_deref() == Some(&gateway));
                if !elsewhere_on_gateway && !rules.is_empty() {
                    StatusCheck::Fail(format!(
                        "{route} is not accepted by {parent}, yet {gateway}'s load balancer has {} rules from it",
                        rules.len()
                    ))
                } else {
                    StatusCheck::Pass
                }
            }
            ("ResolvedRefs", false) => {
                let answers_500 = rules.iter().any(|r| {
                    matches!(
                        r.final_action(),
                        Some(Action::FixedResponse { status: 500, .. })
                    )
                });
                if answers_500 {
                    StatusCheck::Pass
                } else {
                    StatusCheck::Fail(format!(
                        "{route} has unresolved refs, yet none of its {} rules on {gateway} answers 500",
                        rules.len()
                    ))
                }
            }
            _ => StatusCheck::Skipped(
                "ResolvedRefs: True is not visible in the rules (a rule without backends answers 500 with its refs resolved)",
            ),
        };
    }
    if let (Some(listener), Some(count)) = (&e.listener, e.attached_routes) {
        let parent = match (&e.gateway, &e.listenerset) {
            (Some(g), _) => format!("Gateway {g}"),
            (None, Some(ls)) => format!("ListenerSet {ls}"),
            (None, None) => return StatusCheck::Fail("attachedRoutes without a parent".into()),
        };
        let attached: BTreeSet<&String> = routes
            .gateways
            .keys()
            .filter(|route| {
                pipeline
                    .attachments(route)
                    .iter()
                    .any(|(p, l)| *p == parent && l == listener)
            })
            .collect();
        return if attached.len() == count {
            StatusCheck::Pass
        } else {
            StatusCheck::Fail(format!(
                "{parent} listener {listener}: {} routes attached ({attached:?}), expected {count}",
                attached.len()
            ))
        };
    }
    if e.attached_listeners.is_some() {
        return StatusCheck::Skipped("attachedListeners is Gateway status gwsync keeps nowhere");
    }
    StatusCheck::Fail("unknown status assertion form".to_string())
}

// ---------------------------------------------------------------------------------------
// The report.

/// Collects the results of one folder and panics with every failure at the end.
struct Report {
    folder: String,
    cases: usize,
    passed: usize,
    statuses: usize,
    statuses_passed: usize,
    /// Skipped status assertions, by reason.
    statuses_skipped: BTreeMap<&'static str, usize>,
    notes: Vec<String>,
    failures: Vec<String>,
    diagnostics: String,
    /// `gateway:port` of the listeners whose rules the report already shows.
    shown: BTreeSet<String>,
}

impl Report {
    fn new(folder: &str) -> Report {
        Report {
            folder: folder.to_string(),
            cases: 0,
            passed: 0,
            statuses: 0,
            statuses_passed: 0,
            statuses_skipped: BTreeMap::new(),
            notes: Vec::new(),
            failures: Vec::new(),
            diagnostics: String::new(),
            shown: BTreeSet::new(),
        }
    }

    /// Records the diagnostics of one phase, for the failure report.
    fn diagnostics(
        &mut self,
        phase: &str,
        diagnostics: &[&Diagnostic],
        refused_teams: &BTreeSet<String>,
    ) {
        let _ = writeln!(self.diagnostics, "diagnostics, phase {phase}:");
        if diagnostics.is_empty() {
            self.diagnostics.push_str("  (none)\n");
        }
        if !refused_teams.is_empty() {
            let _ = writeln!(
                self.diagnostics,
                "  teams refused by translation: {refused_teams:?}"
            );
        }
        for d in diagnostics {
            let _ = writeln!(
                self.diagnostics,
                "  {} [{}] {d}",
                d.severity.as_str(),
                d.code
            );
        }
    }

    fn case(&mut self, case: &Case, verdict: Verdict, answer: Option<Answer>, pipeline: &Pipeline) {
        self.cases += 1;
        let why = match verdict {
            Verdict::Pass => {
                self.passed += 1;
                return;
            }
            Verdict::PassWithNote(note) => {
                self.passed += 1;
                self.notes.push(format!("{}: {note}", case.name));
                return;
            }
            Verdict::Fail(why) => why,
        };
        let mut text = format!("CASE {}\n", case.name);
        let _ = writeln!(
            text,
            "  request:  {} port {} {}",
            case.scheme,
            case.port,
            json(&case.request)
        );
        let _ = writeln!(
            text,
            "  gateway:  {} (phase {})",
            case.gateway,
            case.phase()
        );
        let _ = writeln!(text, "  expected: {}", json(&case.expect));
        let _ = writeln!(
            text,
            "  answer:   {}",
            answer.as_ref().map_or("none".to_string(), json)
        );
        let _ = writeln!(text, "  why:      {why}");
        text.push_str(&self.listener_rules(&case.gateway, case.port, case.phase(), pipeline));
        self.failures.push(text);
    }

    /// The rules of a case's listener, or a pointer to them when already shown.
    fn listener_rules(
        &mut self,
        gateway: &str,
        port: u16,
        phase: &str,
        pipeline: &Pipeline,
    ) -> String {
        let key = format!("{gateway}:{port} (phase {phase})");
        if !self.shown.insert(key.clone()) {
            return format!("  rules of {key}: shown above\n");
        }
        let Some(listener) = pipeline
            .load_balancer(gateway)
            .and_then(|lb| lb.listener(port))
        else {
            return format!("  rules of {key}: no such listener\n");
        };
        let mut text = format!(
            "  rules of {key} ({}, default {}):\n",
            listener.protocol.as_str(),
            render_action(&listener.default_action)
        );
        if listener.rules.is_empty() {
            text.push_str("    (no rules)\n");
        }
        for rule in &listener.rules {
            let _ = writeln!(text, "    {}", render_rule(rule));
        }
        text
    }

    fn status(&mut self, expectation: &StatusExpectation, check: StatusCheck) {
        self.statuses += 1;
        match check {
            StatusCheck::Pass => self.statuses_passed += 1,
            StatusCheck::Skipped(reason) => *self.statuses_skipped.entry(reason).or_default() += 1,
            StatusCheck::Fail(why) => self
                .failures
                .push(format!("STATUS {}\n  why: {why}\n", json(expectation))),
        }
    }

    fn finish(self) {
        let skipped: usize = self.statuses_skipped.values().sum();
        let summary = format!(
            "{}: {}/{} cases pass; status assertions: {} pass, {skipped} skipped, {} fail",
            self.folder,
            self.passed,
            self.cases,
            self.statuses_passed,
            self.statuses - self.statuses_passed - skipped
        );
        println!("{summary}");
        for note in &self.notes {
            println!("  note: {note}");
        }
        for (reason, count) in &self.statuses_skipped {
            println!("  skipped {count} status assertions: {reason}");
        }
        if !self.failures.is_empty() {
            panic!(
                "{summary}\n\n{}\n{}",
                self.failures.join("\n"),
                self.diagnostics
            );
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<{e}>"))
}

/// `priority  conditions => actions | transforms  (source)`, on one line.
fn render_rule(rule: &Rule) -> String {
    let conditions: Vec<String> = rule.conditions.iter().map(render_condition).collect();
    let actions: Vec<String> = rule.actions.iter().map(render_action).collect();
    let mut line = format!(
        "{:>3}  {} => {}",
        rule.priority,
        if conditions.is_empty() {
            "(any)".to_string()
        } else {
            conditions.join(" & ")
        },
        actions.join(", ")
    );
    for t in &rule.transforms {
        let _ = match t {
            Transform::HostHeaderRewrite { regex, replace } => {
                write!(line, " | host s/{regex}/{replace}/")
            }
            Transform::UrlRewrite { regex, replace } => write!(line, " | url s/{regex}/{replace}/"),
        };
    }
    let _ = match &rule.source {
        Some(RuleSource::Route {
            route,
            rule,
            matches,
            ..
        }) => write!(line, "  ({route} rule {rule} matches {matches:?})"),
        Some(RuleSource::ListenerIsolation { hostname }) => {
            write!(line, "  (isolation of {hostname})")
        }
        Some(RuleSource::Foreign) => write!(line, "  (foreign)"),
        None => Ok(()),
    };
    line
}

fn render_patterns(patterns: &Patterns) -> String {
    match patterns {
        Patterns::Wildcard(v) => format!("={}", v.join("|")),
        Patterns::Regex(v) => format!("~{}", v.join("|")),
    }
}

fn render_condition(condition: &Condition) -> String {
    match condition {
        Condition::HostHeader { values } => format!("host{}", render_patterns(values)),
        Condition::PathPattern { values } => format!("path{}", render_patterns(values)),
        Condition::HttpHeader { name, values } => format!("hdr:{name}{}", render_patterns(values)),
        Condition::QueryString { values } => {
            let values: Vec<String> = values
                .iter()
                .map(|q| format!("{}={}", q.key.as_deref().unwrap_or("*"), q.value))
                .collect();
            format!("query={}", values.join("|"))
        }
        Condition::HttpRequestMethod { values } => format!("method={}", values.join("|")),
        Condition::SourceIp { values } => format!("src={}", values.join("|")),
    }
}

fn render_action(action: &Action) -> String {
    match action {
        Action::Forward { target_groups, .. } => {
            let groups: Vec<String> = target_groups
                .iter()
                .map(|tg| format!("{:?}*{}", tg.target_group, tg.weight))
                .collect();
            format!("forward {}", groups.join(" "))
        }
        Action::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status,
        } => format!("redirect {status} {protocol}://{host}:{port}{path}?{query}"),
        Action::FixedResponse { status, .. } => format!("fixed {status}"),
        Action::Authenticate(auth) => format!("authenticate {}", auth.action_type()),
    }
}
