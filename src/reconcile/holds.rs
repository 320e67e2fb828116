//! Holds: what a live plan leaves as it is on AWS, so that one team's refusal (or an
//! operator's `gwsync hold`) never blocks the others.
//!
//! A team refused at a revision and without an admitted state on record (see
//! [`super::compose_snapshot`] for the team that has one) has no routes in the desired
//! state; its rules on AWS are told apart by their `gwsync.dev/owner` tag and left exactly
//! as they are: to the diff they become foreign rules (never touched, their priorities never
//! reused), and the target groups they forward to stay. A held team is handled the same
//! way, once its rules of the current revision are dropped from the desired state. Only
//! where the rules cannot be told apart (made by an older gwsync, without the tag) is the
//! whole Gateway held, as are Gateways that translation refused. An HTTPS listener for which
//! ACM has no certificate is held alone ([`hold_listeners_without_certificates`]).

use crate::alb::{Listener, LoadBalancer, Observed, Rule, Stack};
use crate::plan::{GatewayHold, HeldBack, TeamKept};
use crate::source::Revision;
use crate::tenancy::Admission;
use crate::translate::Translation;
use crate::validate::Report;
use std::collections::{BTreeMap, BTreeSet};

/// The teams whose rules stay as they are on AWS, and why.
pub type Kept = BTreeMap<String, TeamKept>;

/// The teams whose rules on AWS stay as they are: refused in this (effective) revision (their
/// routes are not in the desired state), and `held` (by an operator, or stalled).
pub(super) fn kept_teams(
    revision: &Revision,
    admission: &Admission,
    translation: &Translation,
    held: &Kept,
) -> Kept {
    let mut kept: Kept = refused_teams(revision, admission, translation)
        .into_iter()
        .map(|team| (team, TeamKept::Refused))
        .collect();
    kept.extend(held.iter().map(|(team, why)| (team.clone(), *why)));
    kept
}

/// Drops a held (or stalled) team's rules of the current revision from the desired state,
/// with the target groups only they forward to: what is live for it stays
/// ([`keep_team_rules`]).
pub(super) fn drop_held_rules(desired: &mut Stack, kept: &Kept) {
    let held = |r: &Rule| {
        r.owner
            .as_ref()
            .is_some_and(|o| matches!(kept.get(o), Some(TeamKept::Held | TeamKept::Stalled)))
    };
    for lb in &mut desired.load_balancers {
        let mut dropped = BTreeSet::new();
        let mut remaining = BTreeSet::new();
        for listener in &mut lb.listeners {
            for rule in &listener.rules {
                let backends = rule.owned_backends().cloned();
                if held(rule) {
                    dropped.extend(backends);
                } else {
                    remaining.extend(backends);
                }
            }
            listener.rules.retain(|r| !held(r));
        }
        lb.target_groups
            .retain(|tg| !dropped.contains(&tg.backend) || remaining.contains(&tg.backend));
    }
}

/// Teams refused in this (effective) revision: their routes are not in the desired state.
fn refused_teams(
    revision: &Revision,
    admission: &Admission,
    translation: &Translation,
) -> Vec<String> {
    let view = Report {
        revision,
        admission,
        translation,
        team: None,
    };
    admission
        .teams
        .iter()
        .filter(|t| !view.team_admitted(&t.name))
        .map(|t| t.name.clone())
        .collect()
}

/// Gateways that must not change in this revision, with why: refused by translation, a
/// listener whose certificate was not found, or owned rules without an owner tag beside a
/// refused team (which of them are the team's cannot be told).
pub(super) fn held_gateways(
    translation: &Translation,
    desired: &Stack,
    observed: &Observed,
    kept: &Kept,
    rules_quota: usize,
) -> BTreeMap<String, BTreeSet<GatewayHold>> {
    let mut hold: BTreeMap<String, BTreeSet<GatewayHold>> = BTreeMap::new();
    let mut add = |gateway: &str, cause: GatewayHold| {
        hold.entry(gateway.to_string()).or_default().insert(cause);
    };
    for gateway in &translation.refused_gateways {
        add(gateway, GatewayHold::Untranslatable);
    }
    for lb in &desired.load_balancers {
        if let Some(cause) = over_rule_quota(lb, observed, rules_quota) {
            add(&lb.gateway, cause);
        }
    }
    for lb in &observed.stack.load_balancers {
        let untagged = lb
            .listeners
            .iter()
            .flat_map(|l| &l.rules)
            .any(|r| r.owner.is_none());
        if untagged {
            for (team, because) in kept {
                let cause = match because {
                    TeamKept::Refused => GatewayHold::RefusedTeam { team: team.clone() },
                    TeamKept::Held => GatewayHold::HeldTeam { team: team.clone() },
                    TeamKept::Stalled => GatewayHold::StalledTeam { team: team.clone() },
                };
                add(&lb.gateway, cause);
            }
        }
    }
    hold
}

/// When the plan would add rules to `lb` beyond the quota once the foreign rules on its
/// listeners are counted (translate counts only gwsync's): AWS would refuse the creates past
/// it, so the Gateway waits with the numbers and the fix.
fn over_rule_quota(lb: &LoadBalancer, observed: &Observed, quota: usize) -> Option<GatewayHold> {
    let count = |lb: &LoadBalancer| lb.listeners.iter().map(|l| l.rules.len()).sum::<usize>();
    let owned = count(lb);
    let foreign = observed.foreign_rule_count(&lb.gateway);
    let now = observed.stack.load_balancer(&lb.gateway).map_or(0, count);
    (owned > now && owned + foreign > quota).then_some(GatewayHold::RuleQuota {
        owned,
        foreign,
        quota,
    })
}

/// Replaces held Gateways in the desired state by what AWS has, so that the diff leaves them
/// alone.
/// An HTTPS listener for which ACM has no certificate stays as it is on AWS (or, not there
/// yet, is not made), while the Gateway's other listeners go ahead: the listener on AWS is
/// kept with its rules and the owned target groups they forward to; target groups only the
/// left-out listener would have used are not made.
pub(super) fn hold_listeners_without_certificates(desired: &mut Stack, observed: &Stack) {
    for lb in &mut desired.load_balancers {
        let unresolved: BTreeSet<u16> = lb
            .listeners
            .iter()
            .filter(|l| l.certificates.iter().any(|c| c.hostname().is_some()))
            .map(|l| l.port)
            .collect();
        if unresolved.is_empty() {
            continue;
        }
        lb.listeners.retain(|l| !unresolved.contains(&l.port));
        let on_aws = observed
            .load_balancers
            .iter()
            .find(|o| o.gateway == lb.gateway);
        let kept: Vec<&Listener> = on_aws
            .into_iter()
            .flat_map(|o| &o.listeners)
            .filter(|l| unresolved.contains(&l.port))
            .collect();
        lb.listeners.extend(kept.iter().map(|l| (*l).clone()));
        lb.listeners.sort_by_key(|l| l.port);
        let used: BTreeSet<String> = lb
            .listeners
            .iter()
            .flat_map(|l| &l.rules)
            .flat_map(Rule::owned_backends)
            .cloned()
            .collect();
        lb.target_groups.retain(|tg| used.contains(&tg.backend));
        for group in on_aws.into_iter().flat_map(|o| &o.target_groups) {
            if used.contains(&group.backend)
                && !lb
                    .target_groups
                    .iter()
                    .any(|tg| tg.backend == group.backend)
            {
                lb.target_groups.push(group.clone());
            }
        }
    }
}

pub(super) fn hold_back<V>(desired: &mut Stack, observed: &Stack, hold: &BTreeMap<String, V>) {
    desired
        .load_balancers
        .retain(|lb| !hold.contains_key(&lb.gateway));
    desired.load_balancers.extend(
        observed
            .load_balancers
            .iter()
            .filter(|lb| hold.contains_key(&lb.gateway))
            .cloned(),
    );
    desired
        .load_balancers
        .sort_by(|a, b| a.gateway.cmp(&b.gateway));
}

/// Makes the rules of the `kept_teams` foreign to the diff (out of `observed`, their
/// priorities reserved) and keeps in `desired` the owned target groups they forward to; one
/// note per team and Gateway. Gateways held as a whole (`held_gateways`) are left out: they
/// are already equal on both sides, and their rules must stay on both.
pub(super) fn keep_team_rules<V>(
    observed: &mut Observed,
    desired: &mut Stack,
    kept_teams: &Kept,
    held_gateways: &BTreeMap<String, V>,
) -> Vec<HeldBack> {
    let mut kept: BTreeMap<(String, String), usize> = BTreeMap::new();
    let loose = observed
        .stack
        .load_balancers
        .iter_mut()
        .filter(|lb| !held_gateways.contains_key(&lb.gateway));
    for lb in loose {
        let mut backends = BTreeSet::new();
        for listener in &mut lb.listeners {
            let key = (lb.gateway.clone(), listener.port);
            let (theirs, others): (Vec<Rule>, Vec<Rule>) = std::mem::take(&mut listener.rules)
                .into_iter()
                .partition(|r| r.owner.as_ref().is_some_and(|o| kept_teams.contains_key(o)));
            listener.rules = others;
            for rule in theirs {
                if let Some(ids) = observed.rule_ids.get_mut(&key) {
                    ids.remove(&rule.priority);
                }
                observed
                    .foreign_priorities
                    .entry(key.clone())
                    .or_default()
                    .insert(rule.priority);
                backends.extend(rule.owned_backends().cloned());
                let owner = rule.owner.clone().unwrap_or_default();
                *kept.entry((owner, lb.gateway.clone())).or_default() += 1;
            }
        }
        keep_target_groups(desired, &lb.gateway, &lb.target_groups, &backends);
    }
    kept.into_iter()
        .map(|((team, gateway), rules)| HeldBack::TeamRulesKept {
            because: kept_teams.get(&team).copied().unwrap_or(TeamKept::Refused),
            team,
            gateway,
            rules,
        })
        .collect()
}

/// The observed target groups of `backends` join the desired load balancer of `gateway`
/// where it lacks them (a kept rule still forwards to them).
fn keep_target_groups(
    desired: &mut Stack,
    gateway: &str,
    observed: &[crate::alb::TargetGroup],
    backends: &BTreeSet<String>,
) {
    let Some(lb) = desired
        .load_balancers
        .iter_mut()
        .find(|lb| lb.gateway == gateway)
    else {
        return;
    };
    for tg in observed.iter().filter(|tg| backends.contains(&tg.backend)) {
        if !lb.target_groups.iter().any(|d| d.backend == tg.backend) {
            lb.target_groups.push(tg.clone());
        }
    }
    lb.target_groups.sort_by(|a, b| a.backend.cmp(&b.backend));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::Action;
    use crate::alb::Protocol;
    use crate::alb::fixtures::{forward, host, listener, load_balancer, rule, target_group};
    use crate::plan::diff;

    fn owned(priority: u32, h: &str, owner: Option<&str>, backend: &str) -> Rule {
        Rule {
            owner: owner.map(str::to_string),
            ..rule(priority, vec![host(&[h])], vec![forward(&[(backend, 1)])])
        }
    }

    fn observed(rules: Vec<Rule>) -> Observed {
        let mut lb = load_balancer("p/gw", vec![listener(80, Protocol::Http, rules.clone())]);
        lb.target_groups = vec![target_group("a/a1:80"), target_group("b/b1:80")];
        let ids = rules
            .iter()
            .map(|r| {
                (
                    r.priority,
                    crate::alb::identity::rule_id("p/gw", 80, &r.conditions),
                )
            })
            .collect();
        Observed::new(
            Stack {
                load_balancers: vec![lb],
            },
            BTreeMap::from([(("p/gw".to_string(), 80), ids)]),
            BTreeMap::new(),
            BTreeSet::new(),
        )
    }

    /// Team a is refused: only b's rules are desired. a's rule stays, with its target
    /// group and its priority; b's change is planned as usual.
    #[test]
    fn foreign_rules_count_towards_the_quota_when_the_plan_adds_rules() {
        let mut on_aws = observed(vec![owned(10, "a.example.com", Some("a"), "a/a1:80")]);
        on_aws
            .foreign_priorities
            .insert(("p/gw".to_string(), 80), [1, 2].into());
        let desired = |hosts: &[&str]| Stack {
            load_balancers: vec![load_balancer(
                "p/gw",
                vec![listener(
                    80,
                    Protocol::Http,
                    hosts
                        .iter()
                        .enumerate()
                        .map(|(i, h)| owned(10 * (i as u32 + 1), h, Some("a"), "a/a1:80"))
                        .collect(),
                )],
            )],
        };
        let nobody = Kept::new();
        let more = desired(&["a.example.com", "b.example.com", "c.example.com"]);
        // 3 owned + 2 foreign > 4.
        assert_eq!(
            held_gateways(&Translation::default(), &more, &on_aws, &nobody, 4),
            BTreeMap::from([(
                "p/gw".to_string(),
                BTreeSet::from([GatewayHold::RuleQuota {
                    owned: 3,
                    foreign: 2,
                    quota: 4
                }])
            )])
        );
        assert!(held_gateways(&Translation::default(), &more, &on_aws, &nobody, 5).is_empty());
        // Not adding rules: never held, whatever the count.
        let same = desired(&["a.example.com"]);
        assert!(held_gateways(&Translation::default(), &same, &on_aws, &nobody, 1).is_empty());
    }

    #[test]
    fn a_refused_teams_tagged_rules_stay_and_the_others_move_on() {
        let on_aws = observed(vec![
            owned(10, "a.example.com", Some("a"), "a/a1:80"),
            owned(20, "b.example.com", Some("b"), "b/b1:80"),
        ]);
        let mut b_changed = owned(1, "b.example.com", Some("b"), "b/b1:80");
        b_changed.actions = vec![Action::fixed(503)];
        let mut desired_lb =
            load_balancer("p/gw", vec![listener(80, Protocol::Http, vec![b_changed])]);
        desired_lb.target_groups = vec![target_group("b/b1:80")];
        let mut desired = Stack {
            load_balancers: vec![desired_lb],
        };
        let refused = Kept::from([("a".to_string(), TeamKept::Refused)]);
        let translation = Translation::default();
        assert!(held_gateways(&translation, &desired, &on_aws, &refused, 100).is_empty());
        let mut seen = on_aws.clone();
        let kept = keep_team_rules(
            &mut seen,
            &mut desired,
            &refused,
            &BTreeMap::<String, ()>::new(),
        );
        assert_eq!(
            kept,
            [HeldBack::TeamRulesKept {
                team: "a".into(),
                gateway: "p/gw".into(),
                rules: 1,
                because: TeamKept::Refused,
            }]
        );
        let plan = diff(&desired, &seen, None);
        let calls: Vec<&str> = plan
            .changes
            .iter()
            .map(|c| crate::plan::render::call(&c.operation))
            .collect();
        assert_eq!(
            calls,
            ["ModifyRule"],
            "{}",
            crate::plan::render::text(&plan)
        );
        assert_eq!(plan.observed_fingerprint, on_aws.fingerprint);
    }

    #[test]
    fn untagged_rules_beside_a_refused_team_hold_the_gateway() {
        let on_aws = observed(vec![owned(10, "a.example.com", None, "a/a1:80")]);
        let desired = Stack::default();
        let refused = Kept::from([("a".to_string(), TeamKept::Refused)]);
        let held = held_gateways(&Translation::default(), &desired, &on_aws, &refused, 100);
        assert_eq!(
            held["p/gw"],
            BTreeSet::from([GatewayHold::RefusedTeam { team: "a".into() }])
        );
        let nobody = Kept::new();
        assert!(held_gateways(&Translation::default(), &desired, &on_aws, &nobody, 100).is_empty());
    }

    /// A held team's new rules are not created and its rules on AWS stay, with their
    /// target groups; the other team's rules are untouched.
    #[test]
    fn a_held_teams_new_rules_wait_and_its_live_rules_stay() {
        let on_aws = observed(vec![
            owned(10, "a.example.com", Some("a"), "a/a1:80"),
            owned(20, "b.example.com", Some("b"), "b/b1:80"),
        ]);
        let a_new = owned(1, "a2.example.com", Some("a"), "a/a2:80");
        let b_same = owned(2, "b.example.com", Some("b"), "b/b1:80");
        let rules = vec![a_new, b_same];
        let mut desired_lb = load_balancer("p/gw", vec![listener(80, Protocol::Http, rules)]);
        desired_lb.target_groups = vec![target_group("a/a2:80"), target_group("b/b1:80")];
        let mut desired = Stack {
            load_balancers: vec![desired_lb],
        };
        let held = Kept::from([("a".to_string(), TeamKept::Held)]);
        drop_held_rules(&mut desired, &held);
        let mut seen = on_aws.clone();
        let kept = keep_team_rules(
            &mut seen,
            &mut desired,
            &held,
            &BTreeMap::<String, ()>::new(),
        );
        assert!(
            kept[0].to_string().starts_with("team a is held"),
            "{kept:?}"
        );
        let plan = diff(&desired, &seen, None);
        assert!(plan.is_empty(), "{}", crate::plan::render::text(&plan));
    }

    /// A Gateway held as a whole (here: one translation refused) stays equal on both
    /// sides, a refused team's tagged rules on it included: nothing is created or deleted.
    #[test]
    fn a_gateway_held_as_a_whole_keeps_the_refused_teams_rules_too() {
        let on_aws = observed(vec![
            owned(10, "a.example.com", Some("a"), "a/a1:80"),
            owned(20, "b.example.com", Some("b"), "b/b1:80"),
        ]);
        let mut desired = Stack::default();
        let refused = Kept::from([("a".to_string(), TeamKept::Refused)]);
        let hold = BTreeMap::from([(
            "p/gw".to_string(),
            BTreeSet::from([GatewayHold::Untranslatable]),
        )]);
        hold_back(&mut desired, &on_aws.stack, &hold);
        let mut seen = on_aws.clone();
        let kept = keep_team_rules(&mut seen, &mut desired, &refused, &hold);
        assert!(kept.is_empty(), "{kept:?}");
        let plan = diff(&desired, &seen, None);
        assert!(plan.is_empty(), "{}", crate::plan::render::text(&plan));
    }

    /// An HTTPS listener whose certificate ACM does not have stays as it is on AWS, with its
    /// rules and the target groups they use, while the HTTP listener's change goes ahead.
    #[test]
    fn a_listener_without_a_certificate_is_held_alone() {
        use crate::alb::{Certificate, Protocol};
        let on_aws = observed(vec![owned(10, "a.example.com", Some("a"), "a/a1:80")]);
        let mut https_on_aws = on_aws.stack.clone();
        let lb = &mut https_on_aws.load_balancers[0];
        lb.listeners[0].port = 443;
        lb.listeners[0].protocol = Protocol::Https;
        lb.listeners[0].certificates = vec![Certificate::Arn("arn:old".into())];
        let mut desired = https_on_aws.clone();
        let https = &mut desired.load_balancers[0].listeners[0];
        https.certificates = vec![Certificate::ForHostname("new.example.com".into())];
        https.rules.clear();
        let mut http = on_aws.stack.load_balancers[0].listeners[0].clone();
        http.rules[0].priority = 20;
        desired.load_balancers[0].listeners.push(http.clone());

        hold_listeners_without_certificates(&mut desired, &https_on_aws);
        let lb = &desired.load_balancers[0];
        let ports: Vec<u16> = lb.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [80, 443]);
        assert_eq!(
            lb.listeners[1], https_on_aws.load_balancers[0].listeners[0],
            "kept as on AWS"
        );
        assert!(lb.target_groups.iter().any(|tg| tg.backend == "a/a1:80"));

        // Not on AWS yet: the listener is not made, and neither are groups only it used.
        let mut fresh = desired.clone();
        fresh.load_balancers[0].listeners[1].certificates =
            vec![Certificate::ForHostname("new.example.com".into())];
        fresh.load_balancers[0].listeners.remove(0);
        hold_listeners_without_certificates(&mut fresh, &Stack::default());
        assert!(fresh.load_balancers[0].listeners.is_empty());
        assert!(fresh.load_balancers[0].target_groups.is_empty());
    }
}
