//! The Git edge of the pipeline: reads exactly one revision of the GitOps repository into a
//! [`Snapshot`].
//!
//! This module owns everything `git2`: opening a local repository in place, or keeping a bare
//! clone of a remote one in the state directory; fetching into that clone, and the
//! credentials (SSH key, HTTPS token) that takes; resolving a branch, tag or SHA to a
//! [`Revision`]; reading that commit's tree. It never checks anything out and reads Git
//! objects only, so the same revision always yields the same bytes, whatever the state of a
//! working tree or of the branches. Only `--worktree` reads a working tree, by writing it as
//! a tree first (`worktree`).
//!
//! It does not parse YAML, judge file contents (encoding, NUL bytes) or know about teams: it
//! reports what the tree holds (manifest files, refused entries such as symlinks, submodules)
//! and leaves validity to the `manifest` stage and ownership to the `tenancy` stage.

mod error;
mod history;
mod remote;
mod snapshot;
mod worktree;

pub use error::SourceError;
pub use remote::{GitAuth, redact_url};
pub use snapshot::{OverLimits, RefusedEntry, RefusedReason, Snapshot, SourceFile};
pub use worktree::{Side, WorkingTree};

use crate::config::{Limits, RepoLocation};
use git2::{Commit, ErrorCode, Object, ObjectType, Repository};
use remote::Origin;
use std::path::Path;

/// gwsync's cache files inside a repository's Git directory ([`Source::read_cache`]).
const CACHE_DIR: &str = "gwsync";

/// Name of the bare clone of a remote repository inside the state directory.
pub const CLONE_DIR_NAME: &str = "repo.git";

/// The commit a snapshot was read from, with what an operator needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revision {
    /// The full commit id, 40 hex digits.
    pub commit: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// Committer time, in Unix seconds: when the commit entered the history.
    pub committed_at: i64,
    /// The first line of the commit message.
    pub summary: String,
}

impl Revision {
    fn of(commit: &Commit<'_>) -> Revision {
        let author = commit.author();
        Revision {
            commit: commit.id().to_string(),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            ),
            committed_at: commit.time().seconds(),
            summary: commit
                .summary_bytes()
                .map(|summary| String::from_utf8_lossy(summary).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// A commit id shortened for people (12 hex digits, as `git log --abbrev=12`).
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// An opened GitOps repository: a local one read in place, or the clone of a remote one.
pub struct Source {
    repo: Repository,
    /// Where a remote source fetches from; `None` for a local repository, never fetched into.
    origin: Option<Origin>,
}

impl Source {
    /// Opens the repository at `path` (a working tree or a bare repository) in place. Only
    /// its Git objects and references are read; the working tree is ignored.
    pub fn open_local(path: &Path) -> Result<Source, SourceError> {
        let repo = Repository::open(path).map_err(|source| SourceError::OpenRepo {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source { repo, origin: None })
    }

    /// Opens the bare clone of the repository at `url` kept in `clone_dir`.
    ///
    /// The first time (`clone_dir` missing or empty) the clone is created and fetched. Later
    /// the clone is reused as it is, and [`Source::fetch`] brings it up to date; it is fetched
    /// here again only if it has no branches yet (an earlier fetch failed) or if it was
    /// following another URL (its `origin` is then pointed at `url`).
    ///
    /// The clone must be this user's: a clone (or state directory) owned by another user, as
    /// when root runs a command on the daemon's `/var/lib/gwsync`, is refused before anything
    /// is written, since files root leaves there would stop the daemon. A first fetch that
    /// fails leaves no directory behind.
    pub fn open_remote(url: &str, clone_dir: &Path, auth: GitAuth) -> Result<Source, SourceError> {
        let origin = Origin::new(url, auth)?;
        remote::check_owner(clone_dir)?;
        let created = remote::first_missing_ancestor(clone_dir);
        let opened = origin
            .open_clone(clone_dir)
            .and_then(|(repo, needs_fetch)| {
                let source = Source {
                    repo,
                    origin: Some(origin),
                };
                if needs_fetch {
                    source.fetch()?;
                }
                Ok(source)
            });
        if opened.is_err()
            && let Some(dir) = created
        {
            // Best effort: what this call made goes, whatever it holds.
            let _ = std::fs::remove_dir_all(dir);
        }
        opened
    }

    /// Opens `location`: a local path in place, a remote URL through its clone in
    /// `state_dir/repo.git`. `auth` is only used for remotes.
    pub fn open(
        location: &RepoLocation,
        state_dir: &Path,
        auth: GitAuth,
    ) -> Result<Source, SourceError> {
        match location {
            RepoLocation::Path(path) => Source::open_local(path),
            RepoLocation::Url(url) => {
                Source::open_remote(url, &state_dir.join(CLONE_DIR_NAME), auth)
            }
        }
    }

    /// The commit `branch` is at on the remote repository at `url`, asked of the remote
    /// with `auth` (as `git ls-remote` does: no clone, nothing written), for `gwsync doctor`.
    /// None when the remote has no such branch or tag.
    pub fn remote_tip(
        url: &str,
        auth: GitAuth,
        branch: &str,
    ) -> Result<Option<String>, SourceError> {
        Origin::new(url, auth)?.tip(branch)
    }

    /// Brings the clone of a remote source up to date: every branch (into
    /// `refs/remotes/origin/*`) and every tag, following force-pushes and removing what was
    /// deleted on the remote. Does nothing for a local source.
    pub fn fetch(&self) -> Result<(), SourceError> {
        match &self.origin {
            Some(origin) => origin.fetch(&self.repo),
            None => Ok(()),
        }
    }

    /// The Git directory of a local source (where its references change when someone
    /// commits), for watching; `None` for the clone of a remote, which only `fetch` changes.
    pub fn local_git_dir(&self) -> Option<&Path> {
        match self.origin {
            None => Some(self.repo.path()),
            Some(_) => None,
        }
    }

    /// A cache file gwsync keeps in the repository's Git directory (`<git dir>/gwsync/NAME`):
    /// what can be derived from the history again, kept so that it need not be. None when
    /// there is none or it cannot be read.
    pub fn read_cache(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.repo.path().join(CACHE_DIR).join(name)).ok()
    }

    /// Writes a cache file (see [`Source::read_cache`]) atomically: a temporary file renamed
    /// over the old one, readable by its owner only. Never into a Git directory another user
    /// owns (root running a command on the daemon's repository): a file left there would be
    /// one its owner cannot replace.
    pub fn write_cache(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.repo.path().join(CACHE_DIR);
        if let Some((path, owner)) = crate::config::permissions::foreign_owner(&dir) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} belongs to uid {owner}", path.display()),
            ));
        }
        crate::config::permissions::create_private_dir(&dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        file.write_all(bytes)?;
        file.persist(dir.join(name)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Resolves `rev` to a commit: a branch name, a tag (annotated or not), a full or
    /// abbreviated commit id, `HEAD`, or any other Git revision expression.
    ///
    /// Branches come first. For a remote source a branch is the remote's
    /// (`refs/remotes/origin/<rev>`, and `HEAD` is the remote's default branch), then a local
    /// `refs/heads/<rev>`; for a local source, `refs/heads/<rev>`. Anything that does not
    /// lead to a commit is an error naming `rev`.
    pub fn resolve(&self, rev: &str) -> Result<Revision, SourceError> {
        let object = self.find_object(rev)?;
        let commit = object
            .peel_to_commit()
            .map_err(|_| SourceError::NotACommit {
                rev: rev.to_string(),
            })?;
        Ok(Revision::of(&commit))
    }

    /// Reads the manifest files of `revision`'s tree, within `limits`.
    ///
    /// Regular files named `*.yaml` / `*.yml` (any case) are read byte for byte; other files
    /// are ignored. Symlinks, manifests larger than `limits.max_file_bytes` and manifests or
    /// folders with non-UTF-8 paths are refused and reported; submodules are listed and not
    /// read. A revision over `limits.max_files` or `limits.max_total_bytes` loads nothing
    /// ([`Snapshot::over_limits`]), detected before any content is loaded. Everything is
    /// sorted by path.
    ///
    /// Only `revision.commit` is used: the snapshot's revision is read again from the commit,
    /// so a snapshot depends on the commit id alone.
    pub fn snapshot(&self, revision: &Revision, limits: &Limits) -> Result<Snapshot, SourceError> {
        snapshot::read_snapshot(&self.repo, revision, limits)
    }

    /// The object `rev` names, before peeling to a commit.
    fn find_object(&self, rev: &str) -> Result<Object<'_>, SourceError> {
        for name in self.branch_refs(rev) {
            match self
                .repo
                .find_reference(&name)
                .and_then(|reference| reference.peel(ObjectType::Any))
            {
                Ok(object) => return Ok(object),
                Err(error) if is_absent(&error) => continue,
                Err(error) => return Err(resolve_error(rev, error)),
            }
        }
        self.repo
            .revparse_single(rev)
            .map_err(|error| resolve_error(rev, error))
    }

    /// The references tried first for `rev`, as a branch name, most preferred first.
    fn branch_refs(&self, rev: &str) -> Vec<String> {
        let local = format!("refs/heads/{rev}");
        match self.origin {
            Some(_) => vec![remote::tracking_ref(rev), local],
            None => vec![local],
        }
    }
}

/// Whether `error` only says that a name leads nowhere (rather than that reading failed).
fn is_absent(error: &git2::Error) -> bool {
    matches!(
        error.code(),
        ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::UnbornBranch
    )
}

fn resolve_error(rev: &str, error: git2::Error) -> SourceError {
    if is_absent(&error) {
        SourceError::UnknownRevision {
            rev: rev.to_string(),
        }
    } else {
        SourceError::Resolve {
            rev: rev.to_string(),
            source: error,
        }
    }
}
