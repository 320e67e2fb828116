//! Observe: the live ALB configuration that gwsync owns, read from AWS into the ALB model,
//! normalised so that an unchanged configuration compares equal to the desired one.
//!
//! [`observe`] finds owned resources by their tags ([`super::tags`]), never by name: load
//! balancers, listeners, rules and target groups with `gwsync.dev/instance = <instance id>`
//! and a `gwsync.dev/resource` id. Rules without the instance tag (made by hand, or by
//! another instance) are not in the model; they only reserve their priorities. Listeners
//! without it are left out, rules and all.
//!
//! AWS reports one configuration in several shapes; this module gives each the one shape
//! `translate` builds (see the `alb` module doc):
//! - conditions from the legacy `Values` or from the `*Config` blocks, wildcard `Values` or
//!   `RegexValues`, in [`Condition::canonical_order`]; header names lowercased; values kept
//!   in AWS's order (which is the order they were written in);
//! - actions by their `Order`; a forward given as `TargetGroupArn`, `ForwardConfig` or both
//!   is one weighted list (a weight AWS leaves out is 1, its documented default); target
//!   groups by backend when owned, by name when not;
//! - redirect parts AWS leaves out are filled (`#{protocol}`, `#{host}`, `#{port}`,
//!   `/#{path}`, `#{query}`), `HTTP_301` is 301;
//! - subnets and security groups sorted (AWS keeps no order: they are sets);
//! - an HTTPS listener's default certificate first, the others sorted by ARN; an HTTP
//!   listener has no SSL policy (moto reports one);
//! - attributes: every one AWS reports, defaults included (the diff compares the keys the
//!   desired state sets); tags without gwsync's own three;
//! - registered targets sorted, without those draining (being deregistered).
//!
//! What is left to others: comparing (`plan`), changing anything (`apply`), and deciding
//! which hostnames need a certificate ([`find_certificates`] looks them up, and
//! [`resolve_certificates`] writes them into the desired state).
//!
//! Call budget: one DescribeLoadBalancers per 400 load balancers, one DescribeTargetGroups
//! per 400 target groups, DescribeTags by 20 ARNs of one kind, and per owned load balancer
//! one DescribeLoadBalancerAttributes and one DescribeListeners; per owned listener one
//! DescribeRules (400 rules a page, more than any listener holds), per HTTPS listener one
//! DescribeListenerCertificates; per owned target group one DescribeTargetGroupAttributes
//! and one DescribeTargetHealth. Calls run one after another, each after a rate-limit
//! permit.

use crate::alb::{
    Action, Authenticate, AuthenticationSession, Certificate, CognitoAuthentication, Condition,
    HealthCheck, IpAddressType, JwtClaim, JwtValidation, Listener, LoadBalancer, Matcher, Observed,
    OidcAuthentication, OnUnauthenticatedRequest, Patterns, Protocol, ProtocolVersion, QueryValue,
    Rule, Scheme, Stack, Target, TargetGroup, TargetGroupRef, TargetType, Transform,
    WeightedTargetGroup, identity,
};
use crate::aws::AwsIds;
use crate::aws::client::Clients;
use crate::plan::HeldBack;
use aws_sdk_elasticloadbalancingv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_elasticloadbalancingv2::types as elb;
use std::collections::{BTreeMap, BTreeSet};

/// Most ARNs DescribeTags takes in one call.
const TAGS_PER_CALL: usize = 20;

/// Largest page the Describe calls allow.
const PAGE_SIZE: i32 = 400;

/// Largest page ACM's ListCertificates allows.
const ACM_PAGE_SIZE: i32 = 1000;

/// A failed AWS call, or something gwsync owns in a shape it never creates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// The call failed (after the SDK's retries): the operation, AWS's error code and
    /// message. Never the request, its credentials or its pagination tokens.
    #[error("{operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Call {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    /// An owned resource that the model cannot hold (e.g. two load balancers claiming one
    /// Gateway): an operator must look before gwsync touches anything.
    #[error("{resource}: {message}")]
    Unexpected { resource: String, message: String },
}

impl AwsError {
    /// The error of a failed SDK call to `operation`.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_string);
        // Service errors carry AWS's message; the others (timeouts, connection failures,
        // missing credentials) are described by their cause chain.
        let message = match err.message() {
            Some(m) => m.to_string(),
            None => DisplayErrorContext(&err).to_string(),
        };
        AwsError::Call {
            operation,
            code,
            message,
        }
    }

    fn unexpected(resource: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError::Unexpected {
            resource: resource.into(),
            message: message.into(),
        }
    }
}

/// Reads every resource that `instance_id` owns, in the model's shape, and where each is.
pub async fn observe(clients: &Clients, instance_id: &str) -> Result<(Observed, AwsIds), AwsError> {
    let mut ids = AwsIds::default();

    // Load balancers: all of the account's ALBs, then their tags.
    let all_lbs: Vec<elb::LoadBalancer> = describe_load_balancers(clients)
        .await?
        .into_iter()
        .filter(|lb| lb.r#type() == Some(&elb::LoadBalancerTypeEnum::Application))
        .collect();
    let lb_tags = describe_tags(
        clients,
        all_lbs.iter().filter_map(|lb| lb.load_balancer_arn()),
    )
    .await?;
    let mut owned_lbs: BTreeMap<String, &elb::LoadBalancer> = BTreeMap::new();
    for lb in &all_lbs {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let Some(gateway) = owned_id(lb_tags.get(arn), instance_id, "lb/") else {
            continue;
        };
        if let Some(other) = owned_lbs.insert(gateway.to_string(), lb) {
            return Err(AwsError::unexpected(
                format!("Gateway {gateway}"),
                format!(
                    "two load balancers carry its tags ({} and {arn}); delete or untag one",
                    other.load_balancer_arn().unwrap_or_default()
                ),
            ));
        }
    }

    // Target groups: all of them (an owned one may not be attached to anything yet), then
    // their tags. Names of the others resolve `TargetGroupName` backends.
    let all_tgs = describe_target_groups(clients).await?;
    let tg_tags = describe_tags(
        clients,
        all_tgs.iter().filter_map(|tg| tg.target_group_arn()),
    )
    .await?;
    let mut tg_names: BTreeMap<String, String> = BTreeMap::new();
    // ARN -> (gateway, backend) of owned target groups.
    let mut owned_tgs: BTreeMap<String, (String, String, &elb::TargetGroup)> = BTreeMap::new();
    for tg in &all_tgs {
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let name = tg.target_group_name().unwrap_or_default().to_string();
        tg_names.insert(arn.clone(), name.clone());
        let tags = tg_tags.get(&arn);
        let Some(id) = owned_id(tags, instance_id, "tg/") else {
            ids.existing_target_groups.insert(name, arn);
            continue;
        };
        let Some((gateway, backend)) = split_target_group_id(id, tags) else {
            return Err(AwsError::unexpected(
                format!("target group {name}"),
                format!(
                    "its {} tag `tg/{id}` names no gateway and backend",
                    identity::RESOURCE
                ),
            ));
        };
        let key = (gateway.clone(), backend.clone());
        if let Some(other) = ids.target_groups.insert(key, arn.clone()) {
            return Err(AwsError::unexpected(
                format!("target group for {backend} on Gateway {gateway}"),
                format!(
                    "two target groups carry its tags ({other} and {arn}); delete or untag one"
                ),
            ));
        }
        owned_tgs.insert(arn, (gateway, backend, tg));
    }
    let tg_refs = TargetGroupRefs {
        owned: owned_tgs
            .iter()
            .map(|(arn, (_, backend, _))| (arn.clone(), backend.clone()))
            .collect(),
        names: tg_names,
    };

    // Listeners of owned load balancers; only owned ones are read further.
    let mut lb_listeners: BTreeMap<String, Vec<elb::Listener>> = BTreeMap::new();
    for (gateway, lb) in &owned_lbs {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        lb_listeners.insert(gateway.clone(), describe_listeners(clients, arn).await?);
    }
    let listener_tags = describe_tags(
        clients,
        lb_listeners
            .values()
            .flatten()
            .filter_map(|l| l.listener_arn()),
    )
    .await?;
    let owned_listener = |l: &elb::Listener| {
        let tags = listener_tags.get(l.listener_arn().unwrap_or_default());
        tags.and_then(|t| t.get(identity::INSTANCE))
            .map(String::as_str)
            == Some(instance_id)
    };

    // Rules of owned listeners, then the tags of every non-default rule at once.
    let mut listener_rules: BTreeMap<String, Vec<elb::Rule>> = BTreeMap::new();
    for l in lb_listeners
        .values()
        .flatten()
        .filter(|l| owned_listener(l))
    {
        let arn = l.listener_arn().unwrap_or_default();
        listener_rules.insert(arn.to_string(), describe_rules(clients, arn).await?);
    }
    let rule_tags = describe_tags(
        clients,
        listener_rules
            .values()
            .flatten()
            .filter(|r| r.is_default() != Some(true))
            .filter_map(|r| r.rule_arn()),
    )
    .await?;

    let mut stack = Stack::default();
    let mut rule_ids: BTreeMap<(String, u16), BTreeMap<u32, String>> = BTreeMap::new();
    let mut foreign_priorities: BTreeMap<(String, u16), BTreeSet<u32>> = BTreeMap::new();
    let mut foreign_listeners: BTreeSet<(String, u16)> = BTreeSet::new();
    for (gateway, lb) in &owned_lbs {
        let lb_arn = lb.load_balancer_arn().unwrap_or_default();
        ids.load_balancers
            .insert(gateway.clone(), lb_arn.to_string());
        if let Some(vpc) = lb.vpc_id() {
            ids.vpcs.insert(gateway.clone(), vpc.to_string());
        }
        let mut listeners = Vec::new();
        for l in lb_listeners[gateway].iter().filter(|l| !owned_listener(l)) {
            if let Some(port) = l.port() {
                foreign_listeners.insert((gateway.clone(), port as u16));
            }
        }
        for l in lb_listeners[gateway].iter().filter(|l| owned_listener(l)) {
            let listener_arn = l.listener_arn().unwrap_or_default();
            let port = listener_port(l)?;
            let key = (gateway.clone(), port);
            ids.listeners.insert(key.clone(), listener_arn.to_string());
            let certificates = if l.protocol() == Some(&elb::ProtocolEnum::Https) {
                describe_listener_certificates(clients, listener_arn).await?
            } else {
                Vec::new()
            };
            let mut default_actions: &[elb::Action] = l.default_actions();
            let mut rules = Vec::new();
            for r in &listener_rules[listener_arn] {
                if r.is_default() == Some(true) {
                    default_actions = r.actions();
                    continue;
                }
                let rule_arn = r.rule_arn().unwrap_or_default();
                let priority = rule_priority(r)?;
                let tags = rule_tags.get(rule_arn);
                let owned_rule = tags
                    .filter(|t| t.get(identity::INSTANCE).map(String::as_str) == Some(instance_id))
                    .and_then(|t| t.get(identity::RESOURCE));
                let Some(id) = owned_rule else {
                    foreign_priorities
                        .entry(key.clone())
                        .or_default()
                        .insert(priority);
                    continue;
                };
                if let Some(other) = ids.rules.insert(id.clone(), rule_arn.to_string()) {
                    return Err(AwsError::unexpected(
                        format!("rule {id}"),
                        format!("two rules carry its tags ({other} and {rule_arn}); delete one"),
                    ));
                }
                rule_ids
                    .entry(key.clone())
                    .or_default()
                    .insert(priority, id.clone());
                rules.push(rule_model(r, priority, &tg_refs));
            }
            rules.sort_by_key(|r| r.priority);
            let default_action = actions_model(default_actions, &tg_refs)
                .pop()
                .unwrap_or_else(|| unsupported_action("none"));
            listeners.push(listener_model(
                l,
                port,
                certificates,
                default_action,
                rules,
            )?);
        }
        listeners.sort_by_key(|l| l.port);
        stack.load_balancers.push(load_balancer_model(
            gateway,
            lb,
            describe_lb_attributes(clients, lb_arn).await?,
            lb_tags.get(lb_arn),
            listeners,
        )?);
    }

    // Owned target groups, into their gateway's load balancer. One whose load balancer is
    // gone (or not made yet) is only in `ids`.
    for (arn, (gateway, backend, tg)) in &owned_tgs {
        let Some(lb) = stack
            .load_balancers
            .iter_mut()
            .find(|lb| &lb.gateway == gateway)
        else {
            continue;
        };
        let attributes = describe_tg_attributes(clients, arn).await?;
        let targets = describe_targets(clients, arn).await?;
        lb.target_groups.push(target_group_model(
            backend,
            tg,
            attributes,
            tg_tags.get(arn.as_str()),
            targets,
        )?);
    }
    for lb in &mut stack.load_balancers {
        lb.target_groups.sort_by(|a, b| a.backend.cmp(&b.backend));
    }

    Ok((
        Observed::new(stack, rule_ids, foreign_priorities, foreign_listeners),
        ids,
    ))
}

/// The id after `prefix` in the `gwsync.dev/resource` tag of a resource `instance_id` owns.
fn owned_id<'t>(
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
fn split_target_group_id(
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
struct TargetGroupRefs {
    /// ARN -> backend of owned target groups.
    owned: BTreeMap<String, String>,
    /// ARN -> name of every target group listed.
    names: BTreeMap<String, String>,
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

// ---- Describe calls -------------------------------------------------------------------

async fn describe_load_balancers(clients: &Clients) -> Result<Vec<elb::LoadBalancer>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        clients.read().await;
        let out = clients
            .elb
            .describe_load_balancers()
            .page_size(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeLoadBalancers", e))?;
        all.extend(out.load_balancers().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

async fn describe_target_groups(clients: &Clients) -> Result<Vec<elb::TargetGroup>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        clients.read().await;
        let out = clients
            .elb
            .describe_target_groups()
            .page_size(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTargetGroups", e))?;
        all.extend(out.target_groups().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

async fn describe_listeners(
    clients: &Clients,
    lb_arn: &str,
) -> Result<Vec<elb::Listener>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        clients.read().await;
        let out = clients
            .elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .page_size(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeListeners", e))?;
        all.extend(out.listeners().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

async fn describe_rules(clients: &Clients, listener_arn: &str) -> Result<Vec<elb::Rule>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        clients.read().await;
        let out = clients
            .elb
            .describe_rules()
            .listener_arn(listener_arn)
            .page_size(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeRules", e))?;
        all.extend(out.rules().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

/// The certificates of an HTTPS listener: the default one first, then the others sorted.
/// AWS lists the default twice when it is also in the certificate list (once with
/// `IsDefault`, once without).
async fn describe_listener_certificates(
    clients: &Clients,
    listener_arn: &str,
) -> Result<Vec<Certificate>, AwsError> {
    let mut default = None;
    let mut others = BTreeSet::new();
    let mut marker = None;
    loop {
        clients.read().await;
        let out = clients
            .elb
            .describe_listener_certificates()
            .listener_arn(listener_arn)
            .page_size(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeListenerCertificates", e))?;
        for c in out.certificates() {
            let Some(arn) = c.certificate_arn() else {
                continue;
            };
            if c.is_default() == Some(true) {
                default = Some(arn.to_string());
            } else {
                others.insert(arn.to_string());
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    if let Some(d) = &default {
        others.remove(d);
    }
    Ok(default
        .into_iter()
        .chain(others)
        .map(Certificate::Arn)
        .collect())
}

/// Attributes as AWS lists them (key, value), into a map; a value AWS leaves out is empty.
fn attribute_map<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

async fn describe_lb_attributes(
    clients: &Clients,
    lb_arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    clients.read().await;
    let out = clients
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeLoadBalancerAttributes", e))?;
    Ok(attribute_map(
        out.attributes().iter().map(|a| (a.key(), a.value())),
    ))
}

async fn describe_tg_attributes(
    clients: &Clients,
    tg_arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    clients.read().await;
    let out = clients
        .elb
        .describe_target_group_attributes()
        .target_group_arn(tg_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTargetGroupAttributes", e))?;
    Ok(attribute_map(
        out.attributes().iter().map(|a| (a.key(), a.value())),
    ))
}

/// Registered targets, sorted; those draining are on their way out and left out, so that
/// a desired target being deregistered is registered again.
async fn describe_targets(clients: &Clients, tg_arn: &str) -> Result<Vec<Target>, AwsError> {
    clients.read().await;
    let out = clients
        .elb
        .describe_target_health()
        .target_group_arn(tg_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTargetHealth", e))?;
    let mut targets: Vec<Target> = out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state()) != Some(&elb::TargetHealthStateEnum::Draining)
        })
        .filter_map(|d| {
            let t = d.target()?;
            Some(Target {
                id: t.id()?.to_string(),
                port: t.port().and_then(|p| u16::try_from(p).ok()),
                availability_zone: t.availability_zone().map(str::to_string),
            })
        })
        .collect();
    targets.sort();
    targets.dedup();
    Ok(targets)
}

/// Tags by ARN, [`TAGS_PER_CALL`] ARNs a call. Callers pass ARNs of one kind: AWS documents
/// the 20-ARN limit, not whether kinds may be mixed.
async fn describe_tags<'a>(
    clients: &Clients,
    arns: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
    let arns: Vec<String> = arns.into_iter().map(str::to_string).collect();
    let mut all = BTreeMap::new();
    for chunk in arns.chunks(TAGS_PER_CALL) {
        clients.read().await;
        let out = clients
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTags", e))?;
        for d in out.tag_descriptions() {
            let Some(arn) = d.resource_arn() else {
                continue;
            };
            let tags = d
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            all.insert(arn.to_string(), tags);
        }
    }
    Ok(all)
}

// ---- Normalisation into the model -----------------------------------------------------

fn listener_port(l: &elb::Listener) -> Result<u16, AwsError> {
    l.port().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| {
        AwsError::unexpected(
            l.listener_arn().unwrap_or_default(),
            "the listener has no valid port",
        )
    })
}

fn rule_priority(r: &elb::Rule) -> Result<u32, AwsError> {
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

fn load_balancer_model(
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

fn listener_model(
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

/// A rule in the model's shape; `source` is None (AWS does not know why it exists).
fn rule_model(r: &elb::Rule, priority: u32, tgs: &TargetGroupRefs) -> Rule {
    let mut conditions: Vec<Condition> =
        r.conditions().iter().filter_map(condition_model).collect();
    Condition::canonical_order(&mut conditions);
    Rule {
        priority,
        conditions,
        actions: actions_model(r.actions(), tgs),
        transforms: r.transforms().iter().flat_map(transform_model).collect(),
        source: None,
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
fn actions_model(actions: &[elb::Action], tgs: &TargetGroupRefs) -> Vec<Action> {
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
fn unsupported_action(what: &str) -> Action {
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

fn target_group_model(
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
    let count = |v: Option<i32>, default: u32| v.map_or(default, |v| v.max(0) as u32);
    let matcher = tg.matcher();
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
        // Missing values take ELB's defaults for HTTP(S) groups, as translate does.
        health_check: HealthCheck {
            protocol: protocol(tg.health_check_protocol()).unwrap_or(tg_protocol),
            port: tg.health_check_port().unwrap_or("traffic-port").to_string(),
            path: tg.health_check_path().unwrap_or("/").to_string(),
            interval_seconds: count(tg.health_check_interval_seconds(), 30),
            timeout_seconds: count(tg.health_check_timeout_seconds(), 5),
            healthy_threshold: count(tg.healthy_threshold_count(), 5),
            unhealthy_threshold: count(tg.unhealthy_threshold_count(), 2),
            matcher: match (
                matcher.and_then(|m| m.http_code()),
                matcher.and_then(|m| m.grpc_code()),
            ) {
                (Some(codes), _) => Matcher::HttpCode(codes.to_string()),
                (None, Some(codes)) => Matcher::GrpcCode(codes.to_string()),
                (None, None) => Matcher::default_for(protocol_version),
            },
        },
        attributes,
        tags: user_tags(tags),
        targets,
    })
}

// ---- Certificates ---------------------------------------------------------------------

/// Every key type ACM has: ListCertificates returns only RSA_2048 certificates unless told
/// otherwise.
const KEY_TYPES: [aws_sdk_acm::types::KeyAlgorithm; 7] = [
    aws_sdk_acm::types::KeyAlgorithm::Rsa1024,
    aws_sdk_acm::types::KeyAlgorithm::Rsa2048,
    aws_sdk_acm::types::KeyAlgorithm::Rsa3072,
    aws_sdk_acm::types::KeyAlgorithm::Rsa4096,
    aws_sdk_acm::types::KeyAlgorithm::EcPrime256v1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp384r1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp521r1,
];

/// An issued certificate and the names it covers.
#[derive(Debug, Clone)]
struct IssuedCertificate {
    arn: String,
    names: Vec<String>,
    /// Seconds since the epoch; later is preferred.
    not_after: i64,
}

/// The ARN of an issued ACM certificate for each hostname that one covers (hostnames
/// without one are left out). A certificate covers a hostname when one of its names is the
/// hostname or a wildcard one label above it (`*.example.com` covers `a.example.com`, not
/// `a.b.example.com` nor `example.com`). Among several: an exact name over a wildcard, then
/// the one valid longest, then the lowest ARN.
///
/// Calls: ListCertificates (1000 a page) and, only for certificates whose names the listing
/// does not hold in full, DescribeCertificate.
pub async fn find_certificates(
    clients: &Clients,
    hostnames: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    if hostnames.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut certificates = Vec::new();
    let mut token = None;
    loop {
        clients.read().await;
        let out = clients
            .acm
            .list_certificates()
            .certificate_statuses(aws_sdk_acm::types::CertificateStatus::Issued)
            .includes(
                aws_sdk_acm::types::Filters::builder()
                    .set_key_types(Some(KEY_TYPES.to_vec()))
                    .build(),
            )
            .max_items(ACM_PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListCertificates", e))?;
        for s in out.certificate_summary_list() {
            let Some(arn) = s.certificate_arn() else {
                continue;
            };
            let listed = s.subject_alternative_name_summaries();
            let complete =
                !listed.is_empty() && s.has_additional_subject_alternative_names() != Some(true);
            let (mut names, not_after) = if complete {
                (listed.to_vec(), s.not_after().map_or(0, |t| t.secs()))
            } else {
                clients.read().await;
                let detail = clients
                    .acm
                    .describe_certificate()
                    .certificate_arn(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("DescribeCertificate", e))?;
                let Some(c) = detail.certificate() else {
                    continue;
                };
                (
                    c.subject_alternative_names().to_vec(),
                    c.not_after().or(s.not_after()).map_or(0, |t| t.secs()),
                )
            };
            names.extend(s.domain_name().map(str::to_string));
            certificates.push(IssuedCertificate {
                arn: arn.to_string(),
                names,
                not_after,
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(match_certificates(hostnames, &certificates))
}

fn match_certificates(
    hostnames: &BTreeSet<String>,
    certificates: &[IssuedCertificate],
) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for host in hostnames {
        let host_lc = host.to_ascii_lowercase();
        let best = certificates
            .iter()
            .filter_map(|c| {
                let exact = c.names.iter().any(|n| n.eq_ignore_ascii_case(&host_lc));
                let wildcard = c.names.iter().any(|n| wildcard_covers(n, &host_lc));
                (exact || wildcard).then_some((exact, c))
            })
            // Best first: exact, then valid longest, then lowest ARN.
            .min_by(|(ea, a), (eb, b)| {
                eb.cmp(ea)
                    .then(b.not_after.cmp(&a.not_after))
                    .then(a.arn.cmp(&b.arn))
            });
        if let Some((_, c)) = best {
            found.insert(host.clone(), c.arn.clone());
        }
    }
    found
}

/// Whether certificate name `*.parent` covers `host` (lowercase): exactly one label more.
fn wildcard_covers(name: &str, host: &str) -> bool {
    let Some(parent) = name.strip_prefix("*.") else {
        return false;
    };
    match host.split_once('.') {
        Some((label, rest)) => {
            !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(parent)
        }
        None => false,
    }
}

/// Replaces every `Certificate::ForHostname` in the desired stack by the ARN `found` has
/// for it; a hostname without one stays and gets an error naming its listener. Each HTTPS
/// listener's certificates are then in observe's shape: the default (first) one, then the
/// others sorted, each once.
pub fn resolve_certificates(stack: &mut Stack, found: &BTreeMap<String, String>) -> Vec<HeldBack> {
    let mut missing = Vec::new();
    for lb in &mut stack.load_balancers {
        for l in &mut lb.listeners {
            for c in &mut l.certificates {
                let Certificate::ForHostname(host) = c else {
                    continue;
                };
                match found.get(host.as_str()) {
                    Some(arn) => *c = Certificate::Arn(arn.clone()),
                    None => missing.push(HeldBack::MissingCertificate {
                        gateway: lb.gateway.clone(),
                        port: l.port,
                        hostname: host.clone(),
                    }),
                }
            }
            if l.certificates.len() > 1 {
                let default = l.certificates[0].clone();
                let others: BTreeSet<Certificate> = l.certificates[1..]
                    .iter()
                    .filter(|c| **c != default)
                    .cloned()
                    .collect();
                l.certificates = std::iter::once(default).chain(others).collect();
            }
        }
    }
    missing
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
        let model = rule_model(&rule, 7, &refs());
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

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(wildcard_covers("*.example.com", "a.example.com"));
        assert!(!wildcard_covers("*.example.com", "a.b.example.com"));
        assert!(!wildcard_covers("*.example.com", "example.com"));
        assert!(!wildcard_covers("example.com", "example.com"));
    }

    #[test]
    fn exact_names_win_then_the_longest_valid() {
        let cert = |arn: &str, names: &[&str], not_after| IssuedCertificate {
            arn: arn.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            not_after,
        };
        let certs = [
            cert("arn:wild-late", &["*.example.com"], 300),
            cert("arn:exact-early", &["shop.example.com"], 100),
            cert("arn:exact-late", &["shop.example.com"], 200),
        ];
        let hosts: BTreeSet<String> = ["shop.example.com", "x.example.com", "a.b.example.com"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            match_certificates(&hosts, &certs),
            BTreeMap::from([
                ("shop.example.com".to_string(), "arn:exact-late".to_string()),
                ("x.example.com".to_string(), "arn:wild-late".to_string()),
            ])
        );
    }

    fn https_stack(certificates: Vec<Certificate>) -> Stack {
        Stack {
            load_balancers: vec![LoadBalancer {
                gateway: "platform/public".into(),
                name: "gw".into(),
                scheme: Scheme::Internal,
                ip_address_type: IpAddressType::Ipv4,
                subnets: vec![],
                security_groups: vec![],
                attributes: BTreeMap::new(),
                tags: BTreeMap::new(),
                listeners: vec![Listener {
                    port: 443,
                    protocol: Protocol::Https,
                    ssl_policy: None,
                    certificates,
                    default_action: Action::fixed(404),
                    rules: vec![],
                }],
                target_groups: vec![],
            }],
        }
    }

    #[test]
    fn certificates_resolve_dedupe_and_sort_like_observed() {
        let host = |h: &str| Certificate::ForHostname(h.into());
        let arn = |a: &str| Certificate::Arn(a.into());
        let mut stack = https_stack(vec![
            host("z.example.com"),
            host("b.example.com"),
            host("a.example.com"),
            host("y.example.com"),
            host("missing.example.com"),
        ]);
        let found = BTreeMap::from([
            ("z.example.com".to_string(), "arn:z".to_string()),
            ("y.example.com".to_string(), "arn:z".to_string()),
            ("b.example.com".to_string(), "arn:b".to_string()),
            ("a.example.com".to_string(), "arn:a".to_string()),
        ]);
        let missing = resolve_certificates(&mut stack, &found);
        assert_eq!(
            stack.load_balancers[0].listeners[0].certificates,
            vec![
                arn("arn:z"),
                arn("arn:a"),
                arn("arn:b"),
                host("missing.example.com")
            ]
        );
        assert_eq!(
            missing,
            [HeldBack::MissingCertificate {
                gateway: "platform/public".into(),
                port: 443,
                hostname: "missing.example.com".into(),
            }]
        );
        let words = missing[0].to_string();
        assert!(
            words.contains("port 443 of Gateway platform/public"),
            "{words}"
        );
    }

    #[test]
    fn fingerprints_depend_on_content_only() {
        let stack = https_stack(vec![]);
        let ids = BTreeMap::from([(
            ("platform/public".to_string(), 443u16),
            BTreeMap::from([(10u32, "rule/x".to_string())]),
        )]);
        let observed = |ids| Observed::new(stack.clone(), ids, BTreeMap::new(), BTreeSet::new());
        let a = observed(ids.clone()).fingerprint;
        assert_eq!(a, observed(ids).fingerprint);
        assert_eq!(a.len(), 64);
        let moved = BTreeMap::from([(
            ("platform/public".to_string(), 443u16),
            BTreeMap::from([(11u32, "rule/x".to_string())]),
        )]);
        assert_ne!(a, observed(moved).fingerprint);
    }
}
