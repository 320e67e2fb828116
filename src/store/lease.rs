//! Leases: which daemon leads, and who changes AWS right now.
//!
//! A lease is a row of `leases` (`migrations/*/0009_leases.sql`): holder, epoch, expiry. It is
//! taken in one conditional update when it is free, expired, or held by a process of this host
//! that has exited; every take raises the epoch by one. Its holder renews it well before it
//! expires and releases it when done. Expiry is on the database's clock, so instances on
//! several hosts agree on it whatever their own clocks say.
//!
//! The epoch is the fence: a store handle fenced by a lease ([`Store::fenced`]) checks, in the
//! transaction of each write, that the lease is still held at that epoch, and keeps the row
//! locked until it commits; a holder that was paused or cut off past its expiry, and whose
//! lease was taken meanwhile, records nothing.
//!
//! Two leases exist ([`LeaseName`]): `leader`, held by the daemon that runs the reconcile loop
//! (the others are standby), and `apply`, held while AWS is changed: by the leader for each
//! apply (taken under its leader lease, so a deposed leader cannot take it), and by a CLI
//! `apply`, `rollback` or `sync`, which refuses, naming the holder, while another holds it.
//!
//! This module decides nothing about when to take, renew or give up a lease: the daemon and
//! the CLI do.

use super::{Store, StoreError, format_time};
use crate::diagnostic::printable;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The leases there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseName {
    /// Which daemon runs the reconcile loop.
    Leader,
    /// Who changes AWS right now.
    Apply,
}

impl LeaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseName::Leader => "leader",
            LeaseName::Apply => "apply",
        }
    }
}

impl fmt::Display for LeaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks for a lease: a name for people (the actor), the host and the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    pub holder: String,
    pub host: String,
    pub pid: u32,
}

impl LeaseClaim {
    /// This process on this host, as `holder`.
    pub fn this_process(holder: &str) -> LeaseClaim {
        LeaseClaim {
            holder: holder.to_string(),
            host: this_host(),
            pid: std::process::id(),
        }
    }
}

/// This machine's host name (`unknown` if it cannot be read).
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// A lease this process holds: its epoch fences the writes made under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: LeaseName,
    pub epoch: i64,
}

/// A lease as the database has it (for `gwsync status` and refusals). Times are Unix
/// milliseconds on the database's clock; `now_ms` is that clock when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeaseHolder {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub epoch: i64,
    pub acquired_at_ms: i64,
    pub expires_at_ms: i64,
    pub now_ms: i64,
}

impl LeaseHolder {
    /// Held by someone, and not expired.
    pub fn is_held(&self) -> bool {
        !self.holder.is_empty() && self.expires_at_ms > self.now_ms
    }

    /// How long until it expires unless renewed (zero when it has).
    pub fn expires_in(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.expires_at_ms - self.now_ms).unwrap_or(0))
    }
}

/// A lease another process holds, as a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    pub name: LeaseName,
    pub by: LeaseHolder,
}

impl fmt::Display for HeldBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = &self.by;
        let doing = match self.name {
            LeaseName::Apply => "has been applying",
            LeaseName::Leader => "has been leading",
        };
        write!(
            f,
            "another gwsync ({}, pid {} on {}) {doing} since {} (the {} lease, epoch {}, {} s left \
             unless renewed); wait for it to finish: a lease whose holder stops renewing it is \
             taken over when it expires, one whose process on this host has exited at once",
            printable(&by.holder),
            by.pid,
            printable(&by.host),
            format_time(by.acquired_at_ms / 1000),
            self.name,
            by.epoch,
            by.expires_in().as_secs(),
        )
    }
}

/// Checks, as the first statement of a write transaction, that `lease` is still held at its
/// epoch, and locks its row until the transaction ends.
pub(super) async fn check_fence(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    lease: &Lease,
) -> Result<(), StoreError> {
    let held = sqlx::query(
        "UPDATE leases SET epoch = epoch WHERE name = $1 AND epoch = $2 AND holder <> ''",
    )
    .bind(lease.name.as_str())
    .bind(lease.epoch)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if held == 0 {
        return Err(StoreError::Deposed {
            lease: lease.name,
            epoch: lease.epoch,
        });
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// The query of one lease (`$1`: its name) as [`LeaseHolder`], with the database's clock.
    fn select_lease(&self) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "SELECT holder, host, pid, epoch, acquired_at AS acquired_at_ms, \
             expires_at AS expires_at_ms, {} AS now_ms FROM leases WHERE name = $1",
            self.engine().now_ms()
        ))
    }

    /// The lease `name` as the database has it.
    pub async fn lease(&self, name: LeaseName) -> Result<LeaseHolder, StoreError> {
        Ok(sqlx::query_as::<_, LeaseHolder>(self.select_lease())
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await?)
    }

    /// Takes the lease `name` for `claim` for `ttl`, when it is free, expired, or held by a
    /// process of this host that has exited; otherwise fails with [`StoreError::Held`] naming
    /// the holder. The epoch goes up by one. On a fenced handle the take is itself fenced (the
    /// leader takes the apply lease only while it still leads). Taking the apply lease closes
    /// the applies a holder that is gone left unfinished as `interrupted`: only the holder
    /// writes applies, so none is in flight.
    pub async fn take_lease(
        &self,
        name: LeaseName,
        claim: &LeaseClaim,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = self.engine().now_ms();
        let mut tx = self.write().await?;
        let take = format!(
            "UPDATE leases SET holder = $1, host = $2, pid = $3, epoch = epoch + 1, \
             acquired_at = {now}, expires_at = {now} + $4 \
             WHERE name = $5 AND (holder = '' OR expires_at <= {now} OR epoch = $6) \
             RETURNING epoch"
        );
        let taken = |seen_epoch: i64| {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(take.clone()))
                .bind(&claim.holder)
                .bind(&claim.host)
                .bind(i64::from(claim.pid))
                .bind(millis(ttl))
                .bind(name.as_str())
                .bind(seen_epoch)
        };
        // A free or expired lease is taken at once (no epoch is -1).
        let mut epoch: Option<i64> = taken(-1).fetch_optional(&mut *tx).await?;
        if epoch.is_none() {
            let current = sqlx::query_as::<_, LeaseHolder>(self.select_lease())
                .bind(name.as_str())
                .fetch_one(&mut *tx)
                .await?;
            let gone = current.host == claim.host
                && u32::try_from(current.pid).is_ok_and(|pid| !process_exists(pid));
            if !gone {
                tx.rollback().await?;
                return Err(StoreError::Held(HeldBy { name, by: current }));
            }
            tracing::warn!(
                lease = %name,
                holder = %current.holder,
                pid = current.pid,
                "taking over a lease whose process on this host has exited"
            );
            epoch = taken(current.epoch).fetch_optional(&mut *tx).await?;
        }
        let Some(epoch) = epoch else {
            // Another process took it between the read and the conditional update.
            tx.rollback().await?;
            return Err(StoreError::Held(HeldBy {
                name,
                by: self.lease(name).await?,
            }));
        };
        if name == LeaseName::Apply {
            close_interrupted(&mut tx, now).await?;
        }
        tx.commit().await?;
        Ok(Lease { name, epoch })
    }

    /// Extends `lease` to `ttl` from now; false when it is no longer held at its epoch
    /// (released, or taken by another). On a fenced handle the renewal is fenced too (the
    /// leader renews its apply lease only while it leads).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.engine().now_ms();
        let mut tx = self.write().await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE leases SET expires_at = {now} + $1 \
             WHERE name = $2 AND epoch = $3 AND holder <> ''"
        )))
        .bind(millis(ttl))
        .bind(lease.name.as_str())
        .bind(lease.epoch)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives `lease` up (the next taker need not wait for it to expire); false when it was no
    /// longer held at its epoch. The epoch stays: it only grows.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE leases SET holder = '', host = '', pid = 0, expires_at = 0 \
             WHERE name = $1 AND epoch = $2 AND holder <> ''",
        )
        .bind(lease.name.as_str())
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Closes, as `interrupted`, the applies left unfinished by a holder of the apply lease that
/// is gone.
/// `now_ms` is the database's clock (an SQL expression).
async fn close_interrupted(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now_ms: &str,
) -> Result<(), StoreError> {
    let interrupted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE applies SET outcome = 'interrupted', finished_at = {now_ms} / 1000 \
         WHERE outcome IS NULL AND finished_at IS NULL"
    )))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if interrupted > 0 {
        tracing::warn!(
            applies = interrupted,
            "closed applies left unfinished by a process that died as interrupted"
        );
    }
    Ok(())
}

fn process_exists(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How long the row of a daemon that stopped saying it runs is kept.
const FORGET_INSTANCES_AFTER: Duration = Duration::from_secs(600);

/// A daemon that shares this store, as it last said (`gwsync status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Instance {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// `leader` or `standby`.
    pub role: String,
    /// Unix milliseconds on the database's clock.
    pub started_at: i64,
    pub seen_at: i64,
}

impl Store {
    /// Says that the daemon `claim` runs as `role` (`leader`, `standby`), now.
    pub async fn note_instance(
        &self,
        claim: &LeaseClaim,
        version: &str,
        role: &str,
    ) -> Result<(), StoreError> {
        let now = self.engine().now_ms();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO instances (holder, host, pid, version, role, started_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, {now}, {now}) \
             ON CONFLICT (host, pid) DO UPDATE SET holder = excluded.holder, \
             version = excluded.version, role = excluded.role, seen_at = excluded.seen_at"
        )))
        .bind(&claim.holder)
        .bind(&claim.host)
        .bind(i64::from(claim.pid))
        .bind(version)
        .bind(role)
        .execute(&self.pool)
        .await?;
        // Daemons gone for long (killed, their host lost) are forgotten.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM instances WHERE seen_at < {now} - $1"
        )))
        .bind(millis(FORGET_INSTANCES_AFTER))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The daemons seen within `within`, by host and process.
    pub async fn instances(&self, within: Duration) -> Result<Vec<Instance>, StoreError> {
        let now = self.engine().now_ms();
        Ok(sqlx::query_as::<_, Instance>(sqlx::AssertSqlSafe(format!(
            "SELECT holder, host, pid, version, role, started_at, seen_at FROM instances \
             WHERE seen_at >= {now} - $1 ORDER BY host, pid"
        )))
        .bind(millis(within))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The daemon `claim` stopped.
    pub async fn forget_instance(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE host = $1 AND pid = $2")
            .bind(&claim.host)
            .bind(i64::from(claim.pid))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
