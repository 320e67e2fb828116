//! `gwsync doctor`: gathers what the checks need from the command line and prints the
//! report (the checks are `crate::doctor`'s).

use super::{Cli, CliError, ConfigSource, DoctorArgs, OutputFormat};
use crate::doctor::{Options, diagnose};
use crate::exit::Exit;

pub(super) fn run(cli: &Cli, args: &DoctorArgs) -> Result<Exit, CliError> {
    let source = ConfigSource::of(cli);
    // A configuration that does not load is the first finding, not an error of the command.
    let config = source
        .load()
        .map(|(config, _)| (config, source.file.clone()))
        .map_err(|e| crate::error_chain(&e));
    let report = diagnose(&Options {
        config,
        service_user: args.user.clone(),
        environment_file: args.env_file.clone(),
        unit_file: args.unit.clone(),
        offline: args.offline,
    });
    match args.format {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => print!("{}", report.to_json()),
    }
    Ok(if report.failed() {
        Exit::Attention
    } else {
        Exit::Clean
    })
}
