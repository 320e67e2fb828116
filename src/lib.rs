//! gwsync: a GitOps reconciler from Git to AWS Application Load Balancers.
//!
//! The pipeline runs in one direction and is pure in the middle:
//! [`source`] (git2) reads one revision into a [`source::Snapshot`]; [`manifest`] turns its
//! files into typed documents with provenance; [`tenancy`] decides, team by team, which
//! documents are admitted. [`validate`] renders that decision. Every stage reports problems
//! as [`diagnostic::Diagnostic`]s. See `docs/ARCHITECTURE.md`.

#![forbid(unsafe_code)]
// Problems are values (`Diagnostic`) that travel in `Result`s on cold paths; boxing them
// would only add noise.
#![allow(clippy::result_large_err)]

pub mod alb;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diagnostic;
pub mod doctor;
pub mod exit;
pub mod hostname;
pub mod manifest;
pub mod plan;
pub mod reconcile;
pub mod source;
pub mod status;
pub mod store;
pub mod tenancy;
pub mod translate;
pub mod validate;

/// An error with its causes, `: `-separated: what the command line and the daemon's log
/// print. gwsync's errors keep one rule that makes this print each cause once: a message
/// never repeats its cause, which is reachable through `source()`; a foreign error whose own
/// text quotes its cause (sqlx, serde) is held as a leaf, with no `source()`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the plan")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once_in_order() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(error_chain(&error), "reading the plan: disk on fire");
        let store = crate::store::StoreError::Query(sqlx::Error::RowNotFound);
        let text = error_chain(&store);
        assert_eq!(text.matches("no rows returned").count(), 1, "{text}");
    }
}
