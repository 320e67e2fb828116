//! One reconcile, as the daemon runs it on every trigger and `gwsync sync` runs it by hand:
//! fetch, read the tracked branch, check it, and sync it under the apply lease; the drift check
//! against the last converged revision; and the retry policy that turns repeated failures
//! into the `stalled` condition.
//!
//! It owns the long-lived handles (the repository, the store, the AWS clients) and what is
//! remembered between reconciles, and posts each commit's status on the Git host when that is
//! configured (`commit_status`). It does not decide when to run: that is the loop's
//! (`daemon::run`) or the operator's (`gwsync sync`).

use super::commit_status::{CommitStatuses, after_sync};
use crate::alb::identity;
use crate::aws::apply::{ApplyReport, Outcome, Progress};
use crate::aws::client::{CallObserver, Clients, RateLimits};
use crate::config::Config;
use crate::plan::{Plan, render};
use crate::reconcile::lease::LeaseKeeper;
use crate::reconcile::observing::Observation;
use crate::reconcile::record::{self, now};
use crate::reconcile::sync::{
    ApplyRecord, SyncBy, SyncError, SyncOutcome, SyncResult, execute, plan_live, sync,
};
use crate::reconcile::sync::{DRIFT, STALLED};
use crate::reconcile::{
    CheckCache, Checked, ObservedCache, Observing, TooManyDeletions, check_incremental,
};
use crate::source::{GitAuth, Revision, Source, SourceError};
use crate::store::{EventAction, OperatorEvent, Store, StoreError, TeamRecord, TeamState};
use crate::tenancy::PathOwner;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often a revision held back by a freeze window is looked at again.
const FROZEN_RECHECK: Duration = Duration::from_secs(60);
/// How soon a reconcile that found the apply lease held (another gwsync applying) runs again.
const LOCK_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    CommitStatusToken(#[from] super::commit_status::TokenError),
}

impl ReconcileError {
    /// Another process holds the apply lease: not a failure of the revision, try later.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            ReconcileError::Store(StoreError::Held(_))
                | ReconcileError::Sync(SyncError::Store(StoreError::Held(_)))
        )
    }
}

/// How failed applies are retried: `retries` times, after `base`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    pub fn of(config: &Config) -> RetryPolicy {
        RetryPolicy {
            retries: config.daemon.apply_retries,
            base: config.daemon.retry_backoff,
            max: config.daemon.retry_backoff_max,
        }
    }

    /// The wait before the next attempt after `failures` consecutive failures, or `None`
    /// when the retries are used up (the revision is then stalled).
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        if failures == 0 || failures > self.retries {
            return None;
        }
        let factor = 2u32.saturating_pow(failures - 1);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// What a drift check found.
#[derive(Debug)]
pub struct Drift {
    /// The revision compared with.
    pub commit: String,
    /// The changes that would take AWS back to it; empty when there is no drift.
    pub plan: Plan,
    /// Whether self-heal applied them, and how that went; `None` without self-heal, or when
    /// the changes delete more rules than `apply.max_rule_deletions` allows unattended.
    pub healed: Option<bool>,
}

/// The long-lived state of reconciling.
pub struct Reconciler {
    config: Config,
    source: Source,
    /// The store, its writes fenced by the leader lease while this process leads.
    store: Store,
    /// The store unfenced: what a follower reads and passes triggers through.
    base_store: Store,
    clients: Clients,
    observer: Option<Arc<dyn CallObserver>>,
    /// Who applies, for the record (`daemon@host`, `cli:user`).
    actor: String,
    /// The last revision synced to convergence: what drift is measured against. Forgotten
    /// when an apply fails (AWS is then between two revisions) or the configuration changes.
    converged: Option<Checked>,
    /// Consecutive failures of one commit that are not one team's (a load balancer's, a
    /// listener's, the store's): they stall the revision.
    failures: Option<(String, u32)>,
    /// After a sync whose failures were all teams' (each team counts its own, see
    /// `reconcile::teams`): the most failures of a team still retried; 0 when every failing
    /// team is now stalled (reconcile again at once: the stalled teams are left as they are
    /// and the others converge).
    team_failures: Option<u32>,
    /// The last sync found a freeze window open: look again (forced) while it lasts, so that
    /// the revision is applied once it closes.
    frozen: bool,
    /// The operator's reason to apply during a freeze window (`gwsync sync --ignore-freeze`).
    ignore_freeze: Option<String>,
    /// The last reconcile found the apply lease held, or found that another process applied
    /// since this one converged: reconcile again soon, not at the next poll.
    look_again: bool,
    /// What is kept between revisions: unchanged teams are not parsed again, and only new
    /// commits are walked for route ages.
    check_cache: CheckCache,
    /// Commit statuses on the Git host (`[commit_status]`), when configured.
    statuses: Option<CommitStatuses>,
    /// Hears about each change of a sync as it completes: nothing for the daemon (its log
    /// has every change), printed by `gwsync sync`.
    on_progress: fn(Progress<'_>),
    /// When retention last ran ([`Reconciler::keep_history_in_bounds`]).
    pruned_at: Option<std::time::Instant>,
    /// What was read from AWS last: a commit's plan reads again only what it touches; drift
    /// checks read everything.
    observed: ObservedCache,
}

/// How often the daemon applies retention: after a converged reconcile, at most this often.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Reconciler {
    /// Opens the repository, the store and the AWS clients of `config`.
    pub async fn open(
        config: Config,
        actor: String,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<Reconciler, ReconcileError> {
        let source = open_source(&config)?;
        let password = crate::store::password(&config.store)?;
        let store = Store::at(&config.store.location(), password.as_deref()).await?;
        let clients = connect(&config, observer.clone()).await;
        let statuses = CommitStatuses::open(config.commit_status.as_ref())?;
        let mut reconciler = Reconciler {
            config,
            source,
            base_store: store.clone(),
            store,
            clients,
            observer,
            actor,
            converged: None,
            failures: None,
            team_failures: None,
            frozen: false,
            ignore_freeze: None,
            look_again: false,
            check_cache: CheckCache::default(),
            statuses,
            on_progress: |_| {},
            pruned_at: None,
            observed: ObservedCache::default(),
        };
        reconciler.take_up_stall().await?;
        Ok(reconciler)
    }

    /// Takes up the `stalled` condition as the store has it: raised by an earlier run (a
    /// restart does not retry a stalled revision), or cleared by `gwsync sync` (which tried
    /// again itself).
    pub async fn take_up_stall(&mut self) -> Result<(), StoreError> {
        let recorded = self
            .store
            .conditions()
            .await?
            .into_iter()
            .find(|c| c.kind == STALLED);
        match recorded {
            Some(c) if self.stalled() != Some(c.commit.as_str()) => {
                let used_up = self.config.daemon.apply_retries.saturating_add(1);
                self.failures = Some((c.commit, used_up));
            }
            None if self.stalled().is_some() => self.failures = None,
            _ => {}
        }
        Ok(())
    }

    /// Tells `on_progress` about each change of the syncs from now on (`gwsync sync`).
    pub fn report_progress(&mut self, on_progress: fn(Progress<'_>)) {
        self.on_progress = on_progress;
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Leads from now on: what it records is fenced by `leader` (a deposed leader records
    /// nothing). What it remembers of AWS and of convergence may be stale after a standby
    /// spell (another instance applied meanwhile), so it is forgotten.
    pub fn lead(&mut self, leader: &LeaseKeeper) {
        self.store = leader.store().clone();
        self.converged = None;
        self.observed.forget();
    }

    /// No longer leads: records go nowhere fenced, and what was remembered is forgotten.
    pub fn step_down(&mut self) {
        self.store = self.base_store.clone();
        self.converged = None;
        self.observed.forget();
    }

    /// Reads the tracked revision and checks it without applying anything, so that a standby
    /// instance's clone and admission cache are warm when it takes over.
    pub fn warm(&mut self, revision: Revision) -> Result<(), ReconcileError> {
        check_incremental(&self.source, revision, &self.config, &mut self.check_cache)?;
        Ok(())
    }

    /// The Git directory to watch for new commits (local repositories only).
    pub fn local_git_dir(&self) -> Option<std::path::PathBuf> {
        self.source.local_git_dir().map(|p| p.to_path_buf())
    }

    /// Takes a new configuration: the AWS clients and the repository are opened again when
    /// their settings changed. The store stays (its path is read once, at start).
    pub async fn reload(&mut self, config: Config) -> Result<(), ReconcileError> {
        if config.repo != self.config.repo || config.state_dir != self.config.state_dir {
            self.source = open_source(&config)?;
        }
        if config.aws != self.config.aws {
            self.clients = connect(&config, self.observer.clone()).await;
        }
        if config.commit_status != self.config.commit_status {
            self.statuses = CommitStatuses::open(config.commit_status.as_ref())?;
        }
        if config.store.location() != self.config.store.location() {
            tracing::warn!(
                store = %config.store.location(),
                "the store's location changed: it takes effect at the next start"
            );
        }
        self.config = config;
        // What was converged may translate differently now, and what was read may belong to
        // another instance or account.
        self.converged = None;
        self.observed.forget();
        Ok(())
    }

    /// Fetches (remote repositories) and resolves the tracked branch. Blocking: Git I/O.
    pub fn fetch(&self) -> Result<Revision, SourceError> {
        self.source.fetch()?;
        self.source.resolve(&self.config.repo.branch)
    }

    /// Reads, checks and syncs `revision` under the apply lease. Counts failures of the same
    /// commit for [`Reconciler::retry_delay`] and raises `stalled` when the retries are
    /// used up; a converged sync clears `stalled` and remembers the revision for drift checks.
    pub async fn reconcile(&mut self, revision: Revision) -> Result<SyncResult, ReconcileError> {
        let commit = revision.commit.clone();
        if self.failures.as_ref().is_some_and(|(c, _)| *c != commit) {
            // A new commit: the old one's failures and stall no longer matter.
            self.failures = None;
            self.store.clear_condition(STALLED).await?;
        }
        let checked = tokio::task::block_in_place(|| {
            check_incremental(&self.source, revision, &self.config, &mut self.check_cache)
        })?;
        tracing::info!(
            commit = %commit,
            "admission: {}; route ages: {}",
            self.check_cache.admission.stats(),
            if self.check_cache.ages_were_incremental() {
                "new commits only"
            } else {
                "whole history"
            }
        );
        let changed = self.changed_teams(&checked);
        if let Some(statuses) = &mut self.statuses {
            statuses.reading(&commit).await;
        }
        let result = self.sync_locked(&checked).await;
        if let (Some(statuses), Ok(synced)) = (&mut self.statuses, &result) {
            statuses.post(&commit, after_sync(synced, &changed)).await;
        }
        let retried_at_once = self.team_failures.take() == Some(0);
        self.look_again = result.as_ref().is_err_and(ReconcileError::is_busy);
        self.frozen = matches!(
            &result,
            Ok(SyncResult {
                outcome: SyncOutcome::Frozen(_),
                ..
            })
        );
        match &result {
            Ok(r) if r.outcome.converged() => {
                self.failures = None;
                self.store.clear_condition(STALLED).await?;
                // AWS now holds the revision: whatever drift was reported is gone.
                self.store.clear_condition(DRIFT).await?;
                self.converged = Some(checked);
                self.keep_history_in_bounds().await;
            }
            Ok(
                r @ SyncResult {
                    outcome: SyncOutcome::Failed(report),
                    ..
                },
            ) => {
                // AWS is between two revisions now: no drift is measured until it converges.
                self.converged = None;
                if let Some(most) = team_retries(report, &r.teams) {
                    self.failures = None;
                    self.store.clear_condition(STALLED).await?;
                    // Once at once, not again: a stalled team's change that still fails is
                    // left for the next poll.
                    self.team_failures = match (most, retried_at_once) {
                        (0, true) => None,
                        _ => Some(most),
                    };
                } else {
                    let detail = report
                        .failures()
                        .filter_map(|f| match &f.outcome {
                            Outcome::Failed(message) => Some(format!("{}: {message}", f.address)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.count_failure(&commit, &detail).await?;
                }
            }
            // Refused or guarded: AWS keeps the last converged revision.
            Ok(_) => {}
            Err(e) if e.is_busy() => {}
            Err(e) => {
                self.converged = None;
                self.count_failure(&commit, &e.to_string()).await?
            }
        }
        result
    }

    /// How the plans since the last call read AWS (the last one's scope), once: for the log
    /// and the metrics.
    pub fn take_observation(&mut self) -> Option<Observation> {
        self.observed.take_last()
    }

    /// Applies retention (`store.keep_revisions`, `store.keep_days`) at most once per
    /// [`PRUNE_EVERY`]. A failure is logged: history that stays is no harm to the reconcile.
    async fn keep_history_in_bounds(&mut self) {
        let retention = crate::store::Retention::of(&self.config.store);
        if !retention.limits_anything() || self.pruned_at.is_some_and(|t| t.elapsed() < PRUNE_EVERY)
        {
            return;
        }
        self.pruned_at = Some(std::time::Instant::now());
        match self.store.prune(&retention, now(), false).await {
            Ok(pruned) if !pruned.revisions.is_empty() => tracing::info!(
                removed = pruned.revisions.len(),
                kept = pruned.kept,
                states = pruned.states,
                "history pruned by retention"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "cannot prune the history"),
        }
    }

    /// The teams whose files the checked commit changes (none when it cannot tell, or when the
    /// commit changes only the platform's files): whose state its commit status reports.
    fn changed_teams(&self, checked: &Checked) -> BTreeSet<String> {
        let (Some(_), Some(tenancy)) = (&self.statuses, &checked.admission.tenancy) else {
            return BTreeSet::new();
        };
        let changed = self
            .source
            .changed_paths(&checked.revision)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the paths the commit changes: reporting every team");
                Vec::new()
            });
        changed
            .iter()
            .filter_map(|path| match tenancy.owner_of(path) {
                PathOwner::Team(i) => Some(tenancy.teams[i].name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Takes the apply lease (under the leader lease, when leading) for an apply.
    async fn lock(&self) -> Result<LeaseKeeper, StoreError> {
        let duration = self.config.store.lease_duration;
        record::lock(
            &self.store,
            &self.actor,
            duration,
            self.clients.write_window(),
        )
        .await
    }

    async fn sync_locked(&mut self, checked: &Checked) -> Result<SyncResult, ReconcileError> {
        let lease = self.lock().await?;
        let mut progress = self.on_progress;
        let by = SyncBy {
            actor: &self.actor,
            ignore_freeze: self.ignore_freeze.as_deref(),
        };
        let result = sync(
            &self.config,
            lease.store(),
            &self.clients,
            &mut self.observed,
            checked,
            by,
            &mut progress,
        )
        .await;
        record::unlock(&self.store, lease).await?;
        Ok(result?)
    }

    async fn count_failure(&mut self, commit: &str, detail: &str) -> Result<(), StoreError> {
        let failures = match &mut self.failures {
            Some((c, n)) if c == commit => {
                *n += 1;
                *n
            }
            _ => {
                self.failures = Some((commit.to_string(), 1));
                1
            }
        };
        if self.retry_delay().is_none() {
            let detail = format!(
                "{failures} attempts failed; retried again for a new commit or `gwsync sync`. Last error: {detail}"
            );
            self.store
                .raise_condition(STALLED, commit, &detail, now())
                .await?;
        }
        Ok(())
    }

    /// Applies during freeze windows from now on, for `reason` (recorded with every apply
    /// it lets through): `gwsync sync --ignore-freeze REASON`.
    pub fn ignore_freeze(&mut self, reason: String) {
        self.ignore_freeze = Some(reason);
    }

    /// When to try the failing (or frozen) commit again; `None` when nothing failed or it is
    /// stalled.
    pub fn retry_delay(&self) -> Option<Duration> {
        if self.look_again {
            return Some(LOCK_RECHECK);
        }
        if self.frozen {
            return Some(FROZEN_RECHECK);
        }
        let policy = RetryPolicy::of(&self.config);
        match (&self.failures, self.team_failures) {
            (Some((_, failures)), _) => policy.delay(*failures),
            (None, Some(0)) => Some(Duration::ZERO),
            (None, Some(failures)) => policy.delay(failures),
            (None, None) => None,
        }
    }

    /// The commit whose retries are used up, if any.
    pub fn stalled(&self) -> Option<&str> {
        match &self.failures {
            Some((commit, _)) if self.retry_delay().is_none() => Some(commit),
            _ => None,
        }
    }

    /// Forgets failures: a manual sync tries a stalled revision, and every stalled team,
    /// again. The teams lifted are recorded as `actor`'s.
    pub async fn unstall(&mut self) -> Result<Vec<String>, StoreError> {
        self.failures = None;
        self.team_failures = None;
        self.store.clear_condition(STALLED).await?;
        let teams = self.store.unstall(None).await?;
        for team in &teams {
            self.store
                .record_event(&OperatorEvent {
                    at: now(),
                    action: EventAction::Unstall,
                    team: Some(team.clone()),
                    actor: self.actor.clone(),
                    reason: Some("gwsync sync".to_string()),
                    commit: None,
                })
                .await?;
        }
        Ok(teams)
    }

    /// Compares AWS with the last converged revision; raises or clears `drift`; with
    /// `self_heal`, applies the changes back (as a `heal`). `None` when there is nothing to
    /// compare with yet, or a rollback's pin holds the live state (a pinned state is what the
    /// operator asked for, not drift).
    pub async fn check_drift(&mut self) -> Result<Option<Drift>, ReconcileError> {
        if self.store.pin().await?.is_some() || !self.converged_is_last_applied().await? {
            return Ok(None);
        }
        let Some(checked) = &self.converged else {
            return Ok(None);
        };
        // The drift check is the full observe: AWS read whole, the cache brought up to date.
        self.observed.forget();
        let observing = Observing::Cached(&mut self.observed);
        let live = plan_live(&self.config, &self.store, &self.clients, checked, observing).await?;
        let commit = checked.revision.commit.clone();
        let mut drift = Drift {
            commit: commit.clone(),
            plan: live.plan,
            healed: None,
        };
        if drift.plan.is_empty() {
            self.store.clear_condition(DRIFT).await?;
            return Ok(Some(drift));
        }
        let differing: Vec<String> = drift
            .plan
            .changes
            .iter()
            .map(|c| c.address.clone())
            .collect();
        self.store
            .raise_condition(
                DRIFT,
                &commit,
                &format!(
                    "{} resources differ from the applied state: {}",
                    differing.len(),
                    differing.join(", ")
                ),
                now(),
            )
            .await?;
        let guard = TooManyDeletions::of(&self.config, &drift.plan);
        let window = crate::config::freeze::active(&self.config.freeze, jiff::Timestamp::now());
        if let Some(guard) = guard.filter(|_| self.config.daemon.self_heal) {
            tracing::error!("{guard}: the drift is not healed; review it with `gwsync plan`");
        } else if let Some(window) = window.filter(|_| self.config.daemon.self_heal) {
            tracing::warn!(%window, "the drift is not healed during a freeze window");
        } else if self.config.daemon.self_heal {
            let lease = self.lock().await?;
            // Another process may have applied between the plan and the lock.
            if !self.converged_is_last_applied().await? {
                record::unlock(&self.store, lease).await?;
                return Ok(None);
            }
            let mut ids = live.ids;
            let report = execute(
                &self.config,
                lease.store(),
                &self.clients,
                &drift.plan,
                &mut ids,
                ApplyRecord {
                    commit: &commit,
                    kind: "heal",
                    actor: &self.actor,
                },
                &mut |_: Progress<'_>| {},
            )
            .await;
            // Under the lock: the newest apply must be this one.
            let taken = self
                .observed
                .take_in_apply(lease.store(), &drift.plan, &ids, report.as_ref().ok())
                .await;
            record::unlock(&self.store, lease).await?;
            taken?;
            let healed = report?.succeeded();
            if healed {
                self.store.clear_condition(DRIFT).await?;
            }
            drift.healed = Some(healed);
        }
        Ok(Some(drift))
    }
}

impl Reconciler {
    /// Whether what this daemon converged to is still what was applied last, by anyone.
    /// When another process (`gwsync apply`, `rollback`, another daemon) applied since, drift
    /// is not measured against the older revision (healing would undo that apply): the
    /// converged revision is forgotten and a reconcile is asked for at once.
    async fn converged_is_last_applied(&mut self) -> Result<bool, StoreError> {
        let Some(converged) = &self.converged else {
            return Ok(false);
        };
        let last = self.store.last_applied().await?;
        let same = last.is_some_and(|(commit, _, outcome)| {
            commit == converged.revision.commit && outcome == "succeeded"
        });
        if !same {
            tracing::info!(
                converged = %converged.revision.commit,
                "another process applied since the last reconcile; reconciling before any drift check"
            );
            self.converged = None;
            self.look_again = true;
        }
        Ok(same)
    }
}

impl Drift {
    /// The differing resources, one line each, for the log.
    pub fn render(&self) -> String {
        render::text(&self.plan)
    }
}

/// When every failed change of `report` belongs to a team that counts it (not to the
/// platform, nor to a resource without an owner tag, nor to a team no longer in the
/// repository): the most failures of a team still retried, 0 when every one of them is now
/// stalled. None: the revision's failure is not one team's, and the revision counts it.
fn team_retries(report: &ApplyReport, teams: &[TeamRecord]) -> Option<u32> {
    let mut most = 0;
    for failed in report.failures() {
        let owner = failed
            .owner
            .as_deref()
            .filter(|o| *o != identity::PLATFORM_OWNER)?;
        let record = teams.iter().find(|t| t.team == owner)?;
        match record.state {
            TeamState::Failed => most = most.max(record.failures),
            TeamState::Stalled => {}
            _ => return None,
        }
    }
    Some(most)
}

fn open_source(config: &Config) -> Result<Source, SourceError> {
    let location = config
        .repo
        .location
        .clone()
        .ok_or(SourceError::NoRepository)?;
    Source::open(
        &location,
        &config.state_dir,
        GitAuth::from_config(&config.repo)?,
    )
}

async fn connect(config: &Config, observer: Option<Arc<dyn CallObserver>>) -> Clients {
    let rates = RateLimits::of(&config.aws);
    match observer {
        Some(o) => Clients::connect_observed(&config.aws, rates, o).await,
        None => Clients::connect(&config.aws, rates).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap_then_stall() {
        let policy = RetryPolicy {
            retries: 4,
            base: Duration::from_secs(10),
            max: Duration::from_secs(30),
        };
        let delays: Vec<Option<Duration>> = (0..=5).map(|n| policy.delay(n)).collect();
        assert_eq!(
            delays,
            [
                None,
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
                None,
            ]
        );
    }
}
