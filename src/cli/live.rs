//! The commands that talk to AWS: `plan` (against the live configuration), `apply`, and
//! `explain --live`. The path from a revision to a plan is `reconcile`'s; this module adds
//! the terminal: formats, saved plans, confirmation, exit codes.

use super::{ApplyArgs, Cli, CliError, PlanArgs, PlanFormat, check_revision, load_config};
use crate::alb::Stack;
use crate::aws::apply::{ApplyReport, Progress};
use crate::aws::client::{Clients, RateLimits};
use crate::aws::observe::observe;
use crate::config::Config;
use crate::exit::Exit;
use crate::plan::{HeldBack, Plan, render};
use crate::reconcile::record::record_revision;
use crate::reconcile::sync::{
    ApplyRecord, DRIFT, GUARDED, PinDecision, STALLED, SyncError, execute, frozen, pinned_message,
    plan_effective, plan_live, settle_pin,
};
use crate::reconcile::teams::{self, Applied};
use crate::reconcile::{Checked, Effective, LivePlan, Observing, Refusal, TooManyDeletions};
use crate::validate::{Report, Status};
use std::io::{BufRead, IsTerminal, Write};

/// `plan` against AWS exits as Terraform's `-detailed-exitcode`: no changes, changes, error.
const NO_CHANGES: Exit = Exit::Clean;
const CHANGES: Exit = Exit::Attention;
const ERROR: Exit = Exit::NothingDone;

/// The commands' runtime. Worker threads, not the current thread only: a lease's renewals run
/// as a task while the command blocks (a confirmation prompt, Git, parsing), so that a human
/// answering slowly does not lose the apply lease, and the daemon and `sync` serve HTTP and
/// signals on one thread while another works.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            context: "starting the async runtime".to_string(),
            source,
        })
}

pub(super) async fn connect(config: &Config) -> Clients {
    Clients::connect(&config.aws, RateLimits::of(&config.aws)).await
}

fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(plan),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

/// `gwsync plan` against AWS.
pub(super) fn plan(cli: &Cli, args: &PlanArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let checked = check_revision(cli, &args.revision)?;
    let report = checked.report();
    if report.status() == Status::Invalid {
        print!("{}", report.to_text());
        return Ok(ERROR);
    }
    let live = plan_checked(&config, &checked)?;
    print_problems(&report, &live.held_back);
    let rendered = render(&live.plan, args.format);
    match &args.out {
        Some(path) => {
            std::fs::write(path, render::json(&live.plan)).map_err(|source| CliError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
            print!("{rendered}");
            eprintln!("plan saved to {}", path.display());
        }
        None => print!("{rendered}"),
    }
    Ok(if live.plan.is_empty() {
        NO_CHANGES
    } else {
        CHANGES
    })
}

/// A plan of `checked` against AWS, for `plan` and `check --live`. Planning only reads:
/// without a state database it still plans, holding back the Gateways that a refused team
/// may have rules on.
pub(super) fn plan_checked(config: &Config, checked: &Checked) -> Result<LivePlan, CliError> {
    runtime()?.block_on(async {
        let clients = connect(config).await;
        match super::record::open(config).await {
            Ok(store) => Ok(plan_live(config, &store, &clients, checked, Observing::Everything).await?),
            Err(e) => {
                tracing::warn!(error = %e, "no state database: a refused team's last good state is unknown");
                let held = HeldBack::NoStateDatabase {
                    error: e.to_string(),
                };
                let effective = Effective::as_is(checked, vec![held]);
                Ok(plan_effective(config, &clients, checked, effective, Observing::Everything).await?)
            }
        }
    })
}

/// Team problems go to stderr, so that stdout holds exactly the plan in its format.
fn print_problems(report: &Report<'_>, held_back: &[HeldBack]) {
    if report.status() != Status::Clean {
        eprint!("{}", report.to_text());
    }
    for h in held_back {
        eprintln!("held back: {h}");
    }
}

/// `gwsync apply`.
pub(super) fn run_apply(cli: &Cli, args: &ApplyArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let checked = check_revision(cli, &args.revision)?;
    let report = checked.report();
    if report.status() == Status::Invalid {
        print!("{}", report.to_text());
        return Ok(ERROR);
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        // One apply at a time, whichever process runs it; the lock is released however the
        // apply ends.
        let store = super::record::open(&config).await?;
        let clients = connect(&config).await;
        let lease = super::record::lock(&config, &store, &clients).await?;
        let result = apply_locked(&config, lease.store(), &clients, &checked, &report, args).await;
        super::record::unlock(&store, lease).await?;
        result
    })
}

async fn apply_locked(
    config: &Config,
    store: &crate::store::Store,
    clients: &Clients,
    checked: &Checked,
    report: &Report<'_>,
    args: &ApplyArgs,
) -> Result<Exit, CliError> {
    match settle_pin(store, &checked.revision.commit).await? {
        PinDecision::Holds(pin) => {
            println!("{}", pinned_message(&pin, &checked.revision.commit));
            return Ok(NO_CHANGES);
        }
        PinDecision::Lifted(_) => {
            println!("A new commit arrived since the rollback: the pin is lifted.")
        }
        PinDecision::None => {}
    }
    let live = plan_live(config, store, clients, checked, Observing::Everything).await?;
    print_problems(report, &live.held_back);
    let plan = match &args.plan {
        Some(path) => saved_plan(path, checked, &live)?,
        None => live.plan.clone(),
    };
    record_revision(store, checked, &config.repo.tenants_file).await?;
    if plan.is_empty() {
        let nothing = ApplyReport::default();
        teams::record(
            config,
            store,
            checked,
            &live.held_back,
            Applied::Report(&nothing),
        )
        .await?;
        println!("No changes.");
        return Ok(NO_CHANGES);
    }
    if let Some(guard) = TooManyDeletions::of(config, &plan).filter(|_| !args.allow_deletes) {
        print!("{}", render::text(&plan));
        return Err(Refusal::Guarded(guard).into());
    }
    print!("{}", render::text(&plan));
    let commit = &checked.revision.commit;
    let actor = super::record::actor();
    if let Some(window) =
        frozen(config, store, commit, &actor, args.ignore_freeze.as_deref()).await?
    {
        println!("Nothing applied: {window} is open. `--ignore-freeze REASON` applies anyway.");
        return Ok(ERROR);
    }
    if !args.auto_approve && !confirm(&format!("Apply these {} changes", plan.changes.len()))? {
        println!("Nothing applied.");
        return Ok(ERROR);
    }
    // The operator approved what the guard would have held: the condition is settled.
    store.clear_condition(GUARDED).await?;
    let mut ids = live.ids;
    let mut progress = print_progress;
    let outcome = execute(
        config,
        store,
        clients,
        &plan,
        &mut ids,
        ApplyRecord {
            commit,
            kind: "sync",
            actor: &actor,
        },
        &mut progress,
    )
    .await?;
    teams::record(
        config,
        store,
        checked,
        &live.held_back,
        Applied::Report(&outcome),
    )
    .await?;
    if outcome.succeeded() {
        // AWS now holds the revision: a stall or drift reported before is resolved.
        store.clear_condition(STALLED).await?;
        store.clear_condition(DRIFT).await?;
    }
    println!("{}", outcome.summary());
    Ok(if outcome.succeeded() {
        NO_CHANGES
    } else {
        CHANGES
    })
}

/// Prints a change as soon as it completes (`apply`, `rollback`, `sync`): with its count,
/// `[7/16] done create …`, at a terminal; the line alone otherwise, so that a log keeps
/// every line in order. The summary follows the last one.
pub(super) fn print_progress(progress: Progress<'_>) {
    let line = progress.result.line();
    let line = crate::diagnostic::printable(&line);
    if std::io::stdout().is_terminal() {
        println!("[{}/{}] {line}", progress.done, progress.total);
    } else {
        println!("  {line}");
    }
}

/// A plan saved by `plan --out`, read from `path` and checked against the revision and the
/// live state ([`crate::reconcile::saved_plan`]).
fn saved_plan(
    path: &std::path::Path,
    checked: &Checked,
    live: &LivePlan,
) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    Ok(crate::reconcile::saved_plan(
        &path.display().to_string(),
        &text,
        &checked.revision.commit,
        &live.observed,
    )?)
}

/// Asks on the terminal whether to `what` ("Apply these 3 changes?"); without a terminal,
/// refuses (use --auto-approve in automation).
pub(super) fn confirm(what: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to confirm on: pass --auto-approve to proceed without asking".to_string(),
        ));
    }
    print!("{what}? Only `yes` proceeds: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            context: "reading the answer".to_string(),
            source,
        })?;
    Ok(answer.trim() == "yes")
}

/// The configuration as AWS evaluates it, for `explain --live`: gwsync's rules and the
/// foreign rules on its listeners, by priority.
pub(super) fn observed_stack(config: &Config) -> Result<Stack, CliError> {
    runtime()?.block_on(async {
        let clients = connect(config).await;
        let (observed, _) = observe(&clients, &config.instance_id).await?;
        Ok(observed.as_evaluated())
    })
}

impl From<SyncError> for CliError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(e) => CliError::Store(e),
            SyncError::Aws(e) => CliError::Aws(e),
            SyncError::Refused(e) => CliError::Refused(e),
        }
    }
}
