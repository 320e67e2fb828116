//! Retention: which recorded revisions may go, and removing them with what only they use.
//!
//! A revision is kept while it is among the newest `keep_revisions`, or was first seen within
//! `keep_days`; whatever its age, it is never removed while something still needs it: the
//! newest revision, the pin's revisions, any team's live or wanted revision, each owner's last
//! admitted revision (the last good state a refused team falls back to), and a revision with
//! an apply in flight. Removing a revision removes its snapshots and applies; an owner state
//! no snapshot refers to any more goes with them.

use super::{ADMITTED, Store, StoreError};
use crate::config::StoreConfig;
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 24 * 60 * 60;

/// The revisions these rows need, and what to call the need.
const NEEDED_BY: [(&str, &str); 4] = [
    (
        "SELECT \"commit\" FROM pins UNION SELECT head FROM pins",
        "pinned by a rollback",
    ),
    ("SELECT live_commit FROM team_states", "live for a team"),
    ("SELECT wanted_commit FROM team_states", "wanted for a team"),
    (
        "SELECT \"commit\" FROM applies WHERE finished_at IS NULL",
        "an apply in flight",
    ),
];

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest revisions kept whatever their age; None: all.
    pub keep_revisions: Option<u64>,
    /// Revisions first seen within this many days are kept; None: no age limit.
    pub keep_days: Option<u64>,
}

impl Retention {
    /// `[store]`'s `keep_revisions` and `keep_days` (0 turns either off).
    pub fn of(config: &StoreConfig) -> Retention {
        Retention {
            keep_revisions: (config.keep_revisions > 0).then_some(config.keep_revisions),
            keep_days: (config.keep_days > 0).then_some(config.keep_days),
        }
    }

    /// Whether anything may ever go.
    pub fn limits_anything(&self) -> bool {
        self.keep_revisions.is_some() || self.keep_days.is_some()
    }

    /// Whether the revision at `index` (0: the newest), first seen at `seen`, is within
    /// retention at `now`.
    fn keeps(&self, index: usize, seen: i64, now: i64) -> bool {
        if !self.limits_anything() {
            return true;
        }
        let by_count = self.keep_revisions.is_some_and(|n| (index as u64) < n);
        let by_age = self
            .keep_days
            .is_some_and(|days| seen >= now - days as i64 * DAY);
        by_count || by_age
    }
}

/// What [`Store::prune`] removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The revisions removed, oldest first.
    pub revisions: Vec<String>,
    /// Revisions outside retention kept because something needs them, with why.
    pub protected: BTreeMap<String, &'static str>,
    /// Revisions left.
    pub kept: usize,
    /// Owner states no revision refers to any more, removed.
    pub states: u64,
}

impl Store {
    /// Removes the revisions `retention` lets go (see the module doc); with `dry_run`, only
    /// says which.
    pub async fn prune(
        &self,
        retention: &Retention,
        now: i64,
        dry_run: bool,
    ) -> Result<Pruned, StoreError> {
        let revisions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT \"commit\", first_seen_at FROM revisions ORDER BY first_seen_at DESC, rowid DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let outside: Vec<&(String, i64)> = revisions
            .iter()
            .enumerate()
            .filter(|(index, (_, seen))| *index > 0 && !retention.keeps(*index, *seen, now))
            .map(|(_, revision)| revision)
            .collect();
        let mut pruned = Pruned {
            kept: revisions.len(),
            ..Pruned::default()
        };
        if outside.is_empty() {
            return Ok(pruned);
        }
        let needed = self.needed_revisions().await?;
        let mut tx = self.write().await?;
        for (commit, _) in outside.iter().rev() {
            if let Some(why) = needed.get(commit) {
                pruned.protected.insert(commit.clone(), why);
                continue;
            }
            pruned.revisions.push(commit.clone());
            if dry_run {
                continue;
            }
            sqlx::query("DELETE FROM applies WHERE \"commit\" = $1")
                .bind(commit)
                .execute(&mut *tx)
                .await?;
            // Its snapshots go with it (ON DELETE CASCADE).
            sqlx::query("DELETE FROM revisions WHERE \"commit\" = $1")
                .bind(commit)
                .execute(&mut *tx)
                .await?;
        }
        if !dry_run {
            pruned.states = sqlx::query(
                "DELETE FROM owner_states WHERE id NOT IN (SELECT state FROM snapshots)",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        pruned.kept = revisions.len() - pruned.revisions.len();
        Ok(pruned)
    }

    /// Revisions something still needs, with what needs them.
    async fn needed_revisions(&self) -> Result<BTreeMap<String, &'static str>, StoreError> {
        let mut needed = BTreeMap::new();
        let mut add = |commits: Vec<Option<String>>, why: &'static str| {
            for commit in commits.into_iter().flatten() {
                needed.entry(commit).or_insert(why);
            }
        };
        for (sql, why) in NEEDED_BY {
            add(sqlx::query_scalar(sql).fetch_all(&self.pool).await?, why);
        }
        // Each owner's newest admitted revision: its last good state.
        let admitted: Vec<(String, String)> = sqlx::query_as(
            "SELECT s.owner, s.\"commit\" FROM snapshots s \
             JOIN owner_states o ON o.id = s.state \
             JOIN revisions r ON r.\"commit\" = s.\"commit\" \
             WHERE o.verdict = $1 ORDER BY r.first_seen_at DESC, r.rowid DESC",
        )
        .bind(ADMITTED)
        .fetch_all(&self.pool)
        .await?;
        let mut owners = BTreeSet::new();
        let last_good = admitted
            .into_iter()
            .filter(|(owner, _)| owners.insert(owner.clone()))
            .map(|(_, commit)| Some(commit))
            .collect();
        add(last_good, "a team's last admitted state");
        Ok(needed)
    }

    /// Makes the SQLite file as small as what it holds (after a prune freed pages). Takes the
    /// database for its duration: for `gwsync store prune`, not the daemon. PostgreSQL's
    /// autovacuum reuses the space on its own: nothing is done there.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        if self.engine() == super::Engine::Sqlite {
            sqlx::raw_sql("VACUUM").execute(&self.pool).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_goes_only_when_neither_setting_keeps_it() {
        let now = 100 * DAY;
        let both = Retention {
            keep_revisions: Some(2),
            keep_days: Some(7),
        };
        assert!(both.keeps(1, 0, now), "among the newest 2");
        assert!(both.keeps(5, now - 3 * DAY, now), "seen 3 days ago");
        assert!(
            !both.keeps(5, now - 8 * DAY, now),
            "old and not among the newest"
        );
        let none = Retention {
            keep_revisions: None,
            keep_days: None,
        };
        assert!(none.keeps(10_000, 0, now), "no limits: everything stays");
        let count_only = Retention {
            keep_revisions: Some(3),
            keep_days: None,
        };
        assert!(
            !count_only.keeps(3, now, now),
            "the fourth newest goes even if new"
        );
    }
}
