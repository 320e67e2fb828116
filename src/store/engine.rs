//! Where the store lives and what differs between its two engines.
//!
//! gwsync's state lives in a SQLite file by default (one instance, nothing to set up), or in
//! PostgreSQL when several instances share it (`store.url = "postgres://…"`). The store's
//! queries are one text for both (sqlx's `Any` driver, `$N` parameters, which SQLite also
//! reads); this module owns the few things that differ: how a connection is made, the
//! migrations, the database's clock, and how to ask whether a table exists.
//!
//! It must not hold queries about gwsync's data: those live with the store.

use super::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::{Path, PathBuf};
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

/// Where a store is: a SQLite file, or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

impl Location {
    pub fn engine(&self) -> Engine {
        match self {
            Location::Sqlite(_) => Engine::Sqlite,
            Location::Postgres(_) => Engine::Postgres,
        }
    }

    /// `sqlite:PATH` or `postgres://…` (without a password: it is read apart, see
    /// [`PostgresUrl::parse`]).
    pub fn parse(text: &str) -> Result<Location, String> {
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or(text.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(
                    "sqlite: needs a file path, e.g. sqlite:/var/lib/gwsync/gwsync.db".into(),
                );
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        PostgresUrl::parse(text).map(Location::Postgres)
    }
}

impl std::fmt::Display for Location {
    /// For people: never a password (a [`PostgresUrl`] holds none).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// The `sslmode`s PostgreSQL's clients know.
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// A PostgreSQL connection URL without a password, and with an `sslmode`: `verify-full` unless
/// the URL names another (TLS to the server by default; `disable` for a server on loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresUrl(url::Url);

impl PostgresUrl {
    /// Checks a `postgres://` (or `postgresql://`) URL: a host and a database, no password
    /// (it never goes in a file gwsync reads, nor in a log), a known `sslmode`.
    pub fn parse(text: &str) -> Result<PostgresUrl, String> {
        let mut url = url::Url::parse(text)
            .map_err(|e| format!("is neither sqlite:PATH nor a postgres:// URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "scheme {:?} is not known: use sqlite:PATH or postgres://user@host/database",
                url.scheme()
            ));
        }
        if url.password().is_some() {
            return Err("holds a password: the password never goes in the URL; set \
                        store.password_file or store.password_env"
                .into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("names no host".into());
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err("names no database (postgres://user@host/DATABASE)".into());
        }
        let mode = url
            .query_pairs()
            .find(|(key, _)| key == "sslmode")
            .map(|(_, value)| value.into_owned());
        match mode {
            Some(mode) if !SSL_MODES.contains(&mode.as_str()) => {
                return Err(format!(
                    "sslmode {mode:?} is not one of {}",
                    SSL_MODES.join(", ")
                ));
            }
            Some(_) => {}
            None => {
                url.query_pairs_mut().append_pair("sslmode", "verify-full");
            }
        }
        Ok(PostgresUrl(url))
    }

    /// The URL to connect with, the password added (kept in memory only).
    fn with_password(&self, password: Option<&str>) -> url::Url {
        let mut url = self.0.clone();
        if let Some(password) = password {
            // Cannot fail: the URL has a host (checked in `parse`).
            let _ = url.set_password(Some(password));
        }
        url
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
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
    source: Option<&crate::config::commit_status::TokenSource>,
) -> Result<Option<String>, StoreError> {
    use crate::config::commit_status::TokenSource;
    let Some(source) = source else {
        return Ok(None);
    };
    let password = match source {
        TokenSource::Env(name) => std::env::var(name).map_err(|_| StoreError::Password {
            from: format!("the environment variable {name}"),
            why: "it is not set".to_string(),
        })?,
        TokenSource::File(path) => std::fs::read_to_string(path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_gets_verify_full_unless_it_names_a_mode() {
        let url = PostgresUrl::parse("postgres://gwsync@db.example.com/gwsync").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://gwsync@db.example.com/gwsync?sslmode=verify-full"
        );
        let url =
            PostgresUrl::parse("postgresql://gwsync@127.0.0.1:5433/gw?sslmode=disable").unwrap();
        assert!(url.to_string().ends_with("?sslmode=disable"));
    }

    #[test]
    fn a_password_an_unknown_mode_or_no_database_is_refused() {
        for (text, says) in [
            ("postgres://gwsync:hunter2@db/gwsync", "password"),
            ("postgres://gwsync@db/gwsync?sslmode=maybe", "sslmode"),
            ("postgres://gwsync@db/", "database"),
            ("mysql://gwsync@db/gwsync", "scheme"),
        ] {
            let err = Location::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn sqlite_locations_name_a_file() {
        assert_eq!(
            Location::parse("sqlite:/var/lib/gwsync/gwsync.db").unwrap(),
            Location::Sqlite("/var/lib/gwsync/gwsync.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/g.db").unwrap(),
            Location::Sqlite("/tmp/g.db".into())
        );
        assert!(Location::parse("sqlite:").is_err());
    }
}
