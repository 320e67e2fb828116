//! The admission cache: what one revision's admission hands to the next, so that a daemon
//! that admits every new commit reads again only the teams whose files changed.
//!
//! Loading (the YAML parse and typed deserialisation) is most of admission's time, and one
//! owner's load depends on nothing but that owner's files, the owner as `tenants.yaml`
//! declares it and the options. So [`AdmissionCache`] keeps, per owner, a SHA-256 digest of
//! its files (path and bytes) and its bucket after loading and placement; an owner whose
//! digest is unchanged gets a copy of that bucket instead of a new parse. Everything that
//! looks across owners (duplicates, the platform's rules, ListenerSets, references, routes
//! against parents) runs over every owner on every call, in [`super::admit_incremental`].
//!
//! Anything else an owner's load could depend on drops the whole cache: the options, the
//! tenants file (it declares the owners), and the platform folder or a file outside every
//! team folder. Refused entries and submodules are reported afresh on every call, so they
//! are not part of any digest; hidden paths are never read, so they are not either.

use super::load::{AdmitOptions, Bucket, load_owner, load_tenancy};
use super::{PathOwner, Tenancy};
use crate::diagnostic::Diagnostic;
use crate::source::{Snapshot, SourceFile};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// SHA-256 of a list of files, paths and bytes.
type Digest = [u8; 32];

/// What admission keeps between revisions. Start with `AdmissionCache::default()` and pass
/// the same cache to [`super::admit_incremental`] for every revision; the result is always
/// the one [`super::admit`] gives for that revision.
#[derive(Debug)]
pub struct AdmissionCache {
    /// False for one-shot admission ([`super::admit`]): nothing is kept, so the loads go
    /// to admission without the copy a kept load needs.
    keep: bool,
    /// `None` before the first revision, and after one whose tenants file was invalid.
    revision: Option<CachedRevision>,
    stats: CacheStats,
}

impl Default for AdmissionCache {
    fn default() -> Self {
        AdmissionCache {
            keep: true,
            revision: None,
            stats: CacheStats::default(),
        }
    }
}

/// What the last call of [`super::admit_incremental`] did with the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Why nothing cached could be reused; `None` when the call was incremental.
    pub full: Option<FullReason>,
    /// Owners whose files were loaded (`platform` or a team's name), in `tenants.yaml` order.
    pub owners_loaded: Vec<String>,
    /// Owners whose cached load was reused.
    pub owners_reused: usize,
}

/// Why a call loaded every owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReason {
    /// The first revision, or the previous one had an invalid tenants file.
    NothingCached,
    /// The tenants file's path, the limits or the Gateway class changed.
    OptionsChanged,
    TenantsFileChanged,
    /// The platform folder changed, or a file outside every team folder.
    SharedFilesChanged,
}

/// The last revision's inputs that every owner's load depends on, and each owner's load.
#[derive(Debug)]
struct CachedRevision {
    options: AdmitOptions,
    tenants: Digest,
    tenancy: Tenancy,
    /// The platform folder and the files outside every folder.
    shared: Digest,
    platform: Bucket,
    /// In `tenancy.teams` order.
    teams: Vec<CachedOwner>,
}

#[derive(Debug)]
struct CachedOwner {
    files: Digest,
    bucket: Bucket,
}

/// One revision's files (the tenants file aside) by owner, as the cache keys them.
struct FilesByOwner<'a> {
    platform: Vec<&'a SourceFile>,
    teams: Vec<Vec<&'a SourceFile>>,
    outside: Vec<&'a SourceFile>,
}

impl<'a> FilesByOwner<'a> {
    fn of(snapshot: &'a Snapshot, tenancy: &Tenancy, options: &AdmitOptions) -> Self {
        let mut files = FilesByOwner {
            platform: Vec::new(),
            teams: vec![Vec::new(); tenancy.teams.len()],
            outside: Vec::new(),
        };
        for file in &snapshot.files {
            if file.path == options.tenants_file {
                continue;
            }
            match tenancy.owner_of(&file.path) {
                PathOwner::Platform => files.platform.push(file),
                PathOwner::Team(i) => files.teams[i].push(file),
                PathOwner::Unowned => files.outside.push(file),
                PathOwner::Ignored => {}
            }
        }
        files
    }

    fn shared_digest(&self) -> Digest {
        digest(self.platform.iter().chain(&self.outside).copied())
    }
}

/// SHA-256 (hex) of each team's files at `snapshot`, by team name, as the cache keys them:
/// what tells a revision that changes a team from one that does not (one pass over the
/// files).
pub fn team_digests(
    snapshot: &Snapshot,
    tenancy: &Tenancy,
    options: &AdmitOptions,
) -> BTreeMap<String, String> {
    let files = FilesByOwner::of(snapshot, tenancy, options);
    tenancy
        .teams
        .iter()
        .zip(&files.teams)
        .map(|(team, team_files)| {
            (
                team.name.clone(),
                hex::encode(digest(team_files.iter().copied())),
            )
        })
        .collect()
}

fn digest<'a>(files: impl IntoIterator<Item = &'a SourceFile>) -> Digest {
    let mut hasher = Sha256::new();
    // Lengths first, so that no two lists of files hash the same bytes.
    for file in files {
        hasher.update((file.path.len() as u64).to_le_bytes());
        hasher.update(file.path.as_bytes());
        hasher.update((file.bytes.len() as u64).to_le_bytes());
        hasher.update(&file.bytes);
    }
    hasher.finalize().into()
}

impl AdmissionCache {
    /// A cache for one revision that keeps nothing: what [`super::admit`] uses.
    pub(super) fn one_shot() -> AdmissionCache {
        AdmissionCache {
            keep: false,
            ..AdmissionCache::default()
        }
    }

    /// What the last admission did with the cache.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The revision's tenancy and every owner's bucket after loading and placement (index 0
    /// the platform, `i + 1` team `i`): cached where nothing they depend on changed, loaded
    /// otherwise. An invalid tenants file empties the cache and returns its problems.
    pub(super) fn load(
        &mut self,
        snapshot: &Snapshot,
        options: &AdmitOptions,
    ) -> Result<(Tenancy, Vec<Bucket>), Vec<Diagnostic>> {
        let tenants = digest(
            snapshot
                .files
                .iter()
                .filter(|f| f.path == options.tenants_file),
        );
        let previous = self.revision.take();
        let mut full = match &previous {
            None => Some(FullReason::NothingCached),
            Some(p) if p.options != *options => Some(FullReason::OptionsChanged),
            Some(p) if p.tenants != tenants => Some(FullReason::TenantsFileChanged),
            Some(_) => None,
        };
        let tenancy = match (&previous, full) {
            (Some(p), None) => p.tenancy.clone(),
            _ => match load_tenancy(snapshot, options) {
                Ok(tenancy) => tenancy,
                Err(problems) => {
                    self.stats = CacheStats {
                        full,
                        ..CacheStats::default()
                    };
                    return Err(problems);
                }
            },
        };
        let files = FilesByOwner::of(snapshot, &tenancy, options);
        let shared = files.shared_digest();
        if full.is_none() && previous.as_ref().is_some_and(|p| p.shared != shared) {
            full = Some(FullReason::SharedFilesChanged);
        }
        let previous = previous.filter(|_| full.is_none());

        let mut stats = CacheStats {
            full,
            ..CacheStats::default()
        };
        let (platform, cached_teams) = match previous {
            Some(p) => {
                stats.owners_reused += 1;
                (p.platform, p.teams)
            }
            None => {
                stats.owners_loaded.push(tenancy.platform.name.clone());
                let platform =
                    load_owner(&files.platform, &tenancy.platform, true, &options.limits);
                (platform, Vec::new())
            }
        };
        // A full call has no cached teams; otherwise the tenancy, hence the team list, is
        // the cached one.
        let mut cached_teams = cached_teams.into_iter();
        let mut teams = Vec::with_capacity(tenancy.teams.len());
        for (team, team_files) in tenancy.teams.iter().zip(&files.teams) {
            let files_digest = digest(team_files.iter().copied());
            let owner = match cached_teams.next() {
                Some(cached) if cached.files == files_digest => {
                    stats.owners_reused += 1;
                    cached
                }
                _ => {
                    stats.owners_loaded.push(team.name.clone());
                    CachedOwner {
                        files: files_digest,
                        bucket: load_owner(team_files, team, false, &options.limits),
                    }
                }
            };
            teams.push(owner);
        }

        self.stats = stats;
        if !self.keep {
            let buckets = std::iter::once(platform)
                .chain(teams.into_iter().map(|t| t.bucket))
                .collect();
            return Ok((tenancy, buckets));
        }
        let buckets = std::iter::once(platform.clone())
            .chain(teams.iter().map(|t| t.bucket.clone()))
            .collect();
        self.revision = Some(CachedRevision {
            options: options.clone(),
            tenants,
            tenancy: tenancy.clone(),
            shared,
            platform,
            teams,
        });
        Ok((tenancy, buckets))
    }
}

impl fmt::Display for FullReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FullReason::NothingCached => "nothing cached",
            FullReason::OptionsChanged => "the admission options changed",
            FullReason::TenantsFileChanged => "the tenants file changed",
            FullReason::SharedFilesChanged => {
                "the platform folder or a file outside every team folder changed"
            }
        })
    }
}

/// `full (the tenants file changed): read 43 owners` or
/// `incremental: read 1 (payments), reused 42`.
impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.full {
            Some(reason) => write!(
                f,
                "full ({reason}): read {} owners",
                self.owners_loaded.len()
            ),
            None if self.owners_loaded.is_empty() => {
                write!(f, "incremental: read 0, reused {}", self.owners_reused)
            }
            None => write!(
                f,
                "incremental: read {} ({}), reused {}",
                self.owners_loaded.len(),
                self.owners_loaded.join(", "),
                self.owners_reused
            ),
        }
    }
}
