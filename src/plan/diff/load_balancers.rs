//! Load balancers: one per Gateway, matched by Gateway. A new one is created alone (its
//! attributes, target groups and listeners are changes of their own); an existing one has
//! its security groups, subnets, attributes and tags brought in line, and its target groups
//! and listeners diffed; a removed one is deleted after its children, unless it holds what
//! gwsync does not own.

use super::matcher::{Pair, pairs};
use super::settings::{attribute_json, changed_attributes, same_set};
use super::{Phase, Planner, change, json};
use crate::alb::LoadBalancer;
use crate::alb::identity::user_tags;
use crate::alb::render::label;
use crate::plan::{
    ChangeAction, Difference, LoadBalancerSetting, NewListenerCause, NewResource, Note, Operation,
    Reason, Removed, Staleness, TaggedResource,
};

impl Planner<'_> {
    pub(super) fn load_balancers(&mut self, desired: &[LoadBalancer], observed: &[LoadBalancer]) {
        let key = |lb: &LoadBalancer| lb.gateway.clone();
        let paired = pairs(
            desired.iter().map(|lb| (key(lb), lb)),
            observed.iter().map(|lb| (key(lb), lb)),
        );
        for (_, pair) in paired {
            match pair {
                Pair::Create(desired) => self.create_load_balancer(desired),
                Pair::Update { desired, observed } => self.update_load_balancer(desired, observed),
                Pair::Delete(observed) => self.delete_load_balancer(observed),
            }
        }
    }

    fn create_load_balancer(&mut self, desired: &LoadBalancer) {
        let gateway = &desired.gateway;
        // The load balancer alone: attributes, listeners and target groups are their own calls.
        let mut lb = desired.clone();
        lb.listeners.clear();
        lb.target_groups.clear();
        lb.attributes.clear();
        lb.tags = user_tags(&desired.tags);
        let reason = Reason::NewLoadBalancer {
            gateway: gateway.clone(),
            scheme: lb.scheme,
            ip_address_type: lb.ip_address_type,
            subnets: lb.subnets.len(),
        };
        let after = json(&lb);
        self.push(
            Phase::LoadBalancers,
            change(
                gateway.clone(),
                ChangeAction::Create,
                Operation::CreateLoadBalancer { load_balancer: lb },
                (None, Some(after)),
                reason,
            ),
        );
        if !desired.attributes.is_empty() {
            self.push(
                Phase::LoadBalancers,
                change(
                    gateway.clone(),
                    ChangeAction::Update,
                    Operation::ModifyLoadBalancerAttributes {
                        gateway: gateway.clone(),
                        attributes: desired.attributes.clone(),
                    },
                    (None, Some(json(&desired.attributes))),
                    Reason::NewAttributes {
                        of: NewResource::LoadBalancer,
                        attributes: desired.attributes.clone(),
                    },
                ),
            );
        }
        self.target_groups(gateway, &desired.target_groups, &[]);
        self.listeners(
            gateway,
            &desired.listeners,
            &[],
            NewListenerCause::NewLoadBalancer,
        );
    }

    fn update_load_balancer(&mut self, desired: &LoadBalancer, observed: &LoadBalancer) {
        let gateway = &desired.gateway;
        self.load_balancer_replacement_notes(desired, observed);
        self.network_settings(desired, observed);
        if let Some((difference, attributes)) =
            changed_attributes(&desired.attributes, &observed.attributes)
        {
            self.push(
                Phase::LoadBalancers,
                change(
                    gateway.clone(),
                    ChangeAction::Update,
                    Operation::ModifyLoadBalancerAttributes {
                        gateway: gateway.clone(),
                        attributes,
                    },
                    attribute_json(&difference),
                    Reason::Differs {
                        differences: vec![difference],
                    },
                ),
            );
        }
        self.tags(
            Phase::LoadBalancers,
            gateway.clone(),
            TaggedResource::LoadBalancer {
                gateway: gateway.clone(),
            },
            &desired.tags,
            &observed.tags,
        );
        self.target_groups(gateway, &desired.target_groups, &observed.target_groups);
        self.listeners(
            gateway,
            &desired.listeners,
            &observed.listeners,
            NewListenerCause::PortInUse,
        );
    }

    /// Name, scheme and IP address type only change with a new load balancer: notes.
    fn load_balancer_replacement_notes(&mut self, desired: &LoadBalancer, observed: &LoadBalancer) {
        let settings = [
            (
                LoadBalancerSetting::Name,
                observed.name.clone(),
                desired.name.clone(),
            ),
            (
                LoadBalancerSetting::Scheme,
                label(&observed.scheme),
                label(&desired.scheme),
            ),
            (
                LoadBalancerSetting::IpAddressType,
                label(&observed.ip_address_type),
                label(&desired.ip_address_type),
            ),
        ];
        for (setting, on_aws, wanted) in settings {
            if on_aws != wanted {
                self.notes.push(Note::LoadBalancerSetting {
                    gateway: desired.gateway.clone(),
                    setting,
                    on_aws,
                    desired: wanted,
                });
            }
        }
    }

    /// Security groups and subnets. An empty desired list is "not configured": AWS chose
    /// (the default security group), and sending an empty list would be refused.
    fn network_settings(&mut self, desired: &LoadBalancer, observed: &LoadBalancer) {
        let gateway = &desired.gateway;
        if !desired.security_groups.is_empty()
            && !same_set(&desired.security_groups, &observed.security_groups)
        {
            self.push(
                Phase::LoadBalancers,
                change(
                    gateway.clone(),
                    ChangeAction::Update,
                    Operation::SetSecurityGroups {
                        gateway: gateway.clone(),
                        security_groups: desired.security_groups.clone(),
                    },
                    (
                        Some(json(&observed.security_groups)),
                        Some(json(&desired.security_groups)),
                    ),
                    Reason::Differs {
                        differences: vec![Difference::SecurityGroups {
                            before: observed.security_groups.clone(),
                            after: desired.security_groups.clone(),
                        }],
                    },
                ),
            );
        }
        if !desired.subnets.is_empty() && !same_set(&desired.subnets, &observed.subnets) {
            self.push(
                Phase::LoadBalancers,
                change(
                    gateway.clone(),
                    ChangeAction::Update,
                    Operation::SetSubnets {
                        gateway: gateway.clone(),
                        subnets: desired.subnets.clone(),
                    },
                    (Some(json(&observed.subnets)), Some(json(&desired.subnets))),
                    Reason::Differs {
                        differences: vec![Difference::Subnets {
                            before: observed.subnets.clone(),
                            after: desired.subnets.clone(),
                        }],
                    },
                ),
            );
        }
    }

    /// A removed Gateway: its listeners (and their rules) and target groups go, then the load
    /// balancer, unless it holds listeners or rules gwsync does not own, which AWS would
    /// delete with it: then it stays, with a note.
    fn delete_load_balancer(&mut self, observed: &LoadBalancer) {
        let gateway = &observed.gateway;
        let cause = Staleness::GatewayRemoved {
            gateway: gateway.clone(),
        };
        let mut kept = false;
        for listener in &observed.listeners {
            kept |= !self.delete_listener(gateway, listener, &cause);
        }
        let foreign_listeners = self
            .observed
            .foreign_listeners
            .iter()
            .any(|(g, _)| g == gateway);
        for tg in &observed.target_groups {
            self.delete_target_group(gateway, tg, &cause);
        }
        if kept || foreign_listeners {
            self.notes.push(Note::LoadBalancerKept {
                gateway: gateway.clone(),
                name: observed.name.clone(),
            });
            return;
        }
        let mut lb = observed.clone();
        lb.listeners.clear();
        lb.target_groups.clear();
        self.push(
            Phase::StaleLoadBalancers,
            change(
                gateway.clone(),
                ChangeAction::Delete,
                Operation::DeleteLoadBalancer {
                    gateway: gateway.clone(),
                },
                (Some(json(&lb)), None),
                Reason::Stale {
                    cause,
                    removed: Removed::LoadBalancer {
                        name: observed.name.clone(),
                    },
                },
            ),
        );
    }
}
