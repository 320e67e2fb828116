//! `gwsync plan --offline` and `gwsync explain --offline` end to end: the real binary on the
//! example repository, committed into a real Git repository.

mod support;

use serde_json::Value;
use support::example::{ExampleRepo, gwsync};

fn run(repo: &ExampleRepo, args: &[&str]) -> (i32, String) {
    let mut all: Vec<&str> = args.to_vec();
    let path = repo.path().to_str().unwrap().to_string();
    all.extend(["--repo", &path]);
    let out = gwsync(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

fn explain(repo: &ExampleRepo, url: &str, headers: &[&str]) -> Value {
    let mut args = vec![
        "explain",
        "--offline",
        "--gateway",
        "platform/public",
        "--format",
        "json",
        "--url",
        url,
    ];
    for h in headers {
        args.extend(["-H", h]);
    }
    let (code, out) = run(repo, &args);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn the_example_plan_is_reviewable() {
    let repo = ExampleRepo::new();
    let (code, out) = run(&repo, &["plan", "--offline"]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "load balancer acme-public (Gateway platform/public): internet-facing, ipv4",
        "listener HTTP 80",
        "host pay.example.com  -> redirect 301 to HTTPS://#{host}:443/#{path}?#{query}  # HTTPRoute payments/payments-https-redirect rules[0]",
        "host pay.example.com and path /api | /api/*  -> forward to payments/payments-api:8080 (weight 90), payments/payments-api-canary:8080 (weight 10)  # HTTPRoute payments/payments-web rules[1].matches[0]",
        "host api.example.com and path /orders | /orders/v2 | /orders/v2/*  -> forward to target group orders-asg  # HTTPRoute orders/orders-shared-api rules[0].matches[0,1]",
        "default: fixed response 404",
        "team payments: admitted",
    ] {
        assert!(out.contains(line), "missing `{line}` in\n{out}");
    }
}

#[test]
fn the_json_plan_is_the_model() {
    let repo = ExampleRepo::new();
    let (code, out) = run(&repo, &["plan", "--offline", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["status"], 0);
    let lb = &plan["stack"]["load_balancers"][0];
    assert_eq!(lb["gateway"], "platform/public");
    assert_eq!(lb["scheme"], "internet-facing");
    let https = &lb["listeners"][1];
    assert_eq!(https["port"], 443);
    assert_eq!(https["protocol"], "HTTPS");
    assert_eq!(https["default_action"]["type"], "fixed-response");
    let first = &https["rules"][0];
    assert_eq!(first["priority"], 1);
    assert_eq!(first["conditions"][0]["field"], "host-header");
    assert_eq!(first["source"]["kind"], "route");
    assert_eq!(lb["target_groups"].as_array().unwrap().len(), 2);
}

#[test]
fn explain_answers_like_the_alb() {
    let repo = ExampleRepo::new();
    let beta = explain(
        &repo,
        "https://pay.example.com/api/charge",
        &["x-payments-beta: 1"],
    );
    assert_eq!(beta["listener"], 443);
    assert_eq!(beta["action"]["type"], "forward");
    assert_eq!(
        beta["action"]["backends"][0]["backend"],
        "payments/payments-api-canary"
    );
    assert_eq!(beta["action"]["backends"][0]["port"], 8080);
    assert_eq!(beta["action"]["request"]["path"], "/api/charge");

    let redirect = explain(&repo, "http://pay.example.com/a?b=1", &[]);
    assert_eq!(redirect["action"]["type"], "redirect");
    assert_eq!(redirect["action"]["status"], 301);
    assert_eq!(
        redirect["action"]["location"],
        "https://pay.example.com:443/a?b=1"
    );

    let none = explain(&repo, "https://api.example.com/ordersX", &[]);
    assert_eq!(none["priority"], Value::Null);
    assert_eq!(none["action"]["status"], 404);
}

#[test]
fn explain_answers_a_request_file_in_order() {
    let repo = ExampleRepo::new();
    let requests = repo.path().join("requests.yaml");
    std::fs::write(
        &requests,
        "- {url: 'https://orders.example.com/'}\n- {url: 'https://api.example.com/payments/1', method: POST, headers: {x-trace: '1'}}\n",
    )
    .unwrap();
    let (code, out) = run(
        &repo,
        &[
            "explain",
            "--offline",
            "--gateway",
            "platform/public",
            "--format",
            "json",
            "--requests",
            requests.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let answers: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answers[0]["action"]["backends"][0]["backend"], "orders-asg");
    assert_eq!(answers[0]["action"]["backends"][0]["port"], Value::Null);
    assert_eq!(
        answers[1]["action"]["backends"][0]["backend"],
        "payments/payments-api"
    );
}

#[test]
fn precedence_ties_go_to_the_route_committed_first() {
    let mut repo = ExampleRepo::new();
    let route = |name: &str, service: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}}}\nspec:\n  parentRefs: [{{name: public, namespace: platform, sectionName: https}}]\n  hostnames: [pay.example.com]\n  rules:\n    - matches: [{{path: {{value: /tie}}}}]\n      backendRefs: [{{name: {service}, port: 8080}}]\n"
        )
    };
    // `zz-first` sorts after `aa-second` by name, but was committed first.
    repo.write("teams/payments/zz.yaml", &route("zz-first", "payments-api"));
    repo.commit("first");
    repo.write(
        "teams/payments/aa.yaml",
        &route("aa-second", "payments-api-canary"),
    );
    repo.commit("second");
    let answer = explain(&repo, "https://pay.example.com/tie", &[]);
    assert_eq!(
        answer["action"]["backends"][0]["backend"],
        "payments/payments-api"
    );
}

#[test]
fn explain_names_a_missing_gateway() {
    let repo = ExampleRepo::new();
    let (code, out) = run(
        &repo,
        &[
            "explain",
            "--offline",
            "--gateway",
            "platform/nope",
            "--url",
            "http://x/",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        out.contains("Gateway platform/nope has no load balancer"),
        "{out}"
    );
}

/// `gwsync validate | head -1`: once the reader has gone, gwsync ends as a Unix tool does
/// (by SIGPIPE, nothing on stderr), not with a panic about a broken pipe. The report is
/// larger than a pipe's buffer (450 refused documents, each named with a long path), so gwsync is still writing.
#[test]
fn a_reader_that_goes_away_ends_gwsync_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let mut repo = ExampleRepo::new();
    for i in 0..450 {
        repo.write(
            &format!("teams/payments/{}-{i:03}.yaml", "a-rather-long-file-name".repeat(4)),
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: broken}\nspec: {parentRefs: [{name: public, namespace: platform}], wieght: 10, hostnames: [pay.example.com]}\n",
        );
    }
    repo.commit("payments: 450 broken routes");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gwsync"))
        .args(["validate", "--repo", repo.path().to_str().unwrap()])
        .env_remove("GWSYNC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, as `head -1` exits after its line.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!first.is_empty());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}",
        out.status
    );
}
