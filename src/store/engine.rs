//! Where the store lives and what differs between its two engines.
//!
//! gwsync's state lives in a SQLite file by default (one instance, nothing to set up), or in
//! PostgreSQL when several instances share it (`store.url = "postgres://…"`). The store's
//! queries are one text for both (sqlx's `Any` driver, `$N` parameters, which SQLite also
//! reads); this module owns the few things that differ: how a connection is made, the
//! migrations, the database's clock, and how to ask whether a table exists. Where a store is
//! ([`Location`]) is the configuration's (`config::store_location`).
//!
//! It must not hold queries about gwsync's data: those live with the store.

use super::StoreError;
pub use crate::config::store_location::{Location, PostgresUrl};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The SQLite schema, embedded at build time.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL schema (from version 8 on; the same numbers as SQLite's from there).
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a PostgreSQL connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine of a store at `location`.
    pub fn of(location: &Location) -> Engine {
        match location {
            Location::Sqlite(_) => Engine::Sqlite,
            Location::Postgres(_) => Engine::Postgres,
        }
    }

    pub(super) fn migrator(self) -> &'static Migrator {
        match self {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// An SQL expression for the database's clock in Unix milliseconds: leases are timed on
    /// it, so that instances on several hosts agree on when one expires whatever their own
    /// clocks say.
    pub(super) fn now_ms(self) -> &'static str {
        match self {
            Engine::Sqlite => "CAST(unixepoch('subsec') * 1000 AS BIGINT)",
            Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// After rows were copied into `table` with their own ids: the statement that moves the
    /// table's id generator past them (PostgreSQL; SQLite's follows inserted ids itself).
    pub(super) fn move_identity_past_copied(self, table: &str) -> Option<String> {
        match self {
            Engine::Sqlite => None,
            Engine::Postgres => Some(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )),
        }
    }

    /// A query with one text parameter (a table name) that returns a row when it exists.
    pub(super) fn table_exists(self) -> &'static str {
        match self {
            Engine::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1",
            Engine::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }
}

/// The PostgreSQL password `config` names, read now (from its file, surrounding whitespace
/// ignored, or its environment variable); `None` for SQLite, or when none is named (a server
/// that asks for no password).
pub fn password(config: &crate::config::StoreConfig) -> Result<Option<String>, StoreError> {
    read_password(config.postgres.as_ref().and_then(|pg| pg.password.as_ref()))
}

/// The password `source` holds, read now; `None` without a source.
pub fn read_password(
    source: Option<&crate::config::SecretSource>,
) -> Result<Option<String>, StoreError> {
    use crate::config::SecretSource;
    let Some(source) = source else {
        return Ok(None);
    };
    let password = match source {
        SecretSource::Env(name) => std::env::var(name).map_err(|_| StoreError::Password {
            from: format!("the environment variable {name}"),
            why: "it is not set".to_string(),
        })?,
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| StoreError::Password {
                from: path.display().to_string(),
                why: e.to_string(),
            })?
            .trim()
            .to_string(),
    };
    Ok(Some(password))
}

/// A pool on `location`. SQLite connections use WAL, a busy timeout, foreign keys and normal
/// synchronisation (durable at every checkpoint, safe against corruption); the file must
/// exist. PostgreSQL connections carry `password` when given.
pub(super) async fn connect(
    location: &Location,
    password: Option<&str>,
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    match location {
        Location::Sqlite(path) => connect_sqlite(path).await,
        Location::Postgres(url) => {
            let options = AnyConnectOptions::from_str(url.with_password(password).as_str())?;
            AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_with(options)
                .await
        }
    }
}

async fn connect_sqlite(path: &Path) -> Result<AnyPool, sqlx::Error> {
    // The driver takes a URL, whose path is absolute: a relative `store.path` (or
    // `--state-dir`) is made absolute against the working directory first.
    let path = std::path::absolute(path)?;
    let mut url = url::Url::parse("sqlite://").expect("a constant URL");
    url.set_path(&path.to_string_lossy());
    url.query_pairs_mut().append_pair("mode", "rw");
    let options = AnyConnectOptions::from_str(url.as_str())?;
    let busy_ms = BUSY_TIMEOUT.as_millis();
    AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                )))
                .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
}
