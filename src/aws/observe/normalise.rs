//! Normalising: SDK shapes into the ALB model, in the one shape `translate` builds (see the
//! `alb` module doc and this module's parent), so that an unchanged configuration compares
//! equal to the desired one. Pure: no calls.

use crate::alb::{
    Action, Authenticate, AuthenticationSession, Certificate, CognitoAuthentication, Condition,
    HealthCheck, IpAddressType, JwtClaim, JwtValidation, Listener, LoadBalancer, Matcher,
    OidcAuthentication, OnUnauthenticatedRequest, Patterns, Protocol, ProtocolVersion, QueryValue,
    Rule, Scheme, Target, TargetGroup, TargetGroupRef, TargetType, Transform, WeightedTargetGroup,
    identity,
};
use crate::aws::error::AwsError;
use aws_sdk_elasticloadbalancingv2::types as elb;
use std::collections::BTreeMap;

pub(super) fn owned_id<'t>(
    tags: Option<&'t BTreeMap<String, String>>,
    instance_id: &str,
    prefix: &str,
) -> Option<&'t str> {
    let tags = tags?;
    if tags.get(identity::INSTANCE).map(String::as_str) != Some(instance_id) {
        return None;
    }
    tags.get(identity::RESOURCE)?
        .strip_prefix(prefix)
        .filter(|id| !id.is_empty())
}

/// (gateway, backend) of a target group's id `<namespace>/<name>/<backend>`; the backend
/// is its `gwsync.dev/backend` tag when there is one.
pub(super) fn split_target_group_id(
    id: &str,
    tags: Option<&BTreeMap<String, String>>,
) -> Option<(String, String)> {
    let mut parts = id.splitn(3, '/');
    let (ns, name, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if ns.is_empty() || name.is_empty() || rest.is_empty() {
        return None;
    }
    let backend = tags
        .and_then(|t| t.get(identity::BACKEND))
        .cloned()
        .unwrap_or_else(|| rest.to_string());
    Some((format!("{ns}/{name}"), backend))
}

/// How rules name target groups: owned ones by backend, the others by name.
pub(super) struct TargetGroupRefs {
    /// ARN -> backend of owned target groups.
    pub(super) owned: BTreeMap<String, String>,
    /// ARN -> name of every target group listed.
    pub(super) names: BTreeMap<String, String>,
}

impl TargetGroupRefs {
    fn get(&self, arn: &str) -> TargetGroupRef {
        if let Some(backend) = self.owned.get(arn) {
            return TargetGroupRef::Owned(backend.clone());
        }
        let name = self.names.get(arn).cloned().unwrap_or_else(|| {
            // Created after the listing: the name is in the ARN,
            // `arn:...:targetgroup/<name>/<id>`.
            arn.rsplit(':')
                .next()
                .and_then(|r| r.split('/').nth(1))
                .unwrap_or(arn)
                .to_string()
        });
        TargetGroupRef::Existing(name)
    }
}

pub(super) fn listener_port(l: &elb::Listener) -> Result<u16, AwsError> {
    l.port().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| {
        AwsError::unexpected(
            l.listener_arn().unwrap_or_default(),
            "the listener has no valid port",
        )
    })
}

pub(super) fn rule_priority(r: &elb::Rule) -> Result<u32, AwsError> {
    r.priority().and_then(|p| p.parse().ok()).ok_or_else(|| {
        AwsError::unexpected(
            r.rule_arn().unwrap_or_default(),
            format!(
                "the rule's priority `{}` is not a number",
                r.priority().unwrap_or_default()
            ),
        )
    })
}

fn protocol(p: Option<&elb::ProtocolEnum>) -> Option<Protocol> {
    match p? {
        elb::ProtocolEnum::Http => Some(Protocol::Http),
        elb::ProtocolEnum::Https => Some(Protocol::Https),
        _ => None,
    }
}

/// User tags: everything but gwsync's own.
fn user_tags(tags: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(identity::user_tags).unwrap_or_default()
}

pub(super) fn load_balancer_model(
    gateway: &str,
    lb: &elb::LoadBalancer,
    attributes: BTreeMap<String, String>,
    tags: Option<&BTreeMap<String, String>>,
    listeners: Vec<Listener>,
) -> Result<LoadBalancer, AwsError> {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    let scheme = match lb.scheme() {
        Some(elb::LoadBalancerSchemeEnum::Internal) => Scheme::Internal,
        Some(elb::LoadBalancerSchemeEnum::InternetFacing) => Scheme::InternetFacing,
        other => {
            return Err(AwsError::unexpected(
                arn,
                format!("unknown scheme {other:?}"),
            ));
        }
    };
    let ip_address_type = match lb.ip_address_type() {
        // AWS always reports it; ipv4 is its default.
        None | Some(elb::IpAddressType::Ipv4) => IpAddressType::Ipv4,
        Some(elb::IpAddressType::Dualstack) => IpAddressType::Dualstack,
        Some(elb::IpAddressType::DualstackWithoutPublicIpv4) => {
            IpAddressType::DualstackWithoutPublicIpv4
        }
        Some(other) => {
            return Err(AwsError::unexpected(
                arn,
                format!("unknown IP address type {}", other.as_str()),
            ));
        }
    };
    let mut subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    subnets.dedup();
    let mut security_groups = lb.security_groups().to_vec();
    security_groups.sort();
    security_groups.dedup();
    Ok(LoadBalancer {
        gateway: gateway.to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        scheme,
        ip_address_type,
        subnets,
        security_groups,
        attributes,
        tags: user_tags(tags),
        listeners,
        target_groups: Vec::new(),
    })
}

pub(super) fn listener_model(
    l: &elb::Listener,
    port: u16,
    certificates: Vec<Certificate>,
    default_action: Action,
    rules: Vec<Rule>,
) -> Result<Listener, AwsError> {
    let Some(protocol) = protocol(l.protocol()) else {
        return Err(AwsError::unexpected(
            l.listener_arn().unwrap_or_default(),
            format!(
                "protocol {} is not HTTP or HTTPS",
                l.protocol().map_or("(none)", |p| p.as_str())
            ),
        ));
    };
    Ok(Listener {
        port,
        protocol,
        // Only HTTPS listeners have one (moto reports one for HTTP too).
        ssl_policy: match protocol {
            Protocol::Https => l.ssl_policy().map(str::to_string),
            Protocol::Http => None,
        },
        certificates,
        default_action,
        rules,
    })
}

/// A rule in the model's shape; `source` is None (AWS does not know why it exists), `owner`
/// its `gwsync.dev/owner` tag.
pub(super) fn rule_model(
    r: &elb::Rule,
    priority: u32,
    owner: Option<&String>,
    tgs: &TargetGroupRefs,
) -> Rule {
    let mut conditions: Vec<Condition> =
        r.conditions().iter().filter_map(condition_model).collect();
    Condition::canonical_order(&mut conditions);
    Rule {
        priority,
        conditions,
        actions: actions_model(r.actions(), tgs),
        transforms: r.transforms().iter().flat_map(transform_model).collect(),
        source: None,
        owner: owner.cloned(),
    }
}

/// One condition. Host, path and header values come as `RegexValues` or as wildcard
/// `Values`, either in the `*Config` block or (the legacy shape, host and path only) on
/// the condition itself; AWS may report a value in both places, so one place is read.
fn condition_model(c: &elb::RuleCondition) -> Option<Condition> {
    let patterns = |regex: &[String], values: &[String]| {
        if !regex.is_empty() {
            Patterns::Regex(regex.to_vec())
        } else if !values.is_empty() {
            Patterns::Wildcard(values.to_vec())
        } else if !c.regex_values().is_empty() {
            Patterns::Regex(c.regex_values().to_vec())
        } else {
            Patterns::Wildcard(c.values().to_vec())
        }
    };
    let condition = match c.field()? {
        "host-header" => {
            let cfg = c.host_header_config();
            Condition::HostHeader {
                values: patterns(
                    cfg.map(|x| x.regex_values()).unwrap_or_default(),
                    cfg.map(|x| x.values()).unwrap_or_default(),
                ),
            }
        }
        "path-pattern" => {
            let cfg = c.path_pattern_config();
            Condition::PathPattern {
                values: patterns(
                    cfg.map(|x| x.regex_values()).unwrap_or_default(),
                    cfg.map(|x| x.values()).unwrap_or_default(),
                ),
            }
        }
        "http-header" => {
            let cfg = c.http_header_config()?;
            Condition::HttpHeader {
                // Header names are case-insensitive; translate writes them lowercased.
                name: cfg.http_header_name()?.to_ascii_lowercase(),
                values: patterns(cfg.regex_values(), cfg.values()),
            }
        }
        "query-string" => Condition::QueryString {
            values: c
                .query_string_config()?
                .values()
                .iter()
                .map(|kv| QueryValue {
                    key: kv.key().filter(|k| !k.is_empty()).map(str::to_string),
                    value: kv.value().unwrap_or_default().to_string(),
                })
                .collect(),
        },
        "http-request-method" => Condition::HttpRequestMethod {
            values: c.http_request_method_config()?.values().to_vec(),
        },
        "source-ip" => Condition::SourceIp {
            values: c.source_ip_config()?.values().to_vec(),
        },
        other => {
            tracing::warn!(
                field = other,
                "ignoring a rule condition gwsync does not know"
            );
            return None;
        }
    };
    Some(condition)
}

/// Actions in their `Order`.
pub(super) fn actions_model(actions: &[elb::Action], tgs: &TargetGroupRefs) -> Vec<Action> {
    let mut sorted: Vec<&elb::Action> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
    sorted.into_iter().map(|a| action_model(a, tgs)).collect()
}

fn action_model(a: &elb::Action, tgs: &TargetGroupRefs) -> Action {
    match a.r#type() {
        Some(elb::ActionTypeEnum::Forward) => {
            let config = a.forward_config();
            let listed = config.map(|c| c.target_groups()).unwrap_or_default();
            // AWS reports a forward to one group with `TargetGroupArn` and a `ForwardConfig`
            // holding it again (weight 1); moto keeps whichever was sent.
            let target_groups = if listed.is_empty() {
                a.target_group_arn()
                    .map(|arn| WeightedTargetGroup {
                        target_group: tgs.get(arn),
                        weight: 1,
                    })
                    .into_iter()
                    .collect()
            } else {
                listed
                    .iter()
                    .filter_map(|t| {
                        Some(WeightedTargetGroup {
                            target_group: tgs.get(t.target_group_arn()?),
                            weight: t.weight().map_or(1, |w| w.max(0) as u32),
                        })
                    })
                    .collect()
            };
            let stickiness_seconds = config
                .and_then(|c| c.target_group_stickiness_config())
                .filter(|s| s.enabled() == Some(true))
                .map(|s| s.duration_seconds().unwrap_or_default().max(0) as u32);
            Action::Forward {
                target_groups,
                stickiness_seconds,
            }
        }
        Some(elb::ActionTypeEnum::Redirect) => {
            let Some(r) = a.redirect_config() else {
                return unsupported_action("redirect without RedirectConfig");
            };
            let part = |v: Option<&str>, default: &str| v.unwrap_or(default).to_string();
            Action::Redirect {
                protocol: part(r.protocol(), "#{protocol}"),
                host: part(r.host(), "#{host}"),
                port: part(r.port(), "#{port}"),
                path: part(r.path(), "/#{path}"),
                query: part(r.query(), "#{query}"),
                status: match r.status_code() {
                    Some(elb::RedirectActionStatusCodeEnum::Http302) => 302,
                    _ => 301,
                },
            }
        }
        Some(elb::ActionTypeEnum::FixedResponse) => {
            let Some(f) = a.fixed_response_config() else {
                return unsupported_action("fixed-response without FixedResponseConfig");
            };
            let text = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
            Action::FixedResponse {
                status: f.status_code().and_then(|s| s.parse().ok()).unwrap_or(0),
                content_type: text(f.content_type()),
                body: text(f.message_body()),
            }
        }
        Some(elb::ActionTypeEnum::AuthenticateCognito) => match a.authenticate_cognito_config() {
            Some(c) => cognito_model(c),
            None => unsupported_action("authenticate-cognito without its config"),
        },
        Some(elb::ActionTypeEnum::AuthenticateOidc) => match a.authenticate_oidc_config() {
            Some(c) => oidc_model(c),
            None => unsupported_action("authenticate-oidc without its config"),
        },
        Some(elb::ActionTypeEnum::JwtValidation) => match a.jwt_validation_config() {
            Some(c) => jwt_model(c),
            None => unsupported_action("jwt-validation without its config"),
        },
        other => unsupported_action(other.map_or("(none)", |t| t.as_str())),
    }
}

fn cognito_model(c: &elb::AuthenticateCognitoActionConfig) -> Action {
    Action::Authenticate(Authenticate::Cognito(CognitoAuthentication {
        user_pool_arn: text(c.user_pool_arn()),
        user_pool_client_id: text(c.user_pool_client_id()),
        user_pool_domain: text(c.user_pool_domain()),
        session: session_model(
            c.session_cookie_name(),
            c.scope(),
            c.session_timeout(),
            c.on_unauthenticated_request().map(|o| o.as_str()),
            c.authentication_request_extra_params(),
        ),
    }))
}

/// Never the client secret: AWS does not return it, and it has no place in a plan.
fn oidc_model(c: &elb::AuthenticateOidcActionConfig) -> Action {
    Action::Authenticate(Authenticate::Oidc(OidcAuthentication {
        issuer: text(c.issuer()),
        authorization_endpoint: text(c.authorization_endpoint()),
        token_endpoint: text(c.token_endpoint()),
        user_info_endpoint: text(c.user_info_endpoint()),
        client_id: text(c.client_id()),
        session: session_model(
            c.session_cookie_name(),
            c.scope(),
            c.session_timeout(),
            c.on_unauthenticated_request().map(|o| o.as_str()),
            c.authentication_request_extra_params(),
        ),
        credentials: None,
    }))
}

fn jwt_model(c: &elb::JwtValidationActionConfig) -> Action {
    Action::Authenticate(Authenticate::JwtValidation(JwtValidation {
        issuer: text(c.issuer()),
        jwks_endpoint: text(c.jwks_endpoint()),
        additional_claims: c
            .additional_claims()
            .iter()
            .map(|claim| JwtClaim {
                name: text(claim.name()),
                format: text(claim.format().map(|f| f.as_str())),
                values: claim.values().to_vec(),
            })
            .collect(),
    }))
}

fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

/// The session settings Cognito and OIDC authentication share; what AWS leaves out takes
/// its default ([`AuthenticationSession::default`]).
fn session_model(
    session_cookie_name: Option<&str>,
    scope: Option<&str>,
    session_timeout: Option<i64>,
    on_unauthenticated_request: Option<&str>,
    extra_params: Option<&std::collections::HashMap<String, String>>,
) -> AuthenticationSession {
    let defaults = AuthenticationSession::default();
    AuthenticationSession {
        scope: scope.map_or(defaults.scope, str::to_string),
        session_cookie_name: session_cookie_name
            .map_or(defaults.session_cookie_name, str::to_string),
        session_timeout_seconds: session_timeout.unwrap_or(defaults.session_timeout_seconds),
        on_unauthenticated_request: on_unauthenticated_request
            .and_then(OnUnauthenticatedRequest::parse)
            .unwrap_or(defaults.on_unauthenticated_request),
        extra_params: extra_params
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// An action gwsync does not model (e.g. `jwt-validation`, added by hand to an owned rule).
/// It must not vanish, or the rule would compare equal to one without it: it becomes a
/// fixed response no desired rule has (status 0, which AWS never accepts), so the rule is
/// rewritten, and the plan shows why.
pub(super) fn unsupported_action(what: &str) -> Action {
    Action::FixedResponse {
        status: 0,
        content_type: None,
        body: Some(format!("(action not modelled by gwsync: {what})")),
    }
}

fn transform_model(t: &elb::RuleTransform) -> Vec<Transform> {
    let rewrites = |r: &[elb::RewriteConfig]| -> Vec<(String, String)> {
        r.iter()
            .map(|r| {
                (
                    r.regex().unwrap_or_default().to_string(),
                    r.replace().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    match t.r#type() {
        Some(elb::TransformTypeEnum::HostHeaderRewrite) => t
            .host_header_rewrite_config()
            .map(|c| rewrites(c.rewrites()))
            .unwrap_or_default()
            .into_iter()
            .map(|(regex, replace)| Transform::HostHeaderRewrite { regex, replace })
            .collect(),
        Some(elb::TransformTypeEnum::UrlRewrite) => t
            .url_rewrite_config()
            .map(|c| rewrites(c.rewrites()))
            .unwrap_or_default()
            .into_iter()
            .map(|(regex, replace)| Transform::UrlRewrite { regex, replace })
            .collect(),
        other => {
            tracing::warn!(transform = ?other, "ignoring a rule transform gwsync does not know");
            Vec::new()
        }
    }
}

/// Missing values take ELB's defaults ([`HealthCheck::aws_default`]), as translate does.
fn health_check_model(
    tg: &elb::TargetGroup,
    tg_protocol: Protocol,
    version: ProtocolVersion,
) -> HealthCheck {
    let default = HealthCheck::aws_default(tg_protocol, version);
    let count = |v: Option<i32>, default: u32| v.map_or(default, |v| v.max(0) as u32);
    let matcher = tg.matcher();
    HealthCheck {
        protocol: protocol(tg.health_check_protocol()).unwrap_or(default.protocol),
        port: tg.health_check_port().map_or(default.port, str::to_string),
        path: tg.health_check_path().map_or(default.path, str::to_string),
        interval_seconds: count(tg.health_check_interval_seconds(), default.interval_seconds),
        timeout_seconds: count(tg.health_check_timeout_seconds(), default.timeout_seconds),
        healthy_threshold: count(tg.healthy_threshold_count(), default.healthy_threshold),
        unhealthy_threshold: count(tg.unhealthy_threshold_count(), default.unhealthy_threshold),
        matcher: match (
            matcher.and_then(|m| m.http_code()),
            matcher.and_then(|m| m.grpc_code()),
        ) {
            (Some(codes), _) => Matcher::HttpCode(codes.to_string()),
            (None, Some(codes)) => Matcher::GrpcCode(codes.to_string()),
            (None, None) => default.matcher,
        },
    }
}

pub(super) fn target_group_model(
    backend: &str,
    tg: &elb::TargetGroup,
    attributes: BTreeMap<String, String>,
    tags: Option<&BTreeMap<String, String>>,
    targets: Vec<Target>,
) -> Result<TargetGroup, AwsError> {
    let name = tg.target_group_name().unwrap_or_default();
    let Some(tg_protocol) = protocol(tg.protocol()) else {
        return Err(AwsError::unexpected(
            format!("target group {name}"),
            format!(
                "protocol {} is not HTTP or HTTPS",
                tg.protocol().map_or("(none)", |p| p.as_str())
            ),
        ));
    };
    let Some(port) = tg.port().and_then(|p| u16::try_from(p).ok()) else {
        return Err(AwsError::unexpected(
            format!("target group {name}"),
            "it has no port",
        ));
    };
    // AWS reports HTTP1 for HTTP/HTTPS groups created without one.
    let protocol_version = tg
        .protocol_version()
        .and_then(ProtocolVersion::parse)
        .unwrap_or_default();
    Ok(TargetGroup {
        backend: backend.to_string(),
        name: name.to_string(),
        protocol: tg_protocol,
        protocol_version,
        port,
        target_type: tg
            .target_type()
            .and_then(|t| TargetType::parse(t.as_str()))
            .unwrap_or_default(),
        health_check: health_check_model(tg, tg_protocol, protocol_version),
        attributes,
        tags: user_tags(tags),
        targets,
        owner: tags.and_then(|t| t.get(identity::OWNER)).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> TargetGroupRefs {
        TargetGroupRefs {
            owned: BTreeMap::from([("arn:tg/owned".to_string(), "payments/api:8080".to_string())]),
            names: BTreeMap::from([("arn:tg/other".to_string(), "legacy".to_string())]),
        }
    }

    fn forward(arn: Option<&str>, tuples: &[(&str, Option<i32>)]) -> elb::Action {
        let mut a = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Forward)
            .order(1);
        if let Some(arn) = arn {
            a = a.target_group_arn(arn);
        }
        if !tuples.is_empty() {
            let mut cfg = elb::ForwardActionConfig::builder().target_group_stickiness_config(
                elb::TargetGroupStickinessConfig::builder()
                    .enabled(false)
                    .build(),
            );
            for (arn, w) in tuples {
                cfg = cfg.target_groups(
                    elb::TargetGroupTuple::builder()
                        .target_group_arn(*arn)
                        .set_weight(*w)
                        .build(),
                );
            }
            a = a.forward_config(cfg.build());
        }
        a.build()
    }

    #[test]
    fn every_shape_of_a_single_forward_is_one_action() {
        let expected = Action::Forward {
            target_groups: vec![WeightedTargetGroup {
                target_group: TargetGroupRef::Owned("payments/api:8080".into()),
                weight: 1,
            }],
            stickiness_seconds: None,
        };
        // What moto returns for a bare TargetGroupArn.
        assert_eq!(
            action_model(&forward(Some("arn:tg/owned"), &[]), &refs()),
            expected
        );
        // What AWS returns for it: both shapes at once.
        assert_eq!(
            action_model(
                &forward(Some("arn:tg/owned"), &[("arn:tg/owned", Some(1))]),
                &refs()
            ),
            expected
        );
        // ForwardConfig without a weight.
        assert_eq!(
            action_model(&forward(None, &[("arn:tg/owned", None)]), &refs()),
            expected
        );
    }

    #[test]
    fn forward_weights_and_unowned_groups() {
        let a = forward(
            None,
            &[
                ("arn:tg/owned", Some(80)),
                ("arn:tg/other", Some(20)),
                (
                    "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/fresh/abc",
                    Some(0),
                ),
            ],
        );
        assert_eq!(
            action_model(&a, &refs()),
            Action::Forward {
                target_groups: vec![
                    WeightedTargetGroup {
                        target_group: TargetGroupRef::Owned("payments/api:8080".into()),
                        weight: 80
                    },
                    WeightedTargetGroup {
                        target_group: TargetGroupRef::Existing("legacy".into()),
                        weight: 20
                    },
                    WeightedTargetGroup {
                        target_group: TargetGroupRef::Existing("fresh".into()),
                        weight: 0
                    },
                ],
                stickiness_seconds: None,
            }
        );
    }

    #[test]
    fn redirect_parts_are_filled_and_status_is_a_number() {
        let a = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Redirect)
            .redirect_config(
                elb::RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(elb::RedirectActionStatusCodeEnum::Http302)
                    .build(),
            )
            .build();
        assert_eq!(
            action_model(&a, &refs()),
            Action::Redirect {
                protocol: "HTTPS".into(),
                host: "#{host}".into(),
                port: "443".into(),
                path: "/#{path}".into(),
                query: "#{query}".into(),
                status: 302,
            }
        );
    }

    #[test]
    fn regex_values_legacy_values_and_config_blocks() {
        // AWS reports host and path values twice (legacy Values and the Config block).
        let both = elb::RuleCondition::builder()
            .field("host-header")
            .values("a.example.com")
            .host_header_config(
                elb::HostHeaderConditionConfig::builder()
                    .values("a.example.com")
                    .build(),
            )
            .build();
        assert_eq!(
            condition_model(&both),
            Some(Condition::HostHeader {
                values: Patterns::Wildcard(vec!["a.example.com".into()])
            })
        );
        let regex_path = elb::RuleCondition::builder()
            .field("path-pattern")
            .path_pattern_config(
                elb::PathPatternConditionConfig::builder()
                    .regex_values("^/a\\*b$")
                    .build(),
            )
            .build();
        assert_eq!(
            condition_model(&regex_path),
            Some(Condition::PathPattern {
                values: Patterns::Regex(vec!["^/a\\*b$".into()])
            })
        );
        let top_level_regex = elb::RuleCondition::builder()
            .field("host-header")
            .regex_values("^.*\\.example\\.com$")
            .build();
        assert_eq!(
            condition_model(&top_level_regex),
            Some(Condition::HostHeader {
                values: Patterns::Regex(vec!["^.*\\.example\\.com$".into()])
            })
        );
        let header = elb::RuleCondition::builder()
            .field("http-header")
            .http_header_config(
                elb::HttpHeaderConditionConfig::builder()
                    .http_header_name("X-Canary")
                    .regex_values("^One$")
                    .build(),
            )
            .build();
        assert_eq!(
            condition_model(&header),
            Some(Condition::HttpHeader {
                name: "x-canary".into(),
                values: Patterns::Regex(vec!["^One$".into()])
            })
        );
    }

    #[test]
    fn transforms_and_cognito_are_read() {
        let rule = elb::Rule::builder()
            .priority("7")
            .transforms(
                elb::RuleTransform::builder()
                    .r#type(elb::TransformTypeEnum::UrlRewrite)
                    .url_rewrite_config(
                        elb::UrlRewriteConfig::builder()
                            .rewrites(
                                elb::RewriteConfig::builder()
                                    .regex("^/api/?(.*)$")
                                    .replace("/$1")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .transforms(
                elb::RuleTransform::builder()
                    .r#type(elb::TransformTypeEnum::HostHeaderRewrite)
                    .host_header_rewrite_config(
                        elb::HostHeaderRewriteConfig::builder()
                            .rewrites(
                                elb::RewriteConfig::builder()
                                    .regex("^.*$")
                                    .replace("internal.example.com")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .actions(
                elb::Action::builder()
                    .r#type(elb::ActionTypeEnum::AuthenticateCognito)
                    .order(1)
                    .authenticate_cognito_config(
                        elb::AuthenticateCognitoActionConfig::builder()
                            .user_pool_arn("arn:pool")
                            .user_pool_client_id("client")
                            .user_pool_domain("auth")
                            .session_timeout(3600)
                            .on_unauthenticated_request(
                                elb::AuthenticateCognitoActionConditionalBehaviorEnum::Deny,
                            )
                            .authentication_request_extra_params("prompt", "login")
                            .build(),
                    )
                    .build(),
            )
            .actions(forward(Some("arn:tg/owned"), &[]).to_owned())
            .build();
        // The forward has order 1 too in `forward()`; give the auth a lower one.
        let mut rule = rule;
        if let Some(actions) = rule.actions.as_mut() {
            actions[0].order = Some(0);
        }
        let model = rule_model(&rule, 7, None, &refs());
        assert_eq!(
            model.transforms,
            vec![
                Transform::UrlRewrite {
                    regex: "^/api/?(.*)$".into(),
                    replace: "/$1".into()
                },
                Transform::HostHeaderRewrite {
                    regex: "^.*$".into(),
                    replace: "internal.example.com".into()
                },
            ]
        );
        assert_eq!(
            model.actions[0],
            Action::Authenticate(Authenticate::Cognito(CognitoAuthentication {
                user_pool_arn: "arn:pool".into(),
                user_pool_client_id: "client".into(),
                user_pool_domain: "auth".into(),
                session: AuthenticationSession {
                    session_timeout_seconds: 3600,
                    on_unauthenticated_request: OnUnauthenticatedRequest::Deny,
                    extra_params: BTreeMap::from([("prompt".into(), "login".into())]),
                    ..AuthenticationSession::default()
                },
            }))
        );
        assert!(matches!(model.actions[1], Action::Forward { .. }));
    }

    #[test]
    fn unknown_actions_never_compare_equal_to_a_desired_one() {
        let a = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::JwtValidation)
            .build();
        let Action::FixedResponse { status, body, .. } = action_model(&a, &refs()) else {
            panic!("a placeholder fixed response");
        };
        assert_eq!(status, 0);
        assert!(body.unwrap().contains("jwt-validation"));
    }
}
