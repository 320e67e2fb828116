//! Human-readable text of the ALB model: one line per rule, in the words of the ALB console
//! (conditions ANDed with `and`, values ORed with `|`), so that a plan can be reviewed by a
//! person. Rendering only; the JSON form is the model's serde shape.

use super::{
    Action, Authenticate, Certificate, Condition, LoadBalancer, Matcher, Patterns, Rule,
    RuleSource, Stack, TargetGroupRef, Transform,
};
use std::fmt::Write as _;

/// The whole stack: per load balancer, its settings, listeners with their rules, and target
/// groups.
pub fn stack(stack: &Stack) -> String {
    let mut out = String::new();
    for lb in &stack.load_balancers {
        load_balancer(&mut out, lb);
    }
    out
}

fn load_balancer(out: &mut String, lb: &LoadBalancer) {
    let _ = writeln!(
        out,
        "load balancer {} (Gateway {}): {}, {}",
        lb.name,
        lb.gateway,
        label(&lb.scheme),
        label(&lb.ip_address_type)
    );
    if !lb.subnets.is_empty() {
        let _ = writeln!(out, "  subnets: {}", lb.subnets.join(", "));
    }
    if !lb.security_groups.is_empty() {
        let _ = writeln!(out, "  security groups: {}", lb.security_groups.join(", "));
    }
    for (k, v) in &lb.attributes {
        let _ = writeln!(out, "  attribute {k} = {v}");
    }
    for l in &lb.listeners {
        let _ = write!(out, "  listener {} {}", l.protocol.as_str(), l.port);
        if let Some(p) = &l.ssl_policy {
            let _ = write!(out, " ssl-policy {p}");
        }
        let _ = writeln!(out);
        for c in &l.certificates {
            let _ = match c {
                Certificate::Arn(arn) => writeln!(out, "    certificate {arn}"),
                Certificate::ForHostname(h) => writeln!(out, "    certificate for {h} (from ACM)"),
                Certificate::ForRouteHostname(h) => {
                    writeln!(
                        out,
                        "    certificate for route hostname {h} (found in ACM at apply)"
                    )
                }
            };
        }
        for r in &l.rules {
            let _ = writeln!(out, "    {}", rule(r));
        }
        let _ = writeln!(out, "    default: {}", action(&l.default_action));
    }
    for tg in &lb.target_groups {
        let _ = writeln!(
            out,
            "  target group {} for {}: {} {} port {}, {} targets, health {} {}{} every {}s",
            tg.name,
            tg.backend,
            tg.protocol.as_str(),
            tg.protocol_version.as_str(),
            tg.port,
            tg.target_type.as_str(),
            tg.health_check.protocol.as_str(),
            tg.health_check.port,
            tg.health_check.path,
            tg.health_check.interval_seconds
        );
        for t in &tg.targets {
            let _ = writeln!(
                out,
                "    target {}{}",
                t.id,
                t.port.map(|p| format!(":{p}")).unwrap_or_default()
            );
        }
    }
}

/// One rule: `priority  conditions  -> actions  [transforms]  # source`.
pub fn rule(r: &Rule) -> String {
    let conditions = if r.conditions.is_empty() {
        "any request".to_string()
    } else {
        r.conditions
            .iter()
            .map(condition)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let actions = r
        .actions
        .iter()
        .map(action)
        .collect::<Vec<_>>()
        .join(", then ");
    let mut line = format!("{:>5}  {conditions}  -> {actions}", r.priority);
    for t in &r.transforms {
        let _ = write!(line, "  [{}]", transform(t));
    }
    if let Some(from) = &r.source {
        let _ = write!(line, "  # {}", source(from));
    }
    line
}

/// Where a rule came from, in the words of the route's YAML: `HTTPRoute payments/web
/// rules[1].matches[0]`, or `listener isolation of hostname a.example.com`.
pub fn source(source: &RuleSource) -> String {
    match source {
        RuleSource::Route {
            route,
            rule,
            matches,
            file,
            name,
        } => {
            let matches = match matches.as_slice() {
                [] => String::new(),
                [one] => format!(".matches[{one}]"),
                many => format!(
                    ".matches[{}]",
                    many.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            };
            let file = file
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            let name = name
                .as_deref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default();
            format!("HTTPRoute {route} rules[{rule}]{name}{matches}{file}")
        }
        RuleSource::ListenerIsolation { hostname } => {
            format!("listener isolation of hostname {hostname}")
        }
        RuleSource::Foreign => "a rule gwsync does not own".to_string(),
    }
}

/// One transform, e.g. `rewrite url ^/api/(.*)$ => /$1`.
pub fn transform(t: &Transform) -> String {
    match t {
        Transform::HostHeaderRewrite { regex, replace } => {
            format!("rewrite host {regex} => {replace}")
        }
        Transform::UrlRewrite { regex, replace } => format!("rewrite url {regex} => {replace}"),
    }
}

/// A health-check matcher, e.g. `HTTP 200-299` or `gRPC 0`.
pub fn matcher(m: &Matcher) -> String {
    match m {
        Matcher::HttpCode(codes) => format!("HTTP {codes}"),
        Matcher::GrpcCode(codes) => format!("gRPC {codes}"),
    }
}

fn patterns(p: &Patterns) -> String {
    match p {
        Patterns::Wildcard(v) => v.join(" | "),
        Patterns::Regex(v) => v
            .iter()
            .map(|r| format!("~/{r}/"))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// One condition, e.g. `host pay.example.com`, `path /api | /api/*`.
pub fn condition(c: &Condition) -> String {
    match c {
        Condition::HostHeader { values } => format!("host {}", patterns(values)),
        Condition::PathPattern { values } => format!("path {}", patterns(values)),
        Condition::HttpHeader { name, values } => format!("header {name}: {}", patterns(values)),
        Condition::QueryString { values } => format!(
            "query {}",
            values
                .iter()
                .map(|q| match &q.key {
                    Some(k) => format!("{k}={}", q.value),
                    None => q.value.clone(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        Condition::HttpRequestMethod { values } => format!("method {}", values.join(" | ")),
        Condition::SourceIp { values } => format!("source-ip {}", values.join(" | ")),
    }
}

/// One action, e.g. `forward to payments/api:8080 (weight 90), payments/canary:8080 (weight 10)`.
pub fn action(a: &Action) -> String {
    match a {
        Action::Forward {
            target_groups,
            stickiness_seconds,
        } => {
            let targets: Vec<String> = target_groups
                .iter()
                .map(|t| {
                    let name = match &t.target_group {
                        TargetGroupRef::Owned(b) if b == super::UNRESOLVED_BACKEND => {
                            "no target (the unresolved backends' share: 503)".to_string()
                        }
                        TargetGroupRef::Owned(b) => b.clone(),
                        TargetGroupRef::Existing(n) => format!("target group {n}"),
                    };
                    if target_groups.len() == 1 {
                        name
                    } else {
                        format!("{name} (weight {})", t.weight)
                    }
                })
                .collect();
            let sticky = stickiness_seconds
                .map(|s| format!(", sticky {s}s"))
                .unwrap_or_default();
            format!("forward to {}{sticky}", targets.join(", "))
        }
        Action::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status,
        } => {
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            format!("redirect {status} to {protocol}://{host}:{port}{path}{q}")
        }
        Action::FixedResponse { status, .. } => format!("fixed response {status}"),
        Action::Authenticate(auth) => format!("authenticate ({})", auth_label(auth)),
    }
}

/// The kind of an authentication action, as the plan names it.
fn auth_label(auth: &Authenticate) -> &'static str {
    match auth {
        Authenticate::Cognito(_) => "cognito",
        Authenticate::Oidc(_) => "oidc",
        Authenticate::JwtValidation(_) => "jwt-validation",
    }
}

/// The serialised name of a model enum, e.g. `internet-facing`.
pub fn label<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
