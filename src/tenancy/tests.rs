use super::*;
use crate::manifest::tenants::{PlatformSpec, TeamSpec};

fn team(name: &str, path: &str, namespace: &str) -> TeamSpec {
    TeamSpec {
        name: name.into(),
        path: path.into(),
        namespace: namespace.into(),
        labels: BTreeMap::new(),
        owners: vec![],
        hostnames: vec![format!("{name}.example.com")],
        paths: BTreeMap::new(),
        target_groups: vec![format!("{name}-*")],
    }
}

fn spec(teams: Vec<TeamSpec>) -> TenantsSpec {
    TenantsSpec {
        api_version: "gwsync.dev/v1alpha1".into(),
        kind: "Tenants".into(),
        metadata: None,
        platform: PlatformSpec {
            path: "platform".into(),
            namespace: "platform".into(),
            labels: BTreeMap::new(),
            owners: vec![],
        },
        teams,
    }
}

fn fields(result: Result<Tenancy, Vec<Diagnostic>>) -> Vec<String> {
    result
        .unwrap_err()
        .into_iter()
        .map(|d| d.field.unwrap_or_default())
        .collect()
}

#[test]
fn owners_by_folder() {
    let t = Tenancy::from_spec(
        &spec(vec![
            team("pay", "teams/pay", "pay"),
            team("ord", "./teams/ord/", "ord"),
        ]),
        "tenants.yaml",
        1,
    )
    .unwrap();
    assert_eq!(t.platform.path, "platform/");
    assert_eq!(t.owner_of("platform/gw.yaml"), PathOwner::Platform);
    assert_eq!(t.owner_of("teams/ord/r.yaml"), PathOwner::Team(1));
    assert_eq!(t.owner_of("teams/ordering/r.yaml"), PathOwner::Unowned);
    assert_eq!(t.owner_of(".github/workflows/ci.yaml"), PathOwner::Ignored);
    assert_eq!(t.owner_of("readme.yaml"), PathOwner::Unowned);
    assert!(t.teams[0].grants.covers_target_group("pay-blue"));
    assert!(!t.teams[0].grants.covers_target_group("ord-blue"));
}

#[test]
fn every_tenants_problem_is_reported() {
    let mut dup = team("pay", "teams/pay2", "pay2");
    dup.hostnames = vec!["bad host".into()];
    dup.target_groups = vec!["[".into()];
    let result = Tenancy::from_spec(
        &spec(vec![
            team("pay", "teams/pay", "pay"),
            dup,
            team("nested", "teams/pay/sub", "nested"),
            team("samens", "teams/samens", "pay"),
            team("escape", "../x", "escape"),
        ]),
        "tenants.yaml",
        1,
    );
    assert_eq!(
        fields(result),
        [
            "teams[1].name",
            "teams[1].hostnames[0]",
            "teams[1].targetGroups[0]",
            "teams[2].path",
            "teams[3].namespace",
            "teams[4].path",
        ]
    );
}

#[test]
fn a_team_may_share_the_platform_namespace() {
    let t = Tenancy::from_spec(
        &spec(vec![team("infra", "teams/infra", "platform")]),
        "t",
        1,
    );
    assert!(t.is_ok());
}

#[test]
fn namespace_labels_include_the_name_label() {
    let mut pay = team("pay", "teams/pay", "pay");
    pay.labels.insert("tier".into(), "backend".into());
    let t = Tenancy::from_spec(&spec(vec![pay]), "t", 1).unwrap();
    let labels = t.namespace_labels("pay");
    assert_eq!(labels.get("tier").map(String::as_str), Some("backend"));
    assert_eq!(
        labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
        Some("pay")
    );
}
