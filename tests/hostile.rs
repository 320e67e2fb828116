//! The hostile corpus: what a hostile or careless team can commit to its own folder, each
//! case one commit to `teams/payments/` on top of a valid baseline (a platform and the teams
//! `payments` and `orders`, see `gitrepo::baseline`), read, admitted and translated through
//! the real pipeline (`reconcile::check` on a real Git repository).
//!
//! Every case asserts the exact diagnostic (code, severity, file, team, field), that
//! `payments` is refused (or keeps its route with an error, where the Gateway API says so),
//! that `orders` is admitted with exactly its baseline rules and target groups, and that
//! reading the revision stayed within bounded time and memory. Each case is its own test,
//! and so (under nextest) its own process, whose peak memory is its own.

mod gitrepo;

use git2::Oid;
use gitrepo::{BASELINE_FILES, TestRepo, baseline};
use gwsync::alb::{Action, RuleSource};
use gwsync::config::Config;
use gwsync::diagnostic::{Code, Diagnostic, Severity, codes};
use gwsync::reconcile::{Checked, check};
use gwsync::source::Source;
use gwsync::tenancy::Verdict;
use std::io::Write;
use std::time::{Duration, Instant};

/// The team every case is committed by.
const TEAM: &str = "payments";
/// The team that must not notice.
const BYSTANDER: &str = "orders";
/// What reading, admitting and translating one hostile revision may take. The largest
/// honest revision in the benchmarks (500 teams) takes under a second on this machine.
const TIME_BOUND: Duration = Duration::from_secs(10);
/// What reading one hostile revision may add to the process's peak memory.
const MEMORY_BOUND_KB: u64 = 64 * 1024;

/// One entry a case commits, relative to `teams/payments/`.
enum Entry {
    File(Vec<u8>),
    Symlink(&'static str),
    /// A submodule (gitlink) at this path, pointing at a commit of another repository.
    Submodule,
    /// A file whose name is raw bytes (not UTF-8, or with control characters).
    RawName(Vec<u8>, Vec<u8>),
    /// A large blob written by streaming (never held in this process's memory whole).
    Large(usize),
}

/// One case: what is committed and the one diagnostic it must produce.
struct Case {
    entries: Vec<(String, Entry)>,
    /// Remove every baseline file of the team first.
    clear_team: bool,
    code: Code,
    severity: Severity,
    /// The file the diagnostic names, relative to the repository root.
    file: String,
    /// A part of the field the diagnostic names; None: it names no field.
    field: Option<&'static str>,
    /// What becomes of the team.
    verdict: Expected,
}

/// What a case does to the team that commits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Refused whole: its last admitted state stays.
    TeamRefused,
    /// Admitted, but the route rule's behaviour cannot be expressed: its own requests (its
    /// conditions are exact) answer 500 and never fall through to another team's rule.
    RuleAnswers500,
    /// Admitted with an error or a warning on the object.
    TeamAdmitted,
}

impl Case {
    /// A new file `teams/payments/hostile.yaml` holding `yaml`, refused for `code` at `field`.
    fn file(yaml: &str, code: Code, field: Option<&'static str>) -> Case {
        Case::entry(
            "hostile.yaml",
            Entry::File(yaml.as_bytes().to_vec()),
            code,
            field,
        )
    }

    fn entry(name: &str, entry: Entry, code: Code, field: Option<&'static str>) -> Case {
        Case {
            file: format!("teams/{TEAM}/{name}"),
            entries: vec![(name.to_string(), entry)],
            clear_team: false,
            code,
            severity: Severity::Refusal,
            field,
            verdict: Expected::TeamRefused,
        }
    }

    /// The route rule's action cannot be expressed: an error on the rule, which answers 500.
    fn answers_500(mut self) -> Case {
        self.severity = Severity::Error;
        self.verdict = Expected::RuleAnswers500;
        self
    }

    /// The route keeps being admitted, with an error on the object (the Gateway API keeps
    /// routes with unresolved references).
    fn error(mut self) -> Case {
        self.severity = Severity::Error;
        self.verdict = Expected::TeamAdmitted;
        self
    }

    fn warning(mut self) -> Case {
        self.severity = Severity::Warning;
        self.verdict = Expected::TeamAdmitted;
        self
    }

    fn at(mut self, file: &str) -> Case {
        self.file = file.to_string();
        self
    }
}

/// An HTTPRoute of payments on its own hostname, with `rules` (YAML at the indentation of
/// a `rules:` list item's fields, two spaces in).
fn route(rules: &str) -> String {
    route_with("  hostnames: [pay.example.com]\n", rules)
}

fn route_with(head: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: hostile
spec:
  parentRefs:
    - {{name: public, namespace: platform, sectionName: https}}
{head}  rules:
{rules}"
    )
}

/// A rule matching `path` (PathPrefix) forwarding to the payments API.
fn path_rule(kind: &str, path: &str) -> String {
    format!(
        "    - matches: [{{path: {{type: {kind}, value: {path}}}}}]\n      backendRefs: [{{name: payments-api, port: 8080}}]\n"
    )
}

/// A TargetGroupConfiguration of a new payments Service `hostile` with `config` as its
/// defaultConfiguration (four spaces in).
fn target_group(config: &str) -> String {
    format!(
        "apiVersion: gateway.k8s.aws/v1beta1
kind: TargetGroupConfiguration
metadata:
  name: hostile
spec:
  targetReference:
    name: hostile
  defaultConfiguration:
{config}"
    )
}

/// A route rule with a ListenerRuleConfiguration `hostile` attached, and that configuration
/// with `spec` (two spaces in).
fn rule_configuration(spec: &str) -> String {
    format!(
        "{}---
apiVersion: gateway.k8s.aws/v1beta1
kind: ListenerRuleConfiguration
metadata:
  name: hostile
spec:
{spec}",
        route(
            "    - matches: [{path: {value: /configured}}]\n      filters: [{type: ExtensionRef, extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: hostile}}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"
        )
    )
}

// ---------------------------------------------------------------------------------------
// The runner.

/// The baseline revision and a hostile one on top, checked.
struct Outcome {
    baseline: Checked,
    hostile: Checked,
}

fn config() -> Config {
    let mut config = Config::default();
    config.repo.tenants_file = "tenants.yaml".into();
    config
}

fn commit_case(case: &Case) -> TestRepo {
    let mut repo = if case.clear_team {
        let mut repo = baseline();
        for (path, _) in BASELINE_FILES {
            if path.starts_with(&format!("teams/{TEAM}/")) {
                repo.remove(path);
            }
        }
        repo
    } else {
        baseline()
    };
    for (name, entry) in &case.entries {
        let path = match name.as_str() {
            "" => format!("teams/{TEAM}"),
            name => format!("teams/{TEAM}/{name}"),
        };
        match entry {
            Entry::File(bytes) => {
                repo.write(&path, bytes);
            }
            Entry::Symlink(target) => {
                repo.symlink(&path, target);
            }
            Entry::Submodule => {
                repo.submodule(&path, Oid::from_str(&"ab".repeat(20)).unwrap());
            }
            Entry::RawName(name, bytes) => {
                let mut raw = format!("teams/{TEAM}/").into_bytes();
                raw.extend_from_slice(name);
                repo.write_bytes_path(&raw, bytes);
            }
            Entry::Large(size) => {
                let id = stream_blob(&repo, *size);
                repo.blob_at(&path, id);
            }
        }
    }
    repo.commit("A hostile commit");
    repo
}

/// Writes a blob of `size` bytes (a YAML comment) in chunks, so that this process never
/// holds it whole: what it costs to read is then gwsync's alone.
fn stream_blob(repo: &TestRepo, size: usize) -> Oid {
    let odb = repo.repo.odb().unwrap();
    let mut writer = odb.writer(size, git2::ObjectType::Blob).unwrap();
    let chunk = [b'#'; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        writer.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    writer.finalize().unwrap()
}

/// The process's peak resident memory so far, in KiB (Linux).
fn peak_memory_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn check_rev(repo: &TestRepo, rev: &str) -> Checked {
    let source = Source::open_local(repo.path()).unwrap();
    let revision = source.resolve(rev).unwrap();
    check(&source, revision, &config()).unwrap()
}

fn run(case: Case) {
    let repo = commit_case(&case);
    let baseline = check_rev(&repo, "HEAD~1");
    let memory_before = peak_memory_kb();
    let started = Instant::now();
    let hostile = check_rev(&repo, "HEAD");
    let took = started.elapsed();
    let grew = peak_memory_kb().saturating_sub(memory_before);
    assert!(took < TIME_BOUND, "reading the revision took {took:?}");
    assert!(
        grew < MEMORY_BOUND_KB,
        "reading the revision raised the peak memory by {grew} KiB"
    );
    let outcome = Outcome { baseline, hostile };
    assert_diagnostic(&outcome.hostile, &case);
    assert_bystander_unchanged(&outcome);
}

/// Every diagnostic of a checked revision, one per line, for failure messages.
fn dump(checked: &Checked) -> String {
    let admission = &checked.admission;
    admission
        .revision_diagnostics
        .iter()
        .chain(admission.platform.iter().flat_map(|p| &p.diagnostics))
        .chain(admission.teams.iter().flat_map(|t| &t.diagnostics))
        .chain(&checked.translation.diagnostics)
        .map(|d| format!("  {:?} {} [{:?}] {d}", d.severity, d.code, d.team))
        .collect::<Vec<_>>()
        .join("\n")
}

fn team_diagnostics(checked: &Checked) -> impl Iterator<Item = &Diagnostic> {
    let admitted = checked
        .admission
        .team(TEAM)
        .into_iter()
        .flat_map(|t| &t.diagnostics);
    admitted.chain(
        checked
            .translation
            .diagnostics
            .iter()
            .filter(|d| d.team.as_deref() == Some(TEAM)),
    )
}

fn assert_diagnostic(checked: &Checked, case: &Case) {
    assert!(
        checked.admission.revision_valid(),
        "the revision stays valid:\n{}",
        dump(checked)
    );
    let found = team_diagnostics(checked).find(|d| {
        d.code == case.code
            && d.severity == case.severity
            && d.file.as_deref() == Some(case.file.as_str())
            && match case.field {
                None => d.field.is_none(),
                Some(part) => d.field.as_deref().is_some_and(|f| f.contains(part)),
            }
    });
    let Some(found) = found else {
        panic!(
            "expected {:?} {} in {} (field {:?}); got:\n{}",
            case.severity,
            case.code,
            case.file,
            case.field,
            dump(checked)
        );
    };
    assert_eq!(found.team.as_deref(), Some(TEAM), "{found}");
    let refused = checked.admission.team(TEAM).map(|t| t.verdict) == Some(Verdict::Refused)
        || checked.translation.refused_teams.contains(TEAM);
    assert_eq!(
        refused,
        case.verdict == Expected::TeamRefused,
        "expected {:?}:\n{}",
        case.verdict,
        dump(checked)
    );
    if case.verdict == Expected::RuleAnswers500 {
        let answers = hostile_rule_actions(checked);
        assert!(!answers.is_empty(), "the hostile route has rules");
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Some(Action::FixedResponse { status: 500, .. }))),
            "every rule of the hostile route answers 500: {answers:?}"
        );
    }
}

/// The final action of every rule translated from the route `payments/hostile`.
fn hostile_rule_actions(checked: &Checked) -> Vec<Option<Action>> {
    let from_hostile = |rule: &&gwsync::alb::Rule| matches!(&rule.source, Some(RuleSource::Route { route, .. }) if route == "payments/hostile");
    checked
        .translation
        .stack
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| l.rules.iter().filter(from_hostile))
        .map(|rule| rule.final_action().cloned())
        .collect()
}

/// The bystander's rules (in order, without priorities, which move when the hostile team's
/// rules go) and target groups, as JSON.
fn bystander_resources(checked: &Checked) -> (Vec<String>, Vec<String>) {
    let owned = |owner: &Option<String>| owner.as_deref() == Some(BYSTANDER);
    let mut rules = Vec::new();
    let mut groups = Vec::new();
    for lb in &checked.translation.stack.load_balancers {
        for listener in &lb.listeners {
            for rule in listener.rules.iter().filter(|r| owned(&r.owner)) {
                let mut rule = rule.clone();
                rule.priority = 0;
                rules.push(serde_json::to_string(&rule).unwrap());
            }
        }
        for group in lb.target_groups.iter().filter(|g| owned(&g.owner)) {
            groups.push(serde_json::to_string(group).unwrap());
        }
    }
    (rules, groups)
}

fn assert_bystander_unchanged(outcome: &Outcome) {
    let hostile = &outcome.hostile;
    let team = hostile
        .admission
        .team(BYSTANDER)
        .expect("the bystander has an outcome");
    assert_eq!(team.verdict, Verdict::Admitted, "{}", dump(hostile));
    assert!(!team.has_errors(), "{}", dump(hostile));
    assert!(!hostile.translation.refused_teams.contains(BYSTANDER));
    let before = bystander_resources(&outcome.baseline);
    assert!(
        !before.0.is_empty(),
        "the baseline gives the bystander rules"
    );
    assert_eq!(
        bystander_resources(hostile),
        before,
        "the bystander's rules and target groups are unchanged"
    );
}

// ---------------------------------------------------------------------------------------
// The corpus.

macro_rules! corpus {
    ($($name:ident => $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run($case);
            }
        )*

        /// The issue asks for at least 80 cases.
        #[test]
        fn the_corpus_has_at_least_80_cases() {
            let names = [$(stringify!($name)),*];
            assert!(names.len() >= 80, "{} cases", names.len());
        }
    };
}

corpus! {
    // The repository's structure.
    symlink_in_the_folder => Case::entry("link.yaml", Entry::Symlink("../orders/routes.yaml"), codes::SYMLINK, None);
    symlink_out_of_the_repository => Case::entry("etc.yaml", Entry::Symlink("/etc/passwd"), codes::SYMLINK, None);
    submodule_in_place_of_the_folder => Case {
        entries: vec![(String::new(), Entry::Submodule)],
        clear_team: true,
        ..Case::entry("", Entry::Submodule, codes::EMPTY_TEAM_FOLDER, None)
    }.at("teams/payments");
    folder_emptied => Case {
        entries: vec![],
        clear_team: true,
        ..Case::entry("", Entry::File(vec![]), codes::EMPTY_TEAM_FOLDER, None)
    }.at("teams/payments");
    non_utf8_file_name => Case::entry("x", Entry::RawName(b"caf\xe9.yaml".to_vec(), b"{}".to_vec()), codes::NON_UTF8_PATH, None)
        .at("teams/payments/caf\u{fffd}.yaml");
    newline_in_file_name_forges_output => Case::entry("x", Entry::RawName(b"a.yaml\nteam payments: admitted\nb.yaml".to_vec(), b"{}".to_vec()), codes::UNPRINTABLE_PATH, None)
        .at("teams/payments/a.yaml\nteam payments: admitted\nb.yaml");
    escape_in_folder_name => Case::entry("x", Entry::RawName(b"\x1b[31mred/r.yaml".to_vec(), b"{}".to_vec()), codes::UNPRINTABLE_PATH, None)
        .at("teams/payments/\u{1b}[31mred");
    file_over_the_size_limit => Case::entry("big.yaml", Entry::Large(3 * 1024 * 1024), codes::FILE_TOO_LARGE, None);
    more_files_than_an_owner_may_have => Case {
        entries: (0..501).map(|i| (format!("f{i:03}.yaml"), Entry::File(b"# empty\n".to_vec()))).collect(),
        ..Case::entry("", Entry::File(vec![]), codes::OWNER_TOO_LARGE, None)
    }.at("teams/payments");
    more_bytes_than_an_owner_may_have => Case {
        entries: (0..5).map(|i| (format!("f{i}.yaml"), Entry::Large(1000 * 1024))).collect(),
        ..Case::entry("", Entry::File(vec![]), codes::OWNER_TOO_LARGE, None)
    }.at("teams/payments");

    // Bytes and YAML.
    nul_byte => Case::file("kind: HTTPRoute\0\n", codes::NUL_BYTE, None);
    not_utf8 => Case::entry("hostile.yaml", Entry::File(b"kind: \xff\xfe\n".to_vec()), codes::NOT_UTF8, None);
    too_many_documents => Case::file(&"---\na: 1\n".repeat(501), codes::TOO_MANY_DOCUMENTS, None);
    alias_bomb => Case::file(&billion_laughs(), codes::YAML_TOO_MANY_NODES, None);
    nesting_too_deep => Case::file(&format!("apiVersion: v1\nkind: HTTPRoute\nspec: {}1{}\n", "[".repeat(100), "]".repeat(100)), codes::YAML_TOO_DEEP, None);
    yaml_syntax_error => Case::file("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: x\n", codes::YAML_SYNTAX, None);
    merge_key_at_the_top => Case::file(&format!("{}<<: {{spec: {{}}}}\n", route(&path_rule("PathPrefix", "/a"))), codes::YAML_MERGE_KEY, None);
    merge_key_in_a_rule => Case::file(&route("    - <<: {backendRefs: [{name: payments-api, port: 8080}]}\n      matches: [{path: {value: /m}}]\n"), codes::YAML_MERGE_KEY, Some("spec.rules[0]"));
    a_document_that_is_a_list => Case::file("- apiVersion: v1\n- kind: HTTPRoute\n", codes::NOT_A_MAPPING, None);
    missing_kind => Case::file("apiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: x}\n", codes::MISSING_KIND, None);
    missing_api_version => Case::file("kind: HTTPRoute\nmetadata: {name: x}\n", codes::MISSING_API_VERSION, None);
    a_kind_gwsync_does_not_read => Case::file("apiVersion: v1\nkind: Secret\nmetadata: {name: aws-keys}\ndata: {key: eA==}\n", codes::UNKNOWN_KIND, Some("kind"));
    an_unknown_api_version => Case::file("apiVersion: gateway.networking.k8s.io/v9\nkind: HTTPRoute\nmetadata: {name: x}\nspec: {}\n", codes::UNKNOWN_API_VERSION, Some("apiVersion"));
    missing_name => Case::file("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nspec: {}\n", codes::MISSING_NAME, Some("metadata.name"));
    invalid_name => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("name: hostile", "name: Hostile_Route"), codes::INVALID_NAME, Some("metadata.name"));
    misspelled_field_in_a_strict_kind => Case::file(&target_group("    targetTyp: ip\n"), codes::UNKNOWN_FIELD, Some("targetTyp"));
    wrong_type => Case::file(&route("    - backendRefs: [{name: payments-api, port: eighty}]\n"), codes::INVALID_FIELD, Some("port"));

    // Placement and ownership.
    another_teams_namespace => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("name: hostile", "name: hostile\n  namespace: orders"), codes::NAMESPACE_MISMATCH, Some("metadata.namespace"));
    a_gateway_in_a_team_folder => Case::file("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: mine}\nspec: {gatewayClassName: gwsync, listeners: [{name: h, port: 8080, protocol: HTTP}]}\n", codes::KIND_NOT_ALLOWED_HERE, None);
    a_load_balancer_configuration_in_a_team_folder => Case::file("apiVersion: gateway.k8s.aws/v1beta1\nkind: LoadBalancerConfiguration\nmetadata: {name: mine}\nspec: {scheme: internet-facing}\n", codes::KIND_NOT_ALLOWED_HERE, None);
    a_tenants_document_in_a_team_folder => Case::file("apiVersion: gwsync.dev/v1alpha1\nkind: Tenants\nplatform: {path: teams/payments/, namespace: payments}\nteams: []\n", codes::KIND_NOT_ALLOWED_HERE, None);
    the_same_object_twice => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("name: hostile", "name: payments-web"), codes::DUPLICATE_OBJECT, None)
        .at("teams/payments/routes.yaml");
    another_teams_hostname => Case::file(&route_with("  hostnames: [orders.example.com]\n", &path_rule("PathPrefix", "/a")), codes::HOSTNAME_NOT_GRANTED, Some("spec.hostnames[0]"));
    a_wildcard_wider_than_the_grant => Case::file(&route_with("  hostnames: [\"*.example.com\"]\n", &path_rule("PathPrefix", "/a")), codes::HOSTNAME_NOT_GRANTED, Some("spec.hostnames[0]"));
    no_hostname_answers_every_hostname => Case::file(&route_with("", &path_rule("PathPrefix", "/a")), codes::HOSTNAME_NOT_GRANTED, Some("spec.parentRefs[0]"));
    another_teams_path_on_a_shared_hostname => Case::file(&route_with("  hostnames: [api.example.com]\n", &path_rule("PathPrefix", "/orders")), codes::PATH_NOT_GRANTED, Some("spec.rules[0].matches[0].path"));
    a_regex_on_a_shared_hostname => Case::file(&route_with("  hostnames: [api.example.com]\n", &path_rule("RegularExpression", "'^/payments|^/orders'")), codes::PATH_NOT_GRANTED, Some("spec.rules[0].matches[0].path"));
    a_whole_shared_hostname => Case::file(&route_with("  hostnames: [api.example.com]\n", "    - backendRefs: [{name: payments-api, port: 8080}]\n"), codes::PATH_NOT_GRANTED, Some("spec.rules[0]"));

    // Paths the Gateway API schema forbids: each could escape a path grant.
    dot_dot_segment_escapes_the_path_grant => Case::file(&route_with("  hostnames: [api.example.com]\n", &path_rule("PathPrefix", "/payments/../orders")), codes::INVALID_FIELD, Some("spec.rules[0].matches[0].path.value"));
    dot_segment => Case::file(&route(&path_rule("PathPrefix", "/a/./b")), codes::INVALID_FIELD, Some("path.value"));
    encoded_dot_dot_segment => Case::file(&route_with("  hostnames: [api.example.com]\n", &path_rule("PathPrefix", "/payments/%2e%2e/orders")), codes::INVALID_FIELD, Some("path.value"));
    mixed_encoded_dot_segment => Case::file(&route(&path_rule("Exact", "/a/.%2E/b")), codes::INVALID_FIELD, Some("path.value"));
    encoded_slash => Case::file(&route(&path_rule("PathPrefix", "/a%2Fb")), codes::INVALID_FIELD, Some("path.value"));
    fragment_in_a_path => Case::file(&route(&path_rule("PathPrefix", "'/a#b'")), codes::INVALID_FIELD, Some("path.value"));
    double_slash => Case::file(&route(&path_rule("PathPrefix", "//a")), codes::INVALID_FIELD, Some("path.value"));
    trailing_dot_dot => Case::file(&route(&path_rule("Exact", "/a/..")), codes::INVALID_FIELD, Some("path.value"));
    relative_path => Case::file(&route(&path_rule("PathPrefix", "a/b")), codes::INVALID_FIELD, Some("path.value"));
    non_ascii_path => Case::file(&route(&path_rule("PathPrefix", "/zahlung\u{e9}")), codes::INVALID_FIELD, Some("path.value"));
    question_mark_in_a_path => Case::file(&route(&path_rule("Exact", "'/a?b=1'")), codes::INVALID_FIELD, Some("path.value"));

    // Rule names and placeholders.
    two_rules_with_one_name => Case::file(&route("    - name: web\n      matches: [{path: {value: /a}}]\n      backendRefs: [{name: payments-api, port: 8080}]\n    - name: web\n      matches: [{path: {value: /b}}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::INVALID_FIELD, Some("spec.rules[1].name"));
    a_rule_name_that_is_not_a_section_name => Case::file(&route("    - name: Web_Rule\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::INVALID_FIELD, Some("spec.rules[0].name"));
    a_placeholder_left_unfilled => Case::file(&target_group("    targetGroupName: \"<my target group>\"\n"), codes::PLACEHOLDER, Some("targetGroupName"));
    a_shell_variable_left_unexpanded => Case::file(&route_with("  hostnames: [\"${PAY_HOST}\"]\n", &path_rule("PathPrefix", "/a")), codes::PLACEHOLDER, Some("spec.hostnames[0]"));
    a_helm_template_left_unrendered => Case::file(&route("    - backendRefs: [{name: \"{{ .Values.service }}\", port: 8080}]\n"), codes::PLACEHOLDER, Some("backendRefs[0].name"));

    // Control characters: they split headers and forge log lines.
    crlf_in_a_path => Case::file(&route(&path_rule("PathPrefix", "\"/a\\r\\nX-Injected: 1\"")), codes::CONTROL_CHARACTER, Some("spec.rules[0].matches[0].path.value"));
    crlf_in_a_header_name => Case::file(&route("    - matches: [{headers: [{name: \"x-a\\r\\nx-b\", value: v}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::CONTROL_CHARACTER, Some("headers[0].name"));
    lf_in_a_header_value => Case::file(&route("    - matches: [{headers: [{name: x-a, value: \"v\\nw\"}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::CONTROL_CHARACTER, Some("headers[0].value"));
    cr_in_a_query_value => Case::file(&route("    - matches: [{queryParams: [{name: q, value: \"v\\r\"}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::CONTROL_CHARACTER, Some("queryParams[0].value"));
    escape_in_a_hostname => Case::file(&route_with("  hostnames: [\"pay.example.com\\e[2J\"]\n", &path_rule("PathPrefix", "/a")), codes::CONTROL_CHARACTER, Some("spec.hostnames[0]"));
    lf_in_a_redirect_path => Case::file(&route("    - filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: \"/x\\ny\"}}}]\n"), codes::CONTROL_CHARACTER, Some("replaceFullPath"));
    lf_in_a_header_modifier => Case::file(&route("    - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: \"1\\r\\nx-admin: true\"}]}}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::CONTROL_CHARACTER, Some("set[0].value"));
    a_header_name_that_is_not_a_token => Case::file(&route("    - matches: [{headers: [{name: \"x:a\", value: v}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::INVALID_FIELD, Some("headers[0].name"));
    a_query_name_with_a_space => Case::file(&route("    - matches: [{queryParams: [{name: \"a b\", value: v}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::INVALID_FIELD, Some("queryParams[0].name"));

    // Numbers out of range are never clamped.
    port_zero => Case::file(&route("    - backendRefs: [{name: payments-api, port: 0}]\n"), codes::INVALID_FIELD, Some("backendRefs[0].port"));
    port_over_65535 => Case::file(&route("    - backendRefs: [{name: payments-api, port: 70000}]\n"), codes::INVALID_FIELD, Some("backendRefs[0].port"));
    negative_port => Case::file(&route("    - backendRefs: [{name: payments-api, port: -443}]\n"), codes::INVALID_FIELD, Some("backendRefs[0].port"));
    parent_ref_port_zero => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("sectionName: https}", "sectionName: https, port: 0}"), codes::INVALID_FIELD, Some("parentRefs[0].port"));
    negative_weight => Case::file(&route("    - backendRefs: [{name: payments-api, port: 8080, weight: -5}]\n"), codes::INVALID_FIELD, Some("backendRefs[0].weight"));
    weight_over_a_million => Case::file(&route("    - backendRefs: [{name: payments-api, port: 8080, weight: 1000001}]\n"), codes::INVALID_FIELD, Some("backendRefs[0].weight"));
    redirect_port_zero => Case::file(&route("    - filters: [{type: RequestRedirect, requestRedirect: {port: 0}}]\n"), codes::INVALID_FIELD, Some("requestRedirect.port"));
    target_port_over_65535 => Case::file(&target_group("    targetType: ip\n    targets: [{id: 10.0.3.4, port: 65536}]\n"), codes::INVALID_FIELD, Some("targets[0].port"));

    // Target groups: another team's, or a name that slips past the grant.
    another_teams_target_group_by_name => Case::file(&route("    - backendRefs: [{group: gateway.k8s.aws, kind: TargetGroupName, name: orders-asg}]\n"), codes::TARGET_GROUP_NOT_GRANTED, Some("backendRefs[0].name"));
    a_target_group_name_with_a_path => Case::file(&route("    - backendRefs: [{group: gateway.k8s.aws, kind: TargetGroupName, name: payments-x/../../orders-asg}]\n"), codes::INVALID_NAME_FOR_AWS, Some("backendRefs[0].name"));
    a_target_group_name_that_is_a_glob => Case::file(&route("    - backendRefs: [{group: gateway.k8s.aws, kind: TargetGroupName, name: \"payments-*\"}]\n"), codes::INVALID_NAME_FOR_AWS, Some("backendRefs[0].name"));
    naming_a_new_group_after_another_teams => Case::file(&target_group("    targetGroupName: orders-asg\n"), codes::TARGET_GROUP_NOT_GRANTED, Some("defaultConfiguration.targetGroupName"));
    a_new_group_name_with_a_path => Case::file(&target_group("    targetGroupName: payments-x/../orders\n"), codes::INVALID_NAME_FOR_AWS, Some("defaultConfiguration.targetGroupName"));
    a_new_group_name_too_long => Case::file(&target_group(&format!("    targetGroupName: payments-{}\n", "x".repeat(40))), codes::INVALID_NAME_FOR_AWS, Some("defaultConfiguration.targetGroupName"));

    two_groups_under_one_name => Case::file(&format!(
        "{}---\n{}---\n{}",
        route("    - matches: [{path: {value: /shared}}]\n      backendRefs: [{name: hostile, port: 8080}, {name: hostile-b, port: 8080}]\n"),
        target_group("    targetGroupName: payments-shared\n"),
        target_group("    targetGroupName: payments-shared\n").replace("name: hostile\n", "name: hostile-b\n")
    ), codes::TARGET_GROUP_NAME_TAKEN, Some("defaultConfiguration.targetGroupName"));

    // Tags and targets.
    setting_gwsyncs_owner_tag => Case::file(&target_group("    tags: {gwsync.dev/owner: orders}\n"), codes::RESERVED_TAG, Some("defaultConfiguration.tags"));
    setting_gwsyncs_instance_tag => Case::file(&target_group("    tags: {gwsync.dev/instance: other}\n"), codes::RESERVED_TAG, Some("defaultConfiguration.tags"));
    setting_any_gwsync_tag => Case::file(&target_group("    tags: {gwsync.dev/note: x}\n"), codes::RESERVED_TAG, Some("defaultConfiguration.tags"));
    setting_an_aws_tag => Case::file(&target_group("    tags: {\"aws:cloudformation:stack-name\": x}\n"), codes::RESERVED_TAG, Some("defaultConfiguration.tags"));
    more_tags_than_elb_allows => Case::file(&target_group(&format!("    tags: {{{}}}\n", (0..47).map(|i| format!("k{i}: v")).collect::<Vec<_>>().join(", "))), codes::ALB_LIMIT, Some("defaultConfiguration.tags"));
    a_tag_value_elb_refuses => Case::file(&target_group("    tags: {team: \"a;b\"}\n"), codes::ALB_VALUE, Some("defaultConfiguration.tags"));
    the_metadata_service_as_a_target => Case::file(&target_group("    targetType: ip\n    targets: [{id: 169.254.169.254, port: 80}]\n"), codes::UNSAFE_TARGET, Some("targets[0].id"));
    a_link_local_target => Case::file(&target_group("    targetType: ip\n    targets: [{id: 10.0.1.9}, {id: 169.254.10.10}]\n"), codes::UNSAFE_TARGET, Some("targets[1].id"));
    a_loopback_target => Case::file(&target_group("    targetType: ip\n    targets: [{id: 127.0.0.1}]\n"), codes::UNSAFE_TARGET, Some("targets[0].id"));
    the_ipv6_metadata_service_as_a_target => Case::file(&target_group("    targetType: ip\n    targets: [{id: \"fd00:ec2::254\"}]\n"), codes::UNSAFE_TARGET, Some("targets[0].id"));
    a_mapped_metadata_address => Case::file(&target_group("    targetType: ip\n    targets: [{id: \"::ffff:169.254.169.254\"}]\n"), codes::UNSAFE_TARGET, Some("targets[0].id"));
    listener_rule_tags_that_would_not_be_applied => Case::file(&rule_configuration("  tags: {team: payments}\n"), codes::UNSUPPORTED, Some("spec.tags"));
    route_configurations_that_would_not_be_applied => Case::file(&format!("{}  routeConfigurations:\n    - routeIdentifier: {{kind: HTTPRoute}}\n      targetGroupProps: {{targetGroupName: orders-asg}}\n", target_group("    targetType: ip\n")), codes::UNSUPPORTED, Some("spec.routeConfigurations"));

    // What ALB cannot take or express (translation).
    a_header_value_longer_than_alb_allows => Case::file(&route(&format!("    - matches: [{{headers: [{{name: x-a, value: {}}}]}}]\n      backendRefs: [{{name: payments-api, port: 8080}}]\n", "v".repeat(200))), codes::ALB_VALUE, Some("spec.rules[0]"));
    a_regex_query_parameter => Case::file(&route("    - matches: [{queryParams: [{name: q, type: RegularExpression, value: '^a+$'}]}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::UNSUPPORTED, Some("queryParams[0]"));
    a_fixed_response_body_longer_than_alb_allows => Case::file(&rule_configuration(&format!("  actions:\n    - type: fixed-response\n      fixedResponseConfig: {{statusCode: 200, contentType: text/plain, messageBody: {}}}\n", "b".repeat(1100))), codes::ALB_VALUE, Some("spec.rules[0]")).answers_500();
    a_request_mirror => Case::file(&route("    - matches: [{path: {value: /mirror}}]\n      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: payments-api, port: 8080}}}]\n      backendRefs: [{name: payments-api, port: 8080}]\n"), codes::UNSUPPORTED, Some("filters[0]")).answers_500();

    // References the Gateway API keeps routes with (an error; the rule answers 500 or the
    // route does not attach), and warnings.
    a_backend_of_another_namespace_without_a_grant => Case::file(&route("    - backendRefs: [{name: orders-api, namespace: orders, port: 8080}]\n"), codes::REF_NOT_PERMITTED, Some("backendRefs[0]")).error();
    a_backend_that_is_not_declared => Case::file(&route("    - backendRefs: [{name: nowhere, port: 8080}]\n"), codes::BACKEND_NOT_FOUND, Some("backendRefs[0]")).error();
    a_parent_that_does_not_exist => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("name: public,", "name: private,"), codes::PARENT_NOT_FOUND, Some("parentRefs[0]")).error();
    a_listener_that_does_not_exist => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("sectionName: https", "sectionName: admin"), codes::NO_MATCHING_PARENT, Some("parentRefs[0]")).error();
    a_status_written_by_hand => Case::file(&format!("{}status: {{parents: []}}\n", route(&path_rule("PathPrefix", "/a"))), codes::IGNORED_STATUS, Some("status")).warning();
    an_unknown_route_field => Case::file(&route(&path_rule("PathPrefix", "/a")).replace("spec:\n", "spec:\n  priority: 1\n"), codes::UNKNOWN_FIELD, Some("spec.priority"));
    a_misspelt_weight_is_not_weight_one => Case::file(&route("    - backendRefs: [{name: payments-api, port: 8080, wieght: 10}]\n"), codes::UNKNOWN_FIELD, Some("backendRefs[0].wieght"));
}

/// Ten levels of nine aliases each: 9^10 nodes once expanded.
fn billion_laughs() -> String {
    let mut text =
        String::from("apiVersion: v1\nkind: HTTPRoute\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text
}

/// A blob far over the file limit, committed and then deleted, is never loaded when route
/// ages walk the history: the walk sizes blobs from their headers first.
#[test]
fn an_oversized_file_in_history_is_never_loaded() {
    let mut repo = baseline();
    let id = stream_blob(&repo, 96 * 1024 * 1024);
    repo.blob_at("teams/payments/dump.yaml", id);
    repo.commit("A 96 MiB file");
    repo.remove("teams/payments/dump.yaml");
    repo.commit("Removed again");
    let memory_before = peak_memory_kb();
    let checked = check_rev(&repo, "HEAD");
    let grew = peak_memory_kb().saturating_sub(memory_before);
    assert!(
        grew < 32 * 1024,
        "the walk raised peak memory by {grew} KiB"
    );
    assert_eq!(
        checked.admission.team(TEAM).unwrap().verdict,
        Verdict::Admitted
    );
}

/// A team's commit that also changes the tenants file is flagged for the platform's review.
#[test]
fn a_tenants_change_in_a_team_commit_is_flagged() {
    let mut repo = baseline();
    let widened = gitrepo::TENANTS.replace(
        "hostnames: [\"pay.example.com\"",
        "hostnames: [\"orders.example.com\", \"pay.example.com\"",
    );
    assert_ne!(widened, gitrepo::TENANTS);
    repo.write("tenants.yaml", &widened);
    repo.write(
        "teams/payments/hostile.yaml",
        route_with(
            "  hostnames: [orders.example.com]\n",
            &path_rule("PathPrefix", "/a"),
        ),
    );
    repo.commit("payments: a route (and a small tenants fix)");
    let checked = check_rev(&repo, "HEAD");
    let flagged = checked
        .admission
        .revision_diagnostics
        .iter()
        .find(|d| d.code == codes::TENANTS_CHANGED_WITH_TEAMS)
        .unwrap_or_else(|| panic!("not flagged:\n{}", dump(&checked)));
    assert_eq!(flagged.severity, Severity::Warning);
    assert_eq!(flagged.file.as_deref(), Some("tenants.yaml"));
    assert!(flagged.message.contains("payments"), "{flagged}");
    // A commit to a team folder alone is not flagged.
    let quiet = check_rev(&repo, "HEAD~1");
    assert!(
        !quiet
            .admission
            .revision_diagnostics
            .iter()
            .any(|d| d.code == codes::TENANTS_CHANGED_WITH_TEAMS)
    );
}

/// A revision over the revision-wide cap loads nothing and is refused by name, with the
/// folders that hold its bulk; the last admitted state stays.
#[test]
fn a_revision_over_the_cap_names_its_largest_folders() {
    let mut repo = baseline();
    for i in 0..40 {
        repo.write(&format!("teams/payments/f{i}.yaml"), "# x\n");
    }
    repo.commit("Many files");
    let mut config = config();
    config.limits.max_files = 30;
    config.limits.max_files_per_owner = 30;
    let source = Source::open_local(repo.path()).unwrap();
    let checked = check(&source, source.resolve("HEAD").unwrap(), &config).unwrap();
    assert!(!checked.admission.revision_valid());
    let refusal = &checked.admission.revision_diagnostics[0];
    assert_eq!(refusal.code, codes::REVISION_TOO_LARGE);
    assert!(
        refusal.message.contains("more than limits.max_files = 30"),
        "{refusal}"
    );
    assert!(
        refusal
            .message
            .contains("largest folders: teams/payments (42 files"),
        "{refusal}"
    );
}
