//! `gwsync plan --offline`: the desired ALB configuration of a revision, for review.

use super::{Cli, CliError, PlanArgs, PlanFormat, check_revision};
use crate::alb::{Stack, render};
use crate::diagnostic::Diagnostic;
use crate::exit::Exit;
use crate::source::Revision;
use serde::Serialize;
use std::collections::BTreeSet;

/// The JSON of an offline plan (documented in docs/PLAN.md).
#[derive(Serialize)]
struct OfflinePlan<'a> {
    /// Version of this JSON shape.
    version: u32,
    revision: &'a Revision,
    /// The exit code: 0 clean, 1 some team refused or some error, 2 revision invalid.
    status: u8,
    stack: &'a Stack,
    refused_teams: &'a BTreeSet<String>,
    refused_gateways: &'a BTreeSet<String>,
    diagnostics: Vec<&'a Diagnostic>,
}

pub(super) fn run(cli: &Cli, args: &PlanArgs) -> Result<Exit, CliError> {
    let checked = check_revision(cli, &args.revision)?;
    let report = checked.report();
    let status = report.status().exit();
    match args.format {
        PlanFormat::Markdown => {
            return Err(CliError::Usage(
                "--format markdown describes changes: use it without --offline".to_string(),
            ));
        }
        PlanFormat::Text => {
            print!("{}", render::stack(&checked.translation.stack));
            println!();
            print!("{}", report.to_text());
        }
        PlanFormat::Json => {
            let plan = OfflinePlan {
                version: 1,
                revision: &checked.revision,
                status: status.code(),
                stack: &checked.translation.stack,
                refused_teams: &checked.translation.refused_teams,
                refused_gateways: &checked.translation.refused_gateways,
                diagnostics: checked
                    .admission
                    .revision_diagnostics
                    .iter()
                    .chain(
                        checked
                            .admission
                            .platform
                            .iter()
                            .flat_map(|p| &p.diagnostics),
                    )
                    .chain(checked.admission.teams.iter().flat_map(|t| &t.diagnostics))
                    .chain(&checked.translation.diagnostics)
                    .collect(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).expect("the plan serialises")
            );
        }
    }
    Ok(status)
}
