//! The observed state: what gwsync owns on AWS in the model's shape, plus what the model does
//! not hold but the diff must respect (rule identities by priority, where each rule came from,
//! foreign rules' priorities, foreign listeners). Filled by `aws::observe`, read by `plan`; pure data.

use super::{Rule, RuleSource, Stack};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// (gateway, port): a listener's place.
pub type ListenerKey = (String, u16);

/// The live state as `plan::diff` needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Owned load balancers, listeners, rules and target groups, normalised like the desired
    /// state (rules read back have `source: None`).
    pub stack: Stack,
    /// (gateway, port) -> priority -> the `gwsync.dev/resource` id of the owned rule there.
    pub rule_ids: BTreeMap<ListenerKey, BTreeMap<u32, String>>,
    /// (gateway, port) -> priorities taken by rules gwsync does not own: never reused.
    pub foreign_priorities: BTreeMap<ListenerKey, BTreeSet<u32>>,
    /// (gateway, port) of listeners on owned load balancers that gwsync does not own: the
    /// load balancer is never deleted while they are there.
    pub foreign_listeners: BTreeSet<ListenerKey>,
    /// (gateway, port) -> the rules on gwsync's listeners that gwsync does not own, in the
    /// model's shape (`source` is [`super::RuleSource::Foreign`]): never changed, but they answer
    /// requests before gwsync's rules of higher priority numbers, so `explain --live`
    /// evaluates them, and they count towards the load balancer's rule quota. Not part of the
    /// fingerprint: the diff reads only their priorities.
    pub foreign_rules: BTreeMap<ListenerKey, Vec<Rule>>,
    /// Owned rule id -> its `gwsync.dev/source` tag (where it came from: `HTTPRoute ns/name
    /// rule N`): a desired rule from the same place whose conditions changed keeps the id of
    /// this rule, so the change is one `ModifyRule` (`plan::diff`). Rules made before gwsync
    /// wrote the tag have none.
    pub rule_sources: BTreeMap<String, String>,
    /// A digest of everything above ([`Observed::digest`]), recorded in plans.
    pub fingerprint: String,
}

impl Observed {
    /// The observed state with its fingerprint computed.
    pub fn new(
        stack: Stack,
        rule_ids: BTreeMap<ListenerKey, BTreeMap<u32, String>>,
        foreign_priorities: BTreeMap<ListenerKey, BTreeSet<u32>>,
        foreign_listeners: BTreeSet<ListenerKey>,
    ) -> Observed {
        let mut observed = Observed {
            stack,
            rule_ids,
            foreign_priorities,
            foreign_listeners,
            foreign_rules: BTreeMap::new(),
            rule_sources: BTreeMap::new(),
            fingerprint: String::new(),
        };
        observed.fingerprint = observed.digest();
        observed
    }

    /// The observed state with the rules' source tags, and its fingerprint computed again.
    pub fn with_rule_sources(mut self, rule_sources: BTreeMap<String, String>) -> Observed {
        self.rule_sources = rule_sources;
        self.fingerprint = self.digest();
        self
    }

    /// What AWS would hold once `stack` is applied, and nothing else (no foreign rules or
    /// listeners): the "before" of a comparison of two desired states (`gwsync check`).
    pub fn applied(stack: Stack) -> Observed {
        let mut rule_ids = BTreeMap::new();
        let mut rule_sources = BTreeMap::new();
        for lb in &stack.load_balancers {
            for l in &lb.listeners {
                let mut ids = BTreeMap::new();
                for r in &l.rules {
                    let id = super::identity::rule_id(&lb.gateway, l.port, &r.conditions);
                    if let Some(source @ RuleSource::Route { .. }) = &r.source {
                        rule_sources.insert(id.clone(), super::identity::source_tag(source));
                    }
                    ids.insert(r.priority, id);
                }
                rule_ids.insert((lb.gateway.clone(), l.port), ids);
            }
        }
        Observed::new(stack, rule_ids, BTreeMap::new(), BTreeSet::new())
            .with_rule_sources(rule_sources)
    }

    /// The listeners as AWS evaluates them: gwsync's rules and the foreign ones together, in
    /// priority order.
    pub fn as_evaluated(&self) -> Stack {
        let mut stack = self.stack.clone();
        for lb in &mut stack.load_balancers {
            for listener in &mut lb.listeners {
                let key = (lb.gateway.clone(), listener.port);
                if let Some(foreign) = self.foreign_rules.get(&key) {
                    listener.rules.extend(foreign.iter().cloned());
                    listener.rules.sort_by_key(|r| r.priority);
                }
            }
        }
        stack
    }

    /// How many rules gwsync does not own sit on the listeners of `gateway`'s load balancer.
    pub fn foreign_rule_count(&self, gateway: &str) -> usize {
        self.foreign_priorities
            .iter()
            .filter(|((g, _), _)| g == gateway)
            .map(|(_, priorities)| priorities.len())
            .sum()
    }

    /// A stable digest of everything the diff reads: equal states give equal digests,
    /// whatever order AWS listed them in (everything is sorted or kept in AWS's stable
    /// order). A saved plan is refused when the live state's digest differs.
    pub fn digest(&self) -> String {
        // JSON maps need string keys: the (gateway, port) maps go in as lists of pairs.
        type Pairs<'a, V> = Vec<(&'a ListenerKey, &'a V)>;
        #[derive(Serialize)]
        struct Digested<'a> {
            stack: &'a Stack,
            rule_ids: Pairs<'a, BTreeMap<u32, String>>,
            foreign_priorities: Pairs<'a, BTreeSet<u32>>,
            foreign_listeners: &'a BTreeSet<ListenerKey>,
            rule_sources: &'a BTreeMap<String, String>,
        }
        let digested = Digested {
            stack: &self.stack,
            rule_ids: self.rule_ids.iter().collect(),
            foreign_priorities: self.foreign_priorities.iter().collect(),
            foreign_listeners: &self.foreign_listeners,
            rule_sources: &self.rule_sources,
        };
        let json = serde_json::to_vec(&digested).expect("the observed state serialises");
        hex::encode(Sha256::digest(&json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_everything_the_diff_reads() {
        let base = Observed::new(
            Stack::default(),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeSet::new(),
        );
        let key = ("platform/public".to_string(), 443);
        let with_foreign_listener = Observed::new(
            Stack::default(),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeSet::from([key.clone()]),
        );
        let with_foreign_rule = Observed::new(
            Stack::default(),
            BTreeMap::new(),
            BTreeMap::from([(key.clone(), BTreeSet::from([1]))]),
            BTreeSet::new(),
        );
        let with_rule_id = Observed::new(
            Stack::default(),
            BTreeMap::from([(key, BTreeMap::from([(1, "rule/x".to_string())]))]),
            BTreeMap::new(),
            BTreeSet::new(),
        );
        let prints = [
            &base.fingerprint,
            &with_foreign_listener.fingerprint,
            &with_foreign_rule.fingerprint,
            &with_rule_id.fingerprint,
        ];
        let distinct: BTreeSet<&&String> = prints.iter().collect();
        assert_eq!(distinct.len(), prints.len(), "{prints:?}");
        // The same rule at another priority is another state.
        let moved = Observed::new(
            Stack::default(),
            BTreeMap::from([(
                ("platform/public".to_string(), 443),
                BTreeMap::from([(2, "rule/x".to_string())]),
            )]),
            BTreeMap::new(),
            BTreeSet::new(),
        );
        assert_ne!(moved.fingerprint, with_rule_id.fingerprint);
        assert_eq!(base.fingerprint, base.digest());
    }
}
