//! Commit statuses: after a merge, the pull request's commit says whether its change is live.
//! The daemon posts `pending` when it reads a commit, then `success` when every team whose
//! files the commit changed is in sync, or `failure` naming the first team that is refused,
//! failed or stalled, with its reason ([`after_sync`], pure). GitHub's statuses API and
//! GitLab's commit status API, with a token read once from an environment variable or a file
//! and sent only in the request's header: never logged, never in an error.
//!
//! A status that cannot be posted is a warning in the log: the Git host's outage never stops
//! an apply.

use crate::config::SecretSource;
use crate::config::commit_status::{CommitStatusConfig, GitHost};
use crate::reconcile::sync::{SyncOutcome, SyncResult};
use crate::store::{TeamRecord, TeamState};
use std::collections::BTreeSet;
use std::time::Duration;

/// Longest description GitHub keeps.
const MAX_DESCRIPTION: usize = 140;
/// How long one post may take.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    Failure,
}

impl State {
    fn name(self, host: GitHost) -> &'static str {
        match (self, host) {
            (State::Pending, _) => "pending",
            (State::Success, _) => "success",
            (State::Failure, GitHost::GitHub) => "failure",
            (State::Failure, GitHost::GitLab) => "failed",
        }
    }
}

/// One status of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub description: String,
}

impl Status {
    pub fn pending(description: &str) -> Status {
        Status {
            state: State::Pending,
            description: description.to_string(),
        }
    }
}

/// Why the token could not be read (never the token).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("commit_status.token_env names `{0}`, which is not set")]
    MissingEnv(String),
    #[error("commit_status.token_file {0}: {1}")]
    File(String, std::io::Error),
    #[error("the commit status token is empty")]
    Empty,
}

/// The token, kept out of every `Debug` and `Display`.
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Posts statuses for one repository.
#[derive(Debug)]
pub struct CommitStatuses {
    config: CommitStatusConfig,
    token: Token,
    client: reqwest::Client,
    /// The last status posted, by commit: the same one is not posted again.
    last: Option<(String, Status)>,
}

impl CommitStatuses {
    /// Reads the token; None when `config` is None.
    pub fn open(config: Option<&CommitStatusConfig>) -> Result<Option<CommitStatuses>, TokenError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let token = match &config.token {
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| TokenError::MissingEnv(name.clone()))?
            }
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| TokenError::File(path.display().to_string(), e))?,
        };
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("gwsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with default TLS");
        Ok(Some(CommitStatuses {
            config: config.clone(),
            token: Token(token),
            client,
            last: None,
        }))
    }

    /// Says that `commit` is being applied, the first time it is read (a commit reconciled
    /// again, to retry or after a freeze, keeps the status it has until its new outcome).
    pub async fn reading(&mut self, commit: &str) {
        if self.last.as_ref().is_none_or(|(c, _)| c != commit) {
            self.post(commit, Status::pending("gwsync is applying this commit"))
                .await;
        }
    }

    /// Posts `status` for `commit`, unless it is the one posted last; a failure is logged.
    pub async fn post(&mut self, commit: &str, status: Status) {
        if self
            .last
            .as_ref()
            .is_some_and(|(c, s)| c == commit && *s == status)
        {
            return;
        }
        match self.send(commit, &status).await {
            Ok(()) => self.last = Some((commit.to_string(), status)),
            Err(why) => tracing::warn!(commit, "posting the commit status failed: {why}"),
        }
    }

    async fn send(&self, commit: &str, status: &Status) -> Result<(), String> {
        let c = &self.config;
        let description: String = status.description.chars().take(MAX_DESCRIPTION).collect();
        let state = status.state.name(c.host);
        let request = match c.host {
            GitHost::GitHub => self
                .client
                .post(format!(
                    "{}/repos/{}/statuses/{commit}",
                    c.api_url, c.repository
                ))
                .header("Accept", "application/vnd.github+json")
                .bearer_auth(&self.token.0)
                .json(&serde_json::json!({
                    "state": state,
                    "context": c.context,
                    "description": description,
                    "target_url": c.target_url,
                })),
            GitHost::GitLab => self
                .client
                .post(format!(
                    "{}/projects/{}/statuses/{commit}",
                    c.api_url,
                    url_path_segment(&c.repository)
                ))
                .header("PRIVATE-TOKEN", &self.token.0)
                .json(&serde_json::json!({
                    "state": state,
                    "name": c.context,
                    "description": description,
                    "target_url": c.target_url,
                })),
        };
        let response = request
            .send()
            .await
            // Without the URL: it names no secret, but the error's text is all that is needed.
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the Git host answered {}", response.status()))
        }
    }
}

/// `group/name` as one path segment, as GitLab's API takes a project path.
fn url_path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The status of a commit after its sync, for the teams whose files it changed (every team
/// when it changed none's: a platform or tenants commit concerns them all). A failed
/// reconcile posts nothing: it runs again, and the commit stays pending.
pub fn after_sync(result: &SyncResult, changed: &BTreeSet<String>) -> Status {
    let failure = |description: String| Status {
        state: State::Failure,
        description,
    };
    match &result.outcome {
        SyncOutcome::Invalid => {
            return failure(
                "the revision is invalid as a whole (tenants file or platform folder): see gwsync validate"
                    .to_string(),
            );
        }
        SyncOutcome::Pinned(_) => {
            return Status::pending(
                "not applied: a rollback's pin holds the revision (gwsync resume)",
            );
        }
        SyncOutcome::Guarded(_) => {
            return Status::pending(
                "waiting for an operator: the plan deletes more rules than allowed",
            );
        }
        SyncOutcome::Frozen(window) => {
            return Status::pending(&format!("waiting: freeze window {window} is open"));
        }
        SyncOutcome::Unchanged | SyncOutcome::Applied(_) | SyncOutcome::Failed(_) => {}
    }
    let concerned: Vec<_> = result
        .teams
        .iter()
        .filter(|t| changed.is_empty() || changed.contains(&t.team))
        .collect();
    let reason = |t: &TeamRecord| {
        t.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    };
    if let Some(t) = concerned.iter().find(|t| {
        matches!(
            t.state,
            TeamState::Refused | TeamState::Failed | TeamState::Stalled
        )
    }) {
        return failure(format!(
            "team {} is {}{}",
            t.team,
            t.state.as_str(),
            reason(t)
        ));
    }
    if let Some(t) = concerned
        .iter()
        .find(|t| matches!(t.state, TeamState::Held | TeamState::Pinned))
    {
        return Status::pending(&format!(
            "team {} is {}{}",
            t.team,
            t.state.as_str(),
            reason(t)
        ));
    }
    Status {
        state: State::Success,
        description: "live on AWS".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(team: &str, state: TeamState, reason: Option<&str>) -> TeamRecord {
        TeamRecord {
            team: team.into(),
            state,
            live_commit: None,
            live_at: None,
            wanted_commit: "c".into(),
            files_digest: String::new(),
            reason: reason.map(str::to_string),
            failures: 0,
            since: 0,
            updated: 0,
        }
    }

    fn result(outcome: SyncOutcome, teams: Vec<TeamRecord>) -> SyncResult {
        SyncResult {
            outcome,
            plan: None,
            held_back: Vec::new(),
            pin_lifted: None,
            teams,
        }
    }

    #[test]
    fn success_needs_every_changed_team_live_and_failure_names_the_first_that_is_not() {
        let teams = vec![
            record("orders", TeamState::Refused, Some("hostname not granted")),
            record("payments", TeamState::InSync, None),
        ];
        let payments = BTreeSet::from(["payments".to_string()]);
        let done = result(SyncOutcome::Unchanged, teams.clone());
        assert_eq!(after_sync(&done, &payments).state, State::Success);
        let everyone = after_sync(&done, &BTreeSet::new());
        assert_eq!(everyone.state, State::Failure);
        assert_eq!(
            everyone.description,
            "team orders is refused: hostname not granted"
        );
        let frozen = result(SyncOutcome::Frozen("release".into()), teams);
        assert_eq!(after_sync(&frozen, &payments).state, State::Pending);
        assert_eq!(State::Failure.name(GitHost::GitLab), "failed");
        assert_eq!(url_path_segment("acme/routes"), "acme%2Froutes");
    }

    /// GitLab's API: the project path as one segment, the token in `PRIVATE-TOKEN`, the
    /// status's name in `name`, `failed` for a failure; a status posted twice is sent once.
    #[tokio::test]
    async fn gitlab_statuses_go_to_the_projects_api_with_the_private_token() {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sent, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    head.push(line.trim().to_string());
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                sent.send((head, String::from_utf8(body).unwrap())).unwrap();
                let mut stream = stream;
                stream
                    .write_all(
                        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .unwrap();
            }
        });
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "glpat-secret\n").unwrap();
        let config = CommitStatusConfig {
            host: GitHost::GitLab,
            api_url: format!("http://127.0.0.1:{port}"),
            repository: "acme/routes".into(),
            token: SecretSource::File(token.path().to_path_buf()),
            context: "gwsync".into(),
            target_url: None,
        };
        let mut statuses = CommitStatuses::open(Some(&config)).unwrap().unwrap();
        let failed = Status {
            state: State::Failure,
            description: "team orders is refused".into(),
        };
        statuses.post("abc123", failed.clone()).await;
        statuses.post("abc123", failed).await;
        let (head, body) = received.recv().unwrap();
        assert_eq!(
            head[0],
            "POST /projects/acme%2Froutes/statuses/abc123 HTTP/1.1"
        );
        assert!(
            head.iter()
                .any(|h| h.eq_ignore_ascii_case("private-token: glpat-secret")),
            "{head:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["state"], "failed");
        assert_eq!(body["name"], "gwsync");
        assert!(
            received.try_recv().is_err(),
            "the same status is posted once"
        );
        assert!(!format!("{statuses:?}").contains("glpat-secret"));
    }
}
