//! The working tree of a local repository read as a revision, for `--worktree`: what a
//! developer would commit (tracked files as edited, new files `.gitignore` does not exclude,
//! deletions), on top of `HEAD`, so that `validate`, `check` and `explain` see uncommitted
//! edits through the same snapshot rules as a commit.
//!
//! The working tree is written as a Git tree, as `git add` and `git write-tree` would: its
//! blobs and trees go into the repository's object database, while the index file, `HEAD`
//! and every reference stay exactly as they were.

use super::snapshot::{Snapshot, read_tree};
use super::{Revision, Source, SourceError};
use crate::config::Limits;
use git2::{IndexAddOption, Oid};

/// The working tree, written as a tree, with the revision it reads as.
#[derive(Debug, Clone)]
pub struct WorkingTree {
    /// `HEAD`'s commit (route ages walk its history), summarised as the working tree.
    pub revision: Revision,
    tree: Oid,
    /// `HEAD`'s tree: what the working tree changes is diffed against it.
    head_tree: Oid,
}

/// One side of a comparison: a commit, or the working tree.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    Commit(&'a Revision),
    WorkingTree(&'a WorkingTree),
}

impl Source {
    /// The working tree of a local repository, written as a tree. An error for a bare
    /// repository or the clone of a remote, which have none.
    pub fn working_tree(&self) -> Result<WorkingTree, SourceError> {
        let unreadable = |source| SourceError::ReadWorkingTree { source };
        if self.repo.is_bare() || self.origin.is_some() {
            return Err(SourceError::NoWorkingTree);
        }
        let head = self.resolve("HEAD")?;
        let head_commit = self
            .repo
            .find_commit(Oid::from_str(&head.commit).map_err(unreadable)?)
            .map_err(unreadable)?;
        // The index as it is on disk, changed in memory only: never written back.
        let mut index = self.repo.index().map_err(unreadable)?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .map_err(unreadable)?;
        index.update_all(["*"], None).map_err(unreadable)?;
        let tree = index.write_tree().map_err(unreadable)?;
        let revision = Revision {
            summary: format!(
                "working tree (uncommitted changes on top of {} {:?})",
                super::short(&head.commit),
                head.summary
            ),
            ..head
        };
        Ok(WorkingTree {
            revision,
            tree,
            head_tree: head_commit.tree_id(),
        })
    }

    /// The manifests of the working tree, read as [`Source::snapshot`] reads a commit's.
    pub fn snapshot_working_tree(
        &self,
        working_tree: &WorkingTree,
        limits: &Limits,
    ) -> Result<Snapshot, SourceError> {
        let tree = self
            .repo
            .find_tree(working_tree.tree)
            .map_err(|source| SourceError::ReadWorkingTree { source })?;
        read_tree(&self.repo, tree, working_tree.revision.clone(), limits)
    }

    /// The paths that differ between `base` and `head` (added, modified, deleted, renamed:
    /// both sides), sorted.
    pub fn changed_between(
        &self,
        base: Side<'_>,
        head: Side<'_>,
    ) -> Result<Vec<String>, SourceError> {
        self.diff_trees(Some(self.tree_of(base)?), Some(self.tree_of(head)?))
    }

    /// What the working tree changes on top of `HEAD`.
    pub fn working_tree_changes(
        &self,
        working_tree: &WorkingTree,
    ) -> Result<Vec<String>, SourceError> {
        self.diff_trees(Some(working_tree.head_tree), Some(working_tree.tree))
    }

    fn tree_of(&self, side: Side<'_>) -> Result<Oid, SourceError> {
        match side {
            Side::WorkingTree(w) => Ok(w.tree),
            Side::Commit(revision) => {
                let read = |source| SourceError::ReadTree {
                    commit: revision.commit.clone(),
                    source,
                };
                let id = Oid::from_str(&revision.commit).map_err(read)?;
                Ok(self.repo.find_commit(id).map_err(read)?.tree_id())
            }
        }
    }

    /// The bytes of the file at `path` on `side`, None when there is no such file (any
    /// file, not only manifests: `check` reads CODEOWNERS this way).
    pub fn read_path(&self, side: Side<'_>, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let tree = self.tree_of(side)?;
        let read = |source| SourceError::ReadTree {
            commit: tree.to_string(),
            source,
        };
        let tree = self.repo.find_tree(tree).map_err(read)?;
        let Ok(entry) = tree.get_path(std::path::Path::new(path)) else {
            return Ok(None);
        };
        match entry.to_object(&self.repo).map_err(read)?.into_blob() {
            Ok(blob) => Ok(Some(blob.content().to_vec())),
            Err(_) => Ok(None),
        }
    }
}
