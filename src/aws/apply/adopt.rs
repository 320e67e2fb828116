//! Creates made idempotent under retry. The SDK retries a call whose answer did not arrive
//! (a 5xx, a dropped connection), also when its first attempt already reached AWS: the retry
//! of a create then meets the resource that attempt made, and AWS says `PriorityInUse`,
//! `DuplicateTargetGroupName` or `DuplicateListener`. Such an error is not taken at its word:
//! the resource in the way is read back, and if its tags say it is this very create's
//! (this instance, this identity), it is adopted as created. Anything else (a foreign
//! resource in the way) stays the failure it is.
//!
//! Deletes likewise: a retried delete whose first attempt took effect meets `RuleNotFound`
//! (`ListenerNotFound`, ...): the resource is gone, which is what was asked ([`gone`]).

use super::{Applier, ApplyError};
use crate::alb::identity;
use crate::aws::observe::describe_tags;

/// Error codes with which AWS refuses a create because something holds its name, port or
/// priority: maybe the create's own earlier attempt.
const IN_THE_WAY: [&str; 3] = [
    "PriorityInUse",
    "DuplicateTargetGroupName",
    "DuplicateListener",
];

/// Whether `error` says that something already holds what a create asked for.
pub(super) fn in_the_way(error: &ApplyError) -> bool {
    matches!(error, ApplyError::Call(call) if call.code.as_deref().is_some_and(|c| IN_THE_WAY.contains(&c)))
}

/// Whether `error` says that the resource a delete named no longer exists.
pub(super) fn gone(error: &ApplyError) -> bool {
    const NOT_FOUND: [&str; 4] = [
        "RuleNotFound",
        "ListenerNotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
    ];
    let gone = matches!(error, ApplyError::Call(call) if call.code.as_deref().is_some_and(|c| NOT_FOUND.contains(&c)));
    if gone {
        tracing::info!(%error, "already deleted (an earlier attempt of this delete, or someone else)");
    }
    gone
}

impl Applier<'_> {
    /// The rule at `priority` of `listener_arn`, when it is `resource_id` of this instance.
    pub(super) async fn own_rule_at(
        &self,
        listener_arn: &str,
        priority: u32,
        resource_id: &str,
    ) -> Result<Option<String>, ApplyError> {
        let mut marker = None;
        loop {
            let out = self
                .read("DescribeRules", || {
                    self.clients
                        .elb
                        .describe_rules()
                        .listener_arn(listener_arn)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            let at = out
                .rules()
                .iter()
                .find(|r| r.priority() == Some(priority.to_string().as_str()));
            if let Some(arn) = at.and_then(|r| r.rule_arn()) {
                return self.own(vec![arn.to_string()], resource_id).await;
            }
            match out.next_marker() {
                Some(next) => marker = Some(next.to_string()),
                None => return Ok(None),
            }
        }
    }

    /// The target group named `name`, when it is `resource_id` of this instance.
    pub(super) async fn own_target_group_named(
        &self,
        name: &str,
        resource_id: &str,
    ) -> Result<Option<String>, ApplyError> {
        let out = self
            .read("DescribeTargetGroups", || {
                self.clients.elb.describe_target_groups().names(name).send()
            })
            .await?;
        let arns = out
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_string))
            .collect();
        self.own(arns, resource_id).await
    }

    /// The listener on `port` of `lb_arn`, when it is `resource_id` of this instance.
    pub(super) async fn own_listener_on(
        &self,
        lb_arn: &str,
        port: u16,
        resource_id: &str,
    ) -> Result<Option<String>, ApplyError> {
        let out = self
            .read("DescribeListeners", || {
                self.clients
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(lb_arn)
                    .send()
            })
            .await?;
        let arns = out
            .listeners()
            .iter()
            .filter(|l| l.port() == Some(i32::from(port)))
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        self.own(arns, resource_id).await
    }

    /// The one of `candidates` whose tags make it `resource_id` of this instance.
    async fn own(
        &self,
        candidates: Vec<String>,
        resource_id: &str,
    ) -> Result<Option<String>, ApplyError> {
        if candidates.is_empty() {
            return Ok(None);
        }
        let tags = describe_tags(self.clients, candidates.iter().map(String::as_str))
            .await
            .map_err(|e| ApplyError::Other(e.to_string()))?;
        let mine = candidates.into_iter().find(|arn| {
            tags.get(arn).is_some_and(|t| {
                t.get(identity::INSTANCE).map(String::as_str) == Some(self.instance_id)
                    && t.get(identity::RESOURCE).map(String::as_str) == Some(resource_id)
            })
        });
        if let Some(arn) = &mine {
            tracing::info!(%arn, resource = resource_id, "adopted what an earlier attempt of this create made");
        }
        Ok(mine)
    }
}
