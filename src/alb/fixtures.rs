//! Builders for hand-made models in unit tests, shared by every module's tests (`plan`,
//! `alb::evaluate`, `aws`), so a model type that gains a field changes here only.

use super::{
    Action, Condition, HealthCheck, IpAddressType, Listener, LoadBalancer, Patterns, Protocol,
    ProtocolVersion, QueryValue, Rule, Scheme, TargetGroup, TargetGroupRef, TargetType,
    WeightedTargetGroup,
};
use std::collections::BTreeMap;

pub(crate) fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

pub(crate) fn host(values: &[&str]) -> Condition {
    Condition::HostHeader {
        values: Patterns::Wildcard(strings(values)),
    }
}

pub(crate) fn host_regex(values: &[&str]) -> Condition {
    Condition::HostHeader {
        values: Patterns::Regex(strings(values)),
    }
}

pub(crate) fn path(values: &[&str]) -> Condition {
    Condition::PathPattern {
        values: Patterns::Wildcard(strings(values)),
    }
}

pub(crate) fn path_regex(values: &[&str]) -> Condition {
    Condition::PathPattern {
        values: Patterns::Regex(strings(values)),
    }
}

pub(crate) fn header(name: &str, values: &[&str]) -> Condition {
    Condition::HttpHeader {
        name: name.to_string(),
        values: Patterns::Wildcard(strings(values)),
    }
}

pub(crate) fn header_regex(name: &str, values: &[&str]) -> Condition {
    Condition::HttpHeader {
        name: name.to_string(),
        values: Patterns::Regex(strings(values)),
    }
}

pub(crate) fn query(pairs: &[(Option<&str>, &str)]) -> Condition {
    Condition::QueryString {
        values: pairs
            .iter()
            .map(|(key, value)| QueryValue {
                key: key.map(str::to_string),
                value: value.to_string(),
            })
            .collect(),
    }
}

pub(crate) fn method(values: &[&str]) -> Condition {
    Condition::HttpRequestMethod {
        values: strings(values),
    }
}

pub(crate) fn source_ip(values: &[&str]) -> Condition {
    Condition::SourceIp {
        values: strings(values),
    }
}

/// A weighted forward to these target groups.
pub(crate) fn forward_to(groups: &[(TargetGroupRef, u32)]) -> Action {
    Action::Forward {
        target_groups: groups
            .iter()
            .map(|(tg, weight)| WeightedTargetGroup {
                target_group: tg.clone(),
                weight: *weight,
            })
            .collect(),
        stickiness_seconds: None,
    }
}

/// A weighted forward to owned target groups, by backend.
pub(crate) fn forward(backends: &[(&str, u32)]) -> Action {
    let groups: Vec<(TargetGroupRef, u32)> = backends
        .iter()
        .map(|(b, w)| (TargetGroupRef::Owned(b.to_string()), *w))
        .collect();
    forward_to(&groups)
}

/// A rule without source or transforms.
pub(crate) fn rule(priority: u32, conditions: Vec<Condition>, actions: Vec<Action>) -> Rule {
    Rule {
        priority,
        conditions,
        actions,
        transforms: Vec::new(),
        source: None,
        owner: None,
    }
}

/// A listener answering 404 by default, without certificates.
pub(crate) fn listener(port: u16, protocol: Protocol, rules: Vec<Rule>) -> Listener {
    Listener {
        port,
        protocol,
        ssl_policy: None,
        certificates: Vec::new(),
        default_action: Action::fixed(404),
        rules,
    }
}

/// An internet-facing IPv4 load balancer named after its Gateway, without network settings
/// or target groups.
pub(crate) fn load_balancer(gateway: &str, listeners: Vec<Listener>) -> LoadBalancer {
    LoadBalancer {
        gateway: gateway.to_string(),
        name: format!("gw-{}", gateway.replace('/', "-")),
        scheme: Scheme::InternetFacing,
        ip_address_type: IpAddressType::Ipv4,
        subnets: Vec::new(),
        security_groups: Vec::new(),
        attributes: BTreeMap::new(),
        tags: BTreeMap::new(),
        listeners,
        target_groups: Vec::new(),
    }
}

/// An HTTP/1 instance target group on port 8080 with AWS's default health check.
pub(crate) fn target_group(backend: &str) -> TargetGroup {
    TargetGroup {
        backend: backend.to_string(),
        name: format!("gw-{}", backend.replace(['/', ':'], "-")),
        protocol: Protocol::Http,
        protocol_version: ProtocolVersion::Http1,
        port: 8080,
        target_type: TargetType::Instance,
        health_check: HealthCheck::aws_default(Protocol::Http, ProtocolVersion::Http1),
        attributes: BTreeMap::new(),
        tags: BTreeMap::new(),
        targets: Vec::new(),
        owner: None,
    }
}
