//! The store as the commands use it: opened from the configuration, locked in the CLI
//! user's name. What is recorded is `reconcile::record`'s.

use super::CliError;
use crate::config::Config;
use crate::reconcile::record;
use crate::store::Store;

pub(super) use crate::reconcile::record::now;

/// Who is acting: the CLI user, for the record.
pub(super) fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("cli:{user}")
}

pub(super) async fn open(config: &Config) -> Result<Store, CliError> {
    Ok(Store::open(&config.store.path).await?)
}

/// Takes the apply lock, or says who holds it.
pub(super) async fn lock(store: &Store) -> Result<(), CliError> {
    Ok(record::lock(store, &actor()).await?)
}

pub(super) async fn unlock(store: &Store) -> Result<(), CliError> {
    Ok(record::unlock(store).await?)
}
