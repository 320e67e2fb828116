//! Translation tests on in-memory revisions: the behaviour is checked through the ALB
//! evaluator (which knows nothing of Gateway API), the shapes where they are the point.

use super::*;
use crate::alb::evaluate::{Outcome as Answered, Request, evaluate};
use crate::alb::{Authenticate, UNRESOLVED_BACKEND};
use crate::config::Limits;
use crate::diagnostic::Severity;
use crate::source::{Revision, Snapshot, SourceFile};
use crate::tenancy::{AdmitOptions, admit};

const TENANTS: &str = "apiVersion: gwsync.dev/v1alpha1
kind: Tenants
platform: {path: platform/, namespace: platform}
teams:
  - {name: a, path: teams/a/, namespace: a, hostnames: ['*'], targetGroups: ['*']}
  - {name: b, path: teams/b/, namespace: b, hostnames: ['*'], targetGroups: ['*']}
";

const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: platform}
spec:
  gatewayClassName: gwsync
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
";

/// A TargetGroupConfiguration for each of `services` in namespace `ns`.
fn services(ns: &str, services: &[&str]) -> String {
    services
        .iter()
        .map(|s| {
            format!(
                "apiVersion: gateway.k8s.aws/v1beta1\nkind: TargetGroupConfiguration\nmetadata: {{name: {s}, namespace: {ns}}}\nspec: {{targetReference: {{name: {s}}}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// An HTTPRoute on `gw` with the given `spec.rules` YAML (indented by 2).
fn route(ns: &str, name: &str, hostnames: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  parentRefs: [{{name: gw, namespace: platform}}]\n  hostnames: {hostnames}\n  rules:\n{rules}"
    )
}

fn snapshot(files: &[(&str, String)]) -> Snapshot {
    let mut all = vec![
        ("tenants.yaml".to_string(), TENANTS.to_string()),
        ("platform/gw.yaml".to_string(), GATEWAY.to_string()),
        (
            "teams/a/svc.yaml".to_string(),
            services("a", &["a1", "a2", "a3"]),
        ),
        ("teams/b/svc.yaml".to_string(), services("b", &["b1", "b2"])),
    ];
    for (path, text) in files {
        // A file given by the test replaces the base file of the same path.
        all.retain(|(p, _)| p != path);
        all.push((path.to_string(), text.clone()));
    }
    Snapshot {
        revision: Revision {
            commit: "0".repeat(40),
            author: "t <t@t>".into(),
            committed_at: 0,
            summary: "test".into(),
        },
        files: all
            .into_iter()
            .map(|(path, text)| SourceFile {
                path,
                bytes: text.into_bytes(),
            })
            .collect(),
        entries_refused: vec![],
        submodules: vec![],
        over_limits: None,
    }
}

fn run_with(files: &[(&str, String)], ages: &RouteAges, options: &TranslateOptions) -> Translation {
    let admission = admit(
        &snapshot(files),
        &AdmitOptions {
            tenants_file: "tenants.yaml".into(),
            limits: Limits::default(),
            gateway_classes: vec!["gwsync".into()],
        },
    );
    for t in &admission.teams {
        assert_eq!(t.verdict, Verdict::Admitted, "{:?}", t.diagnostics);
    }
    translate(&admission, ages, options)
}

fn run(files: &[(&str, String)]) -> Translation {
    run_with(files, &RouteAges::new(), &TranslateOptions::default())
}

/// Where a request goes: `backend` names for a forward, `status N` otherwise.
fn send(t: &Translation, url: &str, headers: &[(&str, &str)]) -> String {
    send_method(t, url, "GET", headers)
}

fn send_method(t: &Translation, url: &str, method: &str, headers: &[(&str, &str)]) -> String {
    let lb = t
        .stack
        .load_balancer("platform/gw")
        .expect("the gateway's load balancer");
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let answer = evaluate(lb, &Request::parse(url, method, &headers).unwrap()).unwrap();
    match answer.action {
        Answered::Forward { backends, .. } => backends
            .iter()
            .filter(|b| b.weight > 0)
            .map(|b| b.backend.clone())
            .collect::<Vec<_>>()
            .join(","),
        Answered::Redirect { status, location } => format!("redirect {status} {location}"),
        Answered::FixedResponse { status } => format!("status {status}"),
    }
}

/// The first diagnostic of translation with `code`.
fn first_with(t: &Translation, code: crate::diagnostic::Code) -> &Diagnostic {
    t.diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("a {code} diagnostic: {:?}", t.diagnostics))
}

fn codes_for(t: &Translation, team: &str) -> Vec<&'static str> {
    t.diagnostics
        .iter()
        .filter(|d| d.team.as_deref() == Some(team))
        .map(|d| d.code.0)
        .collect()
}

#[test]
fn path_prefix_is_segment_wise() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {type: PathPrefix, value: /abc/}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    assert_eq!(send(&t, "http://x.com/abc", &[]), "a/a1");
    assert_eq!(send(&t, "http://x.com/abc/", &[]), "a/a1");
    assert_eq!(send(&t, "http://x.com/abc/d", &[]), "a/a1");
    assert_eq!(send(&t, "http://x.com/abcd", &[]), "status 404");
    assert_eq!(send(&t, "http://y.com/abc", &[]), "status 404");
}

#[test]
fn exact_paths_with_wildcard_characters_stay_exact() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {type: Exact, value: '/a*b'}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    // `?` cannot be in a Gateway API path (it starts the query); `*` can, and stays literal.
    assert_eq!(send(&t, "http://x.com/aXXb", &[]), "status 404");
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let rule = &lb.listeners[0].rules[0];
    assert!(matches!(
        &rule.conditions[1],
        Condition::PathPattern { values: Patterns::Regex(v) } if v == &["^/a\\*b$".to_string()]
    ));
}

#[test]
fn precedence_across_routes_follows_the_spec() {
    // Route `b/late` is older than `a/early`, so it wins ties; each other criterion is
    // decided before age.
    let a = route(
        "a",
        "early",
        "[x.com]",
        "    - matches: [{path: {type: PathPrefix, value: /p}}]\n      backendRefs: [{name: a1, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /p}, method: POST}]\n      backendRefs: [{name: a2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /p}, headers: [{name: h, value: '1'}], queryParams: [{name: q, value: '1'}]}]\n      backendRefs: [{name: a3, port: 80}]
",
    );
    let b = route(
        "b",
        "late",
        "[x.com]",
        "    - matches: [{path: {type: Exact, value: /p/exact}}]\n      backendRefs: [{name: b1, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /p}, headers: [{name: h, value: '1'}, {name: i, value: '2'}]}]\n      backendRefs: [{name: b2, port: 80}]
",
    );
    let ages = RouteAges::from([("a/early".to_string(), 200), ("b/late".to_string(), 100)]);
    let t = run_with(
        &[("teams/a/r.yaml", a), ("teams/b/r.yaml", b)],
        &ages,
        &TranslateOptions::default(),
    );
    // Exact beats every prefix.
    assert_eq!(
        send(&t, "http://x.com/p/exact", &[("h", "1"), ("i", "2")]),
        "b/b1"
    );
    // Method beats header count.
    assert_eq!(
        send_method(&t, "http://x.com/p", "POST", &[("h", "1"), ("i", "2")]),
        "a/a2"
    );
    // Two headers beat one header and a query.
    assert_eq!(
        send(&t, "http://x.com/p?q=1", &[("h", "1"), ("i", "2")]),
        "b/b2"
    );
    assert_eq!(send(&t, "http://x.com/p?q=1", &[("h", "1")]), "a/a3");
    assert_eq!(send(&t, "http://x.com/p/x", &[]), "a/a1");
}

#[test]
fn ties_go_to_the_older_route_then_the_name() {
    let rule = |svc: &str| {
        format!(
            "    - matches: [{{path: {{type: PathPrefix, value: /same}}}}]\n      backendRefs: [{{name: {svc}, port: 80}}]\n"
        )
    };
    let files = [
        ("teams/a/r.yaml", route("a", "zz", "[x.com]", &rule("a1"))),
        ("teams/b/r.yaml", route("b", "aa", "[x.com]", &rule("b1"))),
    ];
    let by_name = run(&files);
    assert_eq!(send(&by_name, "http://x.com/same", &[]), "a/a1");
    let ages = RouteAges::from([("a/zz".to_string(), 20), ("b/aa".to_string(), 10)]);
    let by_age = run_with(&files, &ages, &TranslateOptions::default());
    assert_eq!(send(&by_age, "http://x.com/same", &[]), "b/b1");
}

#[test]
fn the_same_input_in_another_file_order_gives_the_same_stack() {
    let r1 = route(
        "a",
        "one",
        "[x.com]",
        "    - matches: [{path: {value: /one}}]\n      backendRefs: [{name: a1, port: 80}]\n",
    );
    let r2 = route(
        "b",
        "two",
        "[x.com, y.com]",
        "    - matches: [{path: {value: /two}}, {path: {value: /deux}}]\n      backendRefs: [{name: b1, port: 80}]\n",
    );
    let forward = run(&[
        ("teams/a/1.yaml", r1.clone()),
        ("teams/b/2.yaml", r2.clone()),
    ]);
    let reverse = run(&[("teams/b/0.yaml", r2), ("teams/a/9.yaml", r1)]);
    // Only where each route is written differs.
    let without_files = |mut stack: Stack| {
        for rule in stack
            .load_balancers
            .iter_mut()
            .flat_map(|lb| &mut lb.listeners)
            .flat_map(|l| &mut l.rules)
        {
            if let Some(RuleSource::Route { file, .. }) = &mut rule.source {
                assert!(file.as_deref().is_some_and(|f| f.starts_with("teams/")));
                *file = None;
            }
        }
        stack
    };
    assert_eq!(without_files(forward.stack), without_files(reverse.stack));
}

#[test]
fn weights_are_scaled_into_alb_range_keeping_ratios() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - backendRefs: [{name: a1, port: 80, weight: 1000000}, {name: a2, port: 80, weight: 1}, {name: a3, port: 80, weight: 0}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let Action::Forward { target_groups, .. } = &lb.listeners[0].rules[0].actions[0] else {
        panic!("forward expected");
    };
    let weights: Vec<u32> = target_groups.iter().map(|t| t.weight).collect();
    assert_eq!(weights, [999, 1, 0]);
}

#[test]
fn unresolved_backends_answer_500_and_never_fall_through() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {value: /missing}}]\n      backendRefs: [{name: nope, port: 80}]
    - matches: [{path: {value: /none}}]
    - matches: [{path: {value: /mixed}}]\n      backendRefs: [{name: a1, port: 80}, {name: nope, port: 80}]
    - backendRefs: [{name: a2, port: 80}]
",
        ),
    )]);
    assert_eq!(send(&t, "http://x.com/missing", &[]), "status 500");
    assert_eq!(send(&t, "http://x.com/none", &[]), "status 500");
    // Some resolved: they keep their share, the unresolved share goes to the empty group.
    assert_eq!(
        send(&t, "http://x.com/mixed", &[]),
        format!("a/a1,{}", UNRESOLVED_BACKEND.trim_end_matches(":80"))
    );
    assert_eq!(send(&t, "http://x.com/other", &[]), "a/a2");
    let codes = codes_for(&t, "a");
    assert!(codes.contains(&"mixed-backends"), "{codes:?}");
    assert!(codes.contains(&"backend-not-found"), "{codes:?}");
    assert!(t.refused_teams.is_empty());
}

/// Gateway API: a rule with some invalid backends answers 500 for the invalid backends'
/// share only. On ALB that share goes to a target group without targets (503); the
/// proportions are the weights as written.
#[test]
fn unresolved_backends_take_only_their_share() {
    let rules = "    - matches: [{path: {value: /three-to-one}}]\n      backendRefs: [{name: a1, port: 80, weight: 3}, {name: nope, port: 80, weight: 1}]
    - matches: [{path: {value: /weightless}}]\n      backendRefs: [{name: a1, port: 80}, {name: nope, port: 80, weight: 0}]
    - matches: [{path: {value: /all-invalid}}]\n      backendRefs: [{name: a1, port: 80, weight: 0}, {name: nope, port: 80}]
";
    let t = run(&[("teams/a/r.yaml", route("a", "r", "[x.com]", rules))]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let forward = |path: &str| -> Vec<(String, u32)> {
        let rule = lb.listeners[0]
            .rules
            .iter()
            .find(|r| {
                r.conditions.iter().any(|c| {
                    matches!(c, Condition::PathPattern { values: Patterns::Wildcard(v) } if v[0] == path)
                })
            })
            .unwrap();
        match &rule.actions[0] {
            Action::Forward { target_groups, .. } => target_groups
                .iter()
                .map(|w| match &w.target_group {
                    TargetGroupRef::Owned(b) => (b.clone(), w.weight),
                    TargetGroupRef::Existing(n) => (n.clone(), w.weight),
                })
                .collect(),
            other => vec![(format!("{other:?}"), 0)],
        }
    };
    assert_eq!(
        forward("/three-to-one"),
        [
            ("a/a1:80".to_string(), 3),
            (UNRESOLVED_BACKEND.to_string(), 1)
        ]
    );
    assert_eq!(forward("/weightless"), [("a/a1:80".to_string(), 1)]);
    assert_eq!(send(&t, "http://x.com/all-invalid", &[]), "status 500");
    let empty = lb
        .target_groups
        .iter()
        .find(|tg| tg.backend == UNRESOLVED_BACKEND)
        .expect("the empty target group");
    assert!(empty.targets.is_empty());
    assert_eq!(empty.owner.as_deref(), Some("platform"));
    assert!(
        crate::alb::values::resource_name(&empty.name).is_ok(),
        "{}",
        empty.name
    );
    assert!(t.refused_teams.is_empty());
    let warning = first_with(&t, codes::MIXED_BACKENDS);
    assert_eq!(warning.severity, Severity::Warning);
    assert!(
        warning.message.contains("1 of 4 weight"),
        "{}",
        warning.message
    );
}

#[test]
fn inexpressible_filters_are_errors_and_their_rule_answers_500() {
    let a = route(
        "a",
        "r",
        "[x.com]",
        "    - matches: [{path: {value: /modify}}]\n      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: y}]}}]\n      backendRefs: [{name: a1, port: 80}]
    - backendRefs: [{name: a2, port: 80}]
",
    );
    let b = route(
        "b",
        "r",
        "[y.com]",
        "    - backendRefs: [{name: b1, port: 80}]\n",
    );
    let t = run(&[("teams/a/r.yaml", a), ("teams/b/r.yaml", b)]);
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.team.as_deref() == Some("a"))
        .unwrap();
    // An error on the rule, not a refusal of the team: its other rules are translated.
    assert_eq!(d.severity, Severity::Error);
    assert!(!t.refused_teams.contains("a"));
    assert!(d.message.contains("not expressible on ALB"), "{d}");
    assert_eq!(d.field.as_deref(), Some("spec.rules[0].filters[0]"));
    // The refused rule's own requests fail closed; they never fall through to rule 1.
    assert_eq!(send(&t, "http://x.com/modify", &[]), "status 500");
    assert_eq!(send(&t, "http://x.com/other", &[]), "a/a2");
    assert_eq!(send(&t, "http://y.com/", &[]), "b/b1");
}

#[test]
fn inexpressible_conditions_refuse_the_team() {
    let a = route(
        "a",
        "r",
        "[x.com]",
        "    - matches: [{queryParams: [{name: q, type: RegularExpression, value: '^a+$'}]}]\n      backendRefs: [{name: a1, port: 80}]\n",
    );
    let b = route(
        "b",
        "r",
        "[y.com]",
        "    - backendRefs: [{name: b1, port: 80}]\n",
    );
    let t = run(&[("teams/a/r.yaml", a), ("teams/b/r.yaml", b)]);
    assert!(t.refused_teams.contains("a"));
    assert_eq!(send(&t, "http://x.com/?q=aa", &[]), "status 404");
    assert_eq!(send(&t, "http://y.com/", &[]), "b/b1");
}

#[test]
fn redirects_map_to_alb_with_port_defaults_and_name_what_alb_cannot_do() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {value: /secure}}]\n      filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
    - matches: [{path: {value: /moved}}]\n      filters: [{type: RequestRedirect, requestRedirect: {hostname: y.com, statusCode: 301, path: {type: ReplaceFullPath, replaceFullPath: /new}}}]
",
        ),
    )]);
    assert_eq!(
        send(&t, "http://x.com/secure/a?b=1", &[]),
        "redirect 302 https://x.com:443/secure/a?b=1"
    );
    assert_eq!(
        send(&t, "http://x.com/moved", &[]),
        "redirect 301 http://y.com:80/new"
    );

    for (filter, field) in [
        (
            "{type: RequestRedirect, requestRedirect: {statusCode: 307}}",
            "spec.rules[0].filters[0].requestRedirect.statusCode",
        ),
        (
            "{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /x}}}",
            "spec.rules[0].filters[0].requestRedirect.path",
        ),
    ] {
        let t = run(&[(
            "teams/a/r.yaml",
            route("a", "r", "[x.com]", &format!("    - filters: [{filter}]\n")),
        )]);
        assert!(
            t.diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.field.as_deref() == Some(field)),
            "{:?}",
            t.diagnostics
        );
        assert_eq!(send(&t, "http://x.com/", &[]), "status 500", "{filter}");
    }
}

#[test]
fn url_rewrites_become_transforms_that_keep_the_query() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {value: /strip}}]\n      filters: [{type: URLRewrite, urlRewrite: {hostname: internal.x.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let answer = |url: &str| {
        let a = evaluate(lb, &Request::parse(url, "GET", &[]).unwrap()).unwrap();
        match a.action {
            Answered::Forward { request, .. } => format!("{}{}", request.host, request.path),
            other => format!("{other:?}"),
        }
    };
    assert_eq!(answer("http://x.com/strip"), "internal.x.com/");
    assert_eq!(
        answer("http://x.com/strip/three?q=1"),
        "internal.x.com/three?q=1"
    );
}

#[test]
fn listener_isolation_keeps_specific_hostnames_away_from_wildcard_routes() {
    let gateway = GATEWAY.replace(
        "    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n",
        "    - {name: wild, port: 80, protocol: HTTP, hostname: '*.x.com', allowedRoutes: {namespaces: {from: All}}}
    - {name: exact, port: 80, protocol: HTTP, hostname: 'a.x.com', allowedRoutes: {namespaces: {from: All}}}
    - {name: any, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n",
    );
    let on = |section: &str, svc: &str, path: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {section}, namespace: a}}\nspec:\n  parentRefs: [{{name: gw, namespace: platform, sectionName: {section}}}]\n  rules:\n    - matches: [{{path: {{value: {path}}}}}]\n      backendRefs: [{{name: {svc}, port: 80}}]\n"
        )
    };
    let t = run(&[
        ("platform/gw.yaml", gateway),
        ("teams/a/wild.yaml", on("wild", "a1", "/")),
        ("teams/a/exact.yaml", on("exact", "a2", "/only")),
        ("teams/a/any.yaml", on("any", "a3", "/")),
    ]);
    assert_eq!(send(&t, "http://a.x.com/only", &[]), "a/a2");
    // a.x.com belongs to the exact listener: its routes do not match, so 404, not a1.
    assert_eq!(send(&t, "http://a.x.com/else", &[]), "status 404");
    assert_eq!(send(&t, "http://b.x.com/else", &[]), "a/a1");
    assert_eq!(send(&t, "http://x.com/else", &[]), "a/a3");
    assert_eq!(send(&t, "http://other.org/", &[]), "a/a3");
}

#[test]
fn adjacent_matches_of_one_rule_are_compacted_exactly() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {type: Exact, value: /a}}, {path: {type: Exact, value: /b}}, {path: {type: Exact, value: /c}}, {path: {type: Exact, value: /d}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    // Three values per condition: four exact paths need two rules.
    assert_eq!(lb.listeners[0].rules.len(), 2);
    for p in ["/a", "/b", "/c", "/d"] {
        assert_eq!(send(&t, &format!("http://x.com{p}"), &[]), "a/a1");
    }
    assert_eq!(send(&t, "http://x.com/e", &[]), "status 404");
}

#[test]
fn the_same_paths_on_several_hostnames_are_one_rule() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[a.com, b.com]",
            "    - matches: [{path: {type: Exact, value: /x}}, {path: {type: Exact, value: /y}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    // Two hostnames and two paths: four values, one rule (one per match and hostname would
    // be four).
    assert_eq!(
        lb.listeners[0].rules.len(),
        1,
        "{:#?}",
        lb.listeners[0].rules
    );
    for url in [
        "http://a.com/x",
        "http://a.com/y",
        "http://b.com/x",
        "http://b.com/y",
    ] {
        assert_eq!(send(&t, url, &[]), "a/a1", "{url}");
    }
    assert_eq!(send(&t, "http://a.com/z", &[]), "status 404");
    assert_eq!(send(&t, "http://c.com/x", &[]), "status 404");
}

#[test]
fn a_rule_on_hostnames_apart_is_one_rule_only_when_nothing_between_can_take_its_requests() {
    let t = run(&[
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[www.a.com, a.com]",
                "    - matches: [{path: {type: Exact, value: /x}}, {path: {type: Exact, value: /y}}]\n      backendRefs: [{name: a1, port: 80}]\n    - matches: [{path: {value: /p}}]\n      backendRefs: [{name: a1, port: 80}]\n",
            ),
        ),
        (
            "teams/a/s.yaml",
            route(
                "a",
                "s",
                "[a.com]",
                "    - matches: [{path: {value: /p/q}}]\n      backendRefs: [{name: a2, port: 80}]\n",
            ),
        ),
        (
            "teams/b/r.yaml",
            route(
                "b",
                "r",
                "[www.b.com]",
                "    - backendRefs: [{name: b1, port: 80}]\n",
            ),
        ),
    ]);
    let rules = &t.stack.load_balancer("platform/gw").unwrap().listeners[0].rules;
    let shown: Vec<String> = rules
        .iter()
        .map(|r| {
            let conditions = r.conditions.iter().map(crate::alb::render::condition);
            conditions.collect::<Vec<_>>().join(" and ")
        })
        .collect();
    // www.a.com's rules, www.b.com's between them and a.com's: the exact paths of a.com join
    // www.a.com's (nothing between takes /x or /y on a.com); a.com's /p does not (its /p/q
    // rule, between them, takes some of its requests). Seven rules one per match and
    // hostname, five here.
    assert_eq!(
        shown,
        [
            "host www.a.com | a.com and path /x | /y",
            "host www.a.com and path /p | /p/*",
            "host www.b.com",
            "host a.com and path /p/q | /p/q/*",
            "host a.com and path /p | /p/*",
        ],
        "{rules:#?}"
    );
    for (url, answer) in [
        ("http://a.com/x", "a/a1"),
        ("http://www.a.com/y", "a/a1"),
        ("http://a.com/p/q/z", "a/a2"),
        ("http://a.com/p/z", "a/a1"),
        ("http://www.a.com/p/q", "a/a1"),
        ("http://www.b.com/x", "b/b1"),
    ] {
        assert_eq!(send(&t, url, &[]), answer, "{url}");
    }
}

#[test]
fn rule_limits_split_prefixes_then_refuse_naming_the_limit() {
    // Host + two path values + method + two headers = 6 values: split the path pair.
    let split = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {value: /p}, method: GET, headers: [{name: h, value: '1'}, {name: i, value: '2'}]}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    assert!(split.refused_teams.is_empty(), "{:?}", split.diagnostics);
    assert_eq!(split.stack.load_balancers[0].listeners[0].rules.len(), 2);
    assert_eq!(
        send(&split, "http://x.com/p/q", &[("h", "1"), ("i", "2")]),
        "a/a1"
    );

    let over = run(&[
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[x.com]",
                "    - matches: [{path: {value: /p}, method: GET, headers: [{name: h, value: '1'}, {name: i, value: '2'}, {name: j, value: '3'}, {name: k, value: '4'}]}]\n      backendRefs: [{name: a1, port: 80}]\n",
            ),
        ),
        (
            "teams/b/r.yaml",
            route(
                "b",
                "r",
                "[y.com]",
                "    - backendRefs: [{name: b1, port: 80}]\n",
            ),
        ),
    ]);
    assert!(over.refused_teams.contains("a"));
    let d = over
        .diagnostics
        .iter()
        .find(|d| d.code == codes::ALB_LIMIT)
        .unwrap();
    assert!(d.message.contains("ALB allows 5 per rule"), "{d}");
    assert_eq!(d.field.as_deref(), Some("spec.rules[0].matches[0]"));
    assert_eq!(send(&over, "http://y.com/", &[]), "b/b1");
}

#[test]
fn the_rule_quota_refuses_the_team_with_the_most_rules() {
    let many: String = (0..6)
        .map(|i| format!("    - matches: [{{path: {{type: Exact, value: /p{i}}}}}, {{path: {{type: Exact, value: /q{i}}}}}, {{path: {{type: Exact, value: /r{i}}}}}, {{path: {{type: Exact, value: /s{i}}}}}]\n      backendRefs: [{{name: a1, port: 80}}]\n"))
        .collect();
    let options = TranslateOptions {
        rules_per_load_balancer: 5,
        ..TranslateOptions::default()
    };
    let t = run_with(
        &[
            ("teams/a/r.yaml", route("a", "r", "[x.com]", &many)),
            (
                "teams/b/r.yaml",
                route(
                    "b",
                    "r",
                    "[y.com]",
                    "    - backendRefs: [{name: b1, port: 80}]\n",
                ),
            ),
        ],
        &RouteAges::new(),
        &options,
    );
    assert!(t.refused_teams.contains("a"));
    assert!(!t.refused_teams.contains("b"));
    assert_eq!(send(&t, "http://y.com/", &[]), "b/b1");
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.code == codes::ALB_LIMIT)
        .unwrap();
    assert!(d.message.contains("aws.rules_per_load_balancer"), "{d}");
}

#[test]
fn case_insensitive_query_values_are_flagged_and_headers_stay_exact() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{queryParams: [{name: animal, value: whale}], headers: [{name: Version, value: Two}]}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let codes = codes_for(&t, "a");
    assert!(codes.contains(&"alb-differs"), "{codes:?}");
    assert_eq!(
        send(&t, "http://x.com/?animal=whale", &[("version", "Two")]),
        "a/a1"
    );
    // Header values are case-sensitive in Gateway API, and stay so on ALB.
    assert_eq!(
        send(&t, "http://x.com/?animal=whale", &[("version", "two")]),
        "status 404"
    );
}

#[test]
fn load_balancer_and_target_groups_take_their_settings() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - backendRefs: [{name: a1, port: 8080}, {group: gateway.k8s.aws, kind: TargetGroupName, name: legacy}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    assert_eq!(lb.scheme, Scheme::Internal);
    assert!(lb.name.starts_with("gw-platform-gw-"), "{}", lb.name);
    assert_eq!(
        lb.target_groups.len(),
        1,
        "existing target groups are not owned"
    );
    let tg = &lb.target_groups[0];
    assert_eq!((tg.backend.as_str(), tg.port), ("a/a1:8080", 8080));
    assert_eq!(tg.health_check.matcher, Matcher::HttpCode("200".into()));
    assert_eq!(lb.listeners[0].default_action, Action::fixed(404));
}

/// What ALB refuses is found before anything is sent: a condition value ALB refuses refuses
/// its team (as every condition ALB cannot express), naming the value and the match; an
/// action value refuses the rule, which answers 500 while the team's other rules work. The
/// other team is never touched.
#[test]
fn values_alb_refuses_are_diagnostics_not_apply_errors() {
    let long_path = format!("/{}", "p".repeat(200));
    let t = run(&[
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[a.example.com]",
                &format!(
                    "    - matches: [{{path: {{value: {long_path}}}}}]\n      backendRefs: [{{name: a1, port: 80}}]\n"
                ),
            ),
        ),
        (
            "teams/b/r.yaml",
            route(
                "b",
                "r",
                "[b.example.com]",
                "    - backendRefs: [{name: b1, port: 80}]\n",
            ),
        ),
    ]);
    assert!(t.refused_teams.contains("a"), "{:?}", t.diagnostics);
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.code == codes::ALB_VALUE)
        .expect("an alb-value diagnostic");
    assert_eq!(d.team.as_deref(), Some("a"));
    assert_eq!(d.file.as_deref(), Some("teams/a/r.yaml"));
    assert_eq!(d.field.as_deref(), Some("spec.rules[0].matches[0]"));
    assert!(
        d.message.contains("characters; ALB allows 128"),
        "{}",
        d.message
    );
    assert_eq!(send(&t, "http://b.example.com/", &[]), "b/b1");

    let body = "x".repeat(1025);
    let config = format!(
        "apiVersion: gateway.k8s.aws/v1beta1\nkind: ListenerRuleConfiguration\nmetadata: {{name: big, namespace: a}}\nspec:\n  actions:\n    - type: fixed-response\n      fixedResponseConfig: {{statusCode: 503, contentType: text/plain, messageBody: {body}}}\n"
    );
    let rules = "    - matches: [{path: {value: /down}}]\n      filters:\n        - type: ExtensionRef\n          extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: big}\n    - matches: [{path: {value: /up}}]\n      backendRefs: [{name: a1, port: 80}]\n";
    let t = run(&[
        ("teams/a/config.yaml", config),
        ("teams/a/r.yaml", route("a", "r", "[a.example.com]", rules)),
    ]);
    assert!(t.refused_teams.is_empty(), "{:?}", t.diagnostics);
    assert!(
        codes_for(&t, "a").contains(&"alb-value"),
        "{:?}",
        t.diagnostics
    );
    assert_eq!(send(&t, "http://a.example.com/down", &[]), "status 500");
    assert_eq!(send(&t, "http://a.example.com/up", &[]), "a/a1");
}

/// A Gateway without its own LoadBalancerConfiguration takes its GatewayClass's, as in the
/// AWS Load Balancer Controller.
#[test]
fn a_gateway_class_parameters_ref_configures_its_gateways() {
    let class = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gwsync}
spec:
  controllerName: gateway.k8s.aws/alb
  parametersRef: {group: gateway.k8s.aws, kind: LoadBalancerConfiguration, name: class-defaults, namespace: platform}
---
apiVersion: gateway.k8s.aws/v1beta1
kind: LoadBalancerConfiguration
metadata: {name: class-defaults, namespace: platform}
spec: {loadBalancerName: from-the-class, scheme: internet-facing}
";
    let t = run(&[("platform/class.yaml", class.to_string())]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    assert_eq!(lb.name, "from-the-class");
    assert_eq!(lb.scheme, Scheme::InternetFacing);
}

/// Two teams whose grants overlap name their groups alike: on AWS they would be one group,
/// so both teams are refused and neither forwards to the other's targets.
#[test]
fn a_target_group_name_two_teams_give_refuses_both() {
    let named = |ns: &str, svc: &str| {
        format!(
            "apiVersion: gateway.k8s.aws/v1beta1\nkind: TargetGroupConfiguration\nmetadata: {{name: {svc}, namespace: {ns}}}\nspec: {{targetReference: {{name: {svc}}}, defaultConfiguration: {{targetGroupName: shared-name}}}}\n"
        )
    };
    let t = run(&[
        ("teams/a/svc.yaml", named("a", "a1")),
        ("teams/b/svc.yaml", named("b", "b1")),
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[a.example.com]",
                "    - backendRefs: [{name: a1, port: 80}]\n",
            ),
        ),
        (
            "teams/b/r.yaml",
            route(
                "b",
                "r",
                "[b.example.com]",
                "    - backendRefs: [{name: b1, port: 80}]\n",
            ),
        ),
    ]);
    assert!(
        t.refused_teams.contains("a") && t.refused_teams.contains("b"),
        "{:?}",
        t.diagnostics
    );
    let clashes: Vec<_> = t
        .diagnostics
        .iter()
        .filter(|d| d.code == codes::TARGET_GROUP_NAME_TAKEN)
        .collect();
    assert_eq!(clashes.len(), 2, "{clashes:?}");
    assert_eq!(clashes[0].file.as_deref(), Some("teams/a/svc.yaml"));
    assert_eq!(clashes[1].file.as_deref(), Some("teams/b/svc.yaml"));
    assert!(
        t.stack
            .load_balancers
            .iter()
            .all(|lb| lb.target_groups.is_empty())
    );
}

/// The load balancer's default TargetGroupConfiguration fills what a Service's own leaves
/// out, field by field; the Service's own settings win.
#[test]
fn a_default_target_group_configuration_fills_what_a_service_leaves_out() {
    let platform = format!(
        "{GATEWAY}  infrastructure: {{parametersRef: {{group: gateway.k8s.aws, kind: LoadBalancerConfiguration, name: lb}}}}
---
apiVersion: gateway.k8s.aws/v1
kind: LoadBalancerConfiguration
metadata: {{name: lb, namespace: platform}}
spec: {{defaultTargetGroupConfiguration: {{name: ip-targets}}}}
---
apiVersion: gateway.k8s.aws/v1
kind: TargetGroupConfiguration
metadata: {{name: ip-targets, namespace: platform}}
spec:
  defaultConfiguration:
    targetType: ip
    healthCheckConfig: {{healthCheckPath: /healthz, healthCheckInterval: 10}}
    tags: {{cost-center: platform, tier: web}}
"
    );
    let own = "apiVersion: gateway.k8s.aws/v1
kind: TargetGroupConfiguration
metadata: {name: a1, namespace: a}
spec:
  targetReference: {name: a1}
  defaultConfiguration:
    healthCheckConfig: {healthCheckPath: /ready}
    tags: {tier: api}
";
    let t = run(&[
        ("platform/gw.yaml", platform),
        ("teams/a/svc.yaml", own.to_string()),
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[x.com]",
                "    - backendRefs: [{name: a1, port: 80}]\n",
            ),
        ),
    ]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let tg = &lb.target_groups[0];
    assert_eq!(tg.target_type, TargetType::Ip, "from the default");
    assert_eq!(tg.health_check.path, "/ready", "the Service's own wins");
    assert_eq!(
        tg.health_check.interval_seconds, 10,
        "from the default's health check"
    );
    assert_eq!(tg.tags["tier"], "api");
    assert_eq!(tg.tags["cost-center"], "platform");
}

/// A named rule (`rules[].name`) is named wherever its ALB rules are shown.
#[test]
fn named_rules_are_named_in_what_plans_and_explain_show() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - name: checkout\n      matches: [{path: {value: /checkout}}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let source = lb.listeners[0].rules[0].source.as_ref().unwrap();
    let shown = crate::alb::render::source(source);
    assert!(
        shown.starts_with("HTTPRoute a/r rules[0] \"checkout\".matches[0] (teams/a/r.yaml:"),
        "{shown}"
    );
}

/// Matches of one rule that differ only by method fold into one ALB rule with several
/// methods, up to ALB's five condition values per rule (host 1 + path 2 + methods 2 here).
#[test]
fn matches_differing_only_by_method_fold_within_alb_limits() {
    let t = run(&[(
        "teams/a/r.yaml",
        route(
            "a",
            "r",
            "[x.com]",
            "    - matches: [{path: {value: /p}, method: GET}, {path: {value: /p}, method: POST}, {path: {value: /p}, method: PUT}]\n      backendRefs: [{name: a1, port: 80}]\n",
        ),
    )]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let methods: Vec<Vec<String>> = lb.listeners[0]
        .rules
        .iter()
        .filter_map(|r| {
            r.conditions.iter().find_map(|c| match c {
                Condition::HttpRequestMethod { values } => Some(values.clone()),
                _ => None,
            })
        })
        .collect();
    assert_eq!(methods, [vec!["GET", "POST"], vec!["PUT"]]);
    for method in ["GET", "POST", "PUT"] {
        assert_eq!(send_method(&t, "http://x.com/p", method, &[]), "a/a1");
    }
    assert_eq!(
        send_method(&t, "http://x.com/p", "DELETE", &[]),
        "status 404"
    );
}

/// An HTTPS listener without hostname and without certificate gets the ACM certificates of
/// its routes' hostnames (found at apply), as the AWS Load Balancer Controller does; with no
/// route hostname either, that listener alone is not made, with an error on it.
#[test]
fn https_certificates_are_found_from_route_hostnames_or_the_listener_alone_is_left_out() {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: platform}
spec:
  gatewayClassName: gwsync
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
    - {name: https, port: 443, protocol: HTTPS, allowedRoutes: {namespaces: {from: All}}}
";
    let routes = |hostnames: &str| {
        route(
            "a",
            "r",
            hostnames,
            "    - backendRefs: [{name: a1, port: 80}]\n",
        )
    };
    let t = run(&[
        ("platform/gw.yaml", gateway.to_string()),
        ("teams/a/r.yaml", routes("[b.example.com, a.example.com]")),
    ]);
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let https = lb.listeners.iter().find(|l| l.port == 443).unwrap();
    assert_eq!(
        https.certificates,
        [
            Certificate::ForRouteHostname("a.example.com".into()),
            Certificate::ForRouteHostname("b.example.com".into())
        ]
    );

    let t = run(&[
        ("platform/gw.yaml", gateway.to_string()),
        ("teams/a/r.yaml", routes("[]")),
    ]);
    assert!(t.refused_gateways.is_empty(), "the Gateway stays");
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let ports: Vec<u16> = lb.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, [80], "the HTTPS listener alone is left out");
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.code == codes::NO_CERTIFICATE)
        .unwrap();
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.team.as_deref(), Some("platform"));
}

/// A match with exactly the conditions of an earlier rule never matches: it is left out with
/// a warning on it that names the rule that wins.
#[test]
fn an_exact_duplicate_of_an_earlier_match_is_a_warning_naming_both() {
    let older = route(
        "a",
        "first",
        "[x.com]",
        "    - matches: [{path: {value: /same}}]\n      backendRefs: [{name: a1, port: 80}]\n",
    );
    let newer = route(
        "b",
        "second",
        "[x.com]",
        "    - matches: [{path: {value: /same}}]\n      backendRefs: [{name: b1, port: 80}]\n",
    );
    let ages = RouteAges::from([("a/first".to_string(), 1), ("b/second".to_string(), 2)]);
    let t = run_with(
        &[("teams/a/r.yaml", older), ("teams/b/r.yaml", newer)],
        &ages,
        &TranslateOptions::default(),
    );
    assert_eq!(send(&t, "http://x.com/same", &[]), "a/a1");
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.code == codes::UNREACHABLE_MATCH)
        .unwrap_or_else(|| panic!("{:?}", t.diagnostics));
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.team.as_deref(), Some("b"));
    assert_eq!(d.file.as_deref(), Some("teams/b/r.yaml"));
    assert_eq!(d.field.as_deref(), Some("spec.rules[0].matches[0]"));
    assert!(d.message.contains("HTTPRoute a/first rules[0]"), "{d}");
    assert!(!t.refused_teams.contains("b"));
}

/// A default configuration's tags come on top of a Service's own: together they must still
/// fit ELB's tags per resource, or the Service's team is refused before any AWS call.
#[test]
fn merged_default_tags_over_elbs_limit_refuse_the_team() {
    let tags = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| format!("{prefix}{i}: v"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let platform = format!(
        "{GATEWAY}  infrastructure: {{parametersRef: {{group: gateway.k8s.aws, kind: LoadBalancerConfiguration, name: lb}}}}
---
apiVersion: gateway.k8s.aws/v1
kind: LoadBalancerConfiguration
metadata: {{name: lb, namespace: platform}}
spec: {{defaultTargetGroupConfiguration: {{name: tagged}}}}
---
apiVersion: gateway.k8s.aws/v1
kind: TargetGroupConfiguration
metadata: {{name: tagged, namespace: platform}}
spec: {{defaultConfiguration: {{tags: {{{}}}}}}}
",
        tags("d", 30)
    );
    let own = format!(
        "apiVersion: gateway.k8s.aws/v1\nkind: TargetGroupConfiguration\nmetadata: {{name: a1, namespace: a}}\nspec: {{targetReference: {{name: a1}}, defaultConfiguration: {{tags: {{{}}}}}}}\n",
        tags("s", 30)
    );
    let t = run(&[
        ("platform/gw.yaml", platform),
        ("teams/a/svc.yaml", own),
        (
            "teams/a/r.yaml",
            route(
                "a",
                "r",
                "[x.com]",
                "    - backendRefs: [{name: a1, port: 80}]\n",
            ),
        ),
    ]);
    assert!(t.refused_teams.contains("a"), "{:?}", t.diagnostics);
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.code == codes::ALB_LIMIT)
        .unwrap();
    assert_eq!(d.file.as_deref(), Some("teams/a/svc.yaml"));
    assert!(d.message.contains("60 tags"), "{d}");
}

/// A Gateway with an HTTP and an HTTPS listener (its certificates found from the routes'
/// hostnames), and a ListenerRuleConfiguration `cfg` in team a with `actions` (YAML, indented
/// by 4) on a route of team a on both.
fn with_rule_configuration(actions: &str) -> Translation {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: platform}
spec:
  gatewayClassName: gwsync
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
    - {name: https, port: 443, protocol: HTTPS, allowedRoutes: {namespaces: {from: All}}}
";
    let config = format!(
        "apiVersion: gateway.k8s.aws/v1\nkind: ListenerRuleConfiguration\nmetadata: {{name: cfg, namespace: a}}\nspec:\n  actions:\n{actions}"
    );
    let rules = "    - matches: [{path: {value: /app}}]\n      filters:\n        - type: ExtensionRef\n          extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: cfg}\n      backendRefs: [{name: a1, port: 80}]\n    - matches: [{path: {value: /open}}]\n      backendRefs: [{name: a2, port: 80}]\n";
    run(&[
        ("platform/gw.yaml", gateway.to_string()),
        ("teams/a/config.yaml", config),
        ("teams/a/r.yaml", route("a", "r", "[a.example.com]", rules)),
    ])
}

/// The actions of the rule for `/app` on the listener on `port`.
fn app_rule_actions(t: &Translation, port: u16) -> Vec<Action> {
    let lb = t.stack.load_balancer("platform/gw").unwrap();
    let listener = lb.listener(port).unwrap();
    listener
        .rules
        .iter()
        .find(|r| {
            r.conditions.iter().any(|c| {
                matches!(c, Condition::PathPattern { values: Patterns::Wildcard(v) } if v[0] == "/app")
            })
        })
        .map(|r| r.actions.clone())
        .expect("a rule for /app")
}

#[test]
fn jwt_validation_and_stickiness_from_a_rule_configuration_apply_on_https_only() {
    let t = with_rule_configuration(
        "    - type: jwt-validation\n      jwtValidationConfig:\n        issuer: https://idp.example.com\n        jwksEndpoint: https://idp.example.com/keys\n        additionalClaims: [{format: space-separated-values, name: scope, values: [read]}]\n    - type: forward\n      forwardConfig: {targetGroupStickinessConfig: {enabled: true, durationSeconds: 120}}\n",
    );
    assert!(t.refused_teams.is_empty(), "{:?}", t.diagnostics);
    let on_https = app_rule_actions(&t, 443);
    let Action::Authenticate(Authenticate::JwtValidation(jwt)) = &on_https[0] else {
        panic!("JWT validation first: {on_https:?}");
    };
    assert_eq!(jwt.jwks_endpoint, "https://idp.example.com/keys");
    assert_eq!(jwt.additional_claims[0].format, "space-separated-values");
    assert!(matches!(
        on_https[1],
        Action::Forward {
            stickiness_seconds: Some(120),
            ..
        }
    ));
    // ALB validates tokens only on HTTPS listeners: on HTTP the rule answers 500 (never an
    // unvalidated forward), with an error on the rule; the route's other rule works.
    assert_eq!(app_rule_actions(&t, 80), vec![Action::fixed(500)]);
    let error = t
        .diagnostics
        .iter()
        .find(|d| d.message.contains("only on HTTPS listeners"))
        .expect("an error on the rule");
    assert_eq!(error.severity, Severity::Error);
    assert_eq!(error.field.as_deref(), Some("spec.rules[0]"));
    assert_eq!(send(&t, "http://a.example.com/open", &[]), "a/a2");
}

#[test]
fn oidc_names_the_teams_own_secret_and_checks_its_endpoints() {
    let oidc = |issuer: &str| {
        format!(
            "    - type: authenticate-oidc\n      authenticateOIDCConfig:\n        issuer: {issuer}\n        authorizationEndpoint: https://idp.example.com/authorize\n        tokenEndpoint: https://idp.example.com/token\n        userInfoEndpoint: https://idp.example.com/userinfo\n        secret: {{name: idp}}\n        useExistingClientSecret: true\n"
        )
    };
    let t = with_rule_configuration(&oidc("https://idp.example.com"));
    // The only error: the route is on the HTTP listener too, where ALB cannot authenticate.
    assert!(
        t.diagnostics
            .iter()
            .all(|d| d.message.contains("only on HTTPS listeners")),
        "{:?}",
        t.diagnostics
    );
    let Action::Authenticate(Authenticate::Oidc(o)) = &app_rule_actions(&t, 443)[0] else {
        panic!("OIDC first");
    };
    assert_eq!(o.client_id, "", "read from the secret by a live plan only");
    assert_eq!(
        o.credentials,
        Some(crate::alb::OidcCredentials {
            secret: "gwsync/a/idp".into(),
            keep_existing_secret: true,
        })
    );

    let t = with_rule_configuration(&oidc("http://idp.example.com"));
    let d = first_with(&t, codes::ALB_VALUE);
    assert!(
        d.message.contains("not a full https:// URL"),
        "{}",
        d.message
    );
    assert_eq!(app_rule_actions(&t, 443), vec![Action::fixed(500)]);
}

#[test]
fn forward_settings_on_a_rule_that_does_not_forward_are_a_warning() {
    let config = "apiVersion: gateway.k8s.aws/v1\nkind: ListenerRuleConfiguration\nmetadata: {name: sticky, namespace: a}\nspec:\n  actions:\n    - type: forward\n      forwardConfig: {targetGroupStickinessConfig: {enabled: true}}\n";
    let rules = "    - matches: [{path: {value: /old}}]\n      filters:\n        - {type: RequestRedirect, requestRedirect: {hostname: new.example.com}}\n        - type: ExtensionRef\n          extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: sticky}\n";
    let t = run(&[
        ("teams/a/config.yaml", config.to_string()),
        ("teams/a/r.yaml", route("a", "r", "[a.example.com]", rules)),
    ]);
    let d = first_with(&t, codes::UNSUPPORTED);
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message.contains("forwardConfig has no effect"),
        "{}",
        d.message
    );
    assert!(send(&t, "http://a.example.com/old", &[]).starts_with("redirect 302"));

    let t = with_rule_configuration(
        "    - type: forward\n      forwardConfig: {targetGroupStickinessConfig: {enabled: true, durationSeconds: 700000}}\n",
    );
    let d = first_with(&t, codes::ALB_VALUE);
    assert!(
        d.message.contains("stickiness duration of 700000"),
        "{}",
        d.message
    );
}

/// A route with hostnames on a listener whose port clients write into the Host header: the
/// Gateway API ignores the port, ALB may not, and `validate` says so (once per route).
#[test]
fn hostnames_on_a_non_default_port_are_warned_about() {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: platform}
spec:
  gatewayClassName: gwsync
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
    - {name: alt, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
";
    let rules = "    - backendRefs: [{name: a1, port: 80}]\n";
    let t = run(&[
        ("platform/gw.yaml", gateway.to_string()),
        (
            "teams/a/r.yaml",
            route("a", "r", "[a.example.com, b.example.com]", rules),
        ),
        (
            "teams/b/r.yaml",
            route(
                "b",
                "r",
                "[]",
                "    - backendRefs: [{name: b1, port: 80}]\n",
            ),
        ),
    ]);
    let warnings: Vec<&Diagnostic> = t
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("Host: <hostname>:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", t.diagnostics);
    assert_eq!(warnings[0].team.as_deref(), Some("a"));
    assert!(warnings[0].message.contains("port 8080"));
    assert_eq!(warnings[0].field.as_deref(), Some("spec.hostnames"));
}

/// A match that an earlier rule takes every request of never matches on ALB: a warning on
/// it names the rule that does (here a folded method list). Header values that differ only
/// in case are not shadowed: gwsync matches them with case-sensitive regexes. The budget says
/// what compaction saved.
#[test]
fn shadowed_matches_are_warned_about_naming_both_routes() {
    let a = route(
        "a",
        "r",
        "[x.com]",
        "    - matches: [{path: {type: Exact, value: /m}, method: GET}, {path: {type: Exact, value: /m}, method: POST}]\n      backendRefs: [{name: a1, port: 80}]\n    - matches: [{path: {type: Exact, value: /h}, headers: [{name: x-env, value: Prod}]}]\n      backendRefs: [{name: a1, port: 80}]\n",
    );
    let b = route(
        "b",
        "r",
        "[x.com]",
        "    - matches: [{path: {type: Exact, value: /m}, method: GET}]\n      backendRefs: [{name: b1, port: 80}]\n    - matches: [{path: {type: Exact, value: /h}, headers: [{name: x-env, value: prod}]}]\n      backendRefs: [{name: b1, port: 80}]\n",
    );
    let ages = RouteAges::from([("a/r".to_string(), 1), ("b/r".to_string(), 2)]);
    let t = run_with(
        &[("teams/a/r.yaml", a), ("teams/b/r.yaml", b)],
        &ages,
        &TranslateOptions::default(),
    );
    let shadowed: Vec<&Diagnostic> = t
        .diagnostics
        .iter()
        .filter(|d| d.code.0 == "shadowed-match")
        .collect();
    assert_eq!(shadowed.len(), 1, "{:?}", t.diagnostics);
    for d in &shadowed {
        assert_eq!(d.team.as_deref(), Some("b"));
        assert_eq!(d.severity, Severity::Warning);
        assert!(d.message.contains("HTTPRoute a/r"), "{}", d.message);
    }
    assert_eq!(
        shadowed[0].field.as_deref(),
        Some("spec.rules[0].matches[0]")
    );
    assert_eq!(send_method(&t, "http://x.com/m", "GET", &[]), "a/a1");
    assert_eq!(send(&t, "http://x.com/h", &[("x-env", "prod")]), "b/b1");

    let budget = &t.budgets[0];
    assert_eq!((budget.gateway.as_str(), budget.port), ("platform/gw", 80));
    assert_eq!(budget.matches, 5);
    assert_eq!(
        budget.route_rules, 4,
        "GET and POST /m folded into one rule"
    );
    assert_eq!(budget.saved(), 1);
}
