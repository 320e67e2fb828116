//! Target groups: create (with its attributes and targets when the model carries them), the
//! health check, attributes, targets, delete (retried while AWS still counts it in use).

use super::adopt::{gone, in_the_way};
use super::{Applier, ApplyError, Outcome, int};
use crate::alb::{HealthCheck, Target, TargetGroup, TargetType, identity};
use crate::aws::requests;
use aws_sdk_elasticloadbalancingv2::types as sdk;
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts at `DeleteTargetGroup` while AWS still counts the target group as in use (by a
/// load balancer deleted moments before), and the first pause between them (doubling).
const IN_USE_ATTEMPTS: u32 = 5;
const IN_USE_FIRST_PAUSE: Duration = Duration::from_secs(1);

impl Applier<'_> {
    pub(super) async fn create_target_group(
        &mut self,
        gateway: &str,
        tg: &TargetGroup,
    ) -> Result<Outcome, ApplyError> {
        let key = (gateway.to_owned(), tg.backend.clone());
        if self.ids.target_groups.contains_key(&key) {
            return Ok(Outcome::AlreadyExists);
        }
        let resource_id = identity::target_group_id(gateway, &tg.backend);
        let mut tags =
            requests::create_tags(self.instance_id, &resource_id, Some(&tg.backend), &tg.tags)?;
        tags.extend(tg.owner.as_deref().map(requests::owner_tag));
        let hc = &tg.health_check;
        let mut call = self
            .clients
            .elb
            .create_target_group()
            .name(&tg.name)
            .target_type(sdk::TargetTypeEnum::from(tg.target_type.as_str()))
            .health_check_protocol(requests::protocol(hc.protocol))
            .health_check_port(&hc.port)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(int(hc.interval_seconds))
            .health_check_timeout_seconds(int(hc.timeout_seconds))
            .healthy_threshold_count(int(hc.healthy_threshold))
            .unhealthy_threshold_count(int(hc.unhealthy_threshold))
            .matcher(requests::matcher(&hc.matcher))
            .set_tags(Some(tags));
        // Lambda target groups have no protocol, port or VPC.
        if tg.target_type != TargetType::Lambda {
            let vpc = self.vpc_of(gateway).await?;
            call = call
                .protocol(requests::protocol(tg.protocol))
                .protocol_version(tg.protocol_version.as_str())
                .port(i32::from(tg.port))
                .vpc_id(vpc);
        }
        let arn = match self.write("CreateTargetGroup", call.send()).await {
            Ok(out) => out
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .ok_or_else(|| ApplyError::Other("CreateTargetGroup returned no ARN".into()))?
                .to_owned(),
            Err(e) if in_the_way(&e) => self
                .own_target_group_named(&tg.name, &resource_id)
                .await?
                .ok_or(e)?,
            Err(e) => return Err(e),
        };
        self.ids.target_groups.insert(key, arn.clone());
        if !tg.attributes.is_empty() {
            self.set_target_group_attributes(&arn, &tg.attributes)
                .await?;
        }
        if !tg.targets.is_empty() {
            self.register_at(&arn, &tg.targets).await?;
        }
        Ok(Outcome::Done)
    }

    pub(super) async fn modify_target_group(
        &mut self,
        gateway: &str,
        backend: &str,
        hc: &HealthCheck,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.target_group_arn(gateway, backend)?;
        let call = self
            .clients
            .elb
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_protocol(requests::protocol(hc.protocol))
            .health_check_port(&hc.port)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(int(hc.interval_seconds))
            .health_check_timeout_seconds(int(hc.timeout_seconds))
            .healthy_threshold_count(int(hc.healthy_threshold))
            .unhealthy_threshold_count(int(hc.unhealthy_threshold))
            .matcher(requests::matcher(&hc.matcher));
        self.write("ModifyTargetGroup", call.send()).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn modify_target_group_attributes(
        &mut self,
        gateway: &str,
        backend: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.target_group_arn(gateway, backend)?;
        self.set_target_group_attributes(&arn, attributes).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn register_targets(
        &mut self,
        gateway: &str,
        backend: &str,
        targets: &[Target],
    ) -> Result<Outcome, ApplyError> {
        let arn = self.target_group_arn(gateway, backend)?;
        self.register_at(&arn, targets).await?;
        Ok(Outcome::Done)
    }

    /// `RegisterTargets` on the target group `arn` (a new one, or one found by identity).
    async fn register_at(&self, arn: &str, targets: &[Target]) -> Result<(), ApplyError> {
        let call = self
            .clients
            .elb
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(requests::target_descriptions(targets)));
        self.write("RegisterTargets", call.send()).await.map(|_| ())
    }

    pub(super) async fn deregister_targets(
        &mut self,
        gateway: &str,
        backend: &str,
        targets: &[Target],
    ) -> Result<Outcome, ApplyError> {
        let arn = self.target_group_arn(gateway, backend)?;
        let call = self
            .clients
            .elb
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(requests::target_descriptions(targets)));
        self.write("DeregisterTargets", call.send()).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn delete_target_group(
        &mut self,
        gateway: &str,
        backend: &str,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.target_group_arn(gateway, backend)?;
        self.delete_target_group_arn(&arn).await?;
        self.ids
            .target_groups
            .remove(&(gateway.to_owned(), backend.to_owned()));
        Ok(Outcome::Done)
    }

    async fn delete_target_group_arn(&self, arn: &str) -> Result<(), ApplyError> {
        let mut pause = IN_USE_FIRST_PAUSE;
        for attempt in 1..=IN_USE_ATTEMPTS {
            let call = self.clients.elb.delete_target_group().target_group_arn(arn);
            match self.write("DeleteTargetGroup", call.send()).await {
                Err(ApplyError::Call(e)) if e.is("ResourceInUse") && attempt < IN_USE_ATTEMPTS => {
                    tracing::info!(arn, ?pause, "target group still in use; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) if gone(&e) => return Ok(()),
                other => return other.map(|_| ()),
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn set_target_group_attributes(
        &self,
        arn: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        let call = self
            .clients
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(requests::attributes_tg(attributes)));
        self.write("ModifyTargetGroupAttributes", call.send())
            .await
            .map(|_| ())
    }
}
