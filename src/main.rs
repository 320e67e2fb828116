//! The `gwsync` binary: parse arguments, set up logging, run the command, exit with its code.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = gwsync::cli::Cli::parse();
    gwsync::cli::init_logging(&cli);
    gwsync::cli::run(cli)
}
