//! Smoke test of the AWS test harness: a fresh moto server, the real ELBv2 SDK client, and
//! the EC2 scaffolding an ALB needs. If this fails, the integration tests built on
//! `support::moto::MotoServer` cannot be trusted either.

mod support;

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag, TargetTypeEnum,
};
use support::moto::MotoServer;

const INSTANCE_TAG: &str = "gwsync.dev/instance";

#[tokio::test]
async fn moto_serves_an_application_load_balancer_and_target_group() {
    let moto = MotoServer::start();
    let (vpc_id, subnet_ids, security_group_id) = moto.create_vpc_and_subnets();
    assert_eq!(subnet_ids.len(), 2);
    let elbv2 = moto.elbv2_client().await;

    let created = elbv2
        .create_load_balancer()
        .name("smoke-alb")
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::InternetFacing)
        .set_subnets(Some(subnet_ids.clone()))
        .security_groups(&security_group_id)
        .tags(Tag::builder().key(INSTANCE_TAG).value("smoke").build())
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb_arn = created.load_balancers()[0]
        .load_balancer_arn()
        .expect("created load balancer has an ARN")
        .to_owned();

    let described = elbv2
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let [lb] = described.load_balancers() else {
        panic!(
            "expected one load balancer, got {:?}",
            described.load_balancers()
        );
    };
    assert_eq!(lb.load_balancer_name(), Some("smoke-alb"));
    assert_eq!(lb.scheme(), Some(&LoadBalancerSchemeEnum::InternetFacing));
    assert_eq!(lb.r#type(), Some(&LoadBalancerTypeEnum::Application));
    assert_eq!(lb.vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(lb.security_groups(), [security_group_id.as_str()]);
    let mut zones: Vec<_> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    zones.sort_unstable();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);

    let tags = elbv2
        .describe_tags()
        .resource_arns(&lb_arn)
        .send()
        .await
        .expect("DescribeTags");
    let [description] = tags.tag_descriptions() else {
        panic!(
            "expected tags of one resource, got {:?}",
            tags.tag_descriptions()
        );
    };
    assert_eq!(description.resource_arn(), Some(lb_arn.as_str()));
    let instance = description
        .tags()
        .iter()
        .find(|t| t.key() == Some(INSTANCE_TAG))
        .and_then(|t| t.value());
    assert_eq!(instance, Some("smoke"));

    let tg = elbv2
        .create_target_group()
        .name("smoke-tg")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/healthz")
        .tags(Tag::builder().key(INSTANCE_TAG).value("smoke").build())
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg_arn = tg.target_groups()[0]
        .target_group_arn()
        .expect("created target group has an ARN")
        .to_owned();

    let described = elbv2
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .expect("DescribeTargetGroups");
    let [tg] = described.target_groups() else {
        panic!(
            "expected one target group, got {:?}",
            described.target_groups()
        );
    };
    assert_eq!(tg.target_group_name(), Some("smoke-tg"));
    assert_eq!(tg.protocol(), Some(&ProtocolEnum::Http));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(tg.health_check_path(), Some("/healthz"));
}
