//! `gwsync validate`: one revision, admitted team by team, reported.

use super::{Cli, CliError, OutputFormat, ValidateArgs, load_config, open_source};
use crate::config::RepoLocation;
use crate::tenancy::{AdmitOptions, admit};
use crate::validate::Report;

pub(super) fn run(cli: &Cli, args: &ValidateArgs) -> Result<u8, CliError> {
    let (config, from_file) = load_config(cli)?;
    let (opened, location) = open_source(&config, args.repo.as_deref())?;
    let rev = match (&args.rev, &location) {
        (Some(rev), _) => rev.clone(),
        // A local checkout without a configuration is a PR's CI: validate what is checked out.
        (None, RepoLocation::Path(_)) if !from_file || args.repo.is_some() => "HEAD".to_string(),
        (None, _) => config.repo.branch.clone(),
    };
    let revision = opened.source.resolve(&rev)?;
    tracing::info!(commit = %revision.commit, rev = %rev, "validating revision");
    let snapshot = opened.source.snapshot(&revision, &config.limits)?;
    let admission = admit(
        &snapshot,
        &AdmitOptions {
            tenants_file: config.repo.tenants_file.clone(),
            limits: config.limits,
            gateway_class: config.gateway_class.clone(),
        },
    );
    let report = Report {
        revision: &revision,
        admission: &admission,
        team: args.team.as_deref(),
    };
    match args.format {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    Ok(report.status() as u8)
}
