//! Incremental reconcile equals full reconcile, on a pseudo-random walk of real commits.
//!
//! A real Git repository (see `gitrepo`) starts with a tenants file, a platform folder with a
//! Gateway and its load balancer settings, and three teams with HTTPRoutes. Then 40 commits,
//! drawn from a fixed seed, change one team's route (path, weights, hostname, sometimes
//! another team's hostname or a shared hostname's path), break a team's YAML, add or remove a
//! route file, change the platform's Gateway, grant a team a hostname, or add a team. After
//! each commit the revision is read through `Source` and checked as the daemon does, with the
//! cache carried over from the previous commit (`reconcile::check_incremental`: only changed
//! teams parsed, only new commits walked for route ages), and from scratch
//! (`reconcile::check`); the two admissions, route ages and translations to ALB stacks must
//! be equal. Commits that touch team folders only must read
//! exactly the teams they touched and reuse every other owner.

mod gitrepo;

use gitrepo::{GATEWAY, LOAD_BALANCER, TestRepo};
use gwsync::config::Config;
use gwsync::reconcile::{CheckCache, check, check_incremental};
use gwsync::source::Source;
use gwsync::tenancy::FullReason;
use std::collections::{BTreeMap, BTreeSet};

/// xorshift64*: a few lines, a fixed seed, the same walk on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const COMMITS: usize = 40;
const SHARED_HOST: &str = "api.example.com";
const NEW_TEAMS: &[&str] = &["search", "billing", "media"];

/// One team as the tenants file declares it.
struct Team {
    name: String,
    /// Concrete hostnames granted (besides the `*.<name>.example.com` wildcard).
    hostnames: Vec<String>,
}

impl Team {
    fn new(name: &str) -> Team {
        Team {
            name: name.to_string(),
            hostnames: vec![format!("{name}.example.com")],
        }
    }

    fn folder(&self) -> String {
        format!("teams/{}/", self.name)
    }

    /// Hostnames a route of this team may use: its grants and one under its wildcard.
    fn route_hostnames(&self) -> Vec<String> {
        let mut hosts = self.hostnames.clone();
        hosts.push(format!("www.{}.example.com", self.name));
        hosts
    }
}

/// The repository's files as the next commit will have them, and the teams they declare.
struct World {
    teams: Vec<Team>,
    files: BTreeMap<String, String>,
    /// For unique route-file names.
    next_file: usize,
}

/// What a commit changed, as the cache should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Teams,
    Platform,
    Tenants,
}

impl World {
    fn new() -> World {
        let mut world = World {
            teams: ["payments", "orders", "catalog"]
                .iter()
                .map(|n| Team::new(n))
                .collect(),
            files: BTreeMap::new(),
            next_file: 0,
        };
        world.write_tenants();
        world.set("platform/gateway.yaml", GATEWAY.to_string());
        world.set("platform/lb.yaml", LOAD_BALANCER.to_string());
        for t in 0..world.teams.len() {
            let team = &world.teams[t];
            let route = route(team, "main", &team.hostnames[0], "/", 100);
            world.set(&format!("{}routes.yaml", team.folder()), route);
        }
        world
    }

    fn set(&mut self, path: &str, text: String) {
        self.files.insert(path.to_string(), text);
    }

    fn write_tenants(&mut self) {
        let mut text = String::from(
            "apiVersion: gwsync.dev/v1alpha1\nkind: Tenants\nplatform: {path: platform/, namespace: platform}\nteams:\n",
        );
        for team in &self.teams {
            let name = &team.name;
            let mut hosts = team.hostnames.clone();
            hosts.push(format!("*.{name}.example.com"));
            text.push_str(&format!(
                "  - name: {name}\n    path: teams/{name}/\n    namespace: {name}\n    labels: {{tier: backend}}\n    hostnames: {hosts:?}\n    paths: {{\"{SHARED_HOST}\": [\"/{name}\"]}}\n    targetGroups: [\"{name}-*\"]\n"
            ));
        }
        self.set("tenants.yaml", text);
    }

    fn route_files(&self, team: usize) -> Vec<String> {
        let folder = self.teams[team].folder();
        self.files
            .keys()
            .filter(|p| p.starts_with(&folder))
            .cloned()
            .collect()
    }

    /// One random change; returns what it touched.
    fn mutate(&mut self, rng: &mut Rng) -> Change {
        let t = rng.below(self.teams.len());
        let folder = self.teams[t].folder();
        match rng.below(20) {
            // A team's route: path, weights, hostname.
            0..=7 => {
                let files = self.route_files(t);
                let path = match files.as_slice() {
                    [] => format!("{folder}routes.yaml"),
                    files => rng.pick(files).clone(),
                };
                let name = route_name(&path);
                let route = self.random_route(rng, t, &name);
                self.set(&path, route);
                Change::Teams
            }
            // A team breaks its YAML.
            8..=9 => {
                let path = format!("{folder}routes.yaml");
                self.set(
                    &path,
                    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: [unclosed\n".to_string(),
                );
                Change::Teams
            }
            // A new route file; now and then one that declares an existing route again.
            10..=11 => {
                self.next_file += 1;
                let path = format!("{folder}extra-{}.yaml", self.next_file);
                let name = if rng.below(4) == 0 {
                    "main".to_string()
                } else {
                    route_name(&path)
                };
                let route = self.random_route(rng, t, &name);
                self.set(&path, route);
                Change::Teams
            }
            // A route file removed (its whole folder, when it was the last one).
            12..=13 => {
                let files = self.route_files(t);
                if let Some(path) = (!files.is_empty()).then(|| rng.pick(&files).clone()) {
                    self.files.remove(&path);
                } else {
                    let route = self.random_route(rng, t, "main");
                    self.set(&format!("{folder}routes.yaml"), route);
                }
                Change::Teams
            }
            // The platform's Gateway.
            14..=16 => {
                let variants = [
                    GATEWAY.to_string(),
                    GATEWAY.replace("port: 80\n", "port: 8080\n"),
                    GATEWAY.replace(
                        "    - name: https\n",
                        "    - name: https\n      hostname: \"*.example.com\"\n",
                    ),
                ];
                assert!(variants[1..].iter().all(|v| v != GATEWAY), "{variants:?}");
                let current = self.files["platform/gateway.yaml"].clone();
                let next = variants
                    .iter()
                    .filter(|v| **v != current)
                    .nth(rng.below(variants.len() - 1))
                    .unwrap()
                    .clone();
                self.set("platform/gateway.yaml", next);
                Change::Platform
            }
            // The tenants file grants a team one more hostname.
            17..=18 => {
                self.next_file += 1;
                let team = &mut self.teams[t];
                let host = format!("{}-{}.example.net", team.name, self.next_file);
                team.hostnames.push(host);
                self.write_tenants();
                Change::Tenants
            }
            // A new team, with a folder and a route.
            _ => {
                let Some(name) = NEW_TEAMS.get(self.teams.len() - 3) else {
                    return self.mutate(rng);
                };
                let team = Team::new(name);
                let route = route(&team, "main", &team.hostnames[0], "/", 100);
                self.set(&format!("{}routes.yaml", team.folder()), route);
                self.teams.push(team);
                self.write_tenants();
                Change::Tenants
            }
        }
    }

    /// A route of team `t`: mostly on its own hostnames, sometimes on the shared hostname
    /// (inside or outside its granted prefix), sometimes on another team's hostname.
    fn random_route(&self, rng: &mut Rng, t: usize, name: &str) -> String {
        let team = &self.teams[t];
        let (host, path) = match rng.below(8) {
            0 => {
                let other = rng.pick(&self.teams);
                (other.hostnames[0].clone(), "/".to_string())
            }
            1 | 2 => {
                let prefix = if rng.below(3) == 0 {
                    "/elsewhere".to_string()
                } else {
                    format!("/{}", team.name)
                };
                let suffix = rng.pick(&["", "/v1", "/v2/items"]);
                (SHARED_HOST.to_string(), format!("{prefix}{suffix}"))
            }
            _ => (
                rng.pick(&team.route_hostnames()).clone(),
                rng.pick(&["/", "/api", "/v2", "/checkout"]).to_string(),
            ),
        };
        let weight = rng.pick(&[0, 10, 50, 90, 100]);
        route(team, name, &host, &path, *weight)
    }
}

/// `routes.yaml` declares the route `main`; `extra-N.yaml` the route `extra-N`.
fn route_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap().trim_end_matches(".yaml");
    match file {
        "routes" => "main".to_string(),
        other => other.to_string(),
    }
}

/// An HTTPRoute on the Gateway's HTTPS listener, splitting traffic between the team's blue
/// and green target groups.
fn route(team: &Team, name: &str, host: &str, path: &str, blue_weight: u32) -> String {
    let team = &team.name;
    let green_weight = 100 - blue_weight;
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
spec:
  parentRefs:
    - {{name: public, namespace: platform, sectionName: https}}
  hostnames: [\"{host}\"]
  rules:
    - matches:
        - path: {{type: PathPrefix, value: \"{path}\"}}
      backendRefs:
        - {{group: gateway.k8s.aws, kind: TargetGroupName, name: {team}-blue, weight: {blue_weight}}}
        - {{group: gateway.k8s.aws, kind: TargetGroupName, name: {team}-green, weight: {green_weight}}}
"
    )
}

/// Makes the repository's index match `world.files` and commits; returns the paths that
/// changed since `previous`.
fn commit(
    repo: &mut TestRepo,
    previous: &BTreeMap<String, String>,
    world: &World,
    message: &str,
) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    for path in previous.keys() {
        if !world.files.contains_key(path) {
            repo.remove(path);
            changed.insert(path.clone());
        }
    }
    for (path, text) in &world.files {
        if previous.get(path) != Some(text) {
            repo.write(path, text);
            changed.insert(path.clone());
        }
    }
    repo.commit(message);
    changed
}

#[test]
fn incremental_reconcile_equals_full_reconcile_on_every_commit() {
    let config = Config::default();
    let mut rng = Rng(SEED);
    let mut world = World::new();
    let mut repo = TestRepo::new();
    let mut previous = BTreeMap::new();
    let mut cache = CheckCache::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut team_only_commits = 0;
    let mut reused = 0;

    for step in 0..=COMMITS {
        let change = if step == 0 {
            None
        } else {
            Some(world.mutate(&mut rng))
        };
        let changed = commit(&mut repo, &previous, &world, &format!("step {step}"));
        previous = world.files.clone();

        let source = Source::open_local(repo.path()).unwrap();
        let revision = source.resolve("HEAD").unwrap();
        let incremental =
            check_incremental(&source, revision.clone(), &config, &mut cache).unwrap();
        // The full reading walks the whole history: no ages cached on disk to start from.
        let _ = std::fs::remove_file(ages_cache(&repo));
        let full = check(&source, revision, &config).unwrap();
        let stats = cache.admission.stats().clone();
        let context = format!("step {step} ({change:?}, changed {changed:?}): {stats}");
        assert_eq!(
            serde_json::to_value(&incremental.admission).unwrap(),
            serde_json::to_value(&full.admission).unwrap(),
            "admissions differ at {context}"
        );
        assert_eq!(
            format!("{:?}", incremental.admission.tenancy),
            format!("{:?}", full.admission.tenancy),
            "tenancies differ at {context}"
        );
        assert_eq!(
            incremental.ages, full.ages,
            "route ages differ at {context}"
        );
        if incremental.admission.tenancy.is_some() {
            assert!(!full.ages.is_empty(), "routes have ages at {context}");
        }
        // Only the first commit, and those after a tenants change, walk the whole history.
        let whole_history = step == 0 || matches!(change, Some(Change::Tenants));
        assert_eq!(
            cache.ages_were_incremental(),
            !whole_history,
            "route ages at {context}"
        );
        let (incremental_translation, full_translation) =
            (&incremental.translation, &full.translation);
        assert_eq!(
            incremental_translation.stack, full_translation.stack,
            "stacks differ at {context}"
        );
        assert_eq!(
            incremental_translation.diagnostics, full_translation.diagnostics,
            "translation diagnostics differ at {context}"
        );
        assert_eq!(
            incremental_translation.refused_teams,
            full_translation.refused_teams
        );
        let full = full.admission;

        // What the cache did follows from what the commit changed.
        let owners = world.teams.len() + 1;
        match change {
            None => {
                assert_eq!(stats.full, Some(FullReason::NothingCached), "{context}");
                assert!(full.revision_valid(), "{context}");
                assert!(
                    full.teams.iter().all(|t| t.diagnostics.is_empty()),
                    "the first revision is clean: {context}"
                );
                assert!(
                    !full_translation.stack.load_balancers.is_empty(),
                    "the first revision translates to a load balancer: {context}"
                );
            }
            Some(Change::Platform) => {
                assert_eq!(
                    stats.full,
                    Some(FullReason::SharedFilesChanged),
                    "{context}"
                );
                assert_eq!(stats.owners_loaded.len(), owners, "{context}");
            }
            Some(Change::Tenants) => {
                assert_eq!(
                    stats.full,
                    Some(FullReason::TenantsFileChanged),
                    "{context}"
                );
                assert_eq!(stats.owners_loaded.len(), owners, "{context}");
            }
            Some(Change::Teams) => {
                let touched: Vec<String> = world
                    .teams
                    .iter()
                    .filter(|t| changed.iter().any(|p| p.starts_with(&t.folder())))
                    .map(|t| t.name.clone())
                    .collect();
                assert_eq!(stats.full, None, "{context}");
                assert_eq!(stats.owners_loaded, touched, "{context}");
                assert_eq!(stats.owners_reused, owners - touched.len(), "{context}");
                team_only_commits += 1;
                reused += stats.owners_reused;
            }
        }
        seen.insert(format!("{change:?}"));
        for outcome in &full.teams {
            seen.insert(format!("{:?}", outcome.verdict));
        }
    }

    // The walk covered every kind of change and both verdicts, and the cache was used.
    for kind in [
        "Some(Teams)",
        "Some(Platform)",
        "Some(Tenants)",
        "Admitted",
        "Refused",
    ] {
        assert!(seen.contains(kind), "the walk never saw {kind}: {seen:?}");
    }
    assert!(
        team_only_commits >= COMMITS / 2,
        "{team_only_commits} team-only commits"
    );
    assert!(reused >= team_only_commits * 2, "{reused} owners reused");
    assert!(world.teams.len() > 3, "the walk added a team");
}

/// The files (their text) each walk of the history visits, and whether it started after
/// `since`.
fn walk(source: &Source, tip: git2::Oid, since: Option<git2::Oid>) -> (bool, Vec<String>) {
    let revision = source.resolve(&tip.to_string()).unwrap();
    let mut seen = Vec::new();
    let since = since.map(|s| s.to_string());
    let incremental = source
        .for_each_introduction(
            &revision,
            since.as_deref(),
            &gwsync::config::Limits::default(),
            &|_| true,
            &mut |_, _, bytes| seen.push(String::from_utf8_lossy(bytes).into_owned()),
        )
        .unwrap();
    (incremental, seen)
}

#[test]
fn route_ages_walk_only_new_commits_unless_the_last_tip_left_the_history() {
    let mut repo = TestRepo::new();
    repo.write("teams/a/r.yaml", "a");
    let a = repo.commit("A");
    repo.branch("rewritten");
    repo.write("teams/a/r.yaml", "b");
    let b = repo.commit("B");
    repo.write("teams/a/r.yaml", "c");
    let c = repo.commit("C");
    // A force-push: the branch now ends in D, whose history does not hold B or C.
    repo.checkout_branch("rewritten");
    repo.write("teams/a/r.yaml", "d");
    let d = repo.commit("D");
    let source = Source::open_local(repo.path()).unwrap();

    assert_eq!(
        walk(&source, c, None),
        (false, vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        walk(&source, c, Some(a)),
        (true, vec!["b".into(), "c".into()])
    );
    assert_eq!(walk(&source, c, Some(c)), (true, vec![]));
    assert_eq!(
        walk(&source, d, Some(c)),
        (false, vec!["a".into(), "d".into()]),
        "C is not in D's history: everything is read again"
    );
    assert!(!walk(&source, d, Some(b)).0);
}

/// Where `check` leaves route ages for the next process.
fn ages_cache(repo: &TestRepo) -> std::path::PathBuf {
    repo.path().join(".git/gwsync/route-ages.json")
}

/// A repository with one team's route in three commits, ages read once by `check`.
fn aged_repo() -> (TestRepo, Config) {
    let config = Config::default();
    let mut world = World::new();
    let mut repo = TestRepo::new();
    let mut previous = BTreeMap::new();
    let mut rng = Rng(SEED);
    for step in 0..3 {
        if step > 0 {
            world.mutate(&mut rng);
        }
        commit(&mut repo, &previous, &world, &format!("step {step}"));
        previous = world.files.clone();
    }
    (repo, config)
}

fn check_head(repo: &TestRepo, config: &Config) -> gwsync::reconcile::Checked {
    let source = Source::open_local(repo.path()).unwrap();
    let revision = source.resolve("HEAD").unwrap();
    check(&source, revision, config).unwrap()
}

/// `validate`, `plan` and `check` start from the ages the last process left in the Git
/// directory: at the same tip they walk nothing; the result is always the whole walk's.
#[test]
fn route_ages_cached_in_the_git_directory_spare_the_next_process_the_walk() {
    let (repo, config) = aged_repo();
    let first = check_head(&repo, &config);
    assert!(!first.ages.is_empty());
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ages_cache(&repo)).unwrap()).unwrap();
    let head = Source::open_local(repo.path())
        .unwrap()
        .resolve("HEAD")
        .unwrap();
    assert_eq!(cached["tip"], head.commit.as_str());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ages_cache(&repo))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "private to its owner");

    // At the same tip, the cached ages are taken as they are: nothing is walked. (A forged
    // age shows it; gwsync never writes one.)
    let route = first.ages.keys().next().unwrap().clone();
    let mut forged = cached.clone();
    forged["ages"][&route] = serde_json::json!(1);
    std::fs::write(ages_cache(&repo), serde_json::to_vec(&forged).unwrap()).unwrap();
    assert_eq!(
        check_head(&repo, &config).ages[&route],
        1,
        "read from the cache"
    );

    // Ages for other inputs (another tenants file) are not used.
    let mut other_inputs = forged.clone();
    other_inputs["inputs"] = serde_json::json!("another tenants file");
    std::fs::write(
        ages_cache(&repo),
        serde_json::to_vec(&other_inputs).unwrap(),
    )
    .unwrap();
    assert_eq!(check_head(&repo, &config).ages, first.ages);
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ages_cache(&repo)).unwrap()).unwrap();
    assert_eq!(
        rewritten, cached,
        "the walk's ages replace those of other inputs"
    );

    // Ages of a tip that is not in the history (a force-push) are not used either.
    let mut elsewhere = forged;
    elsewhere["tip"] = serde_json::json!("0123456789012345678901234567890123456789");
    std::fs::write(ages_cache(&repo), serde_json::to_vec(&elsewhere).unwrap()).unwrap();
    assert_eq!(check_head(&repo, &config).ages, first.ages);

    // An unreadable cache costs a walk, nothing else.
    std::fs::write(ages_cache(&repo), b"not json").unwrap();
    assert_eq!(check_head(&repo, &config).ages, first.ages);
}
