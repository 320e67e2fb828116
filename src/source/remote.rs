//! Remote repositories: the bare clone kept in the state directory, fetching into it, and the
//! credentials offered to the server.
//!
//! The clone is a mirror of the remote's branches and tags, not a working copy: branches land
//! in `refs/remotes/origin/*`, tags in `refs/tags/*`, both with forced refspecs and pruning, so
//! the clone follows force-pushes and deletions exactly. Nothing is ever checked out.
//!
//! Credentials never reach a message: URLs are shown redacted ([`redact_url`]) and the errors
//! libgit2 returns while talking to the remote are scrubbed ([`scrub`]) before they are stored.
//! They never reach the disk either: the clone's `origin` is the URL without its credentials
//! (a password, or a token standing in the username, in `https://token@host/...`), and they
//! are handed to libgit2 through the credential callback only. No credential goes over plain
//! `http://` but to the loopback address (refused, [`SourceError::InsecureCredentials`]), and
//! off-site redirects are not followed, so a redirect never carries them to another host.

use super::SourceError;
use git2::{
    AutotagOption, Cred, CredentialType, ErrorCode, FetchOptions, FetchPrune, Remote,
    RemoteCallbacks, RemoteRedirect, Repository,
};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The name of the remote in the clone.
const ORIGIN: &str = "origin";
/// Branches and tags, forced (`+`) so that a rewritten history replaces the old one.
const FETCH_REFSPECS: [&str; 2] = [
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
];
/// Where the remote's default branch is recorded, as `git clone` does.
const ORIGIN_HEAD: &str = "refs/remotes/origin/HEAD";
/// Username for SSH when the URL has none (GitHub, GitLab and Gitea all use `git`).
const DEFAULT_SSH_USER: &str = "git";
/// Username for an HTTPS token when the URL has none (GitHub's convention; other forges
/// accept any username with a token).
const DEFAULT_TOKEN_USER: &str = "x-access-token";
/// What replaces a credential in anything shown to a person.
const REDACTED: &str = "***";

/// How to authenticate to a remote repository.
///
/// `Debug` never shows the token; the SSH key is only ever a path, its contents are read by
/// libgit2 when the server asks for it.
#[derive(Clone)]
pub enum GitAuth {
    /// Anonymous access (public repositories, local paths, `file://` URLs).
    None,
    /// A private key file (a deploy key), for `ssh://` and `git@host:path` URLs.
    SshKey { path: PathBuf },
    /// A token sent as the HTTPS password.
    Token { token: String },
    /// The user name and password written in the URL (`https://user:password@host/...`, or
    /// a token as the user name): taken out of the URL, offered like a token.
    UrlCredentials { user: String, password: String },
}

impl GitAuth {
    /// The credentials `repo` asks for: secrets come from the environment (the token) or a
    /// key file (SSH), never from the configuration file itself.
    pub fn from_config(repo: &crate::config::RepoConfig) -> Result<GitAuth, SourceError> {
        GitAuth::from_config_with(repo, |var| std::env::var(var).ok())
    }

    /// [`GitAuth::from_config`] with the token looked up by `var` (`gwsync doctor` also
    /// reads the unit's environment file).
    pub fn from_config_with(
        repo: &crate::config::RepoConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<GitAuth, SourceError> {
        if let Some(name) = &repo.token_env {
            let token = var(name).ok_or_else(|| SourceError::MissingToken { var: name.clone() })?;
            return Ok(GitAuth::Token { token });
        }
        if let Some(path) = &repo.ssh_key {
            return Ok(GitAuth::SshKey { path: path.clone() });
        }
        Ok(GitAuth::None)
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::SshKey { path } => f.debug_struct("SshKey").field("path", path).finish(),
            GitAuth::Token { .. } => f.debug_struct("Token").field("token", &REDACTED).finish(),
            GitAuth::UrlCredentials { .. } => f
                .debug_struct("UrlCredentials")
                .field("user", &REDACTED)
                .field("password", &REDACTED)
                .finish(),
        }
    }
}

/// The remote a [`super::Source`] was opened from, and how to authenticate to it.
pub(super) struct Origin {
    /// As configured, credentials included: only to scrub them from messages.
    url: String,
    /// Without its credentials: what the clone's config holds and libgit2 connects to.
    bare_url: String,
    auth: GitAuth,
}

impl Origin {
    /// The remote at `url`. Credentials in the URL are taken out of it (the configured `auth`
    /// wins over them); any credential over plain `http://` is refused.
    pub(super) fn new(url: &str, auth: GitAuth) -> Result<Origin, SourceError> {
        let (bare_url, from_url) = split_credentials(url);
        let auth = match (auth, from_url) {
            (GitAuth::None, Some((user, password))) => GitAuth::UrlCredentials { user, password },
            // A user name in the URL goes with the configured token.
            (GitAuth::Token { token }, Some((user, password))) if password.is_empty() => {
                GitAuth::UrlCredentials {
                    user,
                    password: token,
                }
            }
            (auth, _) => auth,
        };
        let sends_secret = matches!(auth, GitAuth::Token { .. } | GitAuth::UrlCredentials { .. });
        if sends_secret && !transport_is_private(&bare_url) {
            return Err(SourceError::InsecureCredentials {
                url: redact_url(url),
            });
        }
        Ok(Origin {
            url: url.to_string(),
            bare_url,
            auth,
        })
    }

    /// Opens the bare clone in `clone_dir`, creating it if the directory is missing or empty,
    /// and points its `origin` at this URL. Also says whether the clone must be fetched before
    /// it can be read: it has never been fetched, or it held another repository's refs.
    pub(super) fn open_clone(&self, clone_dir: &Path) -> Result<(Repository, bool), SourceError> {
        let repo = open_or_init_bare(clone_dir)?;
        let url_changed = self.point_origin_here(&repo)?;
        let never_fetched =
            !has_remote_branches(&repo).map_err(|source| SourceError::OpenRepo {
                path: clone_dir.to_path_buf(),
                source,
            })?;
        Ok((repo, url_changed || never_fetched))
    }

    /// Fetches every branch and tag of the remote into `repo`, following rewrites and
    /// deletions, then records the remote's default branch as `origin/HEAD`.
    pub(super) fn fetch(&self, repo: &Repository) -> Result<(), SourceError> {
        let fail = |error| SourceError::Fetch {
            url: redact_url(&self.url),
            source: self.scrub(error),
        };
        let mut remote = repo.find_remote(ORIGIN).map_err(fail)?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(credential_callbacks(&self.auth))
            .follow_redirects(RemoteRedirect::None)
            .prune(FetchPrune::On)
            // The tags refspec already brings every tag; auto-following would add nothing.
            .download_tags(AutotagOption::None);
        remote
            .fetch(&FETCH_REFSPECS, Some(&mut options), Some("gwsync: fetch"))
            .map_err(fail)?;
        record_origin_head(repo, &remote).map_err(fail)
    }

    /// The commit `refs/heads/<branch>` (or the tag `<branch>`) is at on the remote, asked
    /// of the remote itself (`git ls-remote`): no clone, nothing written. None when the remote
    /// has no such branch or tag.
    pub(super) fn tip(&self, branch: &str) -> Result<Option<String>, SourceError> {
        let fail = |error| SourceError::Fetch {
            url: redact_url(&self.url),
            source: self.scrub(error),
        };
        let mut remote = Remote::create_detached(self.bare_url.as_str()).map_err(fail)?;
        let connection = remote
            .connect_auth(
                git2::Direction::Fetch,
                Some(credential_callbacks(&self.auth)),
                None,
            )
            .map_err(fail)?;
        let wanted = [
            format!("refs/heads/{branch}"),
            format!("refs/tags/{branch}"),
        ];
        let heads = connection.list().map_err(fail)?;
        // An annotated tag is listed twice: the tag object, then `^{}` with its commit.
        let peeled = format!("{}^{{}}", wanted[1]);
        let tip = [wanted[0].as_str(), peeled.as_str(), wanted[1].as_str()]
            .iter()
            .find_map(|name| heads.iter().find(|head| head.name() == *name))
            .map(|head| head.oid().to_string());
        Ok(tip)
    }

    /// Makes `origin` point at this URL. Returns whether anything changed (the remote was
    /// created, or pointed at another URL).
    fn point_origin_here(&self, repo: &Repository) -> Result<bool, SourceError> {
        let fail = |error| SourceError::ConfigureRemote {
            url: redact_url(&self.url),
            source: self.scrub(error),
        };
        match repo.find_remote(ORIGIN) {
            Ok(remote) if remote.url_bytes() == self.bare_url.as_bytes() => Ok(false),
            // Another URL, or this one with credentials written by an older gwsync: the
            // config is rewritten without them.
            Ok(remote) => {
                let same_repository = remote.url_bytes() == self.url.as_bytes();
                repo.remote_set_url(ORIGIN, &self.bare_url).map_err(fail)?;
                Ok(!same_repository)
            }
            Err(error) if error.code() == ErrorCode::NotFound => {
                // The refspecs are also written to the clone's config, so that an operator
                // running `git fetch` in it by hand gets what gwsync gets.
                repo.remote_with_fetch(ORIGIN, &self.bare_url, FETCH_REFSPECS[0])
                    .and_then(|_| repo.remote_add_fetch(ORIGIN, FETCH_REFSPECS[1]))
                    .map_err(fail)?;
                Ok(true)
            }
            Err(error) => Err(fail(error)),
        }
    }

    /// `error` with every credential of this origin removed from its message.
    fn scrub(&self, error: git2::Error) -> git2::Error {
        let mut secrets = url_secrets(&self.url);
        match &self.auth {
            GitAuth::Token { token } => secrets.push(token),
            GitAuth::UrlCredentials { user, password } => {
                secrets.push(user);
                secrets.push(password);
            }
            GitAuth::None | GitAuth::SshKey { .. } => {}
        }
        scrub(error, &secrets)
    }
}

/// Opens the bare repository in `dir`, or creates one if `dir` is missing or empty. A
/// non-empty directory that is not a bare repository is an error, never overwritten.
fn open_or_init_bare(dir: &Path) -> Result<Repository, SourceError> {
    let fail = |source| SourceError::OpenRepo {
        path: dir.to_path_buf(),
        source,
    };
    match Repository::open_bare(dir) {
        Ok(repo) => Ok(repo),
        Err(_) if is_missing_or_empty(dir) => {
            crate::config::permissions::create_private_dir(dir).map_err(|source| {
                SourceError::CreateCloneDir {
                    path: dir.to_path_buf(),
                    source,
                }
            })?;
            Repository::init_bare(dir).map_err(fail)
        }
        Err(error) => Err(fail(error)),
    }
}

/// The highest ancestor of `dir` (or `dir` itself) that does not exist yet: what creating
/// `dir` makes, and what a failed first clone removes. None when `dir` exists.
pub(super) fn first_missing_ancestor(dir: &Path) -> Option<std::path::PathBuf> {
    let mut missing = None;
    let mut path = Some(dir);
    while let Some(p) = path {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        missing = Some(p.to_path_buf());
        path = p.parent();
    }
    missing
}

/// Refuses a clone whose directory, or the state directory it goes in, another user owns
/// (a directory this call would create is this user's).
pub(super) fn check_owner(dir: &Path) -> Result<(), SourceError> {
    match crate::config::permissions::foreign_owner(dir) {
        Some((path, owner)) => Err(SourceError::ForeignStateDir { path, owner }),
        None => Ok(()),
    }
}

fn is_missing_or_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
    }
}

fn has_remote_branches(repo: &Repository) -> Result<bool, git2::Error> {
    Ok(repo
        .references_glob("refs/remotes/origin/*")?
        .next()
        .is_some())
}

/// Points `origin/HEAD` at the branch the remote's `HEAD` names, so that `HEAD` means the
/// remote's default branch for a remote source; removes it when the remote has none.
fn record_origin_head(repo: &Repository, remote: &Remote<'_>) -> Result<(), git2::Error> {
    let default_branch = match remote.default_branch() {
        Ok(name) => name,
        Err(error) if error.code() == ErrorCode::NotFound => return forget_origin_head(repo),
        Err(error) => return Err(error),
    };
    let Some(branch) = default_branch
        .as_str()
        .ok()
        .and_then(|name| name.strip_prefix("refs/heads/"))
    else {
        return forget_origin_head(repo);
    };
    repo.reference_symbolic(
        ORIGIN_HEAD,
        &tracking_ref(branch),
        true,
        "gwsync: remote HEAD",
    )?;
    Ok(())
}

/// The reference that tracks the remote's `branch` in the clone (`HEAD` gives `origin/HEAD`).
pub(super) fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/{ORIGIN}/{branch}")
}

fn forget_origin_head(repo: &Repository) -> Result<(), git2::Error> {
    match repo.find_reference(ORIGIN_HEAD) {
        Ok(mut reference) => reference.delete(),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Callbacks that answer libgit2's requests for credentials from `auth`.
fn credential_callbacks(auth: &GitAuth) -> RemoteCallbacks<'_> {
    let mut tried = CredentialType::empty();
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, username_from_url, allowed| {
        offer_credential(auth, username_from_url, allowed, &mut tried)
    });
    callbacks
}

/// Answers one request for credentials. libgit2 asks again after every refusal, forever, so
/// each kind of credential is offered once (`tried` remembers which): a second request for
/// the same kind means the server refused it.
fn offer_credential(
    auth: &GitAuth,
    username_from_url: Option<&str>,
    allowed: CredentialType,
    tried: &mut CredentialType,
) -> Result<Cred, git2::Error> {
    let mut first_time = |kind: CredentialType| {
        let offer = allowed.contains(kind) && !tried.contains(kind);
        if offer {
            tried.insert(kind);
        }
        offer
    };
    match auth {
        GitAuth::None => {}
        GitAuth::SshKey { path } => {
            let user = username_from_url.unwrap_or(DEFAULT_SSH_USER);
            // Asked first when the URL has no username.
            if first_time(CredentialType::USERNAME) {
                return Cred::username(user);
            }
            if first_time(CredentialType::SSH_KEY) {
                return Cred::ssh_key(user, None, path, None);
            }
        }
        GitAuth::Token { token } => {
            if first_time(CredentialType::USER_PASS_PLAINTEXT) {
                return Cred::userpass_plaintext(
                    username_from_url.unwrap_or(DEFAULT_TOKEN_USER),
                    token,
                );
            }
        }
        GitAuth::UrlCredentials { user, password } => {
            if first_time(CredentialType::USER_PASS_PLAINTEXT) {
                return Cred::userpass_plaintext(user, password);
            }
        }
    }
    Err(git2::Error::from_str(&credentials_exhausted(auth)))
}

fn credentials_exhausted(auth: &GitAuth) -> String {
    match auth {
        GitAuth::None => {
            "the remote asks for credentials and none are configured (repo.ssh_key or repo.token_env)"
                .to_string()
        }
        GitAuth::SshKey { path } => format!(
            "the remote refused the SSH key {}, or does not accept SSH keys",
            path.display()
        ),
        GitAuth::Token { .. } | GitAuth::UrlCredentials { .. } => {
            "the remote refused the token, or does not accept username/password authentication"
                .to_string()
        }
    }
}

/// `url` as it may be shown: the user information of `scheme://user:password@host/...` URLs
/// is replaced by `***`, except the username of SSH URLs, which is not a secret. (Over HTTPS a
/// token often stands in the username, as in `https://<token>@host/...`.) scp-like addresses
/// (`git@host:path`) carry no password and are shown as they are.
pub fn redact_url(url: &str) -> String {
    let Some(range) = userinfo_range(url) else {
        return url.to_string();
    };
    let userinfo = &url[range.clone()];
    let shown = match userinfo.split_once(':') {
        None if is_ssh_url(url) => userinfo.to_string(),
        Some((user, _password)) if is_ssh_url(url) => format!("{user}:{REDACTED}"),
        _ => REDACTED.to_string(),
    };
    format!("{}{shown}{}", &url[..range.start], &url[range.end..])
}

/// The parts of `url` that may be credentials: the whole user information, the password,
/// and (except over SSH) the username.
fn url_secrets(url: &str) -> Vec<&str> {
    let Some(range) = userinfo_range(url) else {
        return Vec::new();
    };
    let userinfo = &url[range];
    let mut secrets = vec![userinfo];
    if let Some((user, password)) = userinfo.split_once(':') {
        secrets.push(password);
        if !is_ssh_url(url) {
            secrets.push(user);
        }
    }
    secrets
}

/// Where the user information (`user:password`) of a `scheme://user:password@host/...` URL is.
fn userinfo_range(url: &str) -> Option<Range<usize>> {
    let start = url.find("://")? + "://".len();
    let authority_len = url[start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - start);
    let at = url[start..start + authority_len].rfind('@')?;
    Some(start..start + at)
}

/// `url` without the credentials in its user information, and those credentials (user name
/// and password; a lone user name is a token standing in it, with an empty password). SSH
/// URLs keep their user name, which is not a secret; scp-like addresses have none to take.
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some(range) = userinfo_range(url) else {
        return (url.to_string(), None);
    };
    let userinfo = &url[range.clone()];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, password),
        None => (userinfo, ""),
    };
    if is_ssh_url(url) {
        let kept = format!("{}{user}{}", &url[..range.start], &url[range.end..]);
        return (kept, None);
    }
    // Without the `@` that ended the user information.
    let bare = format!("{}{}", &url[..range.start], &url[range.end + 1..]);
    (bare, Some((user.to_string(), password.to_string())))
}

/// Whether a credential may go to `url` (without user information): anything but plain
/// `http://`, which is allowed only to the loopback address, where nothing leaves the host.
fn transport_is_private(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://") else {
        return true;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

fn is_ssh_url(url: &str) -> bool {
    ["ssh://", "git+ssh://", "ssh+git://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// `error` with every non-empty `secrets` replaced by `***` in its message; code and class
/// are kept, so callers can still tell an authentication failure from a network one.
pub(super) fn scrub(error: git2::Error, secrets: &[&str]) -> git2::Error {
    let message = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(error.message().to_string(), |message, secret| {
            replace_whole(&message, secret)
        });
    git2::Error::new(error.code(), error.class(), message)
}

/// `text` with every occurrence of `secret` that does not sit inside a longer word replaced
/// by `***`: a user name `u` must not turn "refused" into "ref***sed", while a token is
/// always delimited (by `:`, `@`, `/`, quotes or spaces) where it appears.
fn replace_whole(text: &str, secret: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        out.push_str(&rest[..at]);
        let before = out.chars().last();
        let after = rest[at + secret.len()..].chars().next();
        out.push_str(if word(before) || word(after) {
            secret
        } else {
            REDACTED
        });
        rest = &rest[at + secret.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_https_credentials() {
        assert_eq!(
            redact_url("https://user:secret@example.com/a/b.git"),
            "https://***@example.com/a/b.git"
        );
        assert_eq!(
            redact_url("https://ghp_token@example.com/a.git"),
            "https://***@example.com/a.git"
        );
    }

    #[test]
    fn redact_url_keeps_ssh_usernames_and_plain_urls() {
        assert_eq!(
            redact_url("ssh://git@example.com/a.git"),
            "ssh://git@example.com/a.git"
        );
        assert_eq!(
            redact_url("ssh://git:pw@example.com/a.git"),
            "ssh://git:***@example.com/a.git"
        );
        assert_eq!(
            redact_url("git@example.com:a/b.git"),
            "git@example.com:a/b.git"
        );
        assert_eq!(
            redact_url("https://example.com/a@b.git"),
            "https://example.com/a@b.git"
        );
        assert_eq!(redact_url("/srv/git/repo.git"), "/srv/git/repo.git");
    }

    #[test]
    fn scrub_removes_every_secret_and_keeps_the_code() {
        let error = git2::Error::new(
            ErrorCode::Auth,
            git2::ErrorClass::Http,
            "request to https://user:secret@h/x failed for user",
        );
        let scrubbed = scrub(error, &url_secrets("https://user:secret@h/x"));
        assert_eq!(
            scrubbed.message(),
            "request to https://***@h/x failed for ***"
        );
        assert_eq!(scrubbed.code(), ErrorCode::Auth);
    }

    #[test]
    fn scrub_leaves_a_short_user_name_inside_words_alone() {
        let error = git2::Error::new(
            ErrorCode::GenericError,
            git2::ErrorClass::Net,
            "failed to connect to h for u: Connection refused",
        );
        let scrubbed = scrub(error, &url_secrets("https://u:pw@h/x"));
        assert_eq!(
            scrubbed.message(),
            "failed to connect to h for ***: Connection refused"
        );
    }

    #[test]
    fn credentials_are_taken_out_of_the_url_and_never_sent_over_plain_http() {
        assert_eq!(
            split_credentials("https://user:secret@example.com/a.git"),
            (
                "https://example.com/a.git".to_string(),
                Some(("user".to_string(), "secret".to_string()))
            )
        );
        assert_eq!(
            split_credentials("https://ghp_token@example.com/a.git"),
            (
                "https://example.com/a.git".to_string(),
                Some(("ghp_token".to_string(), String::new()))
            )
        );
        assert_eq!(
            split_credentials("ssh://git:pw@example.com/a.git"),
            ("ssh://git@example.com/a.git".to_string(), None)
        );
        assert_eq!(
            split_credentials("git@example.com:a/b.git"),
            ("git@example.com:a/b.git".to_string(), None)
        );
        let origin = Origin::new("https://t0ken@example.com/a.git", GitAuth::None).unwrap();
        assert_eq!(origin.bare_url, "https://example.com/a.git");
        assert!(matches!(origin.auth, GitAuth::UrlCredentials { .. }));
        for (url, auth) in [
            ("http://t0ken@example.com/a.git", GitAuth::None),
            (
                "HTTP://example.com/a.git",
                GitAuth::Token { token: "t".into() },
            ),
        ] {
            let Err(error) = Origin::new(url, auth) else {
                panic!("{url}: a credential over plain http is refused");
            };
            assert!(error.to_string().contains("plain http://"), "{error}");
            assert!(!error.to_string().contains("t0ken"), "{error}");
        }
        assert!(Origin::new("http://example.com/public.git", GitAuth::None).is_ok());
        // On the loopback address nothing leaves the host.
        assert!(Origin::new("http://t0ken@127.0.0.1:8080/a.git", GitAuth::None).is_ok());
    }

    #[test]
    fn token_is_offered_once_then_refused() {
        let auth = GitAuth::Token {
            token: "tok-123".to_string(),
        };
        let mut tried = CredentialType::empty();
        let allowed = CredentialType::USER_PASS_PLAINTEXT;
        let first = offer_credential(&auth, None, allowed, &mut tried).expect("first offer");
        assert_eq!(first.credtype(), CredentialType::USER_PASS_PLAINTEXT.bits());
        let second = offer_credential(&auth, None, allowed, &mut tried)
            .err()
            .expect("second offer must fail");
        assert!(!second.message().contains("tok-123"));
    }

    #[test]
    fn ssh_key_offers_username_then_key_then_gives_up() {
        let auth = GitAuth::SshKey {
            path: PathBuf::from("/etc/gwsync/deploy_key"),
        };
        let allowed = CredentialType::USERNAME | CredentialType::SSH_KEY;
        let mut tried = CredentialType::empty();
        let kinds: Vec<u32> = std::iter::from_fn(|| {
            offer_credential(&auth, None, allowed, &mut tried)
                .ok()
                .map(|cred| cred.credtype())
        })
        .collect();
        assert_eq!(
            kinds,
            [
                CredentialType::USERNAME.bits(),
                CredentialType::SSH_KEY.bits()
            ]
        );
    }

    #[test]
    fn no_credentials_means_no_offer() {
        let mut tried = CredentialType::empty();
        let allowed = CredentialType::all();
        assert!(offer_credential(&GitAuth::None, None, allowed, &mut tried).is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let auth = GitAuth::Token {
            token: "tok-123".to_string(),
        };
        assert_eq!(format!("{auth:?}"), "Token { token: \"***\" }");
    }
}
