//! Per-team state: after every reconcile, what each team runs on AWS, what it should run and
//! why the two differ (`store::TeamRecord`). This is where a failed change is put down to its
//! team (by the owner every planned change carries), where a team's retries are counted and
//! where a team whose retries are used up is stalled on its own, so that it stops failing the
//! others' reconciles.
//!
//! [`decide`] is pure (the previous record and what this reconcile found in, the next record
//! out); [`record`] gathers the facts and writes the records; [`kept`] is what a plan must
//! leave as it is on AWS because of them (held and stalled teams). It never talks to AWS.

use super::Checked;
use super::admit_options;
use super::record::now;
use crate::aws::apply::{ApplyReport, ChangeResult, Outcome};
use crate::config::Config;
use crate::plan::{HeldBack, TeamKept};
use crate::store::{Hold, Pin, Store, StoreError, TeamRecord, TeamState};
use crate::tenancy::team_digests;
use std::collections::BTreeMap;

/// What a reconcile did to AWS, as far as the teams are concerned.
pub enum Applied<'a> {
    /// The plan ran (an empty plan runs as an empty report).
    Report(&'a ApplyReport),
    /// A rollback's pin held the revision back: nothing was planned.
    Pinned(&'a Pin),
}

/// What one reconcile found about one team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub team: String,
    /// The tracked revision reconciled.
    pub wanted: String,
    /// The digest of the team's files at `wanted` (`tenancy::team_digests`).
    pub digest: String,
    /// `gwsync hold`, in one line.
    pub hold: Option<String>,
    /// A rollback's pin covering the team: the rolled-back commit and the line saying so.
    pub pinned: Option<(String, String)>,
    /// Why `wanted` refuses it, in one line.
    pub refusal: Option<String>,
    /// A refused team's last admitted revision, whose files ran instead.
    pub runs: Option<String>,
    /// Why a change of the team failed in this reconcile's apply.
    pub failure: Option<Failure>,
}

/// Why a change of a team did not reach AWS in one apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// AWS refused a change of the team's own: counted towards its stall.
    Own(String),
    /// A change it depends on (another owner's: the load balancer, a listener) failed; not
    /// the team's doing, so not counted.
    Dependent(String),
}

/// The next record of a team. `retries`: how many failed applies of the same files are
/// retried before the team is stalled.
pub fn decide(previous: Option<&TeamRecord>, facts: Facts, retries: u32, now: i64) -> TeamRecord {
    let same_files = previous.is_some_and(|p| p.files_digest == facts.digest);
    let previous_live = previous.and_then(|p| p.live_commit.clone());
    let (state, reason, live, failures) = if let Some(hold) = facts.hold {
        (TeamState::Held, Some(hold), previous_live.clone(), 0)
    } else if let Some((commit, line)) = facts.pinned {
        (TeamState::Pinned, Some(line), Some(commit), 0)
    } else if let Some(p) = previous.filter(|p| p.state == TeamState::Stalled && same_files) {
        (
            TeamState::Stalled,
            p.reason.clone(),
            previous_live.clone(),
            p.failures,
        )
    } else if let Some(failure) = facts.failure {
        let before = previous
            .filter(|p| same_files && matches!(p.state, TeamState::Failed | TeamState::Stalled))
            .map_or(0, |p| p.failures);
        let (line, failures) = match failure {
            Failure::Own(line) => (line, before + 1),
            Failure::Dependent(line) => (line, before),
        };
        let state = if failures > retries {
            TeamState::Stalled
        } else {
            TeamState::Failed
        };
        (state, Some(line), previous_live.clone(), failures)
    } else if let Some(refusal) = facts.refusal {
        let live = facts.runs.or(previous_live.clone());
        (TeamState::Refused, Some(refusal), live, 0)
    } else {
        (TeamState::InSync, None, Some(facts.wanted.clone()), 0)
    };
    let live_at = match previous {
        Some(p) if p.live_commit == live => p.live_at,
        _ => live.as_ref().map(|_| now),
    };
    let since = match previous {
        Some(p) if p.state == state => p.since,
        _ => now,
    };
    TeamRecord {
        team: facts.team,
        state,
        live_commit: live,
        live_at,
        wanted_commit: facts.wanted,
        files_digest: facts.digest,
        reason,
        failures,
        since,
        updated: now,
    }
}

/// Each team's files digest at `checked` (`tenancy::team_digests`), by team: what tells a
/// commit that changes a team from one that does not.
fn digests(config: &Config, checked: &Checked) -> BTreeMap<String, String> {
    match &checked.admission.tenancy {
        Some(tenancy) => team_digests(&checked.snapshot, tenancy, &admit_options(config)),
        None => BTreeMap::new(),
    }
}

/// The teams a plan of `checked` leaves as they are on AWS: held by an operator, and stalled
/// with the same files as when they stalled (a commit that changes a stalled team's files
/// tries it again).
pub async fn kept(
    config: &Config,
    store: &Store,
    checked: &Checked,
) -> Result<BTreeMap<String, TeamKept>, StoreError> {
    let mut kept: BTreeMap<String, TeamKept> = BTreeMap::new();
    let stalled: Vec<TeamRecord> = store
        .team_records()
        .await?
        .into_iter()
        .filter(|r| r.state == TeamState::Stalled)
        .collect();
    if !stalled.is_empty() {
        let digests = digests(config, checked);
        for record in stalled {
            if digests.get(&record.team) == Some(&record.files_digest) {
                kept.insert(record.team, TeamKept::Stalled);
            }
        }
    }
    for hold in store.holds().await? {
        kept.insert(hold.team, TeamKept::Held);
    }
    Ok(kept)
}

/// Records every team's state after a reconcile of `checked`: `held_back` are the plan's
/// notes (which last admitted revision a refused team runs), `applied` what happened on AWS.
pub async fn record(
    config: &Config,
    store: &Store,
    checked: &Checked,
    held_back: &[HeldBack],
    applied: Applied<'_>,
) -> Result<Vec<TeamRecord>, StoreError> {
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(Vec::new());
    };
    let previous: BTreeMap<String, TeamRecord> = store
        .team_records()
        .await?
        .into_iter()
        .map(|r| (r.team.clone(), r))
        .collect();
    let holds: BTreeMap<String, Hold> = store
        .holds()
        .await?
        .into_iter()
        .map(|h| (h.team.clone(), h))
        .collect();
    let runs: BTreeMap<&str, &str> = held_back
        .iter()
        .filter_map(|h| match h {
            HeldBack::TeamAtLastGood { team, commit } => Some((team.as_str(), commit.as_str())),
            _ => None,
        })
        .collect();
    let report = checked.report();
    let digests = digests(config, checked);
    let now = now();
    let records: Vec<TeamRecord> = tenancy
        .teams
        .iter()
        .map(|team| {
            let name = team.name.as_str();
            let facts = Facts {
                team: name.to_string(),
                wanted: checked.revision.commit.clone(),
                digest: digests.get(name).cloned().unwrap_or_default(),
                hold: holds.get(name).map(hold_line),
                pinned: match &applied {
                    Applied::Pinned(pin) if pin.team.as_deref().is_none_or(|t| t == name) => {
                        Some((pin.commit.clone(), pin_line(pin)))
                    }
                    _ => None,
                },
                refusal: (!report.team_admitted(name))
                    .then(|| refusal_line(checked, name))
                    .flatten(),
                runs: runs.get(name).map(|c| c.to_string()),
                failure: match &applied {
                    Applied::Report(report) => failure(report, name),
                    Applied::Pinned(_) => None,
                },
            };
            decide(previous.get(name), facts, config.daemon.apply_retries, now)
        })
        .collect();
    store.put_team_records(&records).await?;
    Ok(records)
}

fn hold_line(hold: &Hold) -> String {
    match &hold.reason {
        Some(reason) => format!("held by {}: {reason}", hold.actor),
        None => format!("held by {}", hold.actor),
    }
}

fn pin_line(pin: &Pin) -> String {
    format!(
        "pinned to {} by a rollback ({})",
        crate::source::short(&pin.commit),
        pin.actor
    )
}

/// The first problem that refuses `team` at `checked`, with its file and line.
fn refusal_line(checked: &Checked, team: &str) -> Option<String> {
    let errors = super::record::owner_diagnostics(checked, team)
        .into_iter()
        .filter(|d| d.severity != crate::diagnostic::Severity::Warning)
        .collect::<Vec<_>>();
    let first = errors.first()?;
    Some(match errors.len() {
        1 => first.to_string(),
        n => format!("{first} (and {} more)", n - 1),
    })
}

/// Why a change of `team` failed in `report`: its own AWS error, or the failed change of
/// another owner its changes waited on.
fn failure(report: &ApplyReport, team: &str) -> Option<Failure> {
    let of_team = |r: &&ChangeResult| r.owner.as_deref() == Some(team);
    let own = report
        .results
        .iter()
        .filter(of_team)
        .find_map(|r| match &r.outcome {
            Outcome::Failed(message) => Some(Failure::Own(format!("{}: {message}", describe(r)))),
            _ => None,
        });
    if own.is_some() {
        return own;
    }
    report
        .results
        .iter()
        .filter(of_team)
        .any(|r| r.outcome == Outcome::Skipped)
        .then(|| {
            Failure::Dependent(match report.failures().next() {
                Some(cause) => format!(
                    "not attempted: it depends on {}, which failed: {}",
                    describe(cause),
                    match &cause.outcome {
                        Outcome::Failed(m) => m.as_str(),
                        _ => "",
                    }
                ),
                None => "not attempted".to_string(),
            })
        })
}

/// A result in words: its route when it has one, else its address.
fn describe(result: &ChangeResult) -> String {
    match &result.about {
        Some(about) => format!("{} ({about})", result.address),
        None => result.address.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            team: "orders".into(),
            wanted: "c2".into(),
            digest: "d2".into(),
            hold: None,
            pinned: None,
            refusal: None,
            runs: None,
            failure: None,
        }
    }

    fn record(state: TeamState, digest: &str, failures: u32) -> TeamRecord {
        TeamRecord {
            team: "orders".into(),
            state,
            live_commit: Some("c1".into()),
            live_at: Some(10),
            wanted_commit: "c1".into(),
            files_digest: digest.into(),
            reason: Some("before".into()),
            failures,
            since: 10,
            updated: 10,
        }
    }

    #[test]
    fn a_team_applied_without_failure_is_in_sync_at_the_wanted_revision() {
        let next = decide(Some(&record(TeamState::InSync, "d1", 0)), facts(), 2, 20);
        assert_eq!(next.state, TeamState::InSync);
        assert_eq!(next.live_commit.as_deref(), Some("c2"));
        assert_eq!((next.live_at, next.since), (Some(20), 10));
        assert_eq!(next.reason, None);
    }

    #[test]
    fn failures_of_the_same_files_count_up_to_a_stall_and_new_files_start_over() {
        let failing = Facts {
            failure: Some(Failure::Own("CreateRule failed".into())),
            ..facts()
        };
        let first = decide(None, failing.clone(), 2, 20);
        assert_eq!((first.state, first.failures), (TeamState::Failed, 1));
        assert_eq!(first.live_commit, None, "nothing of it is live yet");
        let second = decide(Some(&first), failing.clone(), 2, 21);
        assert_eq!(
            (second.state, second.failures, second.since),
            (TeamState::Failed, 2, 20)
        );
        let third = decide(Some(&second), failing.clone(), 2, 22);
        assert_eq!(
            (third.state, third.failures, third.since),
            (TeamState::Stalled, 3, 22)
        );
        // Kept as it is while stalled: no failure reported, still stalled.
        let kept = decide(Some(&third), facts(), 2, 23);
        assert_eq!(kept.state, TeamState::Stalled);
        assert_eq!(kept.reason.as_deref(), Some("CreateRule failed"));
        // A commit that changes its files tries again from the start.
        let changed = Facts {
            digest: "d3".into(),
            ..facts()
        };
        assert_eq!(decide(Some(&kept), changed, 2, 24).state, TeamState::InSync);
    }

    #[test]
    fn a_failure_of_what_a_team_depends_on_never_stalls_it() {
        let waiting = Facts {
            failure: Some(Failure::Dependent("not attempted".into())),
            ..facts()
        };
        let mut record = decide(None, waiting.clone(), 2, 20);
        for now in 21..30 {
            record = decide(Some(&record), waiting.clone(), 2, now);
        }
        assert_eq!((record.state, record.failures), (TeamState::Failed, 0));
    }

    #[test]
    fn a_refused_team_runs_its_last_admitted_revision() {
        let refused = Facts {
            refusal: Some("teams/orders/r.yaml:3: bad".into()),
            runs: Some("c0".into()),
            ..facts()
        };
        let next = decide(Some(&record(TeamState::InSync, "d1", 0)), refused, 2, 20);
        assert_eq!(next.state, TeamState::Refused);
        assert_eq!(next.live_commit.as_deref(), Some("c0"));
        assert_eq!(next.wanted_commit, "c2");
        assert_eq!(next.since, 20);
    }

    #[test]
    fn a_hold_keeps_what_is_live_and_a_pin_makes_the_pinned_revision_live() {
        let held = Facts {
            hold: Some("held by ops: incident".into()),
            failure: Some(Failure::Own("ignored while held".into())),
            ..facts()
        };
        let next = decide(Some(&record(TeamState::InSync, "d1", 0)), held, 2, 20);
        assert_eq!(next.state, TeamState::Held);
        assert_eq!(next.live_commit.as_deref(), Some("c1"));
        assert_eq!(next.live_at, Some(10));
        let pinned = Facts {
            pinned: Some(("c0".into(), "pinned to c0".into())),
            ..facts()
        };
        let next = decide(Some(&record(TeamState::InSync, "d1", 0)), pinned, 2, 20);
        assert_eq!(next.state, TeamState::Pinned);
        assert_eq!(
            (next.live_commit.as_deref(), next.live_at),
            (Some("c0"), Some(20))
        );
    }

    fn result(owner: &str, outcome: Outcome) -> ChangeResult {
        ChangeResult {
            index: 0,
            address: format!("gw/listener/80/rule/{owner}"),
            action: crate::plan::ChangeAction::Create,
            outcome,
            about: Some(format!("team {owner}, HTTPRoute {owner}/web rules[0]")),
            owner: Some(owner.into()),
        }
    }

    #[test]
    fn a_failure_is_put_down_to_its_team_and_its_dependents_name_it() {
        let report = ApplyReport {
            results: vec![
                result(
                    "platform",
                    Outcome::Failed("ModifyListener failed: boom".into()),
                ),
                result("orders", Outcome::Skipped),
                result("payments", Outcome::Done),
                result("search", Outcome::Failed("CreateRule failed: no".into())),
            ],
        };
        assert_eq!(failure(&report, "payments"), None);
        assert_eq!(
            failure(&report, "search"),
            Some(Failure::Own(
                "gw/listener/80/rule/search (team search, HTTPRoute search/web rules[0]): CreateRule failed: no"
                    .into()
            ))
        );
        let Some(Failure::Dependent(orders)) = failure(&report, "orders") else {
            panic!("orders only waited on the platform's change");
        };
        assert!(
            orders.starts_with("not attempted: it depends on gw/listener/80/rule/platform")
                && orders.ends_with("ModifyListener failed: boom"),
            "{orders}"
        );
    }
}
