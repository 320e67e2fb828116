//! Tenancy: what `tenants.yaml` means, and admission, team by team.
//!
//! [`Tenancy`] is the checked form of the `Tenants` document: the platform's and each team's
//! folder, namespace, labels and grants. [`admit`] takes one revision's files and decides,
//! for the platform and for every team, which documents are admitted and why the others are
//! refused. It is pure: no Git, no AWS, no clock.
//!
//! The rules it enforces are the repo contract in the README: a file's folder decides its
//! owner; a document's namespace must be its owner's; platform kinds live in the platform
//! folder and team kinds in team folders; hostnames, shared-hostname paths and existing
//! target groups must be inside the team's grants. Unresolved references (a parent that does
//! not accept the route, a backend that is not declared or not granted) are errors on the
//! object, not refusals: the Gateway API spec keeps such routes, answering 500 where a
//! backend is missing. Translation decides what those errors do to the ALB.
//!
//! [`admit_incremental`] is the same admission for a caller that admits revision after
//! revision (the daemon): its [`AdmissionCache`] keeps each owner's loaded documents, keyed
//! on a digest of the owner's files, so that only the teams whose folders changed are read
//! again.

mod admit;
mod attach;
mod cache;
mod classes;
pub mod codeowners;
mod load;
pub mod refs;
mod resources;

pub use admit::{Admission, Outcome, Verdict, admit, admit_incremental};
pub use attach::{Attachment, ListenerRef, ParentKind};
pub use cache::{AdmissionCache, CacheStats, FullReason, team_digests};
pub use classes::CONTROLLER_NAMES;
pub use load::AdmitOptions;

use crate::diagnostic::{Diagnostic, codes};
use crate::hostname;
use crate::manifest::tenants::TenantsSpec;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

/// The platform or one team, as `tenants.yaml` declares it.
#[derive(Debug, Clone)]
pub struct Owner {
    /// `platform` for the platform; the team's name otherwise.
    pub name: String,
    /// Folder prefix, always ending in `/`.
    pub path: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub owners: Vec<String>,
    pub grants: Grants,
}

/// What a team may claim. The platform's grants are unused: it declares listeners, not
/// routes.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub hostnames: Vec<String>,
    pub paths: BTreeMap<String, Vec<String>>,
    pub target_group_patterns: Vec<String>,
    target_groups: GlobSet,
}

impl Grants {
    /// Is this hostname (exact or wildcard) inside the team's hostname grants?
    pub fn covers_hostname(&self, name: &str) -> bool {
        self.hostnames.iter().any(|g| hostname::covers(g, name))
    }

    /// The path prefixes granted on a shared hostname, if any.
    pub fn shared_paths(&self, name: &str) -> Option<&[String]> {
        self.paths
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, p)| p.as_slice())
    }

    pub fn covers_target_group(&self, name: &str) -> bool {
        self.target_groups.is_match(name)
    }
}

/// The checked `tenants.yaml`.
#[derive(Debug, Clone)]
pub struct Tenancy {
    pub platform: Owner,
    pub teams: Vec<Owner>,
    /// Each team's folder (ending in `/`) to its index in `teams`.
    folders: BTreeMap<String, usize>,
}

/// Who owns a path of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOwner {
    Platform,
    Team(usize),
    /// Hidden folders and files (`.github/`, `.gitignore`) are not part of the contract.
    Ignored,
    Unowned,
}

/// The label Kubernetes puts on every namespace; selectors may use it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl Tenancy {
    /// Checks a `Tenants` document. Every problem is reported (against `file`); any problem
    /// makes the whole revision invalid, since ownership cannot be decided without it.
    pub fn from_spec(
        spec: &TenantsSpec,
        file: &str,
        line: usize,
    ) -> Result<Tenancy, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut bad = |field: String, message: String| {
            problems.push(
                Diagnostic::refusal(codes::INVALID_TENANTS, message)
                    .at(file, Some(line))
                    .object("Tenants")
                    .field(field),
            )
        };
        let platform_path = normalize_folder(&spec.platform.path);
        if let Err(m) = check_folder(&platform_path) {
            bad("platform.path".into(), m);
        }
        if !crate::manifest::is_namespace_name(&spec.platform.namespace) {
            bad(
                "platform.namespace".into(),
                format!("`{}` is not a valid namespace", spec.platform.namespace),
            );
        }
        let platform = Owner {
            name: "platform".to_string(),
            path: platform_path,
            namespace: spec.platform.namespace.clone(),
            labels: spec.platform.labels.clone(),
            owners: spec.platform.owners.clone(),
            grants: Grants::default(),
        };
        let mut teams: Vec<Owner> = Vec::new();
        for (i, t) in spec.teams.iter().enumerate() {
            let at = |f: &str| format!("teams[{i}].{f}");
            if !crate::manifest::is_namespace_name(&t.name) || t.name == "platform" {
                bad(
                    at("name"),
                    format!(
                        "`{}` must be a lowercase DNS label other than `platform`",
                        t.name
                    ),
                );
            }
            if teams.iter().any(|o| o.name == t.name) {
                bad(at("name"), format!("team `{}` is declared twice", t.name));
            }
            let path = normalize_folder(&t.path);
            if let Err(m) = check_folder(&path) {
                bad(at("path"), m);
            }
            for other in teams.iter().chain(std::iter::once(&platform)) {
                if path.starts_with(&other.path) || other.path.starts_with(&path) {
                    bad(
                        at("path"),
                        format!(
                            "folder `{path}` overlaps `{}` of {}; every file must have one owner",
                            other.path, other.name
                        ),
                    );
                }
            }
            if !crate::manifest::is_namespace_name(&t.namespace) {
                bad(
                    at("namespace"),
                    format!("`{}` is not a valid namespace", t.namespace),
                );
            }
            // A team may share the platform's namespace (that is how routes reach
            // `allowedRoutes: Same` listeners) but never another team's: objects in one
            // namespace must have one owner.
            if let Some(other) = teams.iter().find(|o| o.namespace == t.namespace) {
                bad(
                    at("namespace"),
                    format!(
                        "namespace `{}` already belongs to team {}",
                        t.namespace, other.name
                    ),
                );
            }
            for (j, h) in t.hostnames.iter().enumerate() {
                if h != "*" && !hostname::is_valid(h) {
                    bad(
                        format!("teams[{i}].hostnames[{j}]"),
                        format!("`{h}` is not a hostname, `*.` wildcard or `*`"),
                    );
                }
            }
            for (h, prefixes) in &t.paths {
                if !hostname::is_valid(h) || h.starts_with('*') {
                    bad(
                        format!("teams[{i}].paths.{h}"),
                        "shared-path grants take exact hostnames".to_string(),
                    );
                }
                for p in prefixes {
                    if !p.starts_with('/') {
                        bad(
                            format!("teams[{i}].paths.{h}"),
                            format!("path prefix `{p}` must start with `/`"),
                        );
                    }
                }
            }
            let mut globs = GlobSetBuilder::new();
            for (j, g) in t.target_groups.iter().enumerate() {
                match Glob::new(g) {
                    Ok(glob) => {
                        globs.add(glob);
                    }
                    Err(e) => bad(
                        format!("teams[{i}].targetGroups[{j}]"),
                        format!("`{g}` is not a valid glob: {e}"),
                    ),
                }
            }
            let target_groups = globs.build().unwrap_or_else(|_| GlobSet::empty());
            teams.push(Owner {
                name: t.name.clone(),
                path,
                namespace: t.namespace.clone(),
                labels: t.labels.clone(),
                owners: t.owners.clone(),
                grants: Grants {
                    hostnames: t.hostnames.clone(),
                    paths: t
                        .paths
                        .iter()
                        .map(|(h, p)| (h.to_ascii_lowercase(), p.clone()))
                        .collect(),
                    target_group_patterns: t.target_groups.clone(),
                    target_groups,
                },
            });
        }
        if problems.is_empty() {
            let folders = teams
                .iter()
                .enumerate()
                .map(|(i, t)| (t.path.clone(), i))
                .collect();
            Ok(Tenancy {
                platform,
                teams,
                folders,
            })
        } else {
            Err(problems)
        }
    }

    /// The owner of a repository path.
    pub fn owner_of(&self, path: &str) -> PathOwner {
        if path.split('/').any(|part| part.starts_with('.')) {
            PathOwner::Ignored
        } else if path.starts_with(&self.platform.path) {
            PathOwner::Platform
        } else if let Some(i) = self.team_folder_of(path) {
            PathOwner::Team(i)
        } else {
            PathOwner::Unowned
        }
    }

    /// The team whose folder holds `path`. Folders end in `/` and never nest, so each `/` of
    /// the path names one candidate, looked up: a path costs its depth, not the team count.
    fn team_folder_of(&self, path: &str) -> Option<usize> {
        path.match_indices('/')
            .find_map(|(end, _)| self.folders.get(&path[..=end]).copied())
    }

    /// A warning when `changed` (the paths one commit changes) touches what the platform
    /// owns (the tenants file, the platform folder, hidden repository files such as
    /// `.github/CODEOWNERS`) together with team folders: a team's pull request that also
    /// widens its own grants, or the review rules, needs the platform's eyes.
    pub fn platform_changed_with_teams(
        &self,
        changed: &[String],
        tenants_file: &str,
    ) -> Option<Diagnostic> {
        let mut platform_paths = Vec::new();
        let mut teams = std::collections::BTreeSet::new();
        for path in changed {
            match self.owner_of(path) {
                PathOwner::Team(i) => {
                    teams.insert(self.teams[i].name.as_str());
                }
                PathOwner::Platform | PathOwner::Ignored => platform_paths.push(path.as_str()),
                PathOwner::Unowned if path == tenants_file => platform_paths.push(path.as_str()),
                PathOwner::Unowned => {}
            }
        }
        if teams.is_empty() || platform_paths.is_empty() {
            return None;
        }
        let teams: Vec<&str> = teams.into_iter().collect();
        Some(
            Diagnostic::warning(
                codes::TENANTS_CHANGED_WITH_TEAMS,
                format!(
                    "this commit changes {} together with the folders of team(s) {}: a team's change that also changes ownership, grants or review rules needs the platform's review",
                    platform_paths.join(", "),
                    teams.join(", ")
                ),
            )
            .at(platform_paths[0], None),
        )
    }

    /// The owner (a team, or `platform`) whose folder holds namespace `namespace`.
    pub fn owner_of_namespace(&self, namespace: &str) -> Option<&str> {
        std::iter::once(&self.platform)
            .chain(&self.teams)
            .find(|o| o.namespace == namespace)
            .map(|o| o.name.as_str())
    }

    /// Labels of a namespace, including the name label Kubernetes adds to every namespace.
    pub fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        for owner in std::iter::once(&self.platform).chain(&self.teams) {
            if owner.namespace == namespace {
                labels.extend(owner.labels.clone());
            }
        }
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string());
        labels
    }
}

fn normalize_folder(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_end_matches('/');
    format!("{trimmed}/")
}

fn check_folder(path: &str) -> Result<(), String> {
    let inner = path.trim_end_matches('/');
    if inner.is_empty()
        || path.starts_with('/')
        || inner
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".." || p.starts_with('.'))
    {
        Err(format!(
            "`{path}` must be a relative folder inside the repository, not the root, without `..` or hidden parts"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
