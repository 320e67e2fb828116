//! Helpers shared by the integration tests (each test crate includes this with `mod support;`).
//!
//! Not every test crate uses every helper, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod aws_state;
pub mod calls;
pub mod certificates;
pub mod example;
pub mod fault_proxy;
pub mod moto;
pub mod postgres;
pub mod recorder;
