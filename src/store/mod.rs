//! The state database: what gwsync has seen and done, in one SQLite file or, for several
//! instances, in PostgreSQL ([`engine`]).
//!
//! The store owns the durable record an operator needs to answer "what is live, where did it
//! come from, and how do I go back":
//!
//! - **revisions**: every commit of the tracked branch gwsync has read, with when it first saw it;
//! - **snapshots**: per revision and per owner (`platform` or a team), the verdict, the
//!   diagnostics that decided it and the owner's manifest files as read, so that the last
//!   admitted files of a team can be reused when its next change is refused. Each distinct
//!   state of an owner is stored once, by content (`owner_states`); a revision refers to it,
//!   so a commit that changes one team costs that team's files and a small row per owner;
//! - **applies**: every sync, rollback and heal, with its plan and its report;
//! - **the pin** a rollback leaves, and **the leases** ([`lease`]): which daemon leads, and who
//!   changes AWS right now, each with an epoch that fences the records of a holder that lost it;
//! - **retention** ([`Store::prune`]): old revisions go, never those something still needs.
//!
//! It must not do anything else: no Git (callers pass [`Revision`]s and file texts in), no AWS
//! (plans and reports arrive as JSON text), and no decisions (verdicts are recorded, not made).
//! Time is passed in as Unix seconds (`now`) so that callers and tests decide the clock; only
//! leases are timed on the database's clock, which every instance shares.
//!
//! The schema lives in `migrations/sqlite` and `migrations/postgres` and is embedded in the
//! binary. A database that has applied a migration this binary does not know was written by a
//! newer gwsync and is refused ([`StoreError::NewerSchema`]) rather than used half-understood.

mod copy;
pub mod engine;
pub mod lease;
mod retention;
mod teams;

pub use copy::Copied;
pub use engine::{Engine, Location, PostgresUrl, password};
pub use lease::{Instance, Lease, LeaseClaim, LeaseHolder, LeaseName};
pub use retention::{Pruned, Retention};
pub use teams::{EventAction, OperatorEvent, TeamRecord, TeamState};

use crate::diagnostic::Diagnostic;
use crate::source::Revision;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The verdict string of an admitted owner, as `tenancy::Verdict` serialises it.
pub const ADMITTED: &str = "admitted";

/// Everything that can go wrong with the state database. sqlx's and serde's errors are
/// leaves here: their own text (which already quotes their causes) is part of the message,
/// and no variant has a `source()`, so an error chain prints each cause once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database {location}: {error}")]
    Open {
        location: String,
        error: sqlx::Error,
    },
    #[error(
        "the state database {location} was written by a newer gwsync (schema version {found}; \
         this gwsync knows up to {known}); upgrade gwsync, or point the store at another database"
    )]
    NewerSchema {
        location: String,
        found: i64,
        known: i64,
    },
    /// The database (or the directory it goes in) belongs to another user.
    #[error(
        "{} belongs to uid {owner}, not to this user: run gwsync as its owner (e.g. `sudo -u gwsync gwsync ...`), or pass --state-dir; nothing was written",
        path.display()
    )]
    ForeignOwner { path: PathBuf, owner: u32 },
    #[error("cannot bring the state database schema up to date: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("state database query failed: {0}")]
    Query(sqlx::Error),
    #[error("the state database holds unreadable JSON in {what}: {error}")]
    Corrupt {
        what: String,
        error: serde_json::Error,
    },
    #[error("{prefix:?} is not a commit id or a prefix of at least 4 hex digits")]
    BadPrefix { prefix: String },
    #[error("{prefix:?} matches more than one recorded revision; give more digits")]
    Ambiguous { prefix: String },
    #[error("no apply with id {id} is recorded")]
    NoSuchApply { id: i64 },
    /// A lease another process holds ([`Store::take_lease`]).
    #[error("{0}")]
    Held(lease::HeldBy),
    /// This process's lease was taken by another since it was issued: nothing was written.
    #[error(
        "this gwsync no longer holds the {lease} lease (epoch {epoch}; another instance took it \
         over): nothing was recorded"
    )]
    Deposed { lease: LeaseName, epoch: i64 },
    #[error("cannot read the state database's password from {from}: {why}")]
    Password { from: String, why: String },
    #[error("copying the state database: {0}")]
    Copy(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Query(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error)
    }
}

fn format_time(secs: i64) -> String {
    match u64::try_from(secs) {
        Ok(s) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string(),
        Err(_) => format!("{secs} (Unix seconds)"),
    }
}

/// A team held at what is live on AWS (`gwsync hold`), with who held it, why and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Hold {
    pub team: String,
    pub reason: Option<String>,
    pub actor: String,
    pub since: i64,
}

/// A rollback's hold on the live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Pin {
    /// The revision the live state was rolled back to.
    pub commit: String,
    /// The team rolled back, or None for every team.
    pub team: Option<String>,
    pub pinned_at: i64,
    pub actor: String,
    /// The tracked commit at the time of the rollback: not applied while pinned.
    pub head: Option<String>,
}

/// A condition raised about the live state (see `migrations/0003_conditions.sql`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Condition {
    /// `stalled`, `drift` or `guarded`.
    pub kind: String,
    /// The revision it is about.
    pub commit: String,
    /// What an operator needs to act on it (the error, the differing resources).
    pub detail: String,
    /// When it was first raised (kept while it is raised again for the same commit).
    pub since: i64,
    pub updated: i64,
}

/// One recorded revision with what happened to it, for `gwsync history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub commit: String,
    pub author: String,
    pub summary: String,
    pub committed_at: i64,
    pub first_seen_at: i64,
    /// Applies of this revision, oldest first.
    pub applies: Vec<ApplySummary>,
    /// Verdicts by owner, sorted by owner.
    pub teams: Vec<TeamVerdict>,
}

/// One apply, without its plan and report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApplySummary {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `succeeded`, `failed`, `interrupted` (its process died; closed by the next holder of
    /// the apply lease), or `None` while running.
    pub outcome: Option<String>,
    /// The epoch of the apply lease it was recorded under (none before leases existed).
    pub epoch: Option<i64>,
}

/// One owner's verdict at a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamVerdict {
    pub owner: String,
    pub verdict: String,
    /// Diagnostics of severity refusal or error.
    pub errors: usize,
}

/// Everything recorded about one revision, for `gwsync show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionDetail {
    pub commit: String,
    pub author: String,
    pub summary: String,
    pub committed_at: i64,
    pub first_seen_at: i64,
    /// Sorted by owner.
    pub snapshots: Vec<SnapshotDetail>,
    /// Oldest first.
    pub applies: Vec<ApplyDetail>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotDetail {
    pub owner: String,
    pub verdict: String,
    pub diagnostics: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyDetail {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Option<String>,
    pub plan: serde_json::Value,
    pub report: Option<serde_json::Value>,
}

/// A manifest file as stored in a snapshot.
#[derive(Serialize, Deserialize)]
struct StoredFile {
    path: String,
    text: String,
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    commit: String,
    author: String,
    summary: String,
    committed_at: i64,
    first_seen_at: i64,
}

#[derive(sqlx::FromRow)]
struct ApplyRow {
    id: i64,
    kind: String,
    actor: String,
    started_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
    plan: String,
    report: Option<String>,
}

/// A handle on the state database. Cheap to clone; every clone shares one small pool.
///
/// A handle may be *fenced* by a lease ([`Store::fenced`]): each of its writes then checks, in
/// its own transaction, that the lease is still held at the epoch it was issued under, so a
/// holder that lost its lease (paused, partitioned) cannot record over the one that took it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    location: Location,
    fence: Option<Lease>,
}

impl Store {
    /// Opens (creating if missing) the SQLite database at `path`, readable by its owner only,
    /// and brings its schema up to date. Refuses a database written by a newer gwsync, and one
    /// (or a directory for one) another user owns, before writing anything.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some((path, owner)) = crate::config::permissions::foreign_owner(path) {
            return Err(StoreError::ForeignOwner { path, owner });
        }
        prepare_file(path).map_err(|e| StoreError::Open {
            location: path.display().to_string(),
            error: sqlx::Error::Io(e),
        })?;
        Store::connect(&Location::Sqlite(path.to_path_buf()), None).await
    }

    /// Opens the store at `location` (a SQLite file: see [`Store::open`]; PostgreSQL:
    /// `password` is used to connect and kept nowhere else) and brings its schema up to date.
    pub async fn at(location: &Location, password: Option<&str>) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open(path).await,
            Location::Postgres(_) => Store::connect(location, password).await,
        }
    }

    /// Connects to the store at `location` without changing it (no migration, nothing
    /// created): for `gwsync doctor`. Also returns the newest schema version applied there,
    /// `None` for a database gwsync never opened; a newer schema than this gwsync knows is
    /// refused as by [`Store::at`].
    pub async fn inspect(
        location: &Location,
        password: Option<&str>,
    ) -> Result<(Store, Option<i64>), StoreError> {
        let store = Store::connect_as_is(location, password).await?;
        let version = store.schema_version().await?;
        Ok((store, version))
    }

    /// The newest migration applied, if any.
    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.applied_migrations().await?.into_iter().max())
    }

    /// The versions of the migrations applied (none when gwsync never opened the database).
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let table: Option<String> = sqlx::query_scalar(self.engine().table_exists())
            .bind("_sqlx_migrations")
            .fetch_optional(&self.pool)
            .await?;
        if table.is_none() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The newest schema version this gwsync knows.
    pub fn known_schema(&self) -> i64 {
        self.engine()
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    async fn connect(location: &Location, password: Option<&str>) -> Result<Store, StoreError> {
        let store = Store::connect_as_is(location, password).await?;
        store.engine().migrator().run(&store.pool).await?;
        Ok(store)
    }

    /// A pool on `location`, its schema refused when newer than this gwsync's, not migrated.
    async fn connect_as_is(
        location: &Location,
        password: Option<&str>,
    ) -> Result<Store, StoreError> {
        let pool = engine::connect(location, password)
            .await
            .map_err(|error| StoreError::Open {
                location: location.to_string(),
                error,
            })?;
        let store = Store {
            pool,
            location: location.clone(),
            fence: None,
        };
        store.refuse_newer_schema().await?;
        Ok(store)
    }

    /// Where the store is (for people: never a password).
    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn engine(&self) -> Engine {
        Engine::of(&self.location)
    }

    /// This handle, every write of it checking that `lease` is still held at its epoch
    /// (failing with [`StoreError::Deposed`] when it is not, nothing written).
    pub fn fenced(&self, lease: &Lease) -> Store {
        Store {
            fence: Some(lease.clone()),
            ..self.clone()
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction for writes. On a fenced handle its first statement checks that the lease
    /// is held at its epoch, and holds that row locked until the transaction ends, so that a
    /// lease cannot change hands between the check and the commit.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(lease) = &self.fence {
            lease::check_fence(&mut tx, lease).await?;
        }
        Ok(tx)
    }

    /// Fails with [`StoreError::NewerSchema`] when the database has applied a migration that
    /// is not embedded in this binary.
    async fn refuse_newer_schema(&self) -> Result<(), StoreError> {
        let applied = self.applied_migrations().await?;
        let migrator = self.engine().migrator();
        let unknown = applied
            .iter()
            .copied()
            .filter(|v| !migrator.version_exists(*v))
            .max();
        match unknown {
            None => Ok(()),
            Some(found) => Err(StoreError::NewerSchema {
                location: self.location.to_string(),
                found,
                known: self.known_schema(),
            }),
        }
    }

    /// Records a revision; a revision already recorded keeps its `first_seen_at`.
    pub async fn record_revision(&self, revision: &Revision, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO revisions (\"commit\", author, summary, committed_at, first_seen_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (\"commit\") DO NOTHING",
        )
        .bind(&revision.commit)
        .bind(&revision.author)
        .bind(&revision.summary)
        .bind(revision.committed_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records (or replaces) one owner's verdict at a recorded revision, with its diagnostics
    /// and its manifest files as `(path, text)`.
    pub async fn record_snapshot(
        &self,
        commit: &str,
        owner: &str,
        verdict: &str,
        diagnostics: &[Diagnostic],
        files: &[(String, String)],
    ) -> Result<(), StoreError> {
        let diagnostics =
            serde_json::to_string(diagnostics).map_err(|error| StoreError::Corrupt {
                what: format!("the diagnostics of {owner} at {commit}"),
                error,
            })?;
        let files: Vec<StoredFile> = files
            .iter()
            .map(|(path, text)| StoredFile {
                path: path.clone(),
                text: text.clone(),
            })
            .collect();
        let files = serde_json::to_string(&files).map_err(|error| StoreError::Corrupt {
            what: format!("the files of {owner} at {commit}"),
            error,
        })?;
        let digest = state_digest(verdict, &diagnostics, &files);
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO owner_states (digest, verdict, diagnostics, files) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digest)
        .bind(verdict)
        .bind(&diagnostics)
        .bind(&files)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO snapshots (\"commit\", owner, state) \
             SELECT $1, $2, id FROM owner_states WHERE digest = $3 \
             ON CONFLICT (\"commit\", owner) DO UPDATE SET state = excluded.state",
        )
        .bind(commit)
        .bind(owner)
        .bind(&digest)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the start of an apply (`kind`: `sync`, `rollback` or `heal`) and returns its id.
    /// On a fenced handle the apply is recorded with its lease's epoch.
    pub async fn begin_apply(
        &self,
        commit: &str,
        kind: &str,
        actor: &str,
        plan_json: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO applies (\"commit\", kind, actor, started_at, plan, epoch) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(commit)
        .bind(kind)
        .bind(actor)
        .bind(now)
        .bind(plan_json)
        .bind(self.fence.as_ref().map(|lease| lease.epoch))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The id of the newest apply begun, by anyone. Ids are never reused, so it changes with
    /// every apply (and when retention removes the newest record): a reader that saw one
    /// can tell whether anyone may have applied since.
    pub async fn newest_apply(&self) -> Result<Option<i64>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM applies")
            .fetch_one(&self.pool)
            .await?;
        Ok(id)
    }

    /// Records the end of an apply with its report.
    pub async fn finish_apply(
        &self,
        id: i64,
        report_json: &str,
        succeeded: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE applies SET finished_at = $1, report = $2, outcome = $3 WHERE id = $4",
        )
        .bind(now)
        .bind(report_json)
        .bind(outcome)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchApply { id });
        }
        Ok(())
    }

    /// The newest `limit` revisions (by first sighting), newest first. With `team`, only
    /// revisions that have a snapshot for that owner, and only its verdict.
    pub async fn history(
        &self,
        team: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<RevisionRow> = match team {
            None => {
                sqlx::query_as(
                    "SELECT \"commit\", author, summary, committed_at, first_seen_at \
                     FROM revisions ORDER BY first_seen_at DESC, rowid DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            Some(team) => {
                sqlx::query_as(
                    "SELECT \"commit\", author, summary, committed_at, first_seen_at \
                     FROM revisions WHERE \"commit\" IN \
                     (SELECT \"commit\" FROM snapshots WHERE owner = $1) \
                     ORDER BY first_seen_at DESC, rowid DESC LIMIT $2",
                )
                .bind(team)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let applies: Vec<ApplySummary> = sqlx::query_as(
                "SELECT id, kind, actor, started_at, finished_at, outcome, epoch FROM applies \
                 WHERE \"commit\" = $1 ORDER BY id",
            )
            .bind(&row.commit)
            .fetch_all(&self.pool)
            .await?;
            let snapshots: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT s.owner, o.verdict, o.diagnostics FROM snapshots s \
                 JOIN owner_states o ON o.id = s.state \
                 WHERE s.\"commit\" = $1 AND ($2 IS NULL OR s.owner = $3) ORDER BY s.owner",
            )
            .bind(&row.commit)
            .bind(team)
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
            let mut teams = Vec::with_capacity(snapshots.len());
            for (owner, verdict, diagnostics) in snapshots {
                let diagnostics = parse_json(&diagnostics, || {
                    format!("the diagnostics of {owner} at {}", row.commit)
                })?;
                teams.push(TeamVerdict {
                    errors: count_errors(&diagnostics),
                    owner,
                    verdict,
                });
            }
            entries.push(HistoryEntry {
                commit: row.commit,
                author: row.author,
                summary: row.summary,
                committed_at: row.committed_at,
                first_seen_at: row.first_seen_at,
                applies,
                teams,
            });
        }
        Ok(entries)
    }

    /// Everything recorded about the revision whose commit id starts with `commit_prefix`
    /// (at least 4 hex digits); `None` if no recorded revision matches.
    pub async fn show(&self, commit_prefix: &str) -> Result<Option<RevisionDetail>, StoreError> {
        if commit_prefix.len() < 4 || !commit_prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::BadPrefix {
                prefix: commit_prefix.to_string(),
            });
        }
        let prefix = commit_prefix.to_ascii_lowercase();
        let mut rows: Vec<RevisionRow> = sqlx::query_as(
            "SELECT \"commit\", author, summary, committed_at, first_seen_at FROM revisions \
             WHERE substr(\"commit\", 1, length($1)) = $1 LIMIT 2",
        )
        .bind(&prefix)
        .fetch_all(&self.pool)
        .await?;
        if rows.len() > 1 {
            return Err(StoreError::Ambiguous {
                prefix: commit_prefix.to_string(),
            });
        }
        let Some(row) = rows.pop() else {
            return Ok(None);
        };

        let snapshot_rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT s.owner, o.verdict, o.diagnostics FROM snapshots s \
             JOIN owner_states o ON o.id = s.state WHERE s.\"commit\" = $1 ORDER BY s.owner",
        )
        .bind(&row.commit)
        .fetch_all(&self.pool)
        .await?;
        let mut snapshots = Vec::with_capacity(snapshot_rows.len());
        for (owner, verdict, diagnostics) in snapshot_rows {
            let diagnostics = parse_json(&diagnostics, || {
                format!("the diagnostics of {owner} at {}", row.commit)
            })?;
            snapshots.push(SnapshotDetail {
                owner,
                verdict,
                diagnostics,
            });
        }

        let apply_rows: Vec<ApplyRow> = sqlx::query_as(
            "SELECT id, kind, actor, started_at, finished_at, outcome, plan, report \
             FROM applies WHERE \"commit\" = $1 ORDER BY id",
        )
        .bind(&row.commit)
        .fetch_all(&self.pool)
        .await?;
        let mut applies = Vec::with_capacity(apply_rows.len());
        for a in apply_rows {
            let plan = parse_json(&a.plan, || format!("the plan of apply {}", a.id))?;
            let report = match &a.report {
                Some(r) => Some(parse_json(r, || format!("the report of apply {}", a.id))?),
                None => None,
            };
            applies.push(ApplyDetail {
                id: a.id,
                kind: a.kind,
                actor: a.actor,
                started_at: a.started_at,
                finished_at: a.finished_at,
                outcome: a.outcome,
                plan,
                report,
            });
        }

        Ok(Some(RevisionDetail {
            commit: row.commit,
            author: row.author,
            summary: row.summary,
            committed_at: row.committed_at,
            first_seen_at: row.first_seen_at,
            snapshots,
            applies,
        }))
    }

    /// The latest finished apply: `(commit, finished_at, outcome)`.
    pub async fn last_applied(&self) -> Result<Option<(String, i64, String)>, StoreError> {
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT \"commit\", finished_at, outcome FROM applies \
             WHERE finished_at IS NOT NULL AND outcome IS NOT NULL \
             ORDER BY finished_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// The manifest files `(path, text)` of `owner` as read at `commit`, if recorded.
    pub async fn team_files(
        &self,
        commit: &str,
        owner: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let files: Option<String> = sqlx::query_scalar(
            "SELECT o.files FROM snapshots s JOIN owner_states o ON o.id = s.state \
             WHERE s.\"commit\" = $1 AND s.owner = $2",
        )
        .bind(commit)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        files
            .map(|f| parse_files(&f, || format!("the files of {owner} at {commit}")))
            .transpose()
    }

    /// The newest revision (by first sighting) at which `owner` was admitted.
    pub async fn last_admitted_commit(&self, owner: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT s.\"commit\" FROM snapshots s \
             JOIN owner_states o ON o.id = s.state \
             JOIN revisions r ON r.\"commit\" = s.\"commit\" \
             WHERE s.owner = $1 AND o.verdict = $2 \
             ORDER BY r.first_seen_at DESC, r.rowid DESC LIMIT 1",
        )
        .bind(owner)
        .bind(ADMITTED)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// [`Store::last_admitted_commit`] with `owner`'s files at that revision.
    pub async fn last_admitted(
        &self,
        owner: &str,
    ) -> Result<Option<(String, Vec<(String, String)>)>, StoreError> {
        let Some(commit) = self.last_admitted_commit(owner).await? else {
            return Ok(None);
        };
        let files = self.team_files(&commit, owner).await?.unwrap_or_default();
        Ok(Some((commit, files)))
    }

    /// Holds the live state at `pin.commit` (for `pin.team` only, or every team) until a
    /// commit other than `pin.head` arrives or the operator resumes. One pin at a time.
    pub async fn set_pin(&self, pin: &Pin) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO pins (id, \"commit\", team, pinned_at, actor, head) VALUES (1, $1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET \"commit\" = excluded.\"commit\", team = excluded.team, \
             pinned_at = excluded.pinned_at, actor = excluded.actor, head = excluded.head",
        )
        .bind(&pin.commit)
        .bind(&pin.team)
        .bind(pin.pinned_at)
        .bind(&pin.actor)
        .bind(&pin.head)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.note_operator_action().await?;
        Ok(())
    }

    /// The pin, if any.
    pub async fn pin(&self) -> Result<Option<Pin>, StoreError> {
        Ok(sqlx::query_as::<_, Pin>(
            "SELECT \"commit\", team, pinned_at, actor, head FROM pins WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes the pin; whether there was one.
    pub async fn clear_pin(&self) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM pins WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.note_operator_action().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Says that what the daemon must do changed (a hold, a release, a pin set or lifted):
    /// the running daemon reconciles within a second ([`Store::operator_actions`]). Every
    /// write of a hold or a pin calls it, so no command can forget to.
    async fn note_operator_action(&self) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE operator_actions SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Passes a trigger (a webhook a standby instance received) to the leader, which
    /// reconciles within a second as for an operator's action.
    pub async fn pass_trigger(&self) -> Result<(), StoreError> {
        self.note_operator_action().await
    }

    /// How many operator actions were noted so far; the daemon compares it with what it saw.
    pub async fn operator_actions(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT generation FROM operator_actions WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Holds `team` at what is live on AWS (again: the reason and actor are replaced, the
    /// time kept).
    pub async fn set_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO holds (team, reason, actor, since) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team) DO UPDATE SET reason = excluded.reason, actor = excluded.actor",
        )
        .bind(&hold.team)
        .bind(&hold.reason)
        .bind(&hold.actor)
        .bind(hold.since)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.record_event(&OperatorEvent {
            at: hold.since,
            action: EventAction::Hold,
            team: Some(hold.team.clone()),
            actor: hold.actor.clone(),
            reason: hold.reason.clone(),
            commit: None,
        })
        .await?;
        self.note_operator_action().await?;
        Ok(())
    }

    /// The teams held, by name.
    pub async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        Ok(
            sqlx::query_as::<_, Hold>("SELECT team, reason, actor, since FROM holds ORDER BY team")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Lifts the hold on `team` (recorded as `actor`'s at `now`); whether there was one.
    pub async fn release_hold(
        &self,
        team: &str,
        actor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM holds WHERE team = $1")
            .bind(team)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let released = done.rows_affected() > 0;
        if released {
            self.record_event(&OperatorEvent {
                at: now,
                action: EventAction::Release,
                team: Some(team.to_string()),
                actor: actor.to_string(),
                reason: None,
                commit: None,
            })
            .await?;
        }
        self.note_operator_action().await?;
        Ok(released)
    }

    /// Raises (or refreshes) the condition `kind` about `commit`. Raising it again for the
    /// same commit keeps `since`; for another commit it starts over.
    pub async fn raise_condition(
        &self,
        kind: &str,
        commit: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO conditions (kind, \"commit\", detail, since, updated) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind) DO UPDATE SET detail = excluded.detail, updated = excluded.updated, \
             since = CASE WHEN conditions.\"commit\" = excluded.\"commit\" THEN conditions.since \
             ELSE excluded.since END, \"commit\" = excluded.\"commit\"",
        )
        .bind(kind)
        .bind(commit)
        .bind(detail)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears the condition `kind`; whether it was raised.
    pub async fn clear_condition(&self, kind: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM conditions WHERE kind = $1")
            .bind(kind)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every raised condition, by kind.
    pub async fn conditions(&self) -> Result<Vec<Condition>, StoreError> {
        Ok(sqlx::query_as::<_, Condition>(
            "SELECT kind, \"commit\", detail, since, updated FROM conditions ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// When `commit` was last confirmed live: the end of the newest successful apply of it.
    pub async fn applied_at(&self, commit: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(finished_at) FROM applies WHERE \"commit\" = $1 AND outcome = 'succeeded'",
        )
        .bind(commit)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Creates the parent directory and the database file (mode 0600) if missing, and narrows the
/// file's permissions to 0600 if they are wider.
fn prepare_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::config::permissions::create_private_dir(parent)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The key an owner's state is stored under: the SHA-256 of its verdict, diagnostics and
/// files (each length-prefixed, so no two contents share a key).
fn state_digest(verdict: &str, diagnostics: &str, files: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [verdict, diagnostics, files] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn parse_json(text: &str, what: impl FnOnce() -> String) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        what: what(),
        error,
    })
}

fn parse_files(
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<Vec<(String, String)>, StoreError> {
    let files: Vec<StoredFile> =
        serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
            what: what(),
            error,
        })?;
    Ok(files.into_iter().map(|f| (f.path, f.text)).collect())
}

/// Counts diagnostics of severity `refusal` or `error` in a serialised `[Diagnostic]`.
fn count_errors(diagnostics: &serde_json::Value) -> usize {
    diagnostics.as_array().map_or(0, |list| {
        list.iter()
            .filter(|d| {
                matches!(
                    d.get("severity").and_then(|s| s.as_str()),
                    Some("refusal" | "error")
                )
            })
            .count()
    })
}
