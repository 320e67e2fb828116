//! Target groups gwsync owns, matched by (Gateway, backend). A new one is created alone, then
//! its attributes set and its configured targets registered; an existing one has its health
//! check, attributes, tags and targets brought in line (name, protocol, protocol version,
//! port and target type cannot change in place: notes); a stale one is deleted last.

use super::matcher::{Pair, pairs};
use super::settings::{attribute_json, changed_attributes};
use super::{Phase, Planner, change, json, target_group_address};
use crate::alb::identity::user_tags;
use crate::alb::{Target, TargetGroup};
use crate::plan::{
    ChangeAction, Difference, NewResource, Note, Operation, Reason, Removed, Staleness,
    TaggedResource, TargetGroupSetting,
};
use std::collections::BTreeSet;

impl Planner<'_> {
    pub(super) fn target_groups(
        &mut self,
        gateway: &str,
        desired: &[TargetGroup],
        observed: &[TargetGroup],
    ) {
        let key = |tg: &TargetGroup| tg.backend.clone();
        let paired = pairs(
            desired.iter().map(|tg| (key(tg), tg)),
            observed.iter().map(|tg| (key(tg), tg)),
        );
        for (backend, pair) in paired {
            match pair {
                Pair::Create(desired) => self.owned_by(desired.owner.as_ref(), |p| {
                    p.create_target_group(gateway, desired)
                }),
                Pair::Update { desired, observed } => {
                    let owner = desired.owner.as_ref().or(observed.owner.as_ref());
                    self.owned_by(owner, |p| p.update_target_group(gateway, desired, observed))
                }
                Pair::Delete(observed) => self.delete_target_group(
                    gateway,
                    observed,
                    &Staleness::BackendUnused { backend },
                ),
            }
        }
    }

    fn create_target_group(&mut self, gateway: &str, desired: &TargetGroup) {
        let address = target_group_address(gateway, &desired.backend);
        // The group alone: attributes and targets are their own calls.
        let mut tg = desired.clone();
        tg.attributes.clear();
        tg.targets.clear();
        tg.tags = user_tags(&desired.tags);
        let reason = Reason::NewTargetGroup {
            backend: desired.backend.clone(),
            name: tg.name.clone(),
            protocol: tg.protocol,
            port: tg.port,
        };
        let after = json(&tg);
        self.push(
            Phase::TargetGroups,
            change(
                address.clone(),
                ChangeAction::Create,
                Operation::CreateTargetGroup {
                    gateway: gateway.to_string(),
                    target_group: tg,
                },
                (None, Some(after)),
                reason,
            ),
        );
        if !desired.attributes.is_empty() {
            self.push(
                Phase::TargetGroups,
                change(
                    address.clone(),
                    ChangeAction::Update,
                    Operation::ModifyTargetGroupAttributes {
                        gateway: gateway.to_string(),
                        backend: desired.backend.clone(),
                        attributes: desired.attributes.clone(),
                    },
                    (None, Some(json(&desired.attributes))),
                    Reason::NewAttributes {
                        of: NewResource::TargetGroup,
                        attributes: desired.attributes.clone(),
                    },
                ),
            );
        }
        if !desired.targets.is_empty() {
            self.push(
                Phase::TargetGroups,
                change(
                    address,
                    ChangeAction::Update,
                    Operation::RegisterTargets {
                        gateway: gateway.to_string(),
                        backend: desired.backend.clone(),
                        targets: desired.targets.clone(),
                    },
                    (None, Some(json(&desired.targets))),
                    Reason::NewTargets {
                        targets: desired.targets.clone(),
                    },
                ),
            );
        }
    }

    fn update_target_group(
        &mut self,
        gateway: &str,
        desired: &TargetGroup,
        observed: &TargetGroup,
    ) {
        let address = target_group_address(gateway, &desired.backend);
        self.target_group_replacement_notes(&address, desired, observed);
        if desired.health_check != observed.health_check {
            self.push(
                Phase::TargetGroups,
                change(
                    address.clone(),
                    ChangeAction::Update,
                    Operation::ModifyTargetGroup {
                        gateway: gateway.to_string(),
                        backend: desired.backend.clone(),
                        health_check: desired.health_check.clone(),
                    },
                    (
                        Some(json(&observed.health_check)),
                        Some(json(&desired.health_check)),
                    ),
                    Reason::Differs {
                        differences: vec![Difference::HealthCheck {
                            before: Box::new(observed.health_check.clone()),
                            after: Box::new(desired.health_check.clone()),
                        }],
                    },
                ),
            );
        }
        if let Some((difference, attributes)) =
            changed_attributes(&desired.attributes, &observed.attributes)
        {
            self.push(
                Phase::TargetGroups,
                change(
                    address.clone(),
                    ChangeAction::Update,
                    Operation::ModifyTargetGroupAttributes {
                        gateway: gateway.to_string(),
                        backend: desired.backend.clone(),
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
            Phase::TargetGroups,
            address.clone(),
            TaggedResource::TargetGroup {
                gateway: gateway.to_string(),
                backend: desired.backend.clone(),
            },
            &desired.tags,
            &observed.tags,
        );
        self.targets(gateway, &address, desired, observed);
    }

    /// What only a new target group can change: notes.
    fn target_group_replacement_notes(
        &mut self,
        address: &str,
        desired: &TargetGroup,
        observed: &TargetGroup,
    ) {
        let settings = [
            (
                TargetGroupSetting::Name,
                desired.name.clone(),
                observed.name.clone(),
            ),
            (
                TargetGroupSetting::Protocol,
                desired.protocol.as_str().to_string(),
                observed.protocol.as_str().to_string(),
            ),
            (
                TargetGroupSetting::ProtocolVersion,
                desired.protocol_version.as_str().to_string(),
                observed.protocol_version.as_str().to_string(),
            ),
            (
                TargetGroupSetting::Port,
                desired.port.to_string(),
                observed.port.to_string(),
            ),
            (
                TargetGroupSetting::TargetType,
                desired.target_type.as_str().to_string(),
                observed.target_type.as_str().to_string(),
            ),
        ];
        for (setting, wanted, on_aws) in settings {
            if wanted != on_aws {
                self.notes.push(Note::TargetGroupSetting {
                    address: address.to_string(),
                    setting,
                    on_aws,
                    desired: wanted,
                });
            }
        }
    }

    /// Targets gwsync registers. No targets desired: registration is left to others (an
    /// Auto Scaling group, say), and whatever they registered stays.
    fn targets(
        &mut self,
        gateway: &str,
        address: &str,
        desired: &TargetGroup,
        observed: &TargetGroup,
    ) {
        if desired.targets.is_empty() {
            return;
        }
        let keys = |tg: &TargetGroup| -> BTreeSet<(String, u16)> {
            tg.targets.iter().map(|t| target_key(t, tg.port)).collect()
        };
        let (desired_keys, observed_keys) = (keys(desired), keys(observed));
        let register: Vec<Target> = desired
            .targets
            .iter()
            .filter(|t| !observed_keys.contains(&target_key(t, desired.port)))
            .cloned()
            .collect();
        let deregister: Vec<Target> = observed
            .targets
            .iter()
            .filter(|t| !desired_keys.contains(&target_key(t, observed.port)))
            .cloned()
            .collect();
        let before_after = (Some(json(&observed.targets)), Some(json(&desired.targets)));
        let backend = desired.backend.clone();
        if !register.is_empty() {
            self.push(
                Phase::TargetGroups,
                change(
                    address.to_string(),
                    ChangeAction::Update,
                    Operation::RegisterTargets {
                        gateway: gateway.to_string(),
                        backend: backend.clone(),
                        targets: register.clone(),
                    },
                    before_after.clone(),
                    Reason::Register { targets: register },
                ),
            );
        }
        if !deregister.is_empty() {
            self.push(
                Phase::TargetGroups,
                change(
                    address.to_string(),
                    ChangeAction::Update,
                    Operation::DeregisterTargets {
                        gateway: gateway.to_string(),
                        backend,
                        targets: deregister.clone(),
                    },
                    before_after,
                    Reason::Deregister {
                        targets: deregister,
                    },
                ),
            );
        }
    }

    pub(super) fn delete_target_group(
        &mut self,
        gateway: &str,
        observed: &TargetGroup,
        cause: &Staleness,
    ) {
        self.owned_by(observed.owner.as_ref(), |p| {
            p.delete_stale_target_group(gateway, observed, cause)
        });
    }

    fn delete_stale_target_group(
        &mut self,
        gateway: &str,
        observed: &TargetGroup,
        cause: &Staleness,
    ) {
        self.push(
            Phase::StaleTargetGroups,
            change(
                target_group_address(gateway, &observed.backend),
                ChangeAction::Delete,
                Operation::DeleteTargetGroup {
                    gateway: gateway.to_string(),
                    backend: observed.backend.clone(),
                },
                (Some(json(observed)), None),
                Reason::Stale {
                    cause: cause.clone(),
                    removed: Removed::TargetGroup {
                        name: observed.name.clone(),
                    },
                },
            ),
        );
    }
}

/// A target as AWS knows it: without a port, it takes the group's.
fn target_key(target: &Target, group_port: u16) -> (String, u16) {
    (target.id.clone(), target.port.unwrap_or(group_port))
}
