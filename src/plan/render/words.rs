//! Words: how a plan's typed reasons, notes and held-back items read to people. Every
//! sentence the text and Markdown plans, `apply`, `sync`, `rollback` and the daemon's log
//! say about them comes from these `Display` impls; the model's own parts (conditions,
//! actions, transforms, rule sources) from `alb::render`, so that `explain` and a plan word a
//! rule alike.

use crate::alb::render::{action, condition, label, matcher, source, transform};
use crate::alb::{Action, Certificate, Condition, HealthCheck, RuleSource, Target, identity};
use crate::plan::{
    AttributeChange, Difference, GatewayHold, HeldBack, LoadBalancerSetting, NewListenerCause,
    NewResource, Note, Reason, Removed, Staleness, TargetGroupSetting, TeamKept, Unusable,
};
use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};

// One arm per reason: the length is the vocabulary's, and each arm reads on its own.
impl Display for Reason {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewLoadBalancer {
                gateway,
                scheme,
                ip_address_type,
                subnets,
            } => write!(
                f,
                "Gateway {gateway} has no load balancer yet: {} {}, {subnets} subnet(s)",
                label(scheme),
                label(ip_address_type)
            ),
            Reason::NewTargetGroup {
                backend,
                name,
                protocol,
                port,
            } => write!(
                f,
                "a rule forwards to {backend}, which has no target group yet: {name} {} port {port}",
                protocol.as_str()
            ),
            Reason::NewListener {
                cause,
                protocol,
                port,
                rules,
            } => {
                match cause {
                    NewListenerCause::NewLoadBalancer => {
                        write!(f, "the Gateway's new load balancer")?
                    }
                    NewListenerCause::PortInUse => {
                        write!(f, "a Gateway listener uses port {port}")?
                    }
                }
                write!(f, ": {} {port} with {rules} rule(s)", protocol.as_str())
            }
            Reason::NewAttributes { of, attributes } => {
                let of = match of {
                    NewResource::LoadBalancer => "load balancer",
                    NewResource::TargetGroup => "target group",
                };
                write!(f, "attributes of the new {of}: {}", pairs(attributes))
            }
            Reason::NewTargets { targets } => write!(
                f,
                "register the configured targets of the new target group: {}",
                targets_list(targets)
            ),
            Reason::NewRule {
                source: from,
                conditions,
                actions,
                priority,
            } => write!(
                f,
                "{} asks for a rule ({}) → {}, at priority {priority}",
                origin(from.as_ref()),
                conditions_list(conditions),
                actions_list(actions)
            ),
            Reason::Differs { differences } => write!(f, "{}", joined(differences, "; ")),
            Reason::RuleDiffers {
                source: from,
                differences,
            } => write!(
                f,
                "{}, for {}",
                joined(differences, "; "),
                origin(from.as_ref())
            ),
            Reason::Tags { set, remove } => {
                let mut parts = Vec::new();
                if !set.is_empty() {
                    parts.push(format!("set {}", pairs(set)));
                }
                if !remove.is_empty() {
                    parts.push(format!("remove {}", remove.join(", ")));
                }
                write!(f, "tags: {}", parts.join("; "))
            }
            Reason::Register { targets } => write!(f, "register {}", targets_list(targets)),
            Reason::Deregister { targets } => write!(
                f,
                "deregister {}: no longer in the configuration",
                targets_list(targets)
            ),
            Reason::Reorder { moves, renumbered } => {
                let list = moves
                    .iter()
                    .map(|m| format!("{} {} → {}", identity::short_rule_id(&m.rule), m.from, m.to))
                    .collect::<Vec<_>>()
                    .join(", ");
                if *renumbered {
                    write!(
                        f,
                        "no free priority where a rule must go: {} rule(s) renumbered to keep the order ({list})",
                        moves.len()
                    )
                } else {
                    write!(
                        f,
                        "{} rule(s) out of the desired order move ({list})",
                        moves.len()
                    )
                }
            }
            Reason::Stale { cause, removed } => write!(f, "{cause}: {removed}"),
        }
    }
}

impl Display for Difference {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Difference::SecurityGroups { before, after } => {
                write!(f, "security groups {} → {}", list(before), list(after))
            }
            Difference::Subnets { before, after } => {
                write!(f, "subnets {} → {}", list(before), list(after))
            }
            Difference::Attributes { changes } => {
                write!(f, "attributes: {}", joined(changes, ", "))
            }
            Difference::HealthCheck { before, after } => {
                write!(f, "health check: {}", health_check_changes(before, after))
            }
            Difference::Protocol { before, after } => {
                write!(f, "protocol {} → {}", before.as_str(), after.as_str())
            }
            Difference::Certificates { before, after } => write!(
                f,
                "certificates {} → {}",
                certificates_list(before),
                certificates_list(after)
            ),
            Difference::SslPolicy { before, after } => write!(
                f,
                "SSL policy {} → {}",
                before.as_deref().unwrap_or("(none)"),
                after.as_deref().unwrap_or("(none)")
            ),
            Difference::DefaultAction { before, after } => {
                write!(f, "default action {} → {}", action(before), action(after))
            }
            Difference::Actions { before, after } => {
                write!(
                    f,
                    "actions: {} → {}",
                    actions_list(before),
                    actions_list(after)
                )
            }
            Difference::Transforms { before, after } => {
                let words = |t: &[crate::alb::Transform]| {
                    if t.is_empty() {
                        "none".to_string()
                    } else {
                        t.iter().map(transform).collect::<Vec<_>>().join(", ")
                    }
                };
                write!(f, "transforms: {} → {}", words(before), words(after))
            }
            Difference::Conditions { before, after } => write!(
                f,
                "conditions: {} → {}",
                conditions_list(before),
                conditions_list(after)
            ),
        }
    }
}

impl Display for AttributeChange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let before = self.before.as_deref().unwrap_or("(unset)");
        write!(f, "{} {before} → {}", self.key, self.after)
    }
}

impl Display for Staleness {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::GatewayRemoved { gateway } => {
                write!(f, "Gateway {gateway} is no longer desired")
            }
            Staleness::PortUnused { port } => {
                write!(f, "no Gateway listener uses port {port} any more")
            }
            Staleness::BackendUnused { backend } => {
                write!(f, "no rule forwards to {backend} any more")
            }
            Staleness::RuleUnwanted => write!(f, "no desired rule has these conditions any more"),
        }
    }
}

impl Display for Removed {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Removed::LoadBalancer { name } => write!(f, "load balancer {name}"),
            Removed::TargetGroup { name } => write!(f, "target group {name}"),
            Removed::Listener { protocol, port } => write!(f, "{} {port}", protocol.as_str()),
            Removed::Rule {
                conditions,
                actions,
                priority,
            } => write!(
                f,
                "({}) → {}, priority {priority}",
                conditions_list(conditions),
                actions_list(actions)
            ),
        }
    }
}

/// What an operator does about a load balancer setting that cannot change in place.
const RECREATE: &str = "it cannot change in place: only a new load balancer has it (remove the \
                        Gateway, apply, and add it back, or rename it)";

// One arm per note, as for reasons.
impl Display for Note {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Note::LoadBalancerSetting {
                gateway,
                setting,
                on_aws,
                desired,
            } => match setting {
                LoadBalancerSetting::Name => write!(
                    f,
                    "{gateway}: the load balancer is named {on_aws} on AWS, {desired} is desired; {RECREATE}"
                ),
                LoadBalancerSetting::Scheme => write!(
                    f,
                    "{gateway}: the load balancer is {on_aws} on AWS, {desired} is desired; {RECREATE}"
                ),
                LoadBalancerSetting::IpAddressType => write!(
                    f,
                    "{gateway}: the IP address type is {on_aws} on AWS, {desired} is desired; gwsync does not change it in place"
                ),
            },
            Note::TargetGroupSetting {
                address,
                setting,
                on_aws,
                desired,
            } => {
                let field = match setting {
                    TargetGroupSetting::Name => "name",
                    TargetGroupSetting::Protocol => "protocol",
                    TargetGroupSetting::ProtocolVersion => "protocol version",
                    TargetGroupSetting::Port => "port",
                    TargetGroupSetting::TargetType => "target type",
                };
                write!(
                    f,
                    "{address}: the {field} is {on_aws} on AWS, {desired} is desired; a target group's \
                     {field} cannot change in place: it needs a new target group (delete this \
                     one once no rule forwards to it, or change the backend)"
                )
            }
            Note::LoadBalancerKept { gateway, name } => write!(
                f,
                "Gateway {gateway} is no longer desired, but its load balancer {name} holds listeners or rules gwsync does not own: gwsync removed its own and left the load balancer; delete it by hand once they are gone"
            ),
            Note::ListenerKept {
                gateway,
                protocol,
                port,
                cause,
                foreign_priorities,
            } => write!(
                f,
                "{cause}: listener {} {port} of Gateway {gateway} holds rules gwsync does not own (priorities {}); gwsync removed its own rules and left the listener",
                protocol.as_str(),
                joined(foreign_priorities, ", ")
            ),
            Note::TwinRules {
                address,
                kept,
                left,
            } => write!(
                f,
                "{address}: two owned rules carry this identity (priorities {kept} and {left}); the one at {left} is left alone: delete it by hand"
            ),
            Note::UnreachableRule {
                address,
                conditions,
            } => write!(
                f,
                "{address}: two desired rules have the same conditions ({}); the later one can never match and is left out",
                conditions_list(conditions)
            ),
            Note::ShadowedByForeign {
                address,
                priority,
                foreign_priority,
                foreign_conditions,
            } => write!(
                f,
                "{address} (priority {priority}) never answers: a rule gwsync does not own at priority {foreign_priority} ({}) matches every request it matches first; remove or narrow that rule",
                conditions_list(foreign_conditions)
            ),
            Note::NoRoom {
                listener,
                rules,
                free,
            } => write!(
                f,
                "{listener}: {rules} rules need priorities but only {free} of 1..=50000 are free; the listener's rules are left as they are"
            ),
        }
    }
}

impl Display for HeldBack {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            HeldBack::NoStateDatabase { error } => write!(
                f,
                "state database not available ({error}): a refused team's last admitted state is unknown"
            ),
            HeldBack::TeamAtLastGood { team, commit } => write!(
                f,
                "team {team} is refused at this revision: its last admitted state (commit {}) stays in place",
                crate::source::short(commit)
            ),
            HeldBack::TeamWithoutLastGood { team } => write!(
                f,
                "team {team} is refused at this revision and has no admitted revision on record"
            ),
            HeldBack::MissingCertificate {
                gateway,
                port,
                hostname,
            } => write!(
                f,
                "HTTPS listener on port {port} of Gateway {gateway}: no issued ACM certificate covers `{hostname}` (by its name or a one-label wildcard); the listener stays as it is on AWS (or is not made yet), the Gateway's other listeners go ahead"
            ),
            HeldBack::RuleAnswers500 {
                gateway,
                port,
                source: from,
                cause,
            } => write!(
                f,
                "{} on Gateway {gateway} port {port} answers 500: {cause}",
                origin(from.as_ref())
            ),
            HeldBack::TeamRulesKept {
                team,
                gateway,
                rules,
                because,
            } => {
                match because {
                    TeamKept::Refused => {
                        write!(f, "team {team} is refused with no admitted state on record")?
                    }
                    TeamKept::Held => write!(
                        f,
                        "team {team} is held (`gwsync release --team {team}` lifts it)"
                    )?,
                    TeamKept::Stalled => write!(
                        f,
                        "team {team} is stalled: its changes kept failing (a commit that changes its files, `gwsync sync` or `gwsync release --team {team}` tries it again)"
                    )?,
                }
                write!(
                    f,
                    ": its {rules} rule(s) on Gateway {gateway} stay as they are on AWS"
                )
            }
            HeldBack::Gateway { gateway, causes } => write!(
                f,
                "Gateway {gateway} is left as it is on AWS: {}",
                joined(causes, "; ")
            ),
        }
    }
}

impl Display for Unusable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Missing { name } => write!(
                f,
                "no target group named `{name}` exists on AWS (create it, or fix the backend's name)"
            ),
            Unusable::NameTaken { name, backend } => write!(
                f,
                "the target group for {backend} cannot be created: a target group gwsync does not own is named `{name}` (delete or rename that one, or set targetGroupName in the TargetGroupConfiguration)"
            ),
            Unusable::OtherVpc {
                name,
                vpc,
                load_balancer_vpc,
            } => write!(
                f,
                "target group `{name}` is in {vpc}, the load balancer in {load_balancer_vpc}: ALB forwards only within its VPC"
            ),
            Unusable::ClientCredentials { secret, problem } => write!(
                f,
                "the OIDC client credentials in Secrets Manager secret `{secret}` cannot be used: {problem}"
            ),
        }
    }
}

impl Display for GatewayHold {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            GatewayHold::Untranslatable => {
                write!(f, "translation refused it (see the diagnostics)")
            }
            GatewayHold::RuleQuota {
                owned,
                foreign,
                quota,
            } => write!(
                f,
                "its {owned} rules and the {foreign} rules gwsync does not own on its listeners would exceed the quota of {quota} rules per load balancer (raise aws.rules_per_load_balancer to your account's quota, or remove rules)"
            ),
            GatewayHold::RefusedTeam { team } => write!(
                f,
                "team {team} is refused with no admitted state on record, and rules without an owner tag (made by an older gwsync) cannot be told apart from its own"
            ),
            GatewayHold::HeldTeam { team } => write!(
                f,
                "team {team} is held, and rules without an owner tag (made by an older gwsync) cannot be told apart from its own"
            ),
            GatewayHold::StalledTeam { team } => write!(
                f,
                "team {team} is stalled, and rules without an owner tag (made by an older gwsync) cannot be told apart from its own"
            ),
        }
    }
}

fn origin(from: Option<&RuleSource>) -> String {
    from.map_or_else(|| "a rule of unknown origin".to_string(), source)
}

fn conditions_list(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "any request".to_string();
    }
    conditions
        .iter()
        .map(condition)
        .collect::<Vec<_>>()
        .join(", ")
}

fn actions_list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "(no action)".to_string();
    }
    actions
        .iter()
        .map(action)
        .collect::<Vec<_>>()
        .join(", then ")
}

fn joined<T: Display>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

fn list(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

fn pairs(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn targets_list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| match t.port {
            Some(p) => format!("{}:{p}", t.id),
            None => t.id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn certificates_list(certificates: &[Certificate]) -> String {
    let names: Vec<String> = certificates
        .iter()
        .map(|c| match c {
            Certificate::Arn(arn) => arn.clone(),
            Certificate::ForHostname(h) => format!("(for {h})"),
            Certificate::ForRouteHostname(h) => {
                format!("(for route hostname {h}, found in ACM at apply)")
            }
        })
        .collect();
    list(&names)
}

/// `field before → after` for each health-check setting that differs.
fn health_check_changes(before: &HealthCheck, after: &HealthCheck) -> String {
    let fields = |h: &HealthCheck| {
        [
            ("protocol", h.protocol.as_str().to_string()),
            ("port", h.port.clone()),
            ("path", h.path.clone()),
            ("interval", format!("{}s", h.interval_seconds)),
            ("timeout", format!("{}s", h.timeout_seconds)),
            ("healthy threshold", h.healthy_threshold.to_string()),
            ("unhealthy threshold", h.unhealthy_threshold.to_string()),
            ("matcher", matcher(&h.matcher)),
        ]
    };
    fields(before)
        .into_iter()
        .zip(fields(after))
        .filter(|((_, b), (_, a))| b != a)
        .map(|((name, b), (_, a))| format!("{name} {b} → {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}
