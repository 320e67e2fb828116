//! Where the state database is: `store.url` (or `store.path`) read and checked.
//!
//! `sqlite:PATH` is the embedded default; `postgres://USER@HOST/DATABASE` is the database
//! several instances share. A PostgreSQL URL never holds a password (it is read from a file or
//! an environment variable, see `store.password_file`), and gets `sslmode=verify-full` unless
//! it names another mode: TLS to the server by default.

use std::path::PathBuf;

/// Where a store is: a SQLite file, or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

impl Location {
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
            return Err("holds a password: the password never goes in the URL (set \
                        store.password_file or store.password_env; `gwsync store migrate` \
                        takes --password-file or --password-env)"
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
    pub fn with_password(&self, password: Option<&str>) -> url::Url {
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
