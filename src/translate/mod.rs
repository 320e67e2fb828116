//! Translate: admitted Gateway API documents into the desired ALB model, exactly.
//!
//! A pure, deterministic function of the [`Admission`] (and the routes' ages, the precedence
//! tie-breaker): the same input gives the same [`Stack`], whatever the file order. Per
//! Gateway it builds one load balancer: its settings from the LoadBalancerConfiguration, one
//! ALB listener per port holding every Gateway and ListenerSet listener on that port, the
//! rules of every attached HTTPRoute in Gateway API precedence ([`order`]), and the target
//! groups those rules forward to.
//!
//! What ALB cannot express refuses the route's team with a named error; ALB limits (values
//! per condition and rule, target groups per forward, rules and target groups per load
//! balancer) are checked here, before any AWS call. A refused team's routes are left out and
//! the other teams are translated as if it had no routes. Where ALB answers some requests
//! differently from Gateway API (case-insensitive query values), the plan carries a warning.
//!
//! It must not do I/O or know about AWS clients: certificates that are not given by ARN are
//! left as hostnames for the AWS stage to find in ACM.

pub mod ages;
pub mod names;
mod order;
mod routes;
mod unique_names;

use crate::alb::{
    Action, Certificate, Condition, HealthCheck, IpAddressType, Listener, LoadBalancer, Matcher,
    Patterns, Protocol, ProtocolVersion, RuleSource, Scheme, Stack, Target, TargetGroup,
    TargetGroupRef, TargetType, UNRESOLVED_BACKEND, identity::PLATFORM_OWNER,
};
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::manifest::{Body, Document, lbc};
use crate::tenancy::refs::References;
use crate::tenancy::{Admission, Outcome, Verdict};
use gateway_api::apis::standard::gateways::GatewaySpec;
use order::{Entry, Precedence};
use routes::RuleTemplate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What translation needs besides the documents.
#[derive(Debug, Clone)]
pub struct TranslateOptions {
    /// Part of derived names, so that two gwsync instances never collide.
    pub instance_id: String,
    /// Listener rules per load balancer (the AWS quota; 100 by default).
    pub rules_per_load_balancer: usize,
    /// Target groups per load balancer (the AWS quota; 100 by default).
    pub target_groups_per_load_balancer: usize,
    /// Prefix of the Secrets Manager secrets OIDC credentials are read from (`gwsync/`).
    pub oidc_secret_prefix: String,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            instance_id: "default".to_string(),
            rules_per_load_balancer: 100,
            target_groups_per_load_balancer: 100,
            oidc_secret_prefix: "gwsync/".to_string(),
        }
    }
}

/// The desired ALB configuration of one revision, and what translation found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Translation {
    pub stack: Stack,
    /// Refusals, errors and warnings found while translating, each with its team.
    pub diagnostics: Vec<Diagnostic>,
    /// Teams refused by translation (inexpressible routes, limits): not in the stack.
    pub refused_teams: BTreeSet<String>,
    /// Gateways that could not be translated (`namespace/name`): not in the stack.
    pub refused_gateways: BTreeSet<String>,
    /// How each listener of the stack spends the rule quota, by Gateway and port.
    pub budgets: Vec<ListenerBudget>,
}

/// What one ALB listener's rules cost, and what compaction saved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListenerBudget {
    /// `namespace/name` of the Gateway.
    pub gateway: String,
    pub port: u16,
    /// Rules one per match and hostname would take (before compaction).
    pub matches: usize,
    /// Rules the routes' matches became.
    pub route_rules: usize,
    /// Every rule of the listener, the 404s of listener isolation included.
    pub rules: usize,
    /// The rule quota of the listener's load balancer (`aws.rules_per_load_balancer`).
    pub quota: usize,
}

impl ListenerBudget {
    /// Rules compaction saved on this listener.
    pub fn saved(&self) -> usize {
        self.matches.saturating_sub(self.route_rules)
    }
}

/// Route ages: `namespace/name` of an HTTPRoute to the Unix time of the first commit on the
/// tracked branch that contained it. Routes without an age sort after those with one.
pub type RouteAges = BTreeMap<String, i64>;

/// One ALB listener's worth of Gateway API listeners, in conflict order.
#[derive(Debug, Clone)]
struct PortListener {
    /// `namespace/name` of the Gateway or ListenerSet.
    parent: String,
    name: String,
    hostname: Option<String>,
}

/// Translates every admitted Gateway.
pub fn translate(
    admission: &Admission,
    ages: &RouteAges,
    options: &TranslateOptions,
) -> Translation {
    let mut translation = Translation::default();
    let Some(platform) = admission
        .platform
        .as_ref()
        .filter(|p| p.verdict == Verdict::Admitted)
    else {
        return translation;
    };
    let teams: Vec<&Outcome> = admission
        .teams
        .iter()
        .filter(|t| t.verdict == Verdict::Admitted)
        .collect();
    let refs = References::collect(teams.iter().flat_map(|t| &t.documents));

    // Rule templates per route, once; a team with an inexpressible rule is refused whole.
    let mut templates: BTreeMap<String, (String, Vec<RuleTemplate>)> = BTreeMap::new();
    for team in &teams {
        for doc in &team.documents {
            let Body::HTTPRoute(spec) = &doc.body else {
                continue;
            };
            let ns = doc.key.namespace.as_deref().unwrap_or_default();
            let mut rules = Vec::new();
            for (i, rule) in spec.rules.iter().flatten().enumerate() {
                let (template, diags) =
                    routes::rule_template(ns, i, rule, &refs, &options.oidc_secret_prefix);
                if template.is_none() {
                    translation.refused_teams.insert(team.name.clone());
                }
                for d in diags {
                    translation.diagnostics.push(stamp(doc, &team.name, d));
                }
                if let Some(t) = template {
                    for w in &t.warnings {
                        translation
                            .diagnostics
                            .push(stamp(doc, &team.name, w.clone()));
                    }
                    rules.push(t);
                }
            }
            templates.insert(object_id(doc), (team.name.clone(), rules));
        }
    }

    let routes_by_gateway = routes_by_gateway(&teams);
    let lb_configs: BTreeMap<&str, &lbc::LoadBalancerConfigurationSpec> = platform
        .documents
        .iter()
        .filter_map(|d| match &d.body {
            Body::LoadBalancerConfiguration(spec) => Some((d.key.name.as_str(), &**spec)),
            _ => None,
        })
        .collect();
    let class_configs: BTreeMap<&str, &str> = platform
        .documents
        .iter()
        .filter_map(|d| match &d.body {
            Body::GatewayClass(spec) => spec
                .parameters_ref
                .as_ref()
                .map(|p| (d.key.name.as_str(), p.name.as_str())),
            _ => None,
        })
        .collect();
    for doc in &platform.documents {
        let Body::Gateway(spec) = &doc.body else {
            continue;
        };
        let gateway = object_id(doc);
        // The Gateway's own LoadBalancerConfiguration, else its GatewayClass's.
        let config = spec
            .infrastructure
            .as_ref()
            .and_then(|i| i.parameters_ref.as_ref())
            .map(|p| p.name.as_str())
            .or_else(|| class_configs.get(spec.gateway_class_name.as_str()).copied())
            .and_then(|name| lb_configs.get(name).copied());
        // Limits over the whole load balancer refuse a team and translate again without it.
        loop {
            let mut context = GatewayContext {
                gateway: &gateway,
                spec,
                config,
                admission,
                teams: &teams,
                routes: routes_by_gateway
                    .get(gateway.as_str())
                    .map_or(&[], Vec::as_slice),
                templates: &templates,
                refs: &refs,
                ages,
                options,
                excluded: &translation.refused_teams,
                diagnostics: Vec::new(),
                refused: BTreeSet::new(),
                budgets: Vec::new(),
            };
            let built = context.build();
            let GatewayContext {
                diagnostics,
                refused,
                budgets,
                ..
            } = context;
            match built {
                Err(d) => {
                    translation.refused_gateways.insert(gateway.clone());
                    translation
                        .diagnostics
                        .push(doc.diagnostic(d).team("platform"));
                    translation.diagnostics.extend(diagnostics);
                    break;
                }
                Ok(lb) if refused.is_empty() => {
                    translation.diagnostics.extend(diagnostics);
                    translation.budgets.extend(budgets);
                    translation.stack.load_balancers.push(lb);
                    break;
                }
                Ok(_) => {
                    translation.diagnostics.extend(
                        diagnostics
                            .into_iter()
                            .filter(|d| d.severity == Severity::Refusal),
                    );
                    translation.refused_teams.extend(refused);
                }
            }
        }
    }
    let (clashing, clash_diagnostics) = unique_names::clashes(&translation.stack, &teams);
    translation.diagnostics.extend(clash_diagnostics);
    translation.refused_teams.extend(clashing);
    // A team refused by a later Gateway (or for a clashing name) must not stay on any
    // Gateway: build again.
    if translation
        .stack
        .load_balancers
        .iter()
        .any(|lb| uses_refused_team(lb, &templates, &translation.refused_teams))
    {
        let mut again = translate_without(admission, ages, options, &translation.refused_teams);
        again.diagnostics = dedup(
            translation
                .diagnostics
                .into_iter()
                .chain(again.diagnostics)
                .collect(),
        );
        return again;
    }
    translation.diagnostics = dedup(translation.diagnostics);
    translation
        .stack
        .load_balancers
        .sort_by(|a, b| a.gateway.cmp(&b.gateway));
    translation
        .budgets
        .sort_by(|a, b| (&a.gateway, a.port).cmp(&(&b.gateway, b.port)));
    translation
}

/// An HTTPRoute and its attachments to one Gateway.
struct RouteOnGateway<'a> {
    team: &'a Outcome,
    doc: &'a Document,
    /// `namespace/name`
    route: String,
    attachments: Vec<&'a crate::tenancy::Attachment>,
}

/// Every route by the Gateways it attaches to, computed once: each Gateway's listeners then
/// look only at their own routes.
fn routes_by_gateway<'a>(teams: &[&'a Outcome]) -> BTreeMap<&'a str, Vec<RouteOnGateway<'a>>> {
    let mut index: BTreeMap<&'a str, Vec<RouteOnGateway<'a>>> = BTreeMap::new();
    for &team in teams {
        for doc in &team.documents {
            if !matches!(doc.body, Body::HTTPRoute(_)) {
                continue;
            }
            let route = object_id(doc);
            let mut per_gateway: BTreeMap<&'a str, Vec<&'a crate::tenancy::Attachment>> =
                BTreeMap::new();
            for a in team.attachments.get(&route).into_iter().flatten() {
                per_gateway
                    .entry(a.listener.gateway.as_str())
                    .or_default()
                    .push(a);
            }
            for (gateway, attachments) in per_gateway {
                index.entry(gateway).or_default().push(RouteOnGateway {
                    team,
                    doc,
                    route: route.clone(),
                    attachments,
                });
            }
        }
    }
    index
}

/// Translation with some teams treated as refused from the start.
fn translate_without(
    admission: &Admission,
    ages: &RouteAges,
    options: &TranslateOptions,
    refused: &BTreeSet<String>,
) -> Translation {
    let mut reduced = admission.clone();
    for team in &mut reduced.teams {
        if refused.contains(&team.name) {
            team.verdict = Verdict::Refused;
            team.documents.clear();
            team.attachments.clear();
        }
    }
    let mut t = translate(&reduced, ages, options);
    t.refused_teams.extend(refused.iter().cloned());
    t
}

fn uses_refused_team(
    lb: &LoadBalancer,
    templates: &BTreeMap<String, (String, Vec<RuleTemplate>)>,
    refused: &BTreeSet<String>,
) -> bool {
    let refused_group = lb.target_groups.iter().any(|tg| {
        tg.owner
            .as_ref()
            .is_some_and(|owner| refused.contains(owner))
    });
    refused_group
        || lb
            .listeners
            .iter()
            .flat_map(|l| &l.rules)
            .any(|r| match &r.source {
                Some(RuleSource::Route { route, .. }) => templates
                    .get(route)
                    .is_some_and(|(team, _)| refused.contains(team)),
                _ => false,
            })
}

fn dedup(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = Vec::new();
    for d in diagnostics {
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    seen
}

fn sorted(values: Option<Vec<String>>) -> Vec<String> {
    let mut values = values.unwrap_or_default();
    values.sort();
    values.dedup();
    values
}

/// `namespace/name` of a placed document.
fn object_id(doc: &Document) -> String {
    format!(
        "{}/{}",
        doc.key.namespace.as_deref().unwrap_or_default(),
        doc.key.name
    )
}

/// Clients send `Host: name:PORT` to a listener on a port other than their scheme's default,
/// and the Gateway API matches the name alone; ALB's host-header values cannot hold a port,
/// and AWS does not document whether the comparison ignores one (docs/SEMANTICS.md, "Host
/// with a port"; docs/EVALUATOR.md assumption 1).
fn host_port_warning(port: u16) -> Diagnostic {
    Diagnostic::warning(
        codes::ALB_DIFFERS,
        format!(
            "clients send `Host: <hostname>:{port}` to the listener on port {port}; the Gateway API ignores the port, ALB's host-header condition cannot name one and AWS does not document whether it ignores it, so requests that carry the port may not match this route on ALB (test one before relying on it)"
        ),
    )
    .field("spec.hostnames")
}

fn stamp(doc: &Document, team: &str, d: Diagnostic) -> Diagnostic {
    doc.diagnostic(d).team(team)
}

/// Everything needed to build one Gateway's load balancer.
struct GatewayContext<'a> {
    gateway: &'a str,
    spec: &'a GatewaySpec,
    config: Option<&'a lbc::LoadBalancerConfigurationSpec>,
    admission: &'a Admission,
    teams: &'a [&'a Outcome],
    /// The routes attached to this Gateway.
    routes: &'a [RouteOnGateway<'a>],
    templates: &'a BTreeMap<String, (String, Vec<RuleTemplate>)>,
    refs: &'a References<'a>,
    ages: &'a RouteAges,
    options: &'a TranslateOptions,
    /// Teams already refused: their routes are left out.
    excluded: &'a BTreeSet<String>,
    diagnostics: Vec<Diagnostic>,
    /// Teams this build refuses (limits, listener-dependent refusals).
    refused: BTreeSet<String>,
    /// The rule budget of each listener built.
    budgets: Vec<ListenerBudget>,
}

impl<'a> GatewayContext<'a> {
    fn build(&mut self) -> Result<LoadBalancer, Diagnostic> {
        let name = match self.config.and_then(|c| c.load_balancer_name.clone()) {
            Some(name) => {
                crate::alb::values::resource_name(&name).map_err(|m| {
                    Diagnostic::refusal(
                        codes::INVALID_NAME_FOR_AWS,
                        format!("loadBalancerName {m}"),
                    )
                })?;
                name
            }
            None => names::load_balancer_name(&self.options.instance_id, self.gateway),
        };
        let ports = self.port_listeners();
        let mut listeners = Vec::new();
        for (port, (protocol, port_listeners)) in &ports {
            if let Some(listener) = self.listener(*port, *protocol, port_listeners) {
                listeners.push(listener);
            }
        }
        self.check_load_balancer_limits(&listeners);
        let target_groups = self.target_groups(&listeners);
        self.check_merged_tags(&target_groups);
        let config = self.config;
        Ok(LoadBalancer {
            gateway: self.gateway.to_string(),
            name,
            scheme: match config.and_then(|c| c.scheme) {
                Some(lbc::LoadBalancerScheme::InternetFacing) => Scheme::InternetFacing,
                // The AWS Load Balancer Controller's default, and the safe one.
                _ => Scheme::Internal,
            },
            ip_address_type: match config.and_then(|c| c.ip_address_type) {
                Some(lbc::LoadBalancerIpAddressType::Dualstack) => IpAddressType::Dualstack,
                Some(lbc::LoadBalancerIpAddressType::DualstackWithoutPublicIpv4) => {
                    IpAddressType::DualstackWithoutPublicIpv4
                }
                _ => IpAddressType::Ipv4,
            },
            // Sets on AWS: sorted, so that what is read back compares equal.
            subnets: sorted(config.map(|c| {
                c.load_balancer_subnets
                    .iter()
                    .map(|s| s.identifier.clone())
                    .collect()
            })),
            security_groups: sorted(config.map(|c| c.security_groups.clone())),
            attributes: config
                .map(|c| {
                    c.load_balancer_attributes
                        .iter()
                        .map(|a| (a.key.clone(), a.value.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            tags: config.map(|c| c.tags.clone()).unwrap_or_default(),
            listeners,
            target_groups,
        })
    }

    /// Gateway and accepted ListenerSet listeners by port. The Gateway's listeners come
    /// first and win conflicts, then ListenerSets by `namespace/name` (gwsync has no
    /// creation time for them); a listener that conflicts is dropped with an error.
    fn port_listeners(&mut self) -> BTreeMap<u16, (Protocol, Vec<PortListener>)> {
        /// A listener before conflicts are resolved, with where it was declared.
        struct Candidate<'d> {
            listener: PortListener,
            port: i32,
            protocol: String,
            /// The ListenerSet that declares it (None: the Gateway), and its index there.
            declared_in: Option<&'d Document>,
            index: usize,
        }
        let mut candidates: Vec<Candidate> = self
            .spec
            .listeners
            .iter()
            .enumerate()
            .map(|(index, l)| Candidate {
                listener: PortListener {
                    parent: self.gateway.to_string(),
                    name: l.name.clone(),
                    hostname: l.hostname.clone(),
                },
                port: l.port,
                protocol: l.protocol.clone(),
                declared_in: None,
                index,
            })
            .collect();
        let mut sets: Vec<(String, &Document)> = self
            .teams
            .iter()
            .flat_map(|t| &t.documents)
            .filter(|d| matches!(d.body, Body::ListenerSet(_)))
            .map(|d| (object_id(d), d))
            .filter(|(id, _)| {
                self.admission
                    .accepted_listener_sets
                    .get(id)
                    .map(String::as_str)
                    == Some(self.gateway)
            })
            .collect();
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, doc) in sets {
            if let Body::ListenerSet(spec) = &doc.body {
                for (index, l) in spec.listeners.iter().enumerate() {
                    candidates.push(Candidate {
                        listener: PortListener {
                            parent: id.clone(),
                            name: l.name.clone(),
                            hostname: l.hostname.clone(),
                        },
                        port: l.port,
                        protocol: l.protocol.clone(),
                        declared_in: Some(doc),
                        index,
                    });
                }
            }
        }
        let mut ports: BTreeMap<u16, (Protocol, Vec<PortListener>)> = BTreeMap::new();
        for c in candidates {
            let protocol = if c.protocol == "HTTPS" {
                Protocol::Https
            } else {
                Protocol::Http
            };
            let port = c.port as u16;
            let entry = ports.entry(port).or_insert((protocol, Vec::new()));
            let conflict = if entry.0 != protocol {
                Some(format!("port {port} is already {}", entry.0.as_str()))
            } else {
                entry
                    .1
                    .iter()
                    .find(|o| o.hostname == c.listener.hostname)
                    .map(|o| {
                        format!(
                            "listener `{}` of {} already serves hostname `{}` on port {port}",
                            o.name,
                            o.parent,
                            c.listener.hostname.as_deref().unwrap_or("(any)")
                        )
                    })
            };
            let Some(message) = conflict else {
                entry.1.push(c.listener);
                continue;
            };
            let field = format!("spec.listeners[{}]", c.index);
            let d = Diagnostic::error(
                codes::LISTENER_CONFLICT,
                format!("{message}; listener `{}` is ignored", c.listener.name),
            )
            .field(field);
            self.diagnostics.push(match c.declared_in {
                Some(doc) => {
                    let team =
                        self.team_of_namespace(doc.key.namespace.as_deref().unwrap_or_default());
                    doc.diagnostic(d).team(team)
                }
                None => d
                    .object(format!("Gateway/{}", self.gateway))
                    .team("platform"),
            });
        }
        ports
    }

    fn team_of_namespace(&self, namespace: &str) -> String {
        self.admission
            .tenancy
            .as_ref()
            .and_then(|t| t.teams.iter().find(|o| o.namespace == namespace))
            .map_or_else(|| "platform".to_string(), |o| o.name.clone())
    }

    /// One ALB listener: certificates, the ordered rules of every attached route. None when
    /// it cannot be made (an HTTPS listener with no certificate to find): an error on that
    /// listener, while the Gateway's other listeners are made.
    fn listener(
        &mut self,
        port: u16,
        protocol: Protocol,
        port_listeners: &[PortListener],
    ) -> Option<Listener> {
        let configured = self.config.and_then(|c| {
            c.listener_configurations.iter().find(|l| {
                l.protocol_port.port == port
                    && l.protocol_port.protocol.as_str() == protocol.as_str()
            })
        });
        let entries = self.entries(port, protocol, port_listeners);
        let mut certificates = Vec::new();
        if protocol == Protocol::Https {
            if let Some(c) = configured {
                certificates.extend(c.default_certificate.iter().cloned().map(Certificate::Arn));
                certificates.extend(c.certificates.iter().cloned().map(Certificate::Arn));
            }
            if certificates.is_empty() {
                for (group, l) in port_listeners.iter().enumerate() {
                    let found = match &l.hostname {
                        Some(h) => vec![Certificate::ForHostname(h.clone())],
                        None => route_hostnames(&entries, group)
                            .into_iter()
                            .map(Certificate::ForRouteHostname)
                            .collect(),
                    };
                    if found.is_empty() {
                        self.diagnostics.push(
                            Diagnostic::error(
                                codes::NO_CERTIFICATE,
                                format!(
                                    "HTTPS port {port}: listener `{}` of {} has no hostname, no certificate and no route with a hostname to find one for in ACM; the listener is not made (the Gateway's other listeners are). Give a certificate in the LoadBalancerConfiguration's listenerConfigurations (protocolPort HTTPS:{port}), a hostname on the listener, or hostnames on its routes",
                                    l.name, l.parent
                                ),
                            )
                            .object(format!("Gateway/{}", self.gateway))
                            .field("spec.listeners")
                            .team("platform"),
                        );
                        return None;
                    }
                    for c in found {
                        if !certificates.contains(&c) {
                            certificates.push(c);
                        }
                    }
                }
            }
        }
        let groups: Vec<Option<String>> =
            port_listeners.iter().map(|l| l.hostname.clone()).collect();
        let ordered = order::rules(entries, &groups);
        for (team, d) in ordered.refusals {
            self.refused.insert(team.clone());
            self.diagnostics.push(d.team(team));
        }
        for (team, d) in ordered.unreachable {
            self.diagnostics.push(d.team(team));
        }
        let rules = ordered.rules;
        self.budgets.push(ListenerBudget {
            gateway: self.gateway.to_string(),
            port,
            matches: ordered.matches,
            route_rules: rules
                .iter()
                .filter(|r| matches!(r.source, Some(RuleSource::Route { .. })))
                .count(),
            rules: rules.len(),
            quota: self.options.rules_per_load_balancer,
        });
        Some(Listener {
            port,
            protocol,
            ssl_policy: configured.and_then(|c| c.ssl_policy.clone()),
            certificates,
            default_action: Action::fixed(404),
            rules,
        })
    }

    /// Every match of every route attached to a listener on this port, one entry per
    /// effective hostname.
    fn entries(
        &mut self,
        port: u16,
        protocol: Protocol,
        port_listeners: &[PortListener],
    ) -> Vec<Entry<'a>> {
        let mut entries = Vec::new();
        let mut warned_port = BTreeSet::new();
        let routes: &'a [RouteOnGateway<'a>] = self.routes;
        for r in routes
            .iter()
            .filter(|r| !self.excluded.contains(&r.team.name))
        {
            let (team, doc, route) = (r.team, r.doc, &r.route);
            let Some((_, templates)) = self.templates.get(route) else {
                continue;
            };
            let age = self.ages.get(route).copied().unwrap_or(i64::MAX);
            for attachment in r.attachments.iter().copied() {
                let l = &attachment.listener;
                if l.port as u16 != port {
                    continue;
                }
                let parent = l.parent.clone();
                let Some(group) = port_listeners
                    .iter()
                    .position(|p| p.parent == parent && p.name == l.listener)
                else {
                    continue;
                };
                let hosts: Vec<Option<String>> = if attachment.hostnames.is_empty() {
                    vec![None]
                } else {
                    attachment.hostnames.iter().cloned().map(Some).collect()
                };
                if !attachment.hostnames.is_empty()
                    && !protocol.is_default_port(port)
                    && warned_port.insert(route.clone())
                {
                    self.diagnostics
                        .push(stamp(doc, &team.name, host_port_warning(port)));
                }
                for template in templates {
                    // An action this listener cannot take (a redirect from HTTPS to HTTP,
                    // authentication on HTTP) answers 500 here, with the error saying why.
                    let (actions, expressible) = match template.actions(protocol) {
                        Ok(a) => (a, true),
                        Err(d) => {
                            self.diagnostics.push(stamp(
                                doc,
                                &team.name,
                                d.field(format!("spec.rules[{}]", template.rule)),
                            ));
                            (vec![Action::fixed(500)], false)
                        }
                    };
                    for m in &template.matches {
                        for host in &hosts {
                            let mut conditions = Vec::new();
                            if let Some(h) = host {
                                conditions.push(Condition::HostHeader {
                                    values: Patterns::Wildcard(vec![h.clone()]),
                                });
                            }
                            if let Some(p) = routes::path_patterns(&m.path) {
                                conditions.push(Condition::PathPattern { values: p });
                            }
                            conditions.extend(m.conditions.iter().cloned());
                            Condition::canonical_order(&mut conditions);
                            entries.push(Entry {
                                group,
                                team: team.name.clone(),
                                precedence: Precedence::new(
                                    host.as_deref(),
                                    &m.path,
                                    m,
                                    age,
                                    route,
                                    template.rule,
                                ),
                                conditions,
                                actions: actions.clone(),
                                transforms: if expressible {
                                    template.transforms(m)
                                } else {
                                    Vec::new()
                                },
                                source: RuleSource::Route {
                                    route: route.clone(),
                                    rule: template.rule,
                                    matches: m.index.into_iter().collect(),
                                    file: Some(format!("{}:{}", doc.origin.file, doc.origin.line)),
                                    name: template.name.clone(),
                                },
                                field: match m.index {
                                    Some(i) => {
                                        format!("spec.rules[{}].matches[{i}]", template.rule)
                                    }
                                    None => format!("spec.rules[{}]", template.rule),
                                },
                                doc,
                            });
                        }
                    }
                }
            }
        }
        entries
    }

    /// Rules and target groups per load balancer: over a quota, the team with the most
    /// rules there is refused (ties: the later name), and the Gateway is built again.
    /// Each TargetGroupConfiguration's tags are checked on their own (`tenancy`); a
    /// default configuration's tags come on top, and together they must still fit ELB's
    /// tags per resource, or `CreateTargetGroup` would fail: the group's team is refused.
    fn check_merged_tags(&mut self, target_groups: &[TargetGroup]) {
        for tg in target_groups {
            let Some((_, why)) = crate::alb::values::tags_problem(
                &tg.tags,
                crate::alb::identity::OWN_TAGS_ON_TARGET_GROUP,
            ) else {
                continue;
            };
            let Some(team) = tg.owner.clone() else {
                continue;
            };
            let d = Diagnostic::refusal(
                codes::ALB_LIMIT,
                format!(
                    "target group of {} with the load balancer's defaultTargetGroupConfiguration: {why}",
                    tg.backend
                ),
            )
            .field("spec.defaultConfiguration.tags")
            .team(team.clone());
            let configuration = self
                .teams
                .iter()
                .find(|t| t.name == team)
                .and_then(|t| unique_names::configuration_of(t, &tg.backend));
            self.diagnostics.push(match configuration {
                Some(doc) => doc.diagnostic(d),
                None => d,
            });
            self.refused.insert(team);
        }
    }

    fn check_load_balancer_limits(&mut self, listeners: &[Listener]) {
        let mut per_team: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        let mut rules = 0;
        let mut groups = BTreeSet::new();
        for rule in listeners.iter().flat_map(|l| &l.rules) {
            rules += 1;
            let Some(RuleSource::Route { route, .. }) = &rule.source else {
                continue;
            };
            let Some((team, _)) = self.templates.get(route) else {
                continue;
            };
            let entry = per_team.entry(team.clone()).or_default();
            entry.0 += 1;
            for action in &rule.actions {
                if let Action::Forward { target_groups, .. } = action {
                    for tg in target_groups {
                        if let TargetGroupRef::Owned(b) = &tg.target_group {
                            entry.1.insert(b.clone());
                            groups.insert(b.clone());
                        }
                    }
                }
            }
        }
        let over_rules = rules > self.options.rules_per_load_balancer;
        let over_groups = groups.len() > self.options.target_groups_per_load_balancer;
        if !(over_rules || over_groups) {
            return;
        }
        let heaviest = per_team
            .iter()
            .max_by_key(|(name, (r, g))| {
                (
                    if over_rules { *r } else { g.len() },
                    std::cmp::Reverse((*name).clone()),
                )
            })
            .map(|(name, _)| name.clone());
        if let Some(team) = heaviest {
            let message = if over_rules {
                format!(
                    "Gateway {} would need {rules} listener rules; the quota (aws.rules_per_load_balancer) is {}. Team {team} has the most rules there and is refused",
                    self.gateway, self.options.rules_per_load_balancer
                )
            } else {
                format!(
                    "Gateway {} would need {} target groups; the quota (aws.target_groups_per_load_balancer) is {}. Team {team} has the most there and is refused",
                    self.gateway,
                    groups.len(),
                    self.options.target_groups_per_load_balancer
                )
            };
            self.diagnostics
                .push(Diagnostic::refusal(codes::ALB_LIMIT, message).team(team.clone()));
            self.refused.insert(team);
        }
    }

    /// The target groups that the rules forward to and gwsync owns, sorted by backend.
    /// The properties of the load balancer's default TargetGroupConfiguration
    /// (`defaultTargetGroupConfiguration`, checked by admission), if it names one.
    fn default_target_group_props(&self) -> Option<&'a lbc::TargetGroupProps> {
        let name = &self
            .config?
            .default_target_group_configuration
            .as_ref()?
            .name;
        let platform = self.admission.platform.as_ref()?;
        platform.documents.iter().find_map(|doc| match &doc.body {
            Body::TargetGroupConfiguration(spec) if &doc.key.name == name => {
                Some(&spec.default_configuration)
            }
            _ => None,
        })
    }

    /// The target group without targets that unresolved backends' shares go to: ELB's
    /// defaults, owned by the platform (it is no team's).
    fn empty_target_group(&self) -> TargetGroup {
        let mut tg = target_group(
            &self.options.instance_id,
            self.gateway,
            UNRESOLVED_BACKEND,
            80,
            &lbc::TargetGroupProps::default(),
        );
        tg.owner = Some(PLATFORM_OWNER.to_string());
        tg
    }

    fn target_groups(&self, listeners: &[Listener]) -> Vec<TargetGroup> {
        let mut backends = BTreeSet::new();
        for rule in listeners.iter().flat_map(|l| &l.rules) {
            for action in &rule.actions {
                if let Action::Forward { target_groups, .. } = action {
                    for tg in target_groups {
                        if let TargetGroupRef::Owned(b) = &tg.target_group {
                            backends.insert(b.clone());
                        }
                    }
                }
            }
        }
        let defaults = self.default_target_group_props();
        backends
            .into_iter()
            .filter_map(|backend| {
                if backend == UNRESOLVED_BACKEND {
                    return Some(self.empty_target_group());
                }
                let (service, port) = backend.rsplit_once(':')?;
                let (ns, name) = service.split_once('/')?;
                let config = self.refs.target_group_config(ns, name)?;
                let props = match defaults {
                    Some(defaults) => config.default_configuration.over(defaults),
                    None => config.default_configuration.clone(),
                };
                let mut tg = target_group(
                    &self.options.instance_id,
                    self.gateway,
                    &backend,
                    port.parse().ok()?,
                    &props,
                );
                tg.owner = self
                    .admission
                    .tenancy
                    .as_ref()
                    .and_then(|t| t.owner_of_namespace(ns))
                    .map(str::to_string);
                Some(tg)
            })
            .collect()
    }
}

/// The exact hostnames of the routes attached to the `group`th Gateway API listener of a
/// port, sorted: where certificates are found for a listener without hostname (wildcard
/// route hostnames are looked up as written: ACM's wildcard certificates cover them).
fn route_hostnames(entries: &[Entry<'_>], group: usize) -> Vec<String> {
    let mut hosts = BTreeSet::new();
    for entry in entries.iter().filter(|e| e.group == group) {
        for condition in &entry.conditions {
            if let Condition::HostHeader {
                values: Patterns::Wildcard(values),
            } = condition
            {
                hosts.extend(values.iter().filter(|h| !h.contains('?')).cloned());
            }
        }
    }
    hosts.into_iter().collect()
}

/// A target group from a TargetGroupConfiguration's properties; absent settings take ELB's
/// own defaults, so that the group read back from AWS compares equal.
fn target_group(
    instance_id: &str,
    gateway: &str,
    backend: &str,
    port: u16,
    props: &lbc::TargetGroupProps,
) -> TargetGroup {
    let protocol = match props.protocol {
        Some(lbc::TargetGroupProtocol::Https) => Protocol::Https,
        _ => Protocol::Http,
    };
    let protocol_version = props
        .protocol_version
        .and_then(|v| ProtocolVersion::parse(v.as_str()))
        .unwrap_or_default();
    let hc = props.health_check_config.as_ref();
    let default = HealthCheck::aws_default(protocol, protocol_version);
    let seconds = |v: Option<i32>, default: u32| v.map_or(default, |v| v as u32);
    let health_check = HealthCheck {
        protocol: match hc.and_then(|h| h.health_check_protocol) {
            Some(p) if p.as_str() == "HTTPS" => Protocol::Https,
            Some(_) => Protocol::Http,
            None => default.protocol,
        },
        port: hc
            .and_then(|h| h.health_check_port.as_ref())
            .map_or(default.port, |p| p.to_string()),
        path: hc
            .and_then(|h| h.health_check_path.clone())
            .unwrap_or(default.path),
        interval_seconds: seconds(
            hc.and_then(|h| h.health_check_interval),
            default.interval_seconds,
        ),
        timeout_seconds: seconds(
            hc.and_then(|h| h.health_check_timeout),
            default.timeout_seconds,
        ),
        healthy_threshold: seconds(
            hc.and_then(|h| h.healthy_threshold_count),
            default.healthy_threshold,
        ),
        unhealthy_threshold: seconds(
            hc.and_then(|h| h.unhealthy_threshold_count),
            default.unhealthy_threshold,
        ),
        matcher: match hc.and_then(|h| h.matcher.as_ref()) {
            Some(lbc::HealthCheckMatcher::HttpCode(c)) => Matcher::HttpCode(c.clone()),
            Some(lbc::HealthCheckMatcher::GrpcCode(c)) => Matcher::GrpcCode(c.clone()),
            None => default.matcher,
        },
    };
    let mut targets: Vec<Target> = props
        .targets
        .iter()
        .map(|t| Target {
            id: t.id.clone(),
            port: t.port.map(|p| p as u16),
            availability_zone: t.availability_zone.clone(),
        })
        .collect();
    targets.sort();
    TargetGroup {
        backend: backend.to_string(),
        name: props
            .target_group_name
            .clone()
            .unwrap_or_else(|| names::target_group_name(instance_id, gateway, backend)),
        protocol,
        protocol_version,
        port,
        target_type: props
            .target_type
            .and_then(|t| TargetType::parse(t.as_str()))
            .unwrap_or_default(),
        health_check,
        attributes: props
            .target_group_attributes
            .iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect(),
        tags: props.tags.clone(),
        targets,
        owner: None,
    }
}

#[cfg(test)]
mod tests;
