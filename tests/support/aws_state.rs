//! Reading AWS state back as plain values, for tests that check what apply did, or did not
//! do, to a resource: its tags, and everything about a load balancer as comparable text; and
//! the hand-made load balancer those tests check gwsync never touches.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types as sdk;
use gwsync::alb::identity;
use std::collections::BTreeMap;

/// The tags of one ELB resource.
pub async fn tags_of(elb: &Client, arn: &str) -> BTreeMap<String, String> {
    let out = elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .expect("DescribeTags");
    out.tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A load balancer, its attributes and tags, its listeners and their rules with their tags,
/// as text: two snapshots are equal when nothing of it changed.
pub async fn load_balancer_snapshot(elb: &Client, lb_arn: &str) -> String {
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_arns(lb_arn)
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let attributes = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("DescribeLoadBalancerAttributes");
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let mut out = format!(
        "load balancer {:?}\nattributes {:?}\ntags {:?}\n",
        lbs.load_balancers(),
        attributes.attributes(),
        tags_of(elb, lb_arn).await,
    );
    for listener in listeners.listeners() {
        let arn = listener.listener_arn().unwrap();
        out += &format!("listener {listener:?} {:?}\n", tags_of(elb, arn).await);
        let rules = elb
            .describe_rules()
            .listener_arn(arn)
            .send()
            .await
            .expect("DescribeRules");
        for rule in rules.rules() {
            let tags = tags_of(elb, rule.rule_arn().unwrap()).await;
            out += &format!("  rule {rule:?} {tags:?}\n");
        }
    }
    out
}

/// What [`hand_made_load_balancer`] made.
pub struct HandMade {
    pub load_balancer: String,
    pub target_group: String,
}

/// A load balancer made by hand, as another tool or a person would, without gwsync's tags:
/// `hand-made`, with a listener on port 80 and one rule per `(priority, condition)`, all
/// forwarding to a target group of its own (`hand-made-tg`).
pub async fn hand_made_load_balancer(
    elb: &Client,
    subnets: &[String],
    security_group: &str,
    vpc: &str,
    rules: Vec<(i32, sdk::RuleCondition)>,
) -> HandMade {
    let lb = elb
        .create_load_balancer()
        .name("hand-made")
        .r#type(sdk::LoadBalancerTypeEnum::Application)
        .set_subnets(Some(subnets.to_vec()))
        .security_groups(security_group)
        .tags(sdk::Tag::builder().key("owner").value("someone").build())
        .send()
        .await
        .expect("CreateLoadBalancer (by hand)");
    let lb_arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let tg = elb
        .create_target_group()
        .name("hand-made-tg")
        .protocol(sdk::ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateTargetGroup (by hand)");
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
    let forward = sdk::Action::builder()
        .r#type(sdk::ActionTypeEnum::Forward)
        .target_group_arn(&tg_arn)
        .build();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(sdk::ProtocolEnum::Http)
        .port(80)
        .default_actions(forward.clone())
        .send()
        .await
        .expect("CreateListener (by hand)");
    let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_owned();
    for (priority, condition) in rules {
        elb.create_rule()
            .listener_arn(&listener_arn)
            .priority(priority)
            .conditions(condition)
            .actions(forward.clone())
            .send()
            .await
            .expect("CreateRule (by hand)");
    }
    HandMade {
        load_balancer: lb_arn,
        target_group: tg_arn,
    }
}

/// `gwsync.dev/resource` id -> how many load balancers, listeners, rules and target groups
/// carry it with `instance`'s tag, read from everything in the account: more than one is a
/// twin.
pub async fn owned_inventory(elb: &Client, instance: &str) -> BTreeMap<String, usize> {
    let mut arns = Vec::new();
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers() {
        let lb_arn = lb.load_balancer_arn().unwrap();
        arns.push(lb_arn.to_owned());
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .unwrap();
        for listener in listeners.listeners() {
            let arn = listener.listener_arn().unwrap();
            arns.push(arn.to_owned());
            let rules = elb
                .describe_rules()
                .listener_arn(arn)
                .page_size(400)
                .send()
                .await
                .unwrap();
            arns.extend(
                rules
                    .rules()
                    .iter()
                    .filter(|r| r.is_default() != Some(true))
                    .map(|r| r.rule_arn().unwrap().to_owned()),
            );
        }
    }
    let tgs = elb.describe_target_groups().send().await.unwrap();
    arns.extend(
        tgs.target_groups()
            .iter()
            .map(|tg| tg.target_group_arn().unwrap().to_owned()),
    );
    let mut inventory = BTreeMap::new();
    // DescribeTags takes 20 ARNs at a time.
    for chunk in arns.chunks(20) {
        let out = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .expect("DescribeTags");
        assert_eq!(out.tag_descriptions().len(), chunk.len());
        for description in out.tag_descriptions() {
            let tags: BTreeMap<&str, &str> = description
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
                .collect();
            if tags.get(identity::INSTANCE) == Some(&instance) {
                let id = tags.get(identity::RESOURCE).copied().unwrap_or_default();
                *inventory.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    inventory
}

/// Every rule on every listener of every load balancer, as DescribeRules returns them.
pub async fn all_rules(elb: &Client) -> Vec<aws_sdk_elasticloadbalancingv2::types::Rule> {
    rules_by_listener(elb).await.into_iter().flatten().collect()
}

/// The rules of each listener of every load balancer, one list per listener.
pub async fn rules_by_listener(
    elb: &Client,
) -> Vec<Vec<aws_sdk_elasticloadbalancingv2::types::Rule>> {
    let mut all = Vec::new();
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers() {
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        for listener in listeners.listeners() {
            let rules = elb
                .describe_rules()
                .listener_arn(listener.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            all.push(rules.rules().to_vec());
        }
    }
    all
}

/// The path patterns of `rule`'s conditions.
pub fn rule_paths(rule: &aws_sdk_elasticloadbalancingv2::types::Rule) -> Vec<String> {
    rule.conditions()
        .iter()
        .filter_map(|c| c.path_pattern_config())
        .flat_map(|p| p.values().iter().cloned())
        .collect()
}

/// The path patterns of every rule on AWS ([`all_rules`]).
pub async fn all_paths(elb: &Client) -> Vec<String> {
    all_rules(elb).await.iter().flat_map(rule_paths).collect()
}
