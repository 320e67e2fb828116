//! Admission of one revision: every file to its owner, every document checked, one verdict
//! per team.
//!
//! The order matters and is fixed: the tenants file first (without it nothing has an owner),
//! then every file loaded into its owner's bucket and checked for placement (the per-owner
//! work that [`AdmissionCache`] keeps between revisions), then duplicates across the
//! revision, then the platform (a refused platform refuses the whole revision), then
//! ListenerSets and routes against the platform's Gateways and every team's declarations.
//! A team's problems are values in its own bucket; nothing here returns early on behalf of
//! one team, so one team's errors never change another team's verdict.

use super::attach::{self, Parent, ParentKind, ParentRefView, Parents, RouteView};
use super::cache::AdmissionCache;
use super::load::{AdmitOptions, Bucket, refused_entry};
use super::refs::{References, Resolution};
use super::{Attachment, Owner, PathOwner, Tenancy};
use crate::alb::TargetGroupRef;
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::hostname;
use crate::manifest::{self, Body, Document, Kind, ObjectKey, lbc};
use crate::source::{OverLimits, Snapshot};
use gateway_api::apis::standard::httproutes::{HttpRouteRulesMatchesPathType, HttpRouteSpec};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Admitted,
    Refused,
    /// Not decided: the revision is refused for the platform's sake, so no team's documents
    /// can be checked against its Gateways. The team's own problems are still reported.
    Undecided,
}

/// The platform's or one team's result.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub verdict: Verdict,
    /// The admitted documents; empty when refused.
    pub documents: Vec<Document>,
    /// Where each admitted HTTPRoute attached, by `namespace/name` of the route.
    pub attachments: BTreeMap<String, Vec<Attachment>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity != Severity::Warning)
    }
}

/// The result of admitting one revision.
#[derive(Debug, Clone, Serialize)]
pub struct Admission {
    #[serde(skip)]
    pub tenancy: Option<Tenancy>,
    /// Problems that belong to no team: the tenants file, files outside every folder.
    pub revision_diagnostics: Vec<Diagnostic>,
    /// None when the tenants file itself is invalid.
    pub platform: Option<Outcome>,
    /// Empty when the revision is refused as a whole.
    pub teams: Vec<Outcome>,
    /// When the platform folder is refused: every team with the problems found in its own
    /// files (loading, placement, duplicates), verdict `Undecided`, so that a team still
    /// learns about its own mistakes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<Outcome>,
    /// ListenerSets (`namespace/name`) whose Gateway accepts them, with that Gateway.
    pub accepted_listener_sets: BTreeMap<String, String>,
}

impl Admission {
    /// Is the revision usable at all: tenants file valid and platform admitted?
    pub fn revision_valid(&self) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| p.verdict == Verdict::Admitted)
            && !self
                .revision_diagnostics
                .iter()
                .any(|d| d.severity == Severity::Refusal)
    }

    pub fn team(&self, name: &str) -> Option<&Outcome> {
        self.teams.iter().find(|t| t.name == name)
    }
}

/// Admits one revision. Pure: the snapshot is plain data. Nothing is kept for a next
/// revision; see [`admit_incremental`] for that.
pub fn admit(snapshot: &Snapshot, options: &AdmitOptions) -> Admission {
    admit_incremental(snapshot, options, &mut AdmissionCache::one_shot())
}

/// Admits one revision, reusing from `cache` the loads of owners whose files did not
/// change since the revision the cache last saw, and leaving this revision's in it. The
/// result is the one [`admit`] gives: only loading is skipped, and every check that looks
/// across owners runs over all of them. [`AdmissionCache::stats`] says what was reused.
pub fn admit_incremental(
    snapshot: &Snapshot,
    options: &AdmitOptions,
    cache: &mut AdmissionCache,
) -> Admission {
    let mut admission = Admission {
        tenancy: None,
        revision_diagnostics: Vec::new(),
        platform: None,
        teams: Vec::new(),
        undecided: Vec::new(),
        accepted_listener_sets: BTreeMap::new(),
    };
    if let Some(over) = &snapshot.over_limits {
        admission.revision_diagnostics = vec![revision_too_large(over)];
        return admission;
    }
    let (tenancy, loads) = match cache.load(snapshot, options) {
        Ok(loaded) => loaded,
        Err(diags) => {
            admission.revision_diagnostics = diags;
            return admission;
        }
    };

    // Bucket 0 is the platform, bucket i + 1 is team i. Entries that were not read come
    // first in each bucket, then what loading and placement found.
    let mut buckets: Vec<Bucket> = (0..=tenancy.teams.len())
        .map(|_| Bucket::default())
        .collect();
    let bucket_of = |path: &str| match tenancy.owner_of(path) {
        PathOwner::Platform => Some(Some(0)),
        PathOwner::Team(i) => Some(Some(i + 1)),
        PathOwner::Unowned => Some(None),
        PathOwner::Ignored => None,
    };
    let mut unowned = Vec::new();
    for entry in &snapshot.entries_refused {
        let d = refused_entry(&entry.reason).at(&entry.path, None);
        match bucket_of(&entry.path) {
            Some(Some(b)) => buckets[b].diagnostics.push(d),
            Some(None) => unowned.push(d.with_severity(Severity::Error)),
            None => {}
        }
    }
    for path in &snapshot.submodules {
        let d = Diagnostic::warning(
            codes::SUBMODULE,
            "submodules are not read; their manifests are skipped",
        )
        .at(path, None);
        // A submodule in place of a folder (`teams/orders` itself) belongs to that folder,
        // whose team then has no manifest at all (see `refuse_empty_team_folders`).
        match bucket_of(&format!("{path}/")) {
            Some(Some(b)) => buckets[b].diagnostics.push(d),
            _ => unowned.push(d),
        }
    }
    refuse_empty_team_folders(&mut buckets, &tenancy, snapshot);
    for file in &snapshot.files {
        if file.path != options.tenants_file && bucket_of(&file.path) == Some(None) {
            unowned.push(
                Diagnostic::error(
                    codes::OUTSIDE_FOLDERS,
                    "manifest outside every folder declared in the tenants file; it is not read",
                )
                .at(&file.path, None),
            );
        }
    }
    admission.revision_diagnostics.extend(unowned);
    for (bucket, load) in buckets.iter_mut().zip(loads) {
        bucket.documents = load.documents;
        bucket.diagnostics.extend(load.diagnostics);
    }

    check_duplicates(&mut buckets);
    check_platform(&mut buckets[0], &tenancy, options);

    let mut platform_bucket = std::mem::take(&mut buckets[0]);
    stamp(&mut platform_bucket, "platform");
    if platform_bucket.refused() {
        admission.platform = Some(finish("platform", platform_bucket, BTreeMap::new()));
        admission.undecided = tenancy
            .teams
            .iter()
            .zip(buckets.into_iter().skip(1))
            .map(|(team, mut bucket)| {
                stamp(&mut bucket, &team.name);
                Outcome {
                    name: team.name.clone(),
                    verdict: Verdict::Undecided,
                    documents: Vec::new(),
                    attachments: BTreeMap::new(),
                    diagnostics: bucket.diagnostics,
                }
            })
            .collect();
        admission.tenancy = Some(tenancy);
        return admission;
    }

    let mut parents = gateways_of(&platform_bucket.documents);
    attach_listener_sets(&mut buckets, &tenancy, &mut parents);
    admission.accepted_listener_sets = parents
        .by_key
        .iter()
        .filter(|((kind, _, _), p)| *kind == ParentKind::ListenerSet && p.accepted)
        .map(|((_, ns, name), p)| (format!("{ns}/{name}"), p.gateway.clone()))
        .collect();
    let mut refs = References::collect(buckets.iter().flat_map(|b| &b.documents));
    for (b, bucket) in buckets.iter().enumerate() {
        let owner = match b {
            0 => &tenancy.platform,
            team => &tenancy.teams[team - 1],
        };
        refs.add_refused(&owner.namespace, &bucket.diagnostics);
    }
    let mut team_attachments: Vec<BTreeMap<String, Vec<Attachment>>> =
        vec![BTreeMap::new(); buckets.len()];
    let mut route_diagnostics: Vec<Vec<Diagnostic>> = vec![Vec::new(); buckets.len()];
    for (b, bucket) in buckets.iter().enumerate().skip(1) {
        let team = &tenancy.teams[b - 1];
        for doc in &bucket.documents {
            if let Body::HTTPRoute(spec) = &doc.body {
                let (attachments, diags) = check_route(doc, spec, team, &tenancy, &parents, &refs);
                route_diagnostics[b].extend(diags.into_iter().map(|d| doc.diagnostic(d)));
                let route = format!("{}/{}", ns_of(doc), doc.key.name);
                team_attachments[b].insert(route, attachments);
            }
            if let Body::TargetGroupConfiguration(spec) = &doc.body
                && let Some(name) = &spec.default_configuration.target_group_name
                && let Some(d) = target_group_name_problem(name, team)
            {
                route_diagnostics[b]
                    .push(doc.diagnostic(d.field("spec.defaultConfiguration.targetGroupName")));
            }
        }
    }
    drop(refs);
    for (bucket, diags) in buckets.iter_mut().zip(route_diagnostics) {
        bucket.diagnostics.extend(diags);
    }

    admission.platform = Some(finish("platform", platform_bucket, BTreeMap::new()));
    for (i, team) in tenancy.teams.iter().enumerate() {
        let mut bucket = std::mem::take(&mut buckets[i + 1]);
        stamp(&mut bucket, &team.name);
        let attachments = std::mem::take(&mut team_attachments[i + 1]);
        admission
            .teams
            .push(finish(&team.name, bucket, attachments));
    }
    admission.tenancy = Some(tenancy);
    admission
}

/// The refusal of a revision too large to read, naming where its bulk is (the per-owner
/// limits refuse a single team long before this; reaching it takes many).
fn revision_too_large(over: &OverLimits) -> Diagnostic {
    let largest: Vec<String> = over
        .largest_folders
        .iter()
        .map(|(folder, files, bytes)| format!("{folder} ({files} files, {bytes} bytes)"))
        .collect();
    Diagnostic::refusal(
        codes::REVISION_TOO_LARGE,
        format!(
            "{}; no file was read and the last admitted state stays; largest folders: {}",
            over.exceeded,
            largest.join(", ")
        ),
    )
}

fn stamp(bucket: &mut Bucket, name: &str) {
    for d in &mut bucket.diagnostics {
        d.team = Some(name.to_string());
    }
}

/// The namespace of an admitted document (placement has filled it in).
fn ns_of(doc: &Document) -> &str {
    doc.key.namespace.as_deref().unwrap_or_default()
}

fn finish(
    name: &str,
    mut bucket: Bucket,
    attachments: BTreeMap<String, Vec<Attachment>>,
) -> Outcome {
    let verdict = if bucket.refused() {
        Verdict::Refused
    } else {
        Verdict::Admitted
    };
    bucket
        .diagnostics
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let admitted = verdict == Verdict::Admitted;
    Outcome {
        name: name.to_string(),
        verdict,
        documents: if admitted {
            bucket.documents
        } else {
            Vec::new()
        },
        attachments: if admitted {
            attachments
        } else {
            BTreeMap::new()
        },
        diagnostics: bucket.diagnostics,
    }
}

/// The same kind/namespace/name twice anywhere in the revision refuses the owner of every
/// later copy (in path order), naming the first.
/// A team folder without a single manifest (deleted or emptied by mistake, or a submodule
/// in its place) is refused rather than admitted with nothing, which would delete every rule
/// and target group of the team: the team keeps its last admitted state. A team is retired by
/// removing it from the tenants file; one that means to have no routes commits an empty
/// manifest file.
fn refuse_empty_team_folders(buckets: &mut [Bucket], tenancy: &Tenancy, snapshot: &Snapshot) {
    let mut has_manifest = vec![false; tenancy.teams.len()];
    for file in &snapshot.files {
        if let PathOwner::Team(i) = tenancy.owner_of(&file.path) {
            has_manifest[i] = true;
        }
    }
    for (i, team) in tenancy.teams.iter().enumerate() {
        if has_manifest[i] {
            continue;
        }
        buckets[i + 1].diagnostics.push(
            Diagnostic::refusal(
                codes::EMPTY_TEAM_FOLDER,
                format!(
                    "no manifest in {}: a team folder that is gone or empty is taken as a mistake, and the team keeps its last admitted state; to retire the team, remove it from the tenants file; to keep it with no routes, commit an empty manifest (e.g. {}routes.yaml)",
                    team.path, team.path
                ),
            )
            .at(team.path.trim_end_matches('/'), None),
        );
    }
}

fn check_duplicates(buckets: &mut [Bucket]) {
    let mut all: Vec<(usize, usize)> = Vec::new();
    for (b, bucket) in buckets.iter().enumerate() {
        all.extend((0..bucket.documents.len()).map(|d| (b, d)));
    }
    all.sort_by(|&(b1, d1), &(b2, d2)| {
        let (x, y) = (&buckets[b1].documents[d1], &buckets[b2].documents[d2]);
        (&x.origin.file, x.origin.index).cmp(&(&y.origin.file, y.origin.index))
    });
    let mut first: BTreeMap<&ObjectKey, &Document> = BTreeMap::new();
    let mut duplicates: Vec<(usize, usize, Diagnostic)> = Vec::new();
    for &(b, d) in &all {
        let doc = &buckets[b].documents[d];
        match first.get(&doc.key) {
            Some(original) => duplicates.push((
                b,
                d,
                doc.diagnostic(Diagnostic::refusal(
                    codes::DUPLICATE_OBJECT,
                    format!(
                        "{} is already declared at {}:{}",
                        doc.key, original.origin.file, original.origin.line
                    ),
                )),
            )),
            None => {
                first.insert(&doc.key, doc);
            }
        }
    }
    // Remove from the back so that earlier indexes stay valid.
    duplicates.sort_by_key(|&(b, d, _)| std::cmp::Reverse((b, d)));
    for (b, d, diag) in duplicates {
        buckets[b].documents.remove(d);
        buckets[b].diagnostics.push(diag);
    }
}

/// The platform's own rules: listeners ALB can serve, parameters that exist, one protocol
/// per port. Gateways of another class are dropped with a warning.
fn check_platform(bucket: &mut Bucket, tenancy: &Tenancy, options: &AdmitOptions) {
    let lb_configs: BTreeSet<String> = bucket
        .documents
        .iter()
        .filter(|d| d.key.kind == Kind::LoadBalancerConfiguration)
        .map(|d| d.key.name.clone())
        .collect();
    let managed = super::classes::managed_classes(bucket, &options.gateway_classes);
    let mut found = Vec::new();
    bucket.documents.retain(|doc| {
        let Body::Gateway(spec) = &doc.body else {
            return true;
        };
        if !managed.contains(&spec.gateway_class_name) {
            found.push(doc.diagnostic(Diagnostic::warning(
                codes::OTHER_GATEWAY_CLASS,
                format!(
                    "gatewayClassName `{}` is not one this instance manages ({}); this Gateway is left to its own controller",
                    spec.gateway_class_name,
                    managed.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ).field("spec.gatewayClassName")));
            return false;
        }
        let mut protocols: BTreeMap<i32, &str> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (i, l) in spec.listeners.iter().enumerate() {
            let field = format!("spec.listeners[{i}]");
            if !names.insert(&l.name) {
                found.push(doc.diagnostic(
                    Diagnostic::refusal(codes::INVALID_FIELD, format!("listener name `{}` is used twice", l.name))
                        .field(format!("{field}.name")),
                ));
            }
            found.extend(check_listener(&l.protocol, l.port, l.hostname.as_deref(), &field).into_iter().map(|d| doc.diagnostic(d)));
            if let Some(tls) = &l.tls
                && matches!(tls.mode, Some(gateway_api::apis::standard::gateways::GatewayListenersTlsMode::Passthrough))
            {
                found.push(doc.diagnostic(
                    Diagnostic::refusal(codes::UNSUPPORTED, "TLS passthrough is not expressible on ALB, which terminates TLS")
                        .field(format!("{field}.tls.mode")),
                ));
            }
            if let Some(previous) = protocols.insert(l.port, &l.protocol)
                && previous != l.protocol
            {
                found.push(doc.diagnostic(
                    Diagnostic::refusal(
                        codes::UNSUPPORTED,
                        format!("port {} is both {previous} and {}: an ALB listener has one protocol", l.port, l.protocol),
                    )
                    .field(format!("{field}.protocol")),
                ));
            }
        }
        if let Some(p) = spec.infrastructure.as_ref().and_then(|i| i.parameters_ref.as_ref()) {
            let known = p.group == lbc::GROUP && p.kind == "LoadBalancerConfiguration";
            if !known || !lb_configs.contains(&p.name) {
                found.push(doc.diagnostic(
                    Diagnostic::refusal(
                        codes::PARAMETERS_NOT_FOUND,
                        format!(
                            "parametersRef {}/{} {} is not a LoadBalancerConfiguration (group {}) in namespace `{}`",
                            p.group, p.kind, p.name, lbc::GROUP, tenancy.platform.namespace
                        ),
                    )
                    .field("spec.infrastructure.parametersRef"),
                ));
            }
        }
        true
    });
    found.extend(check_default_target_groups(&bucket.documents));
    bucket.diagnostics.extend(found);
}

/// A LoadBalancerConfiguration's `defaultTargetGroupConfiguration` must name a default
/// TargetGroupConfiguration (one without targetReference) of the platform.
fn check_default_target_groups(platform_docs: &[Document]) -> Vec<Diagnostic> {
    let defaults: BTreeSet<&str> = platform_docs
        .iter()
        .filter(|d| matches!(d.body, Body::TargetGroupConfiguration(_)))
        .map(|d| d.key.name.as_str())
        .collect();
    platform_docs
        .iter()
        .filter_map(|doc| {
            let Body::LoadBalancerConfiguration(spec) = &doc.body else {
                return None;
            };
            let name = &spec.default_target_group_configuration.as_ref()?.name;
            (!defaults.contains(name.as_str())).then(|| {
                doc.diagnostic(
                    Diagnostic::refusal(
                        codes::PARAMETERS_NOT_FOUND,
                        format!(
                            "defaultTargetGroupConfiguration `{name}` is not a TargetGroupConfiguration without targetReference in the platform folder"
                        ),
                    )
                    .field("spec.defaultTargetGroupConfiguration.name"),
                )
            })
        })
        .collect()
}

/// Checks one listener's protocol, port and hostname against what ALB can serve.
fn check_listener(
    protocol: &str,
    port: i32,
    hostname: Option<&str>,
    field: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !matches!(protocol, "HTTP" | "HTTPS") {
        out.push(
            Diagnostic::refusal(
                codes::UNSUPPORTED,
                format!("protocol `{protocol}` is not expressible on ALB, whose listeners are HTTP or HTTPS"),
            )
            .field(format!("{field}.protocol")),
        );
    }
    if !(1..=65535).contains(&port) {
        out.push(
            Diagnostic::refusal(
                codes::INVALID_FIELD,
                format!("port {port} is outside 1-65535"),
            )
            .field(format!("{field}.port")),
        );
    }
    if let Some(h) = hostname
        && !hostname::is_valid(h)
    {
        out.push(
            Diagnostic::refusal(
                codes::INVALID_FIELD,
                format!("`{h}` is not a valid hostname"),
            )
            .field(format!("{field}.hostname")),
        );
    }
    out
}

fn gateways_of(platform_docs: &[Document]) -> Parents {
    let mut parents = Parents::default();
    for doc in platform_docs {
        if let Body::Gateway(spec) = &doc.body {
            let ns = doc.key.namespace.clone().unwrap_or_default();
            let id = format!("{ns}/{}", doc.key.name);
            parents
                .allowed_listeners
                .insert(id.clone(), attach::gateway_allowed_listeners(spec));
            parents.by_key.insert(
                (ParentKind::Gateway, ns.clone(), doc.key.name.clone()),
                Parent {
                    namespace: ns,
                    name: doc.key.name.clone(),
                    gateway: id,
                    listeners: attach::gateway_listeners(spec),
                    accepted: true,
                },
            );
        }
    }
    parents
}

/// ListenerSets: their listeners must be servable and inside the team's hostname grants
/// (refusals); their Gateway must exist and invite them (errors: the set stays inert).
fn attach_listener_sets(buckets: &mut [Bucket], tenancy: &Tenancy, parents: &mut Parents) {
    for (b, bucket) in buckets.iter_mut().enumerate().skip(1) {
        let team = &tenancy.teams[b - 1];
        let mut found = Vec::new();
        for doc in &bucket.documents {
            let Body::ListenerSet(spec) = &doc.body else {
                continue;
            };
            let ns = doc.key.namespace.clone().unwrap_or_default();
            for (i, l) in spec.listeners.iter().enumerate() {
                let field = format!("spec.listeners[{i}]");
                found.extend(
                    check_listener(&l.protocol, l.port, l.hostname.as_deref(), &field)
                        .into_iter()
                        .map(|d| doc.diagnostic(d)),
                );
                let name = l.hostname.as_deref().unwrap_or("*");
                if !team.grants.covers_hostname(name) {
                    found.push(doc.diagnostic(
                        Diagnostic::refusal(
                            codes::HOSTNAME_NOT_GRANTED,
                            match &l.hostname {
                                Some(h) => format!("hostname `{h}` is not granted to team {}", team.name),
                                None => format!("a listener without hostname answers every hostname; team {} needs the `*` grant", team.name),
                            },
                        )
                        .field(format!("{field}.hostname")),
                    ));
                }
            }
            let pr = &spec.parent_ref;
            let gw_ns = pr.namespace.clone().unwrap_or_else(|| ns.clone());
            // One ALB listener per port has one protocol, and the Gateway's listeners win.
            if let Some(gateway) =
                parents
                    .by_key
                    .get(&(ParentKind::Gateway, gw_ns.clone(), pr.name.clone()))
            {
                for (i, l) in spec.listeners.iter().enumerate() {
                    if let Some(g) = gateway
                        .listeners
                        .iter()
                        .find(|g| g.port == l.port && g.protocol != l.protocol)
                    {
                        found.push(doc.diagnostic(
                            Diagnostic::error(
                                codes::LISTENER_CONFLICT,
                                format!(
                                    "port {} is {} on Gateway {gw_ns}/{} (listener `{}`); this {} listener is ignored",
                                    l.port, g.protocol, pr.name, g.name, l.protocol
                                ),
                            )
                            .field(format!("spec.listeners[{i}].protocol")),
                        ));
                    }
                }
            }
            let is_gateway = pr.group.as_deref().unwrap_or(manifest::GATEWAY_API_GROUP)
                == manifest::GATEWAY_API_GROUP
                && pr.kind.as_deref().unwrap_or("Gateway") == "Gateway";
            let gateway_id = format!("{gw_ns}/{}", pr.name);
            let accepted = match parents.allowed_listeners.get(&gateway_id) {
                Some(from) if is_gateway => {
                    let ok = from.admits(&ns, &gw_ns, tenancy);
                    if !ok {
                        found.push(doc.diagnostic(
                            Diagnostic::error(
                                codes::LISTENERS_NOT_ALLOWED,
                                format!("Gateway {gateway_id} does not allow ListenerSets from namespace `{ns}` (spec.allowedListeners)"),
                            )
                            .field("spec.parentRef"),
                        ));
                    }
                    ok
                }
                _ => {
                    found.push(
                        doc.diagnostic(
                            Diagnostic::error(
                                codes::PARENT_NOT_FOUND,
                                format!("Gateway {gateway_id} does not exist in this revision"),
                            )
                            .field("spec.parentRef"),
                        ),
                    );
                    false
                }
            };
            parents.by_key.insert(
                (ParentKind::ListenerSet, ns.clone(), doc.key.name.clone()),
                Parent {
                    namespace: ns,
                    name: doc.key.name.clone(),
                    gateway: gateway_id,
                    listeners: attach::listener_set_listeners(spec),
                    accepted,
                },
            );
        }
        bucket.diagnostics.extend(found);
    }
}

/// One HTTPRoute: attachment, grants (refusals) and references (errors).
fn check_route(
    doc: &Document,
    spec: &HttpRouteSpec,
    team: &Owner,
    tenancy: &Tenancy,
    parents: &Parents,
    refs: &References,
) -> (Vec<Attachment>, Vec<Diagnostic>) {
    let ns = doc.key.namespace.as_deref().unwrap_or_default();
    let hostnames = spec.hostnames.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (i, h) in hostnames.iter().enumerate() {
        if !hostname::is_valid(h) {
            out.push(
                Diagnostic::refusal(
                    codes::INVALID_FIELD,
                    format!("`{h}` is not a valid hostname"),
                )
                .field(format!("spec.hostnames[{i}]")),
            );
        }
    }
    let view = RouteView {
        namespace: ns,
        hostnames: &hostnames,
        parent_refs: spec
            .parent_refs
            .iter()
            .flatten()
            .map(|p| ParentRefView {
                group: p.group.as_deref(),
                kind: p.kind.as_deref(),
                namespace: p.namespace.as_deref(),
                name: &p.name,
                section_name: p.section_name.as_deref(),
                port: p.port,
            })
            .collect(),
    };
    if view.parent_refs.is_empty() {
        out.push(
            Diagnostic::error(
                codes::NO_MATCHING_PARENT,
                "the route has no parentRefs, so it attaches nowhere",
            )
            .field("spec.parentRefs"),
        );
    }
    let (attachments, attach_diags) = attach::attach_route(&view, parents, tenancy);
    out.extend(attach_diags);

    // Grants are checked on what the route would answer: its effective hostnames where it
    // attaches, its written hostnames where it does not (a claim on another team's hostname
    // is refused even while inert).
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for a in &attachments {
        if hostnames.is_empty() {
            let field = format!("spec.parentRefs[{}]", a.parent_ref);
            let name = a
                .listener
                .hostname
                .clone()
                .unwrap_or_else(|| "*".to_string());
            claimed.entry(name).or_insert(field);
        }
        for (i, h) in hostnames.iter().enumerate() {
            if let Some(effective) = hostname::intersect(a.listener.hostname.as_deref(), h) {
                claimed
                    .entry(effective)
                    .or_insert(format!("spec.hostnames[{i}]"));
            }
        }
    }
    if attachments.is_empty() {
        for (i, h) in hostnames.iter().enumerate() {
            claimed
                .entry(h.clone())
                .or_insert(format!("spec.hostnames[{i}]"));
        }
    }
    for (h, field) in &claimed {
        out.extend(check_hostname_grant(h, field, spec, team));
    }
    out.extend(check_backends(spec, ns, team, refs));
    (attachments, out)
}

fn check_hostname_grant(
    name: &str,
    field: &str,
    spec: &HttpRouteSpec,
    team: &Owner,
) -> Vec<Diagnostic> {
    if team.grants.covers_hostname(name) {
        return Vec::new();
    }
    let Some(prefixes) = team.grants.shared_paths(name) else {
        let message = if name == "*" {
            format!(
                "the route has no hostname and its listener has none, so it would answer every hostname; team {} needs the `*` grant",
                team.name
            )
        } else {
            format!("hostname `{name}` is not granted to team {}", team.name)
        };
        return vec![
            Diagnostic::refusal(codes::HOSTNAME_NOT_GRANTED, message).field(field.to_string()),
        ];
    };
    // A shared hostname: every match must stay inside the team's path prefixes.
    let mut out = Vec::new();
    let rules = spec.rules.as_deref().unwrap_or_default();
    let no_match = [Default::default()];
    for (r, rule) in rules.iter().enumerate() {
        let matches = rule
            .matches
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or(&no_match);
        for (m, mat) in matches.iter().enumerate() {
            let field = if rule.matches.as_deref().is_some_and(|m| !m.is_empty()) {
                format!("spec.rules[{r}].matches[{m}].path")
            } else {
                format!("spec.rules[{r}]")
            };
            let (kind, value) = match &mat.path {
                None => (HttpRouteRulesMatchesPathType::PathPrefix, "/"),
                Some(p) => (
                    p.r#type
                        .clone()
                        .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix),
                    p.value.as_deref().unwrap_or("/"),
                ),
            };
            let inside = kind != HttpRouteRulesMatchesPathType::RegularExpression
                && prefixes.iter().any(|p| path_within(value, p));
            if !inside {
                let message = if kind == HttpRouteRulesMatchesPathType::RegularExpression {
                    format!(
                        "on shared hostname `{name}` team {} may claim only {}; a regular expression cannot be checked against them",
                        team.name,
                        prefixes.join(", ")
                    )
                } else {
                    format!(
                        "path `{value}` on shared hostname `{name}` is outside the prefixes granted to team {}: {}",
                        team.name,
                        prefixes.join(", ")
                    )
                };
                out.push(Diagnostic::refusal(codes::PATH_NOT_GRANTED, message).field(field));
            }
        }
    }
    if rules.is_empty() {
        out.push(Diagnostic::refusal(
            codes::PATH_NOT_GRANTED,
            format!("a route without rules matches every path on shared hostname `{name}`; team {} may claim only {}", team.name, prefixes.join(", ")),
        ).field("spec.rules"));
    }
    out
}

/// Is request path `value` (an Exact path or a PathPrefix) inside prefix `prefix`, segment
/// by segment (`/pay` covers `/pay` and `/pay/x`, not `/payments`)?
fn path_within(value: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || value == prefix
        || value
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A target group name a team uses (a `TargetGroupName` backend, or the `targetGroupName` it
/// gives the group gwsync creates for it): a valid ELB name
/// (no `/`, `..` or glob that a pattern grant would let through) inside the team's
/// `targetGroups` grants, so that a team cannot name its group after another team's (on AWS,
/// `CreateTargetGroup` with identical settings returns the existing group). A name a target
/// group gwsync does not own already has is found at plan time (`reconcile::preflight`).
fn target_group_name_problem(name: &str, team: &Owner) -> Option<Diagnostic> {
    if let Err(why) = crate::alb::values::resource_name(name) {
        return Some(Diagnostic::refusal(
            codes::INVALID_NAME_FOR_AWS,
            format!("target group name {why}"),
        ));
    }
    (!team.grants.covers_target_group(name)).then(|| {
        let granted = match team.grants.target_group_patterns.as_slice() {
            [] => "none".to_string(),
            patterns => patterns.join(", "),
        };
        Diagnostic::refusal(
            codes::TARGET_GROUP_NOT_GRANTED,
            format!(
                "target group `{name}` is not granted to team {} (targetGroups: {granted})",
                team.name
            ),
        )
    })
}

/// Backends: `TargetGroupName` must be inside the team's target-group grants (refusal);
/// Services must be declared and, across namespaces, granted (errors: the rule answers 500).
fn check_backends(
    spec: &HttpRouteSpec,
    ns: &str,
    team: &Owner,
    refs: &References,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (r, rule) in spec.rules.iter().flatten().enumerate() {
        for (i, b) in rule.backend_refs.iter().flatten().enumerate() {
            let field = format!("spec.rules[{r}].backendRefs[{i}]");
            match refs.resolve_backend(ns, b) {
                Resolution::Resolved(TargetGroupRef::Existing(name)) => {
                    if let Some(d) = target_group_name_problem(&name, team) {
                        out.push(d.field(format!("{field}.name")));
                    }
                }
                Resolution::Resolved(TargetGroupRef::Owned(_)) => {}
                Resolution::Unresolved(d) => out.push(d.field(field)),
                Resolution::Invalid(d, sub) => out.push(d.field(format!("{field}{sub}"))),
            }
        }
        for (f, filter) in rule.filters.iter().flatten().enumerate() {
            if let Some(ext) = &filter.extension_ref {
                let field = format!("spec.rules[{r}].filters[{f}].extensionRef");
                if let Err(d) =
                    refs.rule_config(ns, ext.group.as_str(), ext.kind.as_str(), &ext.name)
                {
                    out.push(d.field(field));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::path_within;

    #[test]
    fn path_prefixes_are_segment_wise() {
        assert!(path_within("/pay", "/pay"));
        assert!(path_within("/pay/x", "/pay/"));
        assert!(!path_within("/payments", "/pay"));
        assert!(path_within("/anything", "/"));
    }
}
