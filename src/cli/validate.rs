//! `gwsync validate`: one revision, admitted and translated team by team, reported.

use super::{Cli, CliError, OutputFormat, ValidateArgs, check_revision};
use crate::exit::Exit;
use crate::validate::Report;

pub(super) fn run(cli: &Cli, args: &ValidateArgs) -> Result<Exit, CliError> {
    let checked = check_revision(cli, &args.revision)?;
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
