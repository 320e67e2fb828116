//! Builders for hand-made stacks, and an in-memory AWS that applies a plan with AWS's
//! constraints (unique priorities, no dangling references, children deleted first), so
//! that "the second plan is empty" is tested without AWS.

use super::*;
use crate::alb::fixtures;
use crate::alb::{
    Action, Certificate, Condition, IpAddressType, Listener, LoadBalancer, Protocol, QueryValue,
    Rule, RuleSource, Scheme, Target, TargetGroup, TargetGroupRef, TargetType, Transform,
};
use crate::plan::TaggedResource;
use crate::plan::render::call;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const GW: &str = "platform/public";

pub(crate) fn host(h: &str) -> Condition {
    fixtures::host(&[h])
}

/// A path prefix as translate writes it: the path and everything below it.
pub(crate) fn path(p: &str) -> Condition {
    fixtures::path(&[p, &format!("{p}/*")])
}

pub(crate) use fixtures::forward;

/// A rule for `host` + `path` forwarding to owned backends, from HTTPRoute
/// `team/<name>` rule 0.
pub(crate) fn rule(name: &str, h: &str, p: &str, backends: &[(&str, u32)]) -> Rule {
    let mut conditions = vec![host(h), path(p)];
    Condition::canonical_order(&mut conditions);
    Rule {
        source: Some(RuleSource::Route {
            route: format!("team/{name}"),
            rule: 0,
            matches: vec![0],
            file: None,
            name: None,
        }),
        ..fixtures::rule(0, conditions, vec![forward(backends)])
    }
}

/// Numbers the rules 1..N, as translate does; 443 is HTTPS with a certificate.
pub(crate) fn listener(port: u16, rules: Vec<Rule>) -> Listener {
    let numbered = rules
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.priority = i as u32 + 1;
            r
        })
        .collect();
    if port == 443 {
        Listener {
            certificates: vec![Certificate::Arn("arn:aws:acm:cert/main".to_string())],
            ..fixtures::listener(port, Protocol::Https, numbered)
        }
    } else {
        fixtures::listener(port, Protocol::Http, numbered)
    }
}

pub(crate) use fixtures::target_group;

/// A load balancer with the target groups its rules forward to.
pub(crate) fn load_balancer(gateway: &str, listeners: Vec<Listener>) -> LoadBalancer {
    let backends: BTreeSet<String> = listeners
        .iter()
        .flat_map(|l| &l.rules)
        .flat_map(|r| &r.actions)
        .flat_map(|a| match a {
            Action::Forward { target_groups, .. } => target_groups.clone(),
            _ => Vec::new(),
        })
        .filter_map(|w| match w.target_group {
            TargetGroupRef::Owned(b) => Some(b),
            TargetGroupRef::Existing(_) => None,
        })
        .collect();
    LoadBalancer {
        subnets: vec!["subnet-a".to_string(), "subnet-b".to_string()],
        security_groups: vec!["sg-web".to_string()],
        target_groups: backends.iter().map(|b| target_group(b)).collect(),
        ..fixtures::load_balancer(gateway, listeners)
    }
}

pub(crate) fn stack(load_balancers: Vec<LoadBalancer>) -> Stack {
    Stack { load_balancers }
}

pub(crate) fn abc() -> Vec<Rule> {
    vec![
        rule("a", "a.example.com", "/a", &[("team/a:8080", 1)]),
        rule("b", "b.example.com", "/b", &[("team/b:8080", 1)]),
        rule("c", "c.example.com", "/c", &[("team/c:8080", 1)]),
    ]
}

pub(crate) fn web(rules: Vec<Rule>) -> Stack {
    let redirect = Rule {
        priority: 0,
        conditions: Vec::new(),
        actions: vec![Action::Redirect {
            protocol: "HTTPS".to_string(),
            host: "#{host}".to_string(),
            port: "443".to_string(),
            path: "/#{path}".to_string(),
            query: "#{query}".to_string(),
            status: 301,
        }],
        transforms: Vec::new(),
        owner: None,
        source: Some(RuleSource::Route {
            route: "platform/redirect".to_string(),
            rule: 0,
            matches: Vec::new(),
            file: None,
            name: None,
        }),
    };
    stack(vec![load_balancer(
        GW,
        vec![listener(80, vec![redirect]), listener(443, rules)],
    )])
}

/// `stack` as observe would read it, with the rules' priorities as they are.
pub(crate) fn observe(stack: &Stack) -> Observed {
    let mut observed = Observed {
        stack: stack.clone(),
        fingerprint: "observed".to_string(),
        ..Observed::default()
    };
    for lb in &mut observed.stack.load_balancers {
        for l in &mut lb.listeners {
            for r in &mut l.rules {
                r.source = None;
            }
        }
    }
    reindex(&mut observed);
    observed
}

/// Rebuilds `rule_ids` from the rules' conditions and priorities.
fn reindex(observed: &mut Observed) {
    observed.rule_ids.clear();
    for lb in &observed.stack.load_balancers {
        for l in &lb.listeners {
            let ids = observed
                .rule_ids
                .entry((lb.gateway.clone(), l.port))
                .or_default();
            for r in &l.rules {
                ids.insert(
                    r.priority,
                    identity::rule_id(&lb.gateway, l.port, &r.conditions),
                );
            }
        }
    }
}

/// Gives the observed rules of a listener these priorities, in their current order.
pub(crate) fn set_priorities(observed: &mut Observed, port: u16, priorities: &[u32]) {
    let lb = observed
        .stack
        .load_balancers
        .iter_mut()
        .find(|lb| lb.gateway == GW)
        .unwrap();
    let l = lb.listeners.iter_mut().find(|l| l.port == port).unwrap();
    assert_eq!(l.rules.len(), priorities.len());
    for (r, p) in l.rules.iter_mut().zip(priorities) {
        r.priority = *p;
    }
    reindex(observed);
}

fn forwards_to(rule: &Rule) -> Vec<String> {
    rule.actions
        .iter()
        .flat_map(|a| match a {
            Action::Forward { target_groups, .. } => target_groups.clone(),
            _ => Vec::new(),
        })
        .filter_map(|w| match w.target_group {
            TargetGroupRef::Owned(b) => Some(b),
            TargetGroupRef::Existing(_) => None,
        })
        .collect()
}

/// Applies a plan to an in-memory AWS, checking AWS's constraints at each call, and
/// reads the result back as observe would (AWS defaults filled in). Long: one arm per
/// operation, each a few lines of AWS's rules; unit tests of the diff only (the integration
/// tests run the real SDK against moto).
pub(crate) fn apply(plan: &Plan, observed: &Observed) -> Observed {
    let mut lbs: BTreeMap<String, LoadBalancer> = BTreeMap::new();
    let mut tgs: BTreeMap<(String, String), TargetGroup> = BTreeMap::new();
    for lb in &observed.stack.load_balancers {
        for tg in &lb.target_groups {
            tgs.insert((lb.gateway.clone(), tg.backend.clone()), tg.clone());
        }
        let mut lb = lb.clone();
        lb.target_groups.clear();
        lbs.insert(lb.gateway.clone(), lb);
    }
    let mut ids = observed.rule_ids.clone();
    let mut sources = observed.rule_sources.clone();
    let foreign = &observed.foreign_priorities;
    let key = |g: &str, b: &str| (g.to_string(), b.to_string());
    fn listener_mut<'a>(
        lbs: &'a mut BTreeMap<String, LoadBalancer>,
        gateway: &str,
        port: u16,
    ) -> &'a mut Listener {
        lbs.get_mut(gateway)
            .unwrap_or_else(|| panic!("no load balancer {gateway}"))
            .listeners
            .iter_mut()
            .find(|l| l.port == port)
            .unwrap_or_else(|| panic!("no listener {gateway} {port}"))
    }
    for c in &plan.changes {
        match &c.operation {
            Operation::CreateTargetGroup {
                gateway,
                target_group,
            } => {
                let mut tg = target_group.clone();
                assert!(tg.targets.is_empty() && tg.attributes.is_empty());
                // AWS reports every attribute.
                tg.attributes.insert(
                    "deregistration_delay.timeout_seconds".to_string(),
                    "300".to_string(),
                );
                let twin = tgs.insert(key(gateway, &tg.backend), tg);
                assert!(twin.is_none(), "{} created twice", c.address);
            }
            Operation::ModifyTargetGroup {
                gateway,
                backend,
                health_check,
            } => {
                tgs.get_mut(&key(gateway, backend)).unwrap().health_check = health_check.clone();
            }
            Operation::ModifyTargetGroupAttributes {
                gateway,
                backend,
                attributes,
            } => tgs
                .get_mut(&key(gateway, backend))
                .unwrap()
                .attributes
                .extend(attributes.clone()),
            Operation::RegisterTargets {
                gateway,
                backend,
                targets,
            } => {
                let tg = tgs.get_mut(&key(gateway, backend)).unwrap();
                for t in targets {
                    // AWS reports the port it registered.
                    let mut t = t.clone();
                    t.port = Some(t.port.unwrap_or(tg.port));
                    if !tg.targets.contains(&t) {
                        tg.targets.push(t);
                    }
                }
                tg.targets.sort();
            }
            Operation::DeregisterTargets {
                gateway,
                backend,
                targets,
            } => {
                let tg = tgs.get_mut(&key(gateway, backend)).unwrap();
                let port = tg.port;
                tg.targets.retain(|t| {
                    !targets.iter().any(|d| {
                        (d.id.as_str(), d.port.unwrap_or(port))
                            == (t.id.as_str(), t.port.unwrap_or(port))
                    })
                });
            }
            Operation::CreateLoadBalancer { load_balancer } => {
                let mut lb = load_balancer.clone();
                assert!(lb.listeners.is_empty() && lb.target_groups.is_empty());
                assert!(lb.attributes.is_empty());
                lb.attributes
                    .insert("idle_timeout.timeout_seconds".to_string(), "60".to_string());
                lb.attributes.insert(
                    "deletion_protection.enabled".to_string(),
                    "false".to_string(),
                );
                if lb.security_groups.is_empty() {
                    lb.security_groups.push("sg-default".to_string());
                }
                let twin = lbs.insert(lb.gateway.clone(), lb);
                assert!(twin.is_none(), "{} created twice", c.address);
            }
            Operation::SetSecurityGroups {
                gateway,
                security_groups,
            } => lbs.get_mut(gateway).unwrap().security_groups = security_groups.clone(),
            Operation::SetSubnets { gateway, subnets } => {
                lbs.get_mut(gateway).unwrap().subnets = subnets.clone()
            }
            Operation::ModifyLoadBalancerAttributes {
                gateway,
                attributes,
            } => lbs
                .get_mut(gateway)
                .unwrap()
                .attributes
                .extend(attributes.clone()),
            Operation::SetTags {
                resource,
                add,
                remove,
            } => {
                let tags = match resource {
                    TaggedResource::LoadBalancer { gateway } => {
                        &mut lbs.get_mut(gateway).unwrap().tags
                    }
                    TaggedResource::TargetGroup { gateway, backend } => {
                        &mut tgs.get_mut(&key(gateway, backend)).unwrap().tags
                    }
                };
                tags.extend(add.clone());
                for k in remove {
                    tags.remove(k);
                }
            }
            Operation::CreateListener { gateway, listener } => {
                let lb = lbs
                    .get_mut(gateway)
                    .unwrap_or_else(|| panic!("listener before its load balancer"));
                assert!(listener.rules.is_empty());
                assert!(lb.listener(listener.port).is_none(), "listener twice");
                lb.listeners.push(listener.clone());
                lb.listeners.sort_by_key(|l| l.port);
            }
            Operation::ModifyListener { gateway, listener } => {
                let l = listener_mut(&mut lbs, gateway, listener.port);
                let rules = std::mem::take(&mut l.rules);
                let ssl_policy = l.ssl_policy.clone();
                *l = listener.clone();
                l.rules = rules;
                if l.ssl_policy.is_none() {
                    l.ssl_policy = ssl_policy;
                }
            }
            Operation::CreateRule {
                gateway,
                port,
                id,
                rule,
            } => {
                for backend in forwards_to(rule) {
                    assert!(
                        tgs.contains_key(&key(gateway, &backend)),
                        "{} forwards to {backend} before it exists",
                        c.address
                    );
                }
                let p = rule.priority;
                assert!((1..=50_000).contains(&p));
                let held = ids.entry((gateway.clone(), *port)).or_default();
                assert!(!held.contains_key(&p), "priority {p} taken ({})", c.address);
                assert!(
                    !foreign
                        .get(&(gateway.clone(), *port))
                        .is_some_and(|f| f.contains(&p)),
                    "priority {p} is a foreign rule's"
                );
                assert!(!held.values().any(|i| i == id), "rule {id} twice");
                held.insert(p, id.clone());
                // As the tag AWS keeps, set once at creation.
                if let Some(source @ RuleSource::Route { .. }) = &rule.source {
                    sources.insert(id.clone(), identity::source_tag(source));
                }
                let l = listener_mut(&mut lbs, gateway, *port);
                let mut r = rule.clone();
                r.source = None;
                l.rules.push(r);
            }
            Operation::ModifyRule {
                gateway,
                port,
                id,
                rule,
            } => {
                for backend in forwards_to(rule) {
                    assert!(tgs.contains_key(&key(gateway, &backend)));
                }
                let p = *ids[&(gateway.clone(), *port)]
                    .iter()
                    .find(|(_, i)| *i == id)
                    .expect("modified rule exists")
                    .0;
                let l = listener_mut(&mut lbs, gateway, *port);
                let r = l.rules.iter_mut().find(|r| r.priority == p).unwrap();
                r.conditions = rule.conditions.clone();
                r.actions = rule.actions.clone();
                r.transforms = rule.transforms.clone();
            }
            Operation::SetRulePriorities {
                gateway,
                port,
                priorities,
            } => {
                let k = (gateway.clone(), *port);
                // Stricter than AWS (which checks the final state): each new priority is
                // free when its rule gets it, so any order works.
                for (id, to) in priorities {
                    let held = ids.get_mut(&k).unwrap();
                    let from = *held.iter().find(|(_, i)| *i == id).unwrap().0;
                    assert!(!held.contains_key(to), "priority {to} taken");
                    assert!(!foreign.get(&k).is_some_and(|f| f.contains(to)));
                    held.remove(&from);
                    held.insert(*to, id.clone());
                    let l = listener_mut(&mut lbs, gateway, *port);
                    l.rules
                        .iter_mut()
                        .find(|r| r.priority == from)
                        .unwrap()
                        .priority = *to;
                }
            }
            Operation::DeleteRule { gateway, port, id } => {
                let held = ids.get_mut(&(gateway.clone(), *port)).unwrap();
                let p = *held.iter().find(|(_, i)| *i == id).unwrap().0;
                held.remove(&p);
                listener_mut(&mut lbs, gateway, *port)
                    .rules
                    .retain(|r| r.priority != p);
            }
            Operation::DeleteListener { gateway, port } => {
                let lb = lbs.get_mut(gateway).unwrap();
                let l = lb.listener(*port).unwrap();
                assert!(l.rules.is_empty(), "listener deleted before its rules");
                lb.listeners.retain(|l| l.port != *port);
                ids.remove(&(gateway.clone(), *port));
            }
            Operation::DeleteLoadBalancer { gateway } => {
                let lb = lbs.remove(gateway).unwrap();
                assert!(
                    lb.listeners.is_empty(),
                    "load balancer before its listeners"
                );
            }
            Operation::DeleteTargetGroup { gateway, backend } => {
                for lb in lbs.values() {
                    for r in lb.listeners.iter().flat_map(|l| &l.rules) {
                        assert!(
                            !(lb.gateway == *gateway && forwards_to(r).contains(backend)),
                            "{} deleted while a rule forwards to it",
                            c.address
                        );
                    }
                }
                tgs.remove(&key(gateway, backend)).unwrap();
            }
        }
    }
    for ((gateway, _), tg) in tgs {
        lbs.get_mut(&gateway)
            .unwrap_or_else(|| panic!("target group {} outlives {gateway}", tg.backend))
            .target_groups
            .push(tg);
    }
    for lb in lbs.values_mut() {
        lb.target_groups.sort_by(|a, b| a.backend.cmp(&b.backend));
        for l in &mut lb.listeners {
            l.rules.sort_by_key(|r| r.priority);
        }
    }
    ids.retain(|_, m| !m.is_empty());
    Observed {
        stack: Stack {
            load_balancers: lbs.into_values().collect(),
        },
        rule_ids: ids,
        foreign_priorities: observed.foreign_priorities.clone(),
        foreign_listeners: observed.foreign_listeners.clone(),
        foreign_rules: observed.foreign_rules.clone(),
        rule_sources: sources,
        fingerprint: "applied".to_string(),
    }
}

/// The step of the plan a change belongs to, to check the order.
fn step(c: &Change) -> u8 {
    match &c.operation {
        Operation::CreateTargetGroup { .. }
        | Operation::ModifyTargetGroup { .. }
        | Operation::ModifyTargetGroupAttributes { .. }
        | Operation::RegisterTargets { .. }
        | Operation::DeregisterTargets { .. }
        | Operation::SetTags {
            resource: TaggedResource::TargetGroup { .. },
            ..
        } => 0,
        Operation::CreateLoadBalancer { .. }
        | Operation::SetSecurityGroups { .. }
        | Operation::SetSubnets { .. }
        | Operation::ModifyLoadBalancerAttributes { .. }
        | Operation::SetTags { .. } => 1,
        Operation::CreateListener { .. } | Operation::ModifyListener { .. } => 2,
        Operation::CreateRule { .. } | Operation::ModifyRule { .. } => 3,
        Operation::SetRulePriorities { .. } => 4,
        Operation::DeleteRule { .. } => 5,
        Operation::DeleteListener { .. } => 6,
        Operation::DeleteLoadBalancer { .. } => 7,
        Operation::DeleteTargetGroup { .. } => 8,
    }
}

pub(crate) fn calls(plan: &Plan) -> Vec<&'static str> {
    plan.changes.iter().map(|c| call(&c.operation)).collect()
}

/// Plans, checks the order, applies, and checks that a second plan is empty. Returns the
/// first plan and the state after it.
pub(crate) fn converge(desired: &Stack, observed: &Observed) -> (Plan, Observed) {
    let plan = diff(desired, observed, Some("c0ffee".to_string()));
    let steps: Vec<u8> = plan.changes.iter().map(step).collect();
    assert!(
        steps.windows(2).all(|w| w[0] <= w[1]),
        "order: {:?}",
        calls(&plan)
    );
    assert_eq!(plan, diff(desired, observed, Some("c0ffee".to_string())));
    let applied = apply(&plan, observed);
    let again = diff(desired, &applied, None);
    assert!(
        again.changes.is_empty(),
        "not idempotent: {:#?}",
        again.changes
    );
    assert_eq!(again.notes, plan.notes, "notes are about what stays");
    (plan, applied)
}

/// The state after applying `desired` to nothing.
fn deployed(desired: &Stack) -> Observed {
    converge(desired, &Observed::default()).1
}

fn rule_priorities(observed: &Observed, port: u16) -> Vec<u32> {
    observed.stack.load_balancers[0]
        .listener(port)
        .unwrap()
        .rules
        .iter()
        .map(|r| r.priority)
        .collect()
}

fn created_priority(plan: &Plan) -> u32 {
    plan.changes
        .iter()
        .find_map(|c| match &c.operation {
            Operation::CreateRule { rule, .. } => Some(rule.priority),
            _ => None,
        })
        .unwrap()
}

fn x() -> Rule {
    rule("x", "x.example.com", "/x", &[("team/a:8080", 1)])
}

fn with_x(at: usize) -> Stack {
    let mut rules = abc();
    rules.insert(at, x());
    web(rules)
}

#[test]
fn a_fresh_stack_is_created_in_order() {
    let desired = web(abc());
    let (plan, applied) = converge(&desired, &Observed::default());
    assert_eq!(
        calls(&plan),
        vec![
            "CreateTargetGroup",
            "CreateTargetGroup",
            "CreateTargetGroup",
            "CreateLoadBalancer",
            "CreateListener",
            "CreateListener",
            "CreateRule",
            "CreateRule",
            "CreateRule",
            "CreateRule",
        ]
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == ChangeAction::Create)
    );
    assert_eq!(rule_priorities(&applied, 443), vec![10, 20, 30]);
    assert_eq!(rule_priorities(&applied, 80), vec![10]);
    assert_eq!(plan.version, PLAN_VERSION);
    assert_eq!(plan.commit.as_deref(), Some("c0ffee"));
    let a_id = identity::rule_id(GW, 443, &abc()[0].conditions);
    let create = plan
        .changes
        .iter()
        .find(|c| matches!(&c.operation, Operation::CreateRule { id, .. } if *id == a_id))
        .unwrap();
    assert_eq!(
        create.address,
        format!(
            "platform/public/listener/443/rule/{}",
            identity::short_rule_id(&a_id)
        )
    );
    assert!(create.before.is_none() && create.after.is_some());
    assert!(
        create
            .reason
            .to_string()
            .contains("HTTPRoute team/a rules[0].matches[0]"),
        "{}",
        create.reason
    );
    assert!(create.reason.to_string().contains("at priority 10"));
    assert!(create.reason.to_string().contains("host a.example.com"));
}

#[test]
fn an_unchanged_stack_plans_nothing() {
    let desired = web(abc());
    let observed = deployed(&desired);
    let plan = diff(&desired, &observed, None);
    assert!(plan.is_empty() && plan.notes.is_empty());
    assert_eq!(plan.observed_fingerprint, "applied");
    assert_eq!(plan.rule_deletions(), 0);
    // Rules in order keep whatever priorities they have (here translate's 1..N).
    assert!(diff(&desired, &observe(&desired), None).is_empty());
}

#[test]
fn observed_rules_without_an_id_tag_are_known_by_their_conditions() {
    let desired = web(abc());
    let mut observed = deployed(&desired);
    observed.rule_ids.clear();
    assert!(diff(&desired, &observed, None).is_empty());
}

#[test]
fn a_rule_added_in_the_middle_costs_one_create() {
    let observed = deployed(&web(abc()));
    let (plan, _) = converge(&with_x(1), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule"]);
    assert_eq!(created_priority(&plan), 15);
}

#[test]
fn a_rule_added_at_the_front_or_the_back_costs_one_create() {
    let observed = deployed(&web(abc()));
    let (plan, _) = converge(&with_x(0), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule"]);
    assert_eq!(created_priority(&plan), 5);
    let (plan, _) = converge(&with_x(3), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule"]);
    assert_eq!(created_priority(&plan), 40);
}

#[test]
fn a_rule_added_between_adjacent_priorities_costs_one_create_and_one_move() {
    let mut observed = deployed(&web(abc()));
    set_priorities(&mut observed, 443, &[10, 11, 12]);
    for at in 0..=3 {
        let (plan, applied) = converge(&with_x(at), &observed);
        let expected: &[&str] = if at == 0 || at == 3 {
            &["CreateRule"]
        } else {
            &["CreateRule", "SetRulePriorities"]
        };
        assert_eq!(calls(&plan), expected, "insert at {at}");
        if let Some(m) = plan.changes.get(1) {
            assert_eq!(m.action, ChangeAction::Move);
            assert_eq!(m.address, "platform/public/listener/443/priorities");
            assert!(m.reason.to_string().contains("renumbered"), "{}", m.reason);
        }
        let p = rule_priorities(&applied, 443);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }
    // At priority 1 there is no room in front either.
    set_priorities(&mut observed, 443, &[1, 2, 3]);
    let (plan, _) = converge(&with_x(0), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule", "SetRulePriorities"]);
}

#[test]
fn a_rule_added_among_foreign_rules_never_takes_their_priority() {
    let mut observed = deployed(&web(abc()));
    let k = (GW.to_string(), 443);
    observed.foreign_priorities.insert(k.clone(), [15].into());
    let (plan, _) = converge(&with_x(1), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule"]);
    assert_eq!(created_priority(&plan), 14);
    // A gap filled by foreign rules: one renumber, around them.
    observed
        .foreign_priorities
        .insert(k, (11..20).chain(21..30).collect());
    let (plan, applied) = converge(&with_x(1), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule", "SetRulePriorities"]);
    let p = rule_priorities(&applied, 443);
    assert!(
        p.iter()
            .all(|p| !(11..20).contains(p) && !(21..30).contains(p))
    );
}

#[test]
fn a_foreign_rule_that_answers_first_for_all_of_a_rule_is_noted() {
    let mut observed = deployed(&web(abc()));
    let k = (GW.to_string(), 443);
    let foreign = |priority: u32, conditions: Vec<Condition>| Rule {
        source: Some(RuleSource::Foreign),
        ..fixtures::rule(priority, conditions, vec![crate::alb::Action::fixed(503)])
    };
    observed.foreign_priorities.insert(k.clone(), [1, 2].into());
    observed.foreign_rules.insert(
        k.clone(),
        vec![
            // Every path of b.example.com (host names fold case): shadows b.
            foreign(1, vec![host("B.example.com"), fixtures::path(&["/*"])]),
            // Only /a/x: narrower than a, shadows nothing.
            foreign(2, vec![host("a.example.com"), fixtures::path(&["/a/x"])]),
        ],
    );
    let plan = diff(&web(abc()), &observed, None);
    let shadowed: Vec<String> = plan
        .notes
        .iter()
        .filter_map(|n| match n {
            Note::ShadowedByForeign {
                address,
                foreign_priority,
                ..
            } => Some(format!("{address}@{foreign_priority}")),
            _ => None,
        })
        .collect();
    let b = identity::rule_id(GW, 443, &abc()[1].conditions);
    assert_eq!(
        shadowed,
        [format!("{}@1", rule_address(GW, 443, &b))],
        "{:?}",
        plan.notes
    );
    let text = crate::plan::render::text(&plan);
    assert!(
        text.contains("never answers: a rule gwsync does not own at priority 1"),
        "{text}"
    );
}

#[test]
fn a_deleted_rule_costs_one_delete() {
    let observed = deployed(&web(abc()));
    let mut rules = abc();
    let gone = rules.remove(1);
    let (plan, applied) = converge(&web(rules), &observed);
    assert_eq!(calls(&plan), vec!["DeleteRule", "DeleteTargetGroup"]);
    assert_eq!(plan.rule_deletions(), 1);
    assert_eq!(plan.changes[0].action, ChangeAction::Delete);
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .contains("host b.example.com")
    );
    assert!(plan.changes[0].after.is_none() && plan.changes[0].before.is_some());
    assert!(
        plan.changes[1]
            .reason
            .to_string()
            .contains("no rule forwards to team/b:8080")
    );
    assert_eq!(rule_priorities(&applied, 443), vec![10, 30]);
    // The rule's priority is free again after the plan: the next insert may take it.
    let mut back = abc();
    back[1] = gone;
    let (plan, _) = converge(&web(back), &applied);
    assert_eq!(calls(&plan), vec!["CreateTargetGroup", "CreateRule"]);
    assert_eq!(created_priority(&plan), 20);
}

#[test]
fn a_reorder_is_one_priority_call() {
    let observed = deployed(&web(abc()));
    let mut rules = abc();
    rules.rotate_right(1); // c, a, b
    let (plan, applied) = converge(&web(rules), &observed);
    assert_eq!(calls(&plan), vec!["SetRulePriorities"]);
    match &plan.changes[0].operation {
        Operation::SetRulePriorities { priorities, .. } => {
            assert_eq!(priorities.len(), 1);
            assert_eq!(priorities[0].1, 5);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .contains("out of the desired order")
    );
    assert_eq!(rule_priorities(&applied, 443), vec![5, 10, 20]);
}

#[test]
fn a_weight_change_is_exactly_one_modify_rule() {
    let split = |w: u32| {
        let mut rules = abc();
        rules[0].actions = vec![forward(&[("team/a:8080", w), ("team/b:8080", 100 - w)])];
        web(rules)
    };
    let observed = deployed(&split(50));
    let (plan, _) = converge(&split(90), &observed);
    assert_eq!(calls(&plan), vec!["ModifyRule"]);
    let c = &plan.changes[0];
    assert_eq!(c.action, ChangeAction::Update);
    assert!(
        c.reason.to_string().contains("weight 50") && c.reason.to_string().contains("weight 90"),
        "{}",
        c.reason
    );
    assert!(c.reason.to_string().contains("HTTPRoute team/a rules[0]"));
    match &c.operation {
        Operation::ModifyRule { rule, .. } => assert_eq!(rule.priority, 10),
        other => panic!("{other:?}"),
    }
    // The JSON pair differs in the weights only.
    let (before, after) = (c.before.as_ref().unwrap(), c.after.as_ref().unwrap());
    assert_eq!(before["conditions"], after["conditions"]);
    assert_eq!(before["priority"], after["priority"]);
    assert_ne!(before["actions"], after["actions"]);
}

#[test]
fn a_transform_change_is_a_modify_rule() {
    let observed = deployed(&web(abc()));
    let mut rules = abc();
    rules[2].transforms = vec![Transform::UrlRewrite {
        regex: "^/c/(.*)$".to_string(),
        replace: "/$1".to_string(),
    }];
    let (plan, _) = converge(&web(rules), &observed);
    assert_eq!(calls(&plan), vec!["ModifyRule"]);
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .starts_with("transforms: none → rewrite url ^/c/(.*)$ => /$1")
    );
}

/// `abc()`'s second rule with one more condition.
fn b_with_a_query() -> Vec<Rule> {
    let mut rules = abc();
    rules[1].conditions.push(Condition::QueryString {
        values: vec![QueryValue {
            key: Some("v".to_string()),
            value: "2".to_string(),
        }],
    });
    rules
}

#[test]
fn a_condition_change_is_one_modify_rule_in_place() {
    let observed = deployed(&web(abc()));
    assert!(
        !observed.rule_sources.is_empty(),
        "the rules carry their source"
    );
    let (plan, applied) = converge(&web(b_with_a_query()), &observed);
    assert_eq!(calls(&plan), vec!["ModifyRule"]);
    // The rule keeps its identity and its priority.
    assert_eq!(applied.rule_ids, observed.rule_ids);
}

#[test]
fn a_condition_change_that_moves_the_rule_is_modified_and_moved() {
    let observed = deployed(&web(abc()));
    let mut rules = b_with_a_query();
    let b = rules.remove(1);
    rules.push(b);
    let (plan, applied) = converge(&web(rules), &observed);
    assert_eq!(calls(&plan), vec!["ModifyRule", "SetRulePriorities"]);
    let ids = |o: &Observed| -> BTreeSet<String> {
        o.rule_ids
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    };
    assert_eq!(
        ids(&applied),
        ids(&observed),
        "every rule keeps its identity"
    );
}

#[test]
fn a_condition_change_of_a_rule_without_a_source_tag_is_a_create_then_a_delete() {
    let mut observed = deployed(&web(abc()));
    observed.rule_sources.clear();
    let (plan, _) = converge(&web(b_with_a_query()), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule", "DeleteRule"]);
    // The old rule still holds 20 while the new one is created: the new one takes the
    // free priority nearest to it.
    assert_eq!(created_priority(&plan), 19);
}

#[test]
fn a_changed_backend_creates_its_group_first_and_deletes_the_old_one_last() {
    let observed = deployed(&web(abc()));
    let mut rules = abc();
    rules[0].actions = vec![forward(&[("team/a2:8080", 1)])];
    let (plan, _) = converge(&web(rules), &observed);
    assert_eq!(
        calls(&plan),
        vec!["CreateTargetGroup", "ModifyRule", "DeleteTargetGroup"]
    );
}

#[test]
fn listener_changes() {
    let desired = web(abc());
    let observed = deployed(&desired);
    // Certificates: the default one first, the others as a set.
    let mut changed = desired.clone();
    let l = &mut changed.load_balancers[0].listeners[1];
    l.certificates = vec![
        Certificate::Arn("arn:aws:acm:cert/main".to_string()),
        Certificate::Arn("arn:aws:acm:cert/b".to_string()),
        Certificate::Arn("arn:aws:acm:cert/c".to_string()),
    ];
    let (plan, applied) = converge(&changed, &observed);
    assert_eq!(calls(&plan), vec!["ModifyListener"]);
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .starts_with("certificates")
    );
    let mut reordered = changed.clone();
    reordered.load_balancers[0].listeners[1]
        .certificates
        .swap(1, 2);
    assert!(diff(&reordered, &applied, None).is_empty());
    // An unconfigured SSL policy leaves AWS's default alone; a configured one is set.
    let mut with_policy = applied.clone();
    with_policy.stack.load_balancers[0].listeners[1].ssl_policy =
        Some("ELBSecurityPolicy-2016-08".to_string());
    assert!(diff(&changed, &with_policy, None).is_empty());
    changed.load_balancers[0].listeners[1].ssl_policy =
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06".to_string());
    let (plan, _) = converge(&changed, &with_policy);
    assert_eq!(calls(&plan), vec!["ModifyListener"]);
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .contains("SSL policy ELBSecurityPolicy-2016-08 →")
    );
    // The default action.
    let mut fixed = desired.clone();
    fixed.load_balancers[0].listeners[0].default_action = Action::fixed(503);
    let (plan, _) = converge(&fixed, &observed);
    assert_eq!(calls(&plan), vec!["ModifyListener"]);
    assert_eq!(
        plan.changes[0].reason.to_string(),
        "default action fixed response 404 → fixed response 503"
    );
}

#[test]
fn a_listener_is_added_and_removed_with_its_rules() {
    let observed = deployed(&web(abc()));
    let mut desired = web(abc());
    desired.load_balancers[0].listeners.remove(0);
    desired.load_balancers[0]
        .listeners
        .push(listener(8443, vec![x()]));
    desired.load_balancers[0].listeners[1].protocol = crate::alb::Protocol::Http;
    let (plan, applied) = converge(&desired, &observed);
    assert_eq!(
        calls(&plan),
        vec![
            "CreateListener",
            "CreateRule",
            "DeleteRule",
            "DeleteListener"
        ]
    );
    assert!(
        plan.changes[2]
            .reason
            .to_string()
            .starts_with("no Gateway listener uses port 80")
    );
    assert_eq!(plan.rule_deletions(), 1);
    assert_eq!(rule_priorities(&applied, 8443), vec![10]);
}

#[test]
fn load_balancer_settings() {
    let desired = web(abc());
    let mut observed = deployed(&desired);
    let lb = &mut observed.stack.load_balancers[0];
    lb.security_groups.reverse();
    lb.subnets = vec!["subnet-b".to_string(), "subnet-a".to_string()];
    lb.tags
        .insert(identity::INSTANCE.to_string(), "default".to_string());
    lb.tags
        .insert("aws:cloudformation:stack".to_string(), "x".to_string());
    // Order of sets, gwsync's own tags and AWS defaults are no differences.
    assert!(diff(&desired, &observed, None).is_empty());

    let mut changed = desired.clone();
    let lb = &mut changed.load_balancers[0];
    lb.subnets.push("subnet-c".to_string());
    lb.security_groups = vec!["sg-web".to_string(), "sg-extra".to_string()];
    lb.attributes.insert(
        "idle_timeout.timeout_seconds".to_string(),
        "120".to_string(),
    );
    lb.attributes.insert(
        "deletion_protection.enabled".to_string(),
        "false".to_string(),
    );
    lb.tags.insert("team".to_string(), "platform".to_string());
    let mut observed = observed.clone();
    observed.stack.load_balancers[0]
        .tags
        .insert("stale".to_string(), "1".to_string());
    let (plan, _) = converge(&changed, &observed);
    assert_eq!(
        calls(&plan),
        vec![
            "SetSecurityGroups",
            "SetSubnets",
            "ModifyLoadBalancerAttributes",
            "SetTags"
        ]
    );
    match &plan.changes[2].operation {
        Operation::ModifyLoadBalancerAttributes { attributes, .. } => assert_eq!(
            attributes.keys().collect::<Vec<_>>(),
            vec!["idle_timeout.timeout_seconds"],
            "only the keys that differ"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plan.changes[2].reason.to_string(),
        "attributes: idle_timeout.timeout_seconds 60 → 120"
    );
    match &plan.changes[3].operation {
        Operation::SetTags { add, remove, .. } => {
            assert_eq!(add.keys().collect::<Vec<_>>(), vec!["team"]);
            assert_eq!(remove, &vec!["stale".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_cannot_change_in_place_is_a_note() {
    let desired = web(abc());
    let observed = deployed(&desired);
    let mut changed = desired.clone();
    let lb = &mut changed.load_balancers[0];
    lb.scheme = Scheme::Internal;
    lb.name = "renamed".to_string();
    lb.ip_address_type = IpAddressType::Dualstack;
    lb.target_groups[0].port = 9090;
    lb.target_groups[1].target_type = TargetType::Ip;
    let plan = diff(&changed, &observed, None);
    assert!(plan.is_empty(), "{:?}", calls(&plan));
    assert_eq!(plan.notes.len(), 5, "{:#?}", plan.notes);
    assert!(
        plan.notes[0]
            .to_string()
            .contains("named gw-platform-public on AWS, renamed is desired")
    );
    assert!(
        plan.notes[1]
            .to_string()
            .contains("internet-facing on AWS, internal is desired")
    );
    assert!(
        plan.notes[2]
            .to_string()
            .contains("ipv4 on AWS, dualstack is desired")
    );
    assert!(
        plan.notes[3]
            .to_string()
            .starts_with("platform/public/target-group/team/a:8080: the port is 8080")
    );
    assert!(
        plan.notes[4]
            .to_string()
            .contains("target type is instance on AWS, ip is desired")
    );
}

#[test]
fn target_group_settings_and_targets() {
    let mut desired = web(abc());
    let target = |id: &str| Target {
        id: id.to_string(),
        port: None,
        availability_zone: None,
    };
    {
        let tgs = &mut desired.load_balancers[0].target_groups;
        tgs[0].targets = vec![target("i-1"), target("i-2")];
        tgs[0]
            .attributes
            .insert("stickiness.enabled".to_string(), "true".to_string());
        tgs[0].tags.insert("cost".to_string(), "a".to_string());
    }
    let (plan, observed) = converge(&desired, &Observed::default());
    assert_eq!(
        calls(&plan)[..3],
        [
            "CreateTargetGroup",
            "ModifyTargetGroupAttributes",
            "RegisterTargets"
        ]
    );

    let mut changed = desired.clone();
    {
        let tgs = &mut changed.load_balancers[0].target_groups;
        tgs[0].health_check.path = "/healthz".to_string();
        tgs[0].health_check.interval_seconds = 10;
        tgs[0].targets = vec![target("i-1"), target("i-3")];
        tgs[0].tags.clear();
    }
    // Targets registered by others where the configuration lists none stay.
    let mut observed = observed.clone();
    observed.stack.load_balancers[0].target_groups[1]
        .targets
        .push(Target {
            id: "i-asg".to_string(),
            port: Some(8080),
            availability_zone: Some("eu-west-1a".to_string()),
        });
    let (plan, _) = converge(&changed, &observed);
    assert_eq!(
        calls(&plan),
        vec![
            "ModifyTargetGroup",
            "RegisterTargets",
            "DeregisterTargets",
            "SetTags"
        ]
    );
    assert_eq!(
        plan.changes[0].reason.to_string(),
        "health check: path / → /healthz, interval 30s → 10s"
    );
    assert_eq!(plan.changes[1].reason.to_string(), "register i-3");
    assert!(
        plan.changes[2]
            .reason
            .to_string()
            .starts_with("deregister i-2:8080")
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.address == "platform/public/target-group/team/a:8080")
    );
}

#[test]
fn a_removed_gateway_is_deleted_children_first() {
    let observed = deployed(&web(abc()));
    let (plan, applied) = converge(&Stack::default(), &observed);
    assert_eq!(
        calls(&plan),
        vec![
            "DeleteRule",
            "DeleteRule",
            "DeleteRule",
            "DeleteRule",
            "DeleteListener",
            "DeleteListener",
            "DeleteLoadBalancer",
            "DeleteTargetGroup",
            "DeleteTargetGroup",
            "DeleteTargetGroup",
        ]
    );
    assert_eq!(plan.rule_deletions(), 4);
    assert!(plan.changes.iter().all(|c| {
        c.reason
            .to_string()
            .starts_with("Gateway platform/public is no longer desired")
    }));
    assert!(applied.stack.load_balancers.is_empty());
}

#[test]
fn several_gateways_at_once_keep_the_global_order() {
    let old = load_balancer("platform/old", vec![listener(80, abc())]);
    let kept = web(abc()).load_balancers.remove(0);
    let observed = deployed(&stack(vec![kept.clone(), old]));
    let mut kept = kept;
    kept.listeners[1].rules.remove(1);
    kept.listeners[1].rules.push(x());
    kept.target_groups.remove(1);
    for (i, r) in kept.listeners[1].rules.iter_mut().enumerate() {
        r.priority = i as u32 + 1;
    }
    let new = load_balancer(
        "platform/new",
        vec![listener(
            80,
            vec![rule("n", "n.example.com", "/", &[("team/n:80", 1)])],
        )],
    );
    // The desired stack unsorted: the plan does not depend on it.
    let desired = stack(vec![new, kept]);
    let (plan, _) = converge(&desired, &observed);
    let mut reversed = observed.clone();
    reversed.stack.load_balancers.reverse();
    assert_eq!(diff(&desired, &reversed, Some("c0ffee".to_string())), plan);
    let addresses: Vec<&str> = plan.changes.iter().map(|c| c.address.as_str()).collect();
    assert_eq!(addresses[0], "platform/new/target-group/team/n:80");
    assert_eq!(addresses[1], "platform/new");
    assert_eq!(
        *addresses.last().unwrap(),
        "platform/public/target-group/team/b:8080"
    );
}

#[test]
fn duplicate_identities_are_notes() {
    let desired = web(abc());
    let mut observed = deployed(&desired);
    // A twin of rule a at 99 (a crash between create and tag, say).
    let twin = {
        let l = &mut observed.stack.load_balancers[0].listeners[1];
        let mut twin = l.rules[0].clone();
        twin.priority = 99;
        l.rules.push(twin.clone());
        twin
    };
    reindex(&mut observed);
    let plan = diff(&desired, &observed, None);
    assert!(plan.is_empty(), "{:?}", calls(&plan));
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].to_string().contains("priorities 10 and 99"));
    // Two desired rules with the same conditions: the later one is left out.
    let mut rules = abc();
    let mut shadowed = rules[0].clone();
    shadowed.actions = vec![Action::fixed(500)];
    rules.push(shadowed);
    observed.stack.load_balancers[0].listeners[1]
        .rules
        .retain(|r| r != &twin);
    reindex(&mut observed);
    let plan = diff(&web(rules), &observed, None);
    assert!(plan.is_empty());
    assert!(
        plan.notes[0]
            .to_string()
            .contains("the later one can never match")
    );
}

#[test]
fn isolation_rules_say_so() {
    let mut rules = abc();
    rules.push(Rule {
        priority: 0,
        conditions: vec![host("a.example.com")],
        actions: vec![Action::fixed(404)],
        transforms: Vec::new(),
        source: Some(RuleSource::ListenerIsolation {
            hostname: "a.example.com".to_string(),
        }),
        owner: None,
    });
    let observed = deployed(&web(abc()));
    let (plan, _) = converge(&web(rules), &observed);
    assert_eq!(calls(&plan), vec!["CreateRule"]);
    assert!(
        plan.changes[0]
            .reason
            .to_string()
            .starts_with("listener isolation of hostname a.example.com asks for a rule")
    );
}
