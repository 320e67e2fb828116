//! The source stage against real Git repositories, made with git2 in temporary directories:
//! resolving revisions, reading snapshots, and fetching from a remote that moves, is
//! force-pushed and loses branches.

use git2::{Oid, Repository, Signature, Time};
use gwsync::config::{Limits, RepoLocation};
use gwsync::source::{
    GitAuth, RefusedEntry, RefusedReason, Revision, Snapshot, Source, SourceError, SourceFile,
};
use std::collections::BTreeMap;
use std::error::Error as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

const COMMITTED_AT: i64 = 1_700_000_000;

/// One entry of a tree to build.
#[derive(Clone, Copy)]
enum Node<'a> {
    File(&'a [u8]),
    Executable(&'a [u8]),
    Symlink(&'a str),
    Submodule(Oid),
}

impl Node<'_> {
    fn write(self, repo: &Repository) -> (Oid, i32) {
        match self {
            Node::File(bytes) => (repo.blob(bytes).unwrap(), 0o100644),
            Node::Executable(bytes) => (repo.blob(bytes).unwrap(), 0o100755),
            Node::Symlink(target) => (repo.blob(target.as_bytes()).unwrap(), 0o120000),
            Node::Submodule(commit) => (commit, 0o160000),
        }
    }
}

/// Writes a tree holding `entries` (`/`-separated paths) and returns its id.
fn write_tree(repo: &Repository, entries: &[(&str, Node<'_>)]) -> Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    let mut folders: BTreeMap<&str, Vec<(&str, Node<'_>)>> = BTreeMap::new();
    for &(path, node) in entries {
        match path.split_once('/') {
            Some((folder, rest)) => folders.entry(folder).or_default().push((rest, node)),
            None => {
                let (id, mode) = node.write(repo);
                builder.insert(path, id, mode).unwrap();
            }
        }
    }
    for (folder, children) in folders {
        builder
            .insert(folder, write_tree(repo, &children), 0o040000)
            .unwrap();
    }
    builder.write().unwrap()
}

/// Commits `tree` on top of `parents` and forces `branch` to it (so that rewrites are easy).
/// The author time is an hour before the committer time, to tell them apart.
fn commit_tree(repo: &Repository, branch: &str, tree: Oid, parents: &[Oid], message: &str) -> Oid {
    let when = COMMITTED_AT + parents.len() as i64;
    let author = Signature::new(
        "Alice Example",
        "alice@example.com",
        &Time::new(when - 3600, 0),
    )
    .unwrap();
    let committer = Signature::new("Bob Bot", "bot@example.com", &Time::new(when, 0)).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let parents: Vec<_> = parents
        .iter()
        .map(|id| repo.find_commit(*id).unwrap())
        .collect();
    let parents: Vec<_> = parents.iter().collect();
    let id = repo
        .commit(None, &author, &committer, message, &tree, &parents)
        .unwrap();
    repo.reference(&format!("refs/heads/{branch}"), id, true, "test")
        .unwrap();
    id
}

fn commit_files(
    repo: &Repository,
    branch: &str,
    entries: &[(&str, Node<'_>)],
    parents: &[Oid],
    message: &str,
) -> Oid {
    let tree = write_tree(repo, entries);
    commit_tree(repo, branch, tree, parents, message)
}

/// A working-tree repository whose `HEAD` is `main`, with one commit on it.
fn local_repo() -> (TempDir, Repository, Oid) {
    let dir = TempDir::new().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let id = commit_files(
        &repo,
        "main",
        &[("tenants.yaml", Node::File(b"kind: Tenants\n"))],
        &[],
        "Add tenants\n\nThe body is not part of the summary.",
    );
    repo.set_head("refs/heads/main").unwrap();
    (dir, repo, id)
}

/// A bare "remote" repository whose `HEAD` is `main`, with one commit on it.
fn remote_repo() -> (TempDir, Repository, Oid) {
    let dir = TempDir::new().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let id = commit_files(
        &repo,
        "main",
        &[("tenants.yaml", Node::File(b"v: 1\n"))],
        &[],
        "First",
    );
    repo.set_head("refs/heads/main").unwrap();
    (dir, repo, id)
}

fn url_of(dir: &TempDir) -> &str {
    dir.path().to_str().unwrap()
}

fn open_clone(url: &str) -> (TempDir, Source) {
    let state = TempDir::new().unwrap();
    let source = Source::open_remote(url, &state.path().join("repo.git"), GitAuth::None).unwrap();
    (state, source)
}

fn snapshot_of(source: &Source, rev: &str, limits: &Limits) -> Result<Snapshot, SourceError> {
    source.snapshot(&source.resolve(rev).unwrap(), limits)
}

/// A repository whose `main` holds exactly `entries`.
fn source_with(entries: &[(&str, Node<'_>)]) -> (TempDir, Source) {
    let dir = TempDir::new().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    commit_files(&repo, "main", entries, &[], "Fixture");
    let source = Source::open_local(dir.path()).unwrap();
    (dir, source)
}

fn paths(files: &[SourceFile]) -> Vec<&str> {
    files.iter().map(|file| file.path.as_str()).collect()
}

fn limits_with(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

// --- resolve -------------------------------------------------------------------------------

#[test]
fn resolve_branch_gives_the_commit_and_its_metadata() {
    let (dir, _repo, id) = local_repo();
    let source = Source::open_local(dir.path()).unwrap();
    assert_eq!(
        source.resolve("main").unwrap(),
        Revision {
            commit: id.to_string(),
            author: "Alice Example <alice@example.com>".to_string(),
            committed_at: COMMITTED_AT,
            summary: "Add tenants".to_string(),
        }
    );
}

#[test]
fn resolve_lightweight_and_annotated_tags_peel_to_the_commit() {
    let (dir, repo, id) = local_repo();
    let target = repo.find_object(id, None).unwrap();
    let tagger = Signature::new("T", "t@example.com", &Time::new(COMMITTED_AT, 0)).unwrap();
    repo.tag_lightweight("v1", &target, false).unwrap();
    repo.tag("v2", &target, &tagger, "release 2", false)
        .unwrap();
    let source = Source::open_local(dir.path()).unwrap();
    assert_eq!(source.resolve("v1").unwrap().commit, id.to_string());
    assert_eq!(source.resolve("v2").unwrap().commit, id.to_string());
    assert_eq!(
        source.resolve("refs/tags/v2").unwrap().commit,
        id.to_string()
    );
}

#[test]
fn resolve_full_and_abbreviated_sha() {
    let (dir, _repo, id) = local_repo();
    let source = Source::open_local(dir.path()).unwrap();
    let full = id.to_string();
    assert_eq!(source.resolve(&full).unwrap().commit, full);
    assert_eq!(source.resolve(&full[..8]).unwrap().commit, full);
}

#[test]
fn resolve_head_of_a_local_repository() {
    let (dir, repo, _) = local_repo();
    let other = commit_files(&repo, "other", &[], &[], "Other");
    repo.set_head("refs/heads/other").unwrap();
    let source = Source::open_local(dir.path()).unwrap();
    assert_eq!(source.resolve("HEAD").unwrap().commit, other.to_string());
}

#[test]
fn resolve_prefers_a_branch_over_a_tag_of_the_same_name() {
    let (dir, repo, first) = local_repo();
    let second = commit_files(&repo, "main", &[], &[first], "Second");
    let target = repo.find_object(first, None).unwrap();
    repo.tag_lightweight("main", &target, false).unwrap();
    let source = Source::open_local(dir.path()).unwrap();
    assert_eq!(source.resolve("main").unwrap().commit, second.to_string());
}

#[test]
fn resolve_unknown_revision_names_it() {
    let (dir, _repo, _) = local_repo();
    let source = Source::open_local(dir.path()).unwrap();
    for rev in [
        "no-such-branch",
        "0123456789abcdef0123456789abcdef01234567",
        "",
        "a..b^^{",
    ] {
        let error = source.resolve(rev).unwrap_err();
        assert!(
            matches!(&error, SourceError::UnknownRevision { rev: r } if r == rev),
            "{rev}: {error:?}"
        );
    }
    let message = source.resolve("no-such-branch").unwrap_err().to_string();
    assert!(message.contains("`no-such-branch`"), "{message}");
}

#[test]
fn resolve_a_tag_of_a_tree_is_not_a_commit() {
    let (dir, repo, id) = local_repo();
    let tree = repo.find_commit(id).unwrap().tree().unwrap();
    repo.tag_lightweight("tree-tag", tree.as_object(), false)
        .unwrap();
    let source = Source::open_local(dir.path()).unwrap();
    let error = source.resolve("tree-tag").unwrap_err();
    assert!(
        matches!(&error, SourceError::NotACommit { rev } if rev == "tree-tag"),
        "{error:?}"
    );
    let error = source.resolve(&tree.id().to_string()).unwrap_err();
    assert!(matches!(error, SourceError::NotACommit { .. }), "{error:?}");
}

#[test]
fn open_local_of_a_missing_repository_names_the_path() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nothing-here");
    let error = Source::open_local(&missing).err().unwrap();
    assert!(matches!(&error, SourceError::OpenRepo { path, .. } if path == &missing));
    assert!(error.to_string().contains("nothing-here"), "{error}");
}

// --- snapshot ------------------------------------------------------------------------------

#[test]
fn snapshot_reads_only_yaml_files_with_exact_bytes_sorted_by_path() {
    let (_dir, source) = source_with(&[
        (
            "teams/payments/routes.yaml",
            Node::File(b"kind: HTTPRoute\r\n\xff\x00raw"),
        ),
        ("teams/payments/README.md", Node::File(b"# docs")),
        ("teams/payments/nested/deep/more.YML", Node::File(b"b")),
        ("teams/checkout/a.yml", Node::Executable(b"c")),
        ("platform/gateway.Yaml", Node::File(b"d")),
        ("platform/gateway.yaml.bak", Node::File(b"e")),
        ("tenants.yaml", Node::File(b"f")),
        ("scripts/check.sh", Node::Executable(b"#!/bin/sh")),
        ("folder.yaml/inside.txt", Node::File(b"g")),
    ]);
    let snapshot = snapshot_of(&source, "main", &Limits::default()).unwrap();
    assert_eq!(
        paths(&snapshot.files),
        [
            "platform/gateway.Yaml",
            "teams/checkout/a.yml",
            "teams/payments/nested/deep/more.YML",
            "teams/payments/routes.yaml",
            "tenants.yaml",
        ]
    );
    assert_eq!(
        snapshot.files[3].bytes, b"kind: HTTPRoute\r\n\xff\x00raw",
        "bytes are passed on untouched, even when they are not UTF-8"
    );
    assert!(snapshot.entries_refused.is_empty());
    assert!(snapshot.submodules.is_empty());
    assert_eq!(snapshot.revision, source.resolve("main").unwrap());
}

#[test]
fn snapshot_refuses_symlinks_without_following_them() {
    let (_dir, source) = source_with(&[
        (
            "platform/gateway.yaml",
            Node::File(b"secret platform content"),
        ),
        (
            "teams/a/link.yaml",
            Node::Symlink("../../platform/gateway.yaml"),
        ),
        ("teams/a/outside", Node::Symlink("/etc/passwd")),
        ("teams/a/own.yaml", Node::File(b"mine")),
    ]);
    let snapshot = snapshot_of(&source, "main", &Limits::default()).unwrap();
    assert_eq!(
        paths(&snapshot.files),
        ["platform/gateway.yaml", "teams/a/own.yaml"]
    );
    assert_eq!(
        snapshot.entries_refused,
        [
            RefusedEntry {
                path: "teams/a/link.yaml".to_string(),
                reason: RefusedReason::Symlink {
                    target: "../../platform/gateway.yaml".to_string()
                },
            },
            RefusedEntry {
                path: "teams/a/outside".to_string(),
                reason: RefusedReason::Symlink {
                    target: "/etc/passwd".to_string()
                },
            },
        ]
    );
}

#[test]
fn snapshot_lists_submodules_without_reading_them() {
    let elsewhere = Oid::from_str("1234567890123456789012345678901234567890").unwrap();
    let (_dir, source) = source_with(&[
        ("teams/a/vendor", Node::Submodule(elsewhere)),
        ("teams/a/route.yaml", Node::File(b"r")),
    ]);
    let snapshot = snapshot_of(&source, "main", &Limits::default()).unwrap();
    assert_eq!(snapshot.submodules, ["teams/a/vendor"]);
    assert_eq!(paths(&snapshot.files), ["teams/a/route.yaml"]);
    assert!(snapshot.entries_refused.is_empty());
}

#[test]
fn snapshot_refuses_a_file_over_the_size_limit_and_reads_the_others() {
    let (_dir, source) = source_with(&[
        ("teams/a/big.yaml", Node::File(&[b'x'; 11])),
        ("teams/a/exact.yaml", Node::File(&[b'y'; 10])),
        ("teams/a/small.yaml", Node::File(b"s")),
        ("teams/a/big-but-ignored.txt", Node::File(&[b'z'; 100])),
    ]);
    let limits = limits_with(|l| l.max_file_bytes = 10);
    let snapshot = snapshot_of(&source, "main", &limits).unwrap();
    assert_eq!(
        paths(&snapshot.files),
        ["teams/a/exact.yaml", "teams/a/small.yaml"]
    );
    assert_eq!(
        snapshot.entries_refused,
        [RefusedEntry {
            path: "teams/a/big.yaml".to_string(),
            reason: RefusedReason::TooLarge {
                size: 11,
                limit: 10
            },
        }]
    );
}

#[test]
fn snapshot_with_too_many_files_loads_nothing() {
    let (_dir, source) = source_with(&[
        ("a.yaml", Node::File(b"1")),
        ("b/c.yaml", Node::File(b"2")),
        ("d.yml", Node::File(b"3")),
        ("not-counted.txt", Node::File(b"4")),
    ]);
    let at_limit = limits_with(|l| l.max_files = 3);
    assert_eq!(
        snapshot_of(&source, "main", &at_limit).unwrap().files.len(),
        3
    );
    let over = snapshot_of(&source, "main", &limits_with(|l| l.max_files = 2)).unwrap();
    assert!(over.files.is_empty());
    let why = over.over_limits.unwrap();
    assert!(
        why.exceeded
            .contains("3 YAML files, more than limits.max_files = 2"),
        "{why:?}"
    );
    assert_eq!(
        why.largest_folders,
        [(".".to_string(), 2, 2), ("b".to_string(), 1, 1)]
    );
}

#[test]
fn snapshot_over_the_total_size_loads_nothing() {
    let (_dir, source) = source_with(&[
        ("a.yaml", Node::File(&[b'a'; 6])),
        ("b.yaml", Node::File(&[b'b'; 6])),
        ("ignored.bin", Node::File(&[b'c'; 100])),
    ]);
    let at_limit = limits_with(|l| l.max_total_bytes = 12);
    assert_eq!(
        snapshot_of(&source, "main", &at_limit).unwrap().files.len(),
        2
    );
    let over = snapshot_of(&source, "main", &limits_with(|l| l.max_total_bytes = 11)).unwrap();
    assert!(over.files.is_empty());
    let why = over.over_limits.unwrap();
    assert!(
        why.exceeded
            .contains("add up to 12 bytes, more than limits.max_total_bytes = 11"),
        "{why:?}"
    );
}

#[test]
fn snapshot_refuses_non_utf8_manifest_and_folder_names() {
    let dir = TempDir::new().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let blob = repo.blob(b"x").unwrap();
    let mut folder = repo.treebuilder(None).unwrap();
    folder.insert("inside.yaml", blob, 0o100644).unwrap();
    let folder = folder.write().unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    root.insert(b"caf\xe9.yaml".to_vec(), blob, 0o100644)
        .unwrap();
    root.insert(b"dir-\xff".to_vec(), folder, 0o040000).unwrap();
    root.insert(b"notes-\xff.txt".to_vec(), blob, 0o100644)
        .unwrap();
    root.insert("ok.yaml", blob, 0o100644).unwrap();
    let tree = root.write().unwrap();
    commit_tree(&repo, "main", tree, &[], "Odd names");
    let source = Source::open_local(dir.path()).unwrap();
    let snapshot = snapshot_of(&source, "main", &Limits::default()).unwrap();
    assert_eq!(paths(&snapshot.files), ["ok.yaml"]);
    let refused: Vec<_> = snapshot
        .entries_refused
        .iter()
        .map(|entry| (entry.path.as_str(), &entry.reason))
        .collect();
    assert_eq!(
        refused,
        [
            ("caf\u{fffd}.yaml", &RefusedReason::NonUtf8Path),
            ("dir-\u{fffd}", &RefusedReason::NonUtf8Path),
        ]
    );
}

#[test]
fn snapshot_of_a_revision_never_changes() {
    let (dir, repo, first) = local_repo();
    let source = Source::open_local(dir.path()).unwrap();
    let revision = source.resolve("main").unwrap();
    let before = source.snapshot(&revision, &Limits::default()).unwrap();
    // The branch moves on and the working tree holds an uncommitted manifest: neither matters.
    commit_files(
        &repo,
        "main",
        &[("tenants.yaml", Node::File(b"changed"))],
        &[first],
        "Change",
    );
    std::fs::write(dir.path().join("uncommitted.yaml"), "kind: Gateway").unwrap();
    let again = source.snapshot(&revision, &Limits::default()).unwrap();
    assert_eq!(before.revision, again.revision);
    assert_eq!(before.files, again.files);
    assert_eq!(before.files[0].bytes, b"kind: Tenants\n");
    assert_eq!(paths(&before.files), ["tenants.yaml"]);
}

// --- remote --------------------------------------------------------------------------------

#[test]
fn remote_fetch_follows_new_commits() {
    let (remote_dir, remote, first) = remote_repo();
    let (_state, source) = open_clone(url_of(&remote_dir));
    assert_eq!(source.resolve("main").unwrap().commit, first.to_string());

    let second = commit_files(
        &remote,
        "main",
        &[("tenants.yaml", Node::File(b"v: 2\n"))],
        &[first],
        "Second",
    );
    assert_eq!(
        source.resolve("main").unwrap().commit,
        first.to_string(),
        "nothing changes before a fetch"
    );
    source.fetch().unwrap();
    let revision = source.resolve("main").unwrap();
    assert_eq!(revision.commit, second.to_string());
    let snapshot = source.snapshot(&revision, &Limits::default()).unwrap();
    assert_eq!(snapshot.files[0].bytes, b"v: 2\n");
}

#[test]
fn remote_fetch_follows_a_force_pushed_rewrite() {
    let (remote_dir, remote, first) = remote_repo();
    let (_state, source) = open_clone(url_of(&remote_dir));
    commit_files(&remote, "main", &[], &[first], "Will be rewritten");
    source.fetch().unwrap();

    let rewritten = commit_files(
        &remote,
        "main",
        &[("tenants.yaml", Node::File(b"rewritten"))],
        &[],
        "Unrelated history",
    );
    source.fetch().unwrap();
    assert_eq!(
        source.resolve("main").unwrap().commit,
        rewritten.to_string()
    );
}

#[test]
fn remote_fetch_prunes_deleted_branches_and_tags() {
    let (remote_dir, remote, first) = remote_repo();
    let feature = commit_files(&remote, "feature", &[], &[first], "Feature");
    let target = remote.find_object(first, None).unwrap();
    remote.tag_lightweight("v1", &target, false).unwrap();
    let (_state, source) = open_clone(url_of(&remote_dir));
    assert_eq!(
        source.resolve("feature").unwrap().commit,
        feature.to_string()
    );
    assert_eq!(source.resolve("v1").unwrap().commit, first.to_string());

    remote
        .find_reference("refs/heads/feature")
        .unwrap()
        .delete()
        .unwrap();
    remote
        .find_reference("refs/tags/v1")
        .unwrap()
        .delete()
        .unwrap();
    source.fetch().unwrap();
    assert!(matches!(
        source.resolve("feature"),
        Err(SourceError::UnknownRevision { .. })
    ));
    assert!(matches!(
        source.resolve("v1"),
        Err(SourceError::UnknownRevision { .. })
    ));
    assert_eq!(source.resolve("main").unwrap().commit, first.to_string());
}

#[test]
fn remote_head_is_the_remote_default_branch() {
    let (remote_dir, remote, first) = remote_repo();
    let release = commit_files(&remote, "release", &[], &[first], "Release");
    let (_state, source) = open_clone(url_of(&remote_dir));
    assert_eq!(source.resolve("HEAD").unwrap().commit, first.to_string());

    remote.set_head("refs/heads/release").unwrap();
    source.fetch().unwrap();
    assert_eq!(source.resolve("HEAD").unwrap().commit, release.to_string());
}

#[test]
fn remote_branch_wins_over_a_stale_local_branch_in_the_clone() {
    let (remote_dir, remote, first) = remote_repo();
    let (state, source) = open_clone(url_of(&remote_dir));
    let second = commit_files(&remote, "main", &[], &[first], "Second");
    source.fetch().unwrap();
    // Someone created a local branch in the clone by hand.
    let clone = Repository::open_bare(state.path().join("repo.git")).unwrap();
    clone
        .reference("refs/heads/main", first, true, "stale")
        .unwrap();
    assert_eq!(source.resolve("main").unwrap().commit, second.to_string());
}

#[test]
fn remote_clone_is_reused_and_follows_a_new_url() {
    let (remote_a, _, first_a) = remote_repo();
    let (remote_b, repo_b, _) = remote_repo();
    let only_b = commit_files(&repo_b, "main", &[("b.yaml", Node::File(b"b"))], &[], "B");
    let state = TempDir::new().unwrap();
    let clone_dir = state.path().join("repo.git");

    let source = Source::open_remote(url_of(&remote_a), &clone_dir, GitAuth::None).unwrap();
    assert_eq!(source.resolve("main").unwrap().commit, first_a.to_string());
    let reopened = Source::open_remote(url_of(&remote_a), &clone_dir, GitAuth::None).unwrap();
    assert_eq!(
        reopened.resolve("main").unwrap().commit,
        first_a.to_string()
    );
    drop(reopened);

    let moved = Source::open_remote(url_of(&remote_b), &clone_dir, GitAuth::None).unwrap();
    assert_eq!(moved.resolve("main").unwrap().commit, only_b.to_string());
    let clone = Repository::open_bare(&clone_dir).unwrap();
    assert_eq!(
        clone.find_remote("origin").unwrap().url().unwrap(),
        url_of(&remote_b)
    );
}

#[test]
fn remote_clone_refuses_a_directory_that_is_not_a_repository() {
    let (remote_dir, _, _) = remote_repo();
    let state = TempDir::new().unwrap();
    std::fs::write(state.path().join("precious.txt"), "do not touch").unwrap();
    let error = Source::open_remote(url_of(&remote_dir), state.path(), GitAuth::None)
        .err()
        .unwrap();
    assert!(matches!(error, SourceError::OpenRepo { .. }), "{error:?}");
    assert!(state.path().join("precious.txt").exists());
}

#[test]
fn open_dispatches_on_the_location() {
    let (remote_dir, _, first) = remote_repo();
    let state = TempDir::new().unwrap();
    let url = format!("file://{}", url_of(&remote_dir));
    let remote = Source::open(&RepoLocation::Url(url), state.path(), GitAuth::None).unwrap();
    assert_eq!(remote.resolve("main").unwrap().commit, first.to_string());
    assert!(state.path().join("repo.git").join("HEAD").exists());

    let (local_dir, _, local_first) = local_repo();
    let path = RepoLocation::Path(local_dir.path().to_path_buf());
    let local = Source::open(&path, Path::new("/nonexistent-state"), GitAuth::None).unwrap();
    local.fetch().unwrap();
    assert_eq!(
        local.resolve("main").unwrap().commit,
        local_first.to_string()
    );
}

// --- credentials ---------------------------------------------------------------------------

#[test]
fn git_auth_debug_redacts_the_token() {
    let auth = GitAuth::Token {
        token: "ghp_supersecret".to_string(),
    };
    let shown = format!("{auth:?}");
    assert!(!shown.contains("ghp_supersecret"), "{shown}");
    assert!(shown.contains("Token"), "{shown}");
}

#[test]
fn fetch_error_never_shows_credentials() {
    let state = TempDir::new().unwrap();
    let auth = GitAuth::Token {
        token: "ghp_supersecret".to_string(),
    };
    let error = Source::open_remote(
        "https://user:secret@127.0.0.1:1/x.git",
        &state.path().join("repo.git"),
        auth,
    )
    .err()
    .expect("nothing listens on port 1");
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    let mut shown = vec![error.to_string(), format!("{error:?}")];
    let mut cause = error.source();
    while let Some(inner) = cause {
        shown.push(inner.to_string());
        cause = inner.source();
    }
    for text in &shown {
        assert!(!text.contains("secret"), "{text}");
    }
    assert!(
        shown[0].contains("https://***@127.0.0.1:1/x.git"),
        "{}",
        shown[0]
    );
}

/// An HTTP server that refuses every request with `401` and a Basic challenge, and records
/// the `Authorization` header of each request (`None` when there is none).
fn refusing_http_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorization = None;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_string());
                }
                line.clear();
            }
            log.lock().unwrap().push(authorization);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"gitops\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (address.to_string(), seen)
}

/// Opens `url` with `auth` against a new [`refusing_http_server`], whose address replaces
/// `ADDRESS` in `url`. Returns the error, the `Authorization` headers the server saw, and
/// everything the error shows (`Display`, `Debug` and its causes).
fn open_refused(url: &str, auth: GitAuth) -> (SourceError, Vec<Option<String>>, String) {
    let (address, seen) = refusing_http_server();
    let state = TempDir::new().unwrap();
    let url = url.replace("ADDRESS", &address);
    let error = Source::open_remote(&url, &state.path().join("repo.git"), auth)
        .err()
        .expect("the server refuses everything");
    let requests = seen.lock().unwrap().clone();
    let mut shown = format!("{error} {error:?}");
    let mut cause = error.source();
    while let Some(inner) = cause {
        shown.push_str(&format!(" {inner}"));
        cause = inner.source();
    }
    (error, requests, shown)
}

#[test]
fn refused_token_is_offered_once_then_fetch_fails() {
    let auth = GitAuth::Token {
        token: "tok-123".to_string(),
    };
    let (error, requests, shown) = open_refused("http://ADDRESS/gitops.git", auth);
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    // base64("x-access-token:tok-123")
    let basic = "Basic eC1hY2Nlc3MtdG9rZW46dG9rLTEyMw==".to_string();
    assert_eq!(requests, [None, Some(basic)]);
    assert!(!shown.contains("tok-123"), "{shown}");
    assert!(shown.contains("refused the token"), "{shown}");
}

#[test]
fn token_username_comes_from_the_url_when_it_has_one() {
    let auth = GitAuth::Token {
        token: "tok-123".to_string(),
    };
    let (_, requests, shown) = open_refused("http://deploy@ADDRESS/gitops.git", auth);
    // base64("deploy:tok-123")
    let basic = "Basic ZGVwbG95OnRvay0xMjM=".to_string();
    assert_eq!(requests.last(), Some(&Some(basic)));
    assert!(!shown.contains("tok-123"), "{shown}");
}

#[test]
fn without_credentials_the_first_challenge_fails_the_fetch() {
    let (error, requests, shown) = open_refused("http://ADDRESS/gitops.git", GitAuth::None);
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    assert_eq!(requests, [None]);
    assert!(shown.contains("none are configured"), "{shown}");
}

/// A recursive walk overflows the 2 MiB stack of a test thread at about 5,000 levels.
#[test]
fn snapshot_survives_a_very_deeply_nested_tree() {
    const DEPTH: usize = 10_000;
    let dir = TempDir::new().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let mut tree = write_tree(&repo, &[("deep.yaml", Node::File(b"bottom"))]);
    for _ in 0..DEPTH {
        let mut folder = repo.treebuilder(None).unwrap();
        folder.insert("d", tree, 0o040000).unwrap();
        tree = folder.write().unwrap();
    }
    commit_tree(&repo, "main", tree, &[], "Deep");
    let source = Source::open_local(dir.path()).unwrap();
    let snapshot = snapshot_of(&source, "main", &Limits::default()).unwrap();
    assert_eq!(snapshot.files.len(), 1);
    assert_eq!(
        snapshot.files[0].path,
        format!("{}deep.yaml", "d/".repeat(DEPTH))
    );
}

/// Credentials in `repo.url` never reach the clone's config on disk: the remote is stored
/// without them, and they are offered through the credential callback.
#[test]
fn credentials_in_the_url_are_not_written_to_the_clone() {
    let (address, seen) = refusing_http_server();
    let state = TempDir::new().unwrap();
    let clone = state.path().join("repo.git");
    // A clone directory that was there before the failed fetch stays (one this call made
    // would be removed), so its config can be read.
    std::fs::create_dir(&clone).unwrap();
    let url = format!("http://deploy:s3cr3t-pw@{address}/gitops.git");
    let error = Source::open_remote(&url, &clone, GitAuth::None)
        .err()
        .expect("the server refuses everything");
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    let config = std::fs::read_to_string(clone.join("config")).unwrap();
    assert!(!config.contains("s3cr3t"), "{config}");
    assert!(!config.contains("deploy"), "{config}");
    assert!(
        config.contains(&format!("http://{address}/gitops.git")),
        "{config}"
    );
    // base64("deploy:s3cr3t-pw"), through the callback.
    let requests = seen.lock().unwrap().clone();
    assert_eq!(
        requests.last(),
        Some(&Some("Basic ZGVwbG95OnMzY3IzdC1wdw==".to_string()))
    );
}

/// A token never goes over plain HTTP to another host.
#[test]
fn a_token_over_plain_http_is_refused_before_anything_is_sent() {
    let state = TempDir::new().unwrap();
    let error = Source::open_remote(
        "http://git.example.com/gitops.git",
        &state.path().join("repo.git"),
        GitAuth::Token {
            token: "tok-123".to_string(),
        },
    )
    .err()
    .expect("refused");
    assert!(
        matches!(error, SourceError::InsecureCredentials { .. }),
        "{error:?}"
    );
    assert!(!state.path().join("repo.git").exists(), "nothing made");
}

/// A first clone whose fetch fails leaves nothing behind: not the clone, not the state
/// directory it would have made.
#[test]
fn a_failed_first_clone_leaves_no_directory_behind() {
    let parent = TempDir::new().unwrap();
    let state = parent.path().join("state/nested");
    let missing = parent.path().join("no-such-remote");
    let result = Source::open_remote(
        missing.to_str().unwrap(),
        &state.join("repo.git"),
        GitAuth::None,
    );
    assert!(
        matches!(result, Err(SourceError::Fetch { .. })),
        "{:?}",
        result.err()
    );
    assert!(
        !parent.path().join("state").exists(),
        "the state directory is gone"
    );
}

/// The clone of a state directory that belongs to another user (root running a command on
/// the daemon's /var/lib/gwsync) is refused before anything is written there.
#[test]
fn a_state_directory_of_another_user_is_refused_untouched() {
    use std::os::unix::fs::MetadataExt;
    let (remote, _, _) = remote_repo();
    let state = TempDir::new().unwrap();
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("not root: cannot give a directory to another user here; skipped");
        return;
    }
    std::os::unix::fs::chown(state.path(), Some(54321), Some(54321)).unwrap();
    let result = Source::open_remote(
        url_of(&remote),
        &state.path().join("repo.git"),
        GitAuth::None,
    );
    match result {
        Err(e @ SourceError::ForeignStateDir { .. }) => {
            assert!(e.to_string().contains("uid 54321"), "{e}")
        }
        other => panic!("refused: {:?}", other.err()),
    }
    assert!(
        !state.path().join("repo.git").exists(),
        "nothing was written"
    );
}
