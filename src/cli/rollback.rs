//! `gwsync rollback`, `gwsync resume` and `gwsync status`: going back to a recorded
//! revision from the state database (no Git needed), holding it, and seeing where things
//! stand.

use super::live::{connect, runtime};
use super::{
    Cli, CliError, HoldArgs, OutputFormat, ReleaseArgs, ResumeArgs, RollbackArgs, StatusArgs,
    check_revision, load_config, record,
};
use crate::config::Config;
use crate::exit::Exit;
use crate::plan::render;
use crate::reconcile::rollback::{Kept, RollbackPlan, Scope, hold_team, keep, plan_rollback};
use crate::reconcile::sync::{ApplyRecord, execute};
use crate::reconcile::{Checked, Refusal, TooManyDeletions};
use crate::store::{EventAction, Hold, OperatorEvent, Store};

pub(super) fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    // Git is needed for one team (the other teams as they are now), and only read for every
    // team (which commit the pin is held against).
    let current: Option<Checked> = match &args.team {
        Some(_) => Some(check_revision(cli, &args.revision)?),
        None => check_revision(cli, &args.revision).ok(),
    };
    runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let clients = connect(&config).await;
        let lease = record::lock(&config, &store, &clients).await?;
        let result =
            rollback_locked(&config, lease.store(), &clients, args, current.as_ref()).await;
        record::unlock(&store, lease).await?;
        result
    })
}

async fn rollback_locked(
    config: &Config,
    store: &Store,
    clients: &crate::aws::client::Clients,
    args: &RollbackArgs,
    current: Option<&Checked>,
) -> Result<Exit, CliError> {
    let scope = match (&args.team, current) {
        (Some(team), Some(current)) => Scope::Team { team, current },
        _ => Scope::Everything {
            head: current.map(|c| c.revision.commit.clone()),
        },
    };
    let rollback = plan_rollback(config, store, clients, &args.to, scope).await?;
    for h in &rollback.live.held_back {
        eprintln!("held back: {h}");
    }
    let plan = &rollback.live.plan;
    print!("{}", render::text(plan));
    if let Some(guard) = TooManyDeletions::of(config, plan).filter(|_| !args.allow_deletes) {
        return Err(Refusal::Guarded(guard).into());
    }
    let question = format!("Roll back with these {} changes", plan.changes.len());
    if !plan.is_empty() && !args.auto_approve && !super::live::confirm(&question)? {
        println!("Nothing rolled back.");
        return Ok(Exit::NothingDone);
    }
    if !apply_rollback(config, store, clients, &rollback).await? {
        return Ok(Exit::Attention);
    }
    let target = crate::source::short(&rollback.target.commit);
    match keep(store, &rollback, &record::actor(), record::now()).await? {
        Kept::Held(hold) => println!(
            "Rolled back team {team} to {target}; held: its rules stay as they are while the other teams move on, until `gwsync release --team {team}`.",
            team = hold.team
        ),
        Kept::Pinned(_) => println!(
            "Rolled back to {target}; pinned: `gwsync apply` does not roll forward until a new commit arrives or `gwsync resume`."
        ),
    }
    Ok(Exit::Clean)
}

/// Runs the rollback's plan, recorded as a `rollback`; whether every change succeeded.
async fn apply_rollback(
    config: &Config,
    store: &Store,
    clients: &crate::aws::client::Clients,
    rollback: &RollbackPlan,
) -> Result<bool, CliError> {
    if rollback.live.plan.is_empty() {
        return Ok(true);
    }
    let mut ids = rollback.live.ids.clone();
    let mut progress = super::live::print_progress;
    let outcome = execute(
        config,
        store,
        clients,
        &rollback.live.plan,
        &mut ids,
        ApplyRecord {
            commit: &rollback.target.commit,
            kind: "rollback",
            actor: &record::actor(),
        },
        &mut progress,
    )
    .await?;
    println!("{}", outcome.summary());
    Ok(outcome.succeeded())
}

pub(super) fn resume(cli: &Cli, _args: &ResumeArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let had = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let had = store.clear_pin().await?;
        if had {
            store
                .record_event(&OperatorEvent {
                    at: record::now(),
                    action: EventAction::Resume,
                    team: None,
                    actor: record::actor(),
                    reason: None,
                    commit: None,
                })
                .await?;
        }
        Ok::<_, CliError>(had)
    })?;
    println!(
        "{}",
        if had {
            "Pin lifted: the next `gwsync apply` applies the tracked revision."
        } else {
            "No pin: nothing to resume."
        }
    );
    Ok(Exit::Clean)
}

pub(super) fn hold(cli: &Cli, args: &HoldArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let hold = Hold {
            team: args.team.clone(),
            reason: args.reason.clone(),
            actor: record::actor(),
            since: record::now(),
        };
        Ok::<_, CliError>(hold_team(&store, &hold).await?)
    })?;
    println!(
        "Team {} is held: its rules stay as they are on AWS while the other teams move on, until `gwsync release --team {}`.",
        args.team, args.team
    );
    Ok(Exit::Clean)
}

pub(super) fn release(cli: &Cli, args: &ReleaseArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let (held, stalled) = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let held = store
            .release_hold(&args.team, &record::actor(), record::now())
            .await?;
        let stalled = !store.unstall(Some(&args.team)).await?.is_empty();
        if stalled {
            store
                .record_event(&OperatorEvent {
                    at: record::now(),
                    action: EventAction::Unstall,
                    team: Some(args.team.clone()),
                    actor: record::actor(),
                    reason: None,
                    commit: None,
                })
                .await?;
        }
        Ok::<_, CliError>((held, stalled))
    })?;
    let what = match (held, stalled) {
        (true, _) => "released",
        (false, true) => "no longer stalled",
        (false, false) => {
            println!(
                "Team {} is neither held nor stalled: nothing to release.",
                args.team
            );
            return Ok(Exit::Clean);
        }
    };
    println!(
        "Team {} {what}: the next apply brings it to the tracked revision.",
        args.team
    );
    Ok(Exit::Clean)
}

pub(super) fn status(cli: &Cli, args: &StatusArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let tracked = check_revision(cli, &args.revision).ok().map(|c| c.revision);
    let status = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        Ok::<_, CliError>(crate::status::collect(&store, tracked).await?)
    })?;
    match args.format {
        OutputFormat::Json => println!("{}", status.to_json()),
        OutputFormat::Text => print!("{}", status.to_text()),
    }
    let problems = status.problems();
    if !args.check || problems.is_empty() {
        return Ok(Exit::Clean);
    }
    for p in &problems {
        eprintln!("needs attention: {p}");
    }
    Ok(Exit::Attention)
}
