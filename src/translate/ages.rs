//! Route ages, the last precedence tie-breaker: the time of the first commit on the tracked
//! branch whose tree held each HTTPRoute. Pure: it is fed manifest versions in history
//! order (by `source`) and keeps the earliest time per route.

use super::RouteAges;
use crate::config::Limits;
use crate::manifest::{self, Kind};
use crate::tenancy::{PathOwner, Tenancy};

/// Records the HTTPRoutes of one manifest version that entered the history at `time`.
/// A route's namespace is its own or, when it has none, that of the folder's team in the
/// current tenants file. Unparseable versions are skipped: they never held a route.
pub fn record(
    ages: &mut RouteAges,
    tenancy: &Tenancy,
    limits: &Limits,
    time: i64,
    path: &str,
    bytes: &[u8],
) {
    let PathOwner::Team(team) = tenancy.owner_of(path) else {
        return;
    };
    let folder_namespace = &tenancy.teams[team].namespace;
    for doc in manifest::load_file(path, bytes, limits).documents {
        if doc.key.kind != Kind::HTTPRoute {
            continue;
        }
        let namespace = doc.key.namespace.as_deref().unwrap_or(folder_namespace);
        let age = ages
            .entry(format!("{namespace}/{}", doc.key.name))
            .or_insert(time);
        *age = (*age).min(time);
    }
}

/// Whether a path may hold routes at all (the walk skips everything else).
pub fn may_hold_routes(tenancy: &Tenancy, path: &str) -> bool {
    matches!(tenancy.owner_of(path), PathOwner::Team(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tenants::{PlatformSpec, TeamSpec, TenantsSpec};

    #[test]
    fn keeps_the_first_time_a_route_appears() {
        let spec = TenantsSpec {
            api_version: "gwsync.dev/v1alpha1".into(),
            kind: "Tenants".into(),
            metadata: None,
            platform: PlatformSpec {
                path: "platform/".into(),
                namespace: "platform".into(),
                labels: Default::default(),
                owners: vec![],
            },
            teams: vec![TeamSpec {
                name: "a".into(),
                path: "teams/a/".into(),
                namespace: "a".into(),
                labels: Default::default(),
                owners: vec![],
                hostnames: vec![],
                paths: Default::default(),
                target_groups: vec![],
            }],
        };
        let tenancy = Tenancy::from_spec(&spec, "tenants.yaml", 1).unwrap();
        let route = |name: &str| {
            format!(
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}}}\nspec: {{}}\n"
            )
        };
        let mut ages = RouteAges::new();
        let limits = Limits::default();
        record(
            &mut ages,
            &tenancy,
            &limits,
            10,
            "teams/a/r.yaml",
            route("one").as_bytes(),
        );
        record(
            &mut ages,
            &tenancy,
            &limits,
            20,
            "teams/a/s.yaml",
            route("one").as_bytes(),
        );
        record(
            &mut ages,
            &tenancy,
            &limits,
            30,
            "teams/a/s.yaml",
            route("two").as_bytes(),
        );
        record(
            &mut ages,
            &tenancy,
            &limits,
            5,
            "platform/r.yaml",
            route("three").as_bytes(),
        );
        assert_eq!(
            ages,
            RouteAges::from([("a/one".into(), 10), ("a/two".into(), 30)])
        );
        assert!(may_hold_routes(&tenancy, "teams/a/x.yaml"));
        assert!(!may_hold_routes(&tenancy, "platform/x.yaml"));
    }
}
