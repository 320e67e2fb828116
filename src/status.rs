//! Where things stand, from the state database: what `gwsync status` prints and what the
//! daemon serves on `/status` (the same JSON: named fields, times in RFC 3339).
//!
//! It reads the store only; the tracked revision is passed in by the caller, who knows how to
//! read it (the CLI from Git, the daemon from its last fetch). Per team it shows the record
//! `reconcile::teams` wrote after the last reconcile, with what operators did since (a hold,
//! a release, a resume) laid over it, so that it never waits for the next reconcile to say so.

use crate::diagnostic::printable;
use crate::source::{Revision, short};
use crate::store::{
    Condition, Hold, LeaseHolder, LeaseName, Pin, Store, StoreError, TeamRecord, TeamState,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// What `gwsync status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The tracked revision, when the repository could be read.
    pub tracked: Option<Revision>,
    /// The newest finished apply.
    pub applied: Option<Applied>,
    pub pin: Option<PinStatus>,
    /// Teams held at what is live (`gwsync hold`), with who, why and since when.
    pub holds: Vec<HoldStatus>,
    /// Raised conditions: `stalled`, `drift`, `guarded`.
    pub conditions: Vec<ConditionStatus>,
    /// The daemon holding the leader lease, if one does.
    pub leader: Option<LeaseStatus>,
    /// Whoever is changing AWS right now (the apply lease), if anyone.
    pub applying: Option<LeaseStatus>,
    /// The daemons that share this store, seen within [`INSTANCES_SEEN_WITHIN`].
    pub instances: Vec<InstanceStatus>,
    pub teams: Vec<TeamStatus>,
}

/// How recently a daemon must have said it runs to be listed.
pub const INSTANCES_SEEN_WITHIN: Duration = Duration::from_secs(120);

/// A lease held.
#[derive(Debug, Serialize)]
pub struct LeaseStatus {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub epoch: i64,
    pub since: String,
    /// Seconds until it expires unless renewed.
    pub expires_in_seconds: u64,
}

/// A daemon sharing the store.
#[derive(Debug, Serialize)]
pub struct InstanceStatus {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// `leader` or `standby`.
    pub role: String,
    /// When it started.
    pub started: String,
    /// Seconds since it last said so.
    pub seen_seconds_ago: u64,
}

/// The newest finished apply.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub commit: String,
    pub finished: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
}

#[derive(Debug, Serialize)]
pub struct PinStatus {
    pub commit: String,
    pub actor: String,
    pub since: String,
    /// The tracked commit the pin holds back.
    pub holds_back: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HoldStatus {
    pub team: String,
    pub actor: String,
    pub reason: Option<String>,
    pub since: String,
}

#[derive(Debug, Serialize)]
pub struct ConditionStatus {
    pub kind: String,
    pub commit: String,
    pub detail: String,
    pub since: String,
}

/// One team: where it stands, what runs, what should, why they differ and what to do.
#[derive(Debug, Serialize)]
pub struct TeamStatus {
    pub name: String,
    pub state: TeamState,
    /// Since when the team is in `state`.
    pub since: String,
    /// The revision whose files of the team are live on AWS.
    pub live: Option<LiveRevision>,
    /// The revision gwsync wants live for it.
    pub wanted: WantedRevision,
    /// Why live and wanted differ, in one line.
    pub reason: Option<String>,
    /// What on-call does about it.
    pub next_step: Option<String>,
    /// Consecutive applies in which a change of the team failed.
    pub failures: u32,
}

#[derive(Debug, Serialize)]
pub struct LiveRevision {
    pub commit: String,
    /// When it became live.
    pub applied: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct WantedRevision {
    pub commit: String,
    /// The commit's author and summary, when recorded.
    pub author: Option<String>,
    pub summary: Option<String>,
}

/// A lease as `status` shows it: only while held.
fn lease_status(lease: LeaseHolder) -> Option<LeaseStatus> {
    lease.is_held().then(|| LeaseStatus {
        expires_in_seconds: lease.expires_in().as_secs(),
        since: time(lease.acquired_at_ms / 1000),
        holder: lease.holder,
        host: lease.host,
        pid: lease.pid,
        epoch: lease.epoch,
    })
}

/// Reads the status from the store.
pub async fn collect(store: &Store, tracked: Option<Revision>) -> Result<Status, StoreError> {
    let pin = store.pin().await?;
    let holds = store.holds().await?;
    let records = store.team_records().await?;
    let wanted: Vec<String> = records.iter().map(|r| r.wanted_commit.clone()).collect();
    let commits = store.revision_summaries(&wanted).await?;
    let held: BTreeMap<&str, &Hold> = holds.iter().map(|h| (h.team.as_str(), h)).collect();
    let teams = records
        .into_iter()
        .map(|r| {
            let hold = held.get(r.team.as_str()).copied();
            team_status(r, hold, pin.as_ref(), &commits)
        })
        .collect();
    let leader = store.lease(LeaseName::Leader).await?;
    let now_ms = leader.now_ms;
    let instances = store
        .instances(INSTANCES_SEEN_WITHIN)
        .await?
        .into_iter()
        .map(|i| InstanceStatus {
            seen_seconds_ago: u64::try_from((now_ms - i.seen_at) / 1000).unwrap_or(0),
            started: time(i.started_at / 1000),
            holder: i.holder,
            host: i.host,
            pid: i.pid,
            version: i.version,
            role: i.role,
        })
        .collect();
    Ok(Status {
        leader: lease_status(leader),
        applying: lease_status(store.lease(LeaseName::Apply).await?),
        instances,
        tracked,
        applied: store
            .last_applied()
            .await?
            .map(|(commit, finished_at, outcome)| Applied {
                commit,
                finished: time(finished_at),
                outcome,
            }),
        pin: pin.map(|p| PinStatus {
            commit: p.commit,
            actor: p.actor,
            since: time(p.pinned_at),
            holds_back: p.head,
        }),
        holds: holds
            .into_iter()
            .map(|h| HoldStatus {
                team: h.team,
                actor: h.actor,
                reason: h.reason,
                since: time(h.since),
            })
            .collect(),
        conditions: store
            .conditions()
            .await?
            .into_iter()
            .map(|c: Condition| ConditionStatus {
                kind: c.kind,
                commit: c.commit,
                detail: c.detail,
                since: time(c.since),
            })
            .collect(),
        teams,
    })
}

/// A team's record with what operators did since it was written laid over it.
fn team_status(
    record: TeamRecord,
    hold: Option<&Hold>,
    pin: Option<&Pin>,
    commits: &BTreeMap<String, (String, String)>,
) -> TeamStatus {
    let mut state = record.state;
    let mut since = record.since;
    let mut reason = record.reason;
    match hold {
        Some(h) if state != TeamState::Held => {
            state = TeamState::Held;
            since = h.since;
            reason = Some(match &h.reason {
                Some(why) => format!("held by {}: {why}", h.actor),
                None => format!("held by {}", h.actor),
            });
        }
        None if state == TeamState::Held => {
            reason = Some("released; the next apply brings it to the wanted revision".into());
        }
        _ => {}
    }
    if state == TeamState::Pinned && pin.is_none() {
        reason = Some("the pin is lifted; the next apply rolls it forward".into());
    }
    let (author, summary) = commits
        .get(&record.wanted_commit)
        .cloned()
        .map_or((None, None), |(a, s)| (Some(a), Some(s)));
    TeamStatus {
        next_step: next_step(state, &record.team, hold.is_some(), pin.is_some()),
        name: record.team,
        state,
        since: time(since),
        live: record.live_commit.map(|commit| LiveRevision {
            commit,
            applied: record.live_at.map(time),
        }),
        wanted: WantedRevision {
            commit: record.wanted_commit,
            author,
            summary,
        },
        reason,
        failures: record.failures,
    }
}

/// What on-call does for a team in `state`.
fn next_step(state: TeamState, team: &str, held: bool, pinned: bool) -> Option<String> {
    Some(match state {
        TeamState::InSync => return None,
        TeamState::Refused => format!(
            "the team fixes its files (`gwsync validate --team {team}` shows why); its last admitted state stays live meanwhile"
        ),
        TeamState::Failed => {
            "retried automatically; if AWS keeps refusing, fix the cause (see the reason) or `gwsync hold --team` it".to_string()
        }
        TeamState::Stalled => format!(
            "fix the cause, then `gwsync release --team {team}` (or a commit that changes the team's files, or `gwsync sync`) tries it again"
        ),
        TeamState::Held if held => {
            format!("`gwsync release --team {team}` when it may move on")
        }
        TeamState::Held => "none: the next apply brings it to the wanted revision".to_string(),
        TeamState::Pinned if pinned => {
            "`gwsync resume` rolls every team forward to the tracked revision".to_string()
        }
        TeamState::Pinned => "none: the next apply rolls it forward".to_string(),
    })
}

/// An RFC 3339 time for Unix seconds.
pub fn time(seconds: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64))
        .to_string()
}

impl Status {
    /// Why things are not as they should be, one line each (for `status --check`): a team
    /// not in sync, a raised condition, a failed last apply, a pin. Empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .teams
            .iter()
            .filter(|t| t.state != TeamState::InSync)
            .map(|t| match &t.reason {
                Some(reason) => format!("team {} is {}: {}", t.name, t.state, printable(reason)),
                None => format!("team {} is {}", t.name, t.state),
            })
            .collect();
        out.extend(
            self.conditions
                .iter()
                .map(|c| format!("{}: {}", c.kind, printable(&c.detail))),
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
                "pinned: {} by {} at {}{}\n",
                short(&p.commit),
                p.actor,
                p.since,
                p.holds_back
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
                h.since,
                h.reason
                    .as_deref()
                    .map(|r| format!(": {r:?}"))
                    .unwrap_or_default()
            ));
        }
        for (what, lease) in [("leader", &self.leader), ("applying", &self.applying)] {
            if let Some(l) = lease {
                out.push_str(&format!(
                    "{what}: {} (pid {} on {}), epoch {} since {}, lease expires in {} s unless renewed\n",
                    printable(&l.holder),
                    l.pid,
                    printable(&l.host),
                    l.epoch,
                    l.since,
                    l.expires_in_seconds
                ));
            }
        }
        for i in self.instances.iter().filter(|_| self.instances.len() > 1) {
            out.push_str(&format!(
                "instance: {} (pid {} on {}) {}, version {}, seen {} s ago\n",
                printable(&i.holder),
                i.pid,
                printable(&i.host),
                i.role,
                printable(&i.version),
                i.seen_seconds_ago
            ));
        }
        for c in &self.conditions {
            out.push_str(&format!(
                "{}: {} since {}: {}\n",
                c.kind,
                short(&c.commit),
                c.since,
                printable(&c.detail)
            ));
        }
        if !self.teams.is_empty() {
            out.push_str("teams:\n");
        }
        for t in &self.teams {
            out.push_str(&t.to_text());
        }
        out
    }
}

impl TeamStatus {
    /// `  name: state since T, live X (applied T)[, wanted Y by A]` and, when it is not in
    /// sync, the reason and the next step on their own lines.
    fn to_text(&self) -> String {
        let live = match &self.live {
            Some(l) => format!(
                "live {}{}",
                short(&l.commit),
                l.applied
                    .as_deref()
                    .map(|at| format!(" (applied {at})"))
                    .unwrap_or_default()
            ),
            None => "nothing live yet".to_string(),
        };
        let mut out = format!(
            "  {}: {} since {}, {live}",
            self.name, self.state, self.since
        );
        if self.live.as_ref().map(|l| l.commit.as_str()) != Some(self.wanted.commit.as_str()) {
            out.push_str(&format!(", wanted {}", short(&self.wanted.commit)));
            if let Some(author) = &self.wanted.author {
                out.push_str(&format!(" by {}", printable(author)));
            }
        }
        out.push('\n');
        if let Some(reason) = &self.reason {
            out.push_str(&format!("      why: {}\n", printable(reason)));
        }
        if let Some(next) = &self.next_step {
            out.push_str(&format!("      next: {next}\n"));
        }
        out
    }
}
