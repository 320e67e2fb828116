//! Observe: the live ALB configuration that gwsync owns, read from AWS into the ALB model,
//! normalised so that an unchanged configuration compares equal to the desired one.
//!
//! [`observe`] finds owned resources by their tags (`alb::identity`), never by name: load
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
//! The stage has three parts: [`describe`] makes the calls (paged, rate-limited, concurrent
//! where independent), this module reads what is needed and then decides what is owned and
//! assembles the observed state, [`normalise`] turns SDK shapes
//! into the model, and [`certificates`] finds ACM certificates for listener hostnames
//! ([`find_certificates`] looks them up, [`resolve_certificates`] writes them into the
//! desired state).
//!
//! What is left to others: comparing (`plan`), changing anything (`apply`), and deciding
//! which hostnames need a certificate.
//!
//! Call budget: one DescribeLoadBalancers per 400 load balancers, one DescribeTargetGroups
//! per 400 target groups (the two at once), DescribeTags by 20 ARNs with target groups
//! filling each step's last call (`TagReads`), and per owned load balancer
//! one DescribeListeners and, for a plan only where the desired state sets attributes, one
//! DescribeLoadBalancerAttributes; per owned listener one
//! DescribeRules (400 rules a page, more than any listener holds), per HTTPS listener one
//! DescribeListenerCertificates; per owned target group one DescribeTargetGroupAttributes
//! and one DescribeTargetHealth, for a plan ([`observe_for`]) only where the desired state
//! sets attributes or targets (the diff compares nothing else: an attribute key the desired
//! state does not set is left as it is, and no desired targets means registration is left to
//! others). Independent calls run up to `describe::CONCURRENT_READS` at a time (listeners per
//! load balancer, rules per listener, tags by 20 ARNs, attributes and certificates), each after
//! a rate-limit permit; what needs an earlier answer waits for it (load balancers and target
//! groups, then listeners, then rules and details).

mod certificates;
mod describe;
mod normalise;

pub use certificates::{find_certificates, resolve_certificates};
use describe::TAGS_PER_CALL;
pub(crate) use describe::describe_tags;

use crate::alb::{Observed, Stack, TargetGroup, identity};
use crate::aws::AwsIds;
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use aws_sdk_elasticloadbalancingv2::types as elb;
use describe::{
    describe_lb_attributes, describe_listener_certificates, describe_listeners,
    describe_load_balancers, describe_rules, describe_target_groups, describe_target_groups_by_arn,
    describe_targets, describe_tg_attributes, each,
};
use normalise::{
    TargetGroupRefs, actions_model, listener_model, listener_port, load_balancer_model, owned_id,
    rule_model, rule_priority, split_target_group_id, target_group_model, unsupported_action,
};
use std::collections::{BTreeMap, BTreeSet};

/// Tags by ARN, as DescribeTags returns them.
type TagMap = BTreeMap<String, BTreeMap<String, String>>;

/// Which owned load balancers' attributes, and which owned target groups' attributes and
/// registered targets, are read.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    All,
    /// Those whose counterpart in this desired state sets attributes or targets.
    By(&'a Stack),
}

impl Wanted<'_> {
    /// Whether the load balancer of `gateway` has its attributes read: the diff compares
    /// only the keys the desired state sets.
    fn load_balancer_attributes(&self, gateway: &str) -> bool {
        match self {
            Wanted::All => true,
            Wanted::By(desired) => desired
                .load_balancer(gateway)
                .is_some_and(|lb| !lb.attributes.is_empty()),
        }
    }

    fn attributes(&self, gateway: &str, backend: &str) -> bool {
        self.wanted(gateway, backend, |tg| !tg.attributes.is_empty())
    }

    fn targets(&self, gateway: &str, backend: &str) -> bool {
        self.wanted(gateway, backend, |tg| !tg.targets.is_empty())
    }

    fn wanted(&self, gateway: &str, backend: &str, sets: impl Fn(&TargetGroup) -> bool) -> bool {
        match self {
            Wanted::All => true,
            Wanted::By(desired) => desired
                .load_balancer(gateway)
                .and_then(|lb| lb.target_groups.iter().find(|tg| tg.backend == backend))
                .is_some_and(sets),
        }
    }
}

/// `values[i]` by `arns[i]`.
fn by_arn<T>(arns: &[&str], values: Vec<T>) -> BTreeMap<String, T> {
    arns.iter().map(|a| a.to_string()).zip(values).collect()
}

/// What observe read from AWS, before it is assembled into the model ([`Reading::assemble`],
/// pure). The daemon keeps it between reconciles and reads again only the listeners and
/// target groups a plan touches ([`Reading::refresh`]), instead of everything.
pub struct Reading {
    instance_id: String,
    lbs: LoadBalancers,
    tgs: TargetGroups,
    listeners: Listeners,
    details: Details,
}

/// What [`Reading::refresh`] reads again, by ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// Owned listeners whose rules (and the tags of rules new to the reading) are read again.
    pub listeners: BTreeSet<String>,
    /// Target groups read again, with their tags and, where the desired state sets them,
    /// attributes and targets.
    pub target_groups: BTreeSet<String>,
    /// Target groups deleted since the reading: dropped from it without a call.
    pub deleted_target_groups: BTreeSet<String>,
}

impl Parts {
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
            && self.target_groups.is_empty()
            && self.deleted_target_groups.is_empty()
    }

    /// Whether every part of `other` is in this one.
    pub fn covers(&self, other: &Parts) -> bool {
        other.listeners.is_subset(&self.listeners)
            && other.target_groups.is_subset(&self.target_groups)
            && other
                .deleted_target_groups
                .is_subset(&self.deleted_target_groups)
    }

    pub fn extend(&mut self, other: Parts) {
        self.listeners.extend(other.listeners);
        self.target_groups.extend(other.target_groups);
        self.deleted_target_groups
            .extend(other.deleted_target_groups);
    }
}

impl Reading {
    /// Reads every resource `instance_id` owns; target group attributes and targets only
    /// where `wanted` asks for them.
    async fn read(
        clients: &Clients,
        instance_id: &str,
        wanted: Wanted<'_>,
    ) -> Result<Reading, AwsError> {
        let (all_lbs, all_tgs) = tokio::try_join!(
            describe_load_balancers(clients),
            describe_target_groups(clients)
        )?;
        let mut tags = TagReads::filling_with(
            all_tgs
                .iter()
                .filter_map(|tg| tg.target_group_arn())
                .collect(),
        );
        let lbs = LoadBalancers::read(clients, instance_id, all_lbs, &mut tags).await?;
        let listeners = Listeners::read(clients, instance_id, &lbs.owned, &mut tags).await?;
        let tg_tags = tags.finish(clients).await?;
        let tgs = TargetGroups::new(all_tgs, tg_tags);
        let classified = tgs.classify(instance_id)?;
        let details = Details::read(clients, &lbs, &listeners, &classified, wanted).await?;
        Ok(Reading {
            instance_id: instance_id.to_string(),
            lbs,
            tgs,
            listeners,
            details,
        })
    }

    /// [`Reading::read`] for a plan towards `desired`: target group attributes and targets
    /// only where `desired` sets them, which is all the diff compares.
    pub async fn read_for(
        clients: &Clients,
        instance_id: &str,
        desired: &Stack,
    ) -> Result<Reading, AwsError> {
        Reading::read(clients, instance_id, Wanted::By(desired)).await
    }

    /// Reads `parts` again and puts them in place of what was read before: the rules of the
    /// listeners (tags only for rules new to the reading: gwsync tags a rule when it creates
    /// it and never after), the target groups with their tags, attributes and targets as
    /// `desired` wants them. A part AWS no longer has (a listener or target group deleted
    /// behind gwsync's back) is an error: the caller reads everything instead.
    pub async fn refresh(
        &mut self,
        clients: &Clients,
        parts: &Parts,
        desired: &Stack,
    ) -> Result<(), AwsError> {
        for arn in &parts.deleted_target_groups {
            self.tgs.forget(arn);
            self.details.forget_target_group(arn);
        }
        let arns: Vec<&str> = parts.target_groups.iter().map(String::as_str).collect();
        let mut tag_reads = TagReads::filling_with(arns.clone());
        self.listeners
            .refresh(clients, &parts.listeners, &mut tag_reads)
            .await?;
        let tg_tags = tag_reads.finish(clients).await?;
        self.tgs.refresh(clients, &arns, tg_tags).await?;
        for arn in &arns {
            self.details.forget_target_group(arn);
        }
        let classified = self.tgs.classify(&self.instance_id)?;
        let refreshed = classified
            .owned
            .iter()
            .filter(|(arn, _)| parts.target_groups.contains(**arn))
            .map(|(arn, owned)| (*arn, owned));
        self.details
            .read_target_groups(clients, &self.lbs, refreshed, Wanted::By(desired))
            .await
    }

    /// The observed state in the model's shape, and where each resource is. Pure.
    pub fn assemble(&self) -> Result<(Observed, AwsIds), AwsError> {
        let mut ids = AwsIds::default();
        let classified = self.tgs.classify(&self.instance_id)?;
        classified.record(&mut ids);
        let mut assembly = Assembly {
            instance_id: &self.instance_id,
            ids,
            refs: classified.refs(),
            stack: Stack::default(),
            rule_ids: BTreeMap::new(),
            foreign_priorities: BTreeMap::new(),
            foreign_listeners: BTreeSet::new(),
            foreign_rules: BTreeMap::new(),
            rule_sources: BTreeMap::new(),
        };
        for (gateway, lb) in &self.lbs.owned {
            assembly.load_balancer(gateway, lb, &self.lbs.tags, &self.listeners, &self.details)?;
        }
        assembly.target_groups(&classified, &self.tgs.tags, &self.details)?;
        let Assembly {
            ids,
            stack,
            rule_ids,
            foreign_priorities,
            foreign_listeners,
            foreign_rules,
            rule_sources,
            ..
        } = assembly;
        let mut observed = Observed::new(stack, rule_ids, foreign_priorities, foreign_listeners)
            .with_rule_sources(rule_sources);
        observed.foreign_rules = foreign_rules;
        Ok((observed, ids))
    }
}

/// What is read per resource once the resources are known, each kind concurrently: load
/// balancer attributes, HTTPS listeners' certificates, and the wanted target groups'
/// attributes and targets. By ARN.
struct Details {
    lb_attributes: BTreeMap<String, BTreeMap<String, String>>,
    certificates: BTreeMap<String, Vec<crate::alb::Certificate>>,
    tg_attributes: BTreeMap<String, BTreeMap<String, String>>,
    targets: BTreeMap<String, Vec<crate::alb::Target>>,
}

impl Details {
    async fn read(
        clients: &Clients,
        lbs: &LoadBalancers,
        listeners: &Listeners,
        tgs: &Classified<'_>,
        wanted: Wanted<'_>,
    ) -> Result<Details, AwsError> {
        let lb_arns: Vec<&str> = lbs
            .owned
            .iter()
            .filter(|(gateway, _)| wanted.load_balancer_attributes(gateway))
            .map(|(_, lb)| lb.load_balancer_arn().unwrap_or_default())
            .collect();
        let https: Vec<&str> = listeners
            .by_gateway
            .values()
            .flatten()
            .filter(|l| listeners.owned(l) && l.protocol() == Some(&elb::ProtocolEnum::Https))
            .map(|l| l.listener_arn().unwrap_or_default())
            .collect();
        let lb_attributes = each(&lb_arns, |arn| describe_lb_attributes(clients, arn)).await?;
        let certificates = each(&https, |arn| describe_listener_certificates(clients, arn)).await?;
        let mut details = Details {
            lb_attributes: by_arn(&lb_arns, lb_attributes),
            certificates: by_arn(&https, certificates),
            tg_attributes: BTreeMap::new(),
            targets: BTreeMap::new(),
        };
        let owned = tgs.owned.iter().map(|(arn, owned)| (*arn, owned));
        details
            .read_target_groups(clients, lbs, owned, wanted)
            .await?;
        Ok(details)
    }

    /// The attributes and targets of `owned` target groups where `wanted` asks for them,
    /// added to what was read. Only target groups of observed load balancers: one whose load
    /// balancer is gone is only in the ids.
    async fn read_target_groups<'a>(
        &mut self,
        clients: &Clients,
        lbs: &LoadBalancers,
        owned: impl Iterator<Item = (&'a str, &'a OwnedGroup<'a>)>,
        wanted: Wanted<'_>,
    ) -> Result<(), AwsError> {
        let observed: Vec<_> = owned
            .filter(|(_, tg)| lbs.owned.contains_key(&tg.gateway))
            .collect();
        let with_attributes: Vec<&str> = observed
            .iter()
            .filter(|(_, tg)| wanted.attributes(&tg.gateway, &tg.backend))
            .map(|(arn, _)| *arn)
            .collect();
        let with_targets: Vec<&str> = observed
            .iter()
            .filter(|(_, tg)| wanted.targets(&tg.gateway, &tg.backend))
            .map(|(arn, _)| *arn)
            .collect();
        let tg_attributes =
            each(&with_attributes, |arn| describe_tg_attributes(clients, arn)).await?;
        let targets = each(&with_targets, |arn| describe_targets(clients, arn)).await?;
        self.tg_attributes
            .extend(by_arn(&with_attributes, tg_attributes));
        self.targets.extend(by_arn(&with_targets, targets));
        Ok(())
    }

    fn forget_target_group(&mut self, arn: &str) {
        self.tg_attributes.remove(arn);
        self.targets.remove(arn);
    }
}

/// Reads every resource that `instance_id` owns, in the model's shape, and where each is
/// (every target group's attributes and targets included: for `explain --live` and tests).
pub async fn observe(clients: &Clients, instance_id: &str) -> Result<(Observed, AwsIds), AwsError> {
    Reading::read(clients, instance_id, Wanted::All)
        .await?
        .assemble()
}

/// [`observe`] for a plan towards `desired`: target group attributes and targets are read
/// only where `desired` sets them, which is all the diff compares.
pub async fn observe_for(
    clients: &Clients,
    instance_id: &str,
    desired: &Stack,
) -> Result<(Observed, AwsIds), AwsError> {
    Reading::read_for(clients, instance_id, desired)
        .await?
        .assemble()
}

/// DescribeTags calls of a read. A full read learns what to read in steps: the load
/// balancers' tags say which load balancers' listeners are read, the listeners' tags whose
/// rules; each step's ARNs rarely fill their last call of 20. Target groups' ARNs wait on
/// nothing, so they fill each step's last call and [`TagReads::finish`] reads those left:
/// a full read makes as many calls as its ARNs need at 20 a call (one more per step only
/// when fewer target groups than the gaps exist).
struct TagReads<'a> {
    /// Target groups whose tags are still to read.
    filler: Vec<&'a str>,
    /// The tags of target groups read along with a step.
    filled: TagMap,
}

impl<'a> TagReads<'a> {
    fn filling_with(filler: Vec<&'a str>) -> TagReads<'a> {
        TagReads {
            filler,
            filled: TagMap::new(),
        }
    }

    /// The tags of `arns`, read with as many target groups as fill the last call.
    async fn read(&mut self, clients: &Clients, arns: Vec<&str>) -> Result<TagMap, AwsError> {
        if arns.is_empty() {
            return Ok(TagMap::new());
        }
        let room = (TAGS_PER_CALL - arns.len() % TAGS_PER_CALL) % TAGS_PER_CALL;
        let fill: Vec<&str> = self.filler.drain(..room.min(self.filler.len())).collect();
        let mut tags = describe_tags(clients, arns.into_iter().chain(fill.iter().copied())).await?;
        for arn in fill {
            if let Some((arn, t)) = tags.remove_entry(arn) {
                self.filled.insert(arn, t);
            }
        }
        Ok(tags)
    }

    /// The tags of every target group: those read along with the steps, and the rest now.
    async fn finish(mut self, clients: &Clients) -> Result<TagMap, AwsError> {
        let rest = describe_tags(clients, self.filler.drain(..)).await?;
        self.filled.extend(rest);
        Ok(self.filled)
    }
}

/// Every ALB of the account with its tags, and the owned ones by Gateway.
struct LoadBalancers {
    owned: BTreeMap<String, elb::LoadBalancer>,
    tags: TagMap,
}

impl LoadBalancers {
    /// The owned ones among `all` (every load balancer of the account), by their tags.
    async fn read(
        clients: &Clients,
        instance_id: &str,
        all: Vec<elb::LoadBalancer>,
        tag_reads: &mut TagReads<'_>,
    ) -> Result<LoadBalancers, AwsError> {
        let all: Vec<elb::LoadBalancer> = all
            .into_iter()
            .filter(|lb| lb.r#type() == Some(&elb::LoadBalancerTypeEnum::Application))
            .collect();
        let arns = all.iter().filter_map(|lb| lb.load_balancer_arn());
        let tags = tag_reads.read(clients, arns.collect()).await?;
        let mut owned: BTreeMap<String, elb::LoadBalancer> = BTreeMap::new();
        for lb in all {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let Some(gateway) = owned_id(tags.get(&arn), instance_id, "lb/") else {
                continue;
            };
            let gateway = gateway.to_string();
            if let Some(other) = owned.insert(gateway.clone(), lb) {
                return Err(AwsError::unexpected(
                    format!("Gateway {gateway}"),
                    format!(
                        "two load balancers carry its tags ({} and {arn}); delete or untag one",
                        other.load_balancer_arn().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(LoadBalancers { owned, tags })
    }
}

/// Every target group of the account (an owned one may not be attached to anything yet)
/// with its tags, by ARN.
struct TargetGroups {
    all: BTreeMap<String, elb::TargetGroup>,
    tags: TagMap,
}

/// An owned target group: the Gateway and backend its tags name.
struct OwnedGroup<'a> {
    gateway: String,
    backend: String,
    group: &'a elb::TargetGroup,
}

/// The target groups sorted by owner: gwsync's own by ARN, and the others.
struct Classified<'a> {
    owned: BTreeMap<&'a str, OwnedGroup<'a>>,
    foreign: Vec<&'a elb::TargetGroup>,
    /// ARN -> name of every target group: rules name the ones gwsync does not own by name.
    names: BTreeMap<String, String>,
}

impl TargetGroups {
    fn new(all: Vec<elb::TargetGroup>, tags: TagMap) -> TargetGroups {
        let all = all
            .into_iter()
            .map(|tg| (tg.target_group_arn().unwrap_or_default().to_string(), tg))
            .collect();
        TargetGroups { all, tags }
    }

    /// Reads `arns` again, in place of what was read before, with their `tags` (read along
    /// with the rules').
    async fn refresh(
        &mut self,
        clients: &Clients,
        arns: &[&str],
        tags: TagMap,
    ) -> Result<(), AwsError> {
        if arns.is_empty() {
            return Ok(());
        }
        let fresh = describe_target_groups_by_arn(clients, arns).await?;
        for arn in arns {
            self.forget(arn);
        }
        for tg in fresh {
            self.all
                .insert(tg.target_group_arn().unwrap_or_default().to_string(), tg);
        }
        self.tags.extend(tags);
        Ok(())
    }

    fn forget(&mut self, arn: &str) {
        self.all.remove(arn);
        self.tags.remove(arn);
    }

    /// Which target groups `instance_id` owns, and for which Gateway and backend. Two owned
    /// ones naming one backend, or an owned one whose tag names none, are an error.
    fn classify(&self, instance_id: &str) -> Result<Classified<'_>, AwsError> {
        let mut found = Classified {
            owned: BTreeMap::new(),
            foreign: Vec::new(),
            names: BTreeMap::new(),
        };
        let mut by_backend: BTreeMap<(String, String), &str> = BTreeMap::new();
        for (arn, tg) in &self.all {
            let name = tg.target_group_name().unwrap_or_default();
            found.names.insert(arn.clone(), name.to_string());
            let tg_tags = self.tags.get(arn);
            let Some(id) = owned_id(tg_tags, instance_id, "tg/") else {
                found.foreign.push(tg);
                continue;
            };
            let Some((gateway, backend)) = split_target_group_id(id, tg_tags) else {
                return Err(AwsError::unexpected(
                    format!("target group {name}"),
                    format!(
                        "its {} tag `tg/{id}` names no gateway and backend",
                        identity::RESOURCE
                    ),
                ));
            };
            if let Some(other) = by_backend.insert((gateway.clone(), backend.clone()), arn) {
                return Err(AwsError::unexpected(
                    format!("target group for {backend} on Gateway {gateway}"),
                    format!(
                        "two target groups carry its tags ({other} and {arn}); delete or untag one"
                    ),
                ));
            }
            let owned = OwnedGroup {
                gateway,
                backend,
                group: tg,
            };
            found.owned.insert(arn.as_str(), owned);
        }
        Ok(found)
    }
}

impl Classified<'_> {
    /// Where the target groups are: owned ones by (gateway, backend), the others by name.
    fn record(&self, ids: &mut AwsIds) {
        for (arn, tg) in &self.owned {
            ids.target_groups
                .insert((tg.gateway.clone(), tg.backend.clone()), arn.to_string());
        }
        for tg in &self.foreign {
            let name = tg.target_group_name().unwrap_or_default().to_string();
            if let Some(vpc) = tg.vpc_id() {
                ids.existing_target_group_vpcs
                    .insert(name.clone(), vpc.to_string());
            }
            let arn = tg.target_group_arn().unwrap_or_default().to_string();
            ids.existing_target_groups.insert(name, arn);
        }
    }

    /// How rules name target groups: owned ones by backend, the others by name.
    fn refs(&self) -> TargetGroupRefs {
        TargetGroupRefs {
            owned: self
                .owned
                .iter()
                .map(|(arn, tg)| (arn.to_string(), tg.backend.clone()))
                .collect(),
            names: self.names.clone(),
        }
    }
}

/// The listeners of owned load balancers, which of them are owned, the rules of owned
/// listeners and the tags of those rules.
struct Listeners {
    by_gateway: BTreeMap<String, Vec<elb::Listener>>,
    tags: TagMap,
    rules: BTreeMap<String, Vec<elb::Rule>>,
    rule_tags: TagMap,
    instance_id: String,
}

impl Listeners {
    async fn read(
        clients: &Clients,
        instance_id: &str,
        owned_lbs: &BTreeMap<String, elb::LoadBalancer>,
        tag_reads: &mut TagReads<'_>,
    ) -> Result<Listeners, AwsError> {
        let listeners = each(owned_lbs.values(), |lb| {
            describe_listeners(clients, lb.load_balancer_arn().unwrap_or_default())
        })
        .await?;
        let by_gateway: BTreeMap<String, Vec<elb::Listener>> =
            owned_lbs.keys().cloned().zip(listeners).collect();
        let arns = by_gateway
            .values()
            .flatten()
            .filter_map(|l| l.listener_arn());
        let tags = tag_reads.read(clients, arns.collect()).await?;
        let mut found = Listeners {
            by_gateway,
            tags,
            rules: BTreeMap::new(),
            rule_tags: BTreeMap::new(),
            instance_id: instance_id.to_string(),
        };
        let owned: BTreeSet<String> = found
            .by_gateway
            .values()
            .flatten()
            .filter(|l| found.owned(l))
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        found.refresh(clients, &owned, tag_reads).await?;
        Ok(found)
    }

    /// Reads the rules of the owned listeners `arns` (again), and the tags of those rules
    /// not read before (rules are tagged when created, never after).
    async fn refresh(
        &mut self,
        clients: &Clients,
        arns: &BTreeSet<String>,
        tag_reads: &mut TagReads<'_>,
    ) -> Result<(), AwsError> {
        if let Some(unknown) = arns.iter().find(|arn| !self.is_owned_listener(arn)) {
            return Err(AwsError::unexpected(
                format!("listener {unknown}"),
                "not among the owned listeners read before",
            ));
        }
        let rules = each(arns, |arn| describe_rules(clients, arn)).await?;
        for (arn, rules) in arns.iter().zip(rules) {
            let fresh: BTreeSet<&str> = rules.iter().filter_map(|r| r.rule_arn()).collect();
            for old in self.rules.get(arn).into_iter().flatten() {
                if let Some(gone) = old.rule_arn().filter(|a| !fresh.contains(a)) {
                    self.rule_tags.remove(gone);
                }
            }
            self.rules.insert(arn.clone(), rules);
        }
        let untagged: Vec<&str> = arns
            .iter()
            .flat_map(|arn| &self.rules[arn])
            .filter(|r| r.is_default() != Some(true))
            .filter_map(|r| r.rule_arn())
            .filter(|arn| !self.rule_tags.contains_key(*arn))
            .collect();
        let tags = tag_reads.read(clients, untagged).await?;
        self.rule_tags.extend(tags);
        Ok(())
    }

    fn is_owned_listener(&self, arn: &str) -> bool {
        self.by_gateway
            .values()
            .flatten()
            .any(|l| l.listener_arn() == Some(arn) && self.owned(l))
    }

    fn owned(&self, l: &elb::Listener) -> bool {
        let tags = self.tags.get(l.listener_arn().unwrap_or_default());
        tags.and_then(|t| t.get(identity::INSTANCE))
            .map(String::as_str)
            == Some(self.instance_id.as_str())
    }
}

/// The observed state as it is assembled from what was read.
struct Assembly<'a> {
    instance_id: &'a str,
    ids: AwsIds,
    refs: TargetGroupRefs,
    stack: Stack,
    rule_ids: BTreeMap<(String, u16), BTreeMap<u32, String>>,
    foreign_priorities: BTreeMap<(String, u16), BTreeSet<u32>>,
    foreign_listeners: BTreeSet<(String, u16)>,
    foreign_rules: BTreeMap<(String, u16), Vec<crate::alb::Rule>>,
    rule_sources: BTreeMap<String, String>,
}

impl Assembly<'_> {
    /// An owned load balancer with its owned listeners and their owned rules; foreign
    /// listeners and rules are noted (they keep the load balancer and their priorities).
    fn load_balancer(
        &mut self,
        gateway: &str,
        lb: &elb::LoadBalancer,
        lb_tags: &TagMap,
        listeners: &Listeners,
        details: &Details,
    ) -> Result<(), AwsError> {
        let lb_arn = lb.load_balancer_arn().unwrap_or_default();
        self.ids
            .load_balancers
            .insert(gateway.to_string(), lb_arn.to_string());
        if let Some(vpc) = lb.vpc_id() {
            self.ids.vpcs.insert(gateway.to_string(), vpc.to_string());
        }
        let mut models = Vec::new();
        for l in &listeners.by_gateway[gateway] {
            if !listeners.owned(l) {
                if let Some(port) = l.port() {
                    self.foreign_listeners
                        .insert((gateway.to_string(), port as u16));
                }
                continue;
            }
            models.push(self.listener(gateway, l, listeners, details)?);
        }
        models.sort_by_key(|l| l.port);
        self.stack.load_balancers.push(load_balancer_model(
            gateway,
            lb,
            details
                .lb_attributes
                .get(lb_arn)
                .cloned()
                .unwrap_or_default(),
            lb_tags.get(lb_arn),
            models,
        )?);
        Ok(())
    }

    /// An owned listener: its certificates, default action and owned rules.
    fn listener(
        &mut self,
        gateway: &str,
        l: &elb::Listener,
        listeners: &Listeners,
        details: &Details,
    ) -> Result<crate::alb::Listener, AwsError> {
        let listener_arn = l.listener_arn().unwrap_or_default();
        let port = listener_port(l)?;
        let key = (gateway.to_string(), port);
        self.ids
            .listeners
            .insert(key.clone(), listener_arn.to_string());
        let certificates = details
            .certificates
            .get(listener_arn)
            .cloned()
            .unwrap_or_default();
        let mut default_actions: &[elb::Action] = l.default_actions();
        let mut rules = Vec::new();
        for r in &listeners.rules[listener_arn] {
            if r.is_default() == Some(true) {
                default_actions = r.actions();
                continue;
            }
            if let Some(rule) = self.rule(
                &key,
                r,
                listeners.rule_tags.get(r.rule_arn().unwrap_or_default()),
            )? {
                rules.push(rule);
            }
        }
        rules.sort_by_key(|r| r.priority);
        let default_action = actions_model(default_actions, &self.refs)
            .pop()
            .unwrap_or_else(|| unsupported_action("none"));
        listener_model(l, port, certificates, default_action, rules)
    }

    /// An owned rule into the model; a foreign one only reserves its priority (None).
    fn rule(
        &mut self,
        key: &(String, u16),
        r: &elb::Rule,
        tags: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<crate::alb::Rule>, AwsError> {
        let rule_arn = r.rule_arn().unwrap_or_default();
        let priority = rule_priority(r)?;
        let owned = tags
            .filter(|t| t.get(identity::INSTANCE).map(String::as_str) == Some(self.instance_id))
            .and_then(|t| t.get(identity::RESOURCE));
        let Some(id) = owned else {
            self.foreign_priorities
                .entry(key.clone())
                .or_default()
                .insert(priority);
            let mut foreign = rule_model(r, priority, None, &self.refs);
            foreign.source = Some(crate::alb::RuleSource::Foreign);
            self.foreign_rules
                .entry(key.clone())
                .or_default()
                .push(foreign);
            return Ok(None);
        };
        let id = self.twin_aware_id(key, id, priority, rule_arn);
        self.ids.rules.insert(id.clone(), rule_arn.to_string());
        if let Some(source) = tags.and_then(|t| t.get(identity::SOURCE)) {
            self.rule_sources.insert(id.clone(), source.clone());
        }
        self.rule_ids
            .entry(key.clone())
            .or_default()
            .insert(priority, id);
        let owner = tags.and_then(|t| t.get(identity::OWNER));
        Ok(Some(rule_model(r, priority, owner, &self.refs)))
    }

    /// The identity to observe the rule at `priority` under. Two rules carrying one identity
    /// (two writers at once, in the past) would make every call by id ambiguous: the one AWS
    /// evaluates first (the lower priority: the one in use) keeps the identity, the other is
    /// observed under a twin identity of its own, which no desired rule has, so the plan
    /// deletes it like any stale rule.
    fn twin_aware_id(
        &mut self,
        key: &(String, u16),
        id: &str,
        priority: u32,
        rule_arn: &str,
    ) -> String {
        let twin = |priority: u32| format!("{id}#twin-at-{priority}");
        let Some(first_arn) = self.ids.rules.get(id).cloned() else {
            return id.to_string();
        };
        let first_priority = self
            .rule_ids
            .get(key)
            .and_then(|ids| ids.iter().find(|(_, i)| i.as_str() == id))
            .map(|(p, _)| *p);
        tracing::warn!(rule = id, arn = rule_arn, other = %first_arn, "two rules carry one identity: the one evaluated first is kept, the other deleted");
        match first_priority {
            Some(first) if priority < first => {
                // This one is in use: the one seen first becomes the twin.
                self.ids.rules.insert(twin(first), first_arn);
                if let Some(ids) = self.rule_ids.get_mut(key) {
                    ids.insert(first, twin(first));
                }
                id.to_string()
            }
            _ => twin(priority),
        }
    }

    /// Owned target groups, into their gateway's load balancer. One whose load balancer is
    /// gone (or not made yet) is only in `ids`.
    fn target_groups(
        &mut self,
        tgs: &Classified<'_>,
        tags: &TagMap,
        details: &Details,
    ) -> Result<(), AwsError> {
        let mut models: BTreeMap<&str, Vec<TargetGroup>> = BTreeMap::new();
        for (arn, tg) in &tgs.owned {
            if !self
                .stack
                .load_balancers
                .iter()
                .any(|lb| lb.gateway == tg.gateway)
            {
                continue;
            }
            models
                .entry(tg.gateway.as_str())
                .or_default()
                .push(target_group_model(
                    &tg.backend,
                    tg.group,
                    details.tg_attributes.get(*arn).cloned().unwrap_or_default(),
                    tags.get(*arn),
                    details.targets.get(*arn).cloned().unwrap_or_default(),
                )?);
        }
        for lb in &mut self.stack.load_balancers {
            let mut groups = models.remove(lb.gateway.as_str()).unwrap_or_default();
            groups.sort_by(|a, b| a.backend.cmp(&b.backend));
            lb.target_groups = groups;
        }
        Ok(())
    }
}
