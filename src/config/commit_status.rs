//! `[commit_status]`: the commit statuses the daemon posts on the Git host for each commit it
//! applies (GitHub's statuses API, GitLab's commit status API), so that a merged pull request
//! shows whether its change is live. The token is named (an environment variable or a file),
//! never written in the configuration.

use super::SecretSource;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the statuses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHost {
    GitHub,
    GitLab,
}

impl GitHost {
    fn parse(name: &str) -> Option<GitHost> {
        match name {
            "github" => Some(GitHost::GitHub),
            "gitlab" => Some(GitHost::GitLab),
            _ => None,
        }
    }

    /// The public service's API root.
    fn default_api_url(self) -> &'static str {
        match self {
            GitHost::GitHub => "https://api.github.com",
            GitHost::GitLab => "https://gitlab.com/api/v4",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatusConfig {
    pub host: GitHost,
    /// The API root, e.g. `https://github.example.com/api/v3` for GitHub Enterprise.
    pub api_url: String,
    /// `owner/name` on GitHub; the project's id or `group/name` path on GitLab.
    pub repository: String,
    pub token: SecretSource,
    /// The status's name on the commit (GitHub `context`, GitLab `name`).
    pub context: String,
    /// A link shown with the status (e.g. the daemon's `/status`, behind a proxy).
    pub target_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommitStatus {
    provider: Option<String>,
    api_url: Option<String>,
    repository: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    context: Option<String>,
    target_url: Option<String>,
}

/// `http://` to this machine only: the host, up to its port or path, is a loopback name
/// (`http://localhost.example.com` is not, nor a URL with user info).
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false; // user info: `http://localhost:80@example.com` goes to example.com
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_string),
    };
    matches!(host.as_deref(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

impl RawCommitStatus {
    /// The section checked; every problem goes to `bad` with its key.
    pub(super) fn check(self, bad: &mut impl FnMut(&str, String)) -> Option<CommitStatusConfig> {
        let host = match self.provider.as_deref().map(GitHost::parse) {
            Some(Some(host)) => Some(host),
            Some(None) | None => {
                bad(
                    "commit_status.provider",
                    "must be `github` or `gitlab`".to_string(),
                );
                None
            }
        };
        let repository = self.repository.filter(|r| !r.trim().is_empty());
        if repository.is_none() {
            bad(
                "commit_status.repository",
                "is required: `owner/name` (GitHub) or the project's id or path (GitLab)"
                    .to_string(),
            );
        }
        let token = match (self.token_env, self.token_file) {
            (Some(name), None) if !name.is_empty() && !name.contains('=') => {
                Some(SecretSource::Env(name))
            }
            (None, Some(path)) => Some(SecretSource::File(path)),
            _ => {
                bad(
                    "commit_status.token_env",
                    "name exactly one of token_env (an environment variable) or token_file; the token itself never goes in the file".to_string(),
                );
                None
            }
        };
        let api_url = self.api_url.map(|u| u.trim_end_matches('/').to_string());
        if let Some(url) = &api_url
            && !url.starts_with("https://")
            && !is_loopback_http(url)
        {
            bad(
                "commit_status.api_url",
                "must be https:// (the token goes with every call); plain http:// only to this machine (127.0.0.1, localhost, [::1])".to_string(),
            );
        }
        let host = host?;
        Some(CommitStatusConfig {
            host,
            api_url: api_url.unwrap_or_else(|| host.default_api_url().to_string()),
            repository: repository?,
            token: token?,
            context: self.context.unwrap_or_else(|| "gwsync".to_string()),
            target_url: self.target_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_to_this_machine_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost/api",
            "http://[::1]:9000/v4",
        ] {
            assert!(is_loopback_http(ok), "{ok}");
        }
        for refused in [
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io:80",
            "http://user@evil.example.com",
            "http://localhost:80@evil.example.com",
            "https://127.0.0.1",
        ] {
            assert!(!is_loopback_http(refused), "{refused}");
        }
    }
}
