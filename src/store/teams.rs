//! Per-team records: what each team runs on AWS and what it should run
//! (`migrations/0006_team_states.sql`), and the operator events `gwsync history` lists beside
//! the applies. The records are written whole by `reconcile::teams`, which decides them; the
//! store only keeps them.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a team stands: whether the revision of its files live on AWS is the one wanted, and
/// if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeamState {
    /// Its files at the wanted revision are live.
    InSync,
    /// The wanted revision refuses it: its last admitted files (if any) stay live.
    Refused,
    /// AWS rejected one of its changes; retried.
    Failed,
    /// Its changes kept failing: no longer tried until its files change, `gwsync sync` or
    /// `gwsync release`; what is live for it stays as it is.
    Stalled,
    /// `gwsync hold` (or `rollback --team`) keeps what is live for it.
    Held,
    /// A full rollback's pin holds every team at the rolled-back revision.
    Pinned,
}

impl TeamState {
    pub const ALL: [TeamState; 6] = [
        TeamState::InSync,
        TeamState::Refused,
        TeamState::Failed,
        TeamState::Stalled,
        TeamState::Held,
        TeamState::Pinned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamState::InSync => "in-sync",
            TeamState::Refused => "refused",
            TeamState::Failed => "failed",
            TeamState::Stalled => "stalled",
            TeamState::Held => "held",
            TeamState::Pinned => "pinned",
        }
    }

    fn parse(s: &str) -> Option<TeamState> {
        TeamState::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for TeamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TeamState::InSync => "in sync",
            other => other.as_str(),
        })
    }
}

/// One team's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamRecord {
    pub team: String,
    pub state: TeamState,
    /// The revision whose files of the team are live on AWS (applied successfully); None
    /// before its first successful apply.
    pub live_commit: Option<String>,
    /// When `live_commit` became live (Unix seconds).
    pub live_at: Option<i64>,
    /// The revision gwsync wants live for it: the tracked revision it last reconciled.
    pub wanted_commit: String,
    /// SHA-256 of the team's files at `wanted_commit`.
    pub files_digest: String,
    /// Why live and wanted differ, in one line (the refusal, the AWS error, the hold).
    pub reason: Option<String>,
    /// Consecutive applies in which a change of the team failed, for these files.
    pub failures: u32,
    /// When the team entered `state` (Unix seconds).
    pub since: i64,
    pub updated: i64,
}

#[derive(sqlx::FromRow)]
struct TeamRow {
    team: String,
    state: String,
    live_commit: Option<String>,
    live_at: Option<i64>,
    wanted_commit: String,
    files_digest: String,
    reason: Option<String>,
    failures: i64,
    since: i64,
    updated: i64,
}

/// What an operator did, besides applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventAction {
    Hold,
    Release,
    Resume,
    /// A stalled team (or every stalled team) to be tried again.
    Unstall,
    /// A sync or apply made during a freeze window.
    IgnoreFreeze,
}

impl EventAction {
    const ALL: [EventAction; 5] = [
        EventAction::Hold,
        EventAction::Release,
        EventAction::Resume,
        EventAction::Unstall,
        EventAction::IgnoreFreeze,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Hold => "hold",
            EventAction::Release => "release",
            EventAction::Resume => "resume",
            EventAction::Unstall => "unstall",
            EventAction::IgnoreFreeze => "ignore-freeze",
        }
    }
}

/// One operator event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorEvent {
    pub at: i64,
    pub action: EventAction,
    pub team: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    /// The revision it concerned, when there is one (the commit synced over a freeze).
    pub commit: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    action: String,
    team: Option<String>,
    actor: String,
    reason: Option<String>,
    commit: Option<String>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        error: <serde_json::Error as serde::de::Error>::custom(format!("unknown value {value:?}")),
    }
}

impl TryFrom<TeamRow> for TeamRecord {
    type Error = StoreError;

    fn try_from(row: TeamRow) -> Result<TeamRecord, StoreError> {
        Ok(TeamRecord {
            state: TeamState::parse(&row.state)
                .ok_or_else(|| corrupt("team_states.state", &row.state))?,
            team: row.team,
            live_commit: row.live_commit,
            live_at: row.live_at,
            wanted_commit: row.wanted_commit,
            files_digest: row.files_digest,
            reason: row.reason,
            failures: u32::try_from(row.failures).unwrap_or(0),
            since: row.since,
            updated: row.updated,
        })
    }
}

impl Store {
    /// Every team's record, by name.
    pub async fn team_records(&self) -> Result<Vec<TeamRecord>, StoreError> {
        sqlx::query_as::<_, TeamRow>(
            "SELECT team, state, live_commit, live_at, wanted_commit, files_digest, reason, \
             failures, since, updated FROM team_states ORDER BY team",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(TeamRecord::try_from)
        .collect()
    }

    /// Replaces the records of these teams, and removes those of teams no longer in the
    /// repository (not in `records`), in one transaction.
    pub async fn put_team_records(&self, records: &[TeamRecord]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let names: Vec<&str> = records.iter().map(|r| r.team.as_str()).collect();
        let known: Vec<String> = sqlx::query_scalar("SELECT team FROM team_states")
            .fetch_all(&mut *tx)
            .await?;
        for gone in known.iter().filter(|t| !names.contains(&t.as_str())) {
            sqlx::query("DELETE FROM team_states WHERE team = $1")
                .bind(gone)
                .execute(&mut *tx)
                .await?;
        }
        for r in records {
            sqlx::query(
                "INSERT INTO team_states (team, state, live_commit, live_at, wanted_commit, \
                 files_digest, reason, failures, since, updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (team) DO UPDATE SET state = excluded.state, \
                 live_commit = excluded.live_commit, live_at = excluded.live_at, \
                 wanted_commit = excluded.wanted_commit, files_digest = excluded.files_digest, \
                 reason = excluded.reason, failures = excluded.failures, \
                 since = excluded.since, updated = excluded.updated",
            )
            .bind(&r.team)
            .bind(r.state.as_str())
            .bind(&r.live_commit)
            .bind(r.live_at)
            .bind(&r.wanted_commit)
            .bind(&r.files_digest)
            .bind(&r.reason)
            .bind(i64::from(r.failures))
            .bind(r.since)
            .bind(r.updated)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The teams whose retries are used up.
    pub async fn stalled_teams(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT team FROM team_states WHERE state = 'stalled' ORDER BY team",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Lets `team` (or, with None, every team) be tried again: a stalled team becomes failed
    /// with no failure counted, so the next reconcile applies it. The names of the teams
    /// lifted; the running daemon is told when there were any.
    pub async fn unstall(&self, team: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write().await?;
        let lifted: Vec<String> = sqlx::query_scalar(
            "UPDATE team_states SET state = 'failed', failures = 0 \
             WHERE state = 'stalled' AND ($1 IS NULL OR team = $1) RETURNING team",
        )
        .bind(team)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if !lifted.is_empty() {
            self.note_operator_action().await?;
        }
        Ok(lifted)
    }

    /// After a rollback to `commit` of `team` (None: every team): its files at `commit` are
    /// live, and it is held or pinned there (`state`, `reason`).
    pub async fn rolled_back(
        &self,
        team: Option<&str>,
        commit: &str,
        state: TeamState,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE team_states SET live_commit = $1, live_at = $2, state = $3, reason = $4, \
             since = $2, updated = $2, failures = 0 WHERE $5 IS NULL OR team = $5",
        )
        .bind(commit)
        .bind(now)
        .bind(state.as_str())
        .bind(reason)
        .bind(team)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The author and summary of each of `commits` that is recorded.
    pub async fn revision_summaries(
        &self,
        commits: &[String],
    ) -> Result<BTreeMap<String, (String, String)>, StoreError> {
        let mut out = BTreeMap::new();
        let unique: BTreeSet<&String> = commits.iter().collect();
        for commit in unique {
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT author, summary FROM revisions WHERE \"commit\" = $1")
                    .bind(commit)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(row) = row {
                out.insert(commit.clone(), row);
            }
        }
        Ok(out)
    }

    /// Records what an operator did.
    pub async fn record_event(&self, event: &OperatorEvent) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO operator_events (at, action, team, actor, reason, \"commit\") \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.at)
        .bind(event.action.as_str())
        .bind(&event.team)
        .bind(&event.actor)
        .bind(&event.reason)
        .bind(&event.commit)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` operator events, newest first.
    pub async fn events(&self, limit: usize) -> Result<Vec<OperatorEvent>, StoreError> {
        sqlx::query_as::<_, EventRow>(
            "SELECT at, action, team, actor, reason, \"commit\" FROM operator_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(OperatorEvent {
                action: EventAction::ALL
                    .into_iter()
                    .find(|a| a.as_str() == row.action)
                    .ok_or_else(|| corrupt("operator_events.action", &row.action))?,
                at: row.at,
                team: row.team,
                actor: row.actor,
                reason: row.reason,
                commit: row.commit,
            })
        })
        .collect()
    }
}
