//! The store as the commands use it: opened from the configuration, its apply lease taken in
//! the CLI user's name. What is recorded is `reconcile::record`'s.

use super::CliError;
use crate::aws::client::Clients;
use crate::config::Config;
use crate::reconcile::lease::LeaseKeeper;
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

/// The store of `config`: its SQLite file, or its PostgreSQL database (the password read
/// from where the configuration says).
pub(super) async fn open(config: &Config) -> Result<Store, CliError> {
    let password = crate::store::password(&config.store)?;
    Ok(Store::at(&config.store.location(), password.as_deref()).await?)
}

/// Takes the apply lease, or says who holds it: `clients` send writes only while it is held.
/// Records made under it go through the keeper's store.
pub(super) async fn lock(
    config: &Config,
    store: &Store,
    clients: &Clients,
) -> Result<LeaseKeeper, CliError> {
    let duration = config.store.lease_duration;
    Ok(record::lock(store, &actor(), duration, clients.write_window()).await?)
}

pub(super) async fn unlock(store: &Store, lease: LeaseKeeper) -> Result<(), CliError> {
    Ok(record::unlock(store, lease).await?)
}
