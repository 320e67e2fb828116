//! The history of a branch, for the one thing later stages need from it: when each manifest
//! version first appeared. Gateway API breaks precedence ties by the age of a route, and
//! gwsync has no creation timestamps; the commit time of the first commit on the tracked
//! branch that contained a route stands in for it, the same in PR CI and on the host.

use super::snapshot::is_manifest_name;
use super::{Revision, Source, SourceError};
use crate::config::Limits;
use git2::{Delta, DiffOptions, FileMode, Oid};

impl Source {
    /// The paths `revision` changes against its first parent (added, modified, deleted,
    /// renamed: both sides), sorted. Empty for a root commit, which sets everything up.
    pub fn changed_paths(&self, revision: &Revision) -> Result<Vec<String>, SourceError> {
        let read = |source: git2::Error| SourceError::ReadTree {
            commit: revision.commit.clone(),
            source,
        };
        let commit = self
            .repo
            .find_commit(Oid::from_str(&revision.commit).map_err(read)?)
            .map_err(read)?;
        let Ok(parent) = commit.parent(0) else {
            return Ok(Vec::new());
        };
        self.diff_trees(Some(parent.tree_id()), Some(commit.tree_id()))
    }

    /// The paths that differ between two trees (None: the empty tree), both sides of each
    /// change, sorted and once each.
    pub(super) fn diff_trees(
        &self,
        old: Option<Oid>,
        new: Option<Oid>,
    ) -> Result<Vec<String>, SourceError> {
        let read = |source: git2::Error| SourceError::ReadTree {
            commit: new.or(old).map(|id| id.to_string()).unwrap_or_default(),
            source,
        };
        let tree = |id: Option<Oid>| id.map(|id| self.repo.find_tree(id)).transpose();
        let (old, new) = (tree(old).map_err(read)?, tree(new).map_err(read)?);
        let mut options = DiffOptions::new();
        options.skip_binary_check(true);
        let diff = self
            .repo
            .diff_tree_to_tree(old.as_ref(), new.as_ref(), Some(&mut options))
            .map_err(read)?;
        let mut paths: Vec<String> = diff
            .deltas()
            .flat_map(|delta| [delta.old_file().path(), delta.new_file().path()])
            .flatten()
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Calls `visit(committed_at, path, bytes)` for every manifest version that enters the
    /// first-parent history of `tip`, oldest commit first: each file added or changed by a
    /// commit, compared with its first parent. Files larger than `limits.max_file_bytes` and
    /// paths `wanted` rejects are skipped.
    ///
    /// With `since` (a commit an earlier walk ended at), only the commits after it are
    /// visited, provided it is on `tip`'s first-parent history; returns whether it was (the
    /// walk was incremental). Otherwise (a force-push, another branch) the whole history is
    /// visited and this returns false.
    pub fn for_each_introduction(
        &self,
        tip: &Revision,
        since: Option<&str>,
        limits: &Limits,
        wanted: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(i64, &str, &[u8]),
    ) -> Result<bool, SourceError> {
        let read = |source: git2::Error| SourceError::ReadTree {
            commit: tip.commit.clone(),
            source,
        };
        let since = since.map(Oid::from_str).transpose().map_err(read)?;
        // The first-parent chain from the tip back to `since` or the root.
        let mut chain = Vec::new();
        let mut incremental = false;
        let mut next = Some(
            self.repo
                .find_commit(Oid::from_str(&tip.commit).map_err(read)?)
                .map_err(read)?,
        );
        while let Some(commit) = next {
            if Some(commit.id()) == since {
                incremental = true;
                break;
            }
            next = commit.parent(0).ok();
            chain.push(commit);
        }
        let odb = self.repo.odb().map_err(read)?;
        for commit in chain.iter().rev() {
            let tree = commit.tree().map_err(read)?;
            let parent_tree = match commit.parent(0) {
                Ok(parent) => Some(parent.tree().map_err(read)?),
                Err(_) => None,
            };
            let mut options = DiffOptions::new();
            options.skip_binary_check(true);
            let diff = self
                .repo
                .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut options))
                .map_err(read)?;
            for delta in diff.deltas() {
                if !matches!(delta.status(), Delta::Added | Delta::Modified) {
                    continue;
                }
                let file = delta.new_file();
                // Only regular files: a symlink's blob is its target, never followed.
                if !matches!(file.mode(), FileMode::Blob | FileMode::BlobExecutable) {
                    continue;
                }
                let Some(path) = file.path().and_then(|p| p.to_str()) else {
                    continue;
                };
                let name = path.rsplit('/').next().unwrap_or(path);
                if !is_manifest_name(name.as_bytes()) || !wanted(path) {
                    continue;
                }
                // The size from the object's header: an oversized blob is never loaded.
                let (size, _) = odb.read_header(file.id()).map_err(read)?;
                if size as u64 > limits.max_file_bytes {
                    continue;
                }
                let blob = self.repo.find_blob(file.id()).map_err(read)?;
                visit(commit.time().seconds(), path, blob.content());
            }
        }
        Ok(incremental)
    }
}
