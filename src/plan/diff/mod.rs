//! Diff: the changes that take the observed state to the desired one, in a safe order.
//!
//! Resources are matched by identity, never by name or position: a load balancer by its
//! Gateway, a listener by (Gateway, port), a rule by its id (a hash of its conditions, see
//! [`identity::rule_id`]; observed rules by their `gwsync.dev/resource` tag), an owned target
//! group by (Gateway, backend). Every kind goes through the same [`matcher`]: desired and
//! observed keyed alike, then create, update or delete. One module per kind decides what each
//! of those means for it ([`load_balancers`], [`target_groups`], [`listeners`], [`rules`]);
//! [`settings`] holds what several kinds share (attributes, tags). Each difference becomes one
//! typed [`Change`] (one AWS call) with a typed [`Reason`]. Rule priorities come from
//! [`priorities`]: existing rules keep theirs wherever the order is still right.
//!
//! Some differences cannot be applied in place (a load balancer's scheme, name or IP address
//! type; a target group's protocol, port, target type or name): they become [`Note`]s for the
//! operator, never a silent replacement.
//!
//! Order: target groups (creates, updates) → load balancers → listeners → rule creates and
//! updates → rule priority moves → stale rules → stale listeners → stale load balancers →
//! stale target groups. Target groups exist before the rules that forward to them and go
//! only after the rules that did; new rules take priorities no rule holds, so they never
//! collide with rules that are deleted later. Inside each step, changes are sorted by
//! address. Executing the changes is left to `aws::apply`; wording them to `render`.

mod listeners;
mod load_balancers;
mod matcher;
mod rules;
mod settings;
mod target_groups;
#[cfg(test)]
pub(crate) mod tests;

use super::priorities;
use super::{Change, ChangeAction, Note, Operation, PLAN_VERSION, Plan, Reason};
use crate::alb::identity;
use crate::alb::{Observed, Stack};
use serde::Serialize;
use serde_json::Value;

/// The plan that takes `observed` to `desired`.
pub fn diff(desired: &Stack, observed: &Observed, commit: Option<String>) -> Plan {
    let mut planner = Planner {
        observed,
        changes: Vec::new(),
        notes: Vec::new(),
    };
    planner.load_balancers(&desired.load_balancers, &observed.stack.load_balancers);
    let Planner {
        mut changes, notes, ..
    } = planner;
    changes.sort_by(|a, b| {
        (a.0, &a.1.address, rank(&a.1.operation)).cmp(&(b.0, &b.1.address, rank(&b.1.operation)))
    });
    Plan {
        version: PLAN_VERSION,
        commit,
        observed_fingerprint: observed.fingerprint.clone(),
        changes: changes.into_iter().map(|(_, c)| c).collect(),
        notes,
    }
}

/// The steps of a plan, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    TargetGroups,
    LoadBalancers,
    Listeners,
    Rules,
    /// After every create: a renumbered rule's new priority is free from the start anyway,
    /// but a reviewer reads the new rules first.
    RulePriorities,
    StaleRules,
    StaleListeners,
    StaleLoadBalancers,
    /// Last: a target group cannot be deleted while a rule forwards to it.
    StaleTargetGroups,
}

/// The order of calls on one address within a step: create before changing it, register
/// before deregistering (capacity never drops in between).
fn rank(op: &Operation) -> u8 {
    match op {
        Operation::CreateTargetGroup { .. }
        | Operation::CreateLoadBalancer { .. }
        | Operation::CreateListener { .. }
        | Operation::CreateRule { .. } => 0,
        Operation::ModifyTargetGroup { .. }
        | Operation::SetSecurityGroups { .. }
        | Operation::ModifyListener { .. }
        | Operation::ModifyRule { .. } => 1,
        Operation::ModifyTargetGroupAttributes { .. }
        | Operation::SetSubnets { .. }
        | Operation::SetRulePriorities { .. } => 2,
        Operation::RegisterTargets { .. } | Operation::ModifyLoadBalancerAttributes { .. } => 3,
        Operation::DeregisterTargets { .. } => 4,
        Operation::SetTags { .. } => 5,
        Operation::DeleteRule { .. }
        | Operation::DeleteListener { .. }
        | Operation::DeleteLoadBalancer { .. }
        | Operation::DeleteTargetGroup { .. } => 6,
    }
}

/// The changes and notes of one diff as they are found; each resource module adds its
/// `impl Planner` block.
struct Planner<'a> {
    observed: &'a Observed,
    changes: Vec<(Phase, Change)>,
    notes: Vec<Note>,
}

impl Planner<'_> {
    fn push(&mut self, phase: Phase, change: Change) {
        self.changes.push((phase, change));
    }

    /// Runs `plan` and puts the changes it pushes down to `owner` (a rule's or target
    /// group's team).
    fn owned_by(&mut self, owner: Option<&String>, plan: impl FnOnce(&mut Self)) {
        let start = self.changes.len();
        plan(self);
        for (_, change) in &mut self.changes[start..] {
            change.owner = owner.cloned();
        }
    }
}

/// One change with its resource before and after (as the model's JSON).
fn change(
    address: String,
    action: ChangeAction,
    operation: Operation,
    (before, after): (Option<Value>, Option<Value>),
    reason: Reason,
) -> Change {
    Change {
        address,
        action,
        operation,
        before,
        after,
        reason,
        // Rules and target groups say whose they are (`Planner::owned_by`); the rest is the
        // platform's.
        owner: Some(identity::PLATFORM_OWNER.to_string()),
    }
}

// --- Addresses ------------------------------------------------------------------------------

fn listener_address(gateway: &str, port: u16) -> String {
    format!("{gateway}/listener/{port}")
}

fn rule_address(gateway: &str, port: u16, id: &str) -> String {
    format!(
        "{}/rule/{}",
        listener_address(gateway, port),
        identity::short_rule_id(id)
    )
}

fn target_group_address(gateway: &str, backend: &str) -> String {
    format!("{gateway}/target-group/{backend}")
}

fn json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).expect("the model serialises")
}
