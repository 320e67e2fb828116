//! Request building: the ALB model's conditions, actions, transforms, certificates and tags
//! as the ELBv2 SDK's request types. Pure functions of the model and the known ARNs; the
//! calls themselves are `apply`'s.
//!
//! Conditions always use the `*Config` blocks (`HostHeaderConfig`, `PathPatternConfig`,
//! `HttpHeaderConfig`, ...) and never the legacy top-level `Values`, which AWS accepts only
//! for host and path, one value each. Wildcard patterns go to `Values`, regular expressions
//! to `RegexValues`. Forwards always use `ForwardConfig` with weighted `TargetGroupTuples`,
//! even for one target group, and every action carries its `Order` (1..n), which AWS
//! requires as soon as a rule has two actions.
//!
//! These are unit-tested on their output shapes; moto as the integration tests run it
//! (`scripts/moto_server.py`) keeps `Transforms` and `RegexValues` too, and the conformance
//! cases on moto send both through these requests.

use super::AwsIds;
use crate::alb::identity;
use crate::alb::{
    Action, Authenticate, AuthenticationSession, Certificate, CognitoAuthentication, Condition,
    JwtValidation, Matcher, OidcAuthentication, Patterns, QueryValue, Target, TargetGroupRef,
    Transform,
};
use aws_sdk_elasticloadbalancingv2::types as sdk;
use std::collections::{BTreeMap, HashMap};

/// Why a request cannot be built from the model: always a bug or a gap upstream (translate,
/// plan, observe), reported on the change and never sent to AWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "gateway {gateway} has no target group for backend {backend} (not created or not owned)"
    )]
    UnknownOwnedTargetGroup { gateway: String, backend: String },
    #[error("no target group named {0} was found")]
    UnknownExistingTargetGroup(String),
    #[error(
        "certificate for hostname {0} was not resolved to an ARN before apply (plan against AWS, not offline)"
    )]
    UnresolvedCertificate(String),
    #[error("an HTTPS listener needs at least one certificate")]
    NoCertificate,
    #[error("redirect status {0} is not supported by ALB (301 or 302 only)")]
    RedirectStatus(u16),
    #[error("tag {0} is reserved for gwsync's ownership tags")]
    ReservedTag(String),
    #[error("{0} is not a subnet ID: subnet names must be resolved to IDs before apply")]
    SubnetName(String),
    #[error(
        "the OIDC client secret in Secrets Manager secret {0} was not read before apply (plan against AWS, not offline)"
    )]
    UnknownClientSecret(String),
}

/// A rule's conditions, in the model's order.
pub fn conditions(conditions: &[Condition]) -> Vec<sdk::RuleCondition> {
    conditions.iter().map(condition).collect()
}

/// One condition, as its field and `*Config` block.
pub fn condition(condition: &Condition) -> sdk::RuleCondition {
    let builder = sdk::RuleCondition::builder();
    match condition {
        Condition::HostHeader { values } => {
            let (values, regex_values) = split_patterns(values);
            builder.field("host-header").host_header_config(
                sdk::HostHeaderConditionConfig::builder()
                    .set_values(values)
                    .set_regex_values(regex_values)
                    .build(),
            )
        }
        Condition::PathPattern { values } => {
            let (values, regex_values) = split_patterns(values);
            builder.field("path-pattern").path_pattern_config(
                sdk::PathPatternConditionConfig::builder()
                    .set_values(values)
                    .set_regex_values(regex_values)
                    .build(),
            )
        }
        Condition::HttpHeader { name, values } => {
            let (values, regex_values) = split_patterns(values);
            builder.field("http-header").http_header_config(
                sdk::HttpHeaderConditionConfig::builder()
                    .http_header_name(name)
                    .set_values(values)
                    .set_regex_values(regex_values)
                    .build(),
            )
        }
        Condition::QueryString { values } => builder.field("query-string").query_string_config(
            sdk::QueryStringConditionConfig::builder()
                .set_values(Some(values.iter().map(query_pair).collect()))
                .build(),
        ),
        Condition::HttpRequestMethod { values } => builder
            .field("http-request-method")
            .http_request_method_config(
                sdk::HttpRequestMethodConditionConfig::builder()
                    .set_values(Some(values.clone()))
                    .build(),
            ),
        Condition::SourceIp { values } => builder.field("source-ip").source_ip_config(
            sdk::SourceIpConditionConfig::builder()
                .set_values(Some(values.clone()))
                .build(),
        ),
    }
    .build()
}

/// `(Values, RegexValues)`: exactly one is set.
fn split_patterns(patterns: &Patterns) -> (Option<Vec<String>>, Option<Vec<String>>) {
    match patterns {
        Patterns::Wildcard(v) => (Some(v.clone()), None),
        Patterns::Regex(v) => (None, Some(v.clone())),
    }
}

fn query_pair(value: &QueryValue) -> sdk::QueryStringKeyValuePair {
    sdk::QueryStringKeyValuePair::builder()
        .set_key(value.key.clone())
        .value(&value.value)
        .build()
}

/// Whether actions go to a rule (or listener) that AWS has yet to make, or to one it has:
/// an OIDC client secret can be kept only by what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionsFor {
    New,
    Existing,
}

/// A rule's (or a listener's default) actions, numbered 1..n in the model's order.
/// Target groups are looked up in `ids`: owned ones by (gateway, backend), existing ones by
/// name; OIDC client secrets by their secret's name.
pub fn actions(
    actions: &[Action],
    gateway: &str,
    ids: &AwsIds,
    target: ActionsFor,
) -> Result<Vec<sdk::Action>, RequestError> {
    actions
        .iter()
        .zip(1..)
        .map(|(a, order)| action(a, order, gateway, ids, target))
        .collect()
}

// One arm per action type, each one builder chain: splitting it would only scatter them.
fn action(
    action: &Action,
    order: i32,
    gateway: &str,
    ids: &AwsIds,
    target: ActionsFor,
) -> Result<sdk::Action, RequestError> {
    let builder = sdk::Action::builder().order(order);
    let builder = match action {
        Action::Forward {
            target_groups,
            stickiness_seconds,
        } => {
            let tuples = target_groups
                .iter()
                .map(|wtg| {
                    Ok(sdk::TargetGroupTuple::builder()
                        .target_group_arn(target_group_arn(&wtg.target_group, gateway, ids)?)
                        .weight(i32::try_from(wtg.weight).unwrap_or(i32::MAX))
                        .build())
                })
                .collect::<Result<Vec<_>, RequestError>>()?;
            let stickiness = stickiness_seconds.map(|seconds| {
                sdk::TargetGroupStickinessConfig::builder()
                    .enabled(true)
                    .duration_seconds(i32::try_from(seconds).unwrap_or(i32::MAX))
                    .build()
            });
            builder.r#type(sdk::ActionTypeEnum::Forward).forward_config(
                sdk::ForwardActionConfig::builder()
                    .set_target_groups(Some(tuples))
                    .set_target_group_stickiness_config(stickiness)
                    .build(),
            )
        }
        Action::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status,
        } => {
            let status_code = match status {
                301 => sdk::RedirectActionStatusCodeEnum::Http301,
                302 => sdk::RedirectActionStatusCodeEnum::Http302,
                other => return Err(RequestError::RedirectStatus(*other)),
            };
            builder
                .r#type(sdk::ActionTypeEnum::Redirect)
                .redirect_config(
                    sdk::RedirectActionConfig::builder()
                        .protocol(protocol)
                        .host(host)
                        .port(port)
                        .path(path)
                        .query(query)
                        .status_code(status_code)
                        .build(),
                )
        }
        Action::FixedResponse {
            status,
            content_type,
            body,
        } => builder
            .r#type(sdk::ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                sdk::FixedResponseActionConfig::builder()
                    .status_code(status.to_string())
                    .set_content_type(content_type.clone())
                    .set_message_body(body.clone())
                    .build(),
            ),
        Action::Authenticate(Authenticate::Cognito(cognito)) => builder
            .r#type(sdk::ActionTypeEnum::AuthenticateCognito)
            .authenticate_cognito_config(authenticate_cognito(cognito)),
        Action::Authenticate(Authenticate::Oidc(oidc)) => builder
            .r#type(sdk::ActionTypeEnum::AuthenticateOidc)
            .authenticate_oidc_config(authenticate_oidc(oidc, ids, target)?),
        Action::Authenticate(Authenticate::JwtValidation(jwt)) => builder
            .r#type(sdk::ActionTypeEnum::JwtValidation)
            .jwt_validation_config(jwt_validation(jwt)),
    };
    Ok(builder.build())
}

/// The ARN of a target group a forward names: never one gwsync has not found or created.
pub fn target_group_arn(
    target_group: &TargetGroupRef,
    gateway: &str,
    ids: &AwsIds,
) -> Result<String, RequestError> {
    match target_group {
        TargetGroupRef::Owned(backend) => ids
            .target_groups
            .get(&(gateway.to_owned(), backend.clone()))
            .cloned()
            .ok_or_else(|| RequestError::UnknownOwnedTargetGroup {
                gateway: gateway.to_owned(),
                backend: backend.clone(),
            }),
        TargetGroupRef::Existing(name) => ids
            .existing_target_groups
            .get(name)
            .cloned()
            .ok_or_else(|| RequestError::UnknownExistingTargetGroup(name.clone())),
    }
}

/// `authenticate-cognito` from the model.
pub fn authenticate_cognito(
    cognito: &CognitoAuthentication,
) -> sdk::AuthenticateCognitoActionConfig {
    let session = &cognito.session;
    sdk::AuthenticateCognitoActionConfig::builder()
        .user_pool_arn(&cognito.user_pool_arn)
        .user_pool_client_id(&cognito.user_pool_client_id)
        .user_pool_domain(&cognito.user_pool_domain)
        .scope(&session.scope)
        .session_cookie_name(&session.session_cookie_name)
        .session_timeout(session.session_timeout_seconds)
        .on_unauthenticated_request(sdk::AuthenticateCognitoActionConditionalBehaviorEnum::from(
            session.on_unauthenticated_request.as_str(),
        ))
        .set_authentication_request_extra_params(extra_params(session))
        .build()
}

/// `authenticate-oidc` from the model. The model holds no client secret (AWS never returns
/// it and a plan must not carry it): the request sends the one read from the action's
/// Secrets Manager secret (`ids.client_secrets`), or keeps the secret the rule has on AWS
/// (`UseExistingClientSecret`) when the rule exists and its configuration says so, or when
/// the action has no credentials (a rule read back from AWS, put back as it was).
pub fn authenticate_oidc(
    oidc: &OidcAuthentication,
    ids: &AwsIds,
    target: ActionsFor,
) -> Result<sdk::AuthenticateOidcActionConfig, RequestError> {
    let send_secret = match &oidc.credentials {
        Some(c) if target == ActionsFor::New || !c.keep_existing_secret => Some(&c.secret),
        _ => None,
    };
    let secret = send_secret
        .map(|name| {
            ids.client_secrets
                .get(name)
                .map(|s| s.expose().to_string())
                .ok_or_else(|| RequestError::UnknownClientSecret(name.clone()))
        })
        .transpose()?;
    let session = &oidc.session;
    Ok(sdk::AuthenticateOidcActionConfig::builder()
        .issuer(&oidc.issuer)
        .authorization_endpoint(&oidc.authorization_endpoint)
        .token_endpoint(&oidc.token_endpoint)
        .user_info_endpoint(&oidc.user_info_endpoint)
        .client_id(&oidc.client_id)
        .use_existing_client_secret(secret.is_none())
        .set_client_secret(secret)
        .scope(&session.scope)
        .session_cookie_name(&session.session_cookie_name)
        .session_timeout(session.session_timeout_seconds)
        .on_unauthenticated_request(sdk::AuthenticateOidcActionConditionalBehaviorEnum::from(
            session.on_unauthenticated_request.as_str(),
        ))
        .set_authentication_request_extra_params(extra_params(session))
        .build())
}

fn extra_params(session: &AuthenticationSession) -> Option<HashMap<String, String>> {
    (!session.extra_params.is_empty()).then(|| {
        session
            .extra_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// `jwt-validation` from the model.
pub fn jwt_validation(jwt: &JwtValidation) -> sdk::JwtValidationActionConfig {
    let claims = jwt
        .additional_claims
        .iter()
        .map(|c| {
            sdk::JwtValidationActionAdditionalClaim::builder()
                .name(&c.name)
                .format(sdk::JwtValidationActionAdditionalClaimFormatEnum::from(
                    c.format.as_str(),
                ))
                .set_values(Some(c.values.clone()))
                .build()
        })
        .collect::<Vec<_>>();
    sdk::JwtValidationActionConfig::builder()
        .issuer(&jwt.issuer)
        .jwks_endpoint(&jwt.jwks_endpoint)
        .set_additional_claims((!claims.is_empty()).then_some(claims))
        .build()
}

/// A rule's transforms: each one a `RewriteConfig` inside its type's block.
pub fn transforms(transforms: &[Transform]) -> Vec<sdk::RuleTransform> {
    transforms.iter().map(transform).collect()
}

fn transform(transform: &Transform) -> sdk::RuleTransform {
    let rewrite = |regex: &str, replace: &str| {
        sdk::RewriteConfig::builder()
            .regex(regex)
            .replace(replace)
            .build()
    };
    match transform {
        Transform::HostHeaderRewrite { regex, replace } => sdk::RuleTransform::builder()
            .r#type(sdk::TransformTypeEnum::HostHeaderRewrite)
            .host_header_rewrite_config(
                sdk::HostHeaderRewriteConfig::builder()
                    .rewrites(rewrite(regex, replace))
                    .build(),
            ),
        Transform::UrlRewrite { regex, replace } => sdk::RuleTransform::builder()
            .r#type(sdk::TransformTypeEnum::UrlRewrite)
            .url_rewrite_config(
                sdk::UrlRewriteConfig::builder()
                    .rewrites(rewrite(regex, replace))
                    .build(),
            ),
    }
    .build()
}

/// The ARNs of a listener's certificates, the default one first. Hostnames must have been
/// resolved to ARNs when the plan was made against AWS.
pub fn certificate_arns(certificates: &[Certificate]) -> Result<Vec<String>, RequestError> {
    certificates
        .iter()
        .map(|c| match c {
            Certificate::Arn(arn) => Ok(arn.clone()),
            Certificate::ForHostname(host) | Certificate::ForRouteHostname(host) => {
                Err(RequestError::UnresolvedCertificate(host.clone()))
            }
        })
        .collect()
}

pub fn certificate(arn: &str) -> sdk::Certificate {
    sdk::Certificate::builder().certificate_arn(arn).build()
}

/// The tags of a resource gwsync creates: its instance and resource ids, the backend of a
/// target group, then the model's user tags (which may not use gwsync's keys).
pub fn create_tags(
    instance_id: &str,
    resource_id: &str,
    backend: Option<&str>,
    user_tags: &BTreeMap<String, String>,
) -> Result<Vec<sdk::Tag>, RequestError> {
    let mut out = vec![
        tag(identity::INSTANCE, instance_id),
        tag(identity::RESOURCE, resource_id),
    ];
    if let Some(backend) = backend {
        out.push(tag(identity::BACKEND, backend));
    }
    for (key, value) in user_tags {
        check_user_tag_key(key)?;
        out.push(tag(key, value));
    }
    Ok(out)
}

fn tag(key: &str, value: &str) -> sdk::Tag {
    sdk::Tag::builder().key(key).value(value).build()
}

/// The `gwsync.dev/owner` tag of a rule or target group.
pub fn owner_tag(owner: &str) -> sdk::Tag {
    tag(identity::OWNER, owner)
}

/// The `gwsync.dev/source` tag of a rule.
pub fn source_tag(source: &crate::alb::RuleSource) -> sdk::Tag {
    tag(identity::SOURCE, &identity::source_tag(source))
}

/// Refuses a user tag key that would change or shadow gwsync's ownership tags.
pub fn check_user_tag_key(key: &str) -> Result<(), RequestError> {
    if identity::is_own_tag(key) {
        return Err(RequestError::ReservedTag(key.to_owned()));
    }
    Ok(())
}

pub fn user_tags(tags: &BTreeMap<String, String>) -> Result<Vec<sdk::Tag>, RequestError> {
    tags.iter()
        .map(|(k, v)| {
            check_user_tag_key(k)?;
            Ok(sdk::Tag::builder().key(k).value(v).build())
        })
        .collect()
}

/// Subnet IDs as given; names would need EC2, which gwsync does not call.
pub fn subnet_ids(subnets: &[String]) -> Result<Vec<String>, RequestError> {
    subnets
        .iter()
        .map(|s| {
            if s.starts_with("subnet-") {
                Ok(s.clone())
            } else {
                Err(RequestError::SubnetName(s.clone()))
            }
        })
        .collect()
}

pub fn target_descriptions(targets: &[Target]) -> Vec<sdk::TargetDescription> {
    targets
        .iter()
        .map(|t| {
            sdk::TargetDescription::builder()
                .id(&t.id)
                .set_port(t.port.map(i32::from))
                .set_availability_zone(t.availability_zone.clone())
                .build()
        })
        .collect()
}

pub fn attributes_lb(attributes: &BTreeMap<String, String>) -> Vec<sdk::LoadBalancerAttribute> {
    attributes
        .iter()
        .map(|(k, v)| {
            sdk::LoadBalancerAttribute::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

pub fn attributes_tg(attributes: &BTreeMap<String, String>) -> Vec<sdk::TargetGroupAttribute> {
    attributes
        .iter()
        .map(|(k, v)| sdk::TargetGroupAttribute::builder().key(k).value(v).build())
        .collect()
}

/// The health check matcher, HTTP or gRPC codes as the model says.
pub fn matcher(matcher: &Matcher) -> sdk::Matcher {
    match matcher {
        Matcher::HttpCode(codes) => sdk::Matcher::builder().http_code(codes).build(),
        Matcher::GrpcCode(codes) => sdk::Matcher::builder().grpc_code(codes).build(),
    }
}

pub fn protocol(protocol: crate::alb::Protocol) -> sdk::ProtocolEnum {
    match protocol {
        crate::alb::Protocol::Http => sdk::ProtocolEnum::Http,
        crate::alb::Protocol::Https => sdk::ProtocolEnum::Https,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::{JwtClaim, OnUnauthenticatedRequest, WeightedTargetGroup};

    fn ids() -> AwsIds {
        let mut ids = AwsIds::default();
        ids.target_groups.insert(
            ("platform/public".into(), "payments/api:8080".into()),
            "arn:tg/owned".into(),
        );
        ids.existing_target_groups
            .insert("legacy-asg".into(), "arn:tg/legacy".into());
        ids
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcard_values_go_to_values_and_regexes_to_regex_values() {
        let host = condition(&Condition::HostHeader {
            values: Patterns::Wildcard(strings(&["*.example.com"])),
        });
        assert_eq!(host.field(), Some("host-header"));
        assert!(host.values().is_empty(), "no legacy top-level Values");
        let config = host.host_header_config().unwrap();
        assert_eq!(config.values(), ["*.example.com"]);
        assert!(config.regex_values.is_none());

        let path = condition(&Condition::PathPattern {
            values: Patterns::Regex(strings(&["^/a[?]b$"])),
        });
        assert_eq!(path.field(), Some("path-pattern"));
        assert!(path.values.is_none() && path.regex_values.is_none());
        let config = path.path_pattern_config().unwrap();
        assert!(config.values.is_none(), "RegexValues only");
        assert_eq!(config.regex_values(), ["^/a[?]b$"]);

        let header = condition(&Condition::HttpHeader {
            name: "X-Version".into(),
            values: Patterns::Regex(strings(&["^v[0-9]+$"])),
        });
        assert_eq!(header.field(), Some("http-header"));
        let config = header.http_header_config().unwrap();
        assert_eq!(config.http_header_name(), Some("X-Version"));
        assert!(config.values.is_none());
        assert_eq!(config.regex_values(), ["^v[0-9]+$"]);

        let host_regex = condition(&Condition::HostHeader {
            values: Patterns::Regex(strings(&["^api\\.example\\.com$"])),
        });
        let config = host_regex.host_header_config().unwrap();
        assert!(config.values.is_none());
        assert_eq!(config.regex_values(), ["^api\\.example\\.com$"]);
    }

    #[test]
    fn other_conditions_use_their_config_blocks() {
        let query = condition(&Condition::QueryString {
            values: vec![
                QueryValue {
                    key: Some("v".into()),
                    value: "2".into(),
                },
                QueryValue {
                    key: None,
                    value: "beta".into(),
                },
            ],
        });
        assert_eq!(query.field(), Some("query-string"));
        let pairs = query.query_string_config().unwrap().values();
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].key(), pairs[0].value()), (Some("v"), Some("2")));
        assert_eq!((pairs[1].key(), pairs[1].value()), (None, Some("beta")));

        let method = condition(&Condition::HttpRequestMethod {
            values: strings(&["GET", "HEAD"]),
        });
        assert_eq!(method.field(), Some("http-request-method"));
        assert_eq!(
            method.http_request_method_config().unwrap().values(),
            ["GET", "HEAD"]
        );

        let ip = condition(&Condition::SourceIp {
            values: strings(&["10.0.0.0/8"]),
        });
        assert_eq!(ip.field(), Some("source-ip"));
        assert_eq!(ip.source_ip_config().unwrap().values(), ["10.0.0.0/8"]);
        for c in [&query, &method, &ip] {
            assert!(c.values.is_none(), "no legacy Values on {:?}", c.field());
        }
    }

    #[test]
    fn transforms_carry_their_rewrite_in_their_type_block() {
        let built = transforms(&[
            Transform::HostHeaderRewrite {
                regex: "^(.*)\\.old\\.com$".into(),
                replace: "$1.new.com".into(),
            },
            Transform::UrlRewrite {
                regex: "^/api/(.*)$".into(),
                replace: "/$1".into(),
            },
        ]);
        assert_eq!(built.len(), 2);

        let host = &built[0];
        assert_eq!(
            host.r#type(),
            Some(&sdk::TransformTypeEnum::HostHeaderRewrite)
        );
        assert!(host.url_rewrite_config.is_none());
        let rewrites = host.host_header_rewrite_config().unwrap().rewrites();
        assert_eq!(rewrites.len(), 1);
        assert_eq!(rewrites[0].regex(), Some("^(.*)\\.old\\.com$"));
        assert_eq!(rewrites[0].replace(), Some("$1.new.com"));
        assert_eq!(
            host.r#type().unwrap().as_str(),
            "host-header-rewrite",
            "the wire name"
        );

        let url = &built[1];
        assert_eq!(url.r#type().unwrap().as_str(), "url-rewrite");
        assert!(url.host_header_rewrite_config.is_none());
        let rewrites = url.url_rewrite_config().unwrap().rewrites();
        assert_eq!(rewrites[0].regex(), Some("^/api/(.*)$"));
        assert_eq!(rewrites[0].replace(), Some("/$1"));
    }

    #[test]
    fn forward_uses_forward_config_with_weights_and_orders_actions() {
        let built = actions(
            &[
                Action::Authenticate(Authenticate::Cognito(CognitoAuthentication {
                    user_pool_arn: "arn:aws:cognito-idp:us-east-1:1:userpool/p".into(),
                    user_pool_client_id: "client".into(),
                    user_pool_domain: "auth.example.com".into(),
                    session: AuthenticationSession {
                        on_unauthenticated_request: OnUnauthenticatedRequest::Deny,
                        session_timeout_seconds: 3600,
                        extra_params: [("prompt".to_string(), "login".to_string())].into(),
                        ..AuthenticationSession::default()
                    },
                })),
                Action::Forward {
                    target_groups: vec![
                        WeightedTargetGroup {
                            target_group: TargetGroupRef::Owned("payments/api:8080".into()),
                            weight: 900,
                        },
                        WeightedTargetGroup {
                            target_group: TargetGroupRef::Existing("legacy-asg".into()),
                            weight: 100,
                        },
                    ],
                    stickiness_seconds: Some(60),
                },
            ],
            "platform/public",
            &ids(),
            ActionsFor::New,
        )
        .unwrap();
        assert_eq!(built.len(), 2);
        assert_eq!(built[0].order(), Some(1));
        assert_eq!(built[1].order(), Some(2));

        let cognito = built[0].authenticate_cognito_config().unwrap();
        assert_eq!(
            built[0].r#type(),
            Some(&sdk::ActionTypeEnum::AuthenticateCognito)
        );
        assert_eq!(cognito.user_pool_client_id(), Some("client"));
        assert_eq!(cognito.session_timeout(), Some(3600));
        assert_eq!(
            cognito.on_unauthenticated_request(),
            Some(&sdk::AuthenticateCognitoActionConditionalBehaviorEnum::Deny)
        );
        assert_eq!(
            cognito
                .authentication_request_extra_params()
                .unwrap()
                .get("prompt")
                .map(String::as_str),
            Some("login")
        );

        let forward = &built[1];
        assert_eq!(forward.r#type(), Some(&sdk::ActionTypeEnum::Forward));
        assert!(forward.target_group_arn.is_none());
        let config = forward.forward_config().unwrap();
        let tuples: Vec<_> = config
            .target_groups()
            .iter()
            .map(|t| (t.target_group_arn().unwrap(), t.weight().unwrap()))
            .collect();
        assert_eq!(tuples, [("arn:tg/owned", 900), ("arn:tg/legacy", 100)]);
        let stickiness = config.target_group_stickiness_config().unwrap();
        assert_eq!(stickiness.enabled(), Some(true));
        assert_eq!(stickiness.duration_seconds(), Some(60));
    }

    #[test]
    fn unknown_target_groups_are_errors_not_guesses() {
        let forward = |r| Action::Forward {
            target_groups: vec![WeightedTargetGroup {
                target_group: r,
                weight: 1,
            }],
            stickiness_seconds: None,
        };
        let err = actions(
            &[forward(TargetGroupRef::Owned("payments/api:8080".into()))],
            "platform/other",
            &ids(),
            ActionsFor::New,
        )
        .unwrap_err();
        assert!(matches!(err, RequestError::UnknownOwnedTargetGroup { .. }));
        let err = actions(
            &[forward(TargetGroupRef::Existing("nope".into()))],
            "platform/public",
            &ids(),
            ActionsFor::New,
        )
        .unwrap_err();
        assert_eq!(err, RequestError::UnknownExistingTargetGroup("nope".into()));
    }

    #[test]
    fn redirect_and_fixed_response() {
        let built = actions(
            &[Action::Redirect {
                protocol: "HTTPS".into(),
                host: "#{host}".into(),
                port: "443".into(),
                path: "/#{path}".into(),
                query: "#{query}".into(),
                status: 301,
            }],
            "g",
            &AwsIds::default(),
            ActionsFor::New,
        )
        .unwrap();
        let redirect = built[0].redirect_config().unwrap();
        assert_eq!(redirect.status_code().unwrap().as_str(), "HTTP_301");
        assert_eq!(redirect.protocol(), Some("HTTPS"));
        assert_eq!(redirect.path(), Some("/#{path}"));

        let found = |status| Action::Redirect {
            protocol: "#{protocol}".into(),
            host: "#{host}".into(),
            port: "#{port}".into(),
            path: "/#{path}".into(),
            query: "#{query}".into(),
            status,
        };
        let built = actions(&[found(302)], "g", &AwsIds::default(), ActionsFor::New).unwrap();
        assert_eq!(
            built[0]
                .redirect_config()
                .unwrap()
                .status_code()
                .unwrap()
                .as_str(),
            "HTTP_302"
        );
        assert_eq!(
            actions(&[found(308)], "g", &AwsIds::default(), ActionsFor::New).unwrap_err(),
            RequestError::RedirectStatus(308)
        );

        let built = actions(
            &[Action::FixedResponse {
                status: 503,
                content_type: Some("text/plain".into()),
                body: Some("down".into()),
            }],
            "g",
            &AwsIds::default(),
            ActionsFor::New,
        )
        .unwrap();
        assert_eq!(built[0].order(), Some(1));
        let fixed = built[0].fixed_response_config().unwrap();
        assert_eq!(fixed.status_code(), Some("503"));
        assert_eq!(fixed.content_type(), Some("text/plain"));
        assert_eq!(fixed.message_body(), Some("down"));
    }

    #[test]
    fn authentication_configs_carry_every_setting() {
        let session = AuthenticationSession {
            extra_params: [("prompt".to_string(), "login".to_string())].into(),
            ..AuthenticationSession::default()
        };
        let mut model = OidcAuthentication {
            issuer: "https://idp".into(),
            authorization_endpoint: "https://idp/auth".into(),
            token_endpoint: "https://idp/token".into(),
            user_info_endpoint: "https://idp/userinfo".into(),
            client_id: "id".into(),
            session: session.clone(),
            credentials: None,
        };
        // A rule read back from AWS (no credentials) keeps the secret it has.
        let oidc = authenticate_oidc(&model, &AwsIds::default(), ActionsFor::Existing).unwrap();
        assert_eq!(oidc.client_secret(), None);
        assert_eq!(oidc.use_existing_client_secret(), Some(true));
        assert_eq!(oidc.scope(), Some("openid"));
        assert_eq!(oidc.session_timeout(), Some(604_800));
        assert_eq!(
            oidc.authentication_request_extra_params().unwrap()["prompt"],
            "login"
        );
        // A desired rule sends the secret its Secrets Manager secret holds, unless it exists
        // and keeps the one it has.
        model.credentials = Some(crate::alb::OidcCredentials {
            secret: "gwsync/a/idp".into(),
            keep_existing_secret: false,
        });
        assert_eq!(
            authenticate_oidc(&model, &AwsIds::default(), ActionsFor::New).unwrap_err(),
            RequestError::UnknownClientSecret("gwsync/a/idp".into())
        );
        let mut ids = AwsIds::default();
        ids.client_secrets
            .insert("gwsync/a/idp".into(), "s3cr3t".to_string().into());
        for target in [ActionsFor::New, ActionsFor::Existing] {
            let oidc = authenticate_oidc(&model, &ids, target).unwrap();
            assert_eq!(oidc.client_secret(), Some("s3cr3t"));
            assert_eq!(oidc.use_existing_client_secret(), Some(false));
        }
        model.credentials.as_mut().unwrap().keep_existing_secret = true;
        let kept = authenticate_oidc(&model, &ids, ActionsFor::Existing).unwrap();
        assert_eq!(kept.client_secret(), None);
        assert_eq!(kept.use_existing_client_secret(), Some(true));
        let oidc = authenticate_oidc(&model, &ids, ActionsFor::New).unwrap();
        assert_eq!(oidc.client_secret(), Some("s3cr3t"), "a new rule needs it");
        assert_eq!(oidc.scope(), Some("openid"));
        assert_eq!(oidc.session_timeout(), Some(604_800));
        assert_eq!(
            oidc.authentication_request_extra_params().unwrap()["prompt"],
            "login"
        );
        let jwt = jwt_validation(&JwtValidation {
            issuer: "https://idp".into(),
            jwks_endpoint: "https://idp/keys".into(),
            additional_claims: vec![JwtClaim {
                name: "scope".into(),
                format: "space-separated-values".into(),
                values: vec!["read".into()],
            }],
        });
        assert_eq!(jwt.jwks_endpoint(), Some("https://idp/keys"));
        assert_eq!(jwt.additional_claims()[0].values(), ["read"]);
        assert_eq!(
            matcher(&Matcher::GrpcCode("0-99".into())).grpc_code(),
            Some("0-99")
        );
        assert_eq!(matcher(&Matcher::GrpcCode("0".into())).http_code(), None);
    }

    #[test]
    fn certificates_must_be_arns_and_tags_are_complete() {
        assert_eq!(
            certificate_arns(&[Certificate::Arn("arn:c1".into())]).unwrap(),
            ["arn:c1"]
        );
        assert_eq!(
            certificate_arns(&[
                Certificate::Arn("arn:c1".into()),
                Certificate::ForHostname("a.example.com".into())
            ])
            .unwrap_err(),
            RequestError::UnresolvedCertificate("a.example.com".into())
        );

        let user: BTreeMap<String, String> = [("team".to_string(), "payments".to_string())].into();
        let built = create_tags(
            "prod",
            "tg/platform/public/payments/api:8080",
            Some("payments/api:8080"),
            &user,
        )
        .unwrap();
        let pairs: Vec<_> = built
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [
                (identity::INSTANCE, "prod"),
                (identity::RESOURCE, "tg/platform/public/payments/api:8080"),
                (identity::BACKEND, "payments/api:8080"),
                ("team", "payments"),
            ]
        );
        let sneaky: BTreeMap<String, String> =
            [(identity::INSTANCE.to_string(), "other".to_string())].into();
        assert_eq!(
            create_tags("prod", "lb/x/y", None, &sneaky).unwrap_err(),
            RequestError::ReservedTag(identity::INSTANCE.into())
        );
    }

    /// The counts preflight leaves room for (`alb::values::tags_problem`) are the tags
    /// gwsync really writes: a group's own tags plus its owner tag, a load balancer's own.
    #[test]
    fn own_tag_counts_match_what_is_written() {
        let none = BTreeMap::new();
        let group = create_tags("prod", "tg/x/y/b", Some("ns/b:80"), &none).unwrap();
        assert_eq!(group.len() + 1, identity::OWN_TAGS_ON_TARGET_GROUP);
        let lb = create_tags("prod", "lb/x/y", None, &none).unwrap();
        assert_eq!(lb.len(), identity::OWN_TAGS_ON_LOAD_BALANCER);
    }
}
