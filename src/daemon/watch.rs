//! File-system triggers: a new commit in a local repository, an edited configuration file.
//!
//! A commit moves a branch by renaming a file under `refs/` (or rewriting `packed-refs`);
//! editors replace a configuration file rather than write it in place. So the watcher
//! follows the Git directory's `refs/` tree and its top level, and the configuration file's
//! folder, and reports only events on the paths that matter. Events arrive in bursts (one
//! commit is several renames): the loop coalesces them. This module only reports; it never
//! reads the repository or the configuration.

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What changed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A reference of the local repository (a commit, a reset, a branch switch).
    Repository,
    /// The configuration file.
    Config,
}

/// Keeps the watches alive; dropping it stops them.
pub struct Watches {
    _watcher: RecommendedWatcher,
}

/// Watches `git_dir` (a local repository's Git directory) and `config_file`, sending a
/// [`Change`] for every relevant event.
pub fn start(
    git_dir: Option<&Path>,
    config_file: Option<&Path>,
    changes: mpsc::Sender<Change>,
) -> notify::Result<Watches> {
    let git_dir = git_dir.map(canonical);
    let config_file = config_file.map(canonical);
    let routes = Routes {
        git_dir: git_dir.clone(),
        config_file: config_file.clone(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            if let Some(change) = routes.classify(path) {
                // A full channel already holds a pending trigger of this burst.
                let _ = changes.try_send(change);
            }
        }
    })?;
    if let Some(dir) = &git_dir {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        let refs = dir.join("refs");
        if refs.is_dir() {
            watcher.watch(&refs, RecursiveMode::Recursive)?;
        }
    }
    if let Some(parent) = config_file.as_deref().and_then(Path::parent) {
        watcher.watch(parent, RecursiveMode::NonRecursive)?;
    }
    Ok(Watches { _watcher: watcher })
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Which watched path an event is about.
struct Routes {
    git_dir: Option<PathBuf>,
    config_file: Option<PathBuf>,
}

impl Routes {
    fn classify(&self, path: &Path) -> Option<Change> {
        if self.config_file.as_deref() == Some(path) {
            return Some(Change::Config);
        }
        let dir = self.git_dir.as_deref()?;
        let rel = path.strip_prefix(dir).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        // Lock files come and go before the rename that matters.
        let is_lock = path.extension().is_some_and(|e| e == "lock");
        match first {
            "refs" | "packed-refs" | "HEAD" if !is_lock => Some(Change::Repository),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_references_and_the_config_file_count() {
        let routes = Routes {
            git_dir: Some(PathBuf::from("/r/.git")),
            config_file: Some(PathBuf::from("/etc/gwsync/gwsync.toml")),
        };
        let c = |p: &str| routes.classify(Path::new(p));
        assert_eq!(c("/r/.git/refs/heads/main"), Some(Change::Repository));
        assert_eq!(c("/r/.git/packed-refs"), Some(Change::Repository));
        assert_eq!(c("/r/.git/HEAD"), Some(Change::Repository));
        assert_eq!(c("/r/.git/refs/heads/main.lock"), None);
        assert_eq!(c("/r/.git/objects/ab/cdef"), None);
        assert_eq!(c("/r/.git/index"), None);
        assert_eq!(c("/etc/gwsync/gwsync.toml"), Some(Change::Config));
        assert_eq!(c("/etc/gwsync/other.toml"), None);
    }
}
