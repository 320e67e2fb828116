//! The errors of the source stage.
//!
//! Every variant names what it was working on (a path, a URL, a revision, a commit). URLs are
//! stored with their credentials redacted, and the `git2` errors that come from talking to a
//! remote are scrubbed of credentials before they are stored (see `remote::scrub`), so neither
//! `Display`, `Debug` nor the `source()` chain of a [`SourceError`] can show a token.
//!
//! Messages do not repeat their cause: it is reachable through `std::error::Error::source`,
//! which is what `gwsync::error_chain` prints at the edge.

use std::path::PathBuf;

/// Why the source stage could not open, fetch, resolve or read the GitOps repository.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Neither `repo.url` nor `repo.path` is configured (nor `--repo` given).
    #[error("no repository: pass --repo or set repo.url or repo.path in the configuration")]
    NoRepository,
    /// `repo.token_env` names an environment variable that is not set.
    #[error(
        "repo.token_env names the environment variable `{var}`, which is not set (the HTTPS token is read from it)"
    )]
    MissingToken { var: String },
    /// A credential would go over plain HTTP.
    #[error(
        "{url}: a token or password would be sent over plain http://; use https:// (or SSH with repo.ssh_key)"
    )]
    InsecureCredentials { url: String },
    /// The path is not a Git repository (working tree or bare), or cannot be read.
    #[error("cannot open the Git repository at {}", path.display())]
    OpenRepo {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    /// The clone (or the state directory it goes in) belongs to another user.
    #[error(
        "{} belongs to uid {owner}, not to this user: run gwsync as its owner (e.g. `sudo -u gwsync gwsync ...`), or pass --state-dir; nothing was written",
        path.display()
    )]
    ForeignStateDir { path: PathBuf, owner: u32 },
    /// The directory meant for the clone of a remote repository cannot be created.
    #[error("cannot create the clone directory {}", path.display())]
    CreateCloneDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The `origin` remote of the clone cannot be created or pointed at the configured URL.
    #[error("cannot configure the remote `origin` as {url}")]
    ConfigureRemote {
        url: String,
        #[source]
        source: git2::Error,
    },
    /// Fetching from the remote failed (network, authentication, missing repository).
    #[error("cannot fetch from {url}")]
    Fetch {
        url: String,
        #[source]
        source: git2::Error,
    },
    /// No branch, tag or commit has this name.
    #[error("unknown revision `{rev}`: no branch, tag or commit has this name")]
    UnknownRevision { rev: String },
    /// The name exists but does not lead to a commit (a tag of a tree or blob, a tree id).
    #[error("revision `{rev}` is not a commit")]
    NotACommit { rev: String },
    /// Looking the name up failed for another reason than its absence (an ambiguous short
    /// SHA, a corrupt reference).
    #[error("cannot resolve revision `{rev}`")]
    Resolve {
        rev: String,
        #[source]
        source: git2::Error,
    },
    /// `--worktree` on a repository without one (bare, or the clone of a remote).
    #[error(
        "--worktree needs a local repository with a working tree (not a bare repository or a URL)"
    )]
    NoWorkingTree,
    /// The working tree cannot be read or written as a tree.
    #[error("cannot read the working tree")]
    ReadWorkingTree {
        #[source]
        source: git2::Error,
    },
    /// The commit's tree, or one of its objects, cannot be read.
    #[error("cannot read the tree of commit {commit}")]
    ReadTree {
        commit: String,
        #[source]
        source: git2::Error,
    },
}
