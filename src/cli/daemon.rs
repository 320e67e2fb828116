//! `gwsync run` (the daemon) and `gwsync sync` (one reconcile by hand, as the daemon does it).

use super::live::runtime;
use super::{Cli, CliError, ConfigSource, SyncArgs};
use crate::daemon::reconciler::{ReconcileError, Reconciler};
use crate::daemon::{RunOptions, run as run_daemon};
use crate::exit::Exit;
use crate::plan::render;
use crate::reconcile::sync::{SyncOutcome, SyncResult, pinned_message};
use crate::source::short;

/// Exit codes of `sync`.
const CONVERGED: Exit = Exit::Clean;
const FAILED: Exit = Exit::Attention;
const NOTHING_APPLIED: Exit = Exit::NothingDone;

/// `gwsync run`.
pub(super) fn run(cli: &Cli) -> Result<Exit, CliError> {
    let source = ConfigSource::of(cli);
    let config_file = source.file.clone();
    // Fail fast on a bad configuration, before anything starts.
    let (config, _) = source.load()?;
    let exposed =
        crate::config::permissions::world_writable(config_file.as_deref(), &config.state_dir);
    if !exposed.is_empty() {
        let lines: Vec<String> = exposed.iter().map(ToString::to_string).collect();
        return Err(CliError::Usage(format!(
            "refusing to start: {}",
            lines.join("; ")
        )));
    }
    let options = RunOptions {
        load_config: Box::new(move || source.load().map(|(c, _)| c).map_err(|e| e.to_string())),
        config_file,
    };
    runtime()?.block_on(run_daemon(options))?;
    Ok(Exit::Clean)
}

/// `gwsync sync [--once]`.
pub(super) fn sync(cli: &Cli, args: &SyncArgs) -> Result<Exit, CliError> {
    let config = ConfigSource::of(cli).load()?.0;
    runtime()?.block_on(async {
        let mut reconciler = Reconciler::open(config, super::record::actor(), None).await?;
        // A manual sync is the operator's "try again": a stalled revision is retried.
        reconciler.unstall().await?;
        reconciler.report_progress(super::live::print_progress);
        if let Some(reason) = &args.ignore_freeze {
            reconciler.ignore_freeze(reason.clone());
        }
        loop {
            let revision = tokio::task::block_in_place(|| reconciler.fetch())?;
            let commit = revision.commit.clone();
            match reconciler.reconcile(revision).await {
                Ok(result) => {
                    if result.pin_lifted.is_some() {
                        println!("A new commit arrived since the rollback: the pin is lifted.");
                    }
                    for h in &result.held_back {
                        eprintln!("held back: {h}");
                    }
                    if let Some(plan) = result.plan.as_ref().filter(|p| !p.is_empty()) {
                        print!("{}", render::text(plan));
                    }
                    let code = teams_report(&result, report(&commit, &result.outcome));
                    if code != FAILED || result.outcome.converged() {
                        return Ok(code);
                    }
                }
                // Another gwsync is applying, or the revision cannot be read: nothing applied.
                Err(e) if e.is_busy() || matches!(e, ReconcileError::Source(_)) => {
                    return Err(e.into());
                }
                Err(e) => eprintln!("gwsync: {}", crate::error_chain(&e)),
            }
            match reconciler.retry_delay() {
                Some(delay) if !args.once => {
                    eprintln!(
                        "retrying in {}",
                        humantime::format_duration(delay)
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    if reconciler.stalled().is_some() {
                        eprintln!(
                            "{} is stalled: the daemon retries it for a new commit or the next `gwsync sync`",
                            short(&commit)
                        );
                    }
                    return Ok(FAILED);
                }
            }
        }
    })
}

/// Names the teams whose changes did not all reach AWS; a sync that left one failing or
/// stalled did not converge.
fn teams_report(result: &SyncResult, code: Exit) -> Exit {
    let mut failing = result.teams_failing().peekable();
    if failing.peek().is_none() {
        return code;
    }
    for team in failing {
        eprintln!(
            "team {} is {}: {}",
            team.team,
            team.state,
            crate::diagnostic::printable(team.reason.as_deref().unwrap_or("no reason recorded"))
        );
    }
    FAILED
}

/// Prints how a sync ended; its exit code.
fn report(commit: &str, outcome: &SyncOutcome) -> Exit {
    let short = short(commit);
    match outcome {
        // Each change was printed as it completed (`live::print_progress`).
        SyncOutcome::Applied(report) => {
            println!("{}", report.summary());
            CONVERGED
        }
        SyncOutcome::Unchanged => {
            println!("{short}: in sync, no changes.");
            CONVERGED
        }
        SyncOutcome::Pinned(pin) => {
            println!("{}", pinned_message(pin, commit));
            CONVERGED
        }
        SyncOutcome::Invalid => {
            println!(
                "{short} is refused as a whole (see `gwsync validate`): nothing applied, the live state stays as it is."
            );
            NOTHING_APPLIED
        }
        SyncOutcome::Guarded(guard) => {
            println!("Nothing applied: {guard}. Review it and run `gwsync apply --allow-deletes`.");
            NOTHING_APPLIED
        }
        SyncOutcome::Failed(report) => {
            println!("{}", report.summary());
            FAILED
        }
        SyncOutcome::Frozen(window) => {
            println!(
                "Nothing applied: {window} is open. `gwsync sync --ignore-freeze REASON` applies anyway."
            );
            NOTHING_APPLIED
        }
    }
}
