//! Listener rules, matched by identity (a hash of their conditions; observed rules by their
//! `gwsync.dev/resource` tag; a desired rule whose conditions changed keeps the identity of
//! the rule from the same route rule, by its `gwsync.dev/source` tag). Twins on AWS and unreachable duplicates in the desired state
//! are set aside with a note first; then priorities are assigned over the listener
//! ([`priorities::assign`]: existing rules keep theirs where the order allows), and each rule
//! is created at its priority, modified in place (actions, transforms, conditions put back),
//! moved in one `SetRulePriorities`, or deleted.

use super::matcher::{Pair, pairs};
use super::{Phase, Planner, change, json, listener_address, priorities, rule_address};
use crate::alb::covers::covers;
use crate::alb::{Rule, RuleSource, identity};
use crate::plan::{
    ChangeAction, Difference, Note, Operation, PriorityMove, Reason, Removed, Staleness,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One listener's rules, each with its identity, after twins and duplicates are set aside.
struct Keyed<'a> {
    /// In desired order (translate's numbering).
    desired: Vec<(String, &'a Rule)>,
    observed: Vec<(String, &'a Rule)>,
    /// Priorities no new rule may take: foreign rules' and twins'.
    blocked: BTreeSet<u32>,
}

impl Planner<'_> {
    /// An observed rule's identity: its resource tag, or (without one) its conditions' hash.
    pub(super) fn observed_rule_id(&self, gateway: &str, port: u16, rule: &Rule) -> String {
        self.observed
            .rule_ids
            .get(&(gateway.to_string(), port))
            .and_then(|ids| ids.get(&rule.priority))
            .cloned()
            .unwrap_or_else(|| identity::rule_id(gateway, port, &rule.conditions))
    }

    pub(super) fn rules(&mut self, gateway: &str, port: u16, desired: &[Rule], observed: &[Rule]) {
        let keyed = self.key_rules(gateway, port, desired, observed);
        let desired_ids: Vec<&String> = keyed.desired.iter().map(|(id, _)| id).collect();
        let observed_priorities: BTreeMap<String, u32> = keyed
            .observed
            .iter()
            .map(|(id, r)| (id.clone(), r.priority))
            .collect();
        let assignment =
            match priorities::assign(&desired_ids, &observed_priorities, &keyed.blocked) {
                Ok(a) => a,
                Err(no_room) => {
                    self.notes.push(Note::NoRoom {
                        listener: listener_address(gateway, port),
                        rules: no_room.rules,
                        free: no_room.free,
                    });
                    return;
                }
            };
        let priority_of: BTreeMap<&String, u32> = desired_ids
            .iter()
            .copied()
            .zip(assignment.priorities.iter().copied())
            .collect();
        self.foreign_shadows(gateway, port, &keyed.desired, &priority_of);
        let paired = pairs(
            keyed.desired.iter().map(|(id, r)| (id.clone(), *r)),
            keyed.observed.iter().map(|(id, r)| (id.clone(), *r)),
        );
        for (id, pair) in paired {
            match pair {
                Pair::Create(rule) => {
                    self.create_rule(gateway, port, &id, rule, priority_of[&id]);
                }
                Pair::Update { desired, observed } => {
                    self.update_rule(gateway, port, &id, desired, observed);
                }
                Pair::Delete(rule) => {
                    self.delete_rule(gateway, port, &id, rule, &Staleness::RuleUnwanted);
                }
            }
        }
        let moves = assignment
            .moves
            .iter()
            .map(|m| PriorityMove {
                rule: m.id.clone(),
                from: m.from,
                to: m.to,
            })
            .collect();
        self.move_rules(gateway, port, moves, assignment.renumbered);
    }

    /// A note for each desired rule that a foreign rule before it shadows (see
    /// [`covers`]): AWS evaluates by priority, whoever made the rule.
    fn foreign_shadows(
        &mut self,
        gateway: &str,
        port: u16,
        desired: &[(String, &Rule)],
        priority_of: &BTreeMap<&String, u32>,
    ) {
        let key = (gateway.to_string(), port);
        let Some(foreign) = self.observed.foreign_rules.get(&key) else {
            return;
        };
        for (id, rule) in desired {
            let priority = priority_of[id];
            let shadow = foreign
                .iter()
                .filter(|f| f.priority < priority)
                .find(|f| covers(&f.conditions, &rule.conditions));
            if let Some(f) = shadow {
                self.notes.push(Note::ShadowedByForeign {
                    address: rule_address(gateway, port, id),
                    priority,
                    foreign_priority: f.priority,
                    foreign_conditions: f.conditions.clone(),
                });
            }
        }
    }

    /// Each rule with its identity. A twin on AWS (a crash between create and tag?) is
    /// ambiguous for calls by id: it is left alone and its priority stays taken. Of two
    /// desired rules with the same conditions, the later can never match: it is left out.
    fn key_rules<'r>(
        &mut self,
        gateway: &str,
        port: u16,
        desired: &'r [Rule],
        observed: &'r [Rule],
    ) -> Keyed<'r> {
        let mut blocked: BTreeSet<u32> = self
            .observed
            .foreign_priorities
            .get(&(gateway.to_string(), port))
            .cloned()
            .unwrap_or_default();
        let mut observed_keyed: Vec<(String, &Rule)> = Vec::new();
        let mut first_priority: BTreeMap<String, u32> = BTreeMap::new();
        for rule in observed {
            let id = self.observed_rule_id(gateway, port, rule);
            match first_priority.get(&id) {
                Some(&kept) => {
                    self.notes.push(Note::TwinRules {
                        address: rule_address(gateway, port, &id),
                        kept,
                        left: rule.priority,
                    });
                    blocked.insert(rule.priority);
                }
                None => {
                    first_priority.insert(id.clone(), rule.priority);
                    observed_keyed.push((id, rule));
                }
            }
        }
        let mut ordered: Vec<&Rule> = desired.iter().collect();
        ordered.sort_by_key(|r| r.priority);
        let mut desired_keyed: Vec<(String, &Rule)> = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for rule in ordered {
            let id = identity::rule_id(gateway, port, &rule.conditions);
            if !seen.insert(id.clone()) {
                self.notes.push(Note::UnreachableRule {
                    address: rule_address(gateway, port, &id),
                    conditions: rule.conditions.clone(),
                });
                continue;
            }
            desired_keyed.push((id, rule));
        }
        self.keep_identity_by_source(&mut desired_keyed, &observed_keyed);
        Keyed {
            desired: desired_keyed,
            observed: observed_keyed,
            blocked,
        }
    }

    /// A desired rule whose conditions changed gets the identity of the owned rule on AWS
    /// that came from the same route rule (its `gwsync.dev/source` tag), so the change is one
    /// `ModifyRule` at the rule's place instead of a new rule and a deleted one. Where one
    /// route rule made several ALB rules (several match groups or hostnames), those without
    /// a counterpart of equal conditions are paired in listener order. Rules of other
    /// sources (listener isolation) and rules without the tag keep their conditions' hash.
    fn keep_identity_by_source(
        &self,
        desired: &mut [(String, &Rule)],
        observed: &[(String, &Rule)],
    ) {
        let desired_ids: BTreeSet<String> = desired.iter().map(|(id, _)| id.clone()).collect();
        let observed_ids: BTreeSet<&str> = observed.iter().map(|(id, _)| id.as_str()).collect();
        // Unpaired owned rules by source, in priority order (observe sorts them).
        let mut unpaired: BTreeMap<&str, VecDeque<&String>> = BTreeMap::new();
        for (id, _) in observed {
            if desired_ids.contains(id) {
                continue;
            }
            if let Some(source) = self.observed.rule_sources.get(id) {
                unpaired.entry(source.as_str()).or_default().push_back(id);
            }
        }
        for (id, rule) in desired.iter_mut() {
            if observed_ids.contains(id.as_str()) {
                continue;
            }
            let Some(source @ RuleSource::Route { .. }) = &rule.source else {
                continue;
            };
            let tag = identity::source_tag(source);
            if let Some(kept) = unpaired.get_mut(tag.as_str()).and_then(VecDeque::pop_front) {
                *id = kept.clone();
            }
        }
    }

    fn create_rule(&mut self, gateway: &str, port: u16, id: &str, rule: &Rule, priority: u32) {
        let mut created = rule.clone();
        created.priority = priority;
        let reason = Reason::NewRule {
            source: rule.source.clone(),
            conditions: rule.conditions.clone(),
            actions: rule.actions.clone(),
            priority,
        };
        let after = json(&created);
        self.push(
            Phase::Rules,
            change(
                rule_address(gateway, port, id),
                ChangeAction::Create,
                Operation::CreateRule {
                    gateway: gateway.to_string(),
                    port,
                    id: id.to_string(),
                    rule: created,
                },
                (None, Some(after)),
                reason,
            )
            .owned_by(rule.owner.as_ref()),
        );
    }

    /// Actions and transforms, and the conditions when someone edited them on AWS. The
    /// priority is left alone: a move is its own change.
    fn update_rule(&mut self, gateway: &str, port: u16, id: &str, desired: &Rule, current: &Rule) {
        let differences = rule_differences(desired, current);
        if differences.is_empty() {
            return;
        }
        let mut modified = desired.clone();
        modified.priority = current.priority;
        let mut after = modified.clone();
        after.source = None;
        self.push(
            Phase::Rules,
            change(
                rule_address(gateway, port, id),
                ChangeAction::Update,
                Operation::ModifyRule {
                    gateway: gateway.to_string(),
                    port,
                    id: id.to_string(),
                    rule: modified,
                },
                (Some(json(current)), Some(json(&after))),
                Reason::RuleDiffers {
                    source: desired.source.clone(),
                    differences,
                },
            )
            .owned_by(desired.owner.as_ref().or(current.owner.as_ref())),
        );
    }

    fn move_rules(&mut self, gateway: &str, port: u16, moves: Vec<PriorityMove>, renumbered: bool) {
        if moves.is_empty() {
            return;
        }
        let before: BTreeMap<&str, u32> = moves.iter().map(|m| (m.rule.as_str(), m.from)).collect();
        let after: BTreeMap<&str, u32> = moves.iter().map(|m| (m.rule.as_str(), m.to)).collect();
        let jsons = (Some(json(&before)), Some(json(&after)));
        self.push(
            Phase::RulePriorities,
            change(
                format!("{}/priorities", listener_address(gateway, port)),
                ChangeAction::Move,
                Operation::SetRulePriorities {
                    gateway: gateway.to_string(),
                    port,
                    priorities: moves.iter().map(|m| (m.rule.clone(), m.to)).collect(),
                },
                jsons,
                Reason::Reorder { moves, renumbered },
            ),
        );
    }

    pub(super) fn delete_rule(
        &mut self,
        gateway: &str,
        port: u16,
        id: &str,
        observed: &Rule,
        cause: &Staleness,
    ) {
        self.push(
            Phase::StaleRules,
            change(
                rule_address(gateway, port, id),
                ChangeAction::Delete,
                Operation::DeleteRule {
                    gateway: gateway.to_string(),
                    port,
                    id: id.to_string(),
                },
                (Some(json(observed)), None),
                Reason::Stale {
                    cause: cause.clone(),
                    removed: Removed::Rule {
                        conditions: observed.conditions.clone(),
                        actions: observed.actions.clone(),
                        priority: observed.priority,
                    },
                },
            )
            .owned_by(observed.owner.as_ref()),
        );
    }
}

/// What differs between a desired rule and the owned rule of the same identity on AWS.
fn rule_differences(desired: &Rule, current: &Rule) -> Vec<Difference> {
    let mut differences = Vec::new();
    if desired.actions != current.actions {
        differences.push(Difference::Actions {
            before: current.actions.clone(),
            after: desired.actions.clone(),
        });
    }
    if desired.transforms != current.transforms {
        differences.push(Difference::Transforms {
            before: current.transforms.clone(),
            after: desired.transforms.clone(),
        });
    }
    if desired.conditions != current.conditions {
        differences.push(Difference::Conditions {
            before: current.conditions.clone(),
            after: desired.conditions.clone(),
        });
    }
    differences
}
