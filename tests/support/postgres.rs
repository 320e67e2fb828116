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

/// A cluster of one test's own (`scripts/postgres start`), for a test that takes the server
/// away; stopped and removed when dropped.
pub struct OwnCluster {
    dir: tempfile::TempDir,
    pub url: String,
}

impl OwnCluster {
    pub fn start() -> OwnCluster {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = script(&["start"], dir.path());
        OwnCluster {
            url: String::from_utf8(out).unwrap().trim().to_string(),
            dir,
        }
    }

    /// Stops the server (its data kept).
    pub fn down(&self) {
        script(&["down"], self.dir.path());
    }

    /// Starts it again on the same port.
    pub fn up(&self) {
        script(&["up"], self.dir.path());
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres"))
                .arg("stop")
                .arg(self.dir.path())
                .status();
    }
}

fn script(args: &[&str], dir: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres"))
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/postgres {args:?}: {out:?}");
    out.stdout
}
