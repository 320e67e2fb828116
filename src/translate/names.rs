//! Names gwsync gives to AWS resources when the user does not: stable (the same inputs give
//! the same name, whatever else changes), valid for ELB (at most 32 characters of letters,
//! digits and '-', not starting or ending with '-', not starting with `internal-`), and
//! distinct per gwsync instance, so that two instances in one account never collide.

use sha2::{Digest, Sha256};

/// The longest name ELB accepts for load balancers and target groups.
pub use crate::alb::values::MAX_RESOURCE_NAME as MAX_NAME;

/// `gw-<slug>-<hash>` for a Gateway's load balancer.
pub fn load_balancer_name(instance_id: &str, gateway: &str) -> String {
    derived("gw", &[instance_id, gateway], gateway)
}

/// `tg-<slug>-<hash>` for the target group of a Service backend on one Gateway.
pub fn target_group_name(instance_id: &str, gateway: &str, backend: &str) -> String {
    let readable = backend.rsplit('/').next().unwrap_or(backend);
    derived("tg", &[instance_id, gateway, backend], readable)
}

fn derived(prefix: &str, identity: &[&str], readable: &str) -> String {
    let mut hasher = Sha256::new();
    for part in identity {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let hash = hex::encode(&hasher.finalize()[..4]);
    let budget = MAX_NAME - prefix.len() - hash.len() - 2;
    let slug: String = readable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug: String = slug
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug = slug[..slug.len().min(budget)].trim_end_matches('-');
    if slug.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{slug}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_valid_stable_and_distinct() {
        let a = load_balancer_name("prod", "platform/public");
        assert_eq!(a, load_balancer_name("prod", "platform/public"));
        assert_ne!(a, load_balancer_name("stage", "platform/public"));
        assert!(a.starts_with("gw-platform-public-"), "{a}");
        let long = target_group_name(
            "prod",
            "platform/public",
            "a-very-long-namespace/an-even-longer-service-name:8080",
        );
        assert!(long.len() <= MAX_NAME, "{long}");
        for name in [a, long] {
            crate::alb::values::resource_name(&name).unwrap();
        }
    }

    #[test]
    fn user_names_are_checked() {
        use crate::alb::values::resource_name;
        assert!(resource_name("acme-public").is_ok());
        assert!(resource_name("internal-lb").is_err());
        assert!(resource_name("a_b").is_err());
        assert!(resource_name("-a").is_err());
        assert!(resource_name("payments-x/../../orders-asg").is_err());
        assert!(resource_name("payments-*").is_err());
        assert!(resource_name(&"a".repeat(33)).is_err());
    }
}
