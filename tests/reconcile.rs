//! Reconcile end to end against moto, through the real SDK: the example repository, read from
//! a real Git repository as `gwsync plan` reads it, planned against the live state
//! (`reconcile::live_plan`), applied (`aws::apply`), and planned again.
//!
//! Each test starts its own moto server with the network the example needs (subnets, a
//! security group, the ACM certificate, and the existing target groups `orders-asg` and
//! `payments-web-asg` that the orders and payments teams forward to), writes their ids into
//! `platform/loadbalancer.yaml` and commits. Every world also holds resources gwsync must
//! never touch: a load balancer made by hand (listener, rules, target group, no gwsync tags)
//! and the existing target groups; some tests add a hand-made rule on gwsync's own listener.
//! They are snapshotted when made, and compared after every apply
//! ([`World::assert_foreign_untouched`]).
//!
//! Every call gwsync's clients make is recorded (`support::calls`), so the tests hold plan
//! and apply to exact per-operation call counts. The CLI tests run the real binary against
//! the same moto server.

mod support;

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext;
use aws_sdk_elasticloadbalancingv2::types as sdk;
use gwsync::alb::identity;
use gwsync::alb::{Certificate, Stack};
use gwsync::aws::AwsIds;
use gwsync::aws::apply::{ApplyReport, Outcome, apply};
use gwsync::aws::client::Clients;
use gwsync::aws::observe::observe;
use gwsync::config::Config;
use gwsync::plan::{Operation, Plan, render};
use gwsync::reconcile::observing::Observation;
use gwsync::reconcile::{Checked, LivePlan, ObservedCache, Observing, PlanFor, live_plan};
use gwsync::source::Source;
use gwsync::validate::Status;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Instant;
use support::calls::{CallLog, Failure, counts, recorded_clients, writes_of};
use support::example::{EXISTING_TARGET_GROUPS, ExampleRepo};
use support::moto::{MotoServer, Network, REGION, fake_aws_env};

/// The instance tag of everything these tests let gwsync create (the CLI gets it with
/// `--instance-id`).
const INSTANCE: &str = "reconcile-test";
const GATEWAY: &str = "platform/public";
const PAYMENTS_ROUTES: &str = "teams/payments/routes.yaml";

// ---------------------------------------------------------------------------------------
// Reading a revision and planning, as `gwsync plan` does.

/// Reads HEAD of the repository at `path` with the default configuration (but
/// [`INSTANCE`]), as `gwsync plan --repo PATH` does.
fn check(path: &Path) -> Checked {
    let config = Config {
        instance_id: INSTANCE.to_string(),
        ..Config::default()
    };
    let source = Source::open_local(path).expect("open the repository");
    let revision = source.resolve("HEAD").expect("resolve HEAD");
    gwsync::reconcile::check(&source, revision, &config).expect("read the revision")
}

/// The plan for HEAD of `repo` against AWS, and where things are. The revision must be clean
/// (every team admitted, no error) and no Gateway held back.
async fn reconcile(repo: &ExampleRepo, clients: &Clients) -> (Plan, AwsIds) {
    assert_eq!(
        check(repo.path()).report().status(),
        Status::Clean,
        "the revision is clean"
    );
    let live = plan_head(repo, clients).await;
    assert!(live.held_back.is_empty(), "held back: {:?}", live.held_back);
    eprintln!("plan:\n{}", render::text(&live.plan));
    (live.plan, live.ids)
}

/// The plan for HEAD of `repo` against AWS as it is (no state database, nothing held), with
/// what it held back.
async fn plan_head(repo: &ExampleRepo, clients: &Clients) -> LivePlan {
    plan_head_observing(repo, clients, Observing::Everything).await
}

/// [`plan_head`], reading AWS as `observing` says.
async fn plan_head_observing(
    repo: &ExampleRepo,
    clients: &Clients,
    observing: Observing<'_>,
) -> LivePlan {
    let checked = check(repo.path());
    let wanted = PlanFor {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        held: &BTreeMap::new(),
        rules_quota: 100,
    };
    live_plan(clients, INSTANCE, wanted, observing)
        .await
        .expect("live_plan")
}

/// The AWS call each change of a plan makes, counted.
fn operations(plan: &Plan) -> BTreeMap<String, usize> {
    counts(plan.changes.iter().map(|c| render::call(&c.operation)))
}

/// `(operation, count)` pairs as a count map.
fn calls(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

/// The `gwsync.dev/resource` ids a revision's configuration has on AWS: its load balancers,
/// listeners, rules and owned target groups.
fn resource_ids(stack: &Stack) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for lb in &stack.load_balancers {
        ids.insert(identity::load_balancer_id(&lb.gateway));
        for l in &lb.listeners {
            ids.insert(identity::listener_id(&lb.gateway, l.port));
            for r in &l.rules {
                ids.insert(identity::rule_id(&lb.gateway, l.port, &r.conditions));
            }
        }
        for tg in &lb.target_groups {
            ids.insert(identity::target_group_id(&lb.gateway, &tg.backend));
        }
    }
    ids
}

/// A YAML stream without the document whose `metadata.name` is `name` (which must be there).
fn without_document(text: &str, name: &str) -> String {
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let marker = format!("metadata:\n  name: {name}\n");
    let kept: Vec<&str> = docs
        .iter()
        .copied()
        .filter(|d| !d.contains(&marker))
        .collect();
    assert_eq!(kept.len() + 1, docs.len(), "exactly one document is {name}");
    kept.join("\n---\n")
}

/// A route of the payments team on pay.example.com, `/api/v2`: it sorts between
/// payments-shared-api (api.example.com) and the `/api` rules of payments-web.
const PAYMENTS_V2: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: payments-v2
spec:
  parentRefs:
    - {name: public, namespace: platform, sectionName: https}
  hostnames: [\"pay.example.com\"]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /api/v2}
      backendRefs:
        - {name: payments-api, port: 8080}
";

/// A route of the orders team on api.example.com, `/orders/v3`: it sorts between
/// orders-shared-api and payments-shared-api.
const ORDERS_V3: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: orders-v3
spec:
  parentRefs:
    - {name: public, namespace: platform, sectionName: https}
  hostnames: [\"api.example.com\"]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /orders/v3}
      backendRefs:
        - {group: gateway.k8s.aws, kind: TargetGroupName, name: orders-asg}
";

// ---------------------------------------------------------------------------------------
// The world: moto, the example repository pointed at it, and hand-made resources.

struct World {
    moto: MotoServer,
    network: Network,
    repo: ExampleRepo,
    /// gwsync's clients, every call recorded in `log`.
    clients: Clients,
    log: Arc<CallLog>,
    /// Not recorded: for set-up and assertions.
    elb: elb::Client,
    /// What gwsync must never touch, and how it looked when made.
    foreign: Foreign,
}

#[derive(Default)]
struct Foreign {
    /// The load balancer made by hand.
    load_balancer: String,
    /// Rules made by hand on gwsync's listeners.
    rules: Vec<String>,
    /// Target groups made outside gwsync (the existing ones and the hand-made one).
    target_groups: Vec<String>,
    snapshot: String,
}

impl World {
    async fn start() -> World {
        World::on(MotoServer::start()).await
    }

    async fn on(moto: MotoServer) -> World {
        let network = moto.create_network(&EXISTING_TARGET_GROUPS, Some("example.com"));
        let repo = ExampleRepo::in_network(&network);
        let sdk_config = moto.sdk_config().await;
        let log = Arc::new(CallLog::default());
        let clients = recorded_clients(&sdk_config, &log);
        let elb = moto.elbv2_client().await;
        let mut world = World {
            moto,
            network,
            repo,
            clients,
            log,
            elb,
            foreign: Foreign::default(),
        };
        world.make_foreign_load_balancer().await;
        world
    }

    /// Plans HEAD against AWS (see [`reconcile`]); the calls it made are taken from the log.
    async fn reconcile(&self) -> (Plan, AwsIds, BTreeMap<String, usize>) {
        self.log.take();
        let (plan, ids) = reconcile(&self.repo, &self.clients).await;
        (plan, ids, self.log.take())
    }

    /// Applies `plan` and checks that nothing foreign changed; returns the report and the
    /// calls apply made.
    async fn apply_plan(
        &self,
        plan: &Plan,
        ids: &mut AwsIds,
    ) -> (ApplyReport, BTreeMap<String, usize>) {
        self.log.take();
        let report = apply(&self.clients, plan, ids, INSTANCE).await;
        let calls = self.log.take();
        eprintln!("{}", report.render());
        self.assert_foreign_untouched().await;
        (report, calls)
    }

    /// Plans, applies successfully, and checks that the next plan is empty. Returns the ids
    /// after the apply.
    async fn converge(&self) -> AwsIds {
        let (plan, mut ids, _) = self.reconcile().await;
        let (report, _) = self.apply_plan(&plan, &mut ids).await;
        assert!(report.succeeded(), "{}", report.render());
        let (next, ids, _) = self.reconcile().await;
        assert!(next.is_empty(), "converged:\n{}", render::text(&next));
        ids
    }

    /// Plans HEAD through `cache`, as the daemon plans a commit; the calls it made are taken
    /// from the log.
    async fn plan_cached(&self, cache: &mut ObservedCache) -> (LivePlan, BTreeMap<String, usize>) {
        self.log.take();
        let live = plan_head_observing(&self.repo, &self.clients, Observing::Cached(cache)).await;
        (live, self.log.take())
    }

    /// Plans HEAD: exactly one ModifyRule, applied in one call; then the next plan is empty
    /// and the HTTPS listener's rules are `before` (ids by priority).
    async fn converge_by_one_modify_rule(&self, before: &BTreeMap<u32, String>) {
        let (plan, mut ids, _) = self.reconcile().await;
        assert_eq!(operations(&plan), calls(&[("ModifyRule", 1)]));
        let (report, apply_calls) = self.apply_plan(&plan, &mut ids).await;
        assert!(report.succeeded(), "{}", report.render());
        assert_eq!(apply_calls, calls(&[("ModifyRule", 1)]));
        let (next, _, _) = self.reconcile().await;
        assert!(next.is_empty(), "converged:\n{}", render::text(&next));
        assert_eq!(
            &self.owned_priorities(443).await,
            before,
            "the same rules at the same priorities"
        );
    }

    fn remove_route(&self, file: &str, name: &str) {
        let text = std::fs::read_to_string(self.repo.path().join(file)).unwrap();
        self.repo.write(file, &without_document(&text, name));
    }

    // --- What gwsync must never touch ------------------------------------------------------

    /// A load balancer made by hand (no gwsync tags) with a listener, two rules and a target
    /// group, in the same subnets as gwsync's.
    async fn make_foreign_load_balancer(&mut self) {
        // The same hostnames and priorities gwsync uses: nothing but tags tells them apart.
        let made = support::aws_state::hand_made_load_balancer(
            &self.elb,
            &self.network.subnets,
            &self.network.security_group,
            &self.network.vpc,
            vec![
                (10, host_condition("pay.example.com")),
                (20, host_condition("api.example.com")),
            ],
        )
        .await;
        let (lb_arn, tg_arn) = (made.load_balancer, made.target_group);
        self.foreign.load_balancer = lb_arn;
        self.foreign.target_groups = EXISTING_TARGET_GROUPS
            .iter()
            .map(|name| self.network.target_groups[*name].clone())
            .chain([tg_arn])
            .collect();
        // Moto turns a load balancer from `provisioning` to `active` on its first describe.
        self.elb.describe_load_balancers().send().await.unwrap();
        self.foreign.snapshot = self.snapshot_foreign().await;
    }

    /// A rule made by hand, without any tag, on gwsync's listener: the foreign snapshot
    /// covers it from now on. Returns its ARN.
    async fn make_foreign_rule(&mut self, listener_arn: &str, priority: i32, host: &str) -> String {
        let out = self
            .elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(priority)
            .conditions(host_condition(host))
            .actions(
                sdk::Action::builder()
                    .r#type(sdk::ActionTypeEnum::FixedResponse)
                    .fixed_response_config(
                        sdk::FixedResponseActionConfig::builder()
                            .status_code("418")
                            .content_type("text/plain")
                            .message_body("made by hand")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("CreateRule (by hand, on gwsync's listener)");
        let arn = out.rules()[0].rule_arn().unwrap().to_owned();
        self.foreign.rules.push(arn.clone());
        self.foreign.snapshot = self.snapshot_foreign().await;
        arn
    }

    /// One commit in which orders claims payments' hostname (orders refused) while payments
    /// goes 50/50.
    fn refuse_orders_while_payments_moves(&mut self) {
        self.repo.edit(
            "teams/orders/routes.yaml",
            r#"hostnames: ["orders.example.com"]"#,
            r#"hostnames: ["pay.example.com"]"#,
        );
        self.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 50");
        self.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 50");
        self.repo
            .commit("orders claims a hostname it does not own; payments goes 50/50");
    }

    /// Everything about the foreign resources that apply could have changed, as text.
    async fn snapshot_foreign(&self) -> String {
        let mut out =
            support::aws_state::load_balancer_snapshot(&self.elb, &self.foreign.load_balancer)
                .await;
        for arn in &self.foreign.rules {
            match self.elb.describe_rules().rule_arns(arn).send().await {
                Ok(rules) => {
                    let tags = self.tags_of(arn).await;
                    out += &format!("hand-made rule {:?} {tags:?}\n", rules.rules());
                }
                Err(e) => {
                    out += &format!("hand-made rule {arn}: GONE ({})\n", DisplayErrorContext(&e))
                }
            }
        }
        let tgs = self
            .elb
            .describe_target_groups()
            .set_target_group_arns(Some(self.foreign.target_groups.clone()))
            .send()
            .await
            .expect("DescribeTargetGroups (foreign)");
        for tg in tgs.target_groups() {
            let arn = tg.target_group_arn().unwrap();
            // Which load balancers use it changes when gwsync forwards to it: not a change
            // of the target group.
            let mut tg = tg.clone();
            tg.load_balancer_arns = None;
            let attributes = self
                .elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .expect("DescribeTargetGroupAttributes (foreign)");
            out += &format!(
                "target group {tg:?} {:?} {:?}\n",
                attributes.attributes(),
                self.tags_of(arn).await
            );
        }
        out
    }

    /// Nothing gwsync does not own changed since it was made (or last snapshotted).
    async fn assert_foreign_untouched(&self) {
        let now = self.snapshot_foreign().await;
        if now == self.foreign.snapshot {
            return;
        }
        let before: BTreeSet<&str> = self.foreign.snapshot.lines().collect();
        let after: BTreeSet<&str> = now.lines().collect();
        panic!(
            "a resource gwsync does not own changed:\n--- before\n{}\n--- after\n{}",
            before
                .difference(&after)
                .copied()
                .collect::<Vec<_>>()
                .join("\n"),
            after
                .difference(&before)
                .copied()
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }

    async fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        support::aws_state::tags_of(&self.elb, arn).await
    }

    // --- What gwsync owns --------------------------------------------------------------------

    /// `gwsync.dev/resource` id -> how many load balancers, listeners, rules and target
    /// groups carry it with [`INSTANCE`]'s tag, read from everything in the account.
    async fn owned_inventory(&self) -> BTreeMap<String, usize> {
        support::aws_state::owned_inventory(&self.elb, INSTANCE).await
    }

    /// Deletes, by hand, every load balancer (with its listeners and rules) and target group
    /// that carries [`INSTANCE`]'s tag: the account as it was before gwsync's first apply,
    /// the network and the foreign resources still there.
    async fn remove_owned(&self) {
        let owned = |tags: &BTreeMap<String, String>| {
            tags.get(identity::INSTANCE).map(String::as_str) == Some(INSTANCE)
        };
        let lbs = self.elb.describe_load_balancers().send().await.unwrap();
        for lb in lbs.load_balancers() {
            let arn = lb.load_balancer_arn().unwrap();
            if owned(&self.tags_of(arn).await) {
                self.elb
                    .delete_load_balancer()
                    .load_balancer_arn(arn)
                    .send()
                    .await
                    .expect("DeleteLoadBalancer (clean-up)");
            }
        }
        let tgs = self.elb.describe_target_groups().send().await.unwrap();
        for tg in tgs.target_groups() {
            let arn = tg.target_group_arn().unwrap();
            if owned(&self.tags_of(arn).await) {
                self.elb
                    .delete_target_group()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .expect("DeleteTargetGroup (clean-up)");
            }
        }
        assert_eq!(self.owned_inventory().await, BTreeMap::new(), "all gone");
        self.assert_foreign_untouched().await;
    }

    /// Everything the revision at HEAD asks for is on AWS exactly once, and nothing else
    /// carries gwsync's tags. Rules are counted per listener: a rule whose conditions
    /// changed keeps the id it was created with (by its source), so ids of rules are not
    /// all hashes of today's conditions; the plans around this check compare their content.
    async fn assert_exactly_once(&self) {
        let inventory = self.owned_inventory().await;
        assert!(
            inventory.values().all(|n| *n == 1),
            "each resource exactly once: {inventory:?}"
        );
        let per_listener = |ids: &mut dyn Iterator<Item = &String>| {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for id in ids {
                let key = match id.strip_prefix("rule/") {
                    Some(rule) => format!("rules of {}", &rule[..rule.rfind('/').unwrap()]),
                    None => id.clone(),
                };
                *counts.entry(key).or_default() += 1;
            }
            counts
        };
        let expected = resource_ids(&check(self.repo.path()).translation.stack);
        assert_eq!(
            per_listener(&mut inventory.keys()),
            per_listener(&mut expected.iter()),
            "each resource exactly once"
        );
    }

    /// The priorities of gwsync's rules on each listener keep the order translate asks for.
    async fn assert_order_on_aws(&self) {
        let (observed, _) = observe(&self.clients, INSTANCE).await.expect("observe");
        let checked = check(self.repo.path());
        for lb in &checked.translation.stack.load_balancers {
            for l in &lb.listeners {
                let mut desired = l.rules.clone();
                desired.sort_by_key(|r| r.priority);
                let desired: Vec<String> = desired
                    .iter()
                    .map(|r| identity::rule_id(&lb.gateway, l.port, &r.conditions))
                    .collect();
                let on_aws: Vec<String> = observed
                    .rule_ids
                    .get(&(lb.gateway.clone(), l.port))
                    .map(|by_priority| by_priority.values().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(
                    on_aws, desired,
                    "rule order on {} port {}",
                    lb.gateway, l.port
                );
            }
        }
    }

    /// Where gwsync's resources are now (one observe).
    async fn ids_now(&self) -> AwsIds {
        observe(&self.clients, INSTANCE).await.expect("observe").1
    }

    /// gwsync's rules on a listener: priority -> `gwsync.dev/resource` id.
    async fn owned_priorities(&self, port: u16) -> BTreeMap<u32, String> {
        let (observed, _) = observe(&self.clients, INSTANCE).await.expect("observe");
        observed
            .rule_ids
            .get(&(GATEWAY.to_string(), port))
            .cloned()
            .unwrap_or_default()
    }

    // --- The binary ----------------------------------------------------------------------

    /// Commits the example without its listener certificate ARN: certificates are then found
    /// in ACM by the routes' hostnames.
    fn without_certificate_arns(&mut self) {
        let config = self.repo.path().join("platform/loadbalancer.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let without: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("defaultCertificate:"))
            .collect();
        assert!(without.len() < text.lines().count(), "{text}");
        self.repo
            .write("platform/loadbalancer.yaml", &(without.join("\n") + "\n"));
        self.repo
            .commit("platform: certificates from ACM, by the routes' hostnames");
    }

    /// Imports a self-signed certificate for `names` into moto's ACM; its ARN.
    async fn import_certificate(&self, names: &[&str]) -> String {
        let acm = self.moto.acm_client().await;
        support::certificates::import_self_signed(&acm, "rsa", names).await
    }

    /// `gwsync explain --live` on the Gateway for `url`, as JSON; it must succeed.
    fn explain_live(&self, url: &str) -> serde_json::Value {
        let (code, stdout, stderr) = self.gwsync(&[
            "explain",
            "--live",
            "--gateway",
            GATEWAY,
            "--format",
            "json",
            "--url",
            url,
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    /// Runs the real `gwsync` against this moto server and repository, with `--instance-id`
    /// and nothing from the environment but the AWS settings.
    fn gwsync(&self, args: &[&str]) -> (i32, String, String) {
        self.gwsync_with_repo(args, Some(self.repo.path().to_str().unwrap()))
    }

    /// `gwsync` with another `--repo` (or none, for commands that read no revision).
    fn gwsync_with_repo(&self, args: &[&str], repo: Option<&str>) -> (i32, String, String) {
        let started = Instant::now();
        let mut command = Command::new(env!("CARGO_BIN_EXE_gwsync"));
        command.args(args);
        if let Some(repo) = repo {
            command.args(["--repo", repo]);
        }
        command
            .args(["--instance-id", INSTANCE])
            .env_remove("GWSYNC_CONFIG")
            .env_remove("GWSYNC_INSTANCE_ID")
            // The state database of this test, next to its repository.
            .env("GWSYNC_STATE_DIR", self.repo.path().join(".gwsync-state"))
            .env_remove("RUST_LOG")
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_REGION", REGION);
        let out: Output = fake_aws_env(&mut command).output().expect("run gwsync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!(
            "$ gwsync {} ({:?})\n{stdout}{stderr}",
            args.join(" "),
            started.elapsed()
        );
        let code = out.status.code().expect("gwsync exited");
        (code, stdout, stderr)
    }
}

fn host_condition(host: &str) -> sdk::RuleCondition {
    sdk::RuleCondition::builder()
        .field("host-header")
        .host_header_config(
            sdk::HostHeaderConditionConfig::builder()
                .values(host)
                .build(),
        )
        .build()
}

/// The priority a plan gives to the rule it creates (the plan must create exactly one).
fn created_priority(plan: &Plan) -> u32 {
    let created: Vec<u32> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.operation {
            Operation::CreateRule { rule, .. } => Some(rule.priority),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "one rule created");
    created[0]
}

// ---------------------------------------------------------------------------------------
// The tests.

/// What observe costs with nothing owned yet: all load balancers and target groups with
/// their tags (the hand-made load balancer, the existing and hand-made target groups), and
/// nothing more.
fn observe_calls_from_nothing() -> BTreeMap<String, usize> {
    calls(&[
        ("DescribeLoadBalancers", 1),
        ("DescribeTags", 1),
        ("DescribeTargetGroups", 1),
    ])
}

/// What observe costs on the converged example: tags in three steps (load balancers, then
/// listeners, then rules; the two target groups fill the first step's call), per owned load
/// balancer its attributes and listeners, per
/// owned listener its rules, per HTTPS listener its certificates. No target group's
/// attributes or health: the example's TargetGroupConfigurations set neither attributes nor
/// targets, so the plan has nothing to compare them with.
fn observe_calls_converged() -> BTreeMap<String, usize> {
    calls(&[
        ("DescribeListenerCertificates", 1),
        ("DescribeListeners", 1),
        ("DescribeLoadBalancerAttributes", 1),
        ("DescribeLoadBalancers", 1),
        ("DescribeRules", 2),
        ("DescribeTags", 3),
        ("DescribeTargetGroups", 1),
    ])
}

/// The first apply of the example: one call per change.
fn first_apply_writes() -> BTreeMap<String, usize> {
    calls(&[
        ("CreateListener", 2),
        ("CreateLoadBalancer", 1),
        ("CreateRule", 7),
        ("CreateTargetGroup", 2),
        ("ModifyLoadBalancerAttributes", 1),
    ])
}

#[tokio::test]
async fn from_nothing_the_example_converges_and_a_second_apply_writes_nothing() {
    let w = World::start().await;

    let (plan, mut ids, observe_calls) = w.reconcile().await;
    assert_eq!(
        observe_calls,
        observe_calls_from_nothing(),
        "observe from nothing"
    );
    assert_eq!(operations(&plan), first_apply_writes(), "the plan");

    let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(
        apply_calls,
        first_apply_writes(),
        "one call per change, no reads"
    );

    let (next, mut ids, observe_calls) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    assert_eq!(
        observe_calls,
        observe_calls_converged(),
        "observe, converged"
    );
    let (report, apply_calls) = w.apply_plan(&next, &mut ids).await;
    assert!(report.succeeded() && report.results.is_empty());
    assert_eq!(
        writes_of(&apply_calls),
        calls(&[]),
        "a second apply writes nothing"
    );
    assert_eq!(apply_calls, calls(&[]), "nor reads");

    w.assert_exactly_once().await;
    w.assert_order_on_aws().await;
    // A new listener's rules are spaced by 10, for later inserts.
    assert_eq!(
        w.owned_priorities(443)
            .await
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [10, 20, 30, 40, 50, 60]
    );
    assert_eq!(
        w.owned_priorities(80)
            .await
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [10]
    );
}

#[tokio::test]
async fn a_commit_reads_again_only_what_its_plan_touches_and_plans_as_a_full_read_does() {
    let mut w = World::start().await;
    w.converge().await;
    let mut cache = ObservedCache::default();

    // The first plan reads everything; one with nothing to change reads nothing again.
    let (live, calls_made) = w.plan_cached(&mut cache).await;
    assert!(live.plan.is_empty());
    assert_eq!(calls_made, observe_calls_converged());
    assert_eq!(cache.last(), Some(Observation::Full));
    let (live, calls_made) = w.plan_cached(&mut cache).await;
    assert!(live.plan.is_empty());
    assert_eq!(calls_made, calls(&[]), "nothing to change, nothing read");

    // A new route of payments: its listener's rules and the target group it forwards to
    // (with its tags) are read again; the rules' tags are known.
    w.repo.write("teams/payments/v2.yaml", PAYMENTS_V2);
    w.repo.commit("payments: /api/v2");
    let (live, calls_made) = w.plan_cached(&mut cache).await;
    assert_eq!(
        calls_made,
        calls(&[
            ("DescribeRules", 1),
            ("DescribeTags", 1),
            ("DescribeTargetGroups", 1)
        ])
    );
    assert_eq!(
        cache.last(),
        Some(Observation::Incremental {
            listeners: 1,
            target_groups: 1
        })
    );
    let full = plan_head(&w.repo, &w.clients).await;
    assert_eq!(
        live.plan.changes, full.plan.changes,
        "the plan of a full read"
    );
    assert_eq!(live.observed, full.observed, "what a full read observes");

    // After the apply, the next plan reads again what the apply changed (the new rule's
    // tags included), and sees what a full read sees.
    let mut ids = live.ids;
    let (report, _) = w.apply_plan(&live.plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    cache.applied(&live.plan, &ids, true, None);
    let (next, calls_made) = w.plan_cached(&mut cache).await;
    assert!(next.plan.is_empty(), "{}", render::text(&next.plan));
    assert_eq!(
        calls_made,
        calls(&[
            ("DescribeRules", 1),
            ("DescribeTags", 1),
            ("DescribeTargetGroups", 1)
        ])
    );
    let (full_observed, _) = gwsync::aws::observe::observe_for(
        &w.clients,
        INSTANCE,
        &check(w.repo.path()).translation.stack,
    )
    .await
    .unwrap();
    assert_eq!(next.observed, full_observed);

    // A rule made by hand after the cache read the listener, at the priority a new route
    // would take: a plan that touches the listener reads it again and keeps clear of it, as
    // a full read does.
    w.repo.write("teams/orders/v3.yaml", ORDERS_V3);
    w.repo.commit("orders: /orders/v3");
    let wanted = created_priority(&plan_head(&w.repo, &w.clients).await.plan);
    let listener = ids.listeners[&(GATEWAY.to_string(), 443)].clone();
    w.make_foreign_rule(&listener, wanted as i32, "hand.example.com")
        .await;
    let (live, _) = w.plan_cached(&mut cache).await;
    assert!(matches!(
        cache.last(),
        Some(Observation::Incremental { .. })
    ));
    assert_eq!(
        live.plan.changes,
        plan_head(&w.repo, &w.clients).await.plan.changes
    );
    assert_ne!(created_priority(&live.plan), wanted);

    // An apply by another process (recorded in the state database) makes the cache read
    // everything at the next plan.
    let dir = tempfile::tempdir().unwrap();
    let store = gwsync::store::Store::open(&dir.path().join("gwsync.db"))
        .await
        .unwrap();
    cache.account_for_applies(&store).await.unwrap();
    w.plan_cached(&mut cache).await;
    assert!(
        matches!(cache.last(), Some(Observation::Incremental { .. })),
        "nobody applied"
    );
    store
        .begin_apply("0123abcd", "sync", "cli:someone", "{}", 0)
        .await
        .unwrap();
    cache.account_for_applies(&store).await.unwrap();
    w.plan_cached(&mut cache).await;
    assert_eq!(cache.last(), Some(Observation::Full));

    // A plan that changes the load balancer needs the whole picture: everything is read.
    w.repo.edit(
        "platform/loadbalancer.yaml",
        "value: \"60\"",
        "value: \"120\"",
    );
    w.repo.commit("platform: longer idle timeout");
    let (live, _) = w.plan_cached(&mut cache).await;
    assert_eq!(cache.last(), Some(Observation::Full));
    assert_eq!(
        live.plan.changes,
        plan_head(&w.repo, &w.clients).await.plan.changes
    );
}

#[tokio::test]
async fn a_listener_deleted_by_hand_makes_the_cache_read_everything() {
    let mut w = World::start().await;
    let ids = w.converge().await;
    let mut cache = ObservedCache::default();
    w.plan_cached(&mut cache).await;
    let http = ids.listeners[&(GATEWAY.to_string(), 80)].clone();
    w.elb
        .delete_listener()
        .listener_arn(&http)
        .send()
        .await
        .expect("delete the HTTP listener by hand");

    // A change to the redirect on that listener: reading its rules again fails, so the plan
    // reads everything and puts the listener back.
    w.repo
        .edit(PAYMENTS_ROUTES, "statusCode: 301", "statusCode: 302");
    w.repo.commit("payments: a temporary redirect");
    let (live, calls_made) = w.plan_cached(&mut cache).await;
    assert_eq!(cache.last(), Some(Observation::Full));
    assert_eq!(
        calls_made.get("DescribeLoadBalancers"),
        Some(&1),
        "{calls_made:?}"
    );
    let ops = operations(&live.plan);
    assert_eq!(ops.get("CreateListener"), Some(&1), "{ops:?}");
    assert_eq!(
        live.plan.changes,
        plan_head(&w.repo, &w.clients).await.plan.changes
    );
}

#[tokio::test]
async fn a_route_in_the_middle_of_the_order_is_one_create_rule() {
    let mut w = World::start().await;
    w.converge().await;
    let before = w.owned_priorities(443).await;

    w.repo.write("teams/payments/v2.yaml", PAYMENTS_V2);
    w.repo.commit("payments: /api/v2");
    let (plan, mut ids, _) = w.reconcile().await;
    let ops = operations(&plan);
    assert_eq!(ops.get("CreateRule"), Some(&1), "{ops:?}");
    assert!(
        ops.get("SetRulePriorities").copied().unwrap_or(0) <= 1,
        "{ops:?}"
    );
    assert_eq!(
        ops.keys()
            .filter(|op| *op != "CreateRule" && *op != "SetRulePriorities")
            .count(),
        0,
        "nothing else: {ops:?}"
    );
    // Between payments-shared-api (30) and the beta rule of payments-web (40): room enough,
    // nothing moves.
    let priority = created_priority(&plan);
    assert!((31..40).contains(&priority), "{priority}");
    assert_eq!(ops, calls(&[("CreateRule", 1)]));

    let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(apply_calls, ops, "one call per change");

    let (next, _, _) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    w.assert_order_on_aws().await;
    let after = w.owned_priorities(443).await;
    for (priority, id) in &before {
        assert_eq!(
            after.get(priority),
            Some(id),
            "every other rule kept its priority"
        );
    }
    assert_eq!(after.len(), before.len() + 1);
    w.assert_exactly_once().await;
}

#[tokio::test]
async fn a_changed_path_is_one_modify_rule_and_the_rule_keeps_its_place() {
    let mut w = World::start().await;
    w.converge().await;
    let before = w.owned_priorities(443).await;

    // One ALB rule holds both matches of orders-shared-api (compacted): it changes in place.
    w.repo.edit(
        "teams/orders/routes.yaml",
        "{type: Exact, value: /orders}",
        "{type: Exact, value: /orders/list}",
    );
    w.repo.commit("orders: /orders/list");
    w.converge_by_one_modify_rule(&before).await;
    let paths = support::aws_state::all_paths(&w.elb).await;
    assert!(paths.iter().any(|p| p == "/orders/list"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/orders"), "{paths:?}");
    w.assert_exactly_once().await;
}

#[tokio::test]
async fn a_weight_change_is_one_modify_rule() {
    let mut w = World::start().await;
    w.converge().await;
    let before = w.owned_priorities(443).await;

    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 75");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 25");
    w.repo.commit("payments: more canary");
    w.converge_by_one_modify_rule(&before).await;
    w.assert_exactly_once().await;
}

#[tokio::test]
async fn a_deleted_route_deletes_its_rules_and_the_target_groups_only_it_used() {
    let mut w = World::start().await;
    w.converge().await;

    // payments-shared-api forwards to payments-api, which payments-web uses too.
    w.remove_route(PAYMENTS_ROUTES, "payments-shared-api");
    w.repo.commit("payments: off the shared hostname");
    let (plan, mut ids, _) = w.reconcile().await;
    assert_eq!(operations(&plan), calls(&[("DeleteRule", 1)]));
    let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(apply_calls, calls(&[("DeleteRule", 1)]));
    let (next, _, _) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    w.assert_exactly_once().await;

    // payments-web was the last user of both payments target groups (its third rule goes
    // to the existing payments-web-asg, which stays).
    w.remove_route(PAYMENTS_ROUTES, "payments-web");
    w.repo.commit("payments: no web");
    let (plan, mut ids, _) = w.reconcile().await;
    let expected = calls(&[("DeleteRule", 3), ("DeleteTargetGroup", 2)]);
    assert_eq!(operations(&plan), expected);
    let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(apply_calls, expected);
    let (next, _, _) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    w.assert_exactly_once().await;
    w.assert_order_on_aws().await;
}

#[tokio::test]
async fn hand_made_resources_are_never_touched_and_their_priorities_are_avoided() {
    let mut w = World::start().await;
    let ids = w.converge().await;
    let https = ids.listeners[&(GATEWAY.to_string(), 443)].clone();
    // Between gwsync's 20 (orders-shared-api) and 30 (payments-shared-api), where a route
    // sorting between them would go.
    let hand_made = w.make_foreign_rule(&https, 25, "hand.example.com").await;

    // A foreign rule on gwsync's listener is not gwsync's to plan for.
    let (plan, _, _) = w.reconcile().await;
    assert!(plan.is_empty(), "{}", render::text(&plan));
    // But it answers requests, and `explain --live` says so.
    let answer = w.explain_live("https://hand.example.com/");
    assert_eq!(answer["priority"], 25, "{answer}");
    assert_eq!(answer["action"]["status"], 418, "{answer}");
    let (_, text, _) = w.gwsync(&[
        "explain",
        "--live",
        "--gateway",
        GATEWAY,
        "--url",
        "https://hand.example.com/",
    ]);
    assert!(text.contains("a rule gwsync does not own"), "{text}");

    w.repo.write("teams/orders/v3.yaml", ORDERS_V3);
    w.repo.commit("orders: /orders/v3");
    let (plan, mut ids, _) = w.reconcile().await;
    let ops = operations(&plan);
    assert_eq!(ops.get("CreateRule"), Some(&1), "{ops:?}");
    assert!(
        ops.get("SetRulePriorities").copied().unwrap_or(0) <= 1,
        "{ops:?}"
    );
    let priority = created_priority(&plan);
    assert!(
        (21..30).contains(&priority) && priority != 25,
        "between its neighbours, not on the hand-made rule: {priority}"
    );
    let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(apply_calls, ops);
    let (next, mut ids, _) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    w.assert_order_on_aws().await;
    assert!(!w.owned_priorities(443).await.contains_key(&25));

    // A weight change and a deletion around it.
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 50");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 50");
    w.remove_route("teams/orders/routes.yaml", "orders-shared-api");
    w.repo
        .commit("payments: half canary; orders: off the shared hostname");
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(
        operations(&plan),
        calls(&[("DeleteRule", 1), ("ModifyRule", 1)])
    );
    let (report, _) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    let (next, _, _) = w.reconcile().await;
    assert!(next.is_empty(), "converged:\n{}", render::text(&next));
    w.assert_exactly_once().await;
    w.assert_order_on_aws().await;

    // The hand-made rule kept its priority throughout (the snapshot compares it after
    // every apply); check it once more in plain words.
    let rule = w
        .elb
        .describe_rules()
        .rule_arns(&hand_made)
        .send()
        .await
        .unwrap();
    assert_eq!(rule.rules()[0].priority(), Some("25"));
    assert!(w.tags_of(&hand_made).await.is_empty());
}

/// Two rules with one identity (two writers at once, in the past): gwsync keeps the one AWS
/// evaluates first and deletes the other itself; plan and apply do not stop at it.
#[tokio::test]
async fn a_twin_of_an_owned_rule_is_deleted_and_the_one_in_use_kept() {
    let w = World::start().await;
    let ids = w.converge().await;
    let listener = ids.listeners[&(GATEWAY.to_string(), 443)].clone();
    let rules = w
        .elb
        .describe_rules()
        .listener_arn(&listener)
        .send()
        .await
        .unwrap();
    let original = rules
        .rules()
        .iter()
        .find(|r| r.is_default() != Some(true))
        .unwrap();
    let tags = w.tags_of(original.rule_arn().unwrap()).await;
    let twin = w
        .elb
        .create_rule()
        .listener_arn(&listener)
        .priority(900)
        .set_conditions(Some(original.conditions().to_vec()))
        .set_actions(Some(original.actions().to_vec()))
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .unwrap()
        .rules()[0]
        .rule_arn()
        .unwrap()
        .to_string();

    let (plan, mut ids, _) = w.reconcile().await;
    let operations: Vec<&Operation> = plan.changes.iter().map(|c| &c.operation).collect();
    assert!(
        matches!(operations.as_slice(), [Operation::DeleteRule { id, .. }] if id.ends_with("#twin-at-900")),
        "{}",
        render::text(&plan)
    );
    let (report, _) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    let after = w
        .elb
        .describe_rules()
        .listener_arn(&listener)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = after.rules().iter().filter_map(|r| r.rule_arn()).collect();
    assert!(!arns.contains(&twin.as_str()), "the twin is gone");
    assert!(
        arns.contains(&original.rule_arn().unwrap()),
        "the one in use stays"
    );
    w.assert_exactly_once().await;
    let (next, _, _) = w.reconcile().await;
    assert!(next.is_empty(), "{}", render::text(&next));
}

/// For each `k`: the first apply of the example with its (k+1)-th write failing as `failure`
/// says, then a fresh reconcile and apply without failures: they finish the job, nothing is
/// twinned, the next plan is empty. One world for all `k` (starting moto and making its
/// network costs more than a run): gwsync's resources are removed by hand between runs.
async fn fail_then_converge(ks: &[usize], failure: Failure) {
    let n = first_apply_writes().values().sum::<usize>();
    let w = World::start().await;
    for (run, &k) in ks.iter().enumerate() {
        assert!(k < n);
        let started = Instant::now();
        if run > 0 {
            w.remove_owned().await;
        }
        let (plan, mut ids, _) = w.reconcile().await;
        assert_eq!(plan.changes.len(), n, "one change per write");

        // k writes go through, the next one fails.
        w.log.inject(Some(k + 1), failure);
        let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
        w.log.inject(None, failure);
        assert!(!report.succeeded(), "k={k}: {}", report.render());
        let failures: Vec<&Outcome> = report.failures().map(|r| &r.outcome).collect();
        assert_eq!(failures.len(), 1, "k={k}");
        assert!(
            matches!(failures[0], Outcome::Failed(m) if m.contains("injected")),
            "k={k}: {failures:?}"
        );
        // The failure stops only what depends on it: every change is either sent once
        // (done or failed) or not at all (skipped).
        let sent = report
            .results
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::Skipped))
            .count();
        assert_eq!(
            writes_of(&apply_calls).values().sum::<usize>(),
            sent,
            "k={k}: nothing that depends on the failure is sent"
        );

        // A fresh reconcile (observe from scratch, as after a crash) does the rest: what
        // was not done, and only that.
        let succeeded = report
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Done)
            .count();
        let done = match failure {
            Failure::BeforeSending => succeeded,
            Failure::AnswerLost | Failure::AnsweredWith503 => succeeded + 1,
        };
        let (plan, mut ids, _) = w.reconcile().await;
        assert_eq!(plan.changes.len(), n - done, "k={k}: what is left");
        let (report, apply_calls) = w.apply_plan(&plan, &mut ids).await;
        assert!(report.succeeded(), "k={k}: {}", report.render());
        assert_eq!(
            writes_of(&apply_calls).values().sum::<usize>(),
            n - done,
            "k={k}"
        );
        let (next, _, _) = w.reconcile().await;
        assert!(
            next.is_empty(),
            "k={k}: converged:\n{}",
            render::text(&next)
        );
        w.assert_exactly_once().await;
        w.assert_order_on_aws().await;
        eprintln!("k={k} ({failure:?}): {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn a_write_failing_anywhere_is_finished_by_the_next_reconcile_without_twins() {
    let n = first_apply_writes().values().sum::<usize>();
    // 8 points of failure spread over the run, the first and the last write included.
    let points = 8.min(n);
    let ks: BTreeSet<usize> = (0..points).map(|i| i * (n - 1) / (points - 1)).collect();
    fail_then_converge(&ks.into_iter().collect::<Vec<_>>(), Failure::BeforeSending).await;
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_found_again_not_twinned() {
    // Execution order of the first apply: CreateLoadBalancer, then the target groups of its
    // gateway (created in its VPC), its attributes, the two listeners, the rules. One point
    // per kind of write, and the last one.
    let n = first_apply_writes().values().sum::<usize>();
    fail_then_converge(&[0, 1, 3, 4, 6, n - 1], Failure::AnswerLost).await;
}

/// The SDK retries a create whose first attempt took effect (its answer was a 503): the retry
/// meets what that attempt made (`DuplicateTargetGroupName`, `DuplicateListener`,
/// `PriorityInUse`), recognises it by its tags and adopts it. The apply succeeds in one run,
/// with nothing twinned.
#[tokio::test]
async fn a_create_retried_after_it_took_effect_adopts_what_it_made() {
    let n = first_apply_writes().values().sum::<usize>();
    // A target group, a listener, the first rule and the last one (CreateLoadBalancer is
    // idempotent by name on AWS itself; moto does not model that).
    for k in [1, 4, 6, n - 1] {
        let w = World::start().await;
        let (plan, mut ids, _) = w.reconcile().await;
        let operation = &plan.changes[k].operation;
        w.log.inject(Some(k + 1), Failure::AnsweredWith503);
        let (report, calls) = w.apply_plan(&plan, &mut ids).await;
        w.log.inject(None, Failure::AnsweredWith503);
        assert!(
            report.succeeded(),
            "k={k} ({operation:?}): {}",
            report.render()
        );
        assert_eq!(
            writes_of(&calls).values().sum::<usize>(),
            n,
            "k={k}: every write called once (the retry is the SDK's, inside the call)"
        );
        let (next, _, _) = w.reconcile().await;
        assert!(
            next.is_empty(),
            "k={k}: converged:\n{}",
            render::text(&next)
        );
        w.assert_exactly_once().await;
    }
}

#[tokio::test]
async fn a_saved_plan_is_applied_only_while_its_commit_and_aws_are_unchanged() {
    let mut w = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // The happy path: plan, save, apply the saved plan, nothing left.
    let (code, stdout, _) = w.gwsync(&["plan", "--out", &file("first.json")]);
    assert_eq!(code, 1, "changes");
    assert!(stdout.contains("Plan: "), "{stdout}");
    let saved: Plan =
        serde_json::from_str(&std::fs::read_to_string(file("first.json")).unwrap()).unwrap();
    assert_eq!(operations(&saved), first_apply_writes());
    let (code, stdout, _) = w.gwsync(&["apply", "--plan", &file("first.json"), "--auto-approve"]);
    assert_eq!(code, 0, "applied");
    assert!(stdout.contains("Apply succeeded"), "{stdout}");
    w.assert_foreign_untouched().await;
    let (code, stdout, _) = w.gwsync(&["plan"]);
    assert_eq!(code, 0, "no changes");
    assert!(stdout.contains("No changes."), "{stdout}");
    w.assert_exactly_once().await;

    // Two plans saved from one state; once one is applied, the other is stale.
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 80");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 20");
    w.repo.commit("payments: 20% canary");
    assert_eq!(w.gwsync(&["plan", "--out", &file("a.json")]).0, 1);
    assert_eq!(w.gwsync(&["plan", "--out", &file("b.json")]).0, 1);
    let (code, _, _) = w.gwsync(&["apply", "--plan", &file("a.json"), "--auto-approve"]);
    assert_eq!(code, 0);
    w.assert_foreign_untouched().await;
    let (code, _, stderr) = w.gwsync(&["apply", "--plan", &file("b.json"), "--auto-approve"]);
    assert_eq!(code, 2, "stale: refused");
    assert!(
        stderr.contains("the load balancers changed since it was planned"),
        "{stderr}"
    );

    // Every apply is recorded with its revision and outcome; a refused one is not.
    let store = gwsync::store::Store::open(&w.repo.path().join(".gwsync-state/gwsync.db"))
        .await
        .unwrap();
    let history = store.history(None, 10).await.unwrap();
    let applies: Vec<(String, Option<String>)> = history
        .iter()
        .flat_map(|e| {
            e.applies
                .iter()
                .map(|a| (a.kind.clone(), a.outcome.clone()))
        })
        .collect();
    let succeeded = ("sync".to_string(), Some("succeeded".to_string()));
    assert_eq!(applies, [succeeded.clone(), succeeded], "{history:?}");
    assert_eq!(history[0].summary, "payments: 20% canary");
    assert!(
        history[0]
            .teams
            .iter()
            .any(|t| t.owner == "payments" && t.verdict == "admitted")
    );
    store.close().await;

    // A rule added by hand on gwsync's listener also moves the state.
    w.repo.edit(PAYMENTS_ROUTES, "weight: 80", "weight: 70");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 20", "weight: 30");
    w.repo.commit("payments: 30% canary");
    assert_eq!(w.gwsync(&["plan", "--out", &file("c.json")]).0, 1);
    let c: Plan = serde_json::from_str(&std::fs::read_to_string(file("c.json")).unwrap()).unwrap();
    assert_eq!(operations(&c), calls(&[("ModifyRule", 1)]));
    let ids = w.ids_now().await;
    let https = ids.listeners[&(GATEWAY.to_string(), 443)].clone();
    w.make_foreign_rule(&https, 25, "hand.example.com").await;
    let (code, _, stderr) = w.gwsync(&["apply", "--plan", &file("c.json"), "--auto-approve"]);
    assert_eq!(code, 2, "stale: refused");
    assert!(
        stderr.contains(&format!(
            "{}: the load balancers changed since it was planned: plan again",
            file("c.json")
        )),
        "{stderr}"
    );
    w.assert_foreign_untouched().await;
    // Nothing was applied: the same change is still to do.
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(plan.changes, c.changes, "nothing applied");
    assert_ne!(plan.observed_fingerprint, c.observed_fingerprint);

    // A plan for an older commit, after a new commit.
    assert_eq!(w.gwsync(&["plan", "--out", &file("d.json")]).0, 1);
    let d: Plan = serde_json::from_str(&std::fs::read_to_string(file("d.json")).unwrap()).unwrap();
    let old = d.commit.clone().expect("a commit");
    w.repo.write("teams/payments/v2.yaml", PAYMENTS_V2);
    w.repo.commit("payments: /api/v2");
    let new = check(w.repo.path()).revision.commit;
    let (code, _, stderr) = w.gwsync(&["apply", "--plan", &file("d.json"), "--auto-approve"]);
    assert_eq!(code, 2, "old commit: refused");
    assert!(
        stderr.contains(&format!(
            "was planned for commit {old}, the revision is now {new}: plan again"
        )),
        "{stderr}"
    );
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(
        operations(&plan),
        calls(&[("CreateRule", 1), ("ModifyRule", 1)]),
        "nothing applied"
    );

    // Planned and applied at the commit it names, against the state it saw: applied.
    assert_eq!(w.gwsync(&["plan", "--out", &file("e.json")]).0, 1);
    let (code, stdout, _) = w.gwsync(&["apply", "--plan", &file("e.json"), "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    w.assert_foreign_untouched().await;
    let (code, stdout, _) = w.gwsync(&["plan"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("No changes."), "{stdout}");
    w.assert_exactly_once().await;
}

/// A `TargetGroupName` that does not exist is caught by `plan` before any write: that rule
/// answers 500 and the plan says which route and target group; `apply` makes no failing
/// call, and the other team's change on the same listener goes through with it. Once the
/// target group exists, the next plan forwards to it.
#[tokio::test]
async fn a_missing_target_group_is_a_500_at_plan_time_not_an_apply_failure() {
    let mut w = World::start().await;
    w.converge().await;
    w.repo.write(
        "teams/orders/v3.yaml",
        &ORDERS_V3.replace("name: orders-asg", "name: orders-gone"),
    );
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 80");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 20");
    w.repo
        .commit("orders: /orders/v3 to a target group that is not there; payments: 20%");
    let (code, stdout, stderr) = w.gwsync(&["plan"]);
    assert_eq!(code, 1, "changes\n{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "held back: HTTPRoute orders/orders-v3 rules[0].matches[0] (teams/orders/v3.yaml:1) on Gateway platform/public port 443 answers 500: no target group named `orders-gone` exists on AWS"
        ),
        "{stderr}"
    );
    let live = plan_head(&w.repo, &w.clients).await;
    assert_eq!(live.held_back.len(), 1, "{:?}", live.held_back);
    let (plan, mut ids) = (live.plan, live.ids);
    assert_eq!(
        operations(&plan),
        calls(&[("CreateRule", 1), ("ModifyRule", 1)])
    );
    let created = plan
        .changes
        .iter()
        .find_map(|c| match &c.operation {
            gwsync::plan::Operation::CreateRule { rule, .. } => Some(rule.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(created.actions, vec![gwsync::alb::Action::fixed(500)]);
    let (report, _) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    w.assert_foreign_untouched().await;

    // The target group appears: the rule forwards to it.
    let ids = w.ids_now().await;
    let vpc = ids.vpcs[GATEWAY].clone();
    w.elb
        .create_target_group()
        .name("orders-gone")
        .protocol(sdk::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateTargetGroup (by hand)");
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(operations(&plan), calls(&[("ModifyRule", 1)]));
}

/// The fingerprint covers everything the diff reads: a listener that someone else adds to
/// gwsync's load balancer after `plan --out` (it keeps the load balancer from being deleted)
/// makes the saved plan stale. A plan saved by a gwsync of another plan version is refused
/// with a message that says what to do.
#[tokio::test]
async fn a_foreign_listener_or_another_plan_version_makes_a_saved_plan_refused() {
    let mut w = World::start().await;
    w.converge().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 80");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 20");
    w.repo.commit("payments: 20% canary");
    assert_eq!(w.gwsync(&["plan", "--out", &file("p.json")]).0, 1);

    // Another plan version: refused before anything is read from AWS.
    let saved = std::fs::read_to_string(file("p.json")).unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&saved).unwrap();
    old["version"] = serde_json::json!(1);
    std::fs::write(file("old.json"), old.to_string()).unwrap();
    let (code, _, stderr) = w.gwsync(&["apply", "--plan", &file("old.json"), "--auto-approve"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is a plan of version 1")
            && stderr.contains("run `gwsync plan --out` again"),
        "{stderr}"
    );

    // A listener gwsync does not own, on gwsync's load balancer.
    let ids = w.ids_now().await;
    let lb = ids.load_balancers[GATEWAY].clone();
    w.elb
        .create_listener()
        .load_balancer_arn(&lb)
        .port(8081)
        .protocol(sdk::ProtocolEnum::Http)
        .default_actions(
            sdk::Action::builder()
                .r#type(sdk::ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    sdk::FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateListener (by hand, on gwsync's load balancer)");
    let (code, _, stderr) = w.gwsync(&["apply", "--plan", &file("p.json"), "--auto-approve"]);
    assert_eq!(code, 2, "stale: refused");
    assert!(
        stderr.contains("the load balancers changed since it was planned"),
        "{stderr}"
    );
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(
        operations(&plan),
        calls(&[("ModifyRule", 1)]),
        "nothing applied"
    );
}

#[tokio::test]
async fn more_rule_deletions_than_the_guard_allows_need_allow_deletes() {
    let mut w = World::start().await;
    w.converge().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gwsync.toml");
    std::fs::write(&config, "[apply]\nmax_rule_deletions = 1\n").unwrap();
    let config = config.to_str().unwrap();

    // One deletion: within the guard.
    w.remove_route(PAYMENTS_ROUTES, "payments-shared-api");
    w.repo.commit("payments: off the shared hostname");
    let (code, stdout, _) = w.gwsync(&["apply", "--config", config, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    w.assert_foreign_untouched().await;
    assert_eq!(w.gwsync(&["plan", "--config", config]).0, 0);

    // Three: refused, nothing applied.
    w.remove_route(PAYMENTS_ROUTES, "payments-web");
    w.repo.commit("payments: no web");
    let (before, _, _) = w.reconcile().await;
    assert_eq!(
        operations(&before),
        calls(&[("DeleteRule", 3), ("DeleteTargetGroup", 2)])
    );
    let (code, _, stderr) = w.gwsync(&["apply", "--config", config, "--auto-approve"]);
    assert_eq!(code, 2, "refused");
    assert!(
        stderr.contains(
            "the plan deletes 3 listener rules, more than apply.max_rule_deletions (1); \
             review it and pass --allow-deletes"
        ),
        "{stderr}"
    );
    let (after, _, _) = w.reconcile().await;
    assert_eq!(after, before, "nothing applied");
    w.assert_foreign_untouched().await;

    // With --allow-deletes: applied.
    let (code, stdout, _) = w.gwsync(&[
        "apply",
        "--config",
        config,
        "--auto-approve",
        "--allow-deletes",
    ]);
    assert_eq!(code, 0, "{stdout}");
    w.assert_foreign_untouched().await;
    let (code, stdout, _) = w.gwsync(&["plan", "--config", config]);
    assert_eq!(code, 0);
    assert!(stdout.contains("No changes."), "{stdout}");
    w.assert_exactly_once().await;
}

/// A rule someone made by hand on gwsync's listener must survive gwsync deciding that it no
/// longer needs that listener: on AWS, DeleteListener (and DeleteLoadBalancer) takes every
/// rule of the listener with it. gwsync removes its own rules, keeps the listener, and says
/// so in a note of the plan.
#[tokio::test]
async fn a_listener_holding_a_hand_made_rule_is_not_deleted_with_it() {
    let mut w = World::start().await;
    let ids = w.converge().await;
    let http = ids.listeners[&(GATEWAY.to_string(), 80)].clone();
    w.make_foreign_rule(&http, 5, "hand.example.com").await;

    // The platform drops plain HTTP: the Gateway's port 80 listener and the redirect route
    // on it go.
    w.repo.edit(
        "platform/gateway.yaml",
        "    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {tier: backend}
",
        "",
    );
    w.remove_route(PAYMENTS_ROUTES, "payments-https-redirect");
    w.repo.commit("no more plain HTTP");
    let (plan, mut ids, _) = w.reconcile().await;
    // gwsync's own rule on it goes; the listener, which still holds someone else's rule,
    // stays (for an operator to see to).
    assert_eq!(
        operations(&plan).get("DeleteRule"),
        Some(&1),
        "{}",
        render::text(&plan)
    );
    // apply_plan checks that the hand-made rule is still there, unchanged.
    let (report, _) = w.apply_plan(&plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
}

/// The store keeps each team's last admitted state: a team whose new commit is refused stays
/// as it was on AWS, while another team's change in the same commit is applied.
#[tokio::test]
async fn a_refused_team_keeps_its_last_good_state_while_another_team_moves_on() {
    let mut w = World::start().await;
    // Converge through the CLI, so that the store records every team's admitted state.
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");

    w.refuse_orders_while_payments_moves();

    let (code, stdout, stderr) = w.gwsync(&["plan", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        operations(&plan),
        calls(&[("ModifyRule", 1)]),
        "only payments' change"
    );
    assert!(
        stderr.contains("team orders is refused at this revision: its last admitted state"),
        "{stderr}"
    );
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    w.assert_foreign_untouched().await;
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");

    // orders' routes are still served as they were.
    let answer = w.explain_live("https://orders.example.com/");
    assert_eq!(answer["action"]["backends"][0]["backend"], "orders-asg");
}

/// A team refused at a revision with no admitted state on record (the store never saw it
/// admitted, or there is no store) keeps its rules exactly as they are on AWS: they carry its
/// owner tag, so they are told apart from the others' and no Gateway is held. Another
/// team's change on the same listener is applied in the same run.
#[tokio::test]
async fn a_team_refused_at_its_first_revision_blocks_no_other_team() {
    let mut w = World::start().await;
    // Applied without a store: nothing of orders is on record.
    w.converge().await;
    let before = w.owned_inventory().await;

    w.refuse_orders_while_payments_moves();

    // Without a state database.
    let live = plan_head(&w.repo, &w.clients).await;
    assert_eq!(operations(&live.plan), calls(&[("ModifyRule", 1)]));
    let held: Vec<String> = live.held_back.iter().map(|h| h.to_string()).collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(
        held[0].starts_with("team orders is refused with no admitted state on record: its")
            && held[0].ends_with("on Gateway platform/public stay as they are on AWS"),
        "{held:?}"
    );

    // With a state database that never saw orders admitted: the CLI applies payments.
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Apply succeeded: 1 done"), "{stdout}");
    assert!(
        stderr.contains(
            "team orders is refused at this revision and has no admitted revision on record"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("is left as it is on AWS"),
        "no Gateway held: {stderr}"
    );
    w.assert_foreign_untouched().await;
    assert_eq!(
        w.owned_inventory().await,
        before,
        "orders' rules and target groups stay"
    );
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");
}

/// An HTTPS listener without hostname and without a certificate ARN (as an AWS Load Balancer
/// Controller user writes it) gets the ACM certificates of its routes' hostnames: the ones
/// ACM has are used, the others left out.
#[tokio::test]
async fn https_certificates_are_discovered_from_route_hostnames() {
    let mut w = World::start().await;
    w.without_certificate_arns();
    let arn = w
        .import_certificate(&["pay.example.com", "*.pay.example.com"])
        .await;

    let (code, offline, _) = w.gwsync(&["plan", "--offline"]);
    assert!(
        offline.contains("found in ACM at apply"),
        "offline, the certificates are to be found: {offline}"
    );
    assert_eq!(code, 0, "{offline}");
    let live = plan_head(&w.repo, &w.clients).await;
    assert!(live.held_back.is_empty(), "{:?}", live.held_back);
    let https = live
        .plan
        .changes
        .iter()
        .find_map(|c| match &c.operation {
            Operation::CreateListener { listener, .. } if listener.port == 443 => Some(listener),
            _ => None,
        })
        .expect("the HTTPS listener is created");
    assert_eq!(https.certificates, [Certificate::Arn(arn)]);
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");
}

/// An HTTPS listener for which ACM has no certificate is held alone: the HTTP listener and
/// its rules are made, the HTTPS listener waits; once a certificate is issued, the next
/// plan makes it.
#[tokio::test]
async fn a_listener_without_a_certificate_waits_while_the_others_are_made() {
    let mut w = World::start().await;
    w.without_certificate_arns();
    let live = plan_head(&w.repo, &w.clients).await;
    let held: Vec<String> = live.held_back.iter().map(|h| h.to_string()).collect();
    assert!(
        held.iter().any(|h| h.contains("HTTPS listener on port 443")
            && h.contains("the Gateway's other listeners go ahead")),
        "{held:?}"
    );
    let ports: Vec<u16> = live
        .plan
        .changes
        .iter()
        .filter_map(|c| match &c.operation {
            Operation::CreateListener { listener, .. } => Some(listener.port),
            _ => None,
        })
        .collect();
    assert_eq!(ports, [80], "{}", render::text(&live.plan));
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    w.import_certificate(&["*.example.com"]).await;
    let live = plan_head(&w.repo, &w.clients).await;
    assert!(
        live.plan.changes.iter().any(|c| matches!(
            &c.operation,
            Operation::CreateListener { listener, .. } if listener.port == 443
        )),
        "{}",
        render::text(&live.plan)
    );
}

/// A route with one rule whose action ALB cannot perform is partially invalid (Gateway API
/// PartiallyInvalid, "drop rules"): that rule answers 500 and the route's valid rule is
/// applied, the same in `plan --offline` and in `apply` (which once kept the whole team at
/// its last admitted state instead).
#[tokio::test]
async fn a_partially_invalid_route_applies_its_valid_rules_and_answers_500_for_the_rest() {
    let mut w = World::start().await;
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    w.repo.edit(
        "teams/orders/routes.yaml",
        "  rules:\n    - backendRefs:",
        "  rules:\n    - matches: [{path: {value: /legacy}}]\n      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: orders-api, port: 8080}}}]\n      backendRefs: [{group: gateway.k8s.aws, kind: TargetGroupName, name: orders-asg}]\n    - matches: [{path: {value: /new}}]\n      backendRefs: [{group: gateway.k8s.aws, kind: TargetGroupName, name: orders-asg}]\n    - backendRefs:",
    );
    w.repo
        .commit("orders: a new path, and a legacy path with a mirror ALB cannot do");

    let (code, offline, stderr) = w.gwsync(&["plan", "--offline", "--format", "json"]);
    assert_eq!(code, 1, "an error on the route: {offline}{stderr}");
    let (code, stdout, stderr) = w.gwsync(&["plan", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        operations(&plan)["CreateRule"],
        2,
        "both new rules, the 500 and the forward: {}",
        render::text(&plan)
    );
    assert!(!stderr.contains("team orders is refused"), "{stderr}");
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let new = w.explain_live("https://orders.example.com/new");
    assert_eq!(
        new["action"]["backends"][0]["backend"], "orders-asg",
        "{new}"
    );
    let legacy = w.explain_live("https://orders.example.com/legacy");
    assert_eq!(legacy["action"]["status"], 500, "{legacy}");
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");
}

/// `gwsync hold --team orders` keeps orders at what is live while payments commits again and
/// again: each apply brings payments' change and leaves orders' rules exactly as they are,
/// though orders has a new route in the tracked revision. `release` brings it.
#[tokio::test]
async fn a_held_team_stays_as_it_is_while_another_team_commits() {
    let mut w = World::start().await;
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    let orders_rules = |inventory: &BTreeMap<String, usize>| -> Vec<String> {
        inventory
            .keys()
            .filter(|id| id.starts_with("rule/"))
            .cloned()
            .collect()
    };
    let (code, _, stderr) = w.gwsync_with_repo(&["hold", "--team", "ordrs"], None);
    assert_eq!(code, 2, "a typo holds nothing: {stderr}");
    assert!(
        stderr.contains("no team `ordrs` in the last recorded revision"),
        "{stderr}"
    );
    let (code, stdout, _) = w.gwsync_with_repo(
        &["hold", "--team", "orders", "--reason", "incident 42"],
        None,
    );
    assert_eq!(code, 0, "{stdout}");
    let (_, status, _) = w.gwsync(&["status"]);
    assert!(status.contains("held: team orders by"), "{status}");
    assert!(status.contains("\"incident 42\""), "{status}");
    assert!(status.contains("  orders: held"), "{status}");
    let (code, _, stderr) = w.gwsync(&["status", "--check"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("needs attention: team orders is held"),
        "{stderr}"
    );

    w.repo.write("teams/orders/v3.yaml", ORDERS_V3);
    w.repo.commit("orders: /orders/v3 (held)");
    let before = orders_rules(&w.owned_inventory().await);
    for (i, (from, to)) in [(90, 80), (80, 70), (70, 60)].into_iter().enumerate() {
        w.repo.edit(
            PAYMENTS_ROUTES,
            &format!("weight: {from}"),
            &format!("weight: {to}"),
        );
        w.repo.edit(
            PAYMENTS_ROUTES,
            &format!("weight: {}", 100 - from),
            &format!("weight: {}", 100 - to),
        );
        w.repo.commit(&format!("payments: canary {}%", 100 - to));
        let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
        assert_eq!(code, 0, "commit {i}: {stdout}{stderr}");
        assert!(
            stdout.contains("Apply succeeded: 1 done"),
            "commit {i}: {stdout}"
        );
        assert!(
            stderr.contains("team orders is held (`gwsync release --team orders` lifts it)"),
            "commit {i}: {stderr}"
        );
        assert_eq!(
            orders_rules(&w.owned_inventory().await),
            before,
            "commit {i}: no rule created or deleted"
        );
    }
    w.assert_foreign_untouched().await;

    let (code, stdout, _) = w.gwsync_with_repo(&["release", "--team", "orders"], None);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("Apply succeeded"), "{stdout}");
    assert_eq!(
        orders_rules(&w.owned_inventory().await).len(),
        before.len() + 1,
        "the held route arrives"
    );
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");
    let (code, stdout, stderr) = w.gwsync(&["status", "--check", "--format", "json"]);
    assert_eq!(code, 0, "all is well: {stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["applied"]["outcome"], "succeeded");
    assert!(
        status["applied"]["finished"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

/// Apply A, apply B, roll back to A: AWS is as A left it, a sync of the same head keeps the
/// pin, `resume` lets B back. A rollback needs no Git: it works with the repository gone.
#[tokio::test]
async fn rollback_restores_a_revision_pins_it_and_resume_rolls_forward() {
    let mut w = World::start().await;
    assert_eq!(w.gwsync(&["apply", "--auto-approve"]).0, 0);
    let a = w.repo.head();
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 50");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 50");
    w.remove_route(PAYMENTS_ROUTES, "payments-shared-api");
    w.repo.commit("B: payments 50/50, off the shared hostname");
    assert_eq!(w.gwsync(&["apply", "--auto-approve"]).0, 0);
    assert_eq!(w.gwsync(&["plan", "--rev", &a]).0, 1, "B differs from A");

    // Roll back with the repository out of reach: the state database has A's files.
    let (code, stdout, stderr) = w.gwsync_with_repo(
        &["rollback", "--to", &a[..12], "--auto-approve"],
        Some("/nonexistent/repo"),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("pinned"), "{stdout}");
    assert_eq!(w.gwsync(&["plan", "--rev", &a]).0, 0, "AWS is as A left it");
    w.assert_foreign_untouched().await;

    // The pin holds A while the head is still B.
    let (code, stdout, _) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Pinned to"), "{stdout}");
    assert_eq!(w.gwsync(&["plan", "--rev", &a]).0, 0, "still A");
    let (_, status, _) = w.gwsync(&["status"]);
    assert!(
        status.contains(&format!("pinned: {}", &a[..12])),
        "{status}"
    );

    // Resume: the head is applied again.
    assert_eq!(w.gwsync_with_repo(&["resume"], None).0, 0);
    assert_eq!(w.gwsync(&["apply", "--auto-approve"]).0, 0);
    assert_eq!(w.gwsync(&["plan"]).0, 0, "B again");
    let history = w.gwsync_with_repo(&["history", "--format", "json"], None).1;
    let entries: serde_json::Value = serde_json::from_str(&history).unwrap();
    let kinds: Vec<&str> = entries["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["applies"].as_array().unwrap())
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"rollback"), "{kinds:?}");
    w.assert_foreign_untouched().await;
}

/// Rolling back one team leaves every other team at the current revision.
#[tokio::test]
async fn a_team_rollback_leaves_the_other_teams_alone() {
    let mut w = World::start().await;
    assert_eq!(w.gwsync(&["apply", "--auto-approve"]).0, 0);
    let a = w.repo.head();
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 50");
    w.repo.edit(PAYMENTS_ROUTES, "weight: 10", "weight: 50");
    w.remove_route("teams/orders/routes.yaml", "orders-shared-api");
    w.repo
        .commit("payments 50/50; orders off the shared hostname");
    assert_eq!(w.gwsync(&["apply", "--auto-approve"]).0, 0);

    let (code, stdout, stderr) = w.gwsync(&[
        "rollback",
        "--to",
        &a,
        "--team",
        "payments",
        "--auto-approve",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // payments is back at 90/10; orders keeps its change (no shared-hostname route).
    let web = w.explain_live("https://pay.example.com/api/x");
    assert_eq!(web["action"]["backends"][0]["weight"], 90);
    let orders = w.explain_live("https://api.example.com/orders");
    assert_eq!(orders["action"]["status"], 404, "orders' removal stays");
    assert!(
        stdout.contains("held: its rules stay as they are"),
        "{stdout}"
    );

    // payments is held at the rolled-back state: orders' next commit is applied, payments
    // stays at 90/10 though the tracked revision says 50/50.
    w.repo.write("teams/orders/v3.yaml", ORDERS_V3);
    w.repo.commit("orders: /orders/v3");
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v3 = w.explain_live("https://api.example.com/orders/v3");
    assert_eq!(v3["action"]["backends"][0]["backend"], "orders-asg");
    let web = w.explain_live("https://pay.example.com/api/x");
    assert_eq!(
        web["action"]["backends"][0]["weight"], 90,
        "payments stays held"
    );
    let (_, status, _) = w.gwsync(&["status"]);
    assert!(status.contains("  payments: held"), "{status}");
    w.assert_foreign_untouched().await;
}

/// OIDC client credentials the payments team keeps in Secrets Manager
/// (`gwsync/payments/idp`), as the AWS Load Balancer Controller's Secret holds them.
const OIDC_CLIENT_SECRET: &str = "not-in-git-0f9a7c";

/// A ListenerRuleConfiguration with authenticate-oidc (secret `idp`), one with jwt-validation,
/// and a route on pay.example.com's HTTPS listener using each: `/account` signs users in,
/// `/partner` takes bearer tokens.
const PAYMENTS_AUTH: &str = "apiVersion: gateway.k8s.aws/v1beta1
kind: ListenerRuleConfiguration
metadata: {name: sign-in}
spec:
  actions:
    - type: authenticate-oidc
      authenticateOIDCConfig:
        issuer: https://idp.example.com
        authorizationEndpoint: https://idp.example.com/authorize
        tokenEndpoint: https://idp.example.com/token
        userInfoEndpoint: https://idp.example.com/userinfo
        secret: {name: idp}
        scope: openid email
---
apiVersion: gateway.k8s.aws/v1
kind: ListenerRuleConfiguration
metadata: {name: partner-tokens}
spec:
  actions:
    - type: jwt-validation
      jwtValidationConfig:
        issuer: https://partners.example.com
        jwksEndpoint: https://partners.example.com/.well-known/jwks.json
        additionalClaims: [{format: string-array, name: groups, values: [payments]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments-auth}
spec:
  parentRefs: [{name: public, namespace: platform, sectionName: https}]
  hostnames: [pay.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /account}}]
      filters: [{type: ExtensionRef, extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: sign-in}}]
      backendRefs: [{name: payments-api, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /partner}}]
      filters: [{type: ExtensionRef, extensionRef: {group: gateway.k8s.aws, kind: ListenerRuleConfiguration, name: partner-tokens}}]
      backendRefs: [{name: payments-api, port: 8080}]
";

/// The actions of the rule on AWS whose path condition has the value `path`.
async fn actions_on_aws(w: &World, path: &str) -> Vec<sdk::Action> {
    support::aws_state::all_rules(&w.elb)
        .await
        .into_iter()
        .find(|rule| {
            rule.conditions().iter().any(|c| {
                c.path_pattern_config()
                    .is_some_and(|p| p.values().iter().any(|v| v == path))
            })
        })
        .map(|rule| rule.actions().to_vec())
        .unwrap_or_else(|| panic!("no rule for {path} on AWS"))
}

/// OIDC sign-in and JWT validation from ListenerRuleConfigurations reach AWS and read back
/// the same (the plan after the apply is empty); the client ID and secret come from Secrets
/// Manager, and the secret shows nowhere. Without the secret, only the rule that needs it
/// answers 500, saying why.
#[tokio::test]
async fn oidc_and_jwt_rules_are_applied_with_credentials_from_secrets_manager() {
    let mut w = World::start().await;
    w.repo.write("teams/payments/auth.yaml", PAYMENTS_AUTH);
    w.repo.commit("payments: sign-in and partner tokens");

    // No secret yet: the sign-in rule answers 500 and the plan says why; the others go ahead.
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let why = format!("{stdout}{stderr}");
    assert!(
        why.contains("gwsync/payments/idp") && why.contains("answers 500"),
        "{why}"
    );
    let account = actions_on_aws(&w, "/account").await;
    assert_eq!(account.len(), 1);
    assert_eq!(
        account[0].fixed_response_config().unwrap().status_code(),
        Some("500")
    );

    let secrets = aws_sdk_secretsmanager::Client::new(&w.moto.sdk_config().await);
    secrets
        .create_secret()
        .name("gwsync/payments/idp")
        .secret_string(format!(
            r#"{{"clientID": "payments-web", "clientSecret": "{OIDC_CLIENT_SECRET}"}}"#
        ))
        .send()
        .await
        .expect("CreateSecret");
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stdout.contains(OIDC_CLIENT_SECRET) && !stderr.contains(OIDC_CLIENT_SECRET),
        "the client secret shows nowhere"
    );

    let account = actions_on_aws(&w, "/account").await;
    let oidc = account[0]
        .authenticate_oidc_config()
        .expect("authenticate-oidc first");
    assert_eq!(oidc.client_id(), Some("payments-web"));
    assert_eq!(oidc.scope(), Some("openid email"));
    // moto returns the secret it was sent (ALB never does): it reached AWS.
    assert_eq!(oidc.client_secret(), Some(OIDC_CLIENT_SECRET));
    assert!(account[1].forward_config().is_some(), "then the forward");

    let partner = actions_on_aws(&w, "/partner").await;
    let jwt = partner[0]
        .jwt_validation_config()
        .expect("jwt-validation first");
    assert_eq!(
        jwt.jwks_endpoint(),
        Some("https://partners.example.com/.well-known/jwks.json")
    );
    assert_eq!(jwt.additional_claims()[0].name(), Some("groups"));

    let (code, stdout, _) = w.gwsync(&["plan"]);
    assert_eq!(code, 0, "converged: {stdout}");
    let database = std::fs::read(w.repo.path().join(".gwsync-state/gwsync.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&database).contains(OIDC_CLIENT_SECRET),
        "the client secret is not in the state database"
    );
}

/// A rule with one resolved and one unresolved backend: on AWS the resolved one keeps its
/// share (3 of 4) and the unresolved share goes to gwsync's empty target group (1 of 4),
/// which ALB answers with 503; the plan after the apply is empty.
#[tokio::test]
async fn an_unresolved_backend_costs_only_its_share_on_aws() {
    let mut w = World::start().await;
    w.repo.edit(
        PAYMENTS_ROUTES,
        "        - {name: payments-api, port: 8080, weight: 90}\n        - {name: payments-api-canary, port: 8080, weight: 10}",
        "        - {name: payments-api, port: 8080, weight: 3}\n        - {name: payments-api-typo, port: 8080, weight: 1}",
    );
    w.repo.commit("payments: a canary with a typo");
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    let observed = observe(&w.clients, INSTANCE).await.unwrap().0;
    let lb = observed.stack.load_balancer("platform/public").unwrap();
    let forward = lb
        .listeners
        .iter()
        .flat_map(|l| &l.rules)
        .flat_map(|r| &r.actions)
        .find_map(|a| match a {
            gwsync::alb::Action::Forward { target_groups, .. }
                if target_groups.iter().any(|t| {
                    t.target_group
                        == gwsync::alb::TargetGroupRef::Owned(
                            gwsync::alb::UNRESOLVED_BACKEND.to_string(),
                        )
                }) =>
            {
                Some(target_groups.clone())
            }
            _ => None,
        })
        .expect("a forward with the unresolved share");
    let weights: Vec<u32> = forward.iter().map(|t| t.weight).collect();
    assert_eq!(weights, [3, 1]);
    let empty = lb
        .target_groups
        .iter()
        .find(|tg| tg.backend == gwsync::alb::UNRESOLVED_BACKEND)
        .expect("the empty target group is on AWS");
    assert!(empty.targets.is_empty(), "no target: ALB answers 503");
    assert_eq!(w.gwsync(&["plan"]).0, 0, "converged");
}

/// Lean reads: a target group's attributes and registered targets are read only when its
/// TargetGroupConfiguration sets them. Set, they are read (one call each) and the plan after
/// the apply is empty, so they were compared; unset (the example), neither call is made.
#[tokio::test]
async fn load_balancer_attributes_are_read_only_where_the_repository_sets_them() {
    let mut w = World::start().await;
    w.repo.edit(
        "platform/loadbalancer.yaml",
        "  loadBalancerAttributes:\n    - key: idle_timeout.timeout_seconds\n      value: \"60\"\n",
        "",
    );
    w.repo.commit("platform: AWS's default attributes");
    w.converge().await;
    let (plan, _, reads) = w.reconcile().await;
    assert!(plan.is_empty(), "{}", render::text(&plan));
    let mut expected = observe_calls_converged();
    expected.remove("DescribeLoadBalancerAttributes");
    assert_eq!(reads, expected);
}

#[tokio::test]
async fn target_group_details_are_read_only_where_the_repository_sets_them() {
    let mut w = World::start().await;
    w.repo.edit(
        "teams/payments/target-groups.yaml",
        "    name: payments-api\n  defaultConfiguration:\n",
        "    name: payments-api\n  defaultConfiguration:\n    targetGroupAttributes:\n      - {key: deregistration_delay.timeout_seconds, value: \"30\"}\n    targets:\n      - {id: i-0123456789abcdef0}\n",
    );
    w.repo
        .commit("payments-api: a short deregistration delay, one registered instance");
    w.converge().await;
    let (plan, _, reads) = w.reconcile().await;
    assert!(plan.is_empty(), "{}", render::text(&plan));
    assert_eq!(
        reads.get("DescribeTargetGroupAttributes"),
        Some(&1),
        "{reads:?}"
    );
    assert_eq!(reads.get("DescribeTargetHealth"), Some(&1), "{reads:?}");

    // Changed on AWS by hand: the next plan puts it back, so the read is a real one.
    let arn = w
        .elb
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .iter()
        .find(|tg| {
            tg.target_group_name()
                .is_some_and(|n| n.contains("payments-api"))
                && !tg.target_group_name().unwrap().contains("canary")
        })
        .and_then(|tg| tg.target_group_arn().map(str::to_string))
        .expect("payments-api's target group");
    w.elb
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(
            sdk::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (plan, _, _) = w.reconcile().await;
    assert_eq!(
        operations(&plan),
        calls(&[("ModifyTargetGroupAttributes", 1)]),
        "{}",
        render::text(&plan)
    );
}

/// `apply` prints each change as it completes (one line each, in the order applied), then
/// the summary once; the plan before it listed the same number of changes.
#[tokio::test]
async fn apply_streams_one_line_per_change_then_the_summary() {
    let w = World::start().await;
    let (code, stdout, stderr) = w.gwsync(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // `Plan: 12 to create, 1 to update, 0 to move, 0 to delete.`
    let changes: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Plan: "))
        .expect("the plan's summary")
        .split(' ')
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    let after_plan = &stdout[stdout.find("Plan: ").unwrap()..];
    let done: Vec<&str> = after_plan
        .lines()
        .filter(|l| l.starts_with("  done "))
        .collect();
    assert_eq!(done.len(), changes, "{stdout}");
    assert!(
        stdout.trim_end().ends_with("0 failed, 0 not attempted."),
        "the summary comes last: {stdout}"
    );
    assert_eq!(stdout.matches("Apply succeeded").count(), 1, "{stdout}");
}

/// `gwsync check --live`: head planned against AWS instead of compared with base, with the
/// same report; here one weight change on a converged example is one ModifyRule.
#[tokio::test]
async fn check_live_plans_head_against_aws() {
    let mut w = World::start().await;
    let base = w.repo.head();
    w.converge().await;
    w.repo.edit(PAYMENTS_ROUTES, "weight: 90", "weight: 50");
    w.repo.commit("payments: 50/50");
    let (code, stdout, stderr) = w.gwsync(&["check", "--base", &base, "--live"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout
            .contains("rules (head against AWS): 0 to create, 1 to update, 0 to move, 0 to delete"),
        "{stdout}"
    );
    assert!(stdout.contains("(ModifyRule)"), "{stdout}");
}
