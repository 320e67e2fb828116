//! Describing: the describe calls observe makes, each paged at the API's maximum and each
//! after a read permit from the rate limiter. Raw SDK shapes out; nothing is interpreted
//! here beyond paging and tag maps. Independent calls run [`each`]: up to
//! [`CONCURRENT_READS`] at a time, still one rate-limit permit a call, so the rate limits
//! pace them and the latency of one call no longer adds up over hundreds.

use crate::alb::{Certificate, Target};
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use aws_sdk_elasticloadbalancingv2::types as elb;
use std::collections::{BTreeMap, BTreeSet};

/// Reads in flight at once. The rate limiter still decides how many start per second; this
/// only keeps their round trips from adding up (a few hundred calls of ~50 ms each on AWS).
pub(super) const CONCURRENT_READS: usize = 8;

/// `read` for each item, up to [`CONCURRENT_READS`] at a time; the results in the items'
/// order, or the first error in that order (the reads still in flight are dropped).
pub(super) async fn each<I, T, F, Fut>(items: I, read: F) -> Result<Vec<T>, AwsError>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(items)
        .map(read)
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// Most ARNs DescribeTags takes in one call.
pub(super) const TAGS_PER_CALL: usize = 20;

/// Largest page the Describe calls allow.
const PAGE_SIZE: i32 = 400;

pub(super) async fn describe_load_balancers(
    clients: &Clients,
) -> Result<Vec<elb::LoadBalancer>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let out = clients
            .read_call("DescribeLoadBalancers", || {
                clients
                    .elb
                    .describe_load_balancers()
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        all.extend(out.load_balancers().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

pub(super) async fn describe_target_groups(
    clients: &Clients,
) -> Result<Vec<elb::TargetGroup>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let out = clients
            .read_call("DescribeTargetGroups", || {
                clients
                    .elb
                    .describe_target_groups()
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        all.extend(out.target_groups().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

/// ARNs a DescribeTargetGroups call names: AWS documents no maximum; as many as DescribeTags
/// takes, so that one refresh reads a handful of target groups in one call.
const TARGET_GROUPS_PER_CALL: usize = TAGS_PER_CALL;

/// The target groups `arns`, [`TARGET_GROUPS_PER_CALL`] a call. One AWS no longer has fails
/// the call (`TargetGroupNotFound`).
pub(super) async fn describe_target_groups_by_arn(
    clients: &Clients,
    arns: &[&str],
) -> Result<Vec<elb::TargetGroup>, AwsError> {
    let arns: Vec<String> = arns.iter().map(|a| a.to_string()).collect();
    let pages = each(arns.chunks(TARGET_GROUPS_PER_CALL), |chunk| async move {
        Ok(clients
            .read_call("DescribeTargetGroups", || {
                clients
                    .elb
                    .describe_target_groups()
                    .set_target_group_arns(Some(chunk.to_vec()))
                    .send()
            })
            .await?)
    })
    .await?;
    Ok(pages
        .iter()
        .flat_map(|out| out.target_groups().iter().cloned())
        .collect())
}

pub(super) async fn describe_listeners(
    clients: &Clients,
    lb_arn: &str,
) -> Result<Vec<elb::Listener>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let out = clients
            .read_call("DescribeListeners", || {
                clients
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(lb_arn)
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        all.extend(out.listeners().iter().cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(all);
        }
    }
}

pub(super) async fn describe_rules(
    clients: &Clients,
    listener_arn: &str,
) -> Result<Vec<elb::Rule>, AwsError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let out = clients
            .read_call("DescribeRules", || {
                clients
                    .elb
                    .describe_rules()
                    .listener_arn(listener_arn)
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
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
pub(super) async fn describe_listener_certificates(
    clients: &Clients,
    listener_arn: &str,
) -> Result<Vec<Certificate>, AwsError> {
    let mut default = None;
    let mut others = BTreeSet::new();
    let mut marker = None;
    loop {
        let out = clients
            .read_call("DescribeListenerCertificates", || {
                clients
                    .elb
                    .describe_listener_certificates()
                    .listener_arn(listener_arn)
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
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

pub(super) async fn describe_lb_attributes(
    clients: &Clients,
    lb_arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let out = clients
        .read_call("DescribeLoadBalancerAttributes", || {
            clients
                .elb
                .describe_load_balancer_attributes()
                .load_balancer_arn(lb_arn)
                .send()
        })
        .await?;
    Ok(attribute_map(
        out.attributes().iter().map(|a| (a.key(), a.value())),
    ))
}

pub(super) async fn describe_tg_attributes(
    clients: &Clients,
    tg_arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let out = clients
        .read_call("DescribeTargetGroupAttributes", || {
            clients
                .elb
                .describe_target_group_attributes()
                .target_group_arn(tg_arn)
                .send()
        })
        .await?;
    Ok(attribute_map(
        out.attributes().iter().map(|a| (a.key(), a.value())),
    ))
}

/// Registered targets, sorted; those draining are on their way out and left out, so that
/// a desired target being deregistered is registered again.
pub(super) async fn describe_targets(
    clients: &Clients,
    tg_arn: &str,
) -> Result<Vec<Target>, AwsError> {
    let out = clients
        .read_call("DescribeTargetHealth", || {
            clients
                .elb
                .describe_target_health()
                .target_group_arn(tg_arn)
                .send()
        })
        .await?;
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

/// Tags by ARN, [`TAGS_PER_CALL`] ARNs a call, in the order given. AWS documents one
/// DescribeTags call for "one or more" load balancers, target groups, listeners or rules, so
/// a call may mix kinds (observe fills its calls that way). Should AWS refuse a call that
/// mixes them, that call is made again one kind at a time and, if that is answered, these
/// clients name one kind a call from then on (said once, as a warning).
pub(crate) async fn describe_tags<'a>(
    clients: &Clients,
    arns: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
    let arns: Vec<String> = arns.into_iter().map(str::to_string).collect();
    let calls: Vec<Vec<String>> = if clients.tags_by_kind() {
        by_kind(arns)
            .into_iter()
            .flat_map(|one_kind| chunks(&one_kind))
            .collect()
    } else {
        chunks(&arns)
    };
    let answers = each(calls, |arns| tags_of(clients, arns)).await?;
    let mut all = BTreeMap::new();
    for d in answers.iter().flatten() {
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
    Ok(all)
}

fn chunks(arns: &[String]) -> Vec<Vec<String>> {
    arns.chunks(TAGS_PER_CALL).map(<[String]>::to_vec).collect()
}

/// One DescribeTags call for `arns`; a refused call that mixes kinds is made again one kind
/// at a time (see [`describe_tags`]).
async fn tags_of(
    clients: &Clients,
    arns: Vec<String>,
) -> Result<Vec<elb::TagDescription>, AwsError> {
    let refused = match tags_call(clients, arns.clone()).await {
        Ok(tags) => return Ok(tags),
        // Still failing after the retries of throttling and transient errors, with AWS's
        // own answer: the request itself was refused.
        Err(e) if e.code.is_some() && mixes_kinds(&arns) => e,
        Err(e) => return Err(e.into()),
    };
    let mut tags = Vec::new();
    for one_kind in by_kind(arns) {
        tags.extend(tags_call(clients, one_kind).await?);
    }
    if clients.split_tags_by_kind() {
        tracing::warn!(
            error = %refused,
            "AWS refused a DescribeTags call naming several kinds of resource and answered \
             them one kind at a time: gwsync names one kind a call from now on"
        );
    }
    Ok(tags)
}

async fn tags_call(
    clients: &Clients,
    arns: Vec<String>,
) -> Result<Vec<elb::TagDescription>, crate::aws::error::CallError> {
    let out = clients
        .read_call("DescribeTags", || {
            clients
                .elb
                .describe_tags()
                .set_resource_arns(Some(arns.clone()))
                .send()
        })
        .await?;
    Ok(out.tag_descriptions().to_vec())
}

fn mixes_kinds(arns: &[String]) -> bool {
    arns.iter()
        .any(|arn| resource_kind(arn) != resource_kind(&arns[0]))
}

/// `arns` grouped by the kind of resource each names, in the order the kinds first appear.
fn by_kind(arns: Vec<String>) -> Vec<Vec<String>> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for arn in arns {
        let kind = resource_kind(&arn).to_string();
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, group)) => group.push(arn),
            None => groups.push((kind, vec![arn])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// The kind of resource an Elastic Load Balancing ARN names: the first part of its resource
/// (`loadbalancer`, `listener`, `listener-rule`, `targetgroup`, ...).
fn resource_kind(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    resource.split('/').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/a/1";
    const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2";
    const RULE: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/a/1/2/3";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/4";

    #[test]
    fn an_arn_names_its_kind_of_resource() {
        assert_eq!(resource_kind(LB), "loadbalancer");
        assert_eq!(resource_kind(LISTENER), "listener");
        assert_eq!(resource_kind(RULE), "listener-rule");
        assert_eq!(resource_kind(TG), "targetgroup");
        assert_eq!(resource_kind("not an arn"), "");
    }

    #[test]
    fn arns_split_by_kind_in_the_order_kinds_first_appear() {
        assert!(mixes_kinds(&[LB.to_string(), TG.to_string()]));
        assert!(!mixes_kinds(&[TG.to_string(), TG.to_string()]));
        let arns = [TG, LB, RULE, "x:2", TG, LB].map(str::to_string).to_vec();
        assert_eq!(
            by_kind(arns),
            vec![
                vec![TG.to_string(), TG.to_string()],
                vec![LB.to_string(), LB.to_string()],
                vec![RULE.to_string()],
                vec!["x:2".to_string()],
            ]
        );
    }
}
