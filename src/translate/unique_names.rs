//! Target group names are unique per account and region, and `CreateTargetGroup` with the
//! name and settings of an existing group returns that group: two groups of the desired
//! state with one name would be one group on AWS, forwarding one team's traffic to the
//! other's targets. gwsync's derived names embed a hash of the Gateway and backend and never
//! clash; a clash comes from `targetGroupName` overrides (two teams whose grants overlap, or
//! one backend used on two Gateways under one fixed name). Every team that named a clashing
//! group is refused: which of them the name rightfully belongs to is the platform's grant
//! to settle, and no team's traffic may go to another's targets meanwhile.

use crate::alb::Stack;
use crate::diagnostic::{Diagnostic, codes};
use crate::manifest::Body;
use crate::tenancy::Outcome;
use std::collections::{BTreeMap, BTreeSet};

/// A target group of the desired state: its Gateway, backend and owner.
struct Holder<'a> {
    gateway: &'a str,
    backend: &'a str,
    owner: Option<&'a str>,
}

/// The teams whose target groups share a name with another group of `stack`, and a
/// refusal for each such group, on the TargetGroupConfiguration that names it.
pub(super) fn clashes(stack: &Stack, teams: &[&Outcome]) -> (BTreeSet<String>, Vec<Diagnostic>) {
    let mut by_name: BTreeMap<&str, Vec<Holder<'_>>> = BTreeMap::new();
    for lb in &stack.load_balancers {
        for tg in &lb.target_groups {
            by_name.entry(tg.name.as_str()).or_default().push(Holder {
                gateway: &lb.gateway,
                backend: &tg.backend,
                owner: tg.owner.as_deref(),
            });
        }
    }
    let mut refused = BTreeSet::new();
    let mut diagnostics = Vec::new();
    for (name, holders) in by_name.into_iter().filter(|(_, h)| h.len() > 1) {
        let users: Vec<String> = holders
            .iter()
            .map(|h| format!("{} on {}", h.backend, h.gateway))
            .collect();
        for Holder {
            gateway,
            backend,
            owner,
        } in &holders
        {
            let Some(team) = owner.and_then(|o| teams.iter().find(|t| t.name == o)) else {
                continue;
            };
            refused.insert(team.name.clone());
            let d = Diagnostic::refusal(
                codes::TARGET_GROUP_NAME_TAKEN,
                format!(
                    "target group name `{name}` is given to more than one group ({}); on AWS they would be one group, so the teams naming it are refused until one name is changed",
                    users.join(", ")
                ),
            )
            .field("spec.defaultConfiguration.targetGroupName")
            .team(&team.name);
            diagnostics.push(match configuration_of(team, backend) {
                Some(doc) => doc.diagnostic(d),
                None => d.object(format!("target group of {backend} on {gateway}")),
            });
        }
    }
    (refused, diagnostics)
}

/// The TargetGroupConfiguration of `backend` (`namespace/name:port`) among the team's
/// documents.
pub(super) fn configuration_of<'a>(
    team: &'a Outcome,
    backend: &str,
) -> Option<&'a crate::manifest::Document> {
    let (service, _port) = backend.rsplit_once(':')?;
    let (namespace, name) = service.split_once('/')?;
    team.documents.iter().find(|doc| {
        doc.key.namespace.as_deref() == Some(namespace)
            && matches!(&doc.body, Body::TargetGroupConfiguration(spec)
                if spec.target_reference.as_ref().is_some_and(|t| t.name == name))
    })
}
