//! `gwsync run`: the long-running reconciler.

pub mod http;
pub mod metrics;
pub mod webhook;
