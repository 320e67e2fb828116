//! The AWS edge: reading the live configuration into the ALB model (`observe`) and executing
//! a plan's changes (`apply`), through `aws-sdk-elasticloadbalancingv2` and `aws-sdk-acm`;
//! OIDC client credentials from `aws-sdk-secretsmanager` (`secrets`).
//!
//! Everything that talks to AWS lives here and nowhere else. `client` builds the SDK clients
//! (region, profile, endpoint override, retries with jittered backoff on throttling and 5xx)
//! and the client-side rate limits; `error` is the one AWS error type. The ownership tag
//! scheme is `alb::identity`. Only resources with gwsync's instance tag are read into the
//! observed model or changed.

pub mod apply;
pub mod client;
pub mod error;
pub mod observe;
mod requests;
pub mod secrets;

use std::collections::BTreeMap;

/// Where things are on AWS: the ARNs of owned resources by their stable identity, and what
/// the model names only by name or hostname. Filled by `observe`, extended by `apply` as it
/// creates resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsIds {
    /// Gateway `namespace/name` -> load balancer ARN.
    pub load_balancers: BTreeMap<String, String>,
    /// Gateway -> the VPC of its load balancer (target groups are created there).
    pub vpcs: BTreeMap<String, String>,
    /// (gateway, port) -> listener ARN.
    pub listeners: BTreeMap<(String, u16), String>,
    /// Rule id (the `gwsync.dev/resource` tag) -> rule ARN.
    pub rules: BTreeMap<String, String>,
    /// (gateway, backend) -> ARN of the target group gwsync owns.
    pub target_groups: BTreeMap<(String, String), String>,
    /// Name -> ARN of target groups gwsync does not own, named by `TargetGroupName` backends.
    pub existing_target_groups: BTreeMap<String, String>,
    /// Name -> VPC of those target groups (a forward works only within the load balancer's).
    pub existing_target_group_vpcs: BTreeMap<String, String>,
    /// Hostname -> ARN of the issued ACM certificate that covers it.
    pub certificates: BTreeMap<String, String>,
    /// Secrets Manager secret name -> the OIDC client secret it holds, for the requests that
    /// send it (in memory only).
    pub client_secrets: BTreeMap<String, secrets::ClientSecret>,
}
