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

// ---------------------------------------------------------------------------------------
// The admission cache: every call must give what `admit` gives, and reuse what it can.

mod incremental {
    use super::super::{
        AdmissionCache, AdmitOptions, FullReason, Verdict, admit, admit_incremental,
    };
    use crate::config::Limits;
    use crate::source::{Revision, Snapshot, SourceFile};

    const TENANTS: &str = "apiVersion: gwsync.dev/v1alpha1
kind: Tenants
platform: {path: platform/, namespace: platform}
teams:
  - {name: pay, path: teams/pay/, namespace: pay, hostnames: [pay.example.com], targetGroups: ['*']}
  - {name: ord, path: teams/ord/, namespace: ord, hostnames: [ord.example.com], targetGroups: ['*']}
";

    const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public}
spec:
  gatewayClassName: gwsync
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
";

    fn route(name: &str, host: &str, path: &str) -> String {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: public, namespace: platform}}]
  hostnames: [{host}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]
      backendRefs: [{{group: gateway.k8s.aws, kind: TargetGroupName, name: tg}}]
"
        )
    }

    /// A revision as a list of files; `with` and `without` make the next one.
    #[derive(Clone)]
    struct Files(Vec<(String, String)>);

    impl Files {
        fn baseline() -> Files {
            Files(vec![
                ("tenants.yaml".into(), TENANTS.into()),
                ("platform/gateway.yaml".into(), GATEWAY.into()),
                (
                    "teams/pay/routes.yaml".into(),
                    route("web", "pay.example.com", "/"),
                ),
                (
                    "teams/ord/routes.yaml".into(),
                    route("web", "ord.example.com", "/"),
                ),
            ])
        }

        fn with(mut self, path: &str, text: &str) -> Files {
            self.0.retain(|(p, _)| p != path);
            self.0.push((path.into(), text.into()));
            self
        }

        fn without(mut self, path: &str) -> Files {
            self.0.retain(|(p, _)| p != path);
            self
        }

        fn snapshot(&self) -> Snapshot {
            let mut files: Vec<SourceFile> = self
                .0
                .iter()
                .map(|(path, text)| SourceFile {
                    path: path.clone(),
                    bytes: text.clone().into_bytes(),
                })
                .collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Snapshot {
                revision: Revision {
                    commit: "0".repeat(40),
                    author: "Test <test@example.com>".into(),
                    committed_at: 0,
                    summary: "test".into(),
                },
                files,
                entries_refused: Vec::new(),
                submodules: Vec::new(),
                over_limits: None,
            }
        }
    }

    fn options() -> AdmitOptions {
        AdmitOptions {
            tenants_file: "tenants.yaml".into(),
            limits: Limits::default(),
            gateway_classes: vec!["gwsync".into()],
        }
    }

    /// Admits `files` with the cache, asserts the result equals a full admission, and
    /// returns the owners loaded and reused.
    fn step(cache: &mut AdmissionCache, files: &Files, options: &AdmitOptions) -> Vec<String> {
        let snapshot = files.snapshot();
        let incremental = admit_incremental(&snapshot, options, cache);
        let full = admit(&snapshot, options);
        assert_eq!(
            serde_json::to_value(&incremental).unwrap(),
            serde_json::to_value(&full).unwrap(),
            "incremental admission differs from a full one ({})",
            cache.stats()
        );
        cache.stats().owners_loaded.clone()
    }

    /// A cache that has seen the baseline.
    fn warm() -> AdmissionCache {
        let mut cache = AdmissionCache::default();
        let loaded = step(&mut cache, &Files::baseline(), &options());
        assert_eq!(cache.stats().full, Some(FullReason::NothingCached));
        assert_eq!(loaded, ["platform", "pay", "ord"]);
        let adm = admit(&Files::baseline().snapshot(), &options());
        assert!(adm.revision_valid());
        for team in &adm.teams {
            assert!(team.diagnostics.is_empty(), "{:?}", team.diagnostics);
            assert_eq!(team.documents.len(), 1);
        }
        cache
    }

    #[test]
    fn unchanged_folders_are_reused() {
        let mut cache = warm();
        let loaded = step(&mut cache, &Files::baseline(), &options());
        assert_eq!(cache.stats().full, None);
        assert!(loaded.is_empty());
        assert_eq!(cache.stats().owners_reused, 3);
        assert_eq!(cache.stats().to_string(), "incremental: read 0, reused 3");
    }

    #[test]
    fn a_changed_team_is_read_again_alone() {
        let mut cache = warm();
        let changed = Files::baseline().with(
            "teams/pay/routes.yaml",
            &route("web", "pay.example.com", "/v2"),
        );
        assert_eq!(step(&mut cache, &changed, &options()), ["pay"]);
        assert_eq!(cache.stats().full, None);
        assert_eq!(cache.stats().owners_reused, 2);
        assert_eq!(
            cache.stats().to_string(),
            "incremental: read 1 (pay), reused 2"
        );
        // Back to the baseline: pay changed again, ord is still the cached one.
        assert_eq!(step(&mut cache, &Files::baseline(), &options()), ["pay"]);
    }

    #[test]
    fn a_team_that_breaks_its_yaml_or_collides_is_judged_against_the_cached_others() {
        let mut cache = warm();
        let broken = Files::baseline().with("teams/ord/routes.yaml", "kind: [unclosed");
        assert_eq!(step(&mut cache, &broken, &options()), ["ord"]);
        // pay claims ord's hostname (ord is read again: it is back to the baseline), then
        // declares its route twice.
        let claim = Files::baseline().with(
            "teams/pay/routes.yaml",
            &route("web", "ord.example.com", "/"),
        );
        assert_eq!(step(&mut cache, &claim, &options()), ["pay", "ord"]);
        let dup = claim.with("teams/pay/more.yaml", &route("web", "pay.example.com", "/"));
        assert_eq!(step(&mut cache, &dup, &options()), ["pay"]);
        let adm = admit(&dup.snapshot(), &options());
        assert_eq!(adm.team("pay").unwrap().verdict, Verdict::Refused);
        assert_eq!(adm.team("ord").unwrap().verdict, Verdict::Admitted);
    }

    #[test]
    fn a_platform_change_reads_everything() {
        let mut cache = warm();
        let changed =
            Files::baseline().with("platform/gateway.yaml", &GATEWAY.replace("80", "8080"));
        assert_eq!(
            step(&mut cache, &changed, &options()),
            ["platform", "pay", "ord"]
        );
        assert_eq!(cache.stats().full, Some(FullReason::SharedFilesChanged));
        assert_eq!(cache.stats().owners_reused, 0);
    }

    #[test]
    fn a_file_outside_every_folder_reads_everything() {
        let mut cache = warm();
        let changed = Files::baseline().with("stray.yaml", "kind: Nothing");
        assert_eq!(step(&mut cache, &changed, &options()).len(), 3);
        assert_eq!(cache.stats().full, Some(FullReason::SharedFilesChanged));
        // Hidden paths are never read, so they change nothing.
        let hidden = changed.with(".github/ci.yaml", "on: push");
        assert!(step(&mut cache, &hidden, &options()).is_empty());
    }

    #[test]
    fn a_tenants_change_reads_everything() {
        let mut cache = warm();
        let changed = Files::baseline().with(
            "tenants.yaml",
            &TENANTS.replace("[pay.example.com]", "[pay.example.com, ord.example.com]"),
        );
        assert_eq!(step(&mut cache, &changed, &options()).len(), 3);
        assert_eq!(cache.stats().full, Some(FullReason::TenantsFileChanged));
        assert_eq!(
            cache.stats().to_string(),
            "full (the tenants file changed): read 3 owners"
        );
    }

    #[test]
    fn a_team_added_in_tenants_reads_everything() {
        let mut cache = warm();
        let tenants = format!(
            "{TENANTS}  - {{name: new, path: teams/new/, namespace: new, hostnames: [new.example.com], targetGroups: ['*']}}\n"
        );
        let added = Files::baseline()
            .with("tenants.yaml", &tenants)
            .with("teams/new/r.yaml", &route("web", "new.example.com", "/"));
        assert_eq!(
            step(&mut cache, &added, &options()),
            ["platform", "pay", "ord", "new"]
        );
        assert_eq!(cache.stats().full, Some(FullReason::TenantsFileChanged));
        // And the new team is cached like the others.
        let changed = added.with("teams/new/r.yaml", &route("web", "new.example.com", "/x"));
        assert_eq!(step(&mut cache, &changed, &options()), ["new"]);
    }

    #[test]
    fn an_options_change_reads_everything() {
        let mut cache = warm();
        let mut limits = options();
        limits.limits.max_yaml_depth = 8;
        let mut class = options();
        class.gateway_classes = vec!["other".into()];
        let mut path = options();
        path.tenants_file = "platform/tenants.yaml".into();
        let moved = Files::baseline().with("platform/tenants.yaml", TENANTS);
        for (options, files) in [
            (limits, Files::baseline()),
            (class, Files::baseline()),
            (path, moved),
        ] {
            assert_eq!(step(&mut cache, &files, &options).len(), 3);
            assert_eq!(cache.stats().full, Some(FullReason::OptionsChanged));
        }
    }

    #[test]
    fn a_deleted_team_folder_is_read_as_empty() {
        let mut cache = warm();
        let deleted = Files::baseline().without("teams/ord/routes.yaml");
        assert_eq!(step(&mut cache, &deleted, &options()), ["ord"]);
        let adm = admit_incremental(&deleted.snapshot(), &options(), &mut cache);
        assert!(adm.team("ord").unwrap().documents.is_empty());
        assert_eq!(adm.team("pay").unwrap().documents.len(), 1);
    }

    #[test]
    fn an_invalid_tenants_file_empties_the_cache() {
        let mut cache = warm();
        let broken = Files::baseline().with("tenants.yaml", "kind: [");
        assert!(step(&mut cache, &broken, &options()).is_empty());
        assert_eq!(cache.stats().full, Some(FullReason::TenantsFileChanged));
        assert_eq!(step(&mut cache, &Files::baseline(), &options()).len(), 3);
        assert_eq!(cache.stats().full, Some(FullReason::NothingCached));
    }
}
