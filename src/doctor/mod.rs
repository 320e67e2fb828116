//! `gwsync doctor`: checks a deployment from the machine it runs on, one finding per check,
//! each failure with its fix.
//!
//! What it checks, in order: the configuration loads; the state directory, the database and
//! the clone belong to the user the daemon runs as and are private to it; the secrets the
//! configuration names are there (webhook secret long enough, Git and commit-status tokens);
//! the systemd unit's limits suit the configuration; Git answers with the configured
//! credentials (the tip of the tracked branch); AWS: the region, the identity (STS
//! `GetCallerIdentity`), the resources tagged with this instance, and a read-only call per
//! service the IAM policy must allow.
//!
//! The host checks live in [`host`], the Git and AWS ones in [`remote`]. This module holds
//! the finding types and their rendering. Doctor only reads: it never creates the state
//! directory, opens the database, fetches into the clone or writes to AWS. Secrets it reads
//! (from the environment or the unit's environment file) are only measured, never shown.

mod host;
mod remote;

use crate::config::Config;
use crate::diagnostic::printable;
use serde::Serialize;
use std::path::PathBuf;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// Works, but not as a deployment should (a default where a setting is expected).
    Warn,
    Fail,
    /// Not checked: nothing to check (a setting not used) or an earlier failure prevents it.
    Skip,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Configuration,
    StateDirectory,
    StateDatabase,
    StoreServer,
    Clone,
    EnvironmentFile,
    WebhookSecret,
    CommitStatusToken,
    SystemdUnit,
    Git,
    AwsRegion,
    AwsIdentity,
    AwsResources,
    AwsPermissions,
}

impl Check {
    fn label(self) -> &'static str {
        match self {
            Check::Configuration => "configuration",
            Check::StateDirectory => "state directory",
            Check::StateDatabase => "state database",
            Check::StoreServer => "store server",
            Check::Clone => "clone",
            Check::EnvironmentFile => "environment file",
            Check::WebhookSecret => "webhook secret",
            Check::CommitStatusToken => "commit status",
            Check::SystemdUnit => "systemd unit",
            Check::Git => "git",
            Check::AwsRegion => "aws region",
            Check::AwsIdentity => "aws identity",
            Check::AwsResources => "aws resources",
            Check::AwsPermissions => "aws permissions",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do about a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn pass(check: Check, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            outcome: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn skip(check: Check, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            outcome: Outcome::Skip,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: Check, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn warn(check: Check, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            outcome: Outcome::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What doctor is asked to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file read (None: the defaults), or why it could not be read.
    pub config: Result<(Config, Option<PathBuf>), String>,
    /// The user the daemon runs as (the unit's `User=`), if given on the command line.
    pub service_user: Option<String>,
    /// The unit's `EnvironmentFile=` (secrets the daemon gets from systemd).
    pub environment_file: PathBuf,
    /// A unit file to read instead of asking systemd (`--unit`).
    pub unit_file: Option<PathBuf>,
    /// Leave out Git and AWS (`--offline`).
    pub offline: bool,
}

/// Every finding, in the order the checks ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether a check failed.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.outcome == Outcome::Fail)
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.findings
            .iter()
            .filter(|f| f.outcome == outcome)
            .count()
    }

    /// One line per finding (`ok`, `warn`, `FAIL`, `skip`), the fix indented below, then a
    /// summary. Values from the configuration and from AWS are escaped.
    pub fn to_text(&self) -> String {
        let width = self
            .findings
            .iter()
            .map(|f| f.check.label().len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for finding in &self.findings {
            out.push_str(&format!(
                "{:<5} {:<width$}  {}\n",
                finding.outcome.label(),
                finding.check.label(),
                printable(&finding.detail),
            ));
            if let Some(fix) = &finding.fix {
                out.push_str(&format!(
                    "{:<5} {:<width$}  fix: {}\n",
                    "",
                    "",
                    printable(fix)
                ));
            }
        }
        let mut totals = vec![format!("{} passed", self.count(Outcome::Pass))];
        for (outcome, word) in [
            (Outcome::Fail, "failed"),
            (Outcome::Warn, "warnings"),
            (Outcome::Skip, "skipped"),
        ] {
            match self.count(outcome) {
                0 => {}
                n => totals.push(format!("{n} {word}")),
            }
        }
        out.push_str(&format!(
            "\n{} checks: {}\n",
            self.findings.len(),
            totals.join(", ")
        ));
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&serde_json::json!({
            "ok": !self.failed(),
            "findings": self.findings,
        }))
        .expect("findings serialise")
            + "\n"
    }
}

/// Runs every check. The host checks come first; Git and AWS need a configuration that
/// loaded.
pub fn diagnose(options: &Options) -> Report {
    let (config, file) = match &options.config {
        Ok(loaded) => loaded,
        Err(error) => {
            let finding = Finding::fail(
                Check::Configuration,
                error.clone(),
                "correct the file (every error names its key), or point --config at the right one",
            );
            return Report {
                findings: vec![finding],
            };
        }
    };
    let mut findings = vec![host::configuration(config, file.as_deref())];
    let environment = host::Environment::read(&options.environment_file);
    findings.push(environment.finding());
    let unit = host::Unit::find(options.unit_file.as_deref());
    let user = host::ServiceUser::pick(options.service_user.as_deref(), unit.as_ref().ok());
    findings.extend(host::state(config, &environment, &user));
    findings.push(host::webhook_secret(config, &environment));
    findings.push(host::commit_status_token(config, &environment, &user));
    findings.push(host::systemd_unit(config, &unit, &user));
    if options.offline {
        findings.push(Finding::skip(Check::Git, "--offline"));
        findings.push(Finding::skip(Check::AwsIdentity, "--offline"));
    } else {
        findings.push(remote::git(config, &environment));
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => {
                findings.extend(runtime.block_on(remote::store(config, &environment)));
                findings.extend(runtime.block_on(remote::aws(config)));
            }
            Err(error) => findings.push(Finding::fail(
                Check::AwsIdentity,
                format!("cannot start the async runtime: {error}"),
                "see the error; it is the machine's, not AWS's",
            )),
        }
    }
    Report { findings }
}
