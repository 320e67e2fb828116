//! References from routes to what they name: backends (Services declared by a
//! TargetGroupConfiguration, existing target groups by name), ReferenceGrants, and
//! ListenerRuleConfigurations. Admission reports unresolved references; translation uses the
//! same answers to build forwards and 500s, so the two never disagree.

use crate::alb::TargetGroupRef;
use crate::diagnostic::{Diagnostic, codes};
use crate::manifest::{self, Body, Document, lbc};
use gateway_api::apis::standard::httproutes::HttpRouteRulesBackendRefs;
use gateway_api::apis::standard::referencegrants::ReferenceGrantSpec;
use std::collections::BTreeMap;

/// Everything a backend or extension reference may resolve to, by namespace.
#[derive(Debug, Default)]
pub struct References<'a> {
    /// (namespace, Service name) -> its TargetGroupConfiguration.
    services: BTreeMap<(String, String), &'a lbc::TargetGroupConfigurationSpec>,
    grants: BTreeMap<String, Vec<&'a ReferenceGrantSpec>>,
    /// (namespace, name) -> ListenerRuleConfiguration.
    rule_configs: BTreeMap<(String, String), &'a lbc::ListenerRuleConfigurationSpec>,
    /// Documents that exist but were refused (`Kind/namespace/name` -> the first reason),
    /// so that a reference to one says so instead of "does not exist".
    refused: BTreeMap<String, String>,
}

/// What a backendRef resolves to.
pub enum Resolution {
    Resolved(TargetGroupRef),
    /// A reference the Gateway API treats as unresolved (the rule answers 500): an error.
    Unresolved(Diagnostic),
    /// A malformed reference: a refusal; the string is the sub-field (e.g. `.port`).
    Invalid(Diagnostic, &'static str),
}

impl<'a> References<'a> {
    /// Indexes documents whose namespace placement has resolved.
    pub fn collect(docs: impl IntoIterator<Item = &'a Document>) -> References<'a> {
        let mut refs = References::default();
        for doc in docs {
            let ns = doc.key.namespace.clone().unwrap_or_default();
            match &doc.body {
                // A configuration without targetReference is a default, declaring no Service.
                Body::TargetGroupConfiguration(spec) => {
                    if let Some(target) = spec
                        .target_reference
                        .as_ref()
                        .filter(|t| t.kind() == "Service")
                    {
                        refs.services.insert((ns, target.name.clone()), spec);
                    }
                }
                Body::ReferenceGrant(spec) => refs.grants.entry(ns).or_default().push(spec),
                Body::ListenerRuleConfiguration(spec) => {
                    refs.rule_configs.insert((ns, doc.key.name.clone()), spec);
                }
                _ => {}
            }
        }
        refs
    }

    /// Records the documents of one owner (whose namespace is `namespace`) that were
    /// refused, from their refusals' objects (`Kind/name` as written, or `Kind/ns/name`).
    pub fn add_refused<'d>(
        &mut self,
        namespace: &str,
        diagnostics: impl IntoIterator<Item = &'d Diagnostic>,
    ) {
        for d in diagnostics {
            if d.severity != crate::diagnostic::Severity::Refusal {
                continue;
            }
            let Some(object) = &d.object else {
                continue;
            };
            let object = match object.split('/').collect::<Vec<_>>().as_slice() {
                [kind, name] => format!("{kind}/{namespace}/{name}"),
                _ => object.clone(),
            };
            self.refused
                .entry(object)
                .or_insert_with(|| d.message.clone());
        }
    }

    /// ", which exists but was refused: <why>" when `object` was refused, else "".
    fn refused_because(&self, object: &str) -> String {
        self.refused
            .get(object)
            .map(|why| format!("; {object} exists but was refused: {why}"))
            .unwrap_or_default()
    }

    /// Does a ReferenceGrant in `to_ns` let HTTPRoutes in `from_ns` reference Service `name`?
    fn permits(&self, from_ns: &str, to_ns: &str, name: &str) -> bool {
        self.grants.get(to_ns).is_some_and(|grants| {
            grants.iter().any(|g| {
                g.from.iter().any(|f| {
                    f.group == manifest::GATEWAY_API_GROUP
                        && f.kind == "HTTPRoute"
                        && f.namespace == from_ns
                }) && g.to.iter().any(|t| {
                    t.group.is_empty()
                        && t.kind == "Service"
                        && t.name.as_deref().is_none_or(|n| n == name)
                })
            })
        })
    }

    /// Resolves one backendRef of a route in `route_ns`.
    pub fn resolve_backend(&self, route_ns: &str, b: &HttpRouteRulesBackendRefs) -> Resolution {
        let group = b.group.as_deref().unwrap_or("");
        let kind = b.kind.as_deref().unwrap_or("Service");
        match (group, kind) {
            // The AWS Load Balancer Controller checks only the kind, and its docs and
            // migration tool write `kind: TargetGroupName` without a group.
            (lbc::GROUP | "", "TargetGroupName") => {
                Resolution::Resolved(TargetGroupRef::Existing(b.name.clone()))
            }
            ("", "Service") => {
                let Some(port) = b.port else {
                    return Resolution::Invalid(
                        Diagnostic::refusal(
                            codes::INVALID_FIELD,
                            "port is required for a Service backend",
                        ),
                        ".port",
                    );
                };
                let ns = b.namespace.as_deref().unwrap_or(route_ns);
                let service = format!("Service {ns}/{}:{port}", b.name);
                if ns != route_ns && !self.permits(route_ns, ns, &b.name) {
                    Resolution::Unresolved(Diagnostic::error(
                        codes::REF_NOT_PERMITTED,
                        format!(
                            "{service} is in another namespace and no ReferenceGrant there allows HTTPRoutes from `{route_ns}`; this rule answers 500"
                        ),
                    ))
                } else if !self
                    .services
                    .contains_key(&(ns.to_string(), b.name.clone()))
                {
                    let refused =
                        self.refused_because(&format!("TargetGroupConfiguration/{ns}/{}", b.name));
                    Resolution::Unresolved(Diagnostic::error(
                        codes::BACKEND_NOT_FOUND,
                        format!(
                            "{service} is not declared by any admitted TargetGroupConfiguration in `{ns}`{refused}; this rule answers 500"
                        ),
                    ))
                } else {
                    Resolution::Resolved(TargetGroupRef::Owned(format!("{ns}/{}:{port}", b.name)))
                }
            }
            (g, k) => Resolution::Unresolved(Diagnostic::error(
                codes::INVALID_BACKEND_KIND,
                format!(
                    "backend kind `{k}` (group `{g}`) is not a Service or {}/TargetGroupName; this rule answers 500",
                    lbc::GROUP
                ),
            )),
        }
    }

    /// The TargetGroupConfiguration that declares Service `namespace/name`.
    pub fn target_group_config(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<&'a lbc::TargetGroupConfigurationSpec> {
        self.services
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
    }

    /// The ListenerRuleConfiguration an `ExtensionRef` filter names: a wrong kind is a
    /// refusal, a missing one an error.
    pub fn rule_config(
        &self,
        namespace: &str,
        group: &str,
        kind: &str,
        name: &str,
    ) -> Result<&'a lbc::ListenerRuleConfigurationSpec, Diagnostic> {
        if group != lbc::GROUP || kind != "ListenerRuleConfiguration" {
            return Err(Diagnostic::refusal(
                codes::UNSUPPORTED,
                format!(
                    "extensionRef {group}/{kind} is not a {}/ListenerRuleConfiguration",
                    lbc::GROUP
                ),
            ));
        }
        self.rule_configs
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
            .ok_or_else(|| {
                let object = format!("ListenerRuleConfiguration/{namespace}/{name}");
                let message = match self.refused.get(&object) {
                    Some(why) => format!("{object} exists but was refused: {why}; this rule answers 500"),
                    None => format!("ListenerRuleConfiguration {namespace}/{name} does not exist; this rule answers 500"),
                };
                Diagnostic::error(codes::PARAMETERS_NOT_FOUND, message)
            })
    }
}
