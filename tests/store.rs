//! The state database against real SQLite files and a real PostgreSQL server (the cluster
//! `scripts/test` starts): what the store does is tested on both engines
//! ([`on_both_engines!`]); what only a file has (permissions, WAL, the migration of old
//! schemas, its size) on SQLite.

mod support;

use gwsync::diagnostic::{Code, Diagnostic, Severity};
use gwsync::source::Revision;
use gwsync::store::{LeaseClaim, LeaseName, Location, Store, StoreError};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

fn revision(commit: &str, summary: &str, committed_at: i64) -> Revision {
    Revision {
        commit: commit.to_string(),
        author: "Ada <ada@example.com>".to_string(),
        committed_at,
        summary: summary.to_string(),
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state").join("gwsync.db")
}

fn files(text: &str) -> Vec<(String, String)> {
    vec![("teams/a/route.yaml".to_string(), text.to_string())]
}

const C1: &str = "1111aaaa00000000000000000000000000000001";
const C2: &str = "2222bbbb00000000000000000000000000000002";
const C3: &str = "2222cccc00000000000000000000000000000003";

#[tokio::test]
async fn open_creates_a_private_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let _store = Store::open(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn open_narrows_wide_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gwsync.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Root running a command on the daemon's state directory would leave root-owned files
/// there (the database's `-wal`), locking the daemon out: refused before anything is written.
#[tokio::test]
async fn a_database_where_another_user_owns_the_directory_is_refused_untouched() {
    use std::os::unix::fs::MetadataExt;
    let scratch = tempfile::tempdir().unwrap();
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    // Another user's directory: as root, one handed to `nobody`; as anyone else, root's `/`.
    let foreign = if me == 0 {
        let dir = scratch.path().join("daemons");
        std::fs::create_dir(&dir).unwrap();
        std::process::Command::new("chown")
            .args(["65534", dir.to_str().unwrap()])
            .status()
            .unwrap();
        dir
    } else {
        PathBuf::from("/")
    };
    let owner = std::fs::metadata(&foreign).unwrap().uid();
    assert_ne!(owner, me, "the directory must be another user's");
    let path = foreign.join("state").join("gwsync.db");
    match Store::open(&path).await {
        Err(StoreError::ForeignOwner {
            path: named,
            owner: o,
        }) => {
            assert_eq!(named, foreign);
            assert_eq!(o, owner);
        }
        other => panic!("expected ForeignOwner, got {other:?}"),
    }
    assert!(!foreign.join("state").exists(), "nothing was written");
}

#[tokio::test]
async fn reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    store
        .record_revision(&revision(C1, "first", 100), 1000)
        .await
        .unwrap();
    store.close().await;

    let store = Store::open(&path).await.unwrap();
    let history = store.history(None, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].commit, C1);
    assert_eq!(history[0].first_seen_at, 1000);
}

#[tokio::test]
async fn wal_mode_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    store.close().await;

    let pool = sqlx::sqlite::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
    )
    .await
    .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_gwsync_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    store.close().await;

    let pool = sqlx::sqlite::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations \
         (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    match Store::open(&path).await {
        Err(err @ StoreError::NewerSchema { found, known, .. }) => {
            assert_eq!(found, 99);
            // The newest migration this binary embeds: one file per version in migrations/.
            let embedded =
                std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
                    .unwrap()
                    .count() as i64;
            assert_eq!(known, embedded);
            let message = err.to_string();
            assert!(message.contains("newer gwsync"), "{message}");
            assert!(message.contains("99"), "{message}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

async fn records_read_back_through_history_show_and_last_applied(store: Store) {
    store
        .record_revision(&revision(C1, "first", 100), 1000)
        .await
        .unwrap();
    // Recording again keeps the first sighting.
    store
        .record_revision(&revision(C1, "first", 100), 5000)
        .await
        .unwrap();
    store
        .record_revision(&revision(C2, "second", 200), 2000)
        .await
        .unwrap();

    let refusal = Diagnostic::refusal(Code("bad-route"), "route is bad");
    let warning = Diagnostic::new(Severity::Warning, Code("meh"), "just saying");
    store
        .record_snapshot(C1, "platform", "admitted", &[], &[])
        .await
        .unwrap();
    store
        .record_snapshot(
            C1,
            "team-a",
            "admitted",
            std::slice::from_ref(&warning),
            &files("v1"),
        )
        .await
        .unwrap();
    store
        .record_snapshot(C2, "team-a", "refused", &[refusal, warning], &files("v2"))
        .await
        .unwrap();
    store
        .record_snapshot(C2, "team-b", "admitted", &[], &[])
        .await
        .unwrap();
    // Upsert replaces.
    store
        .record_snapshot(C2, "team-b", "admitted", &[], &files("b2"))
        .await
        .unwrap();

    let id = store
        .begin_apply(C1, "sync", "daemon", r#"{"changes":[]}"#, 1100)
        .await
        .unwrap();
    assert_eq!(store.last_applied().await.unwrap(), None);
    store
        .finish_apply(id, r#"{"done":1}"#, true, 1110)
        .await
        .unwrap();
    let failed = store
        .begin_apply(C2, "sync", "alice", r#"{"changes":[1]}"#, 2100)
        .await
        .unwrap();
    store
        .finish_apply(failed, r#"{"done":0}"#, false, 2110)
        .await
        .unwrap();
    assert!(matches!(
        store.finish_apply(12345, "{}", true, 1).await,
        Err(StoreError::NoSuchApply { id: 12345 })
    ));

    // History: newest first, with applies and verdicts.
    let history = store.history(None, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| h.commit.as_str())
            .collect::<Vec<_>>(),
        [C2, C1]
    );
    assert_eq!(history[1].first_seen_at, 1000);
    assert_eq!(history[0].summary, "second");
    assert_eq!(history[0].applies.len(), 1);
    assert_eq!(history[0].applies[0].outcome.as_deref(), Some("failed"));
    assert_eq!(history[0].applies[0].actor, "alice");
    let teams: Vec<_> = history[0]
        .teams
        .iter()
        .map(|t| (t.owner.as_str(), t.verdict.as_str(), t.errors))
        .collect();
    assert_eq!(teams, [("team-a", "refused", 1), ("team-b", "admitted", 0)]);
    assert_eq!(history[1].teams.len(), 2);
    assert_eq!(store.history(None, 1).await.unwrap().len(), 1);

    // History of one team: only revisions with its snapshot, only its verdict.
    let b = store.history(Some("team-b"), 10).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].commit, C2);
    assert_eq!(b[0].teams.len(), 1);
    assert_eq!(b[0].teams[0].owner, "team-b");
    assert_eq!(store.history(Some("team-a"), 10).await.unwrap().len(), 2);
    assert!(store.history(Some("nobody"), 10).await.unwrap().is_empty());

    // Show.
    let detail = store.show(&C1[..8]).await.unwrap().unwrap();
    assert_eq!(detail.commit, C1);
    assert_eq!(detail.snapshots.len(), 2);
    assert_eq!(detail.snapshots[1].owner, "team-a");
    assert_eq!(detail.snapshots[1].diagnostics[0]["code"], "meh");
    assert_eq!(detail.applies.len(), 1);
    assert_eq!(detail.applies[0].plan["changes"], serde_json::json!([]));
    assert_eq!(
        detail.applies[0].report,
        Some(serde_json::json!({"done": 1}))
    );
    assert_eq!(detail.applies[0].finished_at, Some(1110));
    // The whole detail serialises.
    serde_json::to_string(&detail).unwrap();

    // Last applied: the latest finished apply, whatever its outcome.
    assert_eq!(
        store.last_applied().await.unwrap(),
        Some((C2.to_string(), 2110, "failed".to_string()))
    );

    // Files and the last admitted snapshot of a team.
    assert_eq!(
        store.team_files(C2, "team-a").await.unwrap(),
        Some(files("v2"))
    );
    assert_eq!(store.team_files(C2, "team-c").await.unwrap(), None);
    assert_eq!(
        store.last_admitted("team-a").await.unwrap(),
        Some((C1.to_string(), files("v1")))
    );
    assert_eq!(
        store.last_admitted("team-b").await.unwrap(),
        Some((C2.to_string(), files("b2")))
    );
    assert_eq!(store.last_admitted("team-c").await.unwrap(), None);
}

async fn show_by_prefix_and_ambiguous_prefix(store: Store) {
    for (i, c) in [C1, C2, C3].into_iter().enumerate() {
        store
            .record_revision(&revision(c, "r", 1), i as i64)
            .await
            .unwrap();
    }
    assert_eq!(store.show("1111").await.unwrap().unwrap().commit, C1);
    assert_eq!(store.show("2222BBBB").await.unwrap().unwrap().commit, C2);
    assert_eq!(store.show(C3).await.unwrap().unwrap().commit, C3);
    assert!(store.show("ffff").await.unwrap().is_none());
    match store.show("2222").await {
        Err(StoreError::Ambiguous { prefix }) => assert_eq!(prefix, "2222"),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert!(matches!(
        store.show("111").await,
        Err(StoreError::BadPrefix { .. })
    ));
    assert!(matches!(
        store.show("11%_").await,
        Err(StoreError::BadPrefix { .. })
    ));
}

async fn a_pin_is_set_read_replaced_and_cleared(store: Store) {
    assert_eq!(store.pin().await.unwrap(), None);
    let pin = gwsync::store::Pin {
        commit: "a".repeat(40),
        team: Some("payments".into()),
        pinned_at: 10,
        actor: "cli:ann".into(),
        head: Some("b".repeat(40)),
    };
    store.set_pin(&pin).await.unwrap();
    assert_eq!(store.pin().await.unwrap(), Some(pin.clone()));
    let everyone = gwsync::store::Pin {
        team: None,
        head: None,
        ..pin
    };
    store.set_pin(&everyone).await.unwrap();
    assert_eq!(store.pin().await.unwrap(), Some(everyone));
    assert!(store.clear_pin().await.unwrap());
    assert!(!store.clear_pin().await.unwrap());
    assert_eq!(store.pin().await.unwrap(), None);
}

async fn a_condition_keeps_its_start_for_the_same_commit_and_starts_over_for_another(store: Store) {
    assert!(store.conditions().await.unwrap().is_empty());
    store
        .raise_condition("stalled", "aaaa", "first", 100)
        .await
        .unwrap();
    store
        .raise_condition("stalled", "aaaa", "again", 200)
        .await
        .unwrap();
    store
        .raise_condition("drift", "aaaa", "3 resources", 150)
        .await
        .unwrap();
    let c = store.conditions().await.unwrap();
    assert_eq!(
        c.iter()
            .map(|c| (
                c.kind.as_str(),
                c.commit.as_str(),
                c.detail.as_str(),
                c.since,
                c.updated
            ))
            .collect::<Vec<_>>(),
        [
            ("drift", "aaaa", "3 resources", 150, 150),
            ("stalled", "aaaa", "again", 100, 200),
        ]
    );
    store
        .raise_condition("stalled", "bbbb", "new commit", 300)
        .await
        .unwrap();
    let stalled = store
        .conditions()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == "stalled")
        .unwrap();
    assert_eq!((stalled.commit.as_str(), stalled.since), ("bbbb", 300));
    assert!(store.clear_condition("stalled").await.unwrap());
    assert!(!store.clear_condition("stalled").await.unwrap());
    assert_eq!(store.conditions().await.unwrap().len(), 1);
}

/// A commit id from a number: `c(7)` is `00000007` and 32 zeros.
fn c(n: u32) -> String {
    format!("{n:08x}{}", "0".repeat(32))
}

/// Records revision `c(i)` with one 2 KB file per team, team `t` at version `versions[t]`.
async fn record_teams(store: &Store, i: u32, versions: &[u32]) {
    store
        .record_revision(&revision(&c(i), "commit", i64::from(i)), i64::from(i))
        .await
        .unwrap();
    for (owner, version) in versions.iter().enumerate() {
        let text = format!("team {owner}, version {version}: {}", "x".repeat(2000));
        store
            .record_snapshot(
                &c(i),
                &format!("team-{owner}"),
                "admitted",
                &[],
                &files(&text),
            )
            .await
            .unwrap();
    }
}

/// `owners` teams with a file each, recorded at `commits` revisions (one a second); at
/// revision i > 0 only team `i % owners` changes its file (to version i).
async fn record_history(store: &Store, owners: u32, commits: u32) {
    let mut versions = vec![0; owners as usize];
    for i in 0..commits {
        if i > 0 {
            versions[(i % owners) as usize] = i;
        }
        record_teams(store, i, &versions).await;
    }
}

async fn count(path: &std::path::Path, table: &str) -> i64 {
    let pool = sqlx::sqlite::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(path),
    )
    .await
    .unwrap();
    let sql = match table {
        "owner_states" => "SELECT count(*) FROM owner_states",
        "snapshots" => "SELECT count(*) FROM snapshots",
        other => panic!("no count for {other}"),
    };
    let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn an_owner_that_did_not_change_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    record_history(&store, 50, 21).await;
    // 50 first states, then one new state per one-team commit: not 50 × 21.
    assert_eq!(count(&path, "owner_states").await, 50 + 20);
    assert_eq!(count(&path, "snapshots").await, 50 * 21);
    // Every revision still reads back as it was.
    let at_7 = store.team_files(&c(7), "team-7").await.unwrap().unwrap();
    assert!(at_7[0].1.starts_with("team 7, version 7:"), "{at_7:?}");
    let at_8 = store.team_files(&c(8), "team-7").await.unwrap().unwrap();
    assert!(
        at_8[0].1.starts_with("team 7, version 7:"),
        "unchanged since 7"
    );
    let at_3 = store.team_files(&c(3), "team-7").await.unwrap().unwrap();
    assert!(at_3[0].1.starts_with("team 7, version 0:"));
    let history = store.history(Some("team-7"), 100).await.unwrap();
    assert_eq!(history.len(), 21);
}

/// A database written before owner states were stored by content (schema 7) keeps every
/// snapshot through the migration.
#[tokio::test]
async fn snapshots_of_an_older_schema_survive_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Schema 7, made by the migrations as they were then.
    let old = tempfile::tempdir().unwrap();
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap()
    {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "0008" {
            std::fs::copy(entry.path(), old.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::sqlite::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO revisions (\"commit\", author, summary, committed_at, first_seen_at) \
         VALUES (?, 'Ada', 'old', 1, 1)",
    )
    .bind(C1)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO team_snapshots (\"commit\", owner, verdict, diagnostics, files) \
         VALUES (?, 'team-a', 'admitted', '[]', '[{\"path\":\"teams/a/r.yaml\",\"text\":\"kept\"}]')",
    )
    .bind(C1)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.team_files(C1, "team-a").await.unwrap(),
        Some(vec![("teams/a/r.yaml".to_string(), "kept".to_string())])
    );
    assert_eq!(
        store
            .last_admitted_commit("team-a")
            .await
            .unwrap()
            .as_deref(),
        Some(C1)
    );
    // New snapshots are stored by content next to the migrated one.
    store
        .record_revision(&revision(C2, "new", 2), 2)
        .await
        .unwrap();
    store
        .record_snapshot(C2, "team-a", "admitted", &[], &files("kept"))
        .await
        .unwrap();
    assert_eq!(
        store
            .last_admitted_commit("team-a")
            .await
            .unwrap()
            .as_deref(),
        Some(C2)
    );
}

#[tokio::test]
async fn retention_removes_old_revisions_but_never_what_is_still_needed() {
    use gwsync::store::{Pin, Retention, TeamRecord, TeamState};
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    record_history(&store, 3, 10).await;
    // team-2 is refused from revision 6 on: its last good state is revision 5.
    for i in 6..10 {
        store
            .record_snapshot(&c(i), "team-2", "refused", &[], &files("broken"))
            .await
            .unwrap();
    }
    store
        .set_pin(&Pin {
            commit: c(3),
            team: None,
            pinned_at: 0,
            actor: "test".to_string(),
            head: None,
        })
        .await
        .unwrap();
    store
        .put_team_records(&[TeamRecord {
            team: "team-1".to_string(),
            state: TeamState::Failed,
            live_commit: Some(c(1)),
            live_at: Some(1),
            wanted_commit: c(9),
            files_digest: "d".to_string(),
            reason: None,
            failures: 1,
            since: 1,
            updated: 1,
        }])
        .await
        .unwrap();
    let retention = Retention {
        keep_revisions: Some(2),
        keep_days: None,
    };

    let dry = store.prune(&retention, 100, true).await.unwrap();
    assert_eq!(dry.revisions, vec![c(0), c(2), c(4), c(6), c(7)]);
    assert_eq!(store.history(None, 100).await.unwrap().len(), 10, "dry run");

    let pruned = store.prune(&retention, 100, false).await.unwrap();
    assert_eq!(pruned.revisions, dry.revisions);
    assert_eq!(pruned.protected[&c(1)], "live for a team");
    assert_eq!(pruned.protected[&c(3)], "pinned by a rollback");
    assert_eq!(pruned.protected[&c(5)], "a team's last admitted state");
    let left: Vec<String> = store
        .history(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.commit)
        .collect();
    assert_eq!(left, vec![c(9), c(8), c(5), c(3), c(1)]);
    assert_eq!(pruned.kept, 5);
    // What a refused team falls back to is still there, and nothing dangles.
    let (commit, files) = store.last_admitted("team-2").await.unwrap().unwrap();
    assert_eq!(commit, c(5));
    assert!(files[0].1.starts_with("team 2, version 5:"));
    assert_eq!(count(&path, "snapshots").await, 5 * 3);
    let states: i64 = count(&path, "owner_states").await;
    assert!(
        pruned.states > 0,
        "states only the removed revisions used are gone"
    );
    assert!(states <= 5 * 3, "{states}");
    // Nothing more to do.
    assert!(
        store
            .prune(&retention, 100, false)
            .await
            .unwrap()
            .revisions
            .is_empty()
    );
}

/// The database grows by about the change, not by the repository: at 500 teams, a commit that
/// changes one team adds one small row per team and that team's files (target: at most 50 KB;
/// it was 2.3 MB when every snapshot held every file). The figure is printed for
/// docs/PERFORMANCE.md.
#[tokio::test]
async fn a_one_team_commit_at_500_teams_adds_less_than_50_kb() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).await.unwrap();
    let size = |_: Store| {
        let path = path.clone();
        async move {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(
                    &sqlx::sqlite::SqlitePool::connect_with(
                        sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
                    )
                    .await
                    .unwrap(),
                )
                .await
                .unwrap();
            std::fs::metadata(&path).unwrap().len()
        }
    };
    record_history(&store, 500, 1).await;
    let before = size(store.clone()).await;
    const COMMITS: u32 = 5;
    for i in 1..=COMMITS {
        // Only team i changes; every other team is as in the first revision.
        let mut versions = vec![0; 500];
        versions[i as usize] = i;
        record_teams(&store, i, &versions).await;
    }
    let after = size(store.clone()).await;
    let per_commit = (after - before) / u64::from(COMMITS);
    eprintln!(
        "500 teams: {before} bytes after the first revision, +{per_commit} bytes per one-team commit"
    );
    assert!(per_commit <= 50 * 1024, "{per_commit} bytes per commit");
}

#[tokio::test]
async fn store_prune_says_what_it_removes_and_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gwsync.db");
    let store = Store::open(&path).await.unwrap();
    record_history(&store, 2, 6).await;
    store.close().await;
    let prune = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gwsync"))
            .args(["store", "prune", "--keep-revisions", "2", "--state-dir"])
            .arg(dir.path())
            .args(extra)
            .env_remove("GWSYNC_CONFIG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let dry = prune(&["--dry-run"]);
    assert!(
        dry.starts_with("would remove 4 revisions and keep 2"),
        "{dry}"
    );
    let done = prune(&[]);
    assert!(done.starts_with("removed 4 revisions and kept 2"), "{done}");
    assert!(done.contains(&format!("removed {}", &c(0)[..12])), "{done}");
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.history(None, 100).await.unwrap().len(), 2);
}

/// A fresh SQLite store in a temporary directory (kept while the store is used).
async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db_path(&dir)).await.unwrap();
    (dir, store)
}

/// A fresh PostgreSQL store: a new database on the test cluster.
async fn postgres_store() -> Store {
    let url = support::postgres::fresh_database().await;
    Store::at(&Location::parse(&url).unwrap(), None)
        .await
        .unwrap()
}

/// Runs each `async fn name(store: Store)` twice: `sqlite::name` on a fresh file,
/// `postgres::name` on a fresh database.
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (_dir, store) = super::sqlite_store().await;
                    super::$test(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::postgres_store().await).await;
                }
            )*
        }
    };
}

on_both_engines!(
    records_read_back_through_history_show_and_last_applied,
    show_by_prefix_and_ambiguous_prefix,
    a_pin_is_set_read_replaced_and_cleared,
    a_condition_keeps_its_start_for_the_same_commit_and_starts_over_for_another,
    a_lease_admits_one_holder_and_names_it,
    a_lease_expires_unless_renewed_and_every_take_raises_the_epoch,
    a_lease_of_a_dead_process_on_this_host_is_taken_at_once,
    racing_takers_get_exactly_one_lease,
    a_fenced_write_of_a_deposed_holder_records_nothing,
    taking_the_apply_lease_closes_the_applies_a_dead_holder_left_unfinished,
    the_store_api_stores_an_owner_once_and_prunes_the_same_way,
    a_history_copied_into_another_store_reads_back_the_same,
    team_records_and_operator_events_read_back_and_unstall,
    status_shows_the_leader_who_applies_and_every_instance,
);

fn claim(holder: &str, pid: u32) -> LeaseClaim {
    LeaseClaim {
        holder: holder.to_string(),
        host: gwsync::store::lease::this_host(),
        pid,
    }
}

const LONG: Duration = Duration::from_secs(600);

async fn a_lease_admits_one_holder_and_names_it(store: Store) {
    let me = std::process::id();
    let lease = store
        .take_lease(LeaseName::Apply, &claim("daemon@a", me), LONG)
        .await
        .unwrap();
    match store
        .take_lease(LeaseName::Apply, &claim("cli:ann", me), LONG)
        .await
    {
        Err(err @ StoreError::Held(_)) => {
            let message = err.to_string();
            assert!(message.contains("daemon@a"), "{message}");
            assert!(message.contains(&format!("pid {me}")), "{message}");
            assert!(
                message.contains(&format!("epoch {}", lease.epoch)),
                "{message}"
            );
        }
        other => panic!("expected Held, got {other:?}"),
    }
    // The other lease is independent.
    store
        .take_lease(LeaseName::Leader, &claim("daemon@a", me), LONG)
        .await
        .unwrap();
    assert!(store.release_lease(&lease).await.unwrap());
    assert!(!store.release_lease(&lease).await.unwrap(), "released once");
    let next = store
        .take_lease(LeaseName::Apply, &claim("cli:ann", me), LONG)
        .await
        .unwrap();
    assert_eq!(next.epoch, lease.epoch + 1);
    let held = store.lease(LeaseName::Apply).await.unwrap();
    assert!(held.is_held());
    assert_eq!((held.holder.as_str(), held.epoch), ("cli:ann", next.epoch));
}

async fn a_lease_expires_unless_renewed_and_every_take_raises_the_epoch(store: Store) {
    let me = std::process::id();
    let short = Duration::from_millis(400);
    let first = store
        .take_lease(LeaseName::Leader, &claim("a", me), short)
        .await
        .unwrap();
    // Renewed, it stays held past its first expiry.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.renew_lease(&first, short).await.unwrap());
        assert!(matches!(
            store
                .take_lease(LeaseName::Leader, &claim("b", me), short)
                .await,
            Err(StoreError::Held(_))
        ));
    }
    // Not renewed, it expires and is taken at the next epoch.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!store.lease(LeaseName::Leader).await.unwrap().is_held());
    let second = store
        .take_lease(LeaseName::Leader, &claim("b", me), LONG)
        .await
        .unwrap();
    assert_eq!(second.epoch, first.epoch + 1);
    assert!(
        !store.renew_lease(&first, short).await.unwrap(),
        "the old holder cannot renew a lease taken over"
    );
}

async fn a_lease_of_a_dead_process_on_this_host_is_taken_at_once(store: Store) {
    // pid 999999 is almost surely not running (checked).
    assert!(!std::path::Path::new("/proc/999999").exists());
    let ghost = store
        .take_lease(LeaseName::Apply, &claim("ghost", 999_999), LONG)
        .await
        .unwrap();
    let taken = store
        .take_lease(LeaseName::Apply, &claim("cli", std::process::id()), LONG)
        .await
        .unwrap();
    assert_eq!(taken.epoch, ghost.epoch + 1);
    // On another host a pid says nothing: only expiry frees it.
    let elsewhere = LeaseClaim {
        host: "another-host".into(),
        ..claim("remote", 999_999)
    };
    store.release_lease(&taken).await.unwrap();
    store
        .take_lease(LeaseName::Apply, &elsewhere, LONG)
        .await
        .unwrap();
    assert!(matches!(
        store
            .take_lease(LeaseName::Apply, &claim("cli", std::process::id()), LONG)
            .await,
        Err(StoreError::Held(_))
    ));
}

async fn racing_takers_get_exactly_one_lease(store: Store) {
    for round in 0..10 {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let task = |name: &'static str| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .take_lease(LeaseName::Apply, &claim(name, std::process::id()), LONG)
                    .await
            })
        };
        let (ta, tb) = (task("a"), task("b"));
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let winners: Vec<_> = [&ra, &rb]
            .into_iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {ra:?} / {rb:?}");
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::Held(_)), "{e:?}");
            }
        }
        assert!(store.release_lease(winners[0]).await.unwrap());
    }
}

async fn a_fenced_write_of_a_deposed_holder_records_nothing(store: Store) {
    let me = std::process::id();
    store
        .record_revision(&revision(C1, "one", 50), 100)
        .await
        .unwrap();
    let short = Duration::from_millis(200);
    let old = store
        .take_lease(LeaseName::Leader, &claim("old", me), short)
        .await
        .unwrap();
    let fenced = store.fenced(&old);
    fenced
        .raise_condition("drift", C1, "recorded by the leader", 1)
        .await
        .unwrap();
    // Paused past its lease; another takes it over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = store
        .take_lease(LeaseName::Leader, &claim("new", me), LONG)
        .await
        .unwrap();
    for attempt in [
        fenced
            .begin_apply(C1, "sync", "old", "{}", 2)
            .await
            .map(|_| ()),
        fenced
            .set_hold(&gwsync::store::Hold {
                team: "payments".into(),
                reason: None,
                actor: "old".into(),
                since: 2,
            })
            .await,
        fenced.raise_condition("drift", C1, "stale", 2).await,
        fenced.put_team_records(&[]).await,
    ] {
        match attempt {
            Err(StoreError::Deposed { epoch, .. }) => assert_eq!(epoch, old.epoch),
            other => panic!("a deposed holder wrote: {other:?}"),
        }
    }
    assert!(store.holds().await.unwrap().is_empty());
    assert_eq!(store.history(None, 10).await.unwrap()[0].applies.len(), 0);
    assert_eq!(
        store.conditions().await.unwrap()[0].detail,
        "recorded by the leader"
    );
    // The new holder's writes go through, recorded under its epoch.
    let apply_lease = store
        .fenced(&new)
        .take_lease(LeaseName::Apply, &claim("new", me), LONG)
        .await
        .unwrap();
    let id = store
        .fenced(&apply_lease)
        .begin_apply(C1, "sync", "new", "{}", 3)
        .await
        .unwrap();
    let applies = &store.history(None, 10).await.unwrap()[0].applies;
    assert_eq!(
        (applies[0].id, applies[0].epoch),
        (id, Some(apply_lease.epoch))
    );
}

async fn taking_the_apply_lease_closes_the_applies_a_dead_holder_left_unfinished(store: Store) {
    store
        .record_revision(&revision(C1, "one", 50), 100)
        .await
        .unwrap();
    let ghost = store
        .take_lease(LeaseName::Apply, &claim("ghost", 999_999), LONG)
        .await
        .unwrap();
    let killed = store
        .fenced(&ghost)
        .begin_apply(C1, "sync", "ghost", "{}", 101)
        .await
        .unwrap();
    // The ghost died mid-apply; the next holder closes its apply.
    store
        .take_lease(LeaseName::Apply, &claim("cli", std::process::id()), LONG)
        .await
        .unwrap();
    let history = store.history(None, 10).await.unwrap();
    let apply = history[0].applies.iter().find(|a| a.id == killed).unwrap();
    assert_eq!(apply.outcome.as_deref(), Some("interrupted"));
    assert!(apply.finished_at.is_some());
}

async fn the_store_api_stores_an_owner_once_and_prunes_the_same_way(store: Store) {
    use gwsync::store::Retention;
    record_history(&store, 5, 8).await;
    let at_3 = store.team_files(&c(3), "team-3").await.unwrap().unwrap();
    assert!(at_3[0].1.starts_with("team 3, version 3:"), "{at_3:?}");
    let at_6 = store.team_files(&c(6), "team-3").await.unwrap().unwrap();
    assert!(
        at_6[0].1.starts_with("team 3, version 3:"),
        "unchanged since 3"
    );
    assert_eq!(store.history(Some("team-3"), 100).await.unwrap().len(), 8);
    assert_eq!(
        store.last_admitted_commit("team-3").await.unwrap(),
        Some(c(7))
    );
    let retention = Retention {
        keep_revisions: Some(3),
        keep_days: None,
    };
    let pruned = store.prune(&retention, 1_000_000, false).await.unwrap();
    assert_eq!(pruned.revisions.len(), 5, "{pruned:?}");
    store.vacuum().await.unwrap();
    let left: Vec<String> = store
        .history(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.commit)
        .collect();
    assert_eq!(left, [c(7), c(6), c(5)]);
}

async fn a_history_copied_into_another_store_reads_back_the_same(store: Store) {
    // 30 teams over 8 revisions: 240 snapshots, more than one batch of rows.
    record_history(&store, 30, 8).await;
    let id = store
        .begin_apply(&c(3), "sync", "cli:ann", "{\"changes\":[]}", 10)
        .await
        .unwrap();
    store.finish_apply(id, "{}", true, 11).await.unwrap();
    store
        .set_hold(&gwsync::store::Hold {
            team: "team-1".into(),
            reason: Some("incident 7".into()),
            actor: "cli:ann".into(),
            since: 12,
        })
        .await
        .unwrap();
    // Into the other engine, and back into a third store of this one's.
    let (_other_dir, other_sqlite) = sqlite_store().await;
    let other = match store.engine() {
        gwsync::store::Engine::Sqlite => postgres_store().await,
        gwsync::store::Engine::Postgres => other_sqlite,
    };
    let (_dir, back) = sqlite_store().await;
    let copied = store.copy_into(&other).await.unwrap();
    assert!(
        copied.tables.contains(&("snapshots".to_string(), 240)),
        "{copied:?}"
    );
    other.copy_into(&back).await.unwrap();
    for copy in [&other, &back] {
        assert_eq!(
            copy.history(None, 100).await.unwrap(),
            store.history(None, 100).await.unwrap()
        );
        assert_eq!(
            copy.show(&c(3)[..8]).await.unwrap(),
            store.show(&c(3)[..8]).await.unwrap()
        );
        assert_eq!(copy.holds().await.unwrap(), store.holds().await.unwrap());
        assert_eq!(
            copy.operator_actions().await.unwrap(),
            store.operator_actions().await.unwrap()
        );
        assert_eq!(copy.newest_apply().await.unwrap(), Some(id));
        // New ids continue after the copied ones.
        let next = copy
            .begin_apply(&c(3), "sync", "x", "{}", 20)
            .await
            .unwrap();
        assert!(next > id, "{next} after {id}");
    }
    // A store that holds history already is not written over.
    assert!(matches!(
        store.copy_into(&other).await,
        Err(StoreError::Copy(_))
    ));
}

async fn team_records_and_operator_events_read_back_and_unstall(store: Store) {
    use gwsync::store::{EventAction, OperatorEvent, TeamRecord, TeamState};
    store
        .record_revision(&revision(C1, "one", 50), 100)
        .await
        .unwrap();
    let record = |team: &str, state: TeamState, failures: u32| TeamRecord {
        team: team.to_string(),
        state,
        live_commit: Some(C1.to_string()),
        live_at: Some(100),
        wanted_commit: C1.to_string(),
        files_digest: "d".repeat(64),
        reason: (state != TeamState::InSync).then(|| "AWS said no".to_string()),
        failures,
        since: 100,
        updated: 101,
    };
    let records = vec![
        record("orders", TeamState::Stalled, 4),
        record("payments", TeamState::InSync, 0),
    ];
    store.put_team_records(&records).await.unwrap();
    assert_eq!(store.team_records().await.unwrap(), records);
    assert_eq!(store.stalled_teams().await.unwrap(), ["orders"]);
    let before = store.operator_actions().await.unwrap();
    assert_eq!(store.unstall(None).await.unwrap(), ["orders"]);
    assert!(
        store.operator_actions().await.unwrap() > before,
        "the daemon is told"
    );
    assert!(store.stalled_teams().await.unwrap().is_empty());
    // A team no longer in the repository loses its record.
    store.put_team_records(&records[1..]).await.unwrap();
    assert_eq!(store.team_records().await.unwrap().len(), 1);
    let event = OperatorEvent {
        at: 200,
        action: EventAction::IgnoreFreeze,
        team: None,
        actor: "cli:ann".into(),
        reason: Some("incident 7".into()),
        commit: Some(C1.into()),
    };
    store.record_event(&event).await.unwrap();
    assert_eq!(store.events(10).await.unwrap(), [event]);
}

async fn status_shows_the_leader_who_applies_and_every_instance(store: Store) {
    let status = gwsync::status::collect(&store, None).await.unwrap();
    assert!(status.leader.is_none() && status.applying.is_none());
    let me = std::process::id();
    let leader = store
        .take_lease(LeaseName::Leader, &claim("daemon@a", me), LONG)
        .await
        .unwrap();
    store
        .take_lease(LeaseName::Apply, &claim("cli:ann\u{1b}[31m", me), LONG)
        .await
        .unwrap();
    let refused = store
        .take_lease(LeaseName::Apply, &claim("cli:bob", me), LONG)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("cli:ann") && !refused.contains('\u{1b}'),
        "{refused}"
    );
    store
        .note_instance(&claim("daemon@a", me), "0.1.0", "leader")
        .await
        .unwrap();
    let standby = LeaseClaim {
        host: "host-b".into(),
        ..claim("daemon@b", 42)
    };
    store
        .note_instance(&standby, "0.1.0", "standby")
        .await
        .unwrap();
    let status = gwsync::status::collect(&store, None).await.unwrap();
    let shown = status.leader.as_ref().unwrap();
    assert_eq!(
        (shown.holder.as_str(), shown.epoch),
        ("daemon@a", leader.epoch)
    );
    assert!(
        shown.expires_in_seconds > 500,
        "{}",
        shown.expires_in_seconds
    );
    let roles: Vec<(&str, &str)> = status
        .instances
        .iter()
        .map(|i| (i.holder.as_str(), i.role.as_str()))
        .collect();
    assert_eq!(roles.len(), 2);
    assert!(roles.contains(&("daemon@b", "standby")), "{roles:?}");
    assert!(
        status.instances.iter().all(|i| i.started.ends_with('Z')),
        "started as RFC 3339: {:?}",
        status.instances
    );
    let text = status.to_text();
    assert!(
        text.contains(&format!("leader: daemon@a (pid {me} on ")),
        "{text}"
    );
    assert!(text.contains("applying: cli:ann"), "{text}");
    assert!(!text.contains('\u{1b}'), "input is escaped: {text}");
    assert!(
        text.contains("instance: daemon@b (pid 42 on host-b) standby"),
        "{text}"
    );
}

/// PostgreSQL refuses a newer schema as SQLite does, and both know the same version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_from_a_newer_gwsync_is_refused() {
    use sqlx::Connection;
    let url = support::postgres::fresh_database().await;
    let location = Location::parse(&url).unwrap();
    let store = Store::at(&location, None).await.unwrap();
    let (_dir, sqlite) = sqlite_store().await;
    assert_eq!(store.known_schema(), sqlite.known_schema());
    store.close().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    match Store::at(&location, None).await {
        Err(StoreError::NewerSchema { found, known, .. }) => {
            assert_eq!((found, known), (99, sqlite.known_schema()));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

/// A lease keeper renews its lease; once another takes it, the keeper counts it lost and
/// closes the writes window it drives, so the AWS clients send nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_renews_and_closes_its_writes_window_when_the_lease_is_taken() {
    use gwsync::aws::client::WriteWindow;
    use gwsync::reconcile::lease::LeaseKeeper;
    let (_dir, store) = sqlite_store().await;
    let me = std::process::id();
    let writes = WriteWindow::default();
    let duration = Duration::from_millis(600);
    let keeper = LeaseKeeper::take(
        &store,
        LeaseName::Apply,
        &claim("cli:ann", me),
        duration,
        Some(&writes),
    )
    .await
    .unwrap();
    // Held well past its duration: renewed.
    tokio::time::sleep(duration * 3).await;
    assert!(keeper.is_held());
    assert!(writes.check().is_ok());
    assert!(keeper.renewals().0 >= 3, "{:?}", keeper.renewals());
    // Taken by another (its release forced, as an expiry would be): lost at the next renewal.
    store.release_lease(keeper.lease()).await.unwrap();
    store
        .take_lease(LeaseName::Apply, &claim("other", me), LONG)
        .await
        .unwrap();
    tokio::time::sleep(duration).await;
    assert!(!keeper.is_held());
    assert!(
        writes.check().is_err(),
        "no write goes out under a lost lease"
    );
    assert!(matches!(
        keeper
            .store()
            .begin_apply(C1, "sync", "cli:ann", "{}", 1)
            .await,
        Err(StoreError::Deposed { .. })
    ));
}

/// A relative `store.path` (or `--state-dir`) is under the working directory. (nextest runs
/// each test in its own process, so changing the directory touches no other test.)
#[tokio::test]
async fn a_relative_path_is_under_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let store = Store::open(std::path::Path::new("state/gwsync.db"))
        .await
        .unwrap();
    store
        .record_revision(&revision(C1, "first", 100), 1000)
        .await
        .unwrap();
    store.close().await;
    assert!(dir.path().join("state/gwsync.db").exists());
}

/// `gwsync store migrate`, the real binary: a SQLite history into PostgreSQL, each table's
/// rows counted; into a store that holds history already, refused with exit code 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copies_a_sqlite_history_into_postgres() {
    let (dir, store) = sqlite_store().await;
    record_history(&store, 4, 3).await;
    store.close().await;
    let url = support::postgres::fresh_database().await;
    let migrate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gwsync"))
            .args(["store", "migrate", "--from"])
            .arg(format!("sqlite:{}", db_path(&dir).display()))
            .args(["--to", &url])
            .env_remove("GWSYNC_CONFIG")
            .output()
            .unwrap()
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("revisions: 3 rows"), "{stdout}");
    assert!(stdout.contains("snapshots: 12 rows"), "{stdout}");
    let copy = Store::at(&Location::parse(&url).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(copy.history(None, 10).await.unwrap().len(), 3);
    let again = migrate();
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds 3 rows of revisions"),
        "{again:?}"
    );
}
