//! Requests a change sends somewhere else: for every rule on either side of a change, a few
//! requests at its boundary (the exact host and path it names, a path just inside a prefix,
//! the method, headers and query it asks for) are answered by the ALB evaluator before and
//! after; a request whose answering team or action differs, where a team the change does
//! not touch is on either side (the platform's listener-isolation 404s aside), is reported
//! with one example request.
//!
//! Sampling, not proof: a regular expression or a wildcard is sampled by one value it
//! matches, so a shift that only other values see can be missed. What is reported did
//! happen to that request.

use crate::alb::evaluate::{Answer, Outcome, Request, evaluate};
use crate::alb::identity::PLATFORM_OWNER;
use crate::alb::{Condition, LoadBalancer, Patterns, Protocol, Rule, RuleSource, Stack, render};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Where one request went, on one side of the change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Destination {
    /// The team (or `platform`) whose rule answered; None for the listener's default, a rule
    /// without owner, or no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Where the rule came from (`HTTPRoute payments/web rules[0].matches[1] (file:line)`),
    /// or `default action`.
    pub rule: String,
    /// The route rule alone (`HTTPRoute payments/web rules[0]`): a route rule whose matches
    /// are split or merged differently still answers the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_rule: Option<String>,
    /// What happened (`forward to payments/api:8080`, `fixed 404`).
    pub action: String,
}

/// Requests that went to one place before the change and go to another after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// `namespace/name` of the Gateway.
    pub gateway: String,
    /// One of the requests, e.g. `GET https://api.example.com/payments/x`.
    pub example: String,
    /// How many of the sampled requests moved the same way.
    pub requests: usize,
    pub before: Destination,
    pub after: Destination,
}

/// The requests whose destination changes between `base` and `head` and that concern a team
/// outside `changed` (it answered them before or answers them now), one entry per pair of
/// destinations, by Gateway.
pub fn moved(base: &Stack, head: &Stack, changed: &BTreeSet<String>) -> Vec<Moved> {
    let gateways: BTreeSet<&str> = base
        .load_balancers
        .iter()
        .chain(&head.load_balancers)
        .map(|lb| lb.gateway.as_str())
        .collect();
    let mut found = Vec::new();
    for gateway in gateways {
        let (before, after) = (base.load_balancer(gateway), head.load_balancer(gateway));
        let mut by_pair: BTreeMap<(Destination, Destination), (String, usize)> = BTreeMap::new();
        for (example, request) in samples(before.into_iter().chain(after)) {
            let was = destination(before, &request);
            let is = destination(after, &request);
            let same = was.team == is.team
                && was.action == is.action
                && (was.route_rule.is_some() && was.route_rule == is.route_rule
                    || was.rule == is.rule);
            // Another team's traffic: not the change's own teams, nor the platform's
            // listener-isolation and default answers, which every new route takes from.
            let concerns_others = [&was, &is].iter().any(|d| {
                d.team
                    .as_ref()
                    .is_some_and(|t| !changed.contains(t) && t != PLATFORM_OWNER)
            });
            if same || !concerns_others {
                continue;
            }
            by_pair
                .entry((was, is))
                .and_modify(|(_, n)| *n += 1)
                .or_insert((example, 1));
        }
        found.extend(
            by_pair
                .into_iter()
                .map(|((before, after), (example, requests))| Moved {
                    gateway: gateway.to_string(),
                    example,
                    requests,
                    before,
                    after,
                }),
        );
    }
    found
}

/// Where `request` goes on `lb` (None: the load balancer does not exist on that side).
fn destination(lb: Option<&LoadBalancer>, request: &Request) -> Destination {
    let nowhere = |why: &str| Destination {
        team: None,
        rule: why.to_string(),
        route_rule: None,
        action: "no answer".to_string(),
    };
    let Some(lb) = lb else {
        return nowhere("no load balancer");
    };
    match evaluate(lb, request) {
        Err(e) => nowhere(&e.to_string()),
        Ok(answer) => {
            let rule = answer.priority.and_then(|p| {
                lb.listener(answer.listener)?
                    .rules
                    .iter()
                    .find(|r| r.priority == p)
            });
            let source = rule.and_then(|r| r.source.as_ref());
            Destination {
                team: rule.and_then(|r| r.owner.clone()),
                rule: source.map_or_else(|| "default action".to_string(), render::source),
                route_rule: source.and_then(|s| match s {
                    RuleSource::Route { route, rule, .. } => {
                        Some(format!("HTTPRoute {route} rules[{rule}]"))
                    }
                    _ => None,
                }),
                action: outcome(&answer),
            }
        }
    }
}

fn outcome(answer: &Answer) -> String {
    match &answer.action {
        Outcome::Forward { backends, .. } => {
            let to: Vec<String> = backends
                .iter()
                .filter(|b| b.weight > 0)
                .map(|b| b.backend.clone())
                .collect();
            format!("forward to {}", to.join(", "))
        }
        Outcome::Redirect { status, location } => format!("redirect {status} to {location}"),
        Outcome::FixedResponse { status } => format!("fixed {status}"),
    }
}

/// The boundary requests of every rule of these load balancers, with a printable example
/// each, once each.
fn samples<'a>(lbs: impl Iterator<Item = &'a LoadBalancer>) -> Vec<(String, Request)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for lb in lbs {
        for listener in &lb.listeners {
            for rule in &listener.rules {
                for request in rule_samples(rule, listener.protocol, listener.port) {
                    let example = describe(&request);
                    if seen.insert(example.clone()) {
                        out.push((example, request));
                    }
                }
            }
        }
    }
    out
}

/// Requests that `rule` takes, at the edges of what it names: its host, each path it names
/// (a prefix also with one segment more), its first method, header and query values.
fn rule_samples(rule: &Rule, protocol: Protocol, port: u16) -> Vec<Request> {
    let mut hosts = vec![None];
    let mut paths = vec!["/".to_string()];
    let mut method = "GET".to_string();
    let mut headers = Vec::new();
    let mut query = Vec::new();
    for condition in &rule.conditions {
        match condition {
            Condition::HostHeader { values } => {
                hosts = sample_values(values).into_iter().map(Some).collect();
            }
            Condition::PathPattern { values } => {
                paths = sample_values(values)
                    .into_iter()
                    .flat_map(|p| {
                        let inside = format!("{}/x", p.trim_end_matches('/'));
                        [p, inside]
                    })
                    .collect();
            }
            Condition::HttpRequestMethod { values } => {
                method = values.first().cloned().unwrap_or(method);
            }
            Condition::HttpHeader { name, values } => {
                if let Some(v) = sample_values(values).into_iter().next() {
                    headers.push((name.clone(), v));
                }
            }
            Condition::QueryString { values } => {
                if let Some(q) = values.first() {
                    let key = q.key.clone().unwrap_or_else(|| "q".to_string());
                    query.push((unescape_query(&key), unescape_query(&q.value)));
                }
            }
            // Not sampled: the evaluator matches no source-ip condition without an address.
            Condition::SourceIp { .. } => return Vec::new(),
        }
    }
    let scheme = match protocol {
        Protocol::Http => "http",
        Protocol::Https => "https",
    };
    let mut out = Vec::new();
    for host in &hosts {
        for path in &paths {
            out.push(Request {
                scheme: scheme.to_string(),
                port,
                host: host.clone(),
                path: path.clone(),
                query: query.clone(),
                method: method.clone(),
                headers: headers.clone(),
                source_ip: None,
            });
        }
    }
    out
}

/// One value each pattern matches: wildcards filled with `x`, a regex's literal when it is
/// one (`^literal$`, as gwsync writes exact values); other regexes are not sampled.
fn sample_values(patterns: &Patterns) -> Vec<String> {
    match patterns {
        Patterns::Wildcard(values) => values.iter().map(|v| v.replace(['*', '?'], "x")).collect(),
        Patterns::Regex(values) => values.iter().filter_map(|r| literal_of(r)).collect(),
    }
}

/// The text a `^…$` regex of escaped literal characters matches.
fn literal_of(regex: &str) -> Option<String> {
    let inner = regex.strip_prefix('^')?.strip_suffix('$')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            c if "()[]{}|*+?.^$".contains(c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn unescape_query(value: &str) -> String {
    value
        .replace("\\*", "*")
        .replace("\\?", "?")
        .replace("\\\\", "\\")
}

/// `GET https://host/path?query` (the host `<load balancer>` when there is none).
fn describe(request: &Request) -> String {
    let host = request.host.as_deref().unwrap_or("<load balancer>");
    let default_port = matches!(
        (request.scheme.as_str(), request.port),
        ("http", 80) | ("https", 443)
    );
    let port = if default_port {
        String::new()
    } else {
        format!(":{}", request.port)
    };
    let query = if request.query.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("?{}", pairs.join("&"))
    };
    let headers: String = request
        .headers
        .iter()
        .map(|(k, v)| format!(" -H '{k}: {v}'"))
        .collect();
    format!(
        "{} {}://{host}{port}{}{query}{headers}",
        request.method, request.scheme, request.path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_value_regexes_are_sampled_and_others_are_not() {
        assert_eq!(literal_of("^Prod\\.1$").as_deref(), Some("Prod.1"));
        assert_eq!(literal_of("^a.*$"), None);
        assert_eq!(literal_of("a$"), None);
        let wild = Patterns::Wildcard(vec!["*.example.com".into(), "/api/*".into()]);
        assert_eq!(sample_values(&wild), ["x.example.com", "/api/x"]);
    }
}
