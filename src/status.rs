//! Where things stand, from the state database: what `gwsync status` prints and what the
//! daemon serves on `/status` (the same JSON).
//!
//! It reads the store only; the tracked revision is passed in by the caller, who knows how to
//! read it (the CLI from Git, the daemon from its last fetch).

use crate::source::{Revision, short};
use crate::store::{Condition, Hold, Pin, Store, StoreError};
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// What `gwsync status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The tracked revision, when the repository could be read.
    pub tracked: Option<Revision>,
    /// The newest finished apply.
    pub applied: Option<Applied>,
    pub pin: Option<Pin>,
    /// Teams held at what is live (`gwsync hold`), with who, why and since when.
    pub holds: Vec<Hold>,
    /// Raised conditions: `stalled`, `drift`, `guarded`.
    pub conditions: Vec<Condition>,
    pub teams: Vec<TeamStatus>,
}

/// The newest finished apply.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub commit: String,
    /// Unix seconds, and the same as RFC 3339 in `finished`.
    pub finished_at: i64,
    pub finished: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
}

#[derive(Debug, Serialize)]
pub struct TeamStatus {
    pub name: String,
    /// `admitted`; `degraded` when the newest recorded revision refused it; `held` while
    /// `gwsync hold` keeps it at what is live.
    pub state: String,
    /// The revision whose state of the team is live (its last admitted one, or the pin's).
    pub running: Option<String>,
    /// When `running` was last applied successfully (Unix seconds).
    pub applied_at: Option<i64>,
}

/// Reads the status from the store.
pub async fn collect(store: &Store, tracked: Option<Revision>) -> Result<Status, StoreError> {
    let latest = store.history(None, 1).await?;
    let pin = store.pin().await?;
    let holds = store.holds().await?;
    let mut teams = Vec::new();
    for t in latest.iter().flat_map(|e| &e.teams) {
        // A rollback's pin decides what runs for the teams it covers.
        let pinned = pin
            .as_ref()
            .filter(|p| p.team.as_deref().is_none_or(|team| team == t.owner));
        let running = match pinned {
            Some(p) => Some(p.commit.clone()),
            None => store.last_admitted_commit(&t.owner).await?,
        };
        let applied_at = match &running {
            Some(commit) => store.applied_at(commit).await?,
            None => None,
        };
        teams.push(TeamStatus {
            name: t.owner.clone(),
            state: if holds.iter().any(|h| h.team == t.owner) {
                "held".to_string()
            } else if t.verdict == crate::store::ADMITTED {
                "admitted".to_string()
            } else {
                "degraded".to_string()
            },
            running,
            applied_at,
        });
    }
    Ok(Status {
        tracked,
        applied: store
            .last_applied()
            .await?
            .map(|(commit, finished_at, outcome)| Applied {
                commit,
                finished: time(finished_at),
                finished_at,
                outcome,
            }),
        pin,
        holds,
        conditions: store.conditions().await?,
        teams,
    })
}

/// An RFC 3339 time for Unix seconds.
pub fn time(seconds: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64))
        .to_string()
}

impl Status {
    /// Why things are not as they should be, one line each (for `status --check`): a team
    /// not admitted or held, a raised condition, a failed last apply, a pin. Empty when all
    /// is well.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .teams
            .iter()
            .filter(|t| t.state != "admitted")
            .map(|t| format!("team {} is {}", t.name, t.state))
            .collect();
        out.extend(
            self.conditions
                .iter()
                .map(|c| format!("{}: {}", c.kind, c.detail)),
        );
        if let Some(a) = self.applied.as_ref().filter(|a| a.outcome != "succeeded") {
            out.push(format!(
                "the last apply ({}) {}",
                short(&a.commit),
                a.outcome
            ));
        }
        if let Some(p) = &self.pin {
            out.push(format!("pinned to {} by a rollback", short(&p.commit)));
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the status serialises")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&match &self.tracked {
            Some(r) => format!("tracked: {} {:?}\n", short(&r.commit), r.summary),
            None => "tracked: unknown (the repository could not be read)\n".to_string(),
        });
        out.push_str(&match &self.applied {
            Some(a) => format!(
                "applied: {} at {} ({})\n",
                short(&a.commit),
                a.finished,
                a.outcome
            ),
            None => "applied: nothing yet\n".to_string(),
        });
        if let Some(p) = &self.pin {
            out.push_str(&format!(
                "pinned: {}{} by {} at {}{}\n",
                short(&p.commit),
                p.team
                    .as_deref()
                    .map(|t| format!(" (team {t})"))
                    .unwrap_or_default(),
                p.actor,
                time(p.pinned_at),
                p.head
                    .as_deref()
                    .map(|h| format!(", holding back {}", short(h)))
                    .unwrap_or_default()
            ));
        }
        for h in &self.holds {
            out.push_str(&format!(
                "held: team {} by {} since {}{}\n",
                h.team,
                h.actor,
                time(h.since),
                h.reason
                    .as_deref()
                    .map(|r| format!(": {r:?}"))
                    .unwrap_or_default()
            ));
        }
        for c in &self.conditions {
            out.push_str(&format!(
                "{}: {} since {}: {}\n",
                c.kind,
                short(&c.commit),
                time(c.since),
                c.detail
            ));
        }
        for t in &self.teams {
            out.push_str(&format!(
                "  {}: {}{}{}\n",
                t.name,
                t.state,
                t.running
                    .as_deref()
                    .map(|c| format!(", running {}", short(c)))
                    .unwrap_or_default(),
                t.applied_at
                    .map(|at| format!(" (applied {})", time(at)))
                    .unwrap_or_default()
            ));
        }
        out
    }
}
