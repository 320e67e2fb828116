//! Rollback: a recorded revision rebuilt from the state database and planned against AWS,
//! and the pin that holds it afterwards. For every team the stored files are enough (no Git
//! needed); for one team, the current revision with that team's folder as recorded.
//!
//! Prompting and printing are the caller's; executing the plan is [`super::sync::execute`].

use super::refusal::Refusal;
use super::sync::SyncError;
use super::{
    Checked, LivePlan, Observing, PlanFor, admit_options, compose_snapshot, live_plan,
    translate_options,
};
use crate::aws::client::Clients;
use crate::config::Config;
use crate::plan::TeamKept;
use crate::source::short;
use crate::source::{Revision, Snapshot, SourceFile};
use crate::store::{Hold, Pin, RevisionDetail, Store, StoreError, TeamState};
use crate::tenancy::admit;
use crate::translate::{RouteAges, translate};
use std::collections::BTreeMap;

/// What goes back to the recorded revision.
pub enum Scope<'a> {
    /// Every team, from the stored files alone. `head`: the tracked commit, when Git could
    /// be read (the pin holds until a newer one arrives; without it, until `resume`).
    Everything { head: Option<String> },
    /// One team; every other team as in `current`.
    Team { team: &'a str, current: &'a Checked },
}

/// A rollback planned against AWS.
pub struct RollbackPlan {
    /// The recorded revision rolled back to.
    pub target: Revision,
    /// The commit a pin is held against (see [`Scope`]).
    pub head: Option<String>,
    pub team: Option<String>,
    pub live: LivePlan,
}

/// Rebuilds the recorded revision `to` (a commit or its prefix) for `scope`, admits and
/// translates it as today's gwsync does, and plans it against AWS.
pub async fn plan_rollback(
    config: &Config,
    store: &Store,
    clients: &Clients,
    to: &str,
    scope: Scope<'_>,
) -> Result<RollbackPlan, SyncError> {
    let recorded = store
        .show(to)
        .await?
        .ok_or_else(|| Refusal::UnknownRevision(to.to_string()))?;
    let target = Revision {
        commit: recorded.commit.clone(),
        author: recorded.author.clone(),
        committed_at: recorded.committed_at,
        summary: recorded.summary.clone(),
    };
    let (snapshot, head, ages, team) = match scope {
        Scope::Everything { head } => {
            let snapshot = recorded_snapshot(store, &recorded, &target).await?;
            (snapshot, head, RouteAges::new(), None)
        }
        Scope::Team { team, current } => {
            let snapshot = team_snapshot(store, &recorded, team, current).await?;
            let head = Some(current.revision.commit.clone());
            (snapshot, head, current.ages.clone(), Some(team.to_string()))
        }
    };
    let admission = admit(&snapshot, &admit_options(config));
    if !admission.revision_valid() {
        return Err(Refusal::NotAdmittedToday(recorded.commit).into());
    }
    let translation = translate(&admission, &ages, &translate_options(config));
    // A rollback of one team lifts nothing else: other held teams stay as they are.
    let held: BTreeMap<String, TeamKept> = store
        .holds()
        .await?
        .into_iter()
        .map(|h| (h.team, TeamKept::Held))
        .filter(|(t, _)| team.as_deref() != Some(t.as_str()))
        .collect();
    let wanted = PlanFor {
        revision: &target,
        admission: &admission,
        translation: &translation,
        held: &held,
        rules_quota: config.aws.rules_per_load_balancer,
    };
    let live = live_plan(clients, &config.instance_id, wanted, Observing::Everything).await?;
    Ok(RollbackPlan {
        target,
        head,
        team,
        live,
    })
}

/// Every owner's files as recorded at `recorded`.
async fn recorded_snapshot(
    store: &Store,
    recorded: &RevisionDetail,
    target: &Revision,
) -> Result<Snapshot, StoreError> {
    let mut files = Vec::new();
    for s in &recorded.snapshots {
        let stored = store.team_files(&recorded.commit, &s.owner).await?;
        files.extend(
            stored
                .unwrap_or_default()
                .into_iter()
                .map(|(path, text)| SourceFile {
                    path,
                    bytes: text.into_bytes(),
                }),
        );
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Snapshot {
        revision: target.clone(),
        files,
        entries_refused: Vec::new(),
        submodules: Vec::new(),
        over_limits: None,
    })
}

/// The current revision with `team`'s folder as recorded at `recorded`.
async fn team_snapshot(
    store: &Store,
    recorded: &RevisionDetail,
    team: &str,
    current: &Checked,
) -> Result<Snapshot, SyncError> {
    let files = store
        .team_files(&recorded.commit, team)
        .await?
        .ok_or_else(|| Refusal::NoTeamState {
            commit: recorded.commit.clone(),
            team: team.to_string(),
        })?;
    let Some(tenancy) = &current.admission.tenancy else {
        return Err(Refusal::TenantsInvalid.into());
    };
    Ok(compose_snapshot(
        &current.snapshot,
        tenancy,
        &BTreeMap::from([(team.to_string(), files)]),
    ))
}

/// Holds a team at what is live (`gwsync hold`); refuses a name that no recorded revision
/// knows, so a typo holds nothing silently.
pub async fn hold_team(store: &Store, hold: &Hold) -> Result<(), SyncError> {
    let latest = store.history(None, 1).await?;
    let known: Vec<&str> = latest
        .iter()
        .flat_map(|e| &e.teams)
        .map(|t| t.owner.as_str())
        .collect();
    if !known.contains(&hold.team.as_str()) {
        return Err(Refusal::UnknownTeam {
            team: hold.team.clone(),
            known: known.join(", "),
        }
        .into());
    }
    store.set_hold(hold).await?;
    Ok(())
}

/// How an applied rollback is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Every team: `gwsync apply` does not roll forward until a commit newer than `head`
    /// arrives, or `gwsync resume`.
    Pinned(Pin),
    /// One team: held where it now is while the other teams move on, until
    /// `gwsync release --team`.
    Held(Hold),
}

/// Keeps the rolled-back state: a full rollback pins, a team rollback holds the team.
pub async fn keep(
    store: &Store,
    rollback: &RollbackPlan,
    actor: &str,
    now: i64,
) -> Result<Kept, StoreError> {
    let kept = match &rollback.team {
        Some(team) => Kept::Held(Hold {
            team: team.clone(),
            reason: Some(format!(
                "rolled back to {}",
                crate::source::short(&rollback.target.commit)
            )),
            actor: actor.to_string(),
            since: now,
        }),
        None => Kept::Pinned(Pin {
            commit: rollback.target.commit.clone(),
            team: None,
            pinned_at: now,
            actor: actor.to_string(),
            head: rollback.head.clone(),
        }),
    };
    let target = &rollback.target.commit;
    match &kept {
        Kept::Held(hold) => {
            store.set_hold(hold).await?;
            let reason = format!("held by {actor}: rolled back to {}", short(target));
            store
                .rolled_back(Some(&hold.team), target, TeamState::Held, &reason, now)
                .await?;
        }
        Kept::Pinned(pin) => {
            store.set_pin(pin).await?;
            let reason = format!("pinned to {} by a rollback ({actor})", short(target));
            store
                .rolled_back(None, target, TeamState::Pinned, &reason, now)
                .await?;
        }
    }
    Ok(kept)
}
