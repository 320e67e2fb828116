//! The PostgreSQL server the tests share: `scripts/test` starts a throwaway cluster
//! (`scripts/postgres`) and names it in `GWSYNC_TEST_POSTGRES_URL`; each test makes its own
//! database there, so tests never see each other's rows.

use sqlx::Connection;

/// The cluster's URL, or a panic that says how to get one.
pub fn cluster_url() -> String {
    std::env::var("GWSYNC_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "GWSYNC_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts \
             a throwaway PostgreSQL cluster, or start one with `scripts/postgres start DIR`"
        )
    })
}

/// The directory of the cluster (for `scripts/postgres restart`).
pub fn cluster_dir() -> String {
    std::env::var("GWSYNC_TEST_POSTGRES_DIR")
        .expect("GWSYNC_TEST_POSTGRES_DIR (set by scripts/test)")
}

/// A new, empty database on the cluster; its URL.
pub async fn fresh_database() -> String {
    let cluster = cluster_url();
    let name = format!("gwsync_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&cluster)
        .await
        .expect("connect to the test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    let mut url = url::Url::parse(&cluster).expect("the cluster URL");
    url.set_path(&name);
    url.to_string()
}
