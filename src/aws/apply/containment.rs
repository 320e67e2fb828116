//! Containment: which changes a failed change stops. A failure stops only what depends on
//! it, so one team's rule that AWS still rejects never blocks another team's independent
//! change on the same load balancer:
//! - a load balancer that could not be created stops everything of its Gateway;
//! - a target group that could not be created stops the rules that forward to it;
//! - a listener that could not be created stops its rules;
//! - a rule that failed stops the later rule changes of the same team (its owner) on that
//!   Gateway, whose order may depend on it.
//!
//! Other failures (a setting, an attribute, tags, a delete) stop nothing else: what comes
//! after does not need them. Priorities stay valid: each created rule has its own priority
//! from the plan, so a skipped rule leaves its slot empty and no other rule moves into it.

use crate::alb::{Action, Rule, TargetGroupRef};
use crate::plan::{Operation, TaggedResource};
use std::collections::BTreeSet;

/// What a failure can stop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Unit {
    /// A load balancer that does not exist.
    Gateway(String),
    /// (gateway, backend): a target group that does not exist.
    TargetGroup(String, String),
    /// (gateway, port): a listener that does not exist.
    Listener(String, u16),
    /// (gateway, owner): a team whose rule changes on the Gateway broke off.
    Team(String, Option<String>),
}

/// The failed units of one apply.
#[derive(Debug, Default)]
pub(super) struct Failed(BTreeSet<Unit>);

impl Failed {
    /// Records that `op` failed: the unit it stops, if any.
    pub(super) fn record(&mut self, op: &Operation) {
        if let Some(unit) = stops(op) {
            self.0.insert(unit);
        }
    }

    /// The failed unit `op` depends on, if any: then `op` is not attempted.
    pub(super) fn blocking(&self, op: &Operation) -> Option<&Unit> {
        depends_on(op).into_iter().find_map(|u| self.0.get(&u))
    }
}

/// The unit a failure of `op` stops.
fn stops(op: &Operation) -> Option<Unit> {
    match op {
        Operation::CreateLoadBalancer { load_balancer } => {
            Some(Unit::Gateway(load_balancer.gateway.clone()))
        }
        Operation::CreateTargetGroup {
            gateway,
            target_group,
        } => Some(Unit::TargetGroup(
            gateway.clone(),
            target_group.backend.clone(),
        )),
        Operation::CreateListener { gateway, listener } => {
            Some(Unit::Listener(gateway.clone(), listener.port))
        }
        Operation::CreateRule { gateway, rule, .. }
        | Operation::ModifyRule { gateway, rule, .. } => {
            Some(Unit::Team(gateway.clone(), rule.owner.clone()))
        }
        _ => None,
    }
}

/// The units `op` needs.
fn depends_on(op: &Operation) -> Vec<Unit> {
    let gateway = |g: &String| Unit::Gateway(g.clone());
    match op {
        Operation::CreateLoadBalancer { .. } => Vec::new(),
        Operation::CreateTargetGroup {
            gateway: g,
            target_group,
        } => vec![
            gateway(g),
            Unit::TargetGroup(g.clone(), target_group.backend.clone()),
        ],
        Operation::ModifyTargetGroup {
            gateway: g,
            backend,
            ..
        }
        | Operation::ModifyTargetGroupAttributes {
            gateway: g,
            backend,
            ..
        }
        | Operation::RegisterTargets {
            gateway: g,
            backend,
            ..
        }
        | Operation::DeregisterTargets {
            gateway: g,
            backend,
            ..
        }
        | Operation::DeleteTargetGroup {
            gateway: g,
            backend,
        }
        | Operation::SetTags {
            resource:
                TaggedResource::TargetGroup {
                    gateway: g,
                    backend,
                },
            ..
        } => vec![gateway(g), Unit::TargetGroup(g.clone(), backend.clone())],
        Operation::SetSecurityGroups { gateway: g, .. }
        | Operation::SetSubnets { gateway: g, .. }
        | Operation::ModifyLoadBalancerAttributes { gateway: g, .. }
        | Operation::SetTags {
            resource: TaggedResource::LoadBalancer { gateway: g },
            ..
        }
        | Operation::DeleteLoadBalancer { gateway: g } => vec![gateway(g)],
        Operation::CreateListener {
            gateway: g,
            listener,
        }
        | Operation::ModifyListener {
            gateway: g,
            listener,
        } => {
            vec![gateway(g), Unit::Listener(g.clone(), listener.port)]
        }
        Operation::DeleteListener { gateway: g, port }
        | Operation::SetRulePriorities {
            gateway: g, port, ..
        }
        | Operation::DeleteRule {
            gateway: g, port, ..
        } => {
            vec![gateway(g), Unit::Listener(g.clone(), *port)]
        }
        Operation::CreateRule {
            gateway: g,
            port,
            rule,
            ..
        }
        | Operation::ModifyRule {
            gateway: g,
            port,
            rule,
            ..
        } => rule_dependencies(g, *port, rule),
    }
}

/// A rule needs its load balancer, its listener, the owned target groups it forwards to,
/// and its team's earlier rule changes on the Gateway.
fn rule_dependencies(gateway: &str, port: u16, rule: &Rule) -> Vec<Unit> {
    let mut units = vec![
        Unit::Gateway(gateway.to_string()),
        Unit::Listener(gateway.to_string(), port),
        Unit::Team(gateway.to_string(), rule.owner.clone()),
    ];
    for action in &rule.actions {
        if let Action::Forward { target_groups, .. } = action {
            units.extend(target_groups.iter().filter_map(|w| match &w.target_group {
                TargetGroupRef::Owned(backend) => {
                    Some(Unit::TargetGroup(gateway.to_string(), backend.clone()))
                }
                TargetGroupRef::Existing(_) => None,
            }));
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::fixtures::{forward, host, rule, target_group};

    fn create_rule(owner: &str, backend: &str) -> Operation {
        Operation::CreateRule {
            gateway: "p/gw".into(),
            port: 443,
            id: format!("rule/p/gw/443/{owner}"),
            rule: Rule {
                owner: Some(owner.into()),
                ..rule(
                    1,
                    vec![host(&[&format!("{owner}.example.com")])],
                    vec![forward(&[(backend, 1)])],
                )
            },
        }
    }

    #[test]
    fn a_failed_rule_stops_its_team_and_nothing_else() {
        let mut failed = Failed::default();
        failed.record(&create_rule("a", "a/a1:80"));
        assert!(failed.blocking(&create_rule("a", "a/a2:80")).is_some());
        assert!(failed.blocking(&create_rule("b", "b/b1:80")).is_none());
    }

    #[test]
    fn a_failed_target_group_stops_the_rules_that_forward_to_it() {
        let mut failed = Failed::default();
        failed.record(&Operation::CreateTargetGroup {
            gateway: "p/gw".into(),
            target_group: target_group("a/a1:80"),
        });
        assert_eq!(
            failed.blocking(&create_rule("a", "a/a1:80")),
            Some(&Unit::TargetGroup("p/gw".into(), "a/a1:80".into()))
        );
        assert!(failed.blocking(&create_rule("a", "a/a2:80")).is_none());
    }

    #[test]
    fn settings_that_fail_stop_nothing() {
        let mut failed = Failed::default();
        failed.record(&Operation::SetSubnets {
            gateway: "p/gw".into(),
            subnets: vec![],
        });
        assert!(failed.blocking(&create_rule("a", "a/a1:80")).is_none());
    }
}
