//! What every process that changes AWS writes to the store: the revision, each owner's
//! verdict, diagnostics and manifest files (the snapshot a later rollback or last-good state
//! is rebuilt from), and the apply lock it holds while it applies.

use super::Checked;
use crate::diagnostic::Diagnostic;
use crate::store::{Store, StoreError};
use crate::tenancy::PathOwner;
use std::time::{SystemTime, UNIX_EPOCH};

/// How often the holder of the apply lock renews its heartbeat.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
/// A holder whose heartbeat is older than this is gone (hung, or its pid reused): ten missed
/// renewals.
const HEARTBEAT_STALE_SECONDS: i64 = 300;

/// Unix seconds now: the store's clock.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Takes the apply lock for `actor` (this process), or says who holds it; while this
/// process holds it, a task renews its heartbeat (it ends once the lock is released).
pub async fn lock(store: &Store, actor: &str) -> Result<(), StoreError> {
    let (pid, acquired_at) = (std::process::id(), now());
    store
        .acquire_apply_lock(actor, pid, acquired_at, HEARTBEAT_STALE_SECONDS)
        .await?;
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            match store.renew_apply_lock(pid, acquired_at, now()).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => tracing::warn!(error = %e, "cannot renew the apply lock's heartbeat"),
            }
        }
    });
    Ok(())
}

/// Releases the apply lock this process holds.
pub async fn unlock(store: &Store) -> Result<(), StoreError> {
    store.release_apply_lock(std::process::id()).await?;
    Ok(())
}

/// Records the revision and, for the platform and every team, its verdict, diagnostics and
/// manifest files as read (the platform's include the tenants file).
pub async fn record_revision(
    store: &Store,
    checked: &Checked,
    tenants_file: &str,
) -> Result<(), StoreError> {
    store.record_revision(&checked.revision, now()).await?;
    if checked.admission.tenancy.is_none() {
        return Ok(());
    }
    let report = checked.report();
    let owners = std::iter::once(checked.admission.platform.as_ref())
        .flatten()
        .chain(&checked.admission.teams);
    for outcome in owners {
        let admitted = if outcome.name == "platform" {
            checked.admission.revision_valid() && checked.translation.refused_gateways.is_empty()
        } else {
            report.team_admitted(&outcome.name)
        };
        let verdict = if admitted { "admitted" } else { "refused" };
        store
            .record_snapshot(
                &checked.revision.commit,
                &outcome.name,
                verdict,
                &owner_diagnostics(checked, &outcome.name),
                &owner_files(checked, tenants_file, &outcome.name),
            )
            .await?;
    }
    Ok(())
}

/// The diagnostics about `owner` (`platform` or a team) at `checked`: admission's and
/// translation's.
pub fn owner_diagnostics(checked: &Checked, owner: &str) -> Vec<Diagnostic> {
    let admission = std::iter::once(checked.admission.platform.as_ref())
        .flatten()
        .chain(&checked.admission.teams)
        .filter(|o| o.name == owner)
        .flat_map(|o| &o.diagnostics);
    admission
        .chain(
            checked
                .translation
                .diagnostics
                .iter()
                .filter(|d| d.team.as_deref() == Some(owner)),
        )
        .cloned()
        .collect()
}

/// The files of `owner` (`platform` or a team) at `checked`, as (path, text), in path order;
/// the platform's include the tenants file.
fn owner_files(checked: &Checked, tenants_file: &str, owner: &str) -> Vec<(String, String)> {
    let Some(tenancy) = &checked.admission.tenancy else {
        return Vec::new();
    };
    checked
        .snapshot
        .files
        .iter()
        .filter(|f| match tenancy.owner_of(&f.path) {
            _ if f.path == tenants_file => owner == "platform",
            PathOwner::Platform => owner == "platform",
            PathOwner::Team(i) => tenancy.teams[i].name == owner,
            PathOwner::Ignored | PathOwner::Unowned => false,
        })
        .map(|f| {
            (
                f.path.clone(),
                String::from_utf8_lossy(&f.bytes).into_owned(),
            )
        })
        .collect()
}
