//! Apply: executes a [`Plan`]'s changes against AWS, one SDK call (or a few, see below) per
//! change, and reports what happened to each.
//!
//! What it does:
//! - Runs the changes in plan order, each call after the clients' rate limit lets it go
//!   (`Clients::write` for changes, `Clients::read` for the rare describe).
//! - Finds every resource by its identity in [`AwsIds`] (filled by `observe`) and never acts
//!   on an ARN that is not there: that is how gwsync never touches what it does not own.
//!   Forwards may name existing target groups (by name, from `AwsIds`), but only as targets.
//! - Extends `AwsIds` with every ARN it creates (and forgets every ARN it deletes), so that
//!   later changes of the same plan, and a rerun after a failure, find them.
//! - Is idempotent: before each create, a resource whose identity is already in `AwsIds` is
//!   not created again (reported as [`Outcome::AlreadyExists`]), never twinned.
//! - Isolates gateways: on an error, the failing gateway's remaining changes are not
//!   attempted ([`Outcome::Skipped`]); other gateways go on. One team's broken listener does
//!   not freeze every other load balancer.
//!
//! **The one exception to plan order.** A target group is created in a VPC, and the VPC of
//! a load balancer that this same plan creates is only known once `CreateLoadBalancer`
//! returns. So the target group changes of such a gateway (which the plan puts first, as
//! AWS requires a target group before a rule can forward to it) run right after that
//! gateway's `CreateLoadBalancer` instead, still before its listeners and rules. For a
//! load balancer that already exists the VPC is in `AwsIds::vpcs` (or is read back with
//! one `DescribeLoadBalancers`), and plan order holds. The report lists changes in the order
//! they ran, each with its index in the plan.
//!
//! Changes that take more than one call, because AWS splits what the model keeps together:
//! - `CreateLoadBalancer` / `CreateTargetGroup` also set the attributes (and, for target
//!   groups, register the targets) when the model they carry has any: the create calls
//!   cannot. (`diff` clears them and plans those calls as changes of their own; both work.)
//! - `CreateListener` / `ModifyListener` of an HTTPS listener with several certificates:
//!   the listener calls take only the default one; the others are added (and, on modify,
//!   stale ones removed after one `DescribeListenerCertificates`) with the listener
//!   certificate calls.
//! - `SetTags`: `AddTags` and `RemoveTags`, each only when it has something to do.
//! - `DeleteTargetGroup` retries for a short while when AWS still reports the target group
//!   in use by a load balancer that was deleted a moment ago.
//!
//! What it leaves to others: deciding what to change (`plan`), reading the live state
//! (`observe`), retries on throttling and 5xx (the SDK clients from `client`), refusing a
//! plan whose observed state is stale, and recording the report (`store`).

use super::AwsIds;
use super::client::Clients;
use super::requests::{self, RequestError};
use crate::alb::identity;
use crate::alb::{Listener, LoadBalancer, Protocol, Rule, TargetGroup, TargetType};
use crate::plan::{ChangeAction, Operation, Plan, TaggedResource};
use aws_sdk_elasticloadbalancingv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_elasticloadbalancingv2::types as sdk;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// What happened to each change of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    /// In the order the changes ran (plan order but for the target group exception, see the
    /// module doc), every change of the plan exactly once.
    pub results: Vec<ChangeResult>,
}

/// The outcome of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    /// The change's index in `Plan::changes`.
    pub index: usize,
    pub address: String,
    pub action: ChangeAction,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "message", rename_all = "kebab-case")]
pub enum Outcome {
    /// Applied.
    Done,
    /// A create whose resource is already known by its identity: nothing was sent.
    AlreadyExists,
    /// The change failed (AWS said no, or the request could not be built); its gateway's
    /// later changes were not attempted.
    Failed(String),
    /// Not attempted: an earlier change of the same gateway failed.
    Skipped,
}

impl ApplyReport {
    /// Whether every change was applied (or already was).
    pub fn succeeded(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Done | Outcome::AlreadyExists))
    }

    /// The results whose change failed.
    pub fn failures(&self) -> impl Iterator<Item = &ChangeResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }

    /// The human view: one line per change, then a summary line (newline-terminated).
    pub fn render(&self) -> String {
        format!("{self}\n")
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            let action = match r.action {
                ChangeAction::Create => "create",
                ChangeAction::Update => "update",
                ChangeAction::Move => "move",
                ChangeAction::Delete => "delete",
            };
            let (label, detail) = match &r.outcome {
                Outcome::Done => ("done", String::new()),
                Outcome::AlreadyExists => ("exists", " (already there, not created again)".into()),
                Outcome::Failed(message) => ("FAILED", format!(": {message}")),
                Outcome::Skipped => (
                    "skipped",
                    " (not attempted: an earlier change of this gateway failed)".into(),
                ),
            };
            writeln!(f, "  {label:<8} {action:<7} {}{detail}", r.address)?;
        }
        let done = self.count(|o| *o == Outcome::Done);
        let exists = self.count(|o| *o == Outcome::AlreadyExists);
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| *o == Outcome::Skipped);
        write!(
            f,
            "Apply {}: {done} done, {exists} already there, {failed} failed, {skipped} not attempted.",
            if self.succeeded() {
                "succeeded"
            } else {
                "FAILED"
            }
        )
    }
}

/// Executes `plan`'s changes (see the module doc for the order and the failure rules),
/// extending `ids` with what it creates. `instance_id` goes into every created resource's
/// `gwsync.dev/instance` tag.
pub async fn apply(
    clients: &Clients,
    plan: &Plan,
    ids: &mut AwsIds,
    instance_id: &str,
) -> ApplyReport {
    let order = execution_order(plan, ids);
    let mut applier = Applier {
        clients,
        ids,
        instance_id,
    };
    let mut failed_gateways = BTreeSet::new();
    let mut report = ApplyReport::default();
    for index in order {
        let change = &plan.changes[index];
        let gateway = gateway_of(&change.operation);
        let outcome = if failed_gateways.contains(gateway) {
            Outcome::Skipped
        } else {
            match applier.execute(&change.operation).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    failed_gateways.insert(gateway.to_owned());
                    Outcome::Failed(error.to_string())
                }
            }
        };
        match &outcome {
            Outcome::Failed(message) => {
                tracing::error!(address = %change.address, %message, "change failed")
            }
            Outcome::Skipped => {
                tracing::warn!(address = %change.address, "change not attempted")
            }
            _ => tracing::info!(address = %change.address, outcome = ?outcome, "change applied"),
        }
        report.results.push(ChangeResult {
            index,
            address: change.address.clone(),
            action: change.action,
            outcome,
        });
    }
    report
}

/// Plan order, except that the target group changes of a gateway whose load balancer this
/// plan creates (and whose VPC is therefore unknown) move to right after that
/// `CreateLoadBalancer`.
fn execution_order(plan: &Plan, ids: &AwsIds) -> Vec<usize> {
    let created_at: BTreeMap<&str, usize> = plan
        .changes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.operation {
            Operation::CreateLoadBalancer { load_balancer } => {
                Some((load_balancer.gateway.as_str(), i))
            }
            _ => None,
        })
        .collect();
    let mut deferred: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut order = Vec::with_capacity(plan.changes.len());
    for (i, change) in plan.changes.iter().enumerate() {
        if let Some(gateway) = target_group_gateway(&change.operation)
            && !ids.vpcs.contains_key(gateway)
            && !ids.load_balancers.contains_key(gateway)
            && let Some(&lb) = created_at.get(gateway)
            && lb > i
        {
            deferred.entry(lb).or_default().push(i);
            continue;
        }
        order.push(i);
        if let Some(after) = deferred.remove(&i) {
            order.extend(after);
        }
    }
    order
}

/// The gateway of a change that needs its target group to exist (or be created in a VPC).
fn target_group_gateway(op: &Operation) -> Option<&str> {
    match op {
        Operation::CreateTargetGroup { gateway, .. }
        | Operation::ModifyTargetGroup { gateway, .. }
        | Operation::ModifyTargetGroupAttributes { gateway, .. }
        | Operation::RegisterTargets { gateway, .. }
        | Operation::DeregisterTargets { gateway, .. }
        | Operation::SetTags {
            resource: TaggedResource::TargetGroup { gateway, .. },
            ..
        } => Some(gateway),
        _ => None,
    }
}

/// The gateway a change belongs to: the unit that stops on an error.
fn gateway_of(op: &Operation) -> &str {
    match op {
        Operation::CreateLoadBalancer { load_balancer } => &load_balancer.gateway,
        Operation::SetTags { resource, .. } => match resource {
            TaggedResource::LoadBalancer { gateway } => gateway,
            TaggedResource::TargetGroup { gateway, .. } => gateway,
        },
        Operation::CreateTargetGroup { gateway, .. }
        | Operation::ModifyTargetGroup { gateway, .. }
        | Operation::ModifyTargetGroupAttributes { gateway, .. }
        | Operation::RegisterTargets { gateway, .. }
        | Operation::DeregisterTargets { gateway, .. }
        | Operation::SetSecurityGroups { gateway, .. }
        | Operation::SetSubnets { gateway, .. }
        | Operation::ModifyLoadBalancerAttributes { gateway, .. }
        | Operation::CreateListener { gateway, .. }
        | Operation::ModifyListener { gateway, .. }
        | Operation::CreateRule { gateway, .. }
        | Operation::ModifyRule { gateway, .. }
        | Operation::SetRulePriorities { gateway, .. }
        | Operation::DeleteRule { gateway, .. }
        | Operation::DeleteListener { gateway, .. }
        | Operation::DeleteLoadBalancer { gateway }
        | Operation::DeleteTargetGroup { gateway, .. } => gateway,
    }
}

/// Why one change failed.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No ARN for this identity: not created by gwsync, or not observed. Never guessed.
    #[error("{0} is not known to gwsync (not owned, or not observed); nothing was sent")]
    Unknown(String),
    #[error("{operation}: {message}")]
    Aws {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

struct Applier<'a> {
    clients: &'a Clients,
    ids: &'a mut AwsIds,
    instance_id: &'a str,
}

/// Attempts at `DeleteTargetGroup` while AWS still counts the target group as in use (by a
/// load balancer deleted moments before), and the first pause between them (doubling).
const IN_USE_ATTEMPTS: u32 = 5;
const IN_USE_FIRST_PAUSE: Duration = Duration::from_secs(1);

impl Applier<'_> {
    /// A call that changes something, once the write rate limit lets it go. The SDK's
    /// futures do nothing until polled, so the request is only sent after the wait.
    async fn write<T, E>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ApplyError>
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        self.clients.write().await;
        call.await.map_err(|e| aws_error(operation, e))
    }

    /// A describe call, once the read rate limit lets it go.
    async fn read<T, E>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ApplyError>
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        self.clients.read().await;
        call.await.map_err(|e| aws_error(operation, e))
    }

    async fn execute(&mut self, op: &Operation) -> Result<Outcome, ApplyError> {
        match op {
            Operation::CreateTargetGroup {
                gateway,
                target_group,
            } => self.create_target_group(gateway, target_group).await,
            Operation::ModifyTargetGroup {
                gateway,
                backend,
                health_check: hc,
            } => {
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
            Operation::ModifyTargetGroupAttributes {
                gateway,
                backend,
                attributes,
            } => {
                let arn = self.target_group_arn(gateway, backend)?;
                self.set_target_group_attributes(&arn, attributes).await?;
                Ok(Outcome::Done)
            }
            Operation::RegisterTargets {
                gateway,
                backend,
                targets,
            } => {
                let arn = self.target_group_arn(gateway, backend)?;
                let call = self
                    .clients
                    .elb
                    .register_targets()
                    .target_group_arn(arn)
                    .set_targets(Some(requests::target_descriptions(targets)));
                self.write("RegisterTargets", call.send()).await?;
                Ok(Outcome::Done)
            }
            Operation::DeregisterTargets {
                gateway,
                backend,
                targets,
            } => {
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
            Operation::CreateLoadBalancer { load_balancer } => {
                self.create_load_balancer(load_balancer).await
            }
            Operation::SetSecurityGroups {
                gateway,
                security_groups,
            } => {
                let arn = self.load_balancer_arn(gateway)?;
                let call = self
                    .clients
                    .elb
                    .set_security_groups()
                    .load_balancer_arn(arn)
                    .set_security_groups(Some(security_groups.clone()));
                self.write("SetSecurityGroups", call.send()).await?;
                Ok(Outcome::Done)
            }
            Operation::SetSubnets { gateway, subnets } => {
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
            Operation::ModifyLoadBalancerAttributes {
                gateway,
                attributes,
            } => {
                let arn = self.load_balancer_arn(gateway)?;
                self.set_load_balancer_attributes(&arn, attributes).await?;
                Ok(Outcome::Done)
            }
            Operation::SetTags {
                resource,
                add,
                remove,
            } => {
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
                        .set_tag_keys(Some(remove.clone()));
                    self.write("RemoveTags", call.send()).await?;
                }
                Ok(Outcome::Done)
            }
            Operation::CreateListener { gateway, listener } => {
                self.create_listener(gateway, listener).await
            }
            Operation::ModifyListener { gateway, listener } => {
                self.modify_listener(gateway, listener).await
            }
            Operation::CreateRule {
                gateway,
                port,
                id,
                rule,
            } => self.create_rule(gateway, *port, id, rule).await,
            Operation::ModifyRule {
                gateway,
                port: _,
                id,
                rule,
            } => {
                let arn = self.rule_arn(id)?;
                let actions = requests::actions(&rule.actions, gateway, self.ids)?;
                let mut call = self
                    .clients
                    .elb
                    .modify_rule()
                    .rule_arn(arn)
                    // The conditions are the rule's identity and normally unchanged; sent
                    // anyway so that conditions edited by hand on AWS are put back.
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
            Operation::SetRulePriorities {
                gateway: _,
                port: _,
                priorities,
            } => {
                let pairs = priorities
                    .iter()
                    .map(|(id, priority)| {
                        Ok(sdk::RulePriorityPair::builder()
                            .rule_arn(self.rule_arn(id)?)
                            .priority(int(*priority))
                            .build())
                    })
                    .collect::<Result<Vec<_>, ApplyError>>()?;
                // One call for the whole listener: AWS applies the moves together.
                let call = self
                    .clients
                    .elb
                    .set_rule_priorities()
                    .set_rule_priorities(Some(pairs));
                self.write("SetRulePriorities", call.send()).await?;
                Ok(Outcome::Done)
            }
            Operation::DeleteRule { id, .. } => {
                let arn = self.rule_arn(id)?;
                let call = self.clients.elb.delete_rule().rule_arn(arn);
                self.write("DeleteRule", call.send()).await?;
                self.ids.rules.remove(id);
                Ok(Outcome::Done)
            }
            Operation::DeleteListener { gateway, port } => {
                let key = (gateway.clone(), *port);
                let arn = self
                    .ids
                    .listeners
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| ApplyError::Unknown(format!("listener {gateway}:{port}")))?;
                let call = self.clients.elb.delete_listener().listener_arn(arn);
                self.write("DeleteListener", call.send()).await?;
                // AWS deletes the listener's rules with it.
                self.ids.listeners.remove(&key);
                self.forget_rules(&rule_id_prefix(gateway, Some(*port)));
                Ok(Outcome::Done)
            }
            Operation::DeleteLoadBalancer { gateway } => {
                let arn = self.load_balancer_arn(gateway)?;
                let call = self
                    .clients
                    .elb
                    .delete_load_balancer()
                    .load_balancer_arn(arn);
                self.write("DeleteLoadBalancer", call.send()).await?;
                // AWS deletes its listeners and rules with it; target groups stay.
                self.ids.load_balancers.remove(gateway);
                self.ids.vpcs.remove(gateway);
                self.ids.listeners.retain(|(g, _), _| g != gateway);
                self.forget_rules(&rule_id_prefix(gateway, None));
                Ok(Outcome::Done)
            }
            Operation::DeleteTargetGroup { gateway, backend } => {
                let arn = self.target_group_arn(gateway, backend)?;
                self.delete_target_group(&arn).await?;
                self.ids
                    .target_groups
                    .remove(&(gateway.clone(), backend.clone()));
                Ok(Outcome::Done)
            }
        }
    }

    async fn create_target_group(
        &mut self,
        gateway: &str,
        tg: &TargetGroup,
    ) -> Result<Outcome, ApplyError> {
        let key = (gateway.to_owned(), tg.backend.clone());
        if self.ids.target_groups.contains_key(&key) {
            return Ok(Outcome::AlreadyExists);
        }
        let resource_id = identity::target_group_id(gateway, &tg.backend);
        let tags =
            requests::create_tags(self.instance_id, &resource_id, Some(&tg.backend), &tg.tags)?;
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
        let out = self.write("CreateTargetGroup", call.send()).await?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| ApplyError::Other("CreateTargetGroup returned no ARN".into()))?
            .to_owned();
        self.ids.target_groups.insert(key, arn.clone());
        if !tg.attributes.is_empty() {
            self.set_target_group_attributes(&arn, &tg.attributes)
                .await?;
        }
        if !tg.targets.is_empty() {
            let call = self
                .clients
                .elb
                .register_targets()
                .target_group_arn(&arn)
                .set_targets(Some(requests::target_descriptions(&tg.targets)));
            self.write("RegisterTargets", call.send()).await?;
        }
        Ok(Outcome::Done)
    }

    async fn create_load_balancer(&mut self, lb: &LoadBalancer) -> Result<Outcome, ApplyError> {
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

    async fn create_listener(
        &mut self,
        gateway: &str,
        listener: &Listener,
    ) -> Result<Outcome, ApplyError> {
        let key = (gateway.to_owned(), listener.port);
        if self.ids.listeners.contains_key(&key) {
            return Ok(Outcome::AlreadyExists);
        }
        let lb_arn = self.load_balancer_arn(gateway)?;
        let default_action = requests::actions(
            std::slice::from_ref(&listener.default_action),
            gateway,
            self.ids,
        )?;
        let tags = requests::create_tags(
            self.instance_id,
            &identity::listener_id(gateway, listener.port),
            None,
            &BTreeMap::new(),
        )?;
        let certificates = listener_certificates(listener)?;
        let mut call = self
            .clients
            .elb
            .create_listener()
            .load_balancer_arn(lb_arn)
            .protocol(requests::protocol(listener.protocol))
            .port(i32::from(listener.port))
            .set_default_actions(Some(default_action))
            .set_tags(Some(tags));
        if let Some((default, _)) = certificates.split_first() {
            call = call
                .certificates(requests::certificate(default))
                .set_ssl_policy(listener.ssl_policy.clone());
        }
        let out = self.write("CreateListener", call.send()).await?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| ApplyError::Other("CreateListener returned no ARN".into()))?
            .to_owned();
        self.ids.listeners.insert(key, arn.clone());
        if certificates.len() > 1 {
            self.add_listener_certificates(&arn, &certificates[1..])
                .await?;
        }
        Ok(Outcome::Done)
    }

    async fn modify_listener(
        &mut self,
        gateway: &str,
        listener: &Listener,
    ) -> Result<Outcome, ApplyError> {
        let arn = self
            .ids
            .listeners
            .get(&(gateway.to_owned(), listener.port))
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("listener {gateway}:{}", listener.port)))?;
        let default_action = requests::actions(
            std::slice::from_ref(&listener.default_action),
            gateway,
            self.ids,
        )?;
        let certificates = listener_certificates(listener)?;
        let mut call = self
            .clients
            .elb
            .modify_listener()
            .listener_arn(&arn)
            .protocol(requests::protocol(listener.protocol))
            .port(i32::from(listener.port))
            .set_default_actions(Some(default_action));
        if let Some((default, _)) = certificates.split_first() {
            call = call
                .certificates(requests::certificate(default))
                .set_ssl_policy(listener.ssl_policy.clone());
        }
        self.write("ModifyListener", call.send()).await?;

        let Some((default, extra)) = certificates.split_first() else {
            return Ok(Outcome::Done);
        };
        let have = self.extra_listener_certificates(&arn, default).await?;
        let want: BTreeSet<&String> = extra.iter().collect();
        let add: Vec<String> = extra
            .iter()
            .filter(|c| !have.contains(*c))
            .cloned()
            .collect();
        let remove: Vec<String> = have.iter().filter(|c| !want.contains(c)).cloned().collect();
        if !add.is_empty() {
            self.add_listener_certificates(&arn, &add).await?;
        }
        if !remove.is_empty() {
            let call = self
                .clients
                .elb
                .remove_listener_certificates()
                .listener_arn(&arn)
                .set_certificates(Some(
                    remove.iter().map(|c| requests::certificate(c)).collect(),
                ));
            self.write("RemoveListenerCertificates", call.send())
                .await?;
        }
        Ok(Outcome::Done)
    }

    async fn create_rule(
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
        let actions = requests::actions(&rule.actions, gateway, self.ids)?;
        let tags = requests::create_tags(self.instance_id, id, None, &BTreeMap::new())?;
        let call = self
            .clients
            .elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(int(rule.priority))
            .set_conditions(Some(requests::conditions(&rule.conditions)))
            .set_actions(Some(actions))
            .set_transforms(
                (!rule.transforms.is_empty()).then(|| requests::transforms(&rule.transforms)),
            )
            .set_tags(Some(tags));
        let out = self.write("CreateRule", call.send()).await?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .ok_or_else(|| ApplyError::Other("CreateRule returned no ARN".into()))?
            .to_owned();
        self.ids.rules.insert(id.to_owned(), arn);
        Ok(Outcome::Done)
    }

    async fn delete_target_group(&self, arn: &str) -> Result<(), ApplyError> {
        let mut pause = IN_USE_FIRST_PAUSE;
        for attempt in 1..=IN_USE_ATTEMPTS {
            let call = self.clients.elb.delete_target_group().target_group_arn(arn);
            match self.write("DeleteTargetGroup", call.send()).await {
                Err(ApplyError::Aws {
                    code: Some(code), ..
                }) if code == "ResourceInUse" && attempt < IN_USE_ATTEMPTS => {
                    tracing::info!(arn, ?pause, "target group still in use; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
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

    async fn add_listener_certificates(
        &self,
        arn: &str,
        certificates: &[String],
    ) -> Result<(), ApplyError> {
        let call = self
            .clients
            .elb
            .add_listener_certificates()
            .listener_arn(arn)
            .set_certificates(Some(
                certificates
                    .iter()
                    .map(|c| requests::certificate(c))
                    .collect(),
            ));
        self.write("AddListenerCertificates", call.send())
            .await
            .map(|_| ())
    }

    /// The listener's certificates other than its default one.
    async fn extra_listener_certificates(
        &self,
        arn: &str,
        default: &str,
    ) -> Result<BTreeSet<String>, ApplyError> {
        let mut out = BTreeSet::new();
        let mut marker = None;
        loop {
            let call = self
                .clients
                .elb
                .describe_listener_certificates()
                .listener_arn(arn)
                .set_marker(marker.take());
            let page = self
                .read("DescribeListenerCertificates", call.send())
                .await?;
            for c in page.certificates() {
                if let Some(cert) = c.certificate_arn()
                    && c.is_default() != Some(true)
                    && cert != default
                {
                    out.insert(cert.to_owned());
                }
            }
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The VPC of a gateway's load balancer: known from observe or from creating it, or read
    /// back once.
    async fn vpc_of(&mut self, gateway: &str) -> Result<String, ApplyError> {
        if let Some(vpc) = self.ids.vpcs.get(gateway) {
            return Ok(vpc.clone());
        }
        let Some(arn) = self.ids.load_balancers.get(gateway).cloned() else {
            return Err(ApplyError::Other(format!(
                "no VPC for the target group: the load balancer of {gateway} neither exists \
                 nor is created by this plan"
            )));
        };
        let call = self
            .clients
            .elb
            .describe_load_balancers()
            .load_balancer_arns(&arn);
        let out = self.read("DescribeLoadBalancers", call.send()).await?;
        let vpc = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.vpc_id())
            .ok_or_else(|| ApplyError::Other(format!("load balancer {arn} has no VPC")))?
            .to_owned();
        self.ids.vpcs.insert(gateway.to_owned(), vpc.clone());
        Ok(vpc)
    }

    fn load_balancer_arn(&self, gateway: &str) -> Result<String, ApplyError> {
        self.ids
            .load_balancers
            .get(gateway)
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("load balancer of {gateway}")))
    }

    fn target_group_arn(&self, gateway: &str, backend: &str) -> Result<String, ApplyError> {
        self.ids
            .target_groups
            .get(&(gateway.to_owned(), backend.to_owned()))
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("target group {backend} of {gateway}")))
    }

    fn rule_arn(&self, id: &str) -> Result<String, ApplyError> {
        self.ids
            .rules
            .get(id)
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("rule {id}")))
    }

    fn forget_rules(&mut self, prefix: &str) {
        self.ids.rules.retain(|id, _| !id.starts_with(prefix));
    }
}

/// The certificate ARNs an HTTPS listener is created or modified with (none for HTTP).
fn listener_certificates(listener: &Listener) -> Result<Vec<String>, ApplyError> {
    match listener.protocol {
        Protocol::Http => Ok(Vec::new()),
        Protocol::Https => {
            let arns = requests::certificate_arns(&listener.certificates)?;
            if arns.is_empty() {
                return Err(RequestError::NoCertificate.into());
            }
            Ok(arns)
        }
    }
}

/// The prefix of the rule ids of a gateway's listener (or of all its listeners), following
/// the tag scheme in `tags` (`rule/<gateway>/<port>/<hash>`).
fn rule_id_prefix(gateway: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("rule/{gateway}/{port}/"),
        None => format!("rule/{gateway}/"),
    }
}

fn aws_error<E>(operation: &'static str, error: E) -> ApplyError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let code = error.code().map(str::to_owned);
    // AWS's own words when it answered ("PriorityInUse: Priority '10' is currently in
    // use"); the whole error chain when it did not (connection, timeout, request building).
    let message = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => DisplayErrorContext(&error).to_string(),
    };
    ApplyError::Aws {
        operation,
        code,
        message,
    }
}

/// Model numbers (ports, priorities, seconds) as the SDK's `i32`; translate keeps them far
/// below the limit.
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::{Action, HealthCheck, IpAddressType, Matcher, ProtocolVersion, Scheme};
    use crate::plan::Change;

    fn change(address: &str, operation: Operation) -> Change {
        Change {
            address: address.into(),
            action: ChangeAction::Create,
            operation,
            before: None,
            after: None,
            reason: crate::plan::Reason::Differs {
                differences: vec![],
            },
        }
    }

    fn tg(backend: &str) -> TargetGroup {
        TargetGroup {
            backend: backend.into(),
            name: "tg".into(),
            protocol: Protocol::Http,
            protocol_version: ProtocolVersion::Http1,
            port: 80,
            target_type: TargetType::Ip,
            health_check: HealthCheck {
                protocol: Protocol::Http,
                port: "traffic-port".into(),
                path: "/".into(),
                interval_seconds: 15,
                timeout_seconds: 5,
                healthy_threshold: 3,
                unhealthy_threshold: 3,
                matcher: Matcher::HttpCode("200".into()),
            },
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
            targets: vec![],
        }
    }

    fn lb(gateway: &str) -> LoadBalancer {
        LoadBalancer {
            gateway: gateway.into(),
            name: "lb".into(),
            scheme: Scheme::Internal,
            ip_address_type: IpAddressType::Ipv4,
            subnets: vec![],
            security_groups: vec![],
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
            listeners: vec![],
            target_groups: vec![],
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            version: crate::plan::PLAN_VERSION,
            commit: None,
            observed_fingerprint: String::new(),
            changes,
            notes: vec![],
        }
    }

    fn create_tg(gateway: &str, backend: &str) -> Change {
        change(
            backend,
            Operation::CreateTargetGroup {
                gateway: gateway.into(),
                target_group: tg(backend),
            },
        )
    }

    #[test]
    fn target_groups_of_a_new_load_balancer_run_right_after_it() {
        let p = plan(vec![
            create_tg("a/new", "x:1"), // 0: deferred after 3
            create_tg("a/old", "y:1"), // 1: VPC known
            change(
                "reg",
                Operation::RegisterTargets {
                    gateway: "a/new".into(),
                    backend: "x:1".into(),
                    targets: vec![],
                },
            ), // 2: deferred after 3
            change(
                "lb",
                Operation::CreateLoadBalancer {
                    load_balancer: lb("a/new"),
                },
            ), // 3
            change(
                "listener",
                Operation::CreateListener {
                    gateway: "a/new".into(),
                    listener: Listener {
                        port: 80,
                        protocol: Protocol::Http,
                        ssl_policy: None,
                        certificates: vec![],
                        default_action: Action::fixed(404),
                        rules: vec![],
                    },
                },
            ), // 4
            create_tg("a/none", "z:1"), // 5: no load balancer anywhere: stays, fails at run
        ]);
        let mut ids = AwsIds::default();
        ids.vpcs.insert("a/old".into(), "vpc-1".into());
        ids.load_balancers.insert("a/old".into(), "arn:lb".into());
        assert_eq!(execution_order(&p, &ids), [1, 3, 0, 2, 4, 5]);

        // Already there (VPC known): plan order.
        ids.vpcs.insert("a/new".into(), "vpc-2".into());
        assert_eq!(execution_order(&p, &ids), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn report_renders_every_outcome_and_knows_success() {
        let result = |index, outcome| ChangeResult {
            index,
            address: format!("g/x/{index}"),
            action: ChangeAction::Create,
            outcome,
        };
        let ok = ApplyReport {
            results: vec![result(0, Outcome::Done), result(1, Outcome::AlreadyExists)],
        };
        assert!(ok.succeeded());
        let bad = ApplyReport {
            results: vec![
                result(0, Outcome::Done),
                result(1, Outcome::Failed("CreateRule: boom".into())),
                result(2, Outcome::Skipped),
            ],
        };
        assert!(!bad.succeeded());
        assert_eq!(bad.failures().count(), 1);
        let text = bad.render();
        assert!(
            text.contains("FAILED   create  g/x/1: CreateRule: boom"),
            "{text}"
        );
        assert!(text.contains("skipped  create  g/x/2"), "{text}");
        assert!(
            text.ends_with("Apply FAILED: 1 done, 0 already there, 1 failed, 1 not attempted.\n"),
            "{text}"
        );
        let json = serde_json::to_value(&bad).unwrap();
        assert_eq!(json["results"][1]["outcome"]["outcome"], "failed");
        assert_eq!(json["results"][1]["outcome"]["message"], "CreateRule: boom");
    }
}
