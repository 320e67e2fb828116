//! Plan: the changes that take the observed ALB configuration to the desired one, computed
//! before anything is touched, as a reviewable list.
//!
//! A [`Plan`] is a list of typed [`Change`]s, each one AWS call ([`Operation`]), in a safe
//! order: target groups, then load balancers, listeners, rules (creates, updates, priority
//! moves), then stale rules, listeners, load balancers and target groups. It is computed by
//! `diff` (pure: desired and observed state in, changes out), each change with a typed
//! [`Reason`] and each difference left to an operator a typed [`Note`] (`reason`), and
//! rendered by `render` (text, JSON, Markdown; every word for people in `render::words`)
//! from the same structure. It never names a resource without gwsync's
//! instance tag: observed state holds only those, and foreign rules only reserve their
//! priorities.
//!
//! Executing a plan is the `aws` module's job.

pub mod diff;
pub mod priorities;
mod reason;
pub mod render;

pub use reason::{
    AttributeChange, Difference, GatewayHold, HeldBack, LoadBalancerSetting, NewListenerCause,
    NewResource, Note, PriorityMove, Reason, Removed, Staleness, TargetGroupSetting, TeamKept,
    Unusable,
};

pub use diff::diff;

pub use crate::alb::Observed;
use crate::alb::{HealthCheck, Listener, LoadBalancer, Rule, Target, TargetGroup};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the plan's JSON shape. 2: typed reasons, notes and model values.
pub const PLAN_VERSION: u32 = 2;

/// A reviewable, executable list of changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// The commit the desired state came from (None for a rollback from stored state).
    pub commit: Option<String>,
    /// Fingerprint of the observed state the plan was computed against; a saved plan is
    /// refused when the live state no longer has it.
    pub observed_fingerprint: String,
    pub changes: Vec<Change>,
    /// Differences gwsync will not apply in place (e.g. a scheme or name change, which needs
    /// a new load balancer), for the operator to act on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many listener rules the plan deletes (for the max-deletions guard).
    pub fn rule_deletions(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| matches!(c.operation, Operation::DeleteRule { .. }))
            .count()
    }
}

/// What a change does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeAction {
    Create,
    Update,
    /// A rule keeps its content and changes priority.
    Move,
    Delete,
}

/// One change: one AWS call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Where the resource is, e.g. `platform/public/listener/443/rule/1a2b3c4d5e6f7a8b` or
    /// `platform/public/target-group/payments/api:8080`.
    pub address: String,
    pub action: ChangeAction,
    /// What is sent to AWS.
    pub operation: Operation,
    /// The resource before and after, as the model's JSON (`before` is None for a create,
    /// `after` for a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// Why: which route asked for it, which settings differ, why it is no longer wanted.
    pub reason: Reason,
    /// Whose change it is: the team (or `platform`) that owns the rule or target group,
    /// `platform` for load balancers, listeners and priority moves; None for a resource read
    /// back without an owner tag. What a failure at apply time is put down to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Change {
    /// The change, put down to `owner` (see [`Change::owner`]).
    pub fn owned_by(mut self, owner: Option<&String>) -> Change {
        self.owner = owner.cloned();
        self
    }
}

/// An AWS call with everything it needs that is known at plan time. ARNs are not: `apply`
/// finds each resource again by its tags, so a plan stays valid across a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call")]
pub enum Operation {
    CreateTargetGroup {
        gateway: String,
        target_group: TargetGroup,
    },
    ModifyTargetGroup {
        gateway: String,
        backend: String,
        health_check: HealthCheck,
    },
    ModifyTargetGroupAttributes {
        gateway: String,
        backend: String,
        attributes: BTreeMap<String, String>,
    },
    RegisterTargets {
        gateway: String,
        backend: String,
        targets: Vec<Target>,
    },
    DeregisterTargets {
        gateway: String,
        backend: String,
        targets: Vec<Target>,
    },
    /// The load balancer alone: its listeners and target groups are separate changes.
    CreateLoadBalancer {
        load_balancer: LoadBalancer,
    },
    SetSecurityGroups {
        gateway: String,
        security_groups: Vec<String>,
    },
    SetSubnets {
        gateway: String,
        subnets: Vec<String>,
    },
    ModifyLoadBalancerAttributes {
        gateway: String,
        attributes: BTreeMap<String, String>,
    },
    /// User tags of a load balancer or target group (gwsync's own tags never change).
    SetTags {
        resource: TaggedResource,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// The listener alone (protocol, port, certificates, SSL policy, default action).
    CreateListener {
        gateway: String,
        listener: Listener,
    },
    ModifyListener {
        gateway: String,
        listener: Listener,
    },
    CreateRule {
        gateway: String,
        port: u16,
        id: String,
        rule: Rule,
    },
    /// Conditions, actions and transforms of a rule that keeps its identity: the same
    /// conditions, or the same route rule (`gwsync.dev/source`) with changed conditions.
    ModifyRule {
        gateway: String,
        port: u16,
        id: String,
        rule: Rule,
    },
    SetRulePriorities {
        gateway: String,
        port: u16,
        /// (rule id, new priority)
        priorities: Vec<(String, u32)>,
    },
    DeleteRule {
        gateway: String,
        port: u16,
        id: String,
    },
    DeleteListener {
        gateway: String,
        port: u16,
    },
    DeleteLoadBalancer {
        gateway: String,
    },
    DeleteTargetGroup {
        gateway: String,
        backend: String,
    },
}

/// A resource that carries user tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TaggedResource {
    LoadBalancer { gateway: String },
    TargetGroup { gateway: String, backend: String },
}
