//! `observe` and `find_certificates` against moto: resources are made through the real SDK
//! (not through gwsync's apply), the way a previous gwsync run, another gwsync instance or
//! a person with the console would have left them; then gwsync reads them back.
//!
//! Where moto differs from AWS (noted where it matters, and in `src/aws/observe.rs`):
//! - a forward sent as a bare `TargetGroupArn` comes back as just that; AWS adds a
//!   `ForwardConfig` holding the group with weight 1. A `ForwardConfig` comes back with
//!   stickiness `{Enabled: false}` and missing weights set to 1, as on AWS;
//! - conditions come back exactly as sent (AWS reports host and path values both in
//!   `Values` and in the `*Config` block). Plain moto drops `Transforms` and fails on
//!   `RegexValues`-only conditions; `scripts/moto_server.py` keeps both, and the conformance
//!   cases on moto read them back (rewrites, regex paths and headers);
//! - HTTP listeners report an SSL policy (`ELBSecurityPolicy-2016-08`), AWS reports none;
//! - DescribeTargetGroups and DescribeListeners ignore paging (all in one page);
//!   DescribeLoadBalancers and DescribeRules page by 50 unless given a page size;
//! - target groups get AWS's HTTP defaults (timeout 5 s, path `/`, `HTTP1`), but fewer
//!   attributes than AWS reports;
//! - AddTags refuses an 11th tag on a resource (AWS allows 50);
//! - ACM ListCertificates returns every key type when `Includes` is absent (AWS: RSA_2048
//!   only), no `SubjectAlternativeNameSummaries` (so gwsync falls back to
//!   DescribeCertificate), and no paging; requested certificates stay PENDING_VALIDATION
//!   for 60 s.

mod support;

use aws_sdk_elasticloadbalancingv2::types::{
    Action as SdkAction, ActionTypeEnum, Certificate as SdkCertificate, FixedResponseActionConfig,
    ForwardActionConfig, HostHeaderConditionConfig, HttpHeaderConditionConfig,
    HttpRequestMethodConditionConfig, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
    PathPatternConditionConfig, ProtocolEnum, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, SourceIpConditionConfig,
    Tag, TargetDescription, TargetGroupTuple, TargetTypeEnum,
};
use gwsync::alb::identity;
use gwsync::alb::{
    Action, Certificate, Condition, HealthCheck, IpAddressType, Listener, LoadBalancer, Patterns,
    Protocol, ProtocolVersion, QueryValue, Rule, Scheme, Stack, Target, TargetGroup,
    TargetGroupRef, TargetType, WeightedTargetGroup,
};
use gwsync::aws::client::{CallCount, Clients, RateLimits};
use gwsync::aws::observe::{find_certificates, observe};
use std::collections::{BTreeMap, BTreeSet};
use support::moto::MotoServer;

const INSTANCE_ID: &str = "test";
const GATEWAY: &str = "platform/public";

/// A moto server with the network an ALB needs, and clients for it.
struct Aws {
    moto: MotoServer,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    acm: aws_sdk_acm::Client,
    vpc: String,
    subnets: Vec<String>,
    security_group: String,
}

impl Aws {
    async fn start() -> Aws {
        let moto = MotoServer::start();
        let (vpc, subnets, security_group) = moto.create_vpc_and_subnets();
        let elb = moto.elbv2_client().await;
        let acm = moto.acm_client().await;
        Aws {
            moto,
            elb,
            acm,
            vpc,
            subnets,
            security_group,
        }
    }

    /// gwsync's clients, without rate limits, with a fresh call count.
    async fn clients(&self) -> Clients {
        Clients::from_sdk_config(&self.moto.sdk_config().await, RateLimits::unlimited())
    }

    async fn load_balancer(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let out = self
            .elb
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(self.subnets.clone()))
            .security_groups(&self.security_group)
            .set_tags(sdk_tags(tags))
            .send()
            .await
            .expect("CreateLoadBalancer");
        out.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string()
    }

    async fn listener(
        &self,
        lb_arn: &str,
        port: i32,
        certificate: Option<&str>,
        tags: &[(&str, &str)],
    ) -> String {
        let protocol = if certificate.is_some() {
            ProtocolEnum::Https
        } else {
            ProtocolEnum::Http
        };
        let out = self
            .elb
            .create_listener()
            .load_balancer_arn(lb_arn)
            .port(port)
            .protocol(protocol)
            .set_certificates(
                certificate.map(|c| vec![SdkCertificate::builder().certificate_arn(c).build()]),
            )
            .default_actions(fixed(404, None, None))
            .set_tags(sdk_tags(tags))
            .send()
            .await
            .expect("CreateListener");
        out.listeners()[0].listener_arn().unwrap().to_string()
    }

    async fn target_group(&self, name: &str, port: i32, tags: &[(&str, &str)]) -> String {
        let out = self
            .elb
            .create_target_group()
            .name(name)
            .protocol(ProtocolEnum::Http)
            .port(port)
            .vpc_id(&self.vpc)
            .target_type(TargetTypeEnum::Ip)
            .set_tags(sdk_tags(tags))
            .send()
            .await
            .expect("CreateTargetGroup");
        out.target_groups()[0]
            .target_group_arn()
            .unwrap()
            .to_string()
    }

    async fn rule(
        &self,
        listener_arn: &str,
        priority: i32,
        conditions: Vec<RuleCondition>,
        actions: Vec<SdkAction>,
        tags: &[(&str, &str)],
    ) -> String {
        let out = self
            .elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(priority)
            .set_conditions(Some(conditions))
            .set_actions(Some(actions))
            .set_tags(sdk_tags(tags))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRule {priority}: {e:?}"));
        out.rules()[0].rule_arn().unwrap().to_string()
    }

    /// Imports a self-signed certificate for `names` (the first is the subject) into ACM.
    async fn import_certificate(&self, key: &str, names: &[&str]) -> String {
        support::certificates::import_self_signed(&self.acm, key, names).await
    }
}

fn sdk_tags(tags: &[(&str, &str)]) -> Option<Vec<Tag>> {
    if tags.is_empty() {
        return None;
    }
    Some(
        tags.iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect(),
    )
}

/// The tags gwsync puts on a resource of its own.
fn owned(resource: &str) -> Vec<(&'static str, String)> {
    vec![
        (identity::INSTANCE, INSTANCE_ID.to_string()),
        (identity::RESOURCE, resource.to_string()),
    ]
}

fn as_pairs<'a>(tags: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    tags.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn fixed(status: u16, content_type: Option<&str>, body: Option<&str>) -> SdkAction {
    SdkAction::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code(status.to_string())
                .set_content_type(content_type.map(str::to_string))
                .set_message_body(body.map(str::to_string))
                .build(),
        )
        .build()
}

fn path(values: &[&str]) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
                .build(),
        )
        .build()
}

fn model_path(values: &[&str]) -> Condition {
    Condition::PathPattern {
        values: Patterns::Wildcard(values.iter().map(|v| v.to_string()).collect()),
    }
}

fn rule_id(port: u16, conditions: &[Condition]) -> String {
    identity::rule_id(GATEWAY, port, conditions)
}

fn weighted(target_group: TargetGroupRef, weight: u32) -> WeightedTargetGroup {
    WeightedTargetGroup {
        target_group,
        weight,
    }
}

fn owned_ref(backend: &str) -> TargetGroupRef {
    TargetGroupRef::Owned(backend.to_string())
}

#[tokio::test]
async fn observes_owned_resources_in_the_model_shape() {
    let aws = Aws::start().await;

    // The owned load balancer, and two that are not ours (another instance's, claiming the
    // same Gateway, and one without tags), each with a listener and a rule.
    let lb_tags = [
        owned(&identity::load_balancer_id(GATEWAY)),
        vec![("team", "platform".to_string())],
    ]
    .concat();
    let lb = aws.load_balancer("gw-public", &as_pairs(&lb_tags)).await;
    let other_lb = aws
        .load_balancer(
            "other-instance",
            &[
                (identity::INSTANCE, "other"),
                (identity::RESOURCE, &identity::load_balancer_id(GATEWAY)),
            ],
        )
        .await;
    let untagged_lb = aws.load_balancer("untagged", &[]).await;
    for other in [&other_lb, &untagged_lb] {
        let listener = aws.listener(other, 80, None, &[]).await;
        aws.rule(
            &listener,
            1,
            vec![path(&["/x"])],
            vec![fixed(200, None, None)],
            &[],
        )
        .await;
    }

    // Target groups: two owned (one with settings and targets), one existing group a rule
    // forwards to, and one another instance owns.
    let api_tags = [
        owned(&identity::target_group_id(GATEWAY, "payments/api:8080")),
        vec![
            (identity::BACKEND, "payments/api:8080".to_string()),
            ("cost-center", "42".to_string()),
        ],
    ]
    .concat();
    let api_tg = aws
        .elb
        .create_target_group()
        .name("gw-payments-api")
        .protocol(ProtocolEnum::Http)
        .protocol_version("HTTP2")
        .port(8080)
        .vpc_id(&aws.vpc)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/healthz")
        .health_check_port("9000")
        .health_check_interval_seconds(15)
        .health_check_timeout_seconds(4)
        .healthy_threshold_count(3)
        .unhealthy_threshold_count(4)
        .matcher(Matcher::builder().http_code("200-299").build())
        .set_tags(sdk_tags(&as_pairs(&api_tags)))
        .send()
        .await
        .expect("CreateTargetGroup")
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    aws.elb
        .register_targets()
        .target_group_arn(&api_tg)
        .targets(
            TargetDescription::builder()
                .id("10.0.1.11")
                .port(9090)
                .build(),
        )
        .targets(
            TargetDescription::builder()
                .id("10.0.1.10")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTargets");
    let web_tags = [
        owned(&identity::target_group_id(GATEWAY, "payments/web:80")),
        vec![(identity::BACKEND, "payments/web:80".to_string())],
    ]
    .concat();
    let web_tg = aws
        .target_group("gw-payments-web", 80, &as_pairs(&web_tags))
        .await;
    let legacy_tg = aws.target_group("legacy-asg", 80, &[]).await;
    let foreign_tg = aws
        .target_group(
            "other-instance-tg",
            80,
            &[
                (identity::INSTANCE, "other"),
                (
                    identity::RESOURCE,
                    &identity::target_group_id(GATEWAY, "payments/api:8080"),
                ),
            ],
        )
        .await;

    // An owned listener, and one made by hand on the owned load balancer.
    let listener_tags = owned(&identity::listener_id(GATEWAY, 80));
    let listener = aws.listener(&lb, 80, None, &as_pairs(&listener_tags)).await;
    let hand_listener = aws.listener(&lb, 8081, None, &[]).await;
    aws.rule(
        &hand_listener,
        1,
        vec![path(&["/by-hand"])],
        vec![fixed(200, None, None)],
        &[],
    )
    .await;

    // Priority 10: every condition kind, weighted forward to two owned groups.
    let conditions_10 = vec![
        RuleCondition::builder()
            .field("host-header")
            .host_header_config(
                HostHeaderConditionConfig::builder()
                    .values("pay.example.com")
                    .build(),
            )
            .build(),
        path(&["/api", "/api/*"]),
        RuleCondition::builder()
            .field("http-header")
            .http_header_config(
                HttpHeaderConditionConfig::builder()
                    .http_header_name("X-Env")
                    .values("blue")
                    .build(),
            )
            .build(),
        RuleCondition::builder()
            .field("query-string")
            .query_string_config(
                QueryStringConditionConfig::builder()
                    .values(
                        QueryStringKeyValuePair::builder()
                            .key("version")
                            .value("2")
                            .build(),
                    )
                    .build(),
            )
            .build(),
        RuleCondition::builder()
            .field("http-request-method")
            .http_request_method_config(
                HttpRequestMethodConditionConfig::builder()
                    .values("GET")
                    .build(),
            )
            .build(),
        RuleCondition::builder()
            .field("source-ip")
            .source_ip_config(
                SourceIpConditionConfig::builder()
                    .values("10.0.0.0/8")
                    .build(),
            )
            .build(),
    ];
    let mut model_10 = vec![
        Condition::SourceIp {
            values: vec!["10.0.0.0/8".into()],
        },
        Condition::QueryString {
            values: vec![QueryValue {
                key: Some("version".into()),
                value: "2".into(),
            }],
        },
        Condition::HttpHeader {
            name: "x-env".into(),
            values: Patterns::Wildcard(vec!["blue".into()]),
        },
        Condition::HttpRequestMethod {
            values: vec!["GET".into()],
        },
        model_path(&["/api", "/api/*"]),
        Condition::HostHeader {
            values: Patterns::Wildcard(vec!["pay.example.com".into()]),
        },
    ];
    Condition::canonical_order(&mut model_10);
    let id_10 = rule_id(80, &model_10);
    let forward_10 = SdkAction::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&api_tg)
                        .weight(80)
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&web_tg)
                        .weight(20)
                        .build(),
                )
                .build(),
        )
        .build();
    let rule_10 = aws
        .rule(
            &listener,
            10,
            conditions_10,
            vec![forward_10],
            &as_pairs(&owned(&id_10)),
        )
        .await;

    // Priority 15: made by hand, no tags.
    aws.rule(
        &listener,
        15,
        vec![path(&["/hand-made"])],
        vec![fixed(200, None, None)],
        &[],
    )
    .await;

    // Priority 20: host in the legacy `Values` shape; a redirect with only some parts set.
    let model_20 = vec![Condition::HostHeader {
        values: Patterns::Wildcard(vec!["old.example.com".into()]),
    }];
    let id_20 = rule_id(80, &model_20);
    let rule_20 = aws
        .rule(
            &listener,
            20,
            vec![
                RuleCondition::builder()
                    .field("host-header")
                    .values("old.example.com")
                    .build(),
            ],
            vec![
                SdkAction::builder()
                    .r#type(ActionTypeEnum::Redirect)
                    .redirect_config(
                        RedirectActionConfig::builder()
                            .protocol("HTTPS")
                            .host("new.example.com")
                            .status_code(RedirectActionStatusCodeEnum::Http301)
                            .build(),
                    )
                    .build(),
            ],
            &as_pairs(&owned(&id_20)),
        )
        .await;

    // Priority 25: another instance's rule.
    aws.rule(
        &listener,
        25,
        vec![path(&["/other"])],
        vec![fixed(200, None, None)],
        &[
            (identity::INSTANCE, "other"),
            (identity::RESOURCE, "rule/platform/public/80/0000"),
        ],
    )
    .await;

    // Priority 30: fixed response.
    let model_30 = vec![model_path(&["/maintenance"])];
    let id_30 = rule_id(80, &model_30);
    let rule_30 = aws
        .rule(
            &listener,
            30,
            vec![path(&["/maintenance"])],
            vec![fixed(503, Some("text/plain"), Some("down for maintenance"))],
            &as_pairs(&owned(&id_30)),
        )
        .await;

    // Priority 40: a bare TargetGroupArn to an existing group.
    let model_40 = vec![model_path(&["/legacy"])];
    let id_40 = rule_id(80, &model_40);
    let rule_40 = aws
        .rule(
            &listener,
            40,
            vec![path(&["/legacy"])],
            vec![
                SdkAction::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&legacy_tg)
                    .build(),
            ],
            &as_pairs(&owned(&id_40)),
        )
        .await;

    let clients = aws.clients().await;
    let (observed, ids) = observe(&clients, INSTANCE_ID).await.expect("observe");

    let [observed_lb] = observed.stack.load_balancers.as_slice() else {
        panic!(
            "only the owned load balancer: {:#?}",
            observed.stack.load_balancers
        );
    };
    // AWS reports every attribute with its default; the diff compares the keys the desired
    // state sets. Here: that they are read at all.
    assert_eq!(
        observed_lb
            .attributes
            .get("deletion_protection.enabled")
            .map(String::as_str),
        Some("false")
    );
    let tg_attributes = |backend: &str| {
        observed_lb
            .target_groups
            .iter()
            .find(|t| t.backend == backend)
            .map(|t| t.attributes.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        tg_attributes("payments/api:8080")
            .get("deregistration_delay.timeout_seconds")
            .map(String::as_str),
        Some("300")
    );

    let mut subnets = aws.subnets.clone();
    subnets.sort();
    let expected = Stack {
        load_balancers: vec![LoadBalancer {
            gateway: GATEWAY.into(),
            name: "gw-public".into(),
            scheme: Scheme::Internal,
            ip_address_type: IpAddressType::Ipv4,
            subnets,
            security_groups: vec![aws.security_group.clone()],
            attributes: observed_lb.attributes.clone(),
            tags: BTreeMap::from([("team".into(), "platform".into())]),
            listeners: vec![Listener {
                port: 80,
                protocol: Protocol::Http,
                ssl_policy: None,
                certificates: vec![],
                default_action: Action::fixed(404),
                rules: vec![
                    Rule {
                        priority: 10,
                        conditions: model_10,
                        actions: vec![Action::Forward {
                            target_groups: vec![
                                weighted(owned_ref("payments/api:8080"), 80),
                                weighted(owned_ref("payments/web:80"), 20),
                            ],
                            stickiness_seconds: None,
                        }],
                        transforms: vec![],
                        source: None,
                        owner: None,
                    },
                    Rule {
                        priority: 20,
                        conditions: model_20,
                        actions: vec![Action::Redirect {
                            protocol: "HTTPS".into(),
                            host: "new.example.com".into(),
                            port: "#{port}".into(),
                            path: "/#{path}".into(),
                            query: "#{query}".into(),
                            status: 301,
                        }],
                        transforms: vec![],
                        source: None,
                        owner: None,
                    },
                    Rule {
                        priority: 30,
                        conditions: model_30,
                        actions: vec![Action::FixedResponse {
                            status: 503,
                            content_type: Some("text/plain".into()),
                            body: Some("down for maintenance".into()),
                        }],
                        transforms: vec![],
                        source: None,
                        owner: None,
                    },
                    Rule {
                        priority: 40,
                        conditions: model_40,
                        actions: vec![Action::Forward {
                            target_groups: vec![weighted(
                                TargetGroupRef::Existing("legacy-asg".into()),
                                1,
                            )],
                            stickiness_seconds: None,
                        }],
                        transforms: vec![],
                        source: None,
                        owner: None,
                    },
                ],
            }],
            target_groups: vec![
                TargetGroup {
                    backend: "payments/api:8080".into(),
                    name: "gw-payments-api".into(),
                    protocol: Protocol::Http,
                    protocol_version: ProtocolVersion::Http2,
                    port: 8080,
                    target_type: TargetType::Ip,
                    health_check: HealthCheck {
                        protocol: Protocol::Http,
                        port: "9000".into(),
                        path: "/healthz".into(),
                        interval_seconds: 15,
                        timeout_seconds: 4,
                        healthy_threshold: 3,
                        unhealthy_threshold: 4,
                        matcher: gwsync::alb::Matcher::HttpCode("200-299".into()),
                    },
                    attributes: tg_attributes("payments/api:8080"),
                    tags: BTreeMap::from([("cost-center".into(), "42".into())]),
                    targets: vec![
                        Target {
                            id: "10.0.1.10".into(),
                            port: Some(8080),
                            availability_zone: None,
                        },
                        Target {
                            id: "10.0.1.11".into(),
                            port: Some(9090),
                            availability_zone: None,
                        },
                    ],
                    owner: None,
                },
                TargetGroup {
                    backend: "payments/web:80".into(),
                    name: "gw-payments-web".into(),
                    protocol: Protocol::Http,
                    protocol_version: ProtocolVersion::Http1,
                    port: 80,
                    target_type: TargetType::Ip,
                    health_check: HealthCheck {
                        protocol: Protocol::Http,
                        port: "traffic-port".into(),
                        path: "/".into(),
                        interval_seconds: 30,
                        timeout_seconds: 5,
                        healthy_threshold: 5,
                        unhealthy_threshold: 2,
                        matcher: gwsync::alb::Matcher::HttpCode("200".into()),
                    },
                    attributes: tg_attributes("payments/web:80"),
                    tags: BTreeMap::new(),
                    targets: vec![],
                    owner: None,
                },
            ],
        }],
    };
    assert_eq!(observed.stack, expected);

    let key = (GATEWAY.to_string(), 80u16);
    assert_eq!(
        observed.rule_ids,
        BTreeMap::from([(
            key.clone(),
            BTreeMap::from([
                (10, id_10.clone()),
                (20, id_20.clone()),
                (30, id_30.clone()),
                (40, id_40.clone()),
            ])
        )])
    );
    // The hand-made rule and the other instance's; nothing from the hand-made listener.
    assert_eq!(
        observed.foreign_priorities,
        BTreeMap::from([(key.clone(), BTreeSet::from([15, 25]))])
    );

    assert_eq!(ids.load_balancers, BTreeMap::from([(GATEWAY.into(), lb)]));
    assert_eq!(
        ids.vpcs,
        BTreeMap::from([(GATEWAY.into(), aws.vpc.clone())])
    );
    assert_eq!(ids.listeners, BTreeMap::from([(key, listener)]));
    assert_eq!(
        ids.rules,
        BTreeMap::from([
            (id_10, rule_10),
            (id_20, rule_20),
            (id_30, rule_30),
            (id_40, rule_40),
        ])
    );
    assert_eq!(
        ids.target_groups,
        BTreeMap::from([
            ((GATEWAY.into(), "payments/api:8080".into()), api_tg),
            ((GATEWAY.into(), "payments/web:80".into()), web_tg),
        ])
    );
    assert_eq!(
        ids.existing_target_groups,
        BTreeMap::from([
            ("legacy-asg".into(), legacy_tg),
            ("other-instance-tg".into(), foreign_tg),
        ])
    );
    assert!(ids.certificates.is_empty());

    // The same state twice: the same fingerprint.
    let (again, _) = observe(&clients, INSTANCE_ID).await.expect("observe again");
    assert_eq!(again, observed);
    assert_eq!(again.fingerprint, observed.fingerprint);
    assert_eq!(observed.fingerprint.len(), 64);

    // An owned rule changed by hand: another fingerprint, and the change is seen.
    aws.elb
        .modify_rule()
        .rule_arn(&ids.rules[&rule_id(80, &[model_path(&["/maintenance"])])])
        .actions(fixed(502, None, None))
        .send()
        .await
        .expect("ModifyRule");
    let (changed, _) = observe(&clients, INSTANCE_ID).await.expect("observe");
    assert_ne!(changed.fingerprint, observed.fingerprint);
    assert_eq!(
        changed.stack.load_balancers[0].listeners[0].rules[2].actions,
        vec![Action::fixed(502)]
    );
}

/// One DescribeRules and two DescribeTags for 25 owned rules and 3 foreign ones; the call
/// count of a whole observe.
#[tokio::test]
async fn describe_tags_is_batched_by_twenty() {
    let aws = Aws::start().await;
    let lb = aws
        .load_balancer(
            "gw-public",
            &as_pairs(&owned(&identity::load_balancer_id(GATEWAY))),
        )
        .await;
    let listener = aws
        .listener(
            &lb,
            80,
            None,
            &as_pairs(&owned(&identity::listener_id(GATEWAY, 80))),
        )
        .await;
    let mut expected_ids = BTreeMap::new();
    for i in 1..=25u32 {
        let p = format!("/r{i}");
        let id = rule_id(80, &[model_path(&[&p])]);
        aws.rule(
            &listener,
            i as i32 * 10,
            vec![path(&[&p])],
            vec![fixed(200, None, None)],
            &as_pairs(&owned(&id)),
        )
        .await;
        expected_ids.insert(i * 10, id);
    }
    for i in 1..=3 {
        aws.rule(
            &listener,
            1000 + i,
            vec![path(&[&format!("/hand{i}")])],
            vec![fixed(200, None, None)],
            &[],
        )
        .await;
    }

    let clients = aws.clients().await;
    let (observed, ids) = observe(&clients, INSTANCE_ID).await.expect("observe");
    let key = (GATEWAY.to_string(), 80u16);
    assert_eq!(observed.rule_ids[&key], expected_ids);
    assert_eq!(
        observed.foreign_priorities[&key],
        BTreeSet::from([1001, 1002, 1003])
    );
    assert_eq!(ids.rules.len(), 25);
    let rules = &observed.stack.load_balancers[0].listeners[0].rules;
    assert_eq!(rules.len(), 25);
    assert!(rules.windows(2).all(|w| w[0].priority < w[1].priority));
    assert_eq!(
        clients.calls(),
        CallCount {
            // DescribeLoadBalancers, DescribeTags (load balancers), DescribeTargetGroups
            // (none, so no DescribeTags for them), DescribeListeners, DescribeTags
            // (listeners), DescribeRules, DescribeTags (28 rules: 2),
            // DescribeLoadBalancerAttributes.
            reads: 9,
            writes: 0,
        }
    );
}

/// The budget the design asks for: one load balancer, two listeners (one HTTPS with two
/// certificates), ten rules, one owned and one existing target group.
#[tokio::test]
async fn call_budget_and_listener_certificates() {
    let aws = Aws::start().await;
    let default_cert = aws
        .import_certificate("rsa", &["pay.example.com", "*.pay.example.com"])
        .await;
    let sni_a = aws.import_certificate("rsa", &["a.example.com"]).await;
    let sni_b = aws.import_certificate("ec", &["b.example.com"]).await;
    let lb = aws
        .load_balancer(
            "gw-public",
            &as_pairs(&owned(&identity::load_balancer_id(GATEWAY))),
        )
        .await;
    let http = aws
        .listener(
            &lb,
            80,
            None,
            &as_pairs(&owned(&identity::listener_id(GATEWAY, 80))),
        )
        .await;
    let https = aws
        .listener(
            &lb,
            443,
            Some(&default_cert),
            &as_pairs(&owned(&identity::listener_id(GATEWAY, 443))),
        )
        .await;
    // Added in reverse order: observed sorted.
    for arn in [&sni_b, &sni_a] {
        aws.elb
            .add_listener_certificates()
            .listener_arn(&https)
            .certificates(SdkCertificate::builder().certificate_arn(arn).build())
            .send()
            .await
            .expect("AddListenerCertificates");
    }
    let tg_tags = [
        owned(&identity::target_group_id(GATEWAY, "payments/api:8080")),
        vec![(identity::BACKEND, "payments/api:8080".to_string())],
    ]
    .concat();
    let tg = aws
        .target_group("gw-payments-api", 8080, &as_pairs(&tg_tags))
        .await;
    aws.target_group("legacy-asg", 80, &[]).await;
    for (listener, port) in [(&http, 80u16), (&https, 443)] {
        for i in 1..=5 {
            let p = format!("/r{i}");
            let id = identity::rule_id(GATEWAY, port, &[model_path(&[&p])]);
            aws.rule(
                listener,
                i * 10,
                vec![path(&[&p])],
                vec![
                    SdkAction::builder()
                        .r#type(ActionTypeEnum::Forward)
                        .target_group_arn(&tg)
                        .build(),
                ],
                &as_pairs(&owned(&id)),
            )
            .await;
        }
    }

    let clients = aws.clients().await;
    let (observed, ids) = observe(&clients, INSTANCE_ID).await.expect("observe");
    let lb_model = &observed.stack.load_balancers[0];
    let [l80, l443] = lb_model.listeners.as_slice() else {
        panic!("two listeners: {:#?}", lb_model.listeners);
    };
    assert_eq!((l80.port, l80.protocol), (80, Protocol::Http));
    assert_eq!(l80.ssl_policy, None, "moto reports one for HTTP; not kept");
    assert_eq!((l443.port, l443.protocol), (443, Protocol::Https));
    assert!(l443.ssl_policy.is_some());
    let mut sni = vec![sni_a.clone(), sni_b.clone()];
    sni.sort();
    assert_eq!(
        l443.certificates,
        [vec![default_cert.clone()], sni]
            .concat()
            .into_iter()
            .map(Certificate::Arn)
            .collect::<Vec<_>>()
    );
    assert_eq!(l80.rules.len() + l443.rules.len(), 10);
    assert_eq!(ids.rules.len(), 10);
    assert_eq!(lb_model.target_groups.len(), 1);
    assert_eq!(
        clients.calls(),
        CallCount {
            // DescribeLoadBalancers 1, DescribeTargetGroups 1, DescribeTags (the load
            // balancer, with both target groups filling the call) 1, DescribeListeners 1,
            // DescribeTags (listeners) 1, DescribeRules 2, DescribeTags (rules) 1,
            // DescribeListenerCertificates 1, DescribeLoadBalancerAttributes 1,
            // DescribeTargetGroupAttributes 1, DescribeTargetHealth 1.
            reads: 12,
            writes: 0,
        }
    );
}

#[tokio::test]
async fn certificates_are_found_by_exact_name_or_one_label_wildcard() {
    let aws = Aws::start().await;
    let pay = aws
        .import_certificate("rsa", &["pay.example.com", "*.pay.example.com"])
        .await;
    let shop = aws.import_certificate("rsa", &["shop.example.com"]).await;
    // An EC key: found only because gwsync asks for every key type (AWS lists RSA_2048
    // alone by default; moto lists everything).
    let wildcard = aws.import_certificate("ec", &["*.example.com"]).await;
    // Requested, not issued (moto keeps it pending for 60 s): never used.
    aws.acm
        .request_certificate()
        .domain_name("pending.example.org")
        .send()
        .await
        .expect("RequestCertificate");

    let hostnames: BTreeSet<String> = [
        "pay.example.com",
        "a.pay.example.com",
        "shop.example.com",
        "x.example.com",
        "a.b.example.com",
        "pending.example.org",
        "example.com",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let clients = aws.clients().await;
    let found = find_certificates(&clients, &hostnames).await.expect("find");
    assert_eq!(
        found,
        BTreeMap::from([
            ("pay.example.com".to_string(), pay.clone()),
            ("a.pay.example.com".to_string(), pay),
            // Exact beats the wildcard that also covers it.
            ("shop.example.com".to_string(), shop),
            ("x.example.com".to_string(), wildcard),
            // `*.example.com` covers one label: not a.b.example.com, not example.com; the
            // pending certificate covers nothing.
        ])
    );
    // ListCertificates, then DescribeCertificate for each issued certificate (moto lists no
    // SAN summaries; AWS does, and then no DescribeCertificate is needed).
    assert_eq!(clients.calls().reads, 1 + 3);

    let none = find_certificates(&clients, &BTreeSet::new())
        .await
        .expect("nothing to find");
    assert!(none.is_empty());
    assert_eq!(
        clients.calls().reads,
        4,
        "no call when there is nothing to find"
    );
}
