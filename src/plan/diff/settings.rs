//! What load balancers and target groups share: attributes (only the ones the desired state
//! sets are compared) and user tags (gwsync's own are never compared).

use super::{Phase, Planner, change, json};
use crate::alb::identity::user_tags;
use crate::plan::{AttributeChange, ChangeAction, Difference, Operation, Reason, TaggedResource};
use std::collections::{BTreeMap, BTreeSet};

/// The attributes the desired state sets and AWS has otherwise (AWS reports every attribute,
/// most with their defaults; the ones not configured are left alone), as the difference and
/// the attributes to send.
pub(super) fn changed_attributes(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> Option<(Difference, BTreeMap<String, String>)> {
    let changes: Vec<AttributeChange> = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(v))
        .map(|(k, v)| AttributeChange {
            key: k.clone(),
            before: observed.get(k).cloned(),
            after: v.clone(),
        })
        .collect();
    if changes.is_empty() {
        return None;
    }
    let send = changes
        .iter()
        .map(|c| (c.key.clone(), c.after.clone()))
        .collect();
    Some((Difference::Attributes { changes }, send))
}

/// The JSON of the attributes a change sends, before (AWS's values, `null` when unset) and
/// after.
pub(super) fn attribute_json(
    difference: &Difference,
) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
    let Difference::Attributes { changes } = difference else {
        return (None, None);
    };
    let before: BTreeMap<&str, Option<&String>> = changes
        .iter()
        .map(|c| (c.key.as_str(), c.before.as_ref()))
        .collect();
    let after: BTreeMap<&str, &String> =
        changes.iter().map(|c| (c.key.as_str(), &c.after)).collect();
    (Some(json(&before)), Some(json(&after)))
}

/// Whether two lists hold the same values, in any order.
pub(super) fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

impl Planner<'_> {
    /// User tags of a load balancer or target group: one `SetTags` for what to set and what
    /// to remove. `aws:` tags cannot be removed.
    pub(super) fn tags(
        &mut self,
        phase: Phase,
        address: String,
        resource: TaggedResource,
        desired: &BTreeMap<String, String>,
        observed: &BTreeMap<String, String>,
    ) {
        let desired = user_tags(desired);
        let observed = user_tags(observed);
        let set: BTreeMap<String, String> = desired
            .iter()
            .filter(|(k, v)| observed.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let remove: Vec<String> = observed
            .keys()
            .filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:"))
            .cloned()
            .collect();
        if set.is_empty() && remove.is_empty() {
            return;
        }
        self.push(
            phase,
            change(
                address,
                ChangeAction::Update,
                Operation::SetTags {
                    resource,
                    add: set.clone(),
                    remove: remove.clone(),
                },
                (Some(json(&observed)), Some(json(&desired))),
                Reason::Tags { set, remove },
            ),
        );
    }
}
