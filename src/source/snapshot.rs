//! Reading one commit's tree into a [`Snapshot`]: which entries are manifests to read, which
//! are refused, which are submodules.
//!
//! Sizes come from the object database's headers, and every limit is checked before any
//! manifest's content is loaded, so an oversized file or revision is refused without reading
//! it: a revision over the revision-wide limits is a snapshot with no files and
//! [`Snapshot::over_limits`] saying why (admission refuses it as a whole, naming the largest
//! folders). Nothing here looks inside a file: whether its bytes are UTF-8 YAML is the manifest
//! stage's business.

use super::{Revision, SourceError};
use crate::config::Limits;
use git2::{Odb, Oid, Repository, Tree, TreeEntry};

/// The manifest files of one revision, and the entries that were not read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub revision: Revision,
    /// Every regular `.yaml` / `.yml` file (case-insensitive), sorted by path.
    pub files: Vec<SourceFile>,
    /// Entries that could be manifests but were not read, sorted by path.
    pub entries_refused: Vec<RefusedEntry>,
    /// Paths of submodules, sorted; their contents are never read.
    pub submodules: Vec<String>,
    /// Set when the revision exceeds `limits.max_files` or `limits.max_total_bytes`; then no
    /// file was loaded and `files` is empty.
    pub over_limits: Option<OverLimits>,
}

/// Why a revision was not loaded at all, and where its bulk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimits {
    /// Which limit, with the revision's count or size and the limit, in words.
    pub exceeded: String,
    /// The folders (the first two levels of a file's folder; `.` for the root) holding the
    /// most bytes, largest first: `(folder, files, bytes)`, at most [`LARGEST_FOLDERS`].
    pub largest_folders: Vec<(String, usize, u64)>,
}

/// How many of the largest folders [`OverLimits`] names.
pub const LARGEST_FOLDERS: usize = 3;

/// One manifest file, byte for byte as committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A tree entry that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEntry {
    /// Relative to the repository root, `/`-separated; lossy when the path is not UTF-8.
    pub path: String,
    pub reason: RefusedReason,
}

/// Why an entry was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedReason {
    /// A symbolic link, whatever its name: links are never followed, as they could lead out
    /// of a team's folder. `target` is what the link points at (lossy UTF-8).
    Symlink { target: String },
    /// A manifest larger than `limits.max_file_bytes`; its content was not loaded.
    TooLarge { size: u64, limit: u64 },
    /// A manifest, or a folder, whose path is not UTF-8 and so cannot be named or owned.
    NonUtf8Path,
    /// A manifest, or a folder, whose name holds a control character (a newline, an escape):
    /// it would forge or garble every line of output that names it.
    UnprintablePath,
}

/// Git's normalised file modes (`TreeEntry::filemode`).
const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_BLOB_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// Reads the snapshot of `revision` (see [`super::Source::snapshot`]).
pub(super) fn read_snapshot(
    repo: &Repository,
    revision: &Revision,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let unreadable = |source| SourceError::ReadTree {
        commit: revision.commit.clone(),
        source,
    };
    let commit = Oid::from_str(&revision.commit)
        .and_then(|id| repo.find_commit(id))
        .map_err(unreadable)?;
    let tree = commit.tree().map_err(unreadable)?;
    // From the commit itself, so the snapshot depends on the commit id alone.
    read_tree(repo, tree, Revision::of(&commit), limits)
}

/// Reads `tree` as the snapshot of `revision`: a commit's tree, or the working tree written
/// as one ([`super::Source::working_tree`]).
pub(super) fn read_tree(
    repo: &Repository,
    tree: Tree<'_>,
    revision: Revision,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let unreadable = |source| SourceError::ReadTree {
        commit: revision.commit.clone(),
        source,
    };
    let mut walk = TreeWalk {
        repo,
        odb: repo.odb().map_err(unreadable)?,
        max_file_bytes: limits.max_file_bytes,
        manifests: Vec::new(),
        refused: Vec::new(),
        submodules: Vec::new(),
    };
    walk.walk(tree).map_err(unreadable)?;
    let over_limits = over_limits(&walk.manifests, limits);
    if over_limits.is_some() {
        walk.manifests.clear();
    }
    let mut files = walk
        .manifests
        .into_iter()
        .map(|manifest| manifest.read(repo))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    // The walk visits folders in no particular order; the output is sorted by path.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    walk.refused.sort_by(|a, b| a.path.cmp(&b.path));
    walk.submodules.sort();
    Ok(Snapshot {
        revision,
        files,
        entries_refused: walk.refused,
        submodules: walk.submodules,
        over_limits,
    })
}

/// A manifest found in the tree, sized from its header, not read yet.
struct PendingManifest {
    path: String,
    id: Oid,
    size: u64,
}

impl PendingManifest {
    fn read(self, repo: &Repository) -> Result<SourceFile, git2::Error> {
        Ok(SourceFile {
            bytes: repo.find_blob(self.id)?.content().to_vec(),
            path: self.path,
        })
    }
}

/// What [`TreeWalk`] does with an entry.
enum EntryKind {
    Folder,
    Manifest,
    Symlink,
    Submodule,
    /// Any other blob (README, scripts): not the business of gwsync.
    Ignored,
}

fn classify(entry: &TreeEntry<'_>) -> EntryKind {
    match entry.filemode() {
        MODE_TREE => EntryKind::Folder,
        MODE_SYMLINK => EntryKind::Symlink,
        MODE_SUBMODULE => EntryKind::Submodule,
        MODE_BLOB | MODE_BLOB_EXECUTABLE if is_manifest_name(entry.name_bytes()) => {
            EntryKind::Manifest
        }
        _ => EntryKind::Ignored,
    }
}

/// `.yaml` or `.yml`, in any case.
pub(super) fn is_manifest_name(name: &[u8]) -> bool {
    [b".yaml".as_slice(), b".yml".as_slice()].iter().any(|ext| {
        name.len() >= ext.len() && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext)
    })
}

/// The walk of a commit's tree, collecting what the snapshot is made of.
struct TreeWalk<'r> {
    repo: &'r Repository,
    odb: Odb<'r>,
    max_file_bytes: u64,
    manifests: Vec<PendingManifest>,
    refused: Vec<RefusedEntry>,
    submodules: Vec<String>,
}

impl<'r> TreeWalk<'r> {
    /// Visits every entry under `root`. Folders wait on a work list rather than being visited
    /// recursively: a hostile tree nested a million levels deep must not overflow the stack.
    fn walk(&mut self, root: Tree<'r>) -> Result<(), git2::Error> {
        let mut folders = vec![(root, String::new())];
        while let Some((tree, prefix)) = folders.pop() {
            for entry in tree.iter() {
                if let Some(folder) = self.visit_entry(&entry, &prefix)? {
                    folders.push(folder);
                }
            }
        }
        Ok(())
    }

    /// Records `entry`, whose folder's path is `prefix` (empty, or ending in `/`). A folder
    /// to visit is returned with its own prefix.
    fn visit_entry(
        &mut self,
        entry: &TreeEntry<'_>,
        prefix: &str,
    ) -> Result<Option<(Tree<'r>, String)>, git2::Error> {
        let name = entry.name_bytes();
        let lossy_path = || format!("{prefix}{}", String::from_utf8_lossy(name));
        match classify(entry) {
            EntryKind::Ignored => {}
            EntryKind::Symlink => self.refuse_symlink(entry, lossy_path())?,
            EntryKind::Submodule => self.note_submodule(entry, lossy_path()),
            EntryKind::Folder | EntryKind::Manifest if std::str::from_utf8(name).is_err() => {
                self.refuse(lossy_path(), RefusedReason::NonUtf8Path);
            }
            EntryKind::Folder | EntryKind::Manifest if name.iter().any(u8::is_ascii_control) => {
                self.refuse(lossy_path(), RefusedReason::UnprintablePath);
            }
            EntryKind::Folder => {
                let folder = self.repo.find_tree(entry.id())?;
                return Ok(Some((folder, format!("{}/", lossy_path()))));
            }
            EntryKind::Manifest => self.note_manifest(entry, lossy_path())?,
        }
        Ok(None)
    }

    /// Keeps a manifest for reading, or refuses it if it is too large; its size comes from
    /// the object header, so a refused file is never loaded.
    fn note_manifest(&mut self, entry: &TreeEntry<'_>, path: String) -> Result<(), git2::Error> {
        let size = self.blob_size(entry.id())?;
        if size > self.max_file_bytes {
            let limit = self.max_file_bytes;
            self.refuse(path, RefusedReason::TooLarge { size, limit });
        } else {
            self.manifests.push(PendingManifest {
                path,
                id: entry.id(),
                size,
            });
        }
        Ok(())
    }

    /// Refuses a symlink, reporting its target. A target is a path, so one larger than
    /// `limits.max_file_bytes` is hostile or broken and is described rather than loaded.
    fn refuse_symlink(&mut self, entry: &TreeEntry<'_>, path: String) -> Result<(), git2::Error> {
        let size = self.blob_size(entry.id())?;
        let target = if size > self.max_file_bytes {
            format!("({size} bytes, not read: larger than limits.max_file_bytes)")
        } else {
            String::from_utf8_lossy(self.repo.find_blob(entry.id())?.content()).into_owned()
        };
        self.refuse(path, RefusedReason::Symlink { target });
        Ok(())
    }

    fn note_submodule(&mut self, entry: &TreeEntry<'_>, path: String) {
        tracing::warn!(
            path = %path,
            commit = %entry.id(),
            "submodule in the GitOps repository: its contents are not read"
        );
        self.submodules.push(path);
    }

    fn refuse(&mut self, path: String, reason: RefusedReason) {
        self.refused.push(RefusedEntry { path, reason });
    }

    fn blob_size(&self, id: Oid) -> Result<u64, git2::Error> {
        let (size, _kind) = self.odb.read_header(id)?;
        Ok(size as u64)
    }
}

/// The revision-wide limits, checked on sizes from headers before any content is loaded.
fn over_limits(manifests: &[PendingManifest], limits: &Limits) -> Option<OverLimits> {
    let total: u64 = manifests.iter().map(|manifest| manifest.size).sum();
    let exceeded = if manifests.len() > limits.max_files {
        format!(
            "the revision holds {} YAML files, more than limits.max_files = {}",
            manifests.len(),
            limits.max_files
        )
    } else if total > limits.max_total_bytes {
        format!(
            "the YAML files of the revision add up to {total} bytes, more than limits.max_total_bytes = {}",
            limits.max_total_bytes
        )
    } else {
        return None;
    };
    let mut folders: std::collections::BTreeMap<String, (usize, u64)> = Default::default();
    for manifest in manifests {
        let folders_of_path: Vec<&str> = manifest.path.split('/').collect();
        let folder = match &folders_of_path[..folders_of_path.len() - 1] {
            [] => ".".to_string(),
            parents => parents[..parents.len().min(2)].join("/"),
        };
        let entry = folders.entry(folder).or_default();
        entry.0 += 1;
        entry.1 += manifest.size;
    }
    let mut largest: Vec<(String, usize, u64)> = folders
        .into_iter()
        .map(|(folder, (files, bytes))| (folder, files, bytes))
        .collect();
    largest.sort_by(|a, b| (b.2, b.1).cmp(&(a.2, a.1)).then_with(|| a.0.cmp(&b.0)));
    largest.truncate(LARGEST_FOLDERS);
    Some(OverLimits {
        exceeded,
        largest_folders: largest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_are_yaml_in_any_case() {
        for name in ["a.yaml", "b.yml", "C.YAML", "d.Yml", ".yaml"] {
            assert!(is_manifest_name(name.as_bytes()), "{name}");
        }
        for name in ["yaml", "a.yaml.bak", "a.json", "a_yaml", "yml"] {
            assert!(!is_manifest_name(name.as_bytes()), "{name}");
        }
    }
}
