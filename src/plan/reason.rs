//! Why: the typed reasons of a plan's changes, the notes it leaves to an operator, and what
//! a live plan holds back. Pure data, serialised into the JSON plan as they are, so that a
//! consumer can tell "needs a new load balancer" from any other note without reading prose.
//! The words for people are [`super::render::words`]'s, and only there.

use crate::alb::{
    Action, Certificate, Condition, HealthCheck, IpAddressType, Protocol, RuleSource, Scheme,
    Target, Transform,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a change is in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Reason {
    /// A Gateway has no load balancer yet.
    NewLoadBalancer {
        gateway: String,
        scheme: Scheme,
        ip_address_type: IpAddressType,
        subnets: usize,
    },
    /// A rule forwards to a backend that has no target group yet.
    NewTargetGroup {
        backend: String,
        name: String,
        protocol: Protocol,
        port: u16,
    },
    /// A listener port that has no listener yet.
    NewListener {
        cause: NewListenerCause,
        protocol: Protocol,
        port: u16,
        rules: usize,
    },
    /// Attributes of a resource this plan creates, which its create call cannot carry.
    NewAttributes {
        of: NewResource,
        attributes: BTreeMap<String, String>,
    },
    /// The configured targets of a target group this plan creates.
    NewTargets { targets: Vec<Target> },
    /// A route (or listener isolation) asks for a rule that is not there.
    NewRule {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<RuleSource>,
        conditions: Vec<Condition>,
        actions: Vec<Action>,
        priority: u32,
    },
    /// A load balancer, target group or listener exists and these settings differ.
    Differs { differences: Vec<Difference> },
    /// A rule exists and its content differs.
    RuleDiffers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<RuleSource>,
        differences: Vec<Difference>,
    },
    /// User tags to set and to remove.
    Tags {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// Configured targets that are not registered.
    Register { targets: Vec<Target> },
    /// Registered targets that are no longer configured.
    Deregister { targets: Vec<Target> },
    /// Existing rules change priority to keep the desired order.
    Reorder {
        moves: Vec<PriorityMove>,
        /// Some rule that was in order gave up its priority for lack of room.
        renumbered: bool,
    },
    /// The resource is no longer desired.
    Stale { cause: Staleness, removed: Removed },
}

/// Why a listener is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewListenerCause {
    /// It belongs to a load balancer this plan creates.
    NewLoadBalancer,
    /// A Gateway listener uses a port the load balancer has no listener on.
    PortInUse,
}

/// A resource this plan creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewResource {
    LoadBalancer,
    TargetGroup,
}

/// One setting that differs between AWS (`before`) and the desired state (`after`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum Difference {
    SecurityGroups {
        before: Vec<String>,
        after: Vec<String>,
    },
    Subnets {
        before: Vec<String>,
        after: Vec<String>,
    },
    /// Only the attributes the desired state sets; AWS's others are left alone.
    Attributes {
        changes: Vec<AttributeChange>,
    },
    HealthCheck {
        before: Box<HealthCheck>,
        after: Box<HealthCheck>,
    },
    Protocol {
        before: Protocol,
        after: Protocol,
    },
    Certificates {
        before: Vec<Certificate>,
        after: Vec<Certificate>,
    },
    SslPolicy {
        before: Option<String>,
        after: Option<String>,
    },
    DefaultAction {
        before: Box<Action>,
        after: Box<Action>,
    },
    Actions {
        before: Vec<Action>,
        after: Vec<Action>,
    },
    Transforms {
        before: Vec<Transform>,
        after: Vec<Transform>,
    },
    /// The route rule's conditions changed (the rule keeps its identity by where it came
    /// from), or someone edited the rule on AWS: they are set to the desired ones.
    Conditions {
        before: Vec<Condition>,
        after: Vec<Condition>,
    },
}

/// An attribute the desired state sets to another value than AWS has (`None`: unset there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChange {
    pub key: String,
    pub before: Option<String>,
    pub after: String,
}

/// An existing rule that changes priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMove {
    /// The rule's identity (its `gwsync.dev/resource` tag).
    pub rule: String,
    pub from: u32,
    pub to: u32,
}

/// Why a resource is no longer desired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "kebab-case")]
pub enum Staleness {
    /// Its Gateway is gone, and everything on its load balancer with it.
    GatewayRemoved { gateway: String },
    /// No Gateway listener uses the port any more.
    PortUnused { port: u16 },
    /// No rule forwards to the backend any more.
    BackendUnused { backend: String },
    /// No desired rule has these conditions any more.
    RuleUnwanted,
}

/// What a delete removes, as it is on AWS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Removed {
    LoadBalancer {
        name: String,
    },
    TargetGroup {
        name: String,
    },
    Listener {
        protocol: Protocol,
        port: u16,
    },
    Rule {
        conditions: Vec<Condition>,
        actions: Vec<Action>,
        priority: u32,
    },
}

/// A difference gwsync will not apply on its own, for the operator to act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "kebab-case")]
pub enum Note {
    /// A load balancer setting that cannot change in place.
    LoadBalancerSetting {
        gateway: String,
        setting: LoadBalancerSetting,
        on_aws: String,
        desired: String,
    },
    /// A target group setting that cannot change in place: it needs a new target group.
    TargetGroupSetting {
        address: String,
        setting: TargetGroupSetting,
        on_aws: String,
        desired: String,
    },
    /// A load balancer of a removed Gateway holds what gwsync does not own: gwsync removed
    /// its own resources and left the load balancer.
    LoadBalancerKept { gateway: String, name: String },
    /// A stale listener holds rules gwsync does not own: gwsync removed its own rules and
    /// left the listener.
    ListenerKept {
        gateway: String,
        protocol: Protocol,
        port: u16,
        cause: Staleness,
        foreign_priorities: Vec<u32>,
    },
    /// Two owned rules carry one identity: the second is left alone.
    TwinRules {
        address: String,
        kept: u32,
        left: u32,
    },
    /// Two desired rules have the same conditions: the later can never match.
    UnreachableRule {
        address: String,
        conditions: Vec<Condition>,
    },
    /// A rule gwsync does not own, evaluated before one of gwsync's, matches every request
    /// that rule matches: gwsync's rule never answers.
    ShadowedByForeign {
        address: String,
        priority: u32,
        foreign_priority: u32,
        foreign_conditions: Vec<Condition>,
    },
    /// The listener has fewer free priorities than rules: its rules are left as they are.
    NoRoom {
        listener: String,
        rules: usize,
        free: usize,
    },
}

/// The load balancer settings only a new load balancer can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerSetting {
    Name,
    Scheme,
    IpAddressType,
}

/// The target group settings only a new target group can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetGroupSetting {
    Name,
    Protocol,
    ProtocolVersion,
    Port,
    TargetType,
}

/// What a live plan leaves as it is on AWS, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "held", rename_all = "kebab-case")]
pub enum HeldBack {
    /// The plan was made without the state database: a refused team's last admitted state
    /// is unknown, so every Gateway it may have rules on is held.
    NoStateDatabase { error: String },
    /// A team refused at this revision keeps its last admitted state.
    TeamAtLastGood { team: String, commit: String },
    /// A team refused at this revision has no admitted revision on record.
    TeamWithoutLastGood { team: String },
    /// An HTTPS listener for whose hostname no issued ACM certificate was found: it stays as
    /// it is on AWS (or is not made yet); the Gateway's other listeners go ahead.
    MissingCertificate {
        gateway: String,
        port: u16,
        hostname: String,
    },
    /// A rule that needs what it cannot use on AWS (a target group gwsync does not own, OIDC
    /// client credentials): it answers 500 (as for an unresolved backend) instead of failing
    /// at apply.
    RuleAnswers500 {
        gateway: String,
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<RuleSource>,
        cause: Unusable,
    },
    /// A team whose rules on this Gateway (told apart by their owner tag) stay exactly as
    /// they are: refused without an admitted state on record, or held.
    TeamRulesKept {
        team: String,
        gateway: String,
        rules: usize,
        because: TeamKept,
    },
    /// A Gateway whose load balancer is left as it is on AWS.
    Gateway {
        gateway: String,
        causes: Vec<GatewayHold>,
    },
}

/// What a rule needs on AWS and cannot use: a target group it forwards to, or the OIDC
/// client credentials it authenticates with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "kebab-case")]
pub enum Unusable {
    /// No target group of this name exists.
    Missing { name: String },
    /// The target group gwsync would create for `backend` cannot be: a target group it does
    /// not own already has the name.
    NameTaken { name: String, backend: String },
    /// It exists in another VPC than the load balancer.
    OtherVpc {
        name: String,
        vpc: String,
        load_balancer_vpc: String,
    },
    /// The Secrets Manager secret with an OIDC client's credentials cannot be read or does
    /// not hold them (`problem` never quotes the secret's value).
    ClientCredentials { secret: String, problem: String },
}

/// Why a team's rules stay as they are on AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeamKept {
    /// Refused at this revision, with no admitted state on record.
    Refused,
    /// Held by an operator (`gwsync hold`) until `gwsync release`.
    Held,
    /// Its changes kept failing: left as it is until its files change, `gwsync sync` or
    /// `gwsync release`.
    Stalled,
}

/// Why a Gateway is held back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "kebab-case")]
pub enum GatewayHold {
    /// Translation refused the Gateway.
    Untranslatable,
    /// The plan adds rules, and gwsync's rules with the foreign ones on its listeners would
    /// exceed the account's rule quota (`aws.rules_per_load_balancer`).
    RuleQuota {
        owned: usize,
        foreign: usize,
        quota: usize,
    },
    /// A refused team without a last admitted state may have rules on it.
    RefusedTeam { team: String },
    /// A held team may have rules on it.
    HeldTeam { team: String },
    /// A stalled team may have rules on it.
    StalledTeam { team: String },
}
