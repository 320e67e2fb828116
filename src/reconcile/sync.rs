//! Applying a checked revision to AWS, and recording it: the back half that `apply`,
//! `rollback`, `sync` and the daemon share.
//!
//! [`settle_pin`] decides whether a rollback's pin holds the revision back; [`plan_live`]
//! computes the plan of the revision's effective form against what AWS has; [`execute`] runs
//! a plan and records it as one apply. [`sync`] chains them for unattended use: no prompt, the
//! deletion guard raises the `guarded` condition instead of asking. Nothing here retries: the
//! retry policy is the caller's (the daemon's loop, `gwsync sync`).

use super::record::{now, record_revision};
use super::refusal::{Refusal, TooManyDeletions};
use super::teams::{self, Applied};
use super::{
    Checked, Effective, LivePlan, ObservedCache, Observing, PlanFor, last_good, live_plan,
};
use crate::aws::AwsIds;
use crate::aws::apply::{ApplyReport, OnProgress, apply_with_progress};
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use crate::config::{Config, freeze};
use crate::plan::{HeldBack, Plan, render};
use crate::source::short;
use crate::store::{EventAction, OperatorEvent, Pin, Store, StoreError, TeamRecord, TeamState};

/// The condition raised when a plan deletes more rules than `apply.max_rule_deletions`.
pub const GUARDED: &str = "guarded";
/// The condition raised when a revision's applies kept failing (for a failure that is no
/// one team's; a team's own failures stall the team, see `teams`).
pub const STALLED: &str = "stalled";
/// The condition raised when AWS differs from the last applied desired state.
pub const DRIFT: &str = "drift";

/// Why applying (or planning to apply) stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The operator decides: nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// What a rollback's pin means for the revision at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinDecision {
    /// No pin: go ahead.
    None,
    /// The pin holds this revision back (it is the commit the rollback held back, or the pin
    /// holds every commit until `resume`).
    Holds(Pin),
    /// A newer commit arrived since the rollback: the pin was lifted.
    Lifted(Pin),
}

/// What to tell the operator when `pin` holds `commit` back.
pub fn pinned_message(pin: &Pin, commit: &str) -> String {
    format!(
        "Pinned to {} by a rollback ({}): {} is not applied until a new commit arrives or `gwsync resume`.",
        short(&pin.commit),
        pin.actor,
        short(commit)
    )
}

/// A rollback holds the live state until a commit newer than the one it held back arrives;
/// then the pin is lifted (here, in the store).
pub async fn settle_pin(store: &Store, commit: &str) -> Result<PinDecision, StoreError> {
    let Some(pin) = store.pin().await? else {
        return Ok(PinDecision::None);
    };
    if pin.head.as_deref().is_none_or(|h| h == commit) {
        return Ok(PinDecision::Holds(pin));
    }
    store.clear_pin().await?;
    Ok(PinDecision::Lifted(pin))
}

/// The plan that takes AWS to the effective form of `checked` (refused teams at their last
/// admitted state), with the notes of which teams keep an earlier state first in
/// `held_back`.
pub async fn plan_live(
    config: &Config,
    store: &Store,
    clients: &Clients,
    checked: &Checked,
    observing: Observing<'_>,
) -> Result<LivePlan, SyncError> {
    let effective = last_good(config, store, checked).await?;
    Ok(plan_effective(config, clients, checked, effective, observing).await?)
}

/// The plan that takes AWS to `effective`, the form of `checked` to apply; its notes come
/// first in `held_back`.
pub async fn plan_effective(
    config: &Config,
    clients: &Clients,
    checked: &Checked,
    effective: Effective,
    observing: Observing<'_>,
) -> Result<LivePlan, AwsError> {
    let wanted = PlanFor {
        revision: &checked.revision,
        admission: &effective.admission,
        translation: &effective.translation,
        held: &effective.held,
        rules_quota: config.aws.rules_per_load_balancer,
    };
    let mut live = live_plan(clients, &config.instance_id, wanted, observing).await?;
    live.held_back.splice(0..0, effective.notes);
    Ok(live)
}

/// What an apply is, for the record.
pub struct ApplyRecord<'a> {
    /// The revision it takes AWS to.
    pub commit: &'a str,
    /// `sync`, `rollback` or `heal`.
    pub kind: &'a str,
    pub actor: &'a str,
}

/// Runs `plan` and records it as one apply (started before the first call, finished with its
/// report), so an interrupted apply stays visible as unfinished; `progress` hears about each
/// change as it completes.
pub async fn execute(
    config: &Config,
    store: &Store,
    clients: &Clients,
    plan: &Plan,
    ids: &mut AwsIds,
    record: ApplyRecord<'_>,
    progress: OnProgress<'_>,
) -> Result<ApplyReport, StoreError> {
    let id = store
        .begin_apply(
            record.commit,
            record.kind,
            record.actor,
            &render::json(plan),
            now(),
        )
        .await?;
    let report = apply_with_progress(clients, plan, ids, &config.instance_id, progress).await;
    let json = serde_json::to_string(&report).expect("the apply report serialises");
    store
        .finish_apply(id, &json, report.succeeded(), now())
        .await?;
    Ok(report)
}

/// How an unattended sync ended.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The revision is refused as a whole (tenants file, platform): nothing changed on AWS.
    Invalid,
    /// A rollback's pin holds the revision back.
    Pinned(Pin),
    /// The plan deletes more rules than allowed: nothing applied, `guarded` raised.
    Guarded(TooManyDeletions),
    /// AWS already matches.
    Unchanged,
    Applied(ApplyReport),
    /// Some changes failed; the rest of the report says which were done.
    Failed(ApplyReport),
    /// A freeze window is open: planned, nothing applied.
    Frozen(String),
}

impl SyncOutcome {
    /// The label used in logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SyncOutcome::Invalid => "invalid",
            SyncOutcome::Pinned(_) => "pinned",
            SyncOutcome::Guarded(_) => "guarded",
            SyncOutcome::Unchanged => "unchanged",
            SyncOutcome::Applied(_) => "applied",
            SyncOutcome::Failed(_) => "failed",
            SyncOutcome::Frozen(_) => "frozen",
        }
    }

    /// Whether AWS now holds what the revision asks for (or what a pin holds).
    pub fn converged(&self) -> bool {
        matches!(
            self,
            SyncOutcome::Pinned(_) | SyncOutcome::Unchanged | SyncOutcome::Applied(_)
        )
    }
}

/// One unattended sync, with what was decided on the way.
#[derive(Debug)]
pub struct SyncResult {
    pub outcome: SyncOutcome,
    /// Empty unless a plan was computed.
    pub plan: Option<Plan>,
    /// Gateways held back and teams kept at an earlier state, for the operator.
    pub held_back: Vec<HeldBack>,
    /// A rollback's pin lifted by this newer commit.
    pub pin_lifted: Option<Pin>,
    /// Every team's record after this sync (empty when nothing was decided: the revision is
    /// invalid, the deletion guard holds it, or a freeze window is open).
    pub teams: Vec<TeamRecord>,
}

impl SyncResult {
    /// The teams whose changes failed in this sync, or that are stalled.
    pub fn teams_failing(&self) -> impl Iterator<Item = &TeamRecord> {
        self.teams
            .iter()
            .filter(|t| matches!(t.state, TeamState::Failed | TeamState::Stalled))
    }
}

/// Who syncs, and whether a freeze window stops them.
pub struct SyncBy<'a> {
    /// For the record: `daemon@host`, `cli:user`.
    pub actor: &'a str,
    /// The operator's reason to apply during a freeze window (recorded), if any.
    pub ignore_freeze: Option<&'a str>,
}

/// Takes AWS to `checked` without asking: records the revision, honours the pin, the
/// deletion guard and freeze windows (unless `by.ignore_freeze` gives the reason to go
/// ahead, which is recorded), applies, records the apply. Observes AWS through `observed`
/// (only what the plan touches, when it can vouch for the rest) and tells it what the apply
/// changed. The caller holds the apply lease.
pub async fn sync(
    config: &Config,
    store: &Store,
    clients: &Clients,
    observed: &mut ObservedCache,
    checked: &Checked,
    by: SyncBy<'_>,
    progress: OnProgress<'_>,
) -> Result<SyncResult, SyncError> {
    let SyncBy {
        actor,
        ignore_freeze,
    } = by;
    let mut result = SyncResult {
        outcome: SyncOutcome::Invalid,
        plan: None,
        held_back: Vec::new(),
        pin_lifted: None,
        teams: Vec::new(),
    };
    if checked.report().status() == crate::validate::Status::Invalid {
        return Ok(result);
    }
    match settle_pin(store, &checked.revision.commit).await? {
        PinDecision::Holds(pin) => {
            result.teams =
                teams::record(config, store, checked, &[], Applied::Pinned(&pin)).await?;
            result.outcome = SyncOutcome::Pinned(pin);
            return Ok(result);
        }
        PinDecision::Lifted(pin) => result.pin_lifted = Some(pin),
        PinDecision::None => {}
    }
    observed.account_for_applies(store).await?;
    let live = plan_live(config, store, clients, checked, Observing::Cached(observed)).await?;
    record_revision(store, checked, &config.repo.tenants_file).await?;
    result.held_back = live.held_back;
    let plan = live.plan;
    let commit = &checked.revision.commit;
    if let Some(guard) = TooManyDeletions::of(config, &plan) {
        let detail =
            format!("{guard}; review it with `gwsync plan` and run `gwsync apply --allow-deletes`");
        store
            .raise_condition(GUARDED, commit, &detail, now())
            .await?;
        result.outcome = SyncOutcome::Guarded(guard);
        result.plan = Some(plan);
        return Ok(result);
    }
    store.clear_condition(GUARDED).await?;
    let already_recorded = store
        .last_applied()
        .await?
        .is_some_and(|(c, _, outcome)| &c == commit && outcome == "succeeded");
    if !plan.is_empty()
        && let Some(window) = frozen(config, store, commit, actor, ignore_freeze).await?
    {
        result.outcome = SyncOutcome::Frozen(window);
        result.plan = Some(plan);
        return Ok(result);
    }
    // A new commit that needs no change is still recorded as applied: it is what runs.
    let report = if plan.is_empty() && already_recorded {
        ApplyReport::default()
    } else {
        let mut ids = live.ids;
        let record = ApplyRecord {
            commit,
            kind: "sync",
            actor,
        };
        let report = execute(config, store, clients, &plan, &mut ids, record, progress).await;
        observed
            .take_in_apply(store, &plan, &ids, report.as_ref().ok())
            .await?;
        let report = report?;
        if report.succeeded() {
            let desired = &checked.translation.stack;
            observed.warm(clients, &config.instance_id, desired).await;
        }
        report
    };
    result.teams = teams::record(
        config,
        store,
        checked,
        &result.held_back,
        Applied::Report(&report),
    )
    .await?;
    result.outcome = match (report.succeeded(), plan.is_empty()) {
        (true, true) => SyncOutcome::Unchanged,
        (true, false) => SyncOutcome::Applied(report),
        (false, _) => SyncOutcome::Failed(report),
    };
    result.plan = Some(plan);
    Ok(result)
}

/// The freeze window open now that keeps `commit` from being applied, or None: no window is
/// open, or the operator overrides it (`ignore_freeze` holds the reason, recorded here as
/// `actor`'s).
pub async fn frozen(
    config: &Config,
    store: &Store,
    commit: &str,
    actor: &str,
    ignore_freeze: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let Some(window) = freeze::active(&config.freeze, jiff::Timestamp::now()) else {
        return Ok(None);
    };
    let Some(reason) = ignore_freeze else {
        return Ok(Some(window.to_string()));
    };
    tracing::warn!(%window, reason, "applying during a freeze window");
    store
        .record_event(&OperatorEvent {
            at: now(),
            action: EventAction::IgnoreFreeze,
            team: None,
            actor: actor.to_string(),
            reason: Some(reason.to_string()),
            commit: Some(commit.to_string()),
        })
        .await?;
    Ok(None)
}
