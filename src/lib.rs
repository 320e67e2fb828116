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
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diagnostic;
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

/// An error with its causes, `: `-separated, each cause shown once (a message that already
/// quotes its cause is not repeated): what the command line and the daemon's log print.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let shown = c.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        cause = c.source();
    }
    text
}
