//! Doctor's checks of what gwsync talks to: the Git repository (with the configured
//! credentials) and AWS (region, identity, owned resources, the IAM policy's reads). Only
//! reads: `ls-remote` for Git; Describe, List and Get calls for AWS.

use super::host::Environment;
use super::{Check, Finding};
use crate::alb::Stack;
use crate::aws::client::{Clients, RateLimits, sdk_config};
use crate::aws::error::CallError;
use crate::config::{Config, RepoLocation};
use crate::source::{GitAuth, Source, redact_url, short};

/// A secret name under the configured prefix that nobody makes: reading it shows whether the
/// policy allows `GetSecretValue` there (AWS answers "not found" only to a caller allowed to
/// ask).
const PROBE_SECRET: &str = "gwsync-doctor-probe";

/// The tip of the tracked branch, asked of the repository with the daemon's credentials.
pub(super) fn git(config: &Config, environment: &Environment) -> Finding {
    let branch = &config.repo.branch;
    let Some(location) = &config.repo.location else {
        return Finding::fail(
            Check::Git,
            "no repository configured",
            "set repo.url (or repo.path) in the configuration",
        );
    };
    let (shown, tip) = match location {
        RepoLocation::Path(path) => (
            path.display().to_string(),
            Source::open_local(path)
                .and_then(|source| source.resolve(branch))
                .map(|revision| Some(revision.commit)),
        ),
        RepoLocation::Url(url) => (
            redact_url(url),
            GitAuth::from_config_with(&config.repo, |var| environment.var(var))
                .and_then(|auth| Source::remote_tip(url, auth, branch)),
        ),
    };
    match tip {
        Ok(Some(commit)) => Finding::pass(
            Check::Git,
            format!("{shown}: {branch} is at {}", short(&commit)),
        ),
        Ok(None) => Finding::fail(
            Check::Git,
            format!("{shown} has no branch or tag {branch}"),
            "set repo.branch to a branch the repository has",
        ),
        Err(error) => Finding::fail(
            Check::Git,
            crate::error_chain(&error),
            "check repo.url and its credentials (repo.ssh_key readable by the daemon's user and \
             known to the Git host, or the token in repo.token_env); docs/deploy.md section 4",
        ),
    }
}

/// Region, identity, owned resources and the IAM policy's reads, in that order; a failure
/// skips what depends on it.
/// A PostgreSQL store: reachable with the configured password, its schema this gwsync's, and
/// who leads. Nothing for SQLite (the file is checked on the host).
pub(super) async fn store(config: &Config, environment: &super::host::Environment) -> Vec<Finding> {
    let Some(pg) = &config.store.postgres else {
        return Vec::new();
    };
    let password = match &pg.password {
        Some(crate::config::SecretSource::Env(var)) => environment.var(var),
        Some(source) => crate::store::engine::read_password(Some(source))
            .ok()
            .flatten(),
        None => None,
    };
    let fix = "check store.url (host, database, sslmode, sslrootcert), the password, and that the \
               database's security group admits this instance on 5432";
    let location = config.store.location();
    let (store, schema) = match crate::store::Store::inspect(&location, password.as_deref()).await {
        Ok(opened) => opened,
        Err(e) => return vec![Finding::fail(Check::StoreServer, e.to_string(), fix)],
    };
    let known = store.known_schema();
    let finding = if schema != Some(known) {
        Finding::warn(
            Check::StoreServer,
            format!(
                "{} answers; schema {} (this gwsync's is {known})",
                pg.url,
                schema.map_or("not made yet".to_string(), |v| v.to_string())
            ),
            "the first gwsync to start (or any command that opens the store) brings it up to date",
        )
    } else {
        match store.lease(crate::store::LeaseName::Leader).await {
            Ok(lease) if lease.is_held() => Finding::pass(
                Check::StoreServer,
                format!(
                    "{} answers; {} (pid {} on {}) leads, epoch {}",
                    pg.url,
                    crate::diagnostic::printable(&lease.holder),
                    lease.pid,
                    crate::diagnostic::printable(&lease.host),
                    lease.epoch
                ),
            ),
            Ok(_) => Finding::pass(
                Check::StoreServer,
                format!("{} answers; no instance leads right now", pg.url),
            ),
            Err(e) => Finding::fail(Check::StoreServer, e.to_string(), fix),
        }
    };
    store.close().await;
    vec![finding]
}

pub(super) async fn aws(config: &Config) -> Vec<Finding> {
    let sdk = sdk_config(&config.aws).await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return vec![Finding::fail(
            Check::AwsRegion,
            "no region: neither aws.region nor the SDK's chain (AWS_REGION, the profile, the instance metadata) gives one",
            "set aws.region in the configuration",
        )];
    };
    let mut findings = vec![Finding::pass(Check::AwsRegion, region)];
    let sts = aws_sdk_sts::Client::new(&sdk);
    match sts.get_caller_identity().send().await {
        Ok(identity) => findings.push(Finding::pass(
            Check::AwsIdentity,
            format!(
                "{} (account {})",
                identity.arn().unwrap_or("?"),
                identity.account().unwrap_or("?")
            ),
        )),
        Err(error) => {
            findings.push(Finding::fail(
                Check::AwsIdentity,
                CallError::new("GetCallerIdentity", &error).to_string(),
                "give the instance an instance profile whose role has deploy/iam-policy.json \
                 (docs/deploy.md section 3), or set aws.profile",
            ));
            return findings;
        }
    }
    let clients = Clients::from_sdk_config(&sdk, RateLimits::of(&config.aws));
    findings.push(owned_resources(&clients, &config.instance_id).await);
    findings.push(permissions(&clients, config).await);
    findings
}

/// What carries this instance's tag: every Describe call a plan makes, once.
async fn owned_resources(clients: &Clients, instance_id: &str) -> Finding {
    match crate::aws::observe::observe_for(clients, instance_id, &Stack::default()).await {
        Ok((observed, _)) => {
            let lbs = &observed.stack.load_balancers;
            let listeners: usize = lbs.iter().map(|lb| lb.listeners.len()).sum();
            let rules: usize = lbs
                .iter()
                .flat_map(|lb| &lb.listeners)
                .map(|l| l.rules.len())
                .sum();
            let target_groups: usize = lbs.iter().map(|lb| lb.target_groups.len()).sum();
            Finding::pass(
                Check::AwsResources,
                format!(
                    "tagged gwsync.dev/instance={instance_id}: {} load balancers, {listeners} listeners, {rules} rules, {target_groups} target groups{}",
                    lbs.len(),
                    if lbs.is_empty() {
                        " (none yet: the first apply makes them)"
                    } else {
                        ""
                    }
                ),
            )
        }
        Err(error) => Finding::fail(
            Check::AwsResources,
            error.to_string(),
            "the role needs the elasticloadbalancing Describe* calls of deploy/iam-policy.json",
        ),
    }
}

/// One read-only call per service beyond ELB's (which [`owned_resources`] made). Writes are
/// not tried: ELB has no dry run, and a write on a resource that does not exist is refused
/// for its missing tag whatever the policy says.
async fn permissions(clients: &Clients, config: &Config) -> Finding {
    let mut refused = Vec::new();
    if let Err(error) = clients.acm.list_certificates().max_items(1).send().await {
        refused.push(CallError::new("ListCertificates", &error).to_string());
    }
    let probe = format!("{}{PROBE_SECRET}", config.aws.oidc_secret_prefix);
    match clients
        .secrets
        .get_secret_value()
        .secret_id(&probe)
        .send()
        .await
    {
        Ok(_) => {}
        Err(error) => {
            let error = CallError::new("GetSecretValue", &error);
            if !error.is("ResourceNotFoundException") {
                refused.push(error.to_string());
            }
        }
    }
    if refused.is_empty() {
        return Finding::pass(
            Check::AwsPermissions,
            format!(
                "elasticloadbalancing Describe*, acm:ListCertificates, secretsmanager:GetSecretValue on {}* allowed (writes are not tried)",
                config.aws.oidc_secret_prefix
            ),
        );
    }
    Finding::fail(
        Check::AwsPermissions,
        refused.join("; "),
        "attach deploy/iam-policy.json (with the instance id and the secret prefix) to the role",
    )
}
