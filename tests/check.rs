//! `gwsync check`, `validate --worktree`, `explain --base` and `gwsync codeowners` on real Git
//! repositories (the example, with a pull request committed on top), through the real binary.
//!
//! The Markdown comments are compared with golden files in `tests/golden/`; run with
//! `GWSYNC_BLESS=1` to write them again after a deliberate change, and review the diff.

mod support;

use std::path::Path;
use support::example::{ExampleRepo, gwsync};

const PAYMENTS_ROUTES: &str = "teams/payments/routes.yaml";
const ORDERS_ROUTES: &str = "teams/orders/routes.yaml";

/// `gwsync check` in `repo` with `args`: exit code and stdout (stderr shown on failure).
fn check(repo: &ExampleRepo, args: &[&str]) -> (i32, String) {
    let path = repo.path().to_str().unwrap();
    let out = gwsync(&[&["check", "--repo", path], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// A configuration file (in the ignored state folder) with this rule quota; its path.
fn rules_quota(repo: &ExampleRepo, quota: usize) -> std::path::PathBuf {
    let config = repo.path().join(".gwsync-state/gwsync.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("[aws]\nrules_per_load_balancer = {quota}\n"),
    )
    .unwrap();
    config
}

/// The example, and its first commit (the pull request's base).
fn example() -> (ExampleRepo, String) {
    let repo = ExampleRepo::new();
    let base = repo.head();
    (repo, base)
}

/// A route of payments' own on pay.example.com.
const PAYMENTS_STATUS: &str = "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments-status}
spec:
  parentRefs: [{name: public, namespace: platform, sectionName: https}]
  hostnames: [pay.example.com]
  rules:
    - matches: [{path: {type: Exact, value: /status}}]
      backendRefs: [{name: payments-api, port: 8080}]
";

/// Payments takes /orders/v2/beta on api.example.com, which orders' /orders/v2 prefix
/// answered: granted in the tenants file, claimed by a route.
fn shift_orders_traffic_to_payments(repo: &mut ExampleRepo) {
    repo.edit(
        "tenants.yaml",
        r#"paths: {"api.example.com": ["/payments"]}"#,
        r#"paths: {"api.example.com": ["/payments", "/orders/v2/beta"]}"#,
    );
    let routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    repo.write(
        PAYMENTS_ROUTES,
        &(routes
            + "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments-beta}
spec:
  parentRefs: [{name: public, namespace: platform, sectionName: https}]
  hostnames: [api.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /orders/v2/beta}}]
      backendRefs: [{name: payments-api, port: 8080}]
"),
    );
    repo.commit("payments: take the orders beta");
}

#[test]
fn a_pull_request_to_its_own_folder_passes_and_shows_its_rules() {
    let (mut repo, base) = example();
    let routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    repo.write(PAYMENTS_ROUTES, &(routes + PAYMENTS_STATUS));
    repo.commit("payments: status page");

    let (code, text) = check(&repo, &["--base", &base]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("teams/payments/routes.yaml (team payments)"),
        "{text}"
    );
    assert!(text.contains("team payments: admitted"), "{text}");
    assert!(
        text.contains("CreateRule") && text.contains("payments-status"),
        "{text}"
    );
    assert!(
        !text.contains("team orders"),
        "orders is not concerned: {text}"
    );
    assert!(!text.contains("requests of other teams"), "{text}");
    assert!(
        text.contains("Gateway platform/public: 8/100 rules"),
        "{text}"
    );
    assert!(text.ends_with("result: ok\n"), "{text}");

    let (_, json) = check(&repo, &["--base", &base, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["status"], 0);
    assert_eq!(json["teams"][0]["team"], "payments");
    assert_eq!(json["files"][0]["owner"]["kind"], "team");
}

#[test]
fn a_pull_request_to_two_folders_reports_both_and_a_foreign_hostname_fails_naming_the_team() {
    let (mut repo, base) = example();
    repo.edit(
        ORDERS_ROUTES,
        r#"hostnames: ["orders.example.com"]"#,
        r#"hostnames: ["pay.example.com"]"#,
    );
    let routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    repo.write(PAYMENTS_ROUTES, &(routes + PAYMENTS_STATUS));
    repo.commit("orders takes pay.example.com; payments adds a page");

    let (code, text) = check(&repo, &["--base", &base]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("team orders: REFUSED"), "{text}");
    assert!(
        text.contains("pay.example.com") && text.contains("not granted"),
        "{text}"
    );
    assert!(text.contains("team payments: admitted"), "{text}");
    assert!(text.ends_with("result: problems found\n"), "{text}");

    // Annotations on the line of the refused hostname, for GitHub and for GitLab.
    let (_, github) = check(&repo, &["--base", &base, "--format", "github"]);
    assert!(
        github.starts_with(
            "::error title=gwsync hostname-not-granted,file=teams/orders/routes.yaml,line=12::"
        ),
        "{github}"
    );
    let (_, gitlab) = check(&repo, &["--base", &base, "--format", "gitlab"]);
    let issues: serde_json::Value = serde_json::from_str(&gitlab).unwrap();
    assert_eq!(issues[0]["location"]["path"], "teams/orders/routes.yaml");
    assert_eq!(issues[0]["location"]["lines"]["begin"], 12);
    assert_eq!(issues[0]["severity"], "critical");
}

#[test]
fn a_tenants_change_is_flagged_and_a_shift_of_another_teams_traffic_is_shown() {
    let (mut repo, base) = example();
    shift_orders_traffic_to_payments(&mut repo);

    let (code, text) = check(&repo, &["--base", &base]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("tenants.yaml (tenants file: needs the platform's review)"),
        "{text}"
    );
    assert!(
        text.contains("requests of other teams that move:"),
        "{text}"
    );
    assert!(
        text.contains("GET https://api.example.com/orders/v2/beta"),
        "an example request: {text}"
    );
    let moved = &text[text.find("requests of other teams").unwrap()..];
    assert!(
        moved.contains("before: team orders") && moved.contains("after: team payments"),
        "{moved}"
    );
    // Orders' rules are split around the new one: they change, but answer the same.
    assert!(
        !moved.contains("GET https://api.example.com/orders/v2 "),
        "{moved}"
    );
}

#[test]
fn the_pull_request_comment_matches_its_golden_file() {
    let (mut repo, base) = example();
    shift_orders_traffic_to_payments(&mut repo);
    let (_, markdown) = check(&repo, &["--base", &base, "--format", "markdown"]);
    assert!(
        markdown.starts_with("<!-- gwsync-check -->\n"),
        "{markdown}"
    );
    assert!(!markdown.contains('\u{1b}'), "no ANSI codes");
    golden("check-shift.md", &markdown);

    let (mut repo, base) = example();
    repo.edit(
        ORDERS_ROUTES,
        r#"hostnames: ["orders.example.com"]"#,
        r#"hostnames: ["pay.example.com"]"#,
    );
    repo.commit("orders <script>takes</script> pay.example.com");
    let (_, markdown) = check(&repo, &["--base", &base, "--format", "markdown"]);
    assert!(!markdown.contains("<script>"), "{markdown}");
    golden("check-refused.md", &markdown);
}

#[test]
fn a_comment_over_githubs_limit_leaves_details_out_and_says_so() {
    let (mut repo, base) = example();
    // 400 routes of payments, each a rule with a long reason line, under a raised quota.
    let config = rules_quota(&repo, 1000);
    let mut routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    for i in 0..400 {
        routes.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: payments-page-{i}-{pad}}}\nspec:\n  parentRefs: [{{name: public, namespace: platform, sectionName: https}}]\n  hostnames: [pay.example.com]\n  rules:\n    - matches: [{{path: {{type: Exact, value: /page-{i}/{pad}}}}}]\n      backendRefs: [{{name: payments-api, port: 8080}}]\n",
            pad = "p".repeat(60)
        ));
    }
    repo.write(PAYMENTS_ROUTES, &routes);
    repo.commit("payments: many pages");
    let config = config.to_str().unwrap();
    let (code, markdown) = check(
        &repo,
        &["--base", &base, "--format", "markdown", "--config", config],
    );
    assert_eq!(code, 0, "{markdown}");
    assert!(markdown.len() < 65_536, "{} characters", markdown.len());
    assert!(markdown.contains("left out to stay within GitHub's comment size"));
}

#[test]
fn a_load_balancer_near_its_rule_quota_is_called_out() {
    let (mut repo, base) = example();
    let config = rules_quota(&repo, 9);
    let routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    repo.write(PAYMENTS_ROUTES, &(routes + PAYMENTS_STATUS));
    repo.commit("payments: status page");
    let (code, text) = check(
        &repo,
        &["--base", &base, "--config", config.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Gateway platform/public: 8/9 rules (near the quota"),
        "{text}"
    );
}

#[test]
fn worktree_edits_are_seen_by_validate_check_and_explain() {
    let (repo, base) = example();
    let routes = std::fs::read_to_string(repo.path().join(PAYMENTS_ROUTES)).unwrap();
    repo.write(PAYMENTS_ROUTES, &(routes + PAYMENTS_STATUS));
    let path = repo.path().to_str().unwrap();

    // Committed HEAD has no /status; the working tree does.
    let (code, text) = check(&repo, &["--base", &base, "--worktree"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("payments-status"), "{text}");
    assert!(text.contains("working tree"), "{text}");

    let explain = |extra: &[&str]| {
        let out = gwsync(
            &[
                &[
                    "explain",
                    "--repo",
                    path,
                    "--offline",
                    "--gateway",
                    "platform/public",
                    "--url",
                    "https://pay.example.com/status",
                ],
                extra,
            ]
            .concat(),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!explain(&[]).contains("payments-status"));
    assert!(explain(&["--worktree"]).contains("payments-status"));
    let both = explain(&["--base", &base, "--worktree"]);
    let after = both.find("after").expect("an after section");
    assert!(
        !both[..after].contains("payments-status") && both[after..].contains("payments-status"),
        "{both}"
    );

    // A broken edit in the working tree: validate sees it, and the index stays as it was.
    repo.write(ORDERS_ROUTES, "kind: [not a manifest\n");
    let out = gwsync(&["validate", "--repo", path, "--worktree"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = gwsync(&["validate", "--repo", path]);
    assert_eq!(out.status.code(), Some(0), "HEAD is still clean: {out:?}");
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        " M teams/orders/routes.yaml\n M teams/payments/routes.yaml\n",
        "the index is untouched"
    );
}

#[test]
fn an_unknown_team_is_an_error_naming_the_closest() {
    let (repo, _) = example();
    let out = gwsync(&[
        "validate",
        "--repo",
        repo.path().to_str().unwrap(),
        "--team",
        "paymnets",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `payments`?"), "{stderr}");
}

#[test]
fn codeowners_follows_the_tenants_file_and_check_warns_when_it_is_out_of_date() {
    let (mut repo, _) = example();
    let path = repo.path().to_str().unwrap().to_string();
    let out = gwsync(&["codeowners", "--repo", &path]);
    assert_eq!(out.status.code(), Some(0));
    let codeowners = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        codeowners.contains("/teams/payments/ @acme/payments\n"),
        "{codeowners}"
    );
    assert!(
        codeowners.contains("/tenants.yaml @acme/platform\n"),
        "{codeowners}"
    );
    assert!(
        codeowners.contains("/.github/ @acme/platform\n"),
        "{codeowners}"
    );
    repo.write(".github/CODEOWNERS", &codeowners);
    repo.commit("codeowners");
    let base = repo.head();

    // A new team in the tenants file, CODEOWNERS left as it was.
    let tenants = std::fs::read_to_string(repo.path().join("tenants.yaml")).unwrap();
    repo.write(
        "tenants.yaml",
        &(tenants
            + "  - name: search\n    path: teams/search/\n    namespace: search\n    owners: [\"@acme/search\"]\n    hostnames: [\"search.example.com\"]\n"),
    );
    repo.commit("platform: a search team");
    let (_, text) = check(&repo, &["--base", &base]);
    assert!(
        text.contains(".github/CODEOWNERS: CODEOWNERS differs from what the tenants file implies"),
        "{text}"
    );
    let out = gwsync(&["codeowners", "--repo", &path]);
    repo.write(".github/CODEOWNERS", &String::from_utf8_lossy(&out.stdout));
    repo.commit("codeowners again");
    let (_, text) = check(&repo, &["--base", &base]);
    assert!(!text.contains("CODEOWNERS differs"), "{text}");
}

/// Compares `actual` with `tests/golden/<name>`, or writes it with `GWSYNC_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("GWSYNC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GWSYNC_BLESS=1 to write it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (run with GWSYNC_BLESS=1 to write it again, and review the diff)",
        path.display()
    );
}

/// The CI examples a team copies: valid YAML, gwsync from a checked release tarball, checking
/// against the merge base, finding their one comment by the marker the comment starts with,
/// failing on the check's exit code.
#[test]
fn the_ci_examples_run_check_and_update_one_comment() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci");
    let marker = "<!-- gwsync-check -->";
    for (file, base, annotations) in [
        ("github-actions.yml", "git merge-base", "--format github"),
        (
            "gitlab-ci.yml",
            "$CI_MERGE_REQUEST_DIFF_BASE_SHA",
            "--format gitlab",
        ),
    ] {
        let text = std::fs::read_to_string(examples.join(file)).unwrap();
        let _: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for needed in [
            "gwsync check --repo . --base",
            base,
            annotations,
            "--format markdown",
            marker,
            // The release tarball, checked against its checksums.
            "sha256sum --check --ignore-missing SHA256SUMS",
        ] {
            assert!(text.contains(needed), "{file} lacks `{needed}`");
        }
    }
    let (repo, base) = example();
    let (_, markdown) = check(&repo, &["--base", &base, "--format", "markdown"]);
    assert!(markdown.starts_with(marker));
}
