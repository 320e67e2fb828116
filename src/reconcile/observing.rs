//! Observing for a plan: everything, or, in the daemon, only what the plan touches.
//!
//! The CLI reads everything gwsync owns for each plan ([`Observing::Everything`]). The daemon
//! keeps what it read last ([`ObservedCache`]) and, for a commit, reads again only the
//! listeners whose rules the plan changes and the target groups the plan changes or forwards
//! to, then plans again on what it read: every write is planned against what AWS had a moment
//! before. After its own apply it reads the parts the apply changed again before the next
//! plan (so the next plan starts from AWS's answer, not from what gwsync meant to write).
//! Everything is read again when the cache cannot vouch for the plan:
//! - at start, on the drift timer (the caller forgets the cache), after a failed apply,
//!   and when another process (`gwsync apply`, `rollback`) applied since;
//! - when the plan changes a load balancer or a listener (rare; creating them needs the
//!   whole picture: after such an apply the caller reads everything at once, [`ObservedCache::warm`],
//!   so the next commit does not wait for it), or a refresh fails (a listener or target
//!   group deleted by hand);
//! - when a rule answers 500 for a reason only the whole account tells (a `TargetGroupName`
//!   that does not exist, lives in another VPC, or whose name is taken): it may have been
//!   made since the cache was read;
//! - when the second plan touches parts the first one did not.
//!
//! What this module must not do: decide the plan (the caller's `plan` does, the same for both
//! ways of observing) or write to AWS.

use super::LivePlan;
use crate::alb::Stack;
use crate::aws::AwsIds;
use crate::aws::apply::ApplyReport;
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use crate::aws::observe::{Parts, Reading};
use crate::plan::{HeldBack, Observed, Operation, Plan, TaggedResource, Unusable};
use crate::store::{Store, StoreError};

/// How a plan observes AWS.
pub enum Observing<'a> {
    /// Read everything gwsync owns.
    Everything,
    /// Read again what the plan touches, from the cache (everything when it cannot vouch).
    Cached(&'a mut ObservedCache),
}

/// How the last plan observed AWS: for the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Everything was read.
    Full,
    /// Only what the plan touches was read again: so many listeners and target groups.
    Incremental {
        listeners: usize,
        target_groups: usize,
    },
}

impl Observation {
    /// `full` or `incremental`, for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Observation::Full => "full",
            Observation::Incremental { .. } => "incremental",
        }
    }
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observation::Full => f.write_str("everything gwsync owns read"),
            Observation::Incremental {
                listeners,
                target_groups,
            } => write!(
                f,
                "read again only what the plan touches: {listeners} listener(s), {target_groups} target group(s)"
            ),
        }
    }
}

/// What the daemon read from AWS last, kept between reconciles.
#[derive(Default)]
pub struct ObservedCache {
    reading: Option<Reading>,
    /// What this process's last apply changed: read again before the next plan.
    dirty: Parts,
    /// The newest apply in the store when the reading was last brought up to date: an apply
    /// by another process after it makes the reading untrustworthy.
    apply_seen: Option<i64>,
    last: Option<Observation>,
}

impl ObservedCache {
    /// Reads everything at the next plan (the drift timer, a new configuration).
    pub fn forget(&mut self) {
        self.reading = None;
        self.dirty = Parts::default();
    }

    /// How the last plan observed AWS.
    pub fn last(&self) -> Option<Observation> {
        self.last
    }

    /// How the plans since the last call observed AWS (the last one), once.
    pub fn take_last(&mut self) -> Option<Observation> {
        self.last.take()
    }

    /// Forgets the reading when anyone else applied since it was brought up to date. The
    /// caller holds the apply lease, so nobody applies between this and its own apply.
    pub async fn account_for_applies(&mut self, store: &Store) -> Result<(), StoreError> {
        let newest = store.newest_apply().await?;
        if self.reading.is_some() && newest != self.apply_seen {
            tracing::info!("another process applied since AWS was read: reading everything");
            self.forget();
        }
        self.apply_seen = newest;
        Ok(())
    }

    /// Takes in what this process's apply of `plan` did: the parts it changed are read again
    /// before the next plan; a failed apply, or one that changed load balancers or
    /// listeners, means reading everything. `ids` are as the apply left them (with the ARNs
    /// of what it created); `newest` is the store's newest apply, this one.
    pub fn applied(&mut self, plan: &Plan, ids: &AwsIds, succeeded: bool, newest: Option<i64>) {
        self.apply_seen = newest;
        match touched(plan, ids).filter(|_| succeeded) {
            Some(mut parts) => {
                // What was deleted is gone: dropped from the reading, not read.
                parts.deleted_target_groups = deleted_target_groups(plan, ids);
                parts.target_groups = &parts.target_groups - &parts.deleted_target_groups;
                self.dirty.extend(parts);
            }
            None => self.forget(),
        }
    }

    /// Takes in how this process's apply of `plan` went: its report ([`ObservedCache::applied`],
    /// with the store's newest apply, this one), or None when the apply could not be
    /// recorded, and then what it changed is unknown: the reading is forgotten.
    pub async fn take_in_apply(
        &mut self,
        store: &Store,
        plan: &Plan,
        ids: &AwsIds,
        report: Option<&ApplyReport>,
    ) -> Result<(), StoreError> {
        match report {
            Some(report) => {
                let newest = store.newest_apply().await?;
                self.applied(plan, ids, report.succeeded(), newest);
            }
            None => self.forget(),
        }
        Ok(())
    }

    /// Reads everything now when the cache has nothing (after an apply that changed load
    /// balancers or listeners), so that the next commit's plan does not wait for it. A
    /// failure is logged: the next plan reads everything itself.
    pub async fn warm(&mut self, clients: &Clients, instance_id: &str, desired: &Stack) {
        if self.reading.is_some() {
            return;
        }
        match Reading::read_for(clients, instance_id, desired).await {
            Ok(reading) => self.reading = Some(reading),
            Err(error) => {
                tracing::info!(%error, "reading AWS after the apply failed: the next plan reads everything")
            }
        }
    }

    /// The plan towards `desired` that `plan` computes from the observed state: from the
    /// cache where it can vouch for it, else from everything read again.
    pub async fn plan(
        &mut self,
        clients: &Clients,
        instance_id: &str,
        desired: &Stack,
        plan: impl Fn(Observed, AwsIds) -> LivePlan,
    ) -> Result<LivePlan, AwsError> {
        if self.reading.is_some() {
            match self.incremental(clients, desired, &plan).await {
                Ok(Some((live, parts))) => {
                    self.last = Some(Observation::Incremental {
                        listeners: parts.listeners.len(),
                        target_groups: parts.target_groups.len(),
                    });
                    return Ok(live);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::info!(%error, "reading again what the plan touches failed: reading everything");
                }
            }
        }
        self.forget();
        let reading = Reading::read_for(clients, instance_id, desired).await?;
        let (observed, ids) = reading.assemble()?;
        self.reading = Some(reading);
        self.last = Some(Observation::Full);
        Ok(plan(observed, ids))
    }

    /// The plan from the cache with what it touches read again, and those parts; None when
    /// the cache cannot vouch for it (see the module doc).
    async fn incremental(
        &mut self,
        clients: &Clients,
        desired: &Stack,
        plan: &impl Fn(Observed, AwsIds) -> LivePlan,
    ) -> Result<Option<(LivePlan, Parts)>, AwsError> {
        let dirty = std::mem::take(&mut self.dirty);
        if !dirty.is_empty() {
            refresh(&mut self.reading, clients, &dirty, desired).await?;
        }
        let Some(first) = self.plan_from_reading(plan)? else {
            return Ok(None);
        };
        let Some(parts) = vouched_for(&first) else {
            tracing::debug!("the plan needs the whole picture: reading everything");
            return Ok(None);
        };
        if parts.is_empty() {
            return Ok(Some((first, parts)));
        }
        refresh(&mut self.reading, clients, &parts, desired).await?;
        let Some(live) = self.plan_from_reading(plan)? else {
            return Ok(None);
        };
        match vouched_for(&live) {
            Some(again) if parts.covers(&again) => Ok(Some((live, parts))),
            _ => Ok(None),
        }
    }

    fn plan_from_reading(
        &self,
        plan: &impl Fn(Observed, AwsIds) -> LivePlan,
    ) -> Result<Option<LivePlan>, AwsError> {
        let Some(reading) = &self.reading else {
            return Ok(None);
        };
        let (observed, ids) = reading.assemble()?;
        Ok(Some(plan(observed, ids)))
    }
}

/// Reads `parts` again into the reading; a failure leaves no reading (it may be half
/// refreshed).
async fn refresh(
    reading: &mut Option<Reading>,
    clients: &Clients,
    parts: &Parts,
    desired: &Stack,
) -> Result<(), AwsError> {
    let Some(current) = reading.as_mut() else {
        return Ok(());
    };
    let result = current.refresh(clients, parts, desired).await;
    if result.is_err() {
        *reading = None;
    }
    result
}

/// The parts `live`'s plan touches, when the cache can vouch for a plan that touches them
/// (see the module doc).
fn vouched_for(live: &LivePlan) -> Option<Parts> {
    let needs_the_account = live.held_back.iter().any(|h| {
        matches!(
            h,
            HeldBack::RuleAnswers500 {
                cause: Unusable::Missing { .. }
                    | Unusable::OtherVpc { .. }
                    | Unusable::NameTaken { .. },
                ..
            }
        )
    });
    if needs_the_account {
        return None;
    }
    touched(&live.plan, &live.ids)
}

/// The listeners and target groups `plan` changes, and the owned target groups its new and
/// changed rules forward to, by ARN where AWS has them; None when it changes a load balancer
/// or a listener, or names one AWS does not have.
fn touched(plan: &Plan, ids: &AwsIds) -> Option<Parts> {
    let mut parts = Parts::default();
    let target_group = |gateway: &str, backend: &str| {
        ids.target_groups
            .get(&(gateway.to_string(), backend.to_string()))
            .cloned()
    };
    for change in &plan.changes {
        let listener = match &change.operation {
            Operation::CreateRule {
                gateway,
                port,
                rule,
                ..
            }
            | Operation::ModifyRule {
                gateway,
                port,
                rule,
                ..
            } => {
                parts.target_groups.extend(
                    rule.owned_backends()
                        .filter_map(|backend| target_group(gateway, backend)),
                );
                Some((gateway, port))
            }
            Operation::SetRulePriorities { gateway, port, .. }
            | Operation::DeleteRule { gateway, port, .. } => Some((gateway, port)),
            Operation::CreateTargetGroup {
                gateway,
                target_group: created,
            } => {
                // Not on AWS before the apply; after it, the new group.
                parts
                    .target_groups
                    .extend(target_group(gateway, &created.backend));
                None
            }
            Operation::ModifyTargetGroup {
                gateway, backend, ..
            }
            | Operation::ModifyTargetGroupAttributes {
                gateway, backend, ..
            }
            | Operation::RegisterTargets {
                gateway, backend, ..
            }
            | Operation::DeregisterTargets {
                gateway, backend, ..
            }
            | Operation::DeleteTargetGroup { gateway, backend }
            | Operation::SetTags {
                resource: TaggedResource::TargetGroup { gateway, backend },
                ..
            } => {
                parts.target_groups.insert(target_group(gateway, backend)?);
                None
            }
            _ => return None,
        };
        if let Some((gateway, port)) = listener {
            let arn = ids.listeners.get(&(gateway.clone(), *port))?;
            parts.listeners.insert(arn.clone());
        }
    }
    Some(parts)
}

/// The ARNs of the target groups `plan` deletes.
fn deleted_target_groups(plan: &Plan, ids: &AwsIds) -> std::collections::BTreeSet<String> {
    plan.changes
        .iter()
        .filter_map(|c| match &c.operation {
            Operation::DeleteTargetGroup { gateway, backend } => ids
                .target_groups
                .get(&(gateway.clone(), backend.clone()))
                .cloned(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::fixtures::{forward, host, rule};
    use crate::plan::{Change, ChangeAction, Reason};

    fn change(operation: Operation) -> Change {
        Change {
            address: String::new(),
            action: ChangeAction::Update,
            operation,
            before: None,
            after: None,
            reason: Reason::Differs {
                differences: Vec::new(),
            },
            owner: None,
        }
    }

    fn plan(operations: Vec<Operation>) -> Plan {
        Plan {
            version: crate::plan::PLAN_VERSION,
            commit: None,
            observed_fingerprint: String::new(),
            changes: operations.into_iter().map(change).collect(),
            notes: Vec::new(),
        }
    }

    fn ids() -> AwsIds {
        let mut ids = AwsIds::default();
        ids.listeners
            .insert(("gw".into(), 80), "listener-80".into());
        ids.target_groups
            .insert(("gw".into(), "a/web:80".into()), "tg-web".into());
        ids.target_groups
            .insert(("gw".into(), "a/old:80".into()), "tg-old".into());
        ids
    }

    fn web_rule() -> crate::alb::Rule {
        rule(
            1,
            vec![host(&["a.example.com"])],
            vec![forward(&[("a/web:80", 1)])],
        )
    }

    #[test]
    fn rule_changes_touch_their_listener_and_the_groups_they_forward_to() {
        let plan = plan(vec![
            Operation::CreateRule {
                gateway: "gw".into(),
                port: 80,
                id: "r1".into(),
                rule: web_rule(),
            },
            Operation::DeleteTargetGroup {
                gateway: "gw".into(),
                backend: "a/old:80".into(),
            },
        ]);
        let parts = touched(&plan, &ids()).expect("rules and target groups only");
        assert_eq!(parts.listeners, ["listener-80".to_string()].into());
        assert_eq!(
            parts.target_groups,
            ["tg-old".to_string(), "tg-web".to_string()].into()
        );
        assert_eq!(
            deleted_target_groups(&plan, &ids()),
            ["tg-old".to_string()].into()
        );
    }

    #[test]
    fn listener_and_load_balancer_changes_need_everything() {
        let listener = plan(vec![Operation::DeleteListener {
            gateway: "gw".into(),
            port: 80,
        }]);
        assert_eq!(touched(&listener, &ids()), None);
        let unknown_listener = plan(vec![Operation::DeleteRule {
            gateway: "gw".into(),
            port: 443,
            id: "r1".into(),
        }]);
        assert_eq!(touched(&unknown_listener, &ids()), None);
    }

    #[test]
    fn a_target_group_not_yet_created_is_read_after_the_apply_only() {
        let created = crate::alb::fixtures::target_group("a/new:80");
        let plan = plan(vec![Operation::CreateTargetGroup {
            gateway: "gw".into(),
            target_group: created,
        }]);
        assert!(touched(&plan, &ids()).unwrap().is_empty());
        let mut after = ids();
        after
            .target_groups
            .insert(("gw".into(), "a/new:80".into()), "tg-new".into());
        let mut cache = ObservedCache::default();
        cache.applied(&plan, &after, true, Some(7));
        assert_eq!(cache.dirty.target_groups, ["tg-new".to_string()].into());
        cache.applied(&plan, &after, false, Some(8));
        assert!(cache.dirty.is_empty(), "a failed apply forgets everything");
    }
}
