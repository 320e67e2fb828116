//! Loading: one owner's files into its bucket of documents and diagnostics, with placement
//! checked (kinds and namespace by folder), and the tenants file into a [`Tenancy`]. This is
//! the per-owner work that depends on nothing but that owner's files, its entry in the tenants
//! file and the options: [`super::cache::AdmissionCache`] keeps its result between revisions
//! and [`super::admit`] builds on it. It must not look across owners (duplicates, references,
//! attachment are admission's).

use super::{Owner, Tenancy};
use crate::config::Limits;
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::manifest::{self, Body, Document, Kind};
use crate::source::{RefusedReason, Snapshot, SourceFile};

/// What admission needs besides the files.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmitOptions {
    /// Path of `tenants.yaml` in the repository.
    pub tenants_file: String,
    pub limits: Limits,
    /// The classes whose Gateways gwsync manages; Gateways of another class are left alone
    /// (another controller's, or another gwsync instance's).
    pub gateway_classes: Vec<String>,
}

/// One owner's documents and diagnostics while admission runs.
#[derive(Debug, Clone, Default)]
pub(super) struct Bucket {
    pub(super) documents: Vec<Document>,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Bucket {
    pub(super) fn refused(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Refusal)
    }
}

pub(super) fn refused_entry(reason: &RefusedReason) -> Diagnostic {
    match reason {
        RefusedReason::Symlink { target } => Diagnostic::refusal(
            codes::SYMLINK,
            format!("symbolic link (to `{target}`) refused: gwsync never follows links"),
        ),
        RefusedReason::TooLarge { size, limit } => Diagnostic::refusal(
            codes::FILE_TOO_LARGE,
            format!("{size} bytes; the limit (limits.max_file_bytes) is {limit}"),
        ),
        RefusedReason::NonUtf8Path => {
            Diagnostic::refusal(codes::NON_UTF8_PATH, "the file name is not valid UTF-8")
        }
        RefusedReason::UnprintablePath => Diagnostic::refusal(
            codes::UNPRINTABLE_PATH,
            "the file or folder name holds a control character (a newline, an escape)",
        ),
    }
}

/// Loads one owner's files and checks where their documents are placed: the per-owner work
/// that depends only on those files, the owner and the limits, which [`AdmissionCache`]
/// keeps between revisions.
pub(super) fn load_owner(
    files: &[&SourceFile],
    owner: &Owner,
    is_platform: bool,
    limits: &Limits,
) -> Bucket {
    let mut bucket = Bucket::default();
    if let Some(refusal) = too_large(files, owner, limits) {
        bucket.diagnostics.push(refusal);
        return bucket;
    }
    for file in files {
        let load = manifest::load_file(&file.path, &file.bytes, limits);
        bucket.documents.extend(load.documents);
        bucket.diagnostics.extend(load.diagnostics);
    }
    check_placement(&mut bucket, owner, is_platform);
    let problems: Vec<Diagnostic> = bucket
        .documents
        .iter()
        .flat_map(super::resources::problems)
        .collect();
    bucket.diagnostics.extend(problems);
    bucket
}

/// Refuses an owner whose folder holds more files or bytes than its limits allow, before
/// any of them is parsed: one team's flood of files refuses that team, not the revision.
fn too_large(files: &[&SourceFile], owner: &Owner, limits: &Limits) -> Option<Diagnostic> {
    let bytes: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let what = if files.len() > limits.max_files_per_owner {
        format!(
            "{} manifest files; the limit (limits.max_files_per_owner) is {}",
            files.len(),
            limits.max_files_per_owner
        )
    } else if bytes > limits.max_bytes_per_owner {
        format!(
            "{bytes} bytes of manifests; the limit (limits.max_bytes_per_owner) is {}",
            limits.max_bytes_per_owner
        )
    } else {
        return None;
    };
    Some(
        Diagnostic::refusal(
            codes::OWNER_TOO_LARGE,
            format!(
                "folder {} holds {what}; none of its files was read",
                owner.path
            ),
        )
        .at(owner.path.trim_end_matches('/'), None),
    )
}

/// Reads and checks the tenants file; every problem refuses the revision.
pub(super) fn load_tenancy(
    snapshot: &Snapshot,
    options: &AdmitOptions,
) -> Result<Tenancy, Vec<Diagnostic>> {
    let file = &options.tenants_file;
    let Some(source) = snapshot.files.iter().find(|f| &f.path == file) else {
        let refused = snapshot.entries_refused.iter().find(|e| &e.path == file);
        let d = match refused {
            Some(e) => refused_entry(&e.reason),
            None => Diagnostic::refusal(
                codes::INVALID_TENANTS,
                "the tenants file is missing from this revision",
            ),
        };
        return Err(vec![d.at(file, None)]);
    };
    let load = manifest::load_file(file, &source.bytes, &options.limits);
    let mut problems: Vec<Diagnostic> = load
        .diagnostics
        .into_iter()
        .filter(|d| d.severity != Severity::Warning)
        .map(|d| d.with_severity(Severity::Refusal))
        .collect();
    let mut tenants = None;
    for doc in load.documents {
        match (&doc.body, &tenants) {
            (Body::Tenants(spec), None) => tenants = Some((spec.clone(), doc.origin.line)),
            _ => problems.push(doc.diagnostic(Diagnostic::refusal(
                codes::INVALID_TENANTS,
                "the tenants file must hold exactly one Tenants document",
            ))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some((spec, line)) = tenants else {
        return Err(vec![
            Diagnostic::refusal(codes::INVALID_TENANTS, "the tenants file holds no document")
                .at(file, None),
        ]);
    };
    Tenancy::from_spec(&spec, file, line)
}

/// Kind placement and namespace: the folder decides the owner, the owner decides the kinds
/// and the namespace. Documents without a namespace get their owner's.
fn check_placement(bucket: &mut Bucket, owner: &Owner, is_platform: bool) {
    let mut kept = Vec::new();
    for mut doc in std::mem::take(&mut bucket.documents) {
        // A TargetGroupConfiguration without targetReference is a load balancer's default
        // (`defaultTargetGroupConfiguration`): the platform's, like the load balancer.
        let default_target_group = matches!(&doc.body,
            Body::TargetGroupConfiguration(spec) if spec.target_reference.is_none());
        let platform_kind = default_target_group
            || matches!(
                doc.key.kind,
                Kind::GatewayClass | Kind::Gateway | Kind::LoadBalancerConfiguration
            );
        let problem = if doc.key.kind == Kind::Tenants {
            Some(Diagnostic::refusal(
                codes::KIND_NOT_ALLOWED_HERE,
                "a Tenants document belongs only in the tenants file",
            ))
        } else if is_platform && !platform_kind {
            Some(Diagnostic::refusal(
                codes::KIND_NOT_ALLOWED_HERE,
                format!(
                    "{} is a team kind; the platform folder holds GatewayClass, Gateway, LoadBalancerConfiguration and default TargetGroupConfigurations (without targetReference)",
                    doc.key.kind
                ),
            ))
        } else if !is_platform && default_target_group {
            Some(
                Diagnostic::refusal(
                    codes::KIND_NOT_ALLOWED_HERE,
                    "a TargetGroupConfiguration without targetReference is a load balancer's default, which only the platform declares; name the Service it configures in spec.targetReference",
                )
                .field("spec.targetReference"),
            )
        } else if !is_platform && platform_kind {
            Some(Diagnostic::refusal(
                codes::KIND_NOT_ALLOWED_HERE,
                format!(
                    "{} is a platform kind; only the platform folder `{}` may declare it",
                    doc.key.kind, owner.path
                ),
            ))
        } else {
            match &doc.key.namespace {
                Some(ns) if ns != &owner.namespace => Some(
                    Diagnostic::refusal(
                        codes::NAMESPACE_MISMATCH,
                        format!(
                            "namespace `{ns}` is not `{}`, the namespace of {} (folder `{}`)",
                            owner.namespace,
                            if is_platform {
                                "the platform".to_string()
                            } else {
                                format!("team {}", owner.name)
                            },
                            owner.path
                        ),
                    )
                    .field("metadata.namespace"),
                ),
                _ => None,
            }
        };
        match problem {
            Some(d) => bucket.diagnostics.push(doc.diagnostic(d)),
            None => {
                doc.key.namespace = Some(owner.namespace.clone());
                kept.push(doc);
            }
        }
    }
    bucket.documents = kept;
}
