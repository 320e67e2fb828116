//! Which Gateways this instance manages. A Gateway is gwsync's when its `gatewayClassName`
//! is one of the configured `gateway_class` names and, if the platform folder holds a
//! `GatewayClass` of that name (as every AWS Load Balancer Controller guide starts with one),
//! that class names a controller gwsync answers to. A class of another controller, or one
//! that is gwsync's but not configured for this instance (another gwsync instance's), leaves
//! its Gateways alone, with a warning that says which.
//!
//! A GatewayClass may name a LoadBalancerConfiguration (`parametersRef`): the settings of its
//! Gateways' load balancers unless a Gateway names its own (`infrastructure.parametersRef`),
//! as in the AWS Load Balancer Controller.

use super::load::Bucket;
use crate::diagnostic::{Diagnostic, codes};
use crate::manifest::{Body, lbc};
use std::collections::BTreeSet;

/// The controller names gwsync answers to: its own, and the AWS Load Balancer Controller's
/// for ALBs, so that published GatewayClasses work as pasted.
pub const CONTROLLER_NAMES: [&str; 2] = ["gwsync.dev/gateway-controller", "gateway.k8s.aws/alb"];

/// The classes whose Gateways this instance manages.
pub(super) fn managed_classes(bucket: &mut Bucket, configured: &[String]) -> BTreeSet<String> {
    let lb_configs: BTreeSet<&str> = bucket
        .documents
        .iter()
        .filter(|d| matches!(d.body, Body::LoadBalancerConfiguration(_)))
        .map(|d| d.key.name.as_str())
        .collect();
    let mut managed: BTreeSet<String> = configured.iter().cloned().collect();
    let mut found = Vec::new();
    for doc in &bucket.documents {
        let Body::GatewayClass(spec) = &doc.body else {
            continue;
        };
        let name = &doc.key.name;
        let ours = CONTROLLER_NAMES.contains(&spec.controller_name.as_str());
        let is_configured = configured.contains(name);
        if !ours {
            if is_configured {
                managed.remove(name);
                found.push(doc.diagnostic(
                    Diagnostic::warning(
                        codes::OTHER_GATEWAY_CLASS,
                        format!(
                            "GatewayClass `{name}` names controller `{}`, not one gwsync answers to ({}); its Gateways are left alone",
                            spec.controller_name,
                            CONTROLLER_NAMES.join(", ")
                        ),
                    )
                    .field("spec.controllerName"),
                ));
            }
            continue;
        }
        if !is_configured {
            found.push(doc.diagnostic(
                Diagnostic::warning(
                    codes::OTHER_GATEWAY_CLASS,
                    format!(
                        "GatewayClass `{name}` is not among this instance's classes (gateway_class = {}); its Gateways are left alone: add `{name}` to gateway_class to manage them",
                        configured.join(", ")
                    ),
                )
                .field("metadata.name"),
            ));
        }
        if let Some(p) = &spec.parameters_ref {
            let known = p.group == lbc::GROUP && p.kind == "LoadBalancerConfiguration";
            if !known || !lb_configs.contains(p.name.as_str()) {
                found.push(doc.diagnostic(
                    Diagnostic::refusal(
                        codes::PARAMETERS_NOT_FOUND,
                        format!(
                            "parametersRef {}/{} {} is not a LoadBalancerConfiguration (group {}) in the platform folder",
                            p.group, p.kind, p.name, lbc::GROUP
                        ),
                    )
                    .field("spec.parametersRef"),
                ));
            }
        }
    }
    bucket.diagnostics.extend(found);
    managed
}
