//! `gwsync store prune`: retention applied by hand (the daemon applies it on its own after
//! recording a revision), then the file shrunk to what it holds. `gwsync store migrate`: the
//! history copied into another store.

use super::live::runtime;
use super::{Cli, CliError, MigrateArgs, PruneArgs, load_config, record};
use crate::config::SecretSource;
use crate::exit::Exit;
use crate::store::{Location, Retention, Store};

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

pub(super) fn migrate(args: &MigrateArgs) -> Result<Exit, CliError> {
    let location = |text: &str, flag: &str| {
        Location::parse(text).map_err(|message| CliError::Usage(format!("{flag}: {message}")))
    };
    let (from, to) = (location(&args.from, "--from")?, location(&args.to, "--to")?);
    if from == to {
        return Err(CliError::Usage("--from and --to are the same store".into()));
    }
    let password = match (&args.password_file, &args.password_env) {
        (Some(path), _) => Some(SecretSource::File(path.clone())),
        (None, Some(name)) => Some(SecretSource::Env(name.clone())),
        (None, None) => None,
    };
    let password = crate::store::engine::read_password(password.as_ref())?;
    let copied = runtime()?.block_on(async {
        let source = Store::at(&from, password.as_deref()).await?;
        let target = Store::at(&to, password.as_deref()).await?;
        let copied = source.copy_into(&target).await?;
        target.close().await;
        Ok::<_, CliError>(copied)
    })?;
    println!("Copied {from} into {to}:");
    for (table, rows) in &copied.tables {
        println!("  {table}: {rows} rows");
    }
    println!("Point store.url at the new store, then start the daemons.");
    Ok(Exit::Clean)
}
