//! Preflight against AWS: what only the observed state can tell about a desired rule, found
//! before any write. A `TargetGroupName` backend that does not exist, or lives in another
//! VPC than its load balancer, would make `CreateRule`/`ModifyRule` fail and stop that
//! Gateway at apply; instead the rule answers 500 (as a rule with an unresolved backend
//! does, docs/SEMANTICS.md) and the plan says which route, listener and target group. So does
//! a target group gwsync would create under a name that a target group it does not own
//! already has (`CreateTargetGroup` would fail with `DuplicateTargetGroupName`, forever). The
//! static value checks are translation's (`alb::values`), so `validate` has them too.

use crate::alb::{Rule, Stack, TargetGroup, TargetGroupRef};
use crate::aws::AwsIds;
use crate::plan::{HeldBack, Unusable};
use std::collections::BTreeMap;

/// Rewrites every desired rule that forwards to an unusable target group into a 500, and
/// says why for each; a target group that cannot be created leaves the desired state.
pub fn unusable_target_groups(desired: &mut Stack, ids: &AwsIds) -> Vec<HeldBack> {
    let mut found = Vec::new();
    for lb in &mut desired.load_balancers {
        let lb_vpc = ids.vpcs.get(&lb.gateway);
        let taken = taken_names(&lb.gateway, &lb.target_groups, ids);
        lb.target_groups
            .retain(|tg| !taken.contains_key(&tg.backend));
        for listener in &mut lb.listeners {
            for rule in &mut listener.rules {
                let cause = first_unusable(rule, ids, lb_vpc).or_else(|| {
                    rule.owned_backends()
                        .find_map(|backend| taken.get(backend).cloned())
                });
                let Some(cause) = cause else {
                    continue;
                };
                rule.answer_500();
                found.push(HeldBack::RuleAnswers500 {
                    gateway: lb.gateway.clone(),
                    port: listener.port,
                    source: rule.source.clone(),
                    cause,
                });
            }
        }
    }
    found
}

/// The owned target groups of `gateway` to be created whose name a target group gwsync does
/// not own already has, by backend.
fn taken_names(
    gateway: &str,
    target_groups: &[TargetGroup],
    ids: &AwsIds,
) -> BTreeMap<String, Unusable> {
    target_groups
        .iter()
        .filter(|tg| {
            !ids.target_groups
                .contains_key(&(gateway.to_string(), tg.backend.clone()))
                && ids.existing_target_groups.contains_key(&tg.name)
        })
        .map(|tg| {
            (
                tg.backend.clone(),
                Unusable::NameTaken {
                    name: tg.name.clone(),
                    backend: tg.backend.clone(),
                },
            )
        })
        .collect()
}

fn first_unusable(rule: &Rule, ids: &AwsIds, lb_vpc: Option<&String>) -> Option<Unusable> {
    rule.forwards_to()
        .filter_map(|t| match t {
            TargetGroupRef::Existing(name) => Some(name),
            TargetGroupRef::Owned(_) => None,
        })
        .find_map(|name| {
            if !ids.existing_target_groups.contains_key(name) {
                return Some(Unusable::Missing { name: name.clone() });
            }
            match (ids.existing_target_group_vpcs.get(name), lb_vpc) {
                (Some(vpc), Some(lb_vpc)) if vpc != lb_vpc => Some(Unusable::OtherVpc {
                    name: name.clone(),
                    vpc: vpc.clone(),
                    load_balancer_vpc: lb_vpc.clone(),
                }),
                _ => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::Action;
    use crate::alb::fixtures::{forward_to, host, listener, load_balancer, rule};
    use crate::alb::{Protocol, RuleSource};

    fn stack(target_group: &str) -> Stack {
        let mut r = rule(
            1,
            vec![host(&["a.example.com"])],
            vec![forward_to(&[(
                TargetGroupRef::Existing(target_group.to_string()),
                1,
            )])],
        );
        r.source = Some(RuleSource::Route {
            route: "a/r".into(),
            rule: 0,
            matches: vec![],
            file: None,
            name: None,
        });
        Stack {
            load_balancers: vec![load_balancer(
                "platform/gw",
                vec![listener(80, Protocol::Http, vec![r])],
            )],
        }
    }

    fn ids() -> AwsIds {
        let mut ids = AwsIds::default();
        ids.vpcs.insert("platform/gw".into(), "vpc-1".into());
        for (name, vpc) in [("here", "vpc-1"), ("there", "vpc-2")] {
            ids.existing_target_groups
                .insert(name.into(), format!("arn:{name}"));
            ids.existing_target_group_vpcs
                .insert(name.into(), vpc.into());
        }
        ids
    }

    #[test]
    fn missing_and_foreign_vpc_target_groups_answer_500_and_say_why() {
        let mut fine = stack("here");
        assert!(unusable_target_groups(&mut fine, &ids()).is_empty());
        assert_eq!(fine, stack("here"));

        for (name, words) in [
            ("gone", "no target group named `gone` exists on AWS"),
            ("there", "is in vpc-2, the load balancer in vpc-1"),
        ] {
            let mut desired = stack(name);
            let found = unusable_target_groups(&mut desired, &ids());
            assert_eq!(found.len(), 1);
            let text = found[0].to_string();
            assert!(
                text.starts_with(
                    "HTTPRoute a/r rules[0] on Gateway platform/gw port 80 answers 500"
                ) && text.contains(words),
                "{text}"
            );
            let rule = &desired.load_balancers[0].listeners[0].rules[0];
            assert_eq!(rule.actions, vec![Action::fixed(500)]);
            assert_eq!(
                rule.conditions,
                stack(name).load_balancers[0].listeners[0].rules[0].conditions
            );
        }
    }

    #[test]
    fn a_target_group_whose_name_is_taken_is_not_created_and_its_rules_answer_500() {
        let owned = |backend: &str| {
            let mut r = rule(
                1,
                vec![host(&["a.example.com"])],
                vec![forward_to(&[(TargetGroupRef::Owned(backend.into()), 1)])],
            );
            r.owner = Some("a".into());
            let mut lb = load_balancer("platform/gw", vec![listener(80, Protocol::Http, vec![r])]);
            let mut tg = crate::alb::fixtures::target_group(backend);
            tg.name = "here".into();
            lb.target_groups = vec![tg];
            Stack {
                load_balancers: vec![lb],
            }
        };
        // Not created yet, and `here` is someone else's: no create, a 500, and why.
        let mut desired = owned("a/api:80");
        let found = unusable_target_groups(&mut desired, &ids());
        assert_eq!(found.len(), 1);
        let text = found[0].to_string();
        assert!(
            text.contains("a target group gwsync does not own is named `here`"),
            "{text}"
        );
        assert!(desired.load_balancers[0].target_groups.is_empty());
        assert_eq!(
            desired.load_balancers[0].listeners[0].rules[0].actions,
            vec![Action::fixed(500)]
        );
        // Already gwsync's (created before the other appeared): nothing to say.
        let mut made = ids();
        made.target_groups
            .insert(("platform/gw".into(), "a/api:80".into()), "arn:mine".into());
        let mut desired = owned("a/api:80");
        assert!(unusable_target_groups(&mut desired, &made).is_empty());
        assert_eq!(desired, owned("a/api:80"));
    }
}
