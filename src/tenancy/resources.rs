//! What a document may ask of the AWS resources gwsync makes for it, beyond the schema:
//! tags that ELB takes and that are not gwsync's own (`gwsync.dev/`, which decide ownership)
//! or AWS's (`aws:`); targets that are real hosts, never the instance metadata service or
//! another link-local, loopback or broadcast address; and nothing that gwsync would accept
//! and then silently not apply (`ListenerRuleConfiguration` tags, `routeConfigurations`).
//!
//! Per document, with no look at other owners: it runs in [`super::load`] and its result is
//! cached with the owner's load.

use crate::alb::{identity, values};
use crate::diagnostic::{Diagnostic, codes};
use crate::manifest::{Body, Document, lbc};

/// Every such problem of one document, each with its field.
pub(super) fn problems(doc: &Document) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    match &doc.body {
        Body::LoadBalancerConfiguration(spec) => {
            out.extend(tags(
                &spec.tags,
                identity::OWN_TAGS_ON_LOAD_BALANCER,
                "spec.tags",
            ));
        }
        Body::TargetGroupConfiguration(spec) => {
            out.extend(target_group_props(
                &spec.default_configuration,
                "spec.defaultConfiguration",
            ));
            let props = &spec.default_configuration;
            if spec.target_reference.is_none()
                && (props.target_group_name.is_some() || !props.targets.is_empty())
            {
                out.push(
                    Diagnostic::refusal(
                        codes::INVALID_FIELD,
                        "a default TargetGroupConfiguration (without targetReference) applies to many target groups: it cannot name a group or list targets",
                    )
                    .field("spec.defaultConfiguration"),
                );
            }
            if !spec.route_configurations.is_empty() {
                out.push(
                    Diagnostic::refusal(
                        codes::UNSUPPORTED,
                        "routeConfigurations (per-route target group properties) are not supported by gwsync yet; put the properties in defaultConfiguration",
                    )
                    .field("spec.routeConfigurations"),
                );
            }
        }
        Body::ListenerRuleConfiguration(spec) if !spec.tags.is_empty() => {
            out.push(
                Diagnostic::refusal(
                    codes::UNSUPPORTED,
                    "tags on listener rules are not applied by gwsync (it keeps rule tags for ownership); remove them",
                )
                .field("spec.tags"),
            );
        }
        _ => {}
    }
    out.into_iter().map(|d| doc.diagnostic(d)).collect()
}

fn target_group_props(props: &lbc::TargetGroupProps, field: &str) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = tags(
        &props.tags,
        identity::OWN_TAGS_ON_TARGET_GROUP,
        &format!("{field}.tags"),
    )
    .into_iter()
    .collect();
    for (i, target) in props.targets.iter().enumerate() {
        if let Some(why) = values::target_address_problem(&target.id) {
            out.push(
                Diagnostic::refusal(
                    codes::UNSAFE_TARGET,
                    format!("target `{}` is {why}; it cannot be registered", target.id),
                )
                .field(format!("{field}.targets[{i}].id")),
            );
        }
    }
    out
}

fn tags(tags: &lbc::Tags, own_tags: usize, field: &str) -> Option<Diagnostic> {
    let (key, why) = values::tags_problem(tags, own_tags)?;
    let reserved = key.starts_with(identity::OWN_PREFIX) || values::is_aws_tag_key(&key);
    let (code, field) = match (reserved, key.is_empty()) {
        (true, _) => (codes::RESERVED_TAG, format!("{field}.{key}")),
        (false, true) => (codes::ALB_LIMIT, field.to_string()),
        (false, false) => (codes::ALB_VALUE, format!("{field}.{key}")),
    };
    let message = if key.is_empty() {
        why
    } else {
        format!("tag `{key}`: {why}")
    };
    Some(Diagnostic::refusal(code, message).field(field))
}
