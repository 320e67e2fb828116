//! Rules: create at their priority, modify (conditions, actions, transforms),
//! move (one `SetRulePriorities` per listener), delete.

use super::adopt::{gone, in_the_way};
use super::{Applier, ApplyError, Outcome, int};
use crate::alb::Rule;
use crate::aws::requests::{self, ActionsFor};
use aws_sdk_elasticloadbalancingv2::types as sdk;
use std::collections::BTreeMap;

impl Applier<'_> {
    pub(super) async fn create_rule(
        &mut self,
        gateway: &str,
        port: u16,
        id: &str,
        rule: &Rule,
    ) -> Result<Outcome, ApplyError> {
        if self.ids.rules.contains_key(id) {
            return Ok(Outcome::AlreadyExists);
        }
        let listener_arn = self
            .ids
            .listeners
            .get(&(gateway.to_owned(), port))
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("listener {gateway}:{port}")))?;
        let actions = requests::actions(&rule.actions, gateway, self.ids, ActionsFor::New)?;
        let mut tags = requests::create_tags(self.instance_id, id, None, &BTreeMap::new())?;
        tags.extend(rule.owner.as_deref().map(requests::owner_tag));
        tags.extend(rule.source.as_ref().map(requests::source_tag));
        let call = self
            .clients
            .elb
            .create_rule()
            .listener_arn(&listener_arn)
            .priority(int(rule.priority))
            .set_conditions(Some(requests::conditions(&rule.conditions)))
            .set_actions(Some(actions))
            .set_transforms(
                (!rule.transforms.is_empty()).then(|| requests::transforms(&rule.transforms)),
            )
            .set_tags(Some(tags));
        let arn = match self.write("CreateRule", call.send()).await {
            Ok(out) => out
                .rules()
                .first()
                .and_then(|r| r.rule_arn())
                .ok_or_else(|| ApplyError::Other("CreateRule returned no ARN".into()))?
                .to_owned(),
            Err(e) if in_the_way(&e) => self
                .own_rule_at(&listener_arn, rule.priority, id)
                .await?
                .ok_or(e)?,
            Err(e) => return Err(e),
        };
        self.ids.rules.insert(id.to_owned(), arn);
        Ok(Outcome::Done)
    }

    pub(super) async fn modify_rule(
        &mut self,
        gateway: &str,
        id: &str,
        rule: &Rule,
    ) -> Result<Outcome, ApplyError> {
        let arn = self.rule_arn(id)?;
        let actions = requests::actions(&rule.actions, gateway, self.ids, ActionsFor::Existing)?;
        let mut call = self
            .clients
            .elb
            .modify_rule()
            .rule_arn(arn)
            // The conditions: the route rule's new ones when they changed (the rule keeps
            // its identity by where it came from), else the same, which puts back conditions
            // edited by hand on AWS.
            .set_conditions(Some(requests::conditions(&rule.conditions)))
            .set_actions(Some(actions));
        // Transforms are replaced as a whole; none left means resetting them.
        call = if rule.transforms.is_empty() {
            call.reset_transforms(true)
        } else {
            call.set_transforms(Some(requests::transforms(&rule.transforms)))
        };
        self.write("ModifyRule", call.send()).await?;
        Ok(Outcome::Done)
    }

    /// One call for the whole listener: AWS applies the moves together.
    pub(super) async fn set_rule_priorities(
        &mut self,
        priorities: &[(String, u32)],
    ) -> Result<Outcome, ApplyError> {
        let pairs = priorities
            .iter()
            .map(|(id, priority)| {
                Ok(sdk::RulePriorityPair::builder()
                    .rule_arn(self.rule_arn(id)?)
                    .priority(int(*priority))
                    .build())
            })
            .collect::<Result<Vec<_>, ApplyError>>()?;
        let call = self
            .clients
            .elb
            .set_rule_priorities()
            .set_rule_priorities(Some(pairs));
        self.write("SetRulePriorities", call.send()).await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn delete_rule(&mut self, id: &str) -> Result<Outcome, ApplyError> {
        let arn = self.rule_arn(id)?;
        let call = self.clients.elb.delete_rule().rule_arn(arn);
        if let Err(e) = self.write("DeleteRule", call.send()).await
            && !gone(&e)
        {
            return Err(e);
        }
        self.ids.rules.remove(id);
        Ok(Outcome::Done)
    }
}
