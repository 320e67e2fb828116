//! Properties of the loader, admission and translation over generated input (proptest):
//! whatever a team commits to its own folder,
//! - nothing panics;
//! - the verdict, documents and translated rules of every other team stay what they were;
//! - every rule that reaches the desired ALB state passes ALB's value rules
//!   (`alb::values`), so nothing AWS would refuse is admitted.
//!
//! Input is generated two ways: HTTPRoute documents built field by field from values that
//! mix the ordinary with the hostile (dot segments, control characters, out-of-range
//! numbers, characters ALB refuses), written as JSON (which YAML reads); and arbitrary
//! YAML-flavoured text. Both are committed, in memory, as `teams/payments/generated.yaml`
//! beside the baseline's files.

mod gitrepo;

use gitrepo::BASELINE_FILES;
use gwsync::alb::{Rule, values};
use gwsync::config::Limits;
use gwsync::source::{Revision, Snapshot, SourceFile};
use gwsync::tenancy::{Admission, AdmitOptions, Verdict, admit};
use gwsync::translate::{RouteAges, TranslateOptions, Translation, translate};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

const GENERATED: &str = "teams/payments/generated.yaml";
const BYSTANDER: &str = "orders";

fn options() -> AdmitOptions {
    AdmitOptions {
        tenants_file: "tenants.yaml".into(),
        limits: Limits::default(),
        gateway_classes: vec!["gwsync".into()],
    }
}

fn snapshot(extra: Option<&[u8]>) -> Snapshot {
    let mut files: Vec<SourceFile> = BASELINE_FILES
        .iter()
        .map(|(path, text)| SourceFile {
            path: path.to_string(),
            bytes: text.as_bytes().to_vec(),
        })
        .collect();
    if let Some(bytes) = extra {
        files.push(SourceFile {
            path: GENERATED.to_string(),
            bytes: bytes.to_vec(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Snapshot {
        revision: Revision {
            commit: "0".repeat(40),
            author: "proptest".into(),
            committed_at: 0,
            summary: "generated".into(),
        },
        files,
        entries_refused: Vec::new(),
        submodules: Vec::new(),
        over_limits: None,
    }
}

fn check(extra: Option<&[u8]>) -> (Admission, Translation) {
    let admission = admit(&snapshot(extra), &options());
    let translation = translate(&admission, &RouteAges::new(), &TranslateOptions::default());
    (admission, translation)
}

/// What the bystander has when nobody else changed anything: its document keys and its
/// rules (without priorities, which move when other teams' rules come and go).
fn bystander(admission: &Admission, translation: &Translation) -> (Vec<String>, Vec<String>) {
    let team = admission
        .team(BYSTANDER)
        .expect("the bystander has an outcome");
    assert_eq!(team.verdict, Verdict::Admitted);
    assert!(!team.has_errors());
    assert!(!translation.refused_teams.contains(BYSTANDER));
    let documents = team.documents.iter().map(|d| d.key.to_string()).collect();
    let rules = all_rules(translation)
        .filter(|r| r.owner.as_deref() == Some(BYSTANDER))
        .map(|r| {
            let mut r = r.clone();
            r.priority = 0;
            serde_json::to_string(&r).unwrap()
        })
        .collect();
    (documents, rules)
}

fn baseline_bystander() -> &'static (Vec<String>, Vec<String>) {
    static BASELINE: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let (admission, translation) = check(None);
        bystander(&admission, &translation)
    })
}

fn all_rules(translation: &Translation) -> impl Iterator<Item = &Rule> {
    translation
        .stack
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| &l.rules)
}

/// The three properties, for one generated file.
fn holds_for(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (admission, translation) = check(Some(bytes));
    prop_assert!(
        admission.revision_valid(),
        "a team's file never invalidates the revision"
    );
    prop_assert_eq!(&bystander(&admission, &translation), baseline_bystander());
    for rule in all_rules(&translation) {
        for condition in &rule.conditions {
            prop_assert_eq!(values::condition_problem(condition), None, "{:?}", rule);
        }
        for action in &rule.actions {
            prop_assert_eq!(values::action_problem(action), None, "{:?}", rule);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Generators.

/// Text that mixes ordinary characters with the ones that matter: separators, dot
/// segments, escapes, control characters, wildcards, characters ALB refuses.
fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "(a|b|z|0|9|-|_|\\.|/|\\.\\.|%2e|%2F|%|#|\\?|\\*|~|:|@|;|=|&| |\r|\n|\t|\u{1b}|é|<|>|\"|'){{0,{max}}}"
    ))
    .unwrap()
}

/// Mostly an ordinary value matching `ordinary` (a regex), sometimes hostile text: so that
/// many generated routes are admitted and reach the ALB model, and the rest probe the
/// checks one field at a time.
fn mostly(ordinary: &'static str, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        29 => proptest::string::string_regex(ordinary).unwrap(),
        1 => hostile_text(max),
    ]
}

fn number(ordinary: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    prop_oneof![
        39 => ordinary,
        1 => prop_oneof![
            Just(0i64),
            Just(-1),
            Just(65536),
            Just(1_000_001),
            -100_000i64..2_000_000,
        ],
    ]
}

fn hostname() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => Just("pay.example.com".to_string()),
        8 => Just("checkout.pay.example.com".to_string()),
        2 => Just("api.example.com".to_string()),
        1 => Just("orders.example.com".to_string()),
        1 => Just("*.example.com".to_string()),
        4 =>
        mostly("[a-z][a-z0-9-]{0,8}", 20).prop_map(|t| format!("{t}.pay.example.com")),
    ]
}

fn path_match() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => Just("PathPrefix"), 2 => Just("Exact"), 1 => Just("RegularExpression")],
        prop_oneof![
            28 => mostly("/payments(/[a-z0-9._~-]{1,8}){0,3}/?", 12),
            1 => hostile_text(12),
            1 => Just("/payments/../orders".to_string()),
        ],
    )
        .prop_map(|(kind, value)| json!({"type": kind, "value": value}))
}

fn a_match() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(path_match()),
        proptest::collection::vec(
            (
                mostly("x-[a-z]{1,8}", 8),
                mostly("[a-zA-Z0-9 ._-]{0,12}", 12),
            ),
            0..3,
        ),
        proptest::collection::vec(
            (mostly("[a-z]{1,8}", 8), mostly("[a-zA-Z0-9._-]{0,12}", 12)),
            0..3,
        ),
        proptest::option::of(prop_oneof![Just("GET"), Just("POST"), Just("PATCH")]),
    )
        .prop_map(|(path, headers, queries, method)| {
            let mut m = json!({});
            if let Some(path) = path {
                m["path"] = path;
            }
            if !headers.is_empty() {
                m["headers"] = headers
                    .into_iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect();
            }
            if !queries.is_empty() {
                m["queryParams"] = queries
                    .into_iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect();
            }
            if let Some(method) = method {
                m["method"] = json!(method);
            }
            m
        })
}

fn backend() -> impl Strategy<Value = Value> {
    prop_oneof![
        24 => (number(8080..8081), proptest::option::of(number(0..100))).prop_map(|(port, weight)| {
            let mut b = json!({"name": "payments-api", "port": port});
            if let Some(w) = weight {
                b["weight"] = json!(w);
            }
            b
        }),
        4 => prop_oneof![
            8 => Just("payments-web-asg".to_string()),
            1 => Just("orders-asg".to_string()),
            1 => hostile_text(20)
        ]
        .prop_map(
            |name| json!({"group": "gateway.k8s.aws", "kind": "TargetGroupName", "name": name})
        ),
        1 => Just(json!({"name": "orders-api", "namespace": "orders", "port": 8080})),
    ]
}

fn filter() -> impl Strategy<Value = Value> {
    prop_oneof![
        (mostly("/[a-z]{1,8}", 10), number(1..65536)).prop_map(|(path, port)| json!({
            "type": "RequestRedirect",
            "requestRedirect": {"path": {"type": "ReplaceFullPath", "replaceFullPath": path}, "port": port}
        })),
        (mostly("x-[a-z]{1,8}", 10), mostly("[a-z0-9]{1,8}", 10)).prop_map(|(name, value)| json!({
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": name, "value": value}]}
        })),
        mostly("/[a-z]{0,8}", 10).prop_map(|prefix| json!({
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": prefix}}
        })),
    ]
}

fn rule() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(a_match(), 0..3),
        proptest::collection::vec(backend(), 0..3),
        proptest::collection::vec(filter(), 0..2),
    )
        .prop_map(|(matches, backends, filters)| {
            let mut r = json!({});
            if !matches.is_empty() {
                r["matches"] = json!(matches);
            }
            if !backends.is_empty() {
                r["backendRefs"] = json!(backends);
            }
            if !filters.is_empty() {
                r["filters"] = json!(filters);
            }
            r
        })
}

fn route() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            28 => Just("generated".to_string()),
            1 => Just("payments-web".to_string()),
            1 => hostile_text(10)
        ],
        prop_oneof![6 => Just("https"), 2 => Just("http"), 1 => Just("admin")],
        proptest::collection::vec(hostname(), 1..3),
        proptest::collection::vec(rule(), 0..4),
    )
        .prop_map(|(name, section, hostnames, rules)| {
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": name},
                "spec": {
                    "parentRefs": [{"name": "public", "namespace": "platform", "sectionName": section}],
                    "hostnames": hostnames,
                    "rules": rules,
                }
            })
        })
}

/// YAML-flavoured text: keys, indentation, flow collections, anchors, aliases, merge keys,
/// tags, document markers.
fn yaml_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "(apiVersion: gateway.networking.k8s.io/v1\n|kind: HTTPRoute\n|metadata: \\{name: x\\}\n|spec:\n|  rules:\n|  - |\\{|\\}|\\[|\\]|, |: |&a |\\*a|<<: |!!str |---\n|\\.\\.\\.\n|port: |-1|70000|\"|'|#|\n|  |\t|\u{0}|\u{1b}|x|/){0,60}",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_routes_never_reach_another_team_or_aws_unchecked(
        routes in proptest::collection::vec(route(), 1..3)
    ) {
        // Each route its own name, or they would be refused as duplicates.
        let text: Vec<String> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::to_string(r).unwrap().replace("\"generated\"", &format!("\"generated-{i}\"")))
            .collect();
        holds_for(text.join("\n---\n").as_bytes())?;
    }

    #[test]
    fn arbitrary_yaml_text_never_reaches_another_team(text in yaml_text()) {
        holds_for(text.as_bytes())?;
    }

    #[test]
    fn arbitrary_bytes_never_reach_another_team(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        holds_for(&bytes)?;
    }
}

/// The generator stays meaningful: a good share of what it makes is admitted and reaches the
/// ALB model, so the value property above is exercised on real rules, not only refusals.
#[test]
fn generated_routes_often_reach_the_model() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let samples = 200;
    let reaching = (0..samples)
        .filter(|_| {
            let route = route().new_tree(&mut runner).unwrap().current();
            let text = serde_json::to_string(&route).unwrap();
            let (_, translation) = check(Some(text.as_bytes()));
            all_rules(&translation).any(|r| {
                matches!(&r.source, Some(gwsync::alb::RuleSource::Route { route, .. }) if route.starts_with("payments/generated"))
            })
        })
        .count();
    assert!(
        reaching * 5 >= samples,
        "only {reaching} of {samples} generated routes reach the model"
    );
}
