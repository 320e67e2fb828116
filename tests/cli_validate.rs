//! `gwsync validate` end to end: the real binary on real Git repositories made from the
//! example repo, checking output and exit codes as the README documents them.

mod support;

use std::path::Path;
use support::example::{ExampleRepo, gwsync};

fn validate(repo: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["validate", "--repo", repo.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = gwsync(&args);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn example_repo_is_admitted() {
    let repo = ExampleRepo::new();
    let (code, stdout) = validate(repo.path(), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("team payments: admitted"), "{stdout}");
    assert!(stdout.contains("team orders: admitted"), "{stdout}");
    assert!(stdout.contains("result: ok"), "{stdout}");
}

#[test]
fn a_refused_team_exits_1_and_the_other_stays_admitted() {
    let mut repo = ExampleRepo::new();
    repo.edit(
        "teams/orders/routes.yaml",
        r#"hostnames: ["orders.example.com"]"#,
        r#"hostnames: ["pay.example.com"]"#,
    );
    repo.commit("steal a hostname");
    let (code, stdout) = validate(repo.path(), &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("team payments: admitted"), "{stdout}");
    assert!(stdout.contains("team orders: REFUSED"), "{stdout}");
    assert!(
        stdout.contains(
            "teams/orders/routes.yaml:12: orders: HTTPRoute/orders/orders: spec.hostnames[0]: hostname `pay.example.com` is not granted to team orders"
        ),
        "{stdout}"
    );

    // --team narrows the report and the exit code to one team.
    let (code, stdout) = validate(repo.path(), &["--team", "payments"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("orders"), "{stdout}");

    // The previous commit is still valid.
    let (code, _) = validate(repo.path(), &["--rev", "HEAD~1"]);
    assert_eq!(code, 0);
}

#[test]
fn json_report_has_verdicts_and_diagnostics() {
    let mut repo = ExampleRepo::new();
    repo.remove("teams/payments/target-groups.yaml");
    repo.commit("drop TGCs");
    let out = gwsync(&[
        "validate",
        "--repo",
        repo.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["valid"], true);
    assert_eq!(report["status"], 1);
    let payments = &report["teams"][0];
    assert_eq!(payments["name"], "payments");
    // Unresolved Services are errors on the route, not refusals.
    assert_eq!(payments["verdict"], "admitted");
    let codes: Vec<&str> = payments["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(!codes.is_empty());
    assert!(codes.iter().all(|c| *c == "backend-not-found"), "{codes:?}");
    assert_eq!(payments["diagnostics"][0]["severity"], "error");
    assert_eq!(payments["diagnostics"][0]["team"], "payments");
}

#[test]
fn an_invalid_tenants_file_exits_2() {
    let mut repo = ExampleRepo::new();
    repo.edit("tenants.yaml", "targetGroups:", "targetGroup:");
    repo.commit("typo");
    let (code, stdout) = validate(repo.path(), &[]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("tenants.yaml:"), "{stdout}");
    assert!(stdout.contains("unknown field `targetGroup`"), "{stdout}");
}

#[test]
fn invocation_errors_exit_2_and_name_the_problem() {
    let repo = ExampleRepo::new();
    let out = gwsync(&[
        "validate",
        "--repo",
        repo.path().to_str().unwrap(),
        "--rev",
        "no-such-branch",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-branch"));

    let config = repo.path().join("bad.toml");
    std::fs::write(
        &config,
        "instance_idd = \"x\"\n[repo]\npoll_interval = \"often\"\n",
    )
    .unwrap();
    let out = gwsync(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("instance_idd: unknown key"), "{stderr}");
    assert!(stderr.contains("repo.poll_interval"), "{stderr}");
}

#[test]
fn the_example_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in ["examples/gwsync.toml", "deploy/gwsync.toml"] {
        gwsync::config::Config::load(&root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn validate_reads_a_remote_by_url() {
    let repo = ExampleRepo::new();
    let url = format!("file://{}", repo.path().display());
    let branch = repo.branch();
    let out = gwsync(&["validate", "--repo", &url, "--rev", &branch]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("result: ok"));
}

/// `gwsync --version`: the release, the commit it was built from, the build date and the
/// Gateway API version whose schema it reads.
#[test]
fn the_version_names_the_commit_the_date_and_the_gateway_api_version() {
    let out = gwsync(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(concat!("gwsync ", env!("CARGO_PKG_VERSION"), " (commit ")),
        "{text}"
    );
    assert!(text.contains(", built 20"), "{text}");
    assert!(
        text.contains(&format!(
            "Gateway API {}",
            gwsync::manifest::GATEWAY_API_VERSION
        )),
        "{text}"
    );
}

/// Every flag and argument of every command says what it does, and every command's help
/// ends with examples.
#[test]
fn every_flag_has_help_and_every_command_has_examples() {
    use clap::CommandFactory;
    let cli = gwsync::cli::Cli::command();
    let mut missing = Vec::new();
    for command in cli.get_subcommands() {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_help().is_none() && id != "help" && id != "version" {
                missing.push(format!("{} --{id}", command.get_name()));
            }
        }
        let examples = command
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !examples.contains("Examples:") {
            missing.push(format!("{}: no examples", command.get_name()));
        }
    }
    for arg in cli.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.get_help().is_none() && id != "help" && id != "version" {
            missing.push(format!("--{id}"));
        }
    }
    assert!(missing.is_empty(), "without help: {missing:#?}");
}
