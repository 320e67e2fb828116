//! The `gwsync` binary: parse arguments, set up logging, run the command, exit with its code.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Output piped into `head` or `less` that closes early ends gwsync as it ends any Unix
    // tool: by SIGPIPE, quietly (Rust ignores the signal by default, and `print!` panics).
    sigpipe::reset();
    let cli = gwsync::cli::Cli::parse();
    gwsync::cli::init_logging(&cli);
    gwsync::cli::run(cli)
}
