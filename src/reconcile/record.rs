//! What every process that changes AWS writes to the store: the revision, each owner's
//! verdict, diagnostics and manifest files (the snapshot a later rollback or last-good state
//! is rebuilt from), and the apply lease it holds while it applies.

use super::Checked;
use super::lease::LeaseKeeper;
use crate::aws::client::WriteWindow;
use crate::diagnostic::Diagnostic;
use crate::store::{LeaseClaim, LeaseName, Store, StoreError};
use crate::tenancy::PathOwner;
use std::collections::BTreeMap;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now: the store's clock.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Takes the apply lease for `actor` (this process) for `duration`, or says who holds it.
/// While it is held it is renewed, what is recorded goes through the keeper's fenced store,
/// and `writes` (the AWS clients' window) stays open only while the lease can be relied on.
pub async fn lock(
    store: &Store,
    actor: &str,
    duration: Duration,
    writes: &WriteWindow,
) -> Result<LeaseKeeper, StoreError> {
    let claim = LeaseClaim::this_process(actor);
    LeaseKeeper::take(store, LeaseName::Apply, &claim, duration, Some(writes)).await
}

/// Gives the apply lease up.
pub async fn unlock(store: &Store, lease: LeaseKeeper) -> Result<(), StoreError> {
    lease.release(store).await
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
    let files = files_by_owner(checked, tenants_file);
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
                files.get(outcome.name.as_str()).map_or(&[], Vec::as_slice),
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

/// The files of each owner (`platform` or a team) at `checked`, as (path, text), in path
/// order; the platform's include the tenants file. One pass over the files, however many
/// owners there are.
fn files_by_owner<'c>(
    checked: &'c Checked,
    tenants_file: &str,
) -> BTreeMap<&'c str, Vec<(String, String)>> {
    let mut by_owner: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let Some(tenancy) = &checked.admission.tenancy else {
        return by_owner;
    };
    for f in &checked.snapshot.files {
        let owner = match tenancy.owner_of(&f.path) {
            _ if f.path == tenants_file => "platform",
            PathOwner::Platform => "platform",
            PathOwner::Team(i) => tenancy.teams[i].name.as_str(),
            PathOwner::Ignored | PathOwner::Unowned => continue,
        };
        let text = String::from_utf8_lossy(&f.bytes).into_owned();
        by_owner
            .entry(owner)
            .or_default()
            .push((f.path.clone(), text));
    }
    by_owner
}
