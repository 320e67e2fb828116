//! Load balancers: create (with its attributes when the model carries them), security
//! groups, subnets, attributes, user tags (of target groups too), delete.

use super::adopt::gone;
use super::{Applier, ApplyError, Outcome};
use crate::alb::{LoadBalancer, identity};
use crate::aws::requests;
use crate::plan::TaggedResource;
use aws_sdk_elasticloadbalancingv2::types as sdk;
use std::collections::BTreeMap;

impl Applier<'_> {
    pub(super) async fn create_load_balancer(
        &mut self,
        lb: &LoadBalancer,
    ) -> Result<Outcome, ApplyError> {
        if self.ids.load_balancers.contains_key(&lb.gateway) {
            return Ok(Outcome::AlreadyExists);
        }
        let tags = requests::create_tags(
            self.instance_id,
            &identity::load_balancer_id(&lb.gateway),
            None,
            &lb.tags,
        )?;
        let scheme = match lb.scheme {
            crate::alb::Scheme::Internal => sdk::LoadBalancerSchemeEnum::Internal,
            crate::alb::Scheme::InternetFacing => sdk::LoadBalancerSchemeEnum::InternetFacing,
        };
        let ip_address_type = match lb.ip_address_type {
            crate::alb::IpAddressType::Ipv4 => sdk::IpAddressType::Ipv4,
            crate::alb::IpAddressType::Dualstack => sdk::IpAddressType::Dualstack,
            crate::alb::IpAddressType::DualstackWithoutPublicIpv4 => {
                sdk::IpAddressType::DualstackWithoutPublicIpv4
            }
        };
        let call = self
            .clients
            .elb
            .create_load_balancer()
            .name(&lb.name)
            .r#type(sdk::LoadBalancerTypeEnum::Application)
            .scheme(scheme)
            .ip_address_type(ip_address_type)
            .set_subnets(Some(requests::subnet_ids(&lb.subnets)?))
            .set_security_groups(
                (!lb.security_groups.is_empty()).then(|| lb.security_groups.clone()),
            )
            .set_tags(Some(tags));
        let out = self.write("CreateLoadBalancer", call.send()).await?;
        let created = out
            .load_balancers()
            .first()
            .ok_or_else(|| ApplyError::Other("CreateLoadBalancer returned nothing".into()))?;
        let arn = created
            .load_balancer_arn()
            .ok_or_else(|| ApplyError::Other("CreateLoadBalancer returned no ARN".into()))?
            .to_owned();
        self.ids
            .load_balancers
            .insert(lb.gateway.clone(), arn.clone());
        if let Some(vpc) = created.vpc_id() {
            self.ids.vpcs.insert(lb.gateway.clone(), vpc.to_owned());
        }
        if !lb.attributes.is_empty() {
            self.set_load_balancer_attributes(&arn, &lb.attributes)
                .await?;
        }
        Ok(Outcome::Done)
    }

    pub(super) async fn set_security_groups(
        &mut self,
        gateway: &str,
        security_groups: &[String],
    ) -> Result<Outcome, ApplyError> {
        let arn = self.load_balancer_arn(gateway)?;
        let call = self
            .clients
            .elb
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(security_groups.to_vec()));
        self.write("SetSecurityGroups", call.send()).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn set_subnets(
        &mut self,
        gateway: &str,
        subnets: &[String],
    ) -> Result<Outcome, ApplyError> {
        let arn = self.load_balancer_arn(gateway)?;
        let call = self
            .clients
            .elb
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(requests::subnet_ids(subnets)?));
        self.write("SetSubnets", call.send()).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn modify_load_balancer_attributes(
        &mut self,
        gateway: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.load_balancer_arn(gateway)?;
        self.set_load_balancer_attributes(&arn, attributes).await?;
        Ok(Outcome::Done)
    }

    /// `AddTags` and `RemoveTags`, each only when it has something to do.
    pub(super) async fn set_tags(
        &mut self,
        resource: &TaggedResource,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<Outcome, ApplyError> {
        let arn = match resource {
            TaggedResource::LoadBalancer { gateway } => self.load_balancer_arn(gateway)?,
            TaggedResource::TargetGroup { gateway, backend } => {
                self.target_group_arn(gateway, backend)?
            }
        };
        let add = requests::user_tags(add)?;
        for key in remove {
            requests::check_user_tag_key(key)?;
        }
        if !add.is_empty() {
            let call = self
                .clients
                .elb
                .add_tags()
                .resource_arns(&arn)
                .set_tags(Some(add));
            self.write("AddTags", call.send()).await?;
        }
        if !remove.is_empty() {
            let call = self
                .clients
                .elb
                .remove_tags()
                .resource_arns(&arn)
                .set_tag_keys(Some(remove.to_vec()));
            self.write("RemoveTags", call.send()).await?;
        }
        Ok(Outcome::Done)
    }

    /// AWS deletes its listeners and rules with it; target groups stay.
    pub(super) async fn delete_load_balancer(
        &mut self,
        gateway: &str,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.load_balancer_arn(gateway)?;
        let call = self
            .clients
            .elb
            .delete_load_balancer()
            .load_balancer_arn(arn);
        if let Err(e) = self.write("DeleteLoadBalancer", call.send()).await
            && !gone(&e)
        {
            return Err(e);
        }
        self.ids.load_balancers.remove(gateway);
        self.ids.vpcs.remove(gateway);
        self.ids.listeners.retain(|(g, _), _| g != gateway);
        self.forget_rules(&super::rule_id_prefix(gateway, None));
        Ok(Outcome::Done)
    }

    async fn set_load_balancer_attributes(
        &self,
        arn: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        let call = self
            .clients
            .elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(requests::attributes_lb(attributes)));
        self.write("ModifyLoadBalancerAttributes", call.send())
            .await
            .map(|_| ())
    }
}
