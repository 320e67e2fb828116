//! `gwsync rollback`, `gwsync resume` and `gwsync status`: going back to a recorded
//! revision from the state database (no Git needed), holding it, and seeing where things
//! stand.

use super::live::{connect, runtime};
use super::{
    Cli, CliError, OutputFormat, ResumeArgs, RollbackArgs, StatusArgs, check_revision, load_config,
    record,
};
use crate::config::Config;
use crate::plan::render;
use crate::reconcile::sync::{ApplyRecord, TooManyDeletions, execute};
use crate::reconcile::{admit_options, translate_options};
use crate::reconcile::{compose_snapshot, live_plan};
use crate::source::{Revision, Snapshot, SourceFile};
use crate::store::{Pin, Store};
use crate::tenancy::admit;
use crate::translate::{RouteAges, translate};
use std::collections::BTreeMap;

pub(super) fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<u8, CliError> {
    let config = load_config(cli)?.0;
    runtime()?.block_on(async {
        let store = record::open(&config).await?;
        record::lock(&store).await?;
        let result = rollback_locked(cli, &config, &store, args).await;
        record::unlock(&store).await?;
        result
    })
}

async fn rollback_locked(
    cli: &Cli,
    config: &Config,
    store: &Store,
    args: &RollbackArgs,
) -> Result<u8, CliError> {
    let target = store.show(&args.to).await?.ok_or_else(|| {
        CliError::Usage(format!(
            "no recorded revision starts with `{}` (see `gwsync history`)",
            args.to
        ))
    })?;
    let revision = Revision {
        commit: target.commit.clone(),
        author: target.author.clone(),
        committed_at: target.committed_at,
        summary: target.summary.clone(),
    };
    // What to go back to: every owner's files as recorded (no Git needed), or the current
    // revision with one team's folder as recorded.
    let (snapshot, head, ages) = match &args.team {
        None => {
            let mut files = Vec::new();
            for s in &target.snapshots {
                for (path, text) in store
                    .team_files(&target.commit, &s.owner)
                    .await?
                    .unwrap_or_default()
                {
                    files.push(SourceFile {
                        path,
                        bytes: text.into_bytes(),
                    });
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            let head = check_revision(cli, &args.revision)
                .ok()
                .map(|c| c.revision.commit);
            let snapshot = Snapshot {
                revision: revision.clone(),
                files,
                entries_refused: Vec::new(),
                submodules: Vec::new(),
            };
            (snapshot, head, RouteAges::new())
        }
        Some(team) => {
            let checked = check_revision(cli, &args.revision)?;
            let files = store
                .team_files(&target.commit, team)
                .await?
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "revision {} has no recorded state of team {team}",
                        target.commit
                    ))
                })?;
            let Some(tenancy) = &checked.admission.tenancy else {
                return Err(CliError::Usage(
                    "the current revision's tenants file is invalid: roll back every team instead"
                        .to_string(),
                ));
            };
            let snapshot = compose_snapshot(
                &checked.snapshot,
                tenancy,
                &BTreeMap::from([(team.clone(), files)]),
            );
            (snapshot, Some(checked.revision.commit), checked.ages)
        }
    };
    let admission = admit(&snapshot, &admit_options(config));
    if !admission.revision_valid() {
        return Err(CliError::Usage(format!(
            "the recorded state of {} is not admitted today (its tenants file or platform folder): nothing rolled back",
            target.commit
        )));
    }
    let translation = translate(&admission, &ages, &translate_options(config));
    let clients = connect(config).await;
    let live = live_plan(
        &clients,
        &config.instance_id,
        &revision,
        &admission,
        &translation,
    )
    .await?;
    for h in &live.held_back {
        eprintln!("held back: {h}");
    }
    let plan = live.plan;
    print!("{}", render::text(&plan));
    if let Some(guard) = TooManyDeletions::of(config, &plan).filter(|_| !args.allow_deletes) {
        return Err(CliError::Usage(format!(
            "the rollback is held back: {guard}; review it and pass --allow-deletes"
        )));
    }
    if !plan.is_empty()
        && !args.auto_approve
        && !super::live::confirm(&format!(
            "Roll back with these {} changes",
            plan.changes.len()
        ))?
    {
        println!("Nothing rolled back.");
        return Ok(2);
    }
    let mut succeeded = true;
    if !plan.is_empty() {
        let mut ids = live.ids;
        let outcome = execute(
            config,
            store,
            &clients,
            &plan,
            &mut ids,
            ApplyRecord {
                commit: &target.commit,
                kind: "rollback",
                actor: &record::actor(),
            },
        )
        .await?;
        succeeded = outcome.succeeded();
        print!("{}", outcome.render());
    }
    if !succeeded {
        return Ok(1);
    }
    let pin = Pin {
        commit: target.commit.clone(),
        team: args.team.clone(),
        pinned_at: record::now(),
        actor: record::actor(),
        head,
    };
    store.set_pin(&pin).await?;
    println!(
        "Rolled back{} to {}; pinned: `gwsync apply` does not roll forward until a new commit arrives or `gwsync resume`.",
        args.team
            .as_deref()
            .map(|t| format!(" team {t}"))
            .unwrap_or_default(),
        crate::source::short(&target.commit)
    );
    Ok(0)
}

pub(super) fn resume(cli: &Cli, _args: &ResumeArgs) -> Result<u8, CliError> {
    let config = load_config(cli)?.0;
    let had = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        Ok::<_, CliError>(store.clear_pin().await?)
    })?;
    println!(
        "{}",
        if had {
            "Pin lifted: the next `gwsync apply` applies the tracked revision."
        } else {
            "No pin: nothing to resume."
        }
    );
    Ok(0)
}

pub(super) fn status(cli: &Cli, args: &StatusArgs) -> Result<u8, CliError> {
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
    Ok(0)
}
