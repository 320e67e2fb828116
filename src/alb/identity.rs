//! Identity: the tag scheme by which gwsync recognises what it owns on AWS. This is the one
//! place that defines it; `plan` matches desired and observed resources by these ids and
//! `aws` writes and reads them, so neither knows the scheme's details.
//!
//! Every resource gwsync creates carries:
//! - `gwsync.dev/instance = <instance_id>`: the gwsync instance that owns it. A resource
//!   without this tag, or with another instance's, is never modified or deleted, whatever
//!   its name or position.
//! - `gwsync.dev/resource = <stable id>`: what it is, independent of names, ARNs and rule
//!   priorities, so that a rerun after a crash finds it again instead of creating a twin:
//!   - load balancer: `lb/<gateway namespace>/<gateway name>`
//!   - listener: `listener/<gateway namespace>/<gateway name>/<port>`
//!   - rule: `rule/<gateway namespace>/<gateway name>/<port>/<hash of its conditions>`
//!     (two rules of one listener never share their conditions: translate drops the
//!     unreachable one)
//!   - target group: `tg/<gateway namespace>/<gateway name>/<backend>`
//! - target groups also carry `gwsync.dev/backend = <namespace>/<name>:<port>` of their
//!   Service, so that other tools can map them back;
//! - rules and target groups also carry `gwsync.dev/owner = <team>` (or `platform`): whose
//!   documents asked for them, so that a refused, held or stalled team's resources are told
//!   apart from the others' (and an apply failure is put down to the right team);
//! - rules also carry `gwsync.dev/source = HTTPRoute <namespace>/<name> rule <index>` (or
//!   `listener isolation`): the route rule they come from, for people reading AWS. A target
//!   group's source is its `gwsync.dev/backend`.

use crate::alb::{Condition, RuleSource};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const INSTANCE: &str = "gwsync.dev/instance";
pub const RESOURCE: &str = "gwsync.dev/resource";
pub const BACKEND: &str = "gwsync.dev/backend";
/// On rules and target groups: the team (or `platform`) whose documents asked for it.
pub const OWNER: &str = "gwsync.dev/owner";
/// On rules: the route rule they come from ([`source_tag`]).
pub const SOURCE: &str = "gwsync.dev/source";

/// Every tag key under this prefix is gwsync's; documents may not set one.
pub const OWN_PREFIX: &str = "gwsync.dev/";
/// How many of gwsync's own tags a load balancer carries (instance, resource).
pub const OWN_TAGS_ON_LOAD_BALANCER: usize = 2;
/// How many of gwsync's own tags a target group carries (instance, resource, backend, owner).
pub const OWN_TAGS_ON_TARGET_GROUP: usize = 4;

/// The longest tag value ELB takes.
const TAG_VALUE_MAX: usize = 256;

/// The owner of listener-isolation rules and of anything the platform's documents ask for.
pub const PLATFORM_OWNER: &str = "platform";

/// Whether `key` is one of gwsync's own tags, which it writes at creation, never changes and
/// never lets a document set.
pub fn is_own_tag(key: &str) -> bool {
    [INSTANCE, RESOURCE, BACKEND, OWNER, SOURCE].contains(&key)
}

/// A resource's tags without gwsync's own: the user tags the model compares and sets.
pub fn user_tags(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| !is_own_tag(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn load_balancer_id(gateway: &str) -> String {
    format!("lb/{gateway}")
}

pub fn listener_id(gateway: &str, port: u16) -> String {
    format!("listener/{gateway}/{port}")
}

/// A rule's identity: its listener and a hash of its conditions (in gwsync's canonical
/// order). A change of conditions is a new rule; a change of actions is the same rule.
pub fn rule_id(gateway: &str, port: u16, conditions: &[Condition]) -> String {
    let canonical = serde_json::to_vec(conditions).expect("conditions serialise");
    let hash = hex::encode(&Sha256::digest(&canonical)[..8]);
    format!("rule/{gateway}/{port}/{hash}")
}

/// The last part of a rule id: its conditions' hash, enough to tell rules of one listener
/// apart in an address or a message.
pub fn short_rule_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The `gwsync.dev/source` value of a rule from `source`: only characters ELB takes in a tag
/// value (route names are DNS labels; a wildcard hostname's `*` is not one, so isolation
/// rules say only what they are), at most 256 of them.
pub fn source_tag(source: &RuleSource) -> String {
    let mut value = match source {
        RuleSource::Route { route, rule, .. } => format!("HTTPRoute {route} rule {rule}"),
        RuleSource::ListenerIsolation { .. } => "listener isolation".to_string(),
        RuleSource::Foreign => "foreign".to_string(),
    };
    value.truncate(TAG_VALUE_MAX);
    value
}

pub fn target_group_id(gateway: &str, backend: &str) -> String {
    format!("tg/{gateway}/{backend}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::Patterns;

    #[test]
    fn ids_are_stable_and_depend_on_conditions_only() {
        let host = |h: &str| Condition::HostHeader {
            values: Patterns::Wildcard(vec![h.to_string()]),
        };
        let a = rule_id("platform/public", 443, &[host("a.com")]);
        assert_eq!(a, rule_id("platform/public", 443, &[host("a.com")]));
        assert_ne!(a, rule_id("platform/public", 443, &[host("b.com")]));
        assert_ne!(a, rule_id("platform/public", 80, &[host("a.com")]));
        assert!(a.starts_with("rule/platform/public/443/"));
        assert!(a.len() < 128, "a tag value fits easily");
    }

    #[test]
    fn a_source_tag_has_only_characters_elb_takes_and_fits() {
        let allowed = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
        let route = RuleSource::Route {
            route: format!("payments/{}", "a".repeat(300)),
            rule: 3,
            matches: vec![0, 1],
            file: None,
            name: None,
        };
        let isolation = RuleSource::ListenerIsolation {
            hostname: "*.example.com".into(),
        };
        for source in [&route, &isolation] {
            let value = source_tag(source);
            assert!(value.chars().all(allowed), "{value}");
            assert!(value.len() <= 256);
        }
        assert_eq!(
            source_tag(&RuleSource::Route {
                route: "payments/web".into(),
                rule: 1,
                matches: vec![],
                file: None,
                name: None,
            }),
            "HTTPRoute payments/web rule 1"
        );
    }
}
