//! `gwsync store prune`: retention applied by hand (the daemon applies it on its own after
//! recording a revision), then the file shrunk to what it holds.

use super::live::runtime;
use super::{Cli, CliError, PruneArgs, load_config, record};
use crate::exit::Exit;
use crate::store::Retention;

pub(super) fn prune(cli: &Cli, args: &PruneArgs) -> Result<Exit, CliError> {
    let mut config = load_config(cli)?.0;
    if let Some(n) = args.keep_revisions {
        config.store.keep_revisions = n;
    }
    if let Some(days) = args.keep_days {
        config.store.keep_days = days;
    }
    let retention = Retention::of(&config.store);
    if !retention.limits_anything() {
        println!("Retention keeps everything (keep_revisions and keep_days are both 0).");
        return Ok(Exit::Clean);
    }
    let pruned = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let now = crate::reconcile::record::now();
        let pruned = store.prune(&retention, now, args.dry_run).await?;
        if !args.dry_run && !pruned.revisions.is_empty() {
            store.vacuum().await?;
        }
        Ok::<_, CliError>(pruned)
    })?;
    let (verb, kept) = if args.dry_run {
        ("would remove", "keep")
    } else {
        ("removed", "kept")
    };
    println!(
        "{verb} {} revisions and {kept} {}{}",
        pruned.revisions.len(),
        pruned.kept,
        if args.dry_run {
            String::new()
        } else {
            format!(" ({} stored owner states freed)", pruned.states)
        }
    );
    for commit in &pruned.revisions {
        println!("  {verb} {}", crate::source::short(commit));
    }
    for (commit, why) in &pruned.protected {
        println!("  kept {} ({why})", crate::source::short(commit));
    }
    Ok(Exit::Clean)
}
