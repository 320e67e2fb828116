//! Attachment: which listeners a route's `parentRefs` reach, as the Gateway API decides it.
//!
//! A parentRef names a Gateway or a ListenerSet, optionally narrowed by `sectionName` (a
//! listener name) and `port`. A listener accepts the route when its `allowedRoutes` admits
//! the route's namespace (`Same`, `All`, or a `Selector` on namespace labels) and kind, and
//! when its hostname intersects the route's hostnames. A Gateway parentRef covers only the
//! Gateway's own listeners; a ListenerSet's listeners are reached through the ListenerSet,
//! and only when the Gateway's `allowedListeners` admits it (default: none).
//!
//! The result is the list of attachments with their effective hostnames, and one error for
//! every parentRef that attaches nowhere, with the upstream reason (NoMatchingParent,
//! NotAllowedByListeners, NoMatchingListenerHostname).

use super::Tenancy;
use crate::diagnostic::{Diagnostic, codes};
use crate::hostname;
use crate::manifest::GATEWAY_API_GROUP;
use gateway_api::apis::standard::{gateways::GatewaySpec, listenersets::ListenerSetSpec};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which kind of object a listener belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ParentKind {
    Gateway,
    ListenerSet,
}

/// A listener, named by the object that declares it and the Gateway it ends up on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ListenerRef {
    /// `namespace/name` of the Gateway (the load balancer).
    pub gateway: String,
    pub parent_kind: ParentKind,
    /// `namespace/name` of the Gateway or ListenerSet that declares the listener.
    pub parent: String,
    pub listener: String,
    pub port: i32,
    pub hostname: Option<String>,
}

/// One route attached to one listener, with the hostnames it answers there
/// (empty: any host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub parent_ref: usize,
    pub listener: ListenerRef,
    pub hostnames: Vec<String>,
}

/// `allowedRoutes.namespaces.from` (and `allowedListeners`), in one shape for both sources.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AllowedFrom {
    Same,
    All,
    Selector(LabelSelector),
    None,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct LabelSelector {
    match_labels: BTreeMap<String, String>,
    /// (key, operator, values)
    match_expressions: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    /// Kubernetes label-selector semantics; an unknown operator matches nothing.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, values)| {
                let value = labels.get(k);
                match op.as_str() {
                    "In" => value.is_some_and(|v| values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// A listener in one shape, whichever object declared it.
#[derive(Debug, Clone)]
pub(super) struct Listener {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub hostname: Option<String>,
    pub from: AllowedFrom,
    /// (group, kind); None means the protocol's default (HTTPRoute for HTTP and HTTPS).
    pub kinds: Option<Vec<(String, String)>>,
}

/// A Gateway or ListenerSet with its listeners, ready for attachment.
#[derive(Debug, Clone)]
pub(super) struct Parent {
    pub namespace: String,
    pub name: String,
    pub gateway: String,
    pub listeners: Vec<Listener>,
    /// For a ListenerSet: whether its Gateway accepted it.
    pub accepted: bool,
}

/// Every parent a route may name, keyed by (kind, namespace, name).
#[derive(Debug, Default)]
pub(super) struct Parents {
    pub by_key: BTreeMap<(ParentKind, String, String), Parent>,
    /// `allowedListeners` of each Gateway, by `namespace/name`.
    pub allowed_listeners: BTreeMap<String, AllowedFrom>,
}

macro_rules! selector_from {
    ($sel:expr) => {{
        let sel = $sel;
        LabelSelector {
            match_labels: sel.match_labels.clone().unwrap_or_default(),
            match_expressions: sel
                .match_expressions
                .iter()
                .flatten()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.operator.clone(),
                        e.values.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }};
}

// The Gateway and ListenerSet listener types are separate generated types with the same
// shape; this converts either into `Listener`.
macro_rules! listener_from {
    ($l:expr, $from_enum:ident) => {{
        let l = $l;
        let namespaces = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref());
        let from = match namespaces.and_then(|n| n.from.as_ref()) {
            None | Some($from_enum::Same) => AllowedFrom::Same,
            Some($from_enum::All) => AllowedFrom::All,
            Some($from_enum::Selector) => AllowedFrom::Selector(
                namespaces
                    .and_then(|n| n.selector.as_ref())
                    .map(|s| selector_from!(s))
                    .unwrap_or_default(),
            ),
        };
        Listener {
            name: l.name.clone(),
            port: l.port,
            protocol: l.protocol.clone(),
            hostname: l.hostname.clone(),
            from,
            kinds: l
                .allowed_routes
                .as_ref()
                .and_then(|a| a.kinds.as_ref())
                .map(|ks| {
                    ks.iter()
                        .map(|k| {
                            (
                                k.group
                                    .clone()
                                    .unwrap_or_else(|| GATEWAY_API_GROUP.to_string()),
                                k.kind.clone(),
                            )
                        })
                        .collect()
                }),
        }
    }};
}

pub(super) fn gateway_listeners(spec: &GatewaySpec) -> Vec<Listener> {
    use gateway_api::apis::standard::gateways::GatewayListenersAllowedRoutesNamespacesFrom as F;
    spec.listeners
        .iter()
        .map(|l| listener_from!(l, F))
        .collect()
}

pub(super) fn gateway_allowed_listeners(spec: &GatewaySpec) -> AllowedFrom {
    use gateway_api::apis::standard::gateways::GatewayAllowedListenersNamespacesFrom as F;
    let namespaces = spec
        .allowed_listeners
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match namespaces.and_then(|n| n.from.as_ref()) {
        // The spec's default for allowedListeners is None: ListenerSets must be invited.
        None | Some(F::None) => AllowedFrom::None,
        Some(F::Same) => AllowedFrom::Same,
        Some(F::All) => AllowedFrom::All,
        Some(F::Selector) => AllowedFrom::Selector(
            namespaces
                .and_then(|n| n.selector.as_ref())
                .map(|s| selector_from!(s))
                .unwrap_or_default(),
        ),
    }
}

pub(super) fn listener_set_listeners(spec: &ListenerSetSpec) -> Vec<Listener> {
    use gateway_api::apis::standard::listenersets::ListenerSetListenersAllowedRoutesNamespacesFrom as F;
    spec.listeners
        .iter()
        .map(|l| listener_from!(l, F))
        .collect()
}

impl AllowedFrom {
    /// Does this rule admit an object from `namespace`, for a parent in `parent_namespace`?
    pub(super) fn admits(
        &self,
        namespace: &str,
        parent_namespace: &str,
        tenancy: &Tenancy,
    ) -> bool {
        match self {
            AllowedFrom::Same => namespace == parent_namespace,
            AllowedFrom::All => true,
            AllowedFrom::Selector(sel) => sel.matches(&tenancy.namespace_labels(namespace)),
            AllowedFrom::None => false,
        }
    }
}

/// What a route brings to attachment.
pub(super) struct RouteView<'a> {
    pub namespace: &'a str,
    pub hostnames: &'a [String],
    pub parent_refs: Vec<ParentRefView<'a>>,
}

pub(super) struct ParentRefView<'a> {
    pub group: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub section_name: Option<&'a str>,
    pub port: Option<i32>,
}

/// Attaches a route. Diagnostics carry the field path of the parentRef and are errors, not
/// refusals: a route that attaches nowhere is inert.
pub(super) fn attach_route(
    route: &RouteView<'_>,
    parents: &Parents,
    tenancy: &Tenancy,
) -> (Vec<Attachment>, Vec<Diagnostic>) {
    let mut attachments = Vec::new();
    let mut diagnostics = Vec::new();
    for (i, pr) in route.parent_refs.iter().enumerate() {
        let field = format!("spec.parentRefs[{i}]");
        let group = pr.group.unwrap_or(GATEWAY_API_GROUP);
        let kind = match (group, pr.kind.unwrap_or("Gateway")) {
            (GATEWAY_API_GROUP, "Gateway") => ParentKind::Gateway,
            (GATEWAY_API_GROUP, "ListenerSet") => ParentKind::ListenerSet,
            (g, k) => {
                diagnostics.push(
                    Diagnostic::error(
                        codes::PARENT_NOT_FOUND,
                        format!("parent kind `{k}` (group `{g}`) is not a Gateway or ListenerSet"),
                    )
                    .field(field),
                );
                continue;
            }
        };
        let ns = pr.namespace.unwrap_or(route.namespace);
        let Some(parent) = parents
            .by_key
            .get(&(kind, ns.to_string(), pr.name.to_string()))
        else {
            diagnostics.push(
                Diagnostic::error(
                    codes::PARENT_NOT_FOUND,
                    format!("{kind:?} {ns}/{} does not exist in this revision", pr.name),
                )
                .field(field),
            );
            continue;
        };
        if !parent.accepted {
            diagnostics.push(
                Diagnostic::error(
                    codes::NO_MATCHING_PARENT,
                    format!(
                        "ListenerSet {ns}/{} is not accepted by Gateway {}",
                        pr.name, parent.gateway
                    ),
                )
                .field(field),
            );
            continue;
        }
        let selected: Vec<&Listener> = parent
            .listeners
            .iter()
            .filter(|l| pr.section_name.is_none_or(|s| s == l.name))
            .filter(|l| pr.port.is_none_or(|p| p == l.port))
            .collect();
        if selected.is_empty() {
            let what = match (pr.section_name, pr.port) {
                (Some(s), Some(p)) => format!("a listener named `{s}` on port {p}"),
                (Some(s), None) => format!("a listener named `{s}`"),
                (None, Some(p)) => format!("a listener on port {p}"),
                (None, None) => "any listener".to_string(),
            };
            diagnostics.push(
                Diagnostic::error(
                    codes::NO_MATCHING_PARENT,
                    format!("{kind:?} {ns}/{} has no {what}", pr.name),
                )
                .field(field),
            );
            continue;
        }
        let allowed: Vec<&Listener> = selected
            .into_iter()
            .filter(|l| l.from.admits(route.namespace, &parent.namespace, tenancy))
            .filter(|l| admits_http_route(l))
            .collect();
        if allowed.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    codes::NOT_ALLOWED_BY_LISTENERS,
                    format!(
                        "the selected listeners of {kind:?} {ns}/{} do not allow HTTPRoutes from namespace `{}` (allowedRoutes)",
                        pr.name, route.namespace
                    ),
                )
                .field(field),
            );
            continue;
        }
        let before = attachments.len();
        for l in allowed {
            let hostnames: Vec<String> = if route.hostnames.is_empty() {
                l.hostname.iter().cloned().collect()
            } else {
                let found: Vec<String> = route
                    .hostnames
                    .iter()
                    .filter_map(|h| hostname::intersect(l.hostname.as_deref(), h))
                    .collect();
                if found.is_empty() {
                    continue;
                }
                found
            };
            attachments.push(Attachment {
                parent_ref: i,
                listener: ListenerRef {
                    gateway: parent.gateway.clone(),
                    parent_kind: kind,
                    parent: format!("{}/{}", parent.namespace, parent.name),
                    listener: l.name.clone(),
                    port: l.port,
                    hostname: l.hostname.clone(),
                },
                hostnames,
            });
        }
        if attachments.len() == before {
            diagnostics.push(
                Diagnostic::error(
                    codes::NO_MATCHING_LISTENER_HOSTNAME,
                    format!(
                        "no listener of {kind:?} {ns}/{} has a hostname that intersects the route's hostnames",
                        pr.name
                    ),
                )
                .field(field),
            );
        }
    }
    (attachments, diagnostics)
}

/// Does the listener accept HTTPRoutes? With no `kinds`, HTTP and HTTPS listeners do.
fn admits_http_route(l: &Listener) -> bool {
    match &l.kinds {
        None => matches!(l.protocol.as_str(), "HTTP" | "HTTPS"),
        Some(kinds) if kinds.is_empty() => matches!(l.protocol.as_str(), "HTTP" | "HTTPS"),
        Some(kinds) => kinds
            .iter()
            .any(|(g, k)| g == GATEWAY_API_GROUP && k == "HTTPRoute"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_semantics() {
        let sel = LabelSelector {
            match_labels: labels(&[("tier", "backend")]),
            match_expressions: vec![
                (
                    "env".into(),
                    "In".into(),
                    vec!["prod".into(), "stage".into()],
                ),
                ("legacy".into(), "DoesNotExist".into(), vec![]),
            ],
        };
        assert!(sel.matches(&labels(&[("tier", "backend"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("tier", "backend"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[
            ("tier", "backend"),
            ("env", "prod"),
            ("legacy", "1")
        ])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        let bogus = LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![("a".into(), "Sometimes".into(), vec![])],
        };
        assert!(!bogus.matches(&labels(&[("a", "b")])));
    }
}
