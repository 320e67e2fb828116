//! Refusals: gwsync will not do what was asked, though nothing is broken; the operator
//! decides (review and pass a flag, plan again, roll back something else). Every command
//! that meets one stops before any write and exits 2; the message says what to do.

use crate::alb::Observed;
use crate::config::Config;
use crate::plan::{PLAN_VERSION, Plan};

/// The deletion guard: a plan that deletes more listener rules than
/// `apply.max_rule_deletions` is not applied without an operator's say-so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyDeletions {
    pub deletions: usize,
    pub max: usize,
}

impl TooManyDeletions {
    /// Whether the guard holds `plan` back.
    pub fn of(config: &Config, plan: &Plan) -> Option<TooManyDeletions> {
        let guard = TooManyDeletions {
            deletions: plan.rule_deletions(),
            max: config.apply.max_rule_deletions,
        };
        (guard.deletions > guard.max).then_some(guard)
    }
}

impl std::fmt::Display for TooManyDeletions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the plan deletes {} listener rules, more than apply.max_rule_deletions ({})",
            self.deletions, self.max
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The deletion guard holds the plan back.
    #[error("{0}; review it and pass --allow-deletes")]
    Guarded(TooManyDeletions),
    /// A saved plan that cannot be read as one.
    #[error("{path}: not a gwsync plan: {reason}")]
    NotAPlan { path: String, reason: String },
    /// A saved plan of another plan version.
    #[error(
        "{path} is a plan of version {found}, written by another gwsync; this one reads version \
         {PLAN_VERSION}: run `gwsync plan --out` again"
    )]
    PlanVersion { path: String, found: u64 },
    /// A saved plan of another commit.
    #[error("{path} was planned for commit {planned}, the revision is now {now}: plan again")]
    PlanCommit {
        path: String,
        planned: String,
        now: String,
    },
    /// A saved plan computed against another AWS state.
    #[error("{path}: the load balancers changed since it was planned: plan again")]
    PlanStale { path: String },
    /// `rollback --to` names no recorded revision.
    #[error("no recorded revision starts with `{0}` (see `gwsync history`)")]
    UnknownRevision(String),
    /// `rollback --team` at a revision that has no state of that team.
    #[error("revision {commit} has no recorded state of team {team}")]
    NoTeamState { commit: String, team: String },
    /// `hold --team` names no team of the last recorded revision.
    #[error("no team `{team}` in the last recorded revision (teams: {known}); nothing held")]
    UnknownTeam { team: String, known: String },
    /// `rollback --team` while the current tenants file is invalid.
    #[error("the current revision's tenants file is invalid: roll back every team instead")]
    TenantsInvalid,
    /// The recorded state would not be admitted today.
    #[error(
        "the recorded state of {0} is not admitted today (its tenants file or platform folder): \
         nothing rolled back"
    )]
    NotAdmittedToday(String),
}

/// A plan saved by `plan --out` (`text`, read from `path`): applied only while the commit and
/// the live state it was computed from are still there.
pub fn saved_plan(
    path: &str,
    text: &str,
    commit: &str,
    observed: &Observed,
) -> Result<Plan, Refusal> {
    let not_a_plan = |reason: String| Refusal::NotAPlan {
        path: path.to_string(),
        reason,
    };
    // The version first: a plan of another version does not have this version's shape.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PLAN_VERSION) => {}
        Some(found) => {
            return Err(Refusal::PlanVersion {
                path: path.to_string(),
                found,
            });
        }
        None => return Err(not_a_plan("it has no version".to_string())),
    }
    let plan: Plan = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
    if plan.commit.as_deref() != Some(commit) {
        return Err(Refusal::PlanCommit {
            path: path.to_string(),
            planned: plan.commit.unwrap_or_else(|| "(none)".to_string()),
            now: commit.to_string(),
        });
    }
    if plan.observed_fingerprint != observed.fingerprint {
        return Err(Refusal::PlanStale {
            path: path.to_string(),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render;
    use std::collections::{BTreeMap, BTreeSet};

    fn observed(foreign_listener: bool) -> Observed {
        let listeners = if foreign_listener {
            BTreeSet::from([("platform/public".to_string(), 8080)])
        } else {
            BTreeSet::new()
        };
        Observed::new(
            Default::default(),
            BTreeMap::new(),
            BTreeMap::new(),
            listeners,
        )
    }

    fn saved(commit: &str, observed: &Observed) -> String {
        render::json(&Plan {
            version: PLAN_VERSION,
            commit: Some(commit.to_string()),
            observed_fingerprint: observed.fingerprint.clone(),
            changes: vec![],
            notes: vec![],
        })
    }

    #[test]
    fn a_saved_plan_holds_only_for_its_commit_version_and_state() {
        let before = observed(false);
        let text = saved("c1", &before);
        assert!(saved_plan("p.json", &text, "c1", &before).is_ok());
        assert_eq!(
            saved_plan("p.json", &text, "c2", &before),
            Err(Refusal::PlanCommit {
                path: "p.json".into(),
                planned: "c1".into(),
                now: "c2".into()
            })
        );
        assert_eq!(
            saved_plan("p.json", &text, "c1", &observed(true)),
            Err(Refusal::PlanStale {
                path: "p.json".into()
            })
        );
        let old = text.replacen(&format!("\"version\": {PLAN_VERSION}"), "\"version\": 1", 1);
        let refused = saved_plan("p.json", &old, "c1", &before).unwrap_err();
        assert_eq!(
            refused,
            Refusal::PlanVersion {
                path: "p.json".into(),
                found: 1
            }
        );
        assert!(
            refused
                .to_string()
                .contains("run `gwsync plan --out` again")
        );
        assert!(matches!(
            saved_plan("p.json", "{}", "c1", &before),
            Err(Refusal::NotAPlan { .. })
        ));
    }
}
