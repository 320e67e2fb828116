//! Which of the daemons sharing a store leads: the one holding the `leader` lease.
//!
//! Every third of `store.lease_duration` each daemon ticks: a follower tries to take the lease
//! (it succeeds once the leader released it, let it expire, or died on this host); the leader
//! checks that its lease is still held (its keeper renews it in the background, and counts it
//! lost past its deadline or when another took it) and steps down when it is not. Each tick
//! also says in the store that this daemon runs, and as what, for `gwsync status`.
//!
//! With one daemon (the SQLite default) it takes the lease at its first tick and keeps it. It
//! does not decide what a leader or a follower does: the loop does (`daemon::run`).

use crate::reconcile::lease::LeaseKeeper;
use crate::store::{LeaseClaim, LeaseName, Store, StoreError};
use std::time::Duration;

/// What a tick changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Nothing: still leading, or still standby.
    Same,
    /// Took the lease at this epoch: leads from now on.
    Became(i64),
    /// Lost the lease (not renewed in time, or taken by another): standby from now on.
    SteppedDown,
}

/// This daemon's claim on the leader lease.
#[derive(Debug)]
pub struct Leadership {
    claim: LeaseClaim,
    duration: Duration,
    keeper: Option<LeaseKeeper>,
    /// Renewals of the current keeper already reported ([`Leadership::take_renewals`]).
    reported: (u64, u64),
}

impl Leadership {
    pub fn new(actor: &str, duration: Duration) -> Leadership {
        Leadership {
            claim: LeaseClaim::this_process(actor),
            duration,
            keeper: None,
            reported: (0, 0),
        }
    }

    /// Renewals of the leader lease since the last call: `(accepted, failed)`.
    pub fn take_renewals(&mut self) -> (u64, u64) {
        let Some(keeper) = &self.keeper else {
            return (0, 0);
        };
        let (ok, failed) = keeper.renewals();
        let new = (ok - self.reported.0, failed - self.reported.1);
        self.reported = (ok, failed);
        new
    }

    /// How often to tick: a third of the lease.
    pub fn period(&self) -> Duration {
        self.duration / 3
    }

    /// The leader lease, while this daemon holds it and can rely on it.
    pub fn keeper(&self) -> Option<&LeaseKeeper> {
        self.keeper.as_ref().filter(|k| k.is_held())
    }

    pub fn is_leader(&self) -> bool {
        self.keeper().is_some()
    }

    /// `leader` or `standby`.
    pub fn role(&self) -> &'static str {
        if self.is_leader() {
            "leader"
        } else {
            "standby"
        }
    }

    /// Takes the lease when free, notices when it is lost, and says so in the store.
    pub async fn tick(&mut self, store: &Store) -> Turn {
        let turn = match &self.keeper {
            Some(keeper) if keeper.is_held() => Turn::Same,
            Some(keeper) => {
                tracing::warn!(
                    epoch = keeper.lease().epoch,
                    "the leader lease was lost (not renewed in time, or taken over): standby"
                );
                self.keeper = None;
                Turn::SteppedDown
            }
            None => self.try_take(store).await,
        };
        let version = env!("CARGO_PKG_VERSION");
        // Bounded: an unreachable database must not hold the loop up past the next tick.
        let noted = tokio::time::timeout(
            self.period(),
            store.note_instance(&self.claim, version, self.role()),
        )
        .await;
        match noted {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "cannot note this instance in the store"),
            Err(_) => tracing::debug!("noting this instance in the store timed out"),
        }
        turn
    }

    async fn try_take(&mut self, store: &Store) -> Turn {
        let taken =
            LeaseKeeper::take(store, LeaseName::Leader, &self.claim, self.duration, None).await;
        match taken {
            Ok(keeper) => {
                let epoch = keeper.lease().epoch;
                tracing::info!(epoch, "took the leader lease: leading");
                self.keeper = Some(keeper);
                self.reported = (0, 0);
                Turn::Became(epoch)
            }
            Err(StoreError::Held(held)) => {
                tracing::debug!(%held, "standby");
                Turn::Same
            }
            Err(error) => {
                tracing::warn!(%error, "cannot take the leader lease; standby");
                Turn::Same
            }
        }
    }

    /// Gives the lease up (a follower takes over at its next tick, not after the lease
    /// expires) and removes this daemon from the store's list.
    pub async fn release(self, store: &Store) {
        if let Some(keeper) = self.keeper
            && let Err(error) = keeper.release(store).await
        {
            tracing::warn!(%error, "cannot release the leader lease; it expires by itself");
        }
        if let Err(error) = store.forget_instance(&self.claim).await {
            tracing::debug!(%error, "cannot remove this instance from the store");
        }
    }
}
