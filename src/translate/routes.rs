//! One HTTPRoute rule into what its ALB rules will hold: the conditions of each match, the
//! final action (forward with scaled weights, redirect, fixed response, or the 500 of an
//! unresolved backend), authentication actions and transforms.
//!
//! This is listener-independent, so it is done once per rule ([`RuleTemplate`]); placing it on
//! a listener (hostname, redirect defaults that depend on the listener's protocol and port)
//! is [`RuleTemplate::actions`]' job. Anything ALB cannot express is a refusal naming the
//! field, never a silent approximation.

use crate::alb::{
    Action, Authenticate, AuthenticationSession, CognitoAuthentication, Condition, JwtClaim,
    JwtValidation, OidcAuthentication, OidcCredentials, OnUnauthenticatedRequest, Patterns,
    Protocol, QueryValue, TargetGroupRef, Transform, UNRESOLVED_BACKEND, WeightedTargetGroup,
    values,
};
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::manifest::lbc;
use crate::tenancy::refs::{References, Resolution};
use gateway_api::apis::standard::httproutes::{
    HttpRouteRules, HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersUrlRewritePathType,
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesPathType,
    HttpRouteRulesMatchesQueryParamsType,
};
use std::collections::BTreeMap;

/// ALB forward weights are 0..=999 (Gateway API allows up to 1,000,000).
pub const MAX_ALB_WEIGHT: u32 = 999;
/// Target groups in one forward action.
pub const MAX_FORWARD_TARGET_GROUPS: usize = 5;

/// How a match's path is matched, as Gateway API says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PathMatch {
    Exact(String),
    /// Normalised: no trailing `/` except for `/` itself.
    Prefix(String),
    Regex(String),
}

/// One match of a rule, without the hostname (which depends on the listener).
#[derive(Debug, Clone)]
pub(super) struct MatchTemplate {
    /// Index in `matches`; None when the rule has no matches (it then matches everything).
    pub index: Option<usize>,
    pub path: PathMatch,
    /// Conditions other than host and path, in canonical order.
    pub conditions: Vec<Condition>,
    pub has_method: bool,
    pub headers: usize,
    pub queries: usize,
    /// Transforms that depend on the match (prefix rewrites).
    pub transforms: Vec<Transform>,
}

/// What a rule does, before it is placed on a listener.
#[derive(Debug, Clone)]
pub(super) enum Behaviour {
    Forward {
        targets: Vec<WeightedTargetGroup>,
        /// Target group stickiness (a ListenerRuleConfiguration's `forwardConfig`).
        stickiness_seconds: Option<u32>,
    },
    Fixed {
        status: u16,
        content_type: Option<String>,
        body: Option<String>,
    },
    Redirect(RedirectTemplate),
}

impl Behaviour {
    /// Why ALB would refuse the action this behaviour becomes (`alb::values`).
    fn value_problem(&self) -> Option<String> {
        let action = match self {
            Behaviour::Forward {
                stickiness_seconds, ..
            } => Action::Forward {
                target_groups: Vec::new(),
                stickiness_seconds: *stickiness_seconds,
            },
            Behaviour::Fixed {
                status,
                content_type,
                body,
            } => Action::FixedResponse {
                status: *status,
                content_type: content_type.clone(),
                body: body.clone(),
            },
            // What the listener fills in later (protocol, port, and the kept parts) is
            // within the limits; the literal host and path are checked here.
            Behaviour::Redirect(r) => Action::Redirect {
                protocol: String::new(),
                host: r.host.clone().unwrap_or_default(),
                port: String::new(),
                path: r.path.clone().unwrap_or_default(),
                query: String::new(),
                status: r.status,
            },
        };
        values::action_problem(&action)
    }
}

#[derive(Debug, Clone)]
pub(super) struct RedirectTemplate {
    scheme: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    /// A literal path, or None to keep the request's (possibly rewritten) path.
    path: Option<String>,
    status: u16,
}

/// One HTTPRoute rule, ready to be placed on listeners.
#[derive(Debug, Clone)]
pub(super) struct RuleTemplate {
    pub rule: usize,
    /// The rule's `name`, shown wherever the rule is (plans, `explain`).
    pub name: Option<String>,
    pub matches: Vec<MatchTemplate>,
    pub behaviour: Behaviour,
    /// Authentication actions, evaluated before the final action.
    pub pre_actions: Vec<Action>,
    /// Host rewrite, shared by every match.
    pub host_rewrite: Option<Transform>,
    /// Warnings to show in the plan (ALB differs from Gateway API for some requests).
    pub warnings: Vec<Diagnostic>,
}

impl RuleTemplate {
    /// The actions of this rule on a listener of `protocol`; redirect defaults depend on it.
    pub fn actions(&self, protocol: Protocol) -> Result<Vec<Action>, Diagnostic> {
        if protocol != Protocol::Https
            && let Some(auth) = self.pre_actions.first()
        {
            let kind = match auth {
                Action::Authenticate(a) => a.action_type(),
                _ => "pre-routing",
            };
            return Err(Diagnostic::error(
                codes::UNSUPPORTED,
                format!(
                    "ALB runs {kind} only on HTTPS listeners: on this {} listener the rule answers 500 rather than forward unauthenticated requests",
                    protocol.as_str()
                ),
            ));
        }
        let mut actions = self.pre_actions.clone();
        actions.push(match &self.behaviour {
            Behaviour::Forward {
                targets,
                stickiness_seconds,
            } => Action::Forward {
                target_groups: targets.clone(),
                stickiness_seconds: *stickiness_seconds,
            },
            Behaviour::Fixed {
                status,
                content_type,
                body,
            } => Action::FixedResponse {
                status: *status,
                content_type: content_type.clone(),
                body: body.clone(),
            },
            Behaviour::Redirect(r) => {
                if protocol == Protocol::Https && r.scheme.as_deref() == Some("http") {
                    return Err(Diagnostic::error(
                        codes::UNSUPPORTED,
                        "a redirect from HTTPS to HTTP is not expressible on ALB",
                    ));
                }
                // Gateway API: without a port, a changed scheme takes its well-known port;
                // an unchanged scheme keeps the listener's port.
                let port = match (r.port, r.scheme.as_deref()) {
                    (Some(p), _) => p.to_string(),
                    (None, Some("https")) => "443".to_string(),
                    (None, Some(_)) => "80".to_string(),
                    (None, None) => "#{port}".to_string(),
                };
                Action::Redirect {
                    protocol: r
                        .scheme
                        .as_deref()
                        .map_or("#{protocol}".to_string(), str::to_ascii_uppercase),
                    host: r.host.clone().unwrap_or_else(|| "#{host}".to_string()),
                    port,
                    path: r.path.clone().unwrap_or_else(|| "/#{path}".to_string()),
                    query: "#{query}".to_string(),
                    status: r.status,
                }
            }
        });
        Ok(actions)
    }

    /// Transforms of one match: the host rewrite, then the match's path rewrite.
    pub fn transforms(&self, m: &MatchTemplate) -> Vec<Transform> {
        self.host_rewrite
            .iter()
            .cloned()
            .chain(m.transforms.iter().cloned())
            .collect()
    }
}

/// A literal for ALB's regular expressions.
pub(super) fn regex_literal(s: &str) -> String {
    regex::escape(s)
}

/// The path condition values for a path match; None for `PathPrefix /` (everything).
pub(super) fn path_patterns(path: &PathMatch) -> Option<Patterns> {
    let wild = |s: &str| s.contains(['*', '?']);
    match path {
        PathMatch::Prefix(p) if p == "/" => None,
        // `*` and `?` are ALB wildcards: a literal one needs a regular expression.
        PathMatch::Exact(p) if wild(p) => {
            Some(Patterns::Regex(vec![format!("^{}$", regex_literal(p))]))
        }
        PathMatch::Exact(p) => Some(Patterns::Wildcard(vec![p.clone()])),
        // Segment-wise: `/abc` and `/abc/...`, never `/abcd`.
        PathMatch::Prefix(p) if wild(p) => Some(Patterns::Regex(vec![format!(
            "^{}(/.*)?$",
            regex_literal(p)
        )])),
        PathMatch::Prefix(p) => Some(Patterns::Wildcard(vec![p.clone(), format!("{p}/*")])),
        PathMatch::Regex(r) => Some(Patterns::Regex(vec![r.clone()])),
    }
}

/// Builds the template of one rule. Errors are refusals (inexpressible) or errors
/// (unresolved references: the rule answers 500), each with its field.
pub(super) fn rule_template(
    route_ns: &str,
    index: usize,
    rule: &HttpRouteRules,
    refs: &References<'_>,
    secret_prefix: &str,
) -> (Option<RuleTemplate>, Vec<Diagnostic>) {
    let field = format!("spec.rules[{index}]");
    let mut diags = Vec::new();
    let mut refuse = |d: Diagnostic| diags.push(d);
    if rule.timeouts.is_some() {
        refuse(
            Diagnostic::refusal(
                codes::UNSUPPORTED,
                "timeouts are not expressible on ALB, which has one idle timeout per load balancer",
            )
            .field(format!("{field}.timeouts")),
        );
    }

    let mut redirect = None;
    let mut url_rewrite = None;
    let mut extension = None;
    for (f, filter) in rule.filters.iter().flatten().enumerate() {
        let ffield = format!("{field}.filters[{f}]");
        match inexpressible_filter(filter) {
            Some(name) => refuse(
                Diagnostic::refusal(
                    codes::UNSUPPORTED,
                    format!("the {name} filter is not expressible on ALB"),
                )
                .field(ffield),
            ),
            None => {
                if let Some(r) = &filter.request_redirect {
                    redirect = Some((r, ffield));
                } else if let Some(u) = &filter.url_rewrite {
                    url_rewrite = Some((u, ffield));
                } else if let Some(e) = &filter.extension_ref {
                    extension = Some((e, ffield));
                }
            }
        }
    }
    for (b, backend) in rule.backend_refs.iter().flatten().enumerate() {
        if backend.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            refuse(
                Diagnostic::refusal(
                    codes::UNSUPPORTED,
                    "filters on a single backendRef are not expressible on ALB; put them on the rule",
                )
                .field(format!("{field}.backendRefs[{b}].filters")),
            );
        }
    }
    if redirect.is_some() && url_rewrite.is_some() {
        refuse(
            Diagnostic::refusal(
                codes::INVALID_FIELD,
                "RequestRedirect and URLRewrite cannot be used together",
            )
            .field(format!("{field}.filters")),
        );
    }

    let mut warnings = Vec::new();
    // Refusals of conditions are kept apart: a rule whose conditions cannot be expressed
    // cannot even answer 500 for exactly its own requests.
    let mut condition_diags = Vec::new();
    let matches = match_templates(rule, &field, &mut condition_diags, &mut warnings);

    // The rule's behaviour: redirect > ListenerRuleConfiguration action > backends.
    // Errors about a share of the backends (some unresolved) leave the rest forwarding.
    let mut share_diags = Vec::new();
    let mut unresolved_extension = false;
    let mut ext = Extension::default();
    if let Some((extension_ref, ffield)) = extension {
        match refs.rule_config(
            route_ns,
            &extension_ref.group,
            &extension_ref.kind,
            &extension_ref.name,
        ) {
            Err(d) => {
                unresolved_extension = d.severity == Severity::Error;
                diags.push(d.field(format!("{ffield}.extensionRef")));
            }
            Ok(config) => ext = Extension::of(config, route_ns, secret_prefix, &ffield, &mut diags),
        }
    }
    let mut pre_actions: Vec<Action> = ext.pre_action.clone().into_iter().collect();

    let mut behaviour = if let Some((r, rfield)) = redirect {
        match redirect_template(r, &rfield) {
            Ok(t) => Behaviour::Redirect(t),
            Err(d) => {
                diags.push(d);
                fixed(500)
            }
        }
    } else if unresolved_extension {
        fixed(500)
    } else if let Some(b) = ext.behaviour.clone() {
        b
    } else {
        forward(route_ns, rule, &field, refs, &mut diags, &mut share_diags)
    };
    ext.configure(&mut behaviour, &field, &mut warnings);

    let problems = pre_actions
        .iter()
        .filter_map(values::action_problem)
        .chain(behaviour.value_problem());
    for problem in problems {
        diags.push(Diagnostic::refusal(codes::ALB_VALUE, problem).field(field.clone()));
    }

    // Path rewrites depend on each match's prefix.
    let mut host_rewrite = None;
    let mut matches = matches;
    if let Some((u, ufield)) = url_rewrite {
        if let Some(h) = &u.hostname {
            host_rewrite = Some(Transform::HostHeaderRewrite {
                regex: "^.*$".to_string(),
                replace: h.clone(),
            });
        }
        if let Some(p) = &u.path {
            let target = match p.r#type {
                HttpRouteRulesFiltersUrlRewritePathType::ReplaceFullPath => {
                    p.replace_full_path.clone().map(PathRewrite::Full)
                }
                HttpRouteRulesFiltersUrlRewritePathType::ReplacePrefixMatch => {
                    p.replace_prefix_match.clone().map(PathRewrite::Prefix)
                }
            };
            apply_path_rewrite(
                target,
                &mut matches,
                &format!("{ufield}.urlRewrite.path"),
                &mut diags,
            );
        }
    }
    for (indexes, condition) in ext.conditions {
        for m in &mut matches {
            let applies = match (&indexes, m.index) {
                (None, _) => true,
                (Some(list), Some(i)) => list.contains(&(i as u32)),
                (Some(list), None) => list.contains(&0),
            };
            if applies {
                m.conditions.push(condition.clone());
            }
        }
    }

    let refused = |d: &Diagnostic| d.severity == Severity::Refusal;
    // Conditions ALB cannot express, and ALB limits, refuse the team (its last good state
    // stays); the caller sees no template.
    if condition_diags.iter().any(refused)
        || diags
            .iter()
            .any(|d| refused(d) && d.code == codes::ALB_LIMIT)
    {
        diags.extend(condition_diags);
        diags.extend(share_diags);
        return (None, diags);
    }
    diags.extend(condition_diags);
    if diags.iter().any(|d| d.severity != Severity::Warning) {
        // What the rule does cannot be expressed, or a reference is unresolved: its own
        // requests (its conditions are exact) answer 500 and never fall through to another
        // rule, while the route's other rules and the team's other routes are applied (the
        // Gateway API's PartiallyInvalid "drop rules": the same in validate, plan and
        // apply). So these are errors on the rule, not refusals of the team.
        for d in &mut diags {
            if d.severity == Severity::Refusal {
                d.severity = Severity::Error;
            }
        }
        behaviour = fixed(500);
        pre_actions.clear();
        host_rewrite = None;
        for m in &mut matches {
            m.transforms.clear();
        }
    }
    diags.extend(share_diags);
    (
        Some(RuleTemplate {
            rule: index,
            name: rule.name.clone(),
            matches,
            behaviour,
            pre_actions,
            host_rewrite,
            warnings,
        }),
        diags,
    )
}

fn fixed(status: u16) -> Behaviour {
    Behaviour::Fixed {
        status,
        content_type: None,
        body: None,
    }
}

/// The Gateway API filter types ALB has no equivalent for.
fn inexpressible_filter(f: &HttpRouteRulesFilters) -> Option<&'static str> {
    if f.request_header_modifier.is_some() {
        Some("RequestHeaderModifier")
    } else if f.response_header_modifier.is_some() {
        Some("ResponseHeaderModifier")
    } else if f.request_mirror.is_some() {
        Some("RequestMirror")
    } else if f.cors.is_some() {
        Some("CORS")
    } else if f.request_redirect.is_none() && f.url_rewrite.is_none() && f.extension_ref.is_none() {
        Some("unknown")
    } else {
        None
    }
}

enum PathRewrite {
    Full(String),
    Prefix(String),
}

/// Adds each match's url-rewrite transform. A prefix rewrite needs a PathPrefix match.
fn apply_path_rewrite(
    target: Option<PathRewrite>,
    matches: &mut [MatchTemplate],
    field: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(target) = target else {
        diags.push(
            Diagnostic::refusal(
                codes::INVALID_FIELD,
                "the path rewrite has no value for its type",
            )
            .field(field.to_string()),
        );
        return;
    };
    for m in matches {
        let transform = match (&target, &m.path) {
            // url-rewrite sees the path and the query; `^[^?]*` is the path alone, so the
            // query is kept.
            (PathRewrite::Full(p), _) => Transform::UrlRewrite {
                regex: "^[^?]*".to_string(),
                replace: p.clone(),
            },
            (PathRewrite::Prefix(r), PathMatch::Prefix(prefix)) => prefix_rewrite(prefix, r),
            (PathRewrite::Prefix(_), _) => {
                diags.push(
                    Diagnostic::refusal(
                        codes::INVALID_FIELD,
                        "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match",
                    )
                    .field(field.to_string()),
                );
                return;
            }
        };
        m.transforms.push(transform);
    }
}

/// The url-rewrite transform that replaces the matched prefix and keeps the rest of the
/// path and the query, without producing `//` or an empty path (`/strip` with `/` gives `/`
/// and `/x`). url-rewrite's input is the path with its query.
pub(super) fn prefix_rewrite(prefix: &str, replacement: &str) -> Transform {
    let m = regex_literal(prefix.trim_end_matches('/'));
    let r = replacement.trim_end_matches('/');
    if r.is_empty() {
        Transform::UrlRewrite {
            regex: format!("^{m}/?(.*)$"),
            replace: "/$1".to_string(),
        }
    } else {
        Transform::UrlRewrite {
            regex: format!("^{m}([/?].*)?$"),
            replace: format!("{r}$1"),
        }
    }
}

fn redirect_template(
    r: &gateway_api::apis::standard::httproutes::HttpRouteRulesFiltersRequestRedirect,
    field: &str,
) -> Result<RedirectTemplate, Diagnostic> {
    let status = match r.status_code {
        None | Some(302) => 302,
        Some(301) => 301,
        Some(other) => {
            return Err(Diagnostic::refusal(
                codes::UNSUPPORTED,
                format!("redirect status {other} is not expressible on ALB, which redirects with 301 or 302 only"),
            )
            .field(format!("{field}.requestRedirect.statusCode")));
        }
    };
    let port = match r.port {
        None => None,
        Some(p) if (1..=65535).contains(&p) => Some(p as u16),
        Some(p) => {
            return Err(Diagnostic::refusal(
                codes::INVALID_FIELD,
                format!("port {p} is outside 1-65535"),
            )
            .field(format!("{field}.requestRedirect.port")));
        }
    };
    let path = match &r.path {
        None => None,
        Some(p) if p.r#type == HttpRouteRulesFiltersRequestRedirectPathType::ReplaceFullPath => {
            Some(
                p.replace_full_path
                    .clone()
                    .unwrap_or_else(|| "/".to_string()),
            )
        }
        // An ALB redirect's path is a literal that may only embed the whole `#{path}`, and AWS
        // documents transforms as applying to requests routed to targets, not to redirects.
        Some(_) => {
            return Err(Diagnostic::refusal(
                codes::UNSUPPORTED,
                "a redirect with ReplacePrefixMatch is not expressible on ALB: a redirect's path is a literal or the whole original path",
            )
            .field(format!("{field}.requestRedirect.path")));
        }
    };
    Ok(RedirectTemplate {
        scheme: r.scheme.as_ref().map(|s| {
            match s {
                HttpRouteRulesFiltersRequestRedirectScheme::Http => "http",
                HttpRouteRulesFiltersRequestRedirectScheme::Https => "https",
            }
            .to_string()
        }),
        host: r.hostname.clone(),
        port,
        path,
        status,
    })
}

/// Forward to the rule's backends: weights scaled into 0..=999, the same target group once.
/// No backends, all weights zero, or any unresolved backend: a fixed 500, as the spec asks.
fn forward(
    route_ns: &str,
    rule: &HttpRouteRules,
    field: &str,
    refs: &References<'_>,
    diags: &mut Vec<Diagnostic>,
    share_diags: &mut Vec<Diagnostic>,
) -> Behaviour {
    let mut weights: BTreeMap<TargetGroupRef, u64> = BTreeMap::new();
    let mut order: Vec<TargetGroupRef> = Vec::new();
    let mut unresolved = Vec::new();
    let mut unresolved_weight = 0;
    for (i, b) in rule.backend_refs.iter().flatten().enumerate() {
        let bfield = format!("{field}.backendRefs[{i}]");
        let weight = b.weight.unwrap_or(1).max(0) as u64;
        match refs.resolve_backend(route_ns, b) {
            Resolution::Resolved(tg) => {
                if !weights.contains_key(&tg) {
                    order.push(tg.clone());
                }
                *weights.entry(tg).or_default() += weight;
            }
            Resolution::Unresolved(d) => {
                unresolved.push(d.field(bfield));
                unresolved_weight += weight;
            }
            Resolution::Invalid(d, sub) => diags.push(d.field(format!("{bfield}{sub}"))),
        }
    }
    if !unresolved.is_empty() {
        let resolved_weight: u64 = weights.values().sum();
        if order.is_empty() || resolved_weight == 0 {
            // Every request would go to an unresolved backend: the whole rule answers 500.
            diags.extend(unresolved);
            return fixed(500);
        }
        // The valid backends keep their share (Gateway API: only requests that would have
        // gone to an invalid backend fail). The invalid share goes to gwsync's empty target
        // group, which ALB answers with 503; the errors stand, but do not make the whole
        // rule answer 500.
        if unresolved_weight > 0 {
            let empty = TargetGroupRef::Owned(UNRESOLVED_BACKEND.to_string());
            order.push(empty.clone());
            weights.insert(empty, unresolved_weight);
            share_diags.push(
                Diagnostic::warning(
                    codes::MIXED_BACKENDS,
                    format!(
                        "{unresolved_weight} of {} weight goes to unresolved backends: that share goes to an empty target group, which ALB answers with 503 (Gateway API asks for 500), while the resolved backends keep theirs",
                        resolved_weight + unresolved_weight
                    ),
                )
                .field(format!("{field}.backendRefs")),
            );
        }
        share_diags.extend(unresolved);
    }
    if order.len() > MAX_FORWARD_TARGET_GROUPS {
        diags.push(
            Diagnostic::refusal(
                codes::ALB_LIMIT,
                format!(
                    "{} target groups in one forward; ALB allows {MAX_FORWARD_TARGET_GROUPS}",
                    order.len()
                ),
            )
            .field(format!("{field}.backendRefs")),
        );
        return fixed(500);
    }
    let total: u64 = weights.values().sum();
    if total == 0 {
        return fixed(500);
    }
    let max = weights.values().copied().max().unwrap_or(0);
    let scale = |w: u64| -> u32 {
        if max <= MAX_ALB_WEIGHT as u64 || w == 0 {
            w as u32
        } else {
            // Keep the ratios; a backend with traffic never drops to zero.
            ((w * MAX_ALB_WEIGHT as u64 + max / 2) / max).max(1) as u32
        }
    };
    Behaviour::Forward {
        targets: order
            .into_iter()
            .map(|tg| WeightedTargetGroup {
                weight: scale(weights[&tg]),
                target_group: tg,
            })
            .collect(),
        stickiness_seconds: None,
    }
}

/// What a ListenerRuleConfiguration adds to a rule's ALB rules.
#[derive(Default)]
struct Extension {
    /// Authentication or JWT validation, run before the final action.
    pre_action: Option<Action>,
    /// Source-IP conditions, with the indexes of the matches they apply to (all: None).
    conditions: Vec<(Option<Vec<u32>>, Condition)>,
    /// A fixed response instead of what the route says.
    behaviour: Option<Behaviour>,
    /// `forwardConfig`: stickiness for the forward the route's backends make.
    forward: Option<lbc::ForwardActionConfig>,
}

/// Stickiness is on for `duration` seconds (the controller's default: 3600) when enabled.
const DEFAULT_STICKINESS_SECONDS: u32 = 3600;

impl Extension {
    /// A ListenerRuleConfiguration's conditions and actions. OIDC credentials are named by
    /// the team's secret, read from `<secret_prefix><namespace>/<name>` at plan time.
    fn of(
        config: &lbc::ListenerRuleConfigurationSpec,
        route_ns: &str,
        secret_prefix: &str,
        field: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Extension {
        let mut ext = Extension {
            conditions: config
                .conditions
                .iter()
                .map(|c| {
                    let values = c.source_ip_config.values.clone();
                    (c.match_indexes.clone(), Condition::SourceIp { values })
                })
                .collect(),
            ..Extension::default()
        };
        for action in &config.actions {
            match action {
                lbc::Action::FixedResponse(f) => {
                    ext.behaviour = Some(Behaviour::Fixed {
                        status: f.status_code,
                        content_type: f.content_type.map(|c| c.as_str().to_string()),
                        // AWS does not keep an empty body: neither does the desired state.
                        body: f.message_body.clone().filter(|b| !b.is_empty()),
                    })
                }
                lbc::Action::Forward(f) => ext.forward = Some(f.clone()),
                lbc::Action::AuthenticateCognito(c) => {
                    ext.pre_action = Some(Action::Authenticate(Authenticate::Cognito(
                        CognitoAuthentication {
                            user_pool_arn: c.user_pool_arn.clone(),
                            user_pool_client_id: c.user_pool_client_id.clone(),
                            user_pool_domain: c.user_pool_domain.clone(),
                            session: session(
                                c.scope.as_ref(),
                                c.session_cookie_name.as_ref(),
                                c.session_timeout,
                                c.on_unauthenticated_request,
                                &c.authentication_request_extra_params,
                            ),
                        },
                    )))
                }
                lbc::Action::AuthenticateOidc(c) => {
                    let secret = format!("{secret_prefix}{route_ns}/{}", c.secret.name);
                    if !crate::config::secret_name_ok(&secret) {
                        diags.push(
                            Diagnostic::refusal(
                                codes::ALB_VALUE,
                                format!(
                                    "the OIDC secret name `{}` makes Secrets Manager name `{secret}`, which holds only letters, digits and /_+=.@- (at most 512 characters)",
                                    c.secret.name
                                ),
                            )
                            .field(format!("{field}.extensionRef")),
                        );
                    }
                    ext.pre_action = Some(Action::Authenticate(Authenticate::Oidc(
                        OidcAuthentication {
                            issuer: c.issuer.clone(),
                            authorization_endpoint: c.authorization_endpoint.clone(),
                            token_endpoint: c.token_endpoint.clone(),
                            user_info_endpoint: c.user_info_endpoint.clone(),
                            client_id: String::new(),
                            session: session(
                                c.scope.as_ref(),
                                c.session_cookie_name.as_ref(),
                                c.session_timeout,
                                c.on_unauthenticated_request,
                                &c.authentication_request_extra_params,
                            ),
                            credentials: Some(OidcCredentials {
                                secret,
                                keep_existing_secret: c.use_existing_client_secret == Some(true),
                            }),
                        },
                    )))
                }
                lbc::Action::JwtValidation(j) => {
                    ext.pre_action = Some(Action::Authenticate(Authenticate::JwtValidation(
                        JwtValidation {
                            issuer: j.issuer.clone(),
                            jwks_endpoint: j.jwks_endpoint.clone(),
                            additional_claims: j
                                .additional_claims
                                .iter()
                                .map(|c| JwtClaim {
                                    name: c.name.clone(),
                                    format: c.format.as_str().to_string(),
                                    values: c.values.clone(),
                                })
                                .collect(),
                        },
                    )))
                }
                lbc::Action::Redirect(_) => diags.push(
                    Diagnostic::refusal(
                        codes::UNSUPPORTED,
                        "ListenerRuleConfiguration action `redirect` (the query of the route's redirect) is not supported by gwsync: a RequestRedirect keeps the request's query",
                    )
                    .field(format!("{field}.extensionRef")),
                ),
            }
        }
        ext
    }

    /// The route's forward with this configuration's stickiness; a `forwardConfig` on a rule
    /// that does not forward has nothing to configure, and says so.
    fn configure(&self, behaviour: &mut Behaviour, field: &str, warnings: &mut Vec<Diagnostic>) {
        let Some(forward) = &self.forward else {
            return;
        };
        let Behaviour::Forward {
            stickiness_seconds, ..
        } = behaviour
        else {
            warnings.push(
                Diagnostic::warning(
                    codes::UNSUPPORTED,
                    "the ListenerRuleConfiguration's forwardConfig has no effect: this rule does not forward",
                )
                .field(format!("{field}.extensionRef")),
            );
            return;
        };
        *stickiness_seconds = forward
            .target_group_stickiness_config
            .as_ref()
            .filter(|s| s.enabled == Some(true))
            .map(|s| {
                s.duration_seconds
                    .map_or(DEFAULT_STICKINESS_SECONDS, |d| d.max(0) as u32)
            });
    }
}

/// Authentication session settings, AWS's defaults where none are given.
fn session(
    scope: Option<&String>,
    cookie: Option<&String>,
    timeout: Option<i64>,
    on_unauthenticated: Option<lbc::OnUnauthenticatedRequest>,
    extra_params: &BTreeMap<String, String>,
) -> AuthenticationSession {
    let defaults = AuthenticationSession::default();
    AuthenticationSession {
        scope: scope.cloned().unwrap_or(defaults.scope),
        session_cookie_name: cookie.cloned().unwrap_or(defaults.session_cookie_name),
        session_timeout_seconds: timeout.unwrap_or(defaults.session_timeout_seconds),
        on_unauthenticated_request: on_unauthenticated
            .and_then(|o| OnUnauthenticatedRequest::parse(o.as_str()))
            .unwrap_or(defaults.on_unauthenticated_request),
        extra_params: extra_params.clone(),
    }
}

/// The matches of a rule (one `PathPrefix /` match when it has none).
fn match_templates(
    rule: &HttpRouteRules,
    field: &str,
    diags: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<MatchTemplate> {
    let given = rule.matches.as_deref().unwrap_or_default();
    if given.is_empty() {
        return vec![MatchTemplate {
            index: None,
            path: PathMatch::Prefix("/".to_string()),
            conditions: Vec::new(),
            has_method: false,
            headers: 0,
            queries: 0,
            transforms: Vec::new(),
        }];
    }
    given
        .iter()
        .enumerate()
        .map(|(i, m)| match_template(i, m, &format!("{field}.matches[{i}]"), diags, warnings))
        .collect()
}

fn match_template(
    index: usize,
    m: &HttpRouteRulesMatches,
    field: &str,
    diags: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> MatchTemplate {
    let path = match &m.path {
        None => PathMatch::Prefix("/".to_string()),
        Some(p) => {
            // The manifest stage has checked the value against the Gateway API schema.
            let value = p.value.clone().unwrap_or_else(|| "/".to_string());
            match p
                .r#type
                .clone()
                .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix)
            {
                HttpRouteRulesMatchesPathType::Exact => PathMatch::Exact(value),
                HttpRouteRulesMatchesPathType::PathPrefix => {
                    let trimmed = value.trim_end_matches('/');
                    PathMatch::Prefix(if trimmed.is_empty() {
                        "/".to_string()
                    } else {
                        trimmed.to_string()
                    })
                }
                HttpRouteRulesMatchesPathType::RegularExpression => PathMatch::Regex(value),
            }
        }
    };
    let mut conditions = Vec::new();
    if let Some(method) = &m.method {
        let name = serde_json::to_value(method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        conditions.push(Condition::HttpRequestMethod { values: vec![name] });
    }
    let headers = m.headers.as_deref().unwrap_or_default();
    let header_conditions: Vec<Condition> = headers
        .iter()
        .map(|h| {
            let values = match h
                .r#type
                .clone()
                .unwrap_or(HttpRouteRulesMatchesHeadersType::Exact)
            {
                HttpRouteRulesMatchesHeadersType::Exact => exact_value(&h.value),
                HttpRouteRulesMatchesHeadersType::RegularExpression => {
                    Patterns::Regex(vec![h.value.clone()])
                }
            };
            Condition::HttpHeader {
                name: h.name.to_ascii_lowercase(),
                values,
            }
        })
        .collect();
    conditions.extend(header_conditions);
    let queries = m.query_params.as_deref().unwrap_or_default();
    for (q, param) in queries.iter().enumerate() {
        let qfield = format!("{field}.queryParams[{q}]");
        match param.r#type.clone().unwrap_or(HttpRouteRulesMatchesQueryParamsType::Exact) {
            HttpRouteRulesMatchesQueryParamsType::RegularExpression => diags.push(
                Diagnostic::refusal(
                    codes::UNSUPPORTED,
                    "a RegularExpression query parameter match is not expressible on ALB, whose query-string conditions have no regular expressions",
                )
                .field(qfield),
            ),
            HttpRouteRulesMatchesQueryParamsType::Exact => {
                if param.value.chars().any(|c| c.is_ascii_alphabetic())
                    || param.name.chars().any(|c| c.is_ascii_alphabetic())
                {
                    warnings.push(
                        Diagnostic::warning(
                            codes::ALB_DIFFERS,
                            format!(
                                "ALB compares query parameters case-insensitively: `{}={}` also matches other letter cases, which Gateway API's Exact does not",
                                param.name, param.value
                            ),
                        )
                        .field(qfield),
                    );
                }
                conditions.push(Condition::QueryString {
                    values: vec![QueryValue {
                        key: Some(escape_query(&param.name)),
                        value: escape_query(&param.value),
                    }],
                });
            }
        }
    }
    MatchTemplate {
        index: Some(index),
        path,
        conditions,
        has_method: m.method.is_some(),
        headers: headers.len(),
        queries: queries.len(),
        transforms: Vec::new(),
    }
}

/// An exact, case-sensitive header value. ALB header values compare case-insensitively and
/// treat `*` and `?` as wildcards, so only values with neither letters nor wildcards can be
/// plain values; the others become anchored regular expressions.
fn exact_value(value: &str) -> Patterns {
    if value
        .chars()
        .any(|c| c.is_ascii_alphabetic() || c == '*' || c == '?')
    {
        Patterns::Regex(vec![format!("^{}$", regex_literal(value))])
    } else {
        Patterns::Wildcard(vec![value.to_string()])
    }
}

/// ALB query-string values treat `*` and `?` as wildcards; a backslash makes them literal.
fn escape_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_paths_are_segment_wise() {
        assert_eq!(
            path_patterns(&PathMatch::Prefix("/abc".into())),
            Some(Patterns::Wildcard(vec!["/abc".into(), "/abc/*".into()]))
        );
        assert_eq!(path_patterns(&PathMatch::Prefix("/".into())), None);
        assert_eq!(
            path_patterns(&PathMatch::Exact("/a*b".into())),
            Some(Patterns::Regex(vec!["^/a\\*b$".into()]))
        );
    }

    #[test]
    fn prefix_rewrites_never_make_double_or_empty_slashes() {
        assert_eq!(
            prefix_rewrite("/strip-prefix", "/"),
            Transform::UrlRewrite {
                regex: "^/strip\\-prefix/?(.*)$".into(),
                replace: "/$1".into()
            }
        );
        assert_eq!(
            prefix_rewrite("/prefix/one", "/one/"),
            Transform::UrlRewrite {
                regex: "^/prefix/one([/?].*)?$".into(),
                replace: "/one$1".into()
            }
        );
    }

    #[test]
    fn exact_header_values_stay_exact() {
        assert_eq!(exact_value("42"), Patterns::Wildcard(vec!["42".into()]));
        assert_eq!(exact_value("One"), Patterns::Regex(vec!["^One$".into()]));
        assert_eq!(escape_query("a*b?"), "a\\*b\\?");
    }
}
