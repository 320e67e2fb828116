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
//! - Contains failures: a change that fails stops only the changes that depend on it (its
//!   load balancer's, listener's or target group's dependents; the later rule changes of the
//!   same team on that Gateway), reported as [`Outcome::Skipped`]; everything else goes on
//!   (see [`containment`]). One team's rule that AWS rejects never blocks another team.
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

mod adopt;
mod containment;
mod listeners;
mod load_balancers;
mod rules;
mod target_groups;

use super::AwsIds;
use super::client::Clients;
use super::error::CallError;
use super::requests::RequestError;
use crate::plan::{Change, ChangeAction, Operation, Plan, TaggedResource};
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use containment::Failed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

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
    /// Whose change it is, for a rule: `team payments, HTTPRoute payments/web rules[1]`; so
    /// that a failure names the team and the route, not only a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// The team (or `platform`) the change belongs to ([`crate::plan::Change::owner`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Whose change it is, in words: its team, and the route when it carries a rule.
fn about(change: &Change) -> Option<String> {
    let team = change
        .owner
        .as_deref()
        .filter(|o| *o != crate::alb::identity::PLATFORM_OWNER)
        .map(|o| format!("team {o}"));
    let source = match &change.operation {
        Operation::CreateRule { rule, .. } | Operation::ModifyRule { rule, .. } => {
            rule.source.as_ref().map(crate::alb::render::source)
        }
        _ => None,
    };
    let parts: Vec<String> = team.into_iter().chain(source).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "message", rename_all = "kebab-case")]
pub enum Outcome {
    /// Applied.
    Done,
    /// A create whose resource is already known by its identity: nothing was sent.
    AlreadyExists,
    /// The change failed (AWS said no, or the request could not be built); the changes that
    /// depend on it were not attempted.
    Failed(String),
    /// Not attempted: a change it depends on failed.
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

    /// The last line of [`ApplyReport::render`]: how many changes did what.
    pub fn summary(&self) -> String {
        let done = self.count(|o| *o == Outcome::Done);
        let exists = self.count(|o| *o == Outcome::AlreadyExists);
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| *o == Outcome::Skipped);
        format!(
            "Apply {}: {done} done, {exists} already there, {failed} failed, {skipped} not attempted.",
            if self.succeeded() {
                "succeeded"
            } else {
                "FAILED"
            }
        )
    }
}

impl ChangeResult {
    /// One line: what happened to the change, e.g. `done     create  platform/public/…`.
    pub fn line(&self) -> String {
        let action = match self.action {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Move => "move",
            ChangeAction::Delete => "delete",
        };
        let (label, detail) = match &self.outcome {
            Outcome::Done => ("done", String::new()),
            Outcome::AlreadyExists => ("exists", " (already there, not created again)".into()),
            Outcome::Failed(message) => ("FAILED", format!(": {message}")),
            Outcome::Skipped => (
                "skipped",
                " (not attempted: a change it depends on failed)".into(),
            ),
        };
        let about = self
            .about
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        format!("{label:<8} {action:<7} {}{about}{detail}", self.address)
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "  {}", r.line())?;
        }
        f.write_str(&self.summary())
    }
}

/// One change done (or failed, or skipped), as [`apply_with_progress`] reports it.
pub struct Progress<'a> {
    /// Changes done so far, this one included.
    pub done: usize,
    pub total: usize,
    pub result: &'a ChangeResult,
}

/// Hears about each change as it completes (the CLI streams them).
pub type OnProgress<'a> = &'a mut (dyn FnMut(Progress<'_>) + Send);

/// Executes `plan`'s changes (see the module doc for the order and the failure rules),
/// extending `ids` with what it creates. `instance_id` goes into every created resource's
/// `gwsync.dev/instance` tag.
pub async fn apply(
    clients: &Clients,
    plan: &Plan,
    ids: &mut AwsIds,
    instance_id: &str,
) -> ApplyReport {
    apply_with_progress(clients, plan, ids, instance_id, &mut |_| {}).await
}

/// [`apply`], telling `progress` about each change as it completes.
pub async fn apply_with_progress(
    clients: &Clients,
    plan: &Plan,
    ids: &mut AwsIds,
    instance_id: &str,
    progress: OnProgress<'_>,
) -> ApplyReport {
    let order = execution_order(plan, ids);
    let mut applier = Applier {
        clients,
        ids,
        instance_id,
    };
    let mut failed = Failed::default();
    let mut report = ApplyReport::default();
    for index in order {
        let change = &plan.changes[index];
        let outcome = if let Some(unit) = failed.blocking(&change.operation) {
            tracing::warn!(address = %change.address, ?unit, "change not attempted: it depends on a change that failed");
            Outcome::Skipped
        } else {
            match applier.execute(&change.operation).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    failed.record(&change.operation);
                    Outcome::Failed(error.to_string())
                }
            }
        };
        match &outcome {
            Outcome::Failed(message) => {
                tracing::error!(address = %change.address, about = ?about(change), %message, "change failed")
            }
            Outcome::Skipped => {}
            _ => tracing::info!(address = %change.address, outcome = ?outcome, "change applied"),
        }
        report.results.push(ChangeResult {
            index,
            address: change.address.clone(),
            action: change.action,
            outcome,
            about: about(change),
            owner: change.owner.clone(),
        });
        progress(Progress {
            done: report.results.len(),
            total: plan.changes.len(),
            result: report.results.last().expect("just pushed"),
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

/// Why one change failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApplyError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No ARN for this identity: not created by gwsync, or not observed. Never guessed.
    #[error("{0} is not known to gwsync (not owned, or not observed); nothing was sent")]
    Unknown(String),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    LeaseEnding(#[from] crate::aws::client::WindowClosed),
    #[error("{0}")]
    Other(String),
}

pub(super) struct Applier<'a> {
    pub(super) clients: &'a Clients,
    pub(super) ids: &'a mut AwsIds,
    pub(super) instance_id: &'a str,
}

impl Applier<'_> {
    /// A call that changes something, once the write rate limit lets it go. The SDK's
    /// futures do nothing until polled, so the request is only sent after the wait.
    pub(super) async fn write<T, E>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ApplyError>
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        self.clients.write().await?;
        call.await.map_err(|e| CallError::new(operation, &e).into())
    }

    /// A describe call, patiently ([`Clients::read_call`]).
    pub(super) async fn read<T, E, F, Fut>(
        &self,
        operation: &'static str,
        call: F,
    ) -> Result<T, ApplyError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        Ok(self.clients.read_call(operation, call).await?)
    }

    /// One change, by the executor of its resource kind.
    async fn execute(&mut self, op: &Operation) -> Result<Outcome, ApplyError> {
        match op {
            Operation::CreateTargetGroup {
                gateway,
                target_group,
            } => self.create_target_group(gateway, target_group).await,
            Operation::ModifyTargetGroup {
                gateway,
                backend,
                health_check,
            } => {
                self.modify_target_group(gateway, backend, health_check)
                    .await
            }
            Operation::ModifyTargetGroupAttributes {
                gateway,
                backend,
                attributes,
            } => {
                self.modify_target_group_attributes(gateway, backend, attributes)
                    .await
            }
            Operation::RegisterTargets {
                gateway,
                backend,
                targets,
            } => self.register_targets(gateway, backend, targets).await,
            Operation::DeregisterTargets {
                gateway,
                backend,
                targets,
            } => self.deregister_targets(gateway, backend, targets).await,
            Operation::DeleteTargetGroup { gateway, backend } => {
                self.delete_target_group(gateway, backend).await
            }
            Operation::CreateLoadBalancer { load_balancer } => {
                self.create_load_balancer(load_balancer).await
            }
            Operation::SetSecurityGroups {
                gateway,
                security_groups,
            } => self.set_security_groups(gateway, security_groups).await,
            Operation::SetSubnets { gateway, subnets } => self.set_subnets(gateway, subnets).await,
            Operation::ModifyLoadBalancerAttributes {
                gateway,
                attributes,
            } => {
                self.modify_load_balancer_attributes(gateway, attributes)
                    .await
            }
            Operation::SetTags {
                resource,
                add,
                remove,
            } => self.set_tags(resource, add, remove).await,
            Operation::DeleteLoadBalancer { gateway } => self.delete_load_balancer(gateway).await,
            Operation::CreateListener { gateway, listener } => {
                self.create_listener(gateway, listener).await
            }
            Operation::ModifyListener { gateway, listener } => {
                self.modify_listener(gateway, listener).await
            }
            Operation::DeleteListener { gateway, port } => {
                self.delete_listener(gateway, *port).await
            }
            Operation::CreateRule {
                gateway,
                port,
                id,
                rule,
            } => self.create_rule(gateway, *port, id, rule).await,
            Operation::ModifyRule {
                gateway, id, rule, ..
            } => self.modify_rule(gateway, id, rule).await,
            Operation::SetRulePriorities { priorities, .. } => {
                self.set_rule_priorities(priorities).await
            }
            Operation::DeleteRule { id, .. } => self.delete_rule(id).await,
        }
    }

    /// The VPC of a gateway's load balancer: known from observe or from creating it, or read
    /// back once.
    pub(super) async fn vpc_of(&mut self, gateway: &str) -> Result<String, ApplyError> {
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
        let out = self
            .read("DescribeLoadBalancers", || call.clone().send())
            .await?;
        let vpc = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.vpc_id())
            .ok_or_else(|| ApplyError::Other(format!("load balancer {arn} has no VPC")))?
            .to_owned();
        self.ids.vpcs.insert(gateway.to_owned(), vpc.clone());
        Ok(vpc)
    }

    pub(super) fn load_balancer_arn(&self, gateway: &str) -> Result<String, ApplyError> {
        self.ids
            .load_balancers
            .get(gateway)
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("load balancer of {gateway}")))
    }

    pub(super) fn target_group_arn(
        &self,
        gateway: &str,
        backend: &str,
    ) -> Result<String, ApplyError> {
        self.ids
            .target_groups
            .get(&(gateway.to_owned(), backend.to_owned()))
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("target group {backend} of {gateway}")))
    }

    pub(super) fn rule_arn(&self, id: &str) -> Result<String, ApplyError> {
        self.ids
            .rules
            .get(id)
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("rule {id}")))
    }

    pub(super) fn forget_rules(&mut self, prefix: &str) {
        self.ids.rules.retain(|id, _| !id.starts_with(prefix));
    }
}

/// The prefix of the rule ids of a gateway's listener (or of all its listeners), following
/// the tag scheme in `tags` (`rule/<gateway>/<port>/<hash>`).
pub(super) fn rule_id_prefix(gateway: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("rule/{gateway}/{port}/"),
        None => format!("rule/{gateway}/"),
    }
}

/// Model numbers (ports, priorities, seconds) as the SDK's `i32`; translate keeps them far
/// below the limit.
pub(super) fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::{Action, Listener, LoadBalancer, Protocol, TargetGroup, fixtures};
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
            owner: None,
        }
    }

    fn tg(backend: &str) -> TargetGroup {
        fixtures::target_group(backend)
    }

    fn lb(gateway: &str) -> LoadBalancer {
        fixtures::load_balancer(gateway, vec![])
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
            about: None,
            owner: None,
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

        // A rule's failure names its team and route.
        let named = ApplyReport {
            results: vec![ChangeResult {
                about: Some("team orders, HTTPRoute orders/api rules[0]".into()),
                ..result(
                    0,
                    Outcome::Failed("CreateRule failed: PriorityInUse: taken".into()),
                )
            }],
        };
        assert!(
            named.render().contains(
                "FAILED   create  g/x/0 (team orders, HTTPRoute orders/api rules[0]): CreateRule failed"
            ),
            "{}",
            named.render()
        );
    }
}
