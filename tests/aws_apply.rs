//! `aws::apply` against moto with the real ELBv2 SDK client: plans built by hand (not by
//! `diff`), executed, then checked with Describe* calls made outside gwsync's clients.
//!
//! Every AWS call gwsync makes goes through a recording interceptor (`support::calls`), so the
//! tests hold apply to its call budget (one call per change, nothing sent for what is already
//! there) and can make the n-th write fail. Regex conditions and transforms, which plain moto
//! drops or fails on, go through the extended server (`scripts/moto_server.py`) in the
//! conformance cases on moto; here rules use wildcard values, and transforms only to check
//! that sending them does no harm.

mod support;

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::types as sdk;
use gwsync::alb::identity;
use gwsync::alb::{
    Action, Authenticate, AuthenticationSession, Certificate, CognitoAuthentication, Condition,
    HealthCheck, IpAddressType, Listener, LoadBalancer, Matcher, Patterns, Protocol,
    ProtocolVersion, QueryValue, Rule, Scheme, Target, TargetGroup, TargetGroupRef, TargetType,
    Transform, WeightedTargetGroup,
};
use gwsync::aws::AwsIds;
use gwsync::aws::apply::{ApplyReport, Outcome, apply};
use gwsync::aws::client::Clients;
use gwsync::plan::{Change, ChangeAction, Operation, PLAN_VERSION, Plan, Reason, TaggedResource};
use std::collections::BTreeMap;
use std::sync::Arc;
use support::calls::{CallLog, recorded_clients};
use support::moto::MotoServer;

const INSTANCE: &str = "test-instance";
const GATEWAY: &str = "platform/public";
const API: &str = "payments/api:8080";
const CANARY: &str = "payments/api-canary:8080";

// ---------------------------------------------------------------------------------------
// Harness: moto, gwsync's clients with a recording interceptor, and an unrecorded client.

struct Harness {
    moto: MotoServer,
    clients: Clients,
    /// Not recorded: for set-up and assertions.
    elb: elb::Client,
    log: Arc<CallLog>,
    vpc: String,
    subnets: Vec<String>,
    security_group: String,
}

impl Harness {
    async fn start() -> Harness {
        let moto = MotoServer::start();
        let (vpc, subnets, security_group) = moto.create_vpc_and_subnets();
        let sdk_config = moto.sdk_config().await;
        let log = Arc::new(CallLog::default());
        let clients = recorded_clients(&sdk_config, &log);
        let elb = moto.elbv2_client().await;
        Harness {
            moto,
            clients,
            elb,
            log,
            vpc,
            subnets,
            security_group,
        }
    }

    /// Operation name -> calls since the last take.
    fn take_calls(&self) -> BTreeMap<String, usize> {
        self.log.take()
    }

    /// Makes the `n`-th write from now fail (1-based); None stops failing.
    fn fail_write(&self, n: Option<usize>) {
        self.log.fail_write(n);
    }

    async fn apply(&self, plan: &Plan, ids: &mut AwsIds) -> ApplyReport {
        let report = apply(&self.clients, plan, ids, INSTANCE).await;
        eprintln!("{}", report.render());
        report
    }

    async fn request_certificate(&self, domain: &str) -> String {
        self.moto
            .acm_client()
            .await
            .request_certificate()
            .domain_name(domain)
            .send()
            .await
            .expect("RequestCertificate")
            .certificate_arn()
            .expect("certificate ARN")
            .to_owned()
    }

    async fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        support::aws_state::tags_of(&self.elb, arn).await
    }

    /// Rules of a listener by priority (`default` under 0).
    async fn rules(&self, listener_arn: &str) -> BTreeMap<u32, sdk::Rule> {
        let out = self
            .elb
            .describe_rules()
            .listener_arn(listener_arn)
            .send()
            .await
            .expect("DescribeRules");
        out.rules()
            .iter()
            .map(|r| {
                let priority = match r.priority() {
                    Some("default") | None => 0,
                    Some(p) => p.parse().expect("numeric priority"),
                };
                (priority, r.clone())
            })
            .collect()
    }

    async fn load_balancer_count(&self) -> usize {
        self.elb
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers")
            .load_balancers()
            .len()
    }

    async fn target_group_count(&self) -> usize {
        self.elb
            .describe_target_groups()
            .send()
            .await
            .expect("DescribeTargetGroups")
            .target_groups()
            .len()
    }

    /// A load balancer made by hand, without gwsync's tags, with a listener, two rules and
    /// a target group; and a snapshot function for it.
    async fn foreign_load_balancer(&self) -> String {
        let path = |p: &str| {
            sdk::RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(sdk::PathPatternConditionConfig::builder().values(p).build())
                .build()
        };
        support::aws_state::hand_made_load_balancer(
            &self.elb,
            &self.subnets,
            &self.security_group,
            &self.vpc,
            vec![(10, path("/a/*")), (20, path("/b/*"))],
        )
        .await
        .load_balancer
    }

    /// Everything about a load balancer that apply could have touched, as text.
    async fn snapshot(&self, lb_arn: &str) -> String {
        let mut out = support::aws_state::load_balancer_snapshot(&self.elb, lb_arn).await;
        let tgs = self
            .elb
            .describe_target_groups()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .expect("DescribeTargetGroups");
        for tg in tgs.target_groups() {
            let arn = tg.target_group_arn().unwrap();
            out += &format!("{tg:?} {:?}\n", self.tags_of(arn).await);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The model and plans, by hand.

fn s(v: &str) -> String {
    v.to_owned()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        version: PLAN_VERSION,
        commit: Some(s("0123456789abcdef")),
        observed_fingerprint: s("test"),
        changes,
        notes: vec![],
    }
}

fn change(address: &str, action: ChangeAction, operation: Operation) -> Change {
    Change {
        address: s(address),
        action,
        operation,
        before: None,
        after: None,
        reason: Reason::Differs {
            differences: vec![],
        },
        owner: None,
    }
}

fn health_check(path: &str) -> HealthCheck {
    HealthCheck {
        protocol: Protocol::Http,
        port: s("traffic-port"),
        path: s(path),
        interval_seconds: 15,
        timeout_seconds: 5,
        healthy_threshold: 3,
        unhealthy_threshold: 2,
        matcher: Matcher::HttpCode("200-299".into()),
    }
}

fn target_group(backend: &str, name: &str) -> TargetGroup {
    TargetGroup {
        backend: s(backend),
        name: s(name),
        protocol: Protocol::Http,
        protocol_version: ProtocolVersion::Http1,
        port: 8080,
        target_type: TargetType::Ip,
        health_check: health_check("/health"),
        attributes: BTreeMap::new(),
        tags: map(&[("team", "payments")]),
        targets: vec![],
        owner: backend.split_once('/').map(|(team, _)| s(team)),
    }
}

fn load_balancer(h: &Harness, gateway: &str, name: &str) -> LoadBalancer {
    LoadBalancer {
        gateway: s(gateway),
        name: s(name),
        scheme: Scheme::InternetFacing,
        ip_address_type: IpAddressType::Ipv4,
        subnets: h.subnets.clone(),
        security_groups: vec![h.security_group.clone()],
        attributes: BTreeMap::new(),
        tags: map(&[("env", "test")]),
        listeners: vec![],
        target_groups: vec![],
    }
}

fn http_listener(port: u16) -> Listener {
    Listener {
        port,
        protocol: Protocol::Http,
        ssl_policy: None,
        certificates: vec![],
        default_action: Action::fixed(404),
        rules: vec![],
    }
}

fn host(h: &str) -> Condition {
    Condition::HostHeader {
        values: Patterns::Wildcard(vec![s(h)]),
    }
}

fn path(values: &[&str]) -> Condition {
    Condition::PathPattern {
        values: Patterns::Wildcard(values.iter().map(|v| s(v)).collect()),
    }
}

fn forward(groups: &[(TargetGroupRef, u32)], stickiness_seconds: Option<u32>) -> Action {
    Action::Forward {
        target_groups: groups
            .iter()
            .map(|(target_group, weight)| WeightedTargetGroup {
                target_group: target_group.clone(),
                weight: *weight,
            })
            .collect(),
        stickiness_seconds,
    }
}

fn owned(backend: &str) -> TargetGroupRef {
    TargetGroupRef::Owned(s(backend))
}

fn rule(priority: u32, conditions: Vec<Condition>, actions: Vec<Action>) -> Rule {
    Rule {
        priority,
        conditions,
        actions,
        transforms: vec![],
        source: None,
        owner: None,
    }
}

fn create_tg(gateway: &str, tg: TargetGroup) -> Change {
    change(
        &format!("{gateway}/target-group/{}", tg.backend),
        ChangeAction::Create,
        Operation::CreateTargetGroup {
            gateway: s(gateway),
            target_group: tg,
        },
    )
}

fn create_lb(lb: LoadBalancer) -> Change {
    change(
        &format!("{}/load-balancer", lb.gateway),
        ChangeAction::Create,
        Operation::CreateLoadBalancer { load_balancer: lb },
    )
}

fn create_listener(gateway: &str, listener: Listener) -> Change {
    change(
        &format!("{gateway}/listener/{}", listener.port),
        ChangeAction::Create,
        Operation::CreateListener {
            gateway: s(gateway),
            listener,
        },
    )
}

/// A CreateRule change with the rule's id from the tag scheme; returns the id too.
fn create_rule(gateway: &str, port: u16, rule: Rule) -> (Change, String) {
    let id = identity::rule_id(gateway, port, &rule.conditions);
    let owner = rule.owner.clone();
    let change = change(
        &format!("{gateway}/listener/{port}/rule/{id}"),
        ChangeAction::Create,
        Operation::CreateRule {
            gateway: s(gateway),
            port,
            id: id.clone(),
            rule,
        },
    )
    .owned_by(owner.as_ref());
    (change, id)
}

fn outcomes(report: &ApplyReport) -> Vec<&Outcome> {
    report.results.iter().map(|r| &r.outcome).collect()
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (s(k), *v)).collect()
}

/// The full stack of the first tests: two owned target groups, a load balancer, an HTTP
/// and an HTTPS listener, four rules; and the ids of its rules.
struct Stack {
    plan: Plan,
    rule_ids: Vec<String>,
    certificates: Vec<String>,
    legacy_arn: String,
}

async fn full_stack(h: &Harness, ids: &mut AwsIds) -> Stack {
    // A target group gwsync does not own, named by a TargetGroupName backend: observe
    // would have found it by name.
    let legacy = h
        .elb
        .create_target_group()
        .name("legacy-asg")
        .protocol(sdk::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&h.vpc)
        .send()
        .await
        .expect("CreateTargetGroup legacy");
    let legacy_arn = legacy.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    ids.existing_target_groups
        .insert(s("legacy-asg"), legacy_arn.clone());
    let certificates = vec![
        h.request_certificate("api.example.com").await,
        h.request_certificate("www.example.com").await,
    ];

    let mut api = target_group(API, "public-payments-api");
    api.attributes = map(&[("deregistration_delay.timeout_seconds", "30")]);
    api.targets = vec![Target {
        id: s("10.0.1.10"),
        port: Some(8080),
        availability_zone: None,
    }];
    let canary = target_group(CANARY, "public-payments-canary");
    let mut lb = load_balancer(h, GATEWAY, "public");
    lb.attributes = map(&[("idle_timeout.timeout_seconds", "120")]);
    let https = Listener {
        port: 443,
        protocol: Protocol::Https,
        ssl_policy: Some(s("ELBSecurityPolicy-TLS13-1-2-2021-06")),
        certificates: certificates.iter().cloned().map(Certificate::Arn).collect(),
        default_action: Action::fixed(404),
        rules: vec![],
    };

    let (r1, id1) = create_rule(
        GATEWAY,
        80,
        rule(
            10,
            vec![host("api.example.com"), path(&["/pay", "/pay/*"])],
            vec![forward(&[(owned(API), 90), (owned(CANARY), 10)], Some(60))],
        ),
    );
    let (r2, id2) = create_rule(
        GATEWAY,
        80,
        rule(
            20,
            vec![
                host("*.example.com"),
                Condition::HttpRequestMethod {
                    values: vec![s("GET"), s("HEAD")],
                },
                Condition::HttpHeader {
                    name: s("X-Env"),
                    values: Patterns::Wildcard(vec![s("beta")]),
                },
                Condition::QueryString {
                    values: vec![
                        QueryValue {
                            key: Some(s("v")),
                            value: s("2"),
                        },
                        QueryValue {
                            key: None,
                            value: s("debug"),
                        },
                    ],
                },
                Condition::SourceIp {
                    values: vec![s("10.0.0.0/8")],
                },
            ],
            vec![Action::Redirect {
                protocol: s("HTTPS"),
                host: s("#{host}"),
                port: s("443"),
                path: s("/#{path}"),
                query: s("#{query}"),
                status: 301,
            }],
        ),
    );
    let (r3, id3) = create_rule(
        GATEWAY,
        443,
        rule(
            1,
            vec![host("api.example.com")],
            vec![
                Action::Authenticate(Authenticate::Cognito(CognitoAuthentication {
                    user_pool_arn: s(
                        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc",
                    ),
                    user_pool_client_id: s("client"),
                    user_pool_domain: s("auth.example.com"),
                    session: AuthenticationSession::default(),
                })),
                forward(
                    &[
                        (TargetGroupRef::Existing(s("legacy-asg")), 1),
                        (owned(API), 3),
                    ],
                    None,
                ),
            ],
        ),
    );
    let mut maintenance = rule(
        2,
        vec![host("www.example.com")],
        vec![Action::FixedResponse {
            status: 503,
            content_type: Some(s("text/plain")),
            body: Some(s("down for maintenance")),
        }],
    );
    // Moto accepts and drops transforms; sending them must not fail the call.
    maintenance.transforms = vec![Transform::UrlRewrite {
        regex: s("^/old/(.*)$"),
        replace: s("/new/$1"),
    }];
    let (r4, id4) = create_rule(GATEWAY, 443, maintenance);

    let plan = plan(vec![
        create_tg(GATEWAY, api),
        create_tg(GATEWAY, canary),
        create_lb(lb),
        create_listener(GATEWAY, http_listener(80)),
        create_listener(GATEWAY, https),
        r1,
        r2,
        r3,
        r4,
    ]);
    Stack {
        plan,
        rule_ids: vec![id1, id2, id3, id4],
        certificates,
        legacy_arn,
    }
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn creates_a_whole_stack_from_nothing_with_tags_conditions_and_weights() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let stack = full_stack(&h, &mut ids).await;
    h.take_calls();

    let report = h.apply(&stack.plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    // The target groups wait for the load balancer: its VPC is theirs.
    let order: Vec<usize> = report.results.iter().map(|r| r.index).collect();
    assert_eq!(order, [2, 0, 1, 3, 4, 5, 6, 7, 8]);
    assert!(outcomes(&report).iter().all(|o| **o == Outcome::Done));
    assert_eq!(
        h.take_calls(),
        counts(&[
            ("CreateLoadBalancer", 1),
            ("ModifyLoadBalancerAttributes", 1),
            ("CreateTargetGroup", 2),
            ("ModifyTargetGroupAttributes", 1),
            ("RegisterTargets", 1),
            ("CreateListener", 2),
            ("AddListenerCertificates", 1),
            ("CreateRule", 4),
        ]),
        "one call per change, plus what a create call cannot carry; no reads"
    );
    assert_eq!(h.clients.calls().writes, 13);
    assert_eq!(h.clients.calls().reads, 0);

    // ids hold everything created.
    let lb_arn = ids.load_balancers[GATEWAY].clone();
    assert_eq!(ids.vpcs[GATEWAY], h.vpc);
    let api_arn = ids.target_groups[&(s(GATEWAY), s(API))].clone();
    let canary_arn = ids.target_groups[&(s(GATEWAY), s(CANARY))].clone();
    let http_arn = ids.listeners[&(s(GATEWAY), 80)].clone();
    let https_arn = ids.listeners[&(s(GATEWAY), 443)].clone();
    for id in &stack.rule_ids {
        assert!(ids.rules.contains_key(id), "{id}");
    }

    // The load balancer.
    let lbs = h
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.load_balancer_name(), Some("public"));
    assert_eq!(
        lb.scheme(),
        Some(&sdk::LoadBalancerSchemeEnum::InternetFacing)
    );
    assert_eq!(lb.security_groups(), [h.security_group.as_str()]);
    assert_eq!(
        h.tags_of(&lb_arn).await,
        map(&[
            (identity::INSTANCE, INSTANCE),
            (identity::RESOURCE, "lb/platform/public"),
            ("env", "test"),
        ])
    );
    let attributes = h
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert!(
        attributes
            .attributes()
            .iter()
            .any(|a| a.key() == Some("idle_timeout.timeout_seconds") && a.value() == Some("120"))
    );

    // Target groups, in the load balancer's VPC, tagged with their backend.
    let tgs = h
        .elb
        .describe_target_groups()
        .target_group_arns(&api_arn)
        .send()
        .await
        .unwrap();
    let tg = &tgs.target_groups()[0];
    assert_eq!(tg.target_group_name(), Some("public-payments-api"));
    assert_eq!(tg.vpc_id(), Some(h.vpc.as_str()));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.target_type(), Some(&sdk::TargetTypeEnum::Ip));
    assert_eq!(tg.health_check_path(), Some("/health"));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200-299"));
    assert_eq!(
        h.tags_of(&api_arn).await,
        map(&[
            (identity::INSTANCE, INSTANCE),
            (identity::RESOURCE, "tg/platform/public/payments/api:8080"),
            (identity::BACKEND, API),
            (identity::OWNER, "payments"),
            ("team", "payments"),
        ])
    );
    assert_eq!(h.tags_of(&canary_arn).await[identity::BACKEND], CANARY);
    let tg_attributes = h
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&api_arn)
        .send()
        .await
        .unwrap();
    assert!(tg_attributes.attributes().iter().any(|a| {
        a.key() == Some("deregistration_delay.timeout_seconds") && a.value() == Some("30")
    }));
    let health = h
        .elb
        .describe_target_health()
        .target_group_arn(&api_arn)
        .send()
        .await
        .unwrap();
    let targets: Vec<_> = health
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target())
        .map(|t| (t.id().unwrap_or_default(), t.port()))
        .collect();
    assert_eq!(targets, [("10.0.1.10", Some(8080))]);

    // Listeners: protocol, default action, certificates, SSL policy, tags.
    let listeners = h
        .elb
        .describe_listeners()
        .listener_arns(&https_arn)
        .send()
        .await
        .unwrap();
    let https = &listeners.listeners()[0];
    assert_eq!(https.port(), Some(443));
    assert_eq!(https.protocol(), Some(&sdk::ProtocolEnum::Https));
    assert_eq!(
        https.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(stack.certificates[0].as_str())
    );
    let fixed = https.default_actions()[0].fixed_response_config().unwrap();
    assert_eq!(fixed.status_code(), Some("404"));
    let listener_certificates: Vec<_> = h
        .elb
        .describe_listener_certificates()
        .listener_arn(&https_arn)
        .send()
        .await
        .unwrap()
        .certificates()
        .iter()
        .filter_map(|c| c.certificate_arn().map(str::to_owned))
        .collect();
    assert_eq!(listener_certificates, stack.certificates);
    assert_eq!(
        h.tags_of(&http_arn).await,
        map(&[
            (identity::INSTANCE, INSTANCE),
            (identity::RESOURCE, "listener/platform/public/80"),
        ])
    );

    // Rules on port 80.
    let rules = h.rules(&http_arn).await;
    assert_eq!(rules.keys().copied().collect::<Vec<_>>(), [0, 10, 20]);
    let weighted = &rules[&10];
    let conditions = weighted.conditions();
    assert_eq!(conditions[0].field(), Some("host-header"));
    assert_eq!(
        conditions[0].host_header_config().unwrap().values(),
        ["api.example.com"]
    );
    assert_eq!(conditions[1].field(), Some("path-pattern"));
    assert_eq!(
        conditions[1].path_pattern_config().unwrap().values(),
        ["/pay", "/pay/*"]
    );
    let action = &weighted.actions()[0];
    assert_eq!(action.r#type(), Some(&sdk::ActionTypeEnum::Forward));
    assert_eq!(action.order(), Some(1));
    let config = action.forward_config().unwrap();
    let tuples: Vec<_> = config
        .target_groups()
        .iter()
        .map(|t| (t.target_group_arn().unwrap(), t.weight().unwrap()))
        .collect();
    assert_eq!(tuples, [(api_arn.as_str(), 90), (canary_arn.as_str(), 10)]);
    let stickiness = config.target_group_stickiness_config().unwrap();
    assert_eq!(
        (stickiness.enabled(), stickiness.duration_seconds()),
        (Some(true), Some(60))
    );
    assert_eq!(
        h.tags_of(weighted.rule_arn().unwrap()).await,
        map(&[
            (identity::INSTANCE, INSTANCE),
            (identity::RESOURCE, stack.rule_ids[0].as_str()),
        ])
    );

    let redirect_rule = &rules[&20];
    let by_field = |field: &str| {
        redirect_rule
            .conditions()
            .iter()
            .find(|c| c.field() == Some(field))
            .unwrap_or_else(|| panic!("no {field} condition"))
            .clone()
    };
    assert_eq!(
        by_field("http-request-method")
            .http_request_method_config()
            .unwrap()
            .values(),
        ["GET", "HEAD"]
    );
    let header = by_field("http-header");
    let header = header.http_header_config().unwrap();
    assert_eq!(
        (header.http_header_name(), header.values()),
        (Some("X-Env"), [s("beta")].as_slice())
    );
    let query = by_field("query-string");
    let pairs: Vec<_> = query
        .query_string_config()
        .unwrap()
        .values()
        .iter()
        .map(|p| (p.key(), p.value()))
        .collect();
    assert_eq!(pairs, [(Some("v"), Some("2")), (None, Some("debug"))]);
    assert_eq!(
        by_field("source-ip").source_ip_config().unwrap().values(),
        ["10.0.0.0/8"]
    );
    let redirect = redirect_rule.actions()[0].redirect_config().unwrap();
    assert_eq!(
        (
            redirect.protocol(),
            redirect.host(),
            redirect.port(),
            redirect.path(),
            redirect.query(),
            redirect.status_code().map(|c| c.as_str()),
        ),
        (
            Some("HTTPS"),
            Some("#{host}"),
            Some("443"),
            Some("/#{path}"),
            Some("#{query}"),
            Some("HTTP_301")
        )
    );

    // Rules on port 443: authentication first, forward to an existing target group.
    let rules = h.rules(&https_arn).await;
    assert_eq!(rules.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    let actions = rules[&1].actions();
    assert_eq!(actions.len(), 2);
    assert_eq!(
        actions[0].r#type(),
        Some(&sdk::ActionTypeEnum::AuthenticateCognito)
    );
    assert_eq!(actions[0].order(), Some(1));
    assert_eq!(
        actions[0]
            .authenticate_cognito_config()
            .unwrap()
            .user_pool_domain(),
        Some("auth.example.com")
    );
    assert_eq!(actions[1].order(), Some(2));
    let tuples: Vec<_> = actions[1]
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|t| (t.target_group_arn().unwrap(), t.weight().unwrap()))
        .collect();
    assert_eq!(
        tuples,
        [(stack.legacy_arn.as_str(), 1), (api_arn.as_str(), 3)]
    );
    let fixed = rules[&2].actions()[0].fixed_response_config().unwrap();
    assert_eq!(
        (
            fixed.status_code(),
            fixed.content_type(),
            fixed.message_body()
        ),
        (
            Some("503"),
            Some("text/plain"),
            Some("down for maintenance")
        )
    );
    // The existing target group is referenced, never tagged or changed.
    assert!(h.tags_of(&stack.legacy_arn).await.is_empty());
}

#[tokio::test]
async fn a_plan_whose_resources_are_already_known_creates_nothing() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let stack = full_stack(&h, &mut ids).await;
    assert!(h.apply(&stack.plan, &mut ids).await.succeeded());
    let lbs = h.load_balancer_count().await;
    let tgs = h.target_group_count().await;
    let before = h.snapshot(&ids.load_balancers[GATEWAY]).await;
    h.take_calls();

    let ids_before = ids.clone();
    let report = h.apply(&stack.plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert!(
        outcomes(&report)
            .iter()
            .all(|o| **o == Outcome::AlreadyExists),
        "{}",
        report.render()
    );
    assert!(report.render().contains("already there"));
    assert_eq!(h.take_calls(), counts(&[]), "not a single call");
    assert_eq!(ids, ids_before);
    assert_eq!(h.load_balancer_count().await, lbs);
    assert_eq!(h.target_group_count().await, tgs);
    assert_eq!(h.snapshot(&ids.load_balancers[GATEWAY]).await, before);
}

/// One gateway, one call per change: TG, LB, listener, two rules.
fn simple_plan(h: &Harness, gateway: &str, name: &str) -> Plan {
    let (r1, _) = create_rule(
        gateway,
        80,
        rule(
            10,
            vec![path(&["/a", "/a/*"])],
            vec![forward(&[(owned(API), 1)], None)],
        ),
    );
    let (r2, _) = create_rule(
        gateway,
        80,
        rule(20, vec![path(&["/b"])], vec![Action::fixed(503)]),
    );
    plan(vec![
        create_tg(gateway, target_group(API, &format!("{name}-api"))),
        create_lb(load_balancer(h, gateway, name)),
        create_listener(gateway, http_listener(80)),
        r1,
        r2,
    ])
}

#[tokio::test]
async fn a_failed_call_stops_what_depends_on_it_and_a_rerun_converges_without_twins() {
    // Run order: load balancer, target group, listener, rule /a (forwards to the target
    // group), rule /b (a fixed response; same owner as /a). What a failure at each step
    // stops: F failed, S skipped, D done.
    let expected = [
        (0, "FSSSS"), // no load balancer: nothing of the Gateway
        (1, "DFDSD"), // no target group: the rule forwarding to it
        (2, "DDFSS"), // no listener: its rules
        (3, "DDDFS"), // a rule: the later rules of its team
        (4, "DDDDF"),
    ];
    for (k, shape) in expected {
        let h = Harness::start().await;
        let plan = simple_plan(&h, GATEWAY, "public");
        let mut ids = AwsIds::default();
        h.fail_write(Some(k + 1));
        let report = h.apply(&plan, &mut ids).await;
        assert!(!report.succeeded());
        assert_eq!(report.results.len(), 5, "every change is reported");
        let got: String = outcomes(&report)
            .iter()
            .map(|o| match o {
                Outcome::Done => 'D',
                Outcome::Failed(m) if m.contains("injected failure") => 'F',
                Outcome::Skipped => 'S',
                other => panic!("k={k}: {other:?}"),
            })
            .collect();
        assert_eq!(got, shape, "k={k}: {}", report.render());
        let calls: usize = h.take_calls().values().sum();
        assert_eq!(
            calls,
            shape.matches(['D', 'F']).count(),
            "nothing that depends on the failure is sent"
        );

        // The rerun (same plan, the ids the failed run left) finishes the job. (Its order
        // may differ: once the load balancer exists, its target group needs no waiting.)
        let done: Vec<usize> = report
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Done)
            .map(|r| r.index)
            .collect();
        h.fail_write(None);
        let rerun = h.apply(&plan, &mut ids).await;
        assert!(rerun.succeeded(), "{}", rerun.render());
        for r in &rerun.results {
            let want = if done.contains(&r.index) {
                Outcome::AlreadyExists
            } else {
                Outcome::Done
            };
            assert_eq!(r.outcome, want, "k={k} change #{}", r.index);
        }
        assert_eq!(h.take_calls().values().sum::<usize>(), 5 - done.len());
        assert_eq!(h.load_balancer_count().await, 1);
        assert_eq!(h.target_group_count().await, 1);
        let rules = h.rules(&ids.listeners[&(s(GATEWAY), 80)]).await;
        assert_eq!(rules.keys().copied().collect::<Vec<_>>(), [0, 10, 20]);
    }
}

#[tokio::test]
async fn a_failure_in_one_gateway_does_not_stop_the_others() {
    let h = Harness::start().await;
    let a = simple_plan(&h, "platform/a", "alb-a");
    let b = simple_plan(&h, "platform/b", "alb-b");
    // Plan order interleaves gateways by resource type, as `diff` does.
    let mut changes = Vec::new();
    for i in 0..5 {
        changes.push(a.changes[i].clone());
        changes.push(b.changes[i].clone());
    }
    let plan = plan(changes);
    let mut ids = AwsIds::default();
    // Runs: LB a, TG a, LB b (the third write: fails), TG b, ...
    h.fail_write(Some(3));
    let report = h.apply(&plan, &mut ids).await;
    let got: Vec<(usize, &Outcome)> = report
        .results
        .iter()
        .map(|r| (r.index, &r.outcome))
        .collect();
    let failed = Outcome::Failed(match &report.results[2].outcome {
        Outcome::Failed(m) => m.clone(),
        other => panic!("LB b should have failed: {other:?}"),
    });
    assert_eq!(
        got,
        [
            (2, &Outcome::Done),    // LB a
            (0, &Outcome::Done),    // TG a, right after its load balancer
            (3, &failed),           // LB b
            (1, &Outcome::Skipped), // TG b
            (4, &Outcome::Done),    // listener a
            (5, &Outcome::Skipped), // listener b
            (6, &Outcome::Done),    // rules a
            (7, &Outcome::Skipped),
            (8, &Outcome::Done),
            (9, &Outcome::Skipped),
        ]
    );
    assert!(
        report.render().contains("Apply FAILED: 5 done"),
        "{}",
        report.render()
    );
    assert!(ids.load_balancers.contains_key("platform/a"));
    assert!(!ids.load_balancers.contains_key("platform/b"));
    assert_eq!(h.load_balancer_count().await, 1);
    let rules = h.rules(&ids.listeners[&(s("platform/a"), 80)]).await;
    assert_eq!(rules.len(), 3);
}

#[tokio::test]
async fn updates_moves_and_deletes_touch_only_what_gwsync_owns() {
    let h = Harness::start().await;
    let foreign = h.foreign_load_balancer().await;
    let foreign_snapshot = h.snapshot(&foreign).await;
    let foreign_lbs_tgs = (h.load_balancer_count().await, h.target_group_count().await);

    let mut ids = AwsIds::default();
    let stack = full_stack(&h, &mut ids).await;
    let report = h.apply(&stack.plan, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(h.snapshot(&foreign).await, foreign_snapshot, "after create");
    h.take_calls();

    let lb_arn = ids.load_balancers[GATEWAY].clone();
    let api_arn = ids.target_groups[&(s(GATEWAY), s(API))].clone();
    let canary_arn = ids.target_groups[&(s(GATEWAY), s(CANARY))].clone();
    let http_arn = ids.listeners[&(s(GATEWAY), 80)].clone();
    let https_arn = ids.listeners[&(s(GATEWAY), 443)].clone();
    let third_certificate = h.request_certificate("new.example.com").await;

    // Updates.
    let [id1, id2, _id3, id4] = stack.rule_ids.clone().try_into().unwrap();
    let mut reweighted = rule(
        10,
        vec![host("api.example.com"), path(&["/pay", "/pay/*"])],
        vec![forward(&[(owned(API), 50), (owned(CANARY), 50)], None)],
    );
    reweighted.transforms = vec![Transform::HostHeaderRewrite {
        regex: s("^api\\.example\\.com$"),
        replace: s("internal.example.com"),
    }];
    let no_transforms = rule(2, vec![host("www.example.com")], vec![Action::fixed(410)]);
    let mut http = http_listener(80);
    http.default_action = Action::fixed(503);
    let https = Listener {
        port: 443,
        protocol: Protocol::Https,
        ssl_policy: Some(s("ELBSecurityPolicy-TLS13-1-2-2021-06")),
        certificates: vec![
            Certificate::Arn(stack.certificates[0].clone()),
            Certificate::Arn(third_certificate.clone()),
        ],
        default_action: Action::fixed(404),
        rules: vec![],
    };
    let update = |address: &str, operation| change(address, ChangeAction::Update, operation);
    let updates = plan(vec![
        update(
            "tg api health",
            Operation::ModifyTargetGroup {
                gateway: s(GATEWAY),
                backend: s(API),
                health_check: health_check("/healthz"),
            },
        ),
        update(
            "tg api attributes",
            Operation::ModifyTargetGroupAttributes {
                gateway: s(GATEWAY),
                backend: s(API),
                attributes: map(&[("deregistration_delay.timeout_seconds", "5")]),
            },
        ),
        update(
            "tg canary targets",
            Operation::RegisterTargets {
                gateway: s(GATEWAY),
                backend: s(CANARY),
                targets: vec![Target {
                    id: s("10.0.1.20"),
                    port: Some(8080),
                    availability_zone: None,
                }],
            },
        ),
        update(
            "tg api targets",
            Operation::DeregisterTargets {
                gateway: s(GATEWAY),
                backend: s(API),
                targets: vec![Target {
                    id: s("10.0.1.10"),
                    port: Some(8080),
                    availability_zone: None,
                }],
            },
        ),
        update(
            "tg canary tags",
            Operation::SetTags {
                resource: TaggedResource::TargetGroup {
                    gateway: s(GATEWAY),
                    backend: s(CANARY),
                },
                add: map(&[("stage", "canary")]),
                remove: vec![],
            },
        ),
        update(
            "lb tags",
            Operation::SetTags {
                resource: TaggedResource::LoadBalancer {
                    gateway: s(GATEWAY),
                },
                add: map(&[("owner", "platform")]),
                remove: vec![s("env")],
            },
        ),
        update(
            "lb attributes",
            Operation::ModifyLoadBalancerAttributes {
                gateway: s(GATEWAY),
                attributes: map(&[("idle_timeout.timeout_seconds", "60")]),
            },
        ),
        update(
            "lb security groups",
            Operation::SetSecurityGroups {
                gateway: s(GATEWAY),
                security_groups: vec![h.security_group.clone()],
            },
        ),
        update(
            "listener 80",
            Operation::ModifyListener {
                gateway: s(GATEWAY),
                listener: http,
            },
        ),
        update(
            "listener 443",
            Operation::ModifyListener {
                gateway: s(GATEWAY),
                listener: https,
            },
        ),
        update(
            "rule 1",
            Operation::ModifyRule {
                gateway: s(GATEWAY),
                port: 80,
                id: id1.clone(),
                rule: reweighted,
            },
        ),
        update(
            "rule 4",
            Operation::ModifyRule {
                gateway: s(GATEWAY),
                port: 443,
                id: id4.clone(),
                rule: no_transforms,
            },
        ),
    ]);
    let report = h.apply(&updates, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(
        h.take_calls(),
        counts(&[
            ("ModifyTargetGroup", 1),
            ("ModifyTargetGroupAttributes", 1),
            ("RegisterTargets", 1),
            ("DeregisterTargets", 1),
            ("AddTags", 2),
            ("RemoveTags", 1),
            ("ModifyLoadBalancerAttributes", 1),
            ("SetSecurityGroups", 1),
            ("ModifyListener", 2),
            ("DescribeListenerCertificates", 1),
            // Moto's ModifyListener already drops the other certificates, so there is
            // nothing to remove; AWS would need RemoveListenerCertificates as well.
            ("AddListenerCertificates", 1),
            ("ModifyRule", 2),
        ])
    );
    let tg = h
        .elb
        .describe_target_groups()
        .target_group_arns(&api_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tg.target_groups()[0].health_check_path(), Some("/healthz"));
    let canary_tags = h.tags_of(&canary_arn).await;
    assert_eq!(canary_tags["stage"], "canary");
    assert_eq!(
        canary_tags[identity::INSTANCE],
        INSTANCE,
        "ownership tags stay"
    );
    let lb_tags = h.tags_of(&lb_arn).await;
    assert_eq!(lb_tags.get("owner").map(String::as_str), Some("platform"));
    assert!(!lb_tags.contains_key("env"));
    assert_eq!(lb_tags[identity::RESOURCE], "lb/platform/public");
    let listener = h
        .elb
        .describe_listeners()
        .listener_arns(&http_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listener.listeners()[0].default_actions()[0]
            .fixed_response_config()
            .unwrap()
            .status_code(),
        Some("503")
    );
    let certificates: Vec<_> = h
        .elb
        .describe_listener_certificates()
        .listener_arn(&https_arn)
        .send()
        .await
        .unwrap()
        .certificates()
        .iter()
        .filter_map(|c| c.certificate_arn().map(str::to_owned))
        .collect();
    assert_eq!(
        certificates,
        [stack.certificates[0].clone(), third_certificate]
    );
    let rules = h.rules(&http_arn).await;
    let tuples: Vec<_> = rules[&10].actions()[0]
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|t| t.weight().unwrap())
        .collect();
    assert_eq!(tuples, [50, 50]);
    assert_eq!(
        rules[&10].conditions()[0]
            .host_header_config()
            .unwrap()
            .values(),
        ["api.example.com"],
        "ModifyRule keeps the conditions"
    );
    let rules = h.rules(&https_arn).await;
    assert_eq!(
        rules[&2].actions()[0]
            .fixed_response_config()
            .unwrap()
            .status_code(),
        Some("410")
    );
    assert_eq!(
        h.snapshot(&foreign).await,
        foreign_snapshot,
        "after updates"
    );

    // Priority moves: one call for the listener.
    let moves = plan(vec![change(
        "listener 80 priorities",
        ChangeAction::Move,
        Operation::SetRulePriorities {
            gateway: s(GATEWAY),
            port: 80,
            priorities: vec![(id1.clone(), 15), (id2.clone(), 30)],
        },
    )]);
    let report = h.apply(&moves, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(h.take_calls(), counts(&[("SetRulePriorities", 1)]));
    let rules = h.rules(&http_arn).await;
    assert_eq!(rules.keys().copied().collect::<Vec<_>>(), [0, 15, 30]);
    assert_eq!(rules[&15].rule_arn(), Some(ids.rules[&id1].as_str()));
    assert_eq!(rules[&30].rule_arn(), Some(ids.rules[&id2].as_str()));
    assert_eq!(h.snapshot(&foreign).await, foreign_snapshot, "after moves");

    // Deletes, in the plan's order: rule, listener, load balancer, target groups.
    let delete = |address: &str, operation| change(address, ChangeAction::Delete, operation);
    let deletes = plan(vec![
        delete(
            "rule 2",
            Operation::DeleteRule {
                gateway: s(GATEWAY),
                port: 80,
                id: id2.clone(),
            },
        ),
        delete(
            "listener 443",
            Operation::DeleteListener {
                gateway: s(GATEWAY),
                port: 443,
            },
        ),
        delete(
            "load balancer",
            Operation::DeleteLoadBalancer {
                gateway: s(GATEWAY),
            },
        ),
        delete(
            "tg api",
            Operation::DeleteTargetGroup {
                gateway: s(GATEWAY),
                backend: s(API),
            },
        ),
        delete(
            "tg canary",
            Operation::DeleteTargetGroup {
                gateway: s(GATEWAY),
                backend: s(CANARY),
            },
        ),
    ]);
    let report = h.apply(&deletes, &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(
        h.take_calls(),
        counts(&[
            ("DeleteRule", 1),
            ("DeleteListener", 1),
            ("DeleteLoadBalancer", 1),
            ("DeleteTargetGroup", 2),
        ])
    );
    assert!(ids.load_balancers.is_empty() && ids.vpcs.is_empty());
    assert!(ids.listeners.is_empty());
    assert!(ids.rules.is_empty(), "{:?}", ids.rules);
    assert!(ids.target_groups.is_empty());
    assert_eq!(
        ids.existing_target_groups.len(),
        1,
        "existing target groups are never deleted"
    );
    // Only the foreign load balancer, its target group and the existing one are left.
    assert_eq!(h.load_balancer_count().await, foreign_lbs_tgs.0);
    assert_eq!(h.target_group_count().await, foreign_lbs_tgs.1 + 1);
    assert_eq!(
        h.snapshot(&foreign).await,
        foreign_snapshot,
        "after deletes"
    );

    // A plan that names what gwsync does not own sends nothing, whatever it asks.
    let listener_arn = h
        .elb
        .describe_listeners()
        .load_balancer_arn(&foreign)
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();
    let foreign_rule = h.rules(&listener_arn).await[&10].clone();
    let hostile = plan(vec![
        delete(
            "foreign rule",
            Operation::DeleteRule {
                gateway: s("hand/made"),
                port: 80,
                id: s(foreign_rule.rule_arn().unwrap()),
            },
        ),
        delete(
            "foreign listener",
            Operation::DeleteListener {
                gateway: s("hand/made-2"),
                port: 80,
            },
        ),
        delete(
            "foreign load balancer",
            Operation::DeleteLoadBalancer {
                gateway: s("hand/made-3"),
            },
        ),
        change(
            "foreign rule priorities",
            ChangeAction::Move,
            Operation::SetRulePriorities {
                gateway: s("hand/made-4"),
                port: 80,
                priorities: vec![(s("rule/hand/made/80/0000"), 1)],
            },
        ),
        change(
            "a rule on a listener gwsync does not know",
            ChangeAction::Create,
            Operation::CreateRule {
                gateway: s("hand/made-5"),
                port: 80,
                id: s("rule/hand/made-5/80/0000"),
                rule: rule(1, vec![path(&["/x"])], vec![Action::fixed(500)]),
            },
        ),
    ]);
    let report = h.apply(&hostile, &mut ids).await;
    for result in &report.results {
        assert!(
            matches!(&result.outcome, Outcome::Failed(m) if m.contains("not known to gwsync")),
            "{}",
            report.render()
        );
    }
    assert_eq!(h.take_calls(), counts(&[]), "not a single call");
    assert_eq!(
        h.snapshot(&foreign).await,
        foreign_snapshot,
        "after hostile plan"
    );
}

#[tokio::test]
async fn target_groups_of_an_existing_load_balancer_use_its_vpc() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let created = h
        .apply(
            &plan(vec![create_lb(load_balancer(&h, GATEWAY, "public"))]),
            &mut ids,
        )
        .await;
    assert!(created.succeeded());
    h.take_calls();

    // Observe knew the VPC: no read.
    let report = h
        .apply(
            &plan(vec![create_tg(GATEWAY, target_group(API, "api"))]),
            &mut ids,
        )
        .await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(h.take_calls(), counts(&[("CreateTargetGroup", 1)]));

    // It did not: one DescribeLoadBalancers, then remembered.
    ids.vpcs.clear();
    let report = h
        .apply(
            &plan(vec![
                create_tg(GATEWAY, target_group(CANARY, "canary")),
                create_tg(GATEWAY, target_group("payments/other:80", "other")),
            ]),
            &mut ids,
        )
        .await;
    assert!(report.succeeded(), "{}", report.render());
    assert_eq!(
        h.take_calls(),
        counts(&[("DescribeLoadBalancers", 1), ("CreateTargetGroup", 2)])
    );
    assert_eq!(ids.vpcs[GATEWAY], h.vpc);

    // No load balancer at all: an error on the change, nothing sent.
    let report = h
        .apply(
            &plan(vec![create_tg("platform/nowhere", target_group(API, "x"))]),
            &mut ids,
        )
        .await;
    assert!(
        matches!(&report.results[0].outcome, Outcome::Failed(m) if m.contains("no VPC")),
        "{}",
        report.render()
    );
    assert_eq!(h.take_calls(), counts(&[]));
}

#[tokio::test]
async fn unresolved_certificates_and_bad_requests_fail_before_any_call() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let https = Listener {
        port: 443,
        protocol: Protocol::Https,
        ssl_policy: None,
        certificates: vec![Certificate::ForHostname(s("api.example.com"))],
        default_action: Action::fixed(404),
        rules: vec![],
    };
    let p = plan(vec![
        create_lb(load_balancer(&h, GATEWAY, "public")),
        create_listener(GATEWAY, https),
        create_listener(GATEWAY, http_listener(80)),
    ]);
    let report = h.apply(&p, &mut ids).await;
    let got = outcomes(&report);
    assert_eq!(*got[0], Outcome::Done);
    assert!(
        matches!(got[1], Outcome::Failed(m) if m.contains("api.example.com") && m.contains("ARN")),
        "{}",
        report.render()
    );
    // The HTTP listener does not depend on the HTTPS one: it is created.
    assert_eq!(*got[2], Outcome::Done);
    assert_eq!(
        h.take_calls(),
        counts(&[("CreateLoadBalancer", 1), ("CreateListener", 1)])
    );
}

#[tokio::test]
async fn an_aws_error_is_reported_in_its_own_words_and_stops_only_what_depends_on_it() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let report = h.apply(&simple_plan(&h, GATEWAY, "public"), &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    h.take_calls();

    // A new rule at a priority another rule holds: AWS (here moto) refuses it.
    let (taken, _) = create_rule(
        GATEWAY,
        80,
        rule(10, vec![path(&["/c"])], vec![Action::fixed(404)]),
    );
    let (after, _) = create_rule(
        GATEWAY,
        80,
        rule(30, vec![path(&["/d"])], vec![Action::fixed(404)]),
    );
    let other = simple_plan(&h, "platform/other", "other");
    let mut changes = vec![taken, after];
    changes.extend(other.changes);
    let report = h.apply(&plan(changes), &mut ids).await;
    let Outcome::Failed(message) = &report.results[0].outcome else {
        panic!("{}", report.render());
    };
    assert!(
        message.starts_with("CreateRule failed: PriorityInUse: "),
        "{message}"
    );
    assert_eq!(report.results[1].outcome, Outcome::Skipped);
    assert!(
        report.results[2..]
            .iter()
            .all(|r| r.outcome == Outcome::Done),
        "{}",
        report.render()
    );
    assert_eq!(
        h.take_calls()["CreateRule"],
        3,
        "one refused, two for the other gateway"
    );
}

/// A gRPC target group is created with gRPC codes and its health check is changed with gRPC
/// codes (ModifyTargetGroup once sent HTTP codes for every target group); what is read back
/// compares equal to the model.
#[tokio::test]
async fn a_grpc_target_group_keeps_grpc_codes_through_create_and_modify() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let mut grpc = target_group("payments/grpc:50051", "public-grpc");
    grpc.protocol_version = ProtocolVersion::Grpc;
    grpc.port = 50051;
    grpc.health_check.path = s("/grpc.health.v1.Health/Check");
    grpc.health_check.matcher = Matcher::GrpcCode(s("0"));
    let created = h
        .apply(
            &plan(vec![
                create_lb(load_balancer(&h, GATEWAY, "public")),
                create_tg(GATEWAY, grpc.clone()),
            ]),
            &mut ids,
        )
        .await;
    assert!(created.succeeded(), "{}", created.render());
    let observed_tg = |observed: &gwsync::alb::Observed| {
        observed.stack.load_balancers[0]
            .target_groups
            .iter()
            .find(|tg| tg.backend == grpc.backend)
            .cloned()
            .expect("the gRPC target group is observed")
    };
    let (observed, _) = gwsync::aws::observe::observe(&h.clients, INSTANCE)
        .await
        .unwrap();
    let read = observed_tg(&observed);
    assert_eq!(read.protocol_version, ProtocolVersion::Grpc);
    assert_eq!(read.health_check, grpc.health_check, "read back as created");

    let mut changed = grpc.health_check.clone();
    changed.matcher = Matcher::GrpcCode(s("0-12"));
    changed.interval_seconds = 10;
    let modified = h
        .apply(
            &plan(vec![change(
                "tg grpc health",
                ChangeAction::Update,
                Operation::ModifyTargetGroup {
                    gateway: s(GATEWAY),
                    backend: grpc.backend.clone(),
                    health_check: changed.clone(),
                },
            )]),
            &mut ids,
        )
        .await;
    assert!(modified.succeeded(), "{}", modified.render());
    let (observed, _) = gwsync::aws::observe::observe(&h.clients, INSTANCE)
        .await
        .unwrap();
    assert_eq!(observed_tg(&observed).health_check, changed);
    let sent = h
        .elb
        .describe_target_groups()
        .target_group_arns(&ids.target_groups[&(s(GATEWAY), grpc.backend.clone())])
        .send()
        .await
        .unwrap();
    let matcher = sent.target_groups()[0].matcher().unwrap();
    assert_eq!(
        (matcher.grpc_code(), matcher.http_code()),
        (Some("0-12"), None)
    );
}

/// One team's rule that AWS rejects (here: its priority is taken) stops only that team's
/// later rule changes on the load balancer; two other teams' new rules on the same listener
/// are created at their own priorities, and the rules on AWS keep distinct priorities.
#[tokio::test]
async fn one_teams_rejected_rule_blocks_no_other_team_on_the_same_listener() {
    let h = Harness::start().await;
    let mut ids = AwsIds::default();
    let report = h.apply(&simple_plan(&h, GATEWAY, "public"), &mut ids).await;
    assert!(report.succeeded(), "{}", report.render());
    h.take_calls();

    let owned_by = |owner: &str, priority: u32, p: &str| Rule {
        owner: Some(s(owner)),
        ..rule(priority, vec![path(&[p])], vec![Action::fixed(404)])
    };
    let changes = vec![
        // orders: 10 is taken (AWS refuses), then its second rule.
        create_rule(GATEWAY, 80, owned_by("orders", 10, "/orders")).0,
        create_rule(GATEWAY, 80, owned_by("payments", 30, "/payments")).0,
        create_rule(GATEWAY, 80, owned_by("orders", 40, "/orders/v2")).0,
        create_rule(GATEWAY, 80, owned_by("search", 50, "/search")).0,
    ];
    let report = h.apply(&plan(changes), &mut ids).await;
    let got: Vec<&Outcome> = outcomes(&report);
    assert!(
        matches!(got[0], Outcome::Failed(m) if m.starts_with("CreateRule failed: PriorityInUse")),
        "{}",
        report.render()
    );
    assert_eq!(
        got[1..],
        [&Outcome::Done, &Outcome::Skipped, &Outcome::Done],
        "{}",
        report.render()
    );
    assert!(
        report
            .render()
            .contains("(team orders): CreateRule failed: PriorityInUse"),
        "the failure names its team: {}",
        report.render()
    );
    let priorities: Vec<u32> = h
        .rules(&ids.listeners[&(s(GATEWAY), 80)])
        .await
        .keys()
        .copied()
        .collect();
    assert_eq!(
        priorities,
        [0, 10, 20, 30, 50],
        "each rule at its own priority"
    );
}
