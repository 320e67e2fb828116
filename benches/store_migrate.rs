//! `gwsync store migrate` at a realistic size: a SQLite history of TEAMS teams (one 2 KB file
//! each) over REVISIONS one-team commits, copied into a fresh PostgreSQL database and back
//! into a new SQLite file. Prints the size and the time of each step; asserts nothing (a
//! measurement, reported in docs/PERFORMANCE.md).
//!
//! Needs a PostgreSQL server: `GWSYNC_TEST_POSTGRES_URL` (scripts/postgres start DIR prints
//! one). Sizes: `GWSYNC_BENCH_TEAMS` (default 500), `GWSYNC_BENCH_REVISIONS` (default 200).
//!
//!     d=$(mktemp -d); chmod 755 $d
//!     GWSYNC_TEST_POSTGRES_URL=$(scripts/postgres start $d) cargo bench --bench store_migrate
//!     scripts/postgres stop $d

use gwsync::source::Revision;
use gwsync::store::{Location, Store};
use sqlx::Connection;
use std::time::Instant;

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn commit(i: u32) -> String {
    format!("{i:08x}{}", "0".repeat(32))
}

/// `teams` teams at revision 0, then one team's file changed per revision.
async fn record_history(store: &Store, teams: u32, revisions: u32) {
    let mut versions = vec![0; teams as usize];
    for i in 0..revisions {
        if i > 0 {
            versions[(i % teams) as usize] = i;
        }
        let revision = Revision {
            commit: commit(i),
            author: "Ada <ada@example.com>".into(),
            committed_at: i64::from(i),
            summary: "commit".into(),
        };
        store
            .record_revision(&revision, i64::from(i))
            .await
            .unwrap();
        for (team, version) in versions.iter().enumerate() {
            let text = format!("team {team}, version {version}: {}", "x".repeat(2000));
            let files = [(format!("teams/team-{team}/routes.yaml"), text)];
            store
                .record_snapshot(&commit(i), &format!("team-{team}"), "admitted", &[], &files)
                .await
                .unwrap();
        }
    }
}

async fn fresh_postgres(cluster: &str) -> String {
    let name = format!("gwsync_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(cluster).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut url = url::Url::parse(cluster).unwrap();
    url.set_path(&name);
    url.to_string()
}

fn main() {
    let cluster = std::env::var("GWSYNC_TEST_POSTGRES_URL")
        .expect("GWSYNC_TEST_POSTGRES_URL: a PostgreSQL server (scripts/postgres start DIR)");
    let teams = env_number("GWSYNC_BENCH_TEAMS", 500);
    let revisions = env_number("GWSYNC_BENCH_REVISIONS", 200);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gwsync.db");
        let sqlite = Store::open(&path).await.unwrap();
        let started = Instant::now();
        record_history(&sqlite, teams, revisions).await;
        println!(
            "recorded {teams} teams x {revisions} revisions into SQLite in {:.1?}",
            started.elapsed()
        );
        let postgres = Location::parse(&fresh_postgres(&cluster).await).unwrap();
        let postgres = Store::at(&postgres, None).await.unwrap();
        let started = Instant::now();
        let copied = sqlite.copy_into(&postgres).await.unwrap();
        println!(
            "SQLite -> PostgreSQL: {:.1?} ({copied:?})",
            started.elapsed()
        );
        let back = Store::open(&dir.path().join("back.db")).await.unwrap();
        let started = Instant::now();
        postgres.copy_into(&back).await.unwrap();
        println!("PostgreSQL -> SQLite: {:.1?}", started.elapsed());
    });
}
