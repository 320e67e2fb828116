//! Holding a lease: take it, renew it in the background, know when it can no longer be relied
//! on, give it up.
//!
//! A [`LeaseKeeper`] renews its lease every third of its duration (sooner when its deadline is
//! nearer, after a slow take or renewal). Each renewal that succeeds moves its deadline to the
//! renewal's start plus two thirds of the duration: a third is kept as margin for a write in
//! flight, a slow database or a pause of this process. Past the deadline the keeper counts as
//! lost, and so does a renewal the database refuses (the lease was taken by another). A keeper
//! can drive a [`WriteWindow`] with its deadline, so that the AWS clients send nothing once the
//! lease cannot be relied on. The lease's duration is `store.lease_duration`.
//!
//! The store decides who may take a lease and fences records by epoch (`store::lease`); this
//! module decides nothing about when leases are taken or given up: the daemon and the CLI do.

use crate::aws::client::WriteWindow;
use crate::store::{Lease, LeaseClaim, LeaseName, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A lease held by this process, renewed until released.
#[derive(Debug)]
pub struct LeaseKeeper {
    lease: Lease,
    /// The store handle fenced by the lease: what is recorded under it goes through here.
    store: Store,
    deadline: WriteWindow,
    writes: Option<WriteWindow>,
    renewer: JoinHandle<()>,
    renewals: Arc<Renewals>,
}

/// Renewals made so far: accepted, and failed (refused or not answered).
#[derive(Debug, Default)]
struct Renewals {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl LeaseKeeper {
    /// Takes `name` for `claim` through `store` (fenced when `store` is: the leader takes the
    /// apply lease only while it leads, and renews it only while it does). When `writes` is
    /// given, it is kept open until the keeper's deadline and closed when the lease is lost.
    pub async fn take(
        store: &Store,
        name: LeaseName,
        claim: &LeaseClaim,
        duration: Duration,
        writes: Option<&WriteWindow>,
    ) -> Result<LeaseKeeper, StoreError> {
        let started = Instant::now();
        let lease = store.take_lease(name, claim, duration).await?;
        let deadline = WriteWindow::default();
        let margin = duration / 3;
        deadline.open_until(started + duration - margin);
        if let Some(writes) = writes {
            writes.open_until(started + duration - margin);
        }
        let renewals = Arc::new(Renewals::default());
        let renewer = tokio::spawn(renew(
            Renewer {
                store: store.clone(),
                lease: lease.clone(),
                duration,
                deadline: deadline.clone(),
                writes: writes.cloned(),
            },
            renewals.clone(),
        ));
        Ok(LeaseKeeper {
            store: store.fenced(&lease),
            lease,
            deadline,
            writes: writes.cloned(),
            renewer,
            renewals,
        })
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The store, every write fenced by this lease.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Renewals so far: `(accepted, failed)`.
    pub fn renewals(&self) -> (u64, u64) {
        (
            self.renewals.ok.load(Ordering::Relaxed),
            self.renewals.failed.load(Ordering::Relaxed),
        )
    }

    /// Whether the lease can still be relied on: renewed recently enough, and not taken.
    pub fn is_held(&self) -> bool {
        self.deadline.check().is_ok()
    }

    /// Stops renewing and gives the lease up, so the next taker need not wait for it to
    /// expire. Writes are no longer guarded by it.
    pub async fn release(self, store: &Store) -> Result<(), StoreError> {
        self.renewer.abort();
        if let Some(writes) = &self.writes {
            writes.unguard();
        }
        store.release_lease(&self.lease).await?;
        Ok(())
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// What a renewal task works on.
struct Renewer {
    store: Store,
    lease: Lease,
    duration: Duration,
    deadline: WriteWindow,
    writes: Option<WriteWindow>,
}

impl Renewer {
    /// Writes may go until `until` (a renewal succeeded), or no more (`until` is now).
    fn open_until(&self, until: Instant) {
        self.deadline.open_until(until);
        if let Some(writes) = &self.writes {
            writes.open_until(until);
        }
    }
}

/// Renews the lease every third of its duration until it is lost; moves the deadlines on each
/// success, closes them when the database says the lease is another's.
async fn renew(renewer: Renewer, renewals: Arc<Renewals>) {
    let every = renewer.duration / 3;
    let lease = &renewer.lease;
    loop {
        // Every third of the lease; sooner when the deadline is nearer than that (a take or a
        // renewal that took long), so that a slow database does not cost the lease.
        let left = renewer
            .deadline
            .deadline()
            .map_or(every, |d| d.saturating_duration_since(Instant::now()));
        tokio::time::sleep(every.min(left / 2).max(every / 10)).await;
        let started = Instant::now();
        let lost = match renewer.store.renew_lease(lease, renewer.duration).await {
            Ok(true) => {
                renewals.ok.fetch_add(1, Ordering::Relaxed);
                renewer.open_until(started + renewer.duration - every);
                continue;
            }
            Ok(false) => "the lease was taken by another instance: no more writes under it",
            Err(StoreError::Deposed { .. }) => {
                "the lease it depends on was lost: no more writes under it"
            }
            Err(error) => {
                renewals.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(lease = %lease.name, %error, "cannot renew the lease; trying again");
                continue;
            }
        };
        renewals.failed.fetch_add(1, Ordering::Relaxed);
        renewer.open_until(Instant::now());
        tracing::warn!(lease = %lease.name, epoch = lease.epoch, "{lost}");
        return;
    }
}
