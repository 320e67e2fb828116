//! The one matching loop every resource kind goes through: desired and observed resources,
//! each keyed by its identity, paired into what to create, update (compare) and delete.

use std::collections::BTreeMap;

/// A resource as matched by its key.
pub(super) enum Pair<'a, T> {
    /// Desired, not on AWS.
    Create(&'a T),
    /// Desired and on AWS: compare them.
    Update { desired: &'a T, observed: &'a T },
    /// On AWS, no longer desired.
    Delete(&'a T),
}

/// Pairs `desired` with `observed` by key: creates and updates in desired order, then
/// deletes in key order. Keys are unique on each side (the callers drop twins first, with a
/// note); a later duplicate would shadow an earlier one.
pub(super) fn pairs<'a, K: Ord, T>(
    desired: impl IntoIterator<Item = (K, &'a T)>,
    observed: impl IntoIterator<Item = (K, &'a T)>,
) -> Vec<(K, Pair<'a, T>)> {
    let mut observed: BTreeMap<K, &'a T> = observed.into_iter().collect();
    let mut out: Vec<(K, Pair<'a, T>)> = desired
        .into_iter()
        .map(|(key, desired)| {
            let pair = match observed.remove(&key) {
                Some(observed) => Pair::Update { desired, observed },
                None => Pair::Create(desired),
            };
            (key, pair)
        })
        .collect();
    out.extend(
        observed
            .into_iter()
            .map(|(key, observed)| (key, Pair::Delete(observed))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_updates_keep_desired_order_then_deletes_follow() {
        let desired = [("b", 1), ("a", 2), ("c", 3)];
        let observed = [("z", 9), ("a", 7), ("y", 8)];
        let shape: Vec<String> = pairs(
            desired.iter().map(|(k, v)| (*k, v)),
            observed.iter().map(|(k, v)| (*k, v)),
        )
        .into_iter()
        .map(|(k, p)| match p {
            Pair::Create(d) => format!("+{k}{d}"),
            Pair::Update { desired, observed } => format!("~{k}{observed}>{desired}"),
            Pair::Delete(o) => format!("-{k}{o}"),
        })
        .collect();
        assert_eq!(shape, ["+b1", "~a7>2", "+c3", "-y8", "-z9"]);
    }
}
