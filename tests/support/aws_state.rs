//! Reading AWS state back as plain values, for tests that check what apply did, or did not
//! do, to a resource: its tags, and everything about a load balancer as comparable text.

use aws_sdk_elasticloadbalancingv2::Client;
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
