//! What the commands that change AWS write to the store: the revision, each owner's verdict,
//! diagnostics and manifest files (the snapshot a later rollback or last-good state is
//! rebuilt from), and every apply with its plan and report. Also the apply lock, shared by
//! every process that writes to AWS.

use super::{Checked, CliError};
use crate::config::Config;
use crate::store::Store;
use crate::tenancy::PathOwner;
use crate::validate::Report;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long an apply lock may be held before another process may take it over.
const STALE_LOCK_SECONDS: i64 = 3600;

pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Who is acting: the CLI user, for the record.
pub(super) fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("cli:{user}")
}

pub(super) async fn open(config: &Config) -> Result<Store, CliError> {
    Ok(Store::open(&config.store.path).await?)
}

/// Takes the apply lock, or says who holds it.
pub(super) async fn lock(store: &Store) -> Result<(), CliError> {
    store
        .acquire_apply_lock(&actor(), std::process::id(), now(), STALE_LOCK_SECONDS)
        .await?;
    Ok(())
}

pub(super) async fn unlock(store: &Store) -> Result<(), CliError> {
    store.release_apply_lock(std::process::id()).await?;
    Ok(())
}

/// Records the revision and, for the platform and every team, its verdict, diagnostics and
/// manifest files as read (the platform's include the tenants file).
pub(super) async fn revision(
    store: &Store,
    checked: &Checked,
    tenants_file: &str,
) -> Result<(), CliError> {
    store.record_revision(&checked.revision, now()).await?;
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(());
    };
    let report = Report {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        team: None,
    };
    let owners = std::iter::once(checked.admission.platform.as_ref())
        .flatten()
        .chain(&checked.admission.teams);
    for outcome in owners {
        let admitted = if outcome.name == "platform" {
            checked.admission.revision_valid() && checked.translation.refused_gateways.is_empty()
        } else {
            report.team_admitted(&outcome.name)
        };
        let diagnostics: Vec<_> = outcome
            .diagnostics
            .iter()
            .chain(
                checked
                    .translation
                    .diagnostics
                    .iter()
                    .filter(|d| d.team.as_deref() == Some(outcome.name.as_str())),
            )
            .cloned()
            .collect();
        let files: Vec<(String, String)> = checked
            .snapshot
            .files
            .iter()
            .filter(|f| {
                let owner = tenancy.owner_of(&f.path);
                match owner {
                    _ if f.path == tenants_file => outcome.name == "platform",
                    PathOwner::Platform => outcome.name == "platform",
                    PathOwner::Team(i) => tenancy.teams[i].name == outcome.name,
                    PathOwner::Ignored | PathOwner::Unowned => false,
                }
            })
            .map(|f| {
                (
                    f.path.clone(),
                    String::from_utf8_lossy(&f.bytes).into_owned(),
                )
            })
            .collect();
        let verdict = if admitted { "admitted" } else { "refused" };
        store
            .record_snapshot(
                &checked.revision.commit,
                &outcome.name,
                verdict,
                &diagnostics,
                &files,
            )
            .await?;
    }
    Ok(())
}
