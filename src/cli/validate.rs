//! `gwsync validate`: one revision, admitted and translated team by team, reported.

use super::{Cli, CliError, OutputFormat, ValidateArgs, check_target};
use crate::exit::Exit;
use crate::validate::Report;

pub(super) fn run(cli: &Cli, args: &ValidateArgs) -> Result<Exit, CliError> {
    let checked = check_target(cli, &args.revision, args.worktree)?;
    if let Some(team) = &args.team {
        known_team(&checked, team)?;
    }
    let report = Report {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        team: args.team.as_deref(),
    };
    match args.format {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    Ok(report.status().exit())
}

/// `--team` must name a team of the tenants file (when it can be read): a typo is an error
/// naming the closest team, never a report about nobody that says "ok".
pub(super) fn known_team(checked: &crate::reconcile::Checked, team: &str) -> Result<(), CliError> {
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(());
    };
    let names: Vec<&str> = tenancy.teams.iter().map(|t| t.name.as_str()).collect();
    if names.contains(&team) {
        return Ok(());
    }
    let closest = crate::diagnostic::closest_name(names.iter().copied(), team)
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    Err(CliError::Usage(format!(
        "no team `{}` in the tenants file{closest} (teams: {})",
        crate::diagnostic::printable(team),
        names.join(", ")
    )))
}
