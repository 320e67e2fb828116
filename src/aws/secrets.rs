//! OIDC client credentials from AWS Secrets Manager: read for a live plan, written into the
//! desired state's client IDs, and kept in memory for the requests that send the client
//! secret ([`AwsIds::client_secrets`]).
//!
//! A team names its secret in a ListenerRuleConfiguration (`secret.name`); translation makes
//! it `<aws.oidc_secret_prefix><namespace>/<name>`, so a team reads only its own. The secret
//! holds JSON with the string keys `clientID` and `clientSecret`, as the Kubernetes Secret the
//! AWS Load Balancer Controller reads does. A secret that is missing, unreadable or malformed
//! makes the rules that need it answer 500 (never an unauthenticated forward), with the
//! reason in the plan; every other rule goes ahead. Throttling and transient failures are
//! errors of the whole plan, retried as any read.
//!
//! Nothing here writes a client secret anywhere but into a request: [`ClientSecret`] has no
//! `Display`, its `Debug` is redacted, and a problem never quotes the secret's value.

use crate::alb::{Action, Authenticate, Stack};
use crate::aws::AwsIds;
use crate::aws::client::Clients;
use crate::aws::error::{AwsError, CallError};
use crate::plan::{HeldBack, Unusable};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An OIDC client secret: sent in `CreateRule`/`ModifyRule`, shown nowhere.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret, for the one request field that carries it.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for ClientSecret {
    fn from(secret: String) -> Self {
        ClientSecret(secret)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// What one Secrets Manager secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: ClientSecret,
}

/// Answers of Secrets Manager that waiting will not change: the rules that need the secret
/// answer 500 and say why. Any other failure is the plan's.
const PERMANENT: [&str; 5] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidRequestException",
    "InvalidParameterException",
];

/// The secrets the desired state's OIDC actions name.
pub fn named_secrets(stack: &Stack) -> BTreeSet<String> {
    oidc_actions(stack)
        .filter_map(|oidc| oidc.credentials.as_ref().map(|c| c.secret.clone()))
        .collect()
}

fn oidc_actions(stack: &Stack) -> impl Iterator<Item = &crate::alb::OidcAuthentication> {
    stack
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| &l.rules)
        .flat_map(|r| &r.actions)
        .filter_map(|a| match a {
            Action::Authenticate(Authenticate::Oidc(oidc)) => Some(oidc),
            _ => None,
        })
}

/// Reads each secret once (GetSecretValue, its current version): the credentials, or why
/// they cannot be used.
pub async fn read_credentials(
    clients: &Clients,
    secrets: &BTreeSet<String>,
) -> Result<BTreeMap<String, Result<ClientCredentials, String>>, AwsError> {
    let mut found = BTreeMap::new();
    for name in secrets {
        let answer = clients
            .read_call("GetSecretValue", || {
                clients.secrets.get_secret_value().secret_id(name).send()
            })
            .await;
        let credentials = match answer {
            Ok(out) => parse(out.secret_string()),
            Err(e) if is_permanent(&e) => Err(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        found.insert(name.clone(), credentials);
    }
    Ok(found)
}

fn is_permanent(error: &CallError) -> bool {
    PERMANENT.iter().any(|code| error.is(code))
}

/// `{"clientID": "...", "clientSecret": "..."}`; other keys are allowed. The problem never
/// quotes what the secret holds.
fn parse(text: Option<&str>) -> Result<ClientCredentials, String> {
    let shape = "it must hold JSON with the string keys `clientID` and `clientSecret`";
    let value: serde_json::Value = text
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| format!("it holds no JSON text; {shape}"))?;
    let field = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("`{key}` is missing or not a non-empty string; {shape}"))
    };
    Ok(ClientCredentials {
        client_id: field("clientID")?,
        client_secret: ClientSecret(field("clientSecret")?),
    })
}

/// Writes each OIDC action's client ID from its secret and keeps the client secrets in
/// `ids` for the requests; a rule whose secret cannot be used answers 500, said once per
/// rule.
pub fn resolve_credentials(
    stack: &mut Stack,
    found: &BTreeMap<String, Result<ClientCredentials, String>>,
    ids: &mut AwsIds,
) -> Vec<HeldBack> {
    for (name, credentials) in found {
        if let Ok(c) = credentials {
            ids.client_secrets
                .insert(name.clone(), c.client_secret.clone());
        }
    }
    let mut unusable = Vec::new();
    for lb in &mut stack.load_balancers {
        for listener in &mut lb.listeners {
            for rule in &mut listener.rules {
                let mut problem = None;
                for action in &mut rule.actions {
                    let Action::Authenticate(Authenticate::Oidc(oidc)) = action else {
                        continue;
                    };
                    let Some(secret) = oidc.credentials.as_ref().map(|c| c.secret.clone()) else {
                        continue;
                    };
                    match found.get(&secret) {
                        Some(Ok(c)) => oidc.client_id = c.client_id.clone(),
                        Some(Err(why)) => problem = Some((secret, why.clone())),
                        None => problem = Some((secret, "it was not read".to_string())),
                    }
                }
                let Some((secret, problem)) = problem else {
                    continue;
                };
                rule.answer_500();
                unusable.push(HeldBack::RuleAnswers500 {
                    gateway: lb.gateway.clone(),
                    port: listener.port,
                    source: rule.source.clone(),
                    cause: Unusable::ClientCredentials { secret, problem },
                });
            }
        }
    }
    unusable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::fixtures::{host, listener, load_balancer, rule};
    use crate::alb::{AuthenticationSession, OidcAuthentication, OidcCredentials, Protocol};

    fn oidc_rule(secret: &str) -> crate::alb::Rule {
        rule(
            1,
            vec![host(&["a.example.com"])],
            vec![
                Action::Authenticate(Authenticate::Oidc(OidcAuthentication {
                    issuer: "https://idp.example.com".into(),
                    authorization_endpoint: "https://idp.example.com/authorize".into(),
                    token_endpoint: "https://idp.example.com/token".into(),
                    user_info_endpoint: "https://idp.example.com/userinfo".into(),
                    client_id: String::new(),
                    session: AuthenticationSession::default(),
                    credentials: Some(OidcCredentials {
                        secret: secret.into(),
                        keep_existing_secret: false,
                    }),
                })),
                Action::fixed(200),
            ],
        )
    }

    fn stack(secret: &str) -> Stack {
        Stack {
            load_balancers: vec![load_balancer(
                "platform/gw",
                vec![listener(443, Protocol::Https, vec![oidc_rule(secret)])],
            )],
        }
    }

    #[test]
    fn credentials_are_parsed_from_the_controllers_keys_and_never_quoted() {
        let ok = parse(Some(
            r#"{"clientID": "app", "clientSecret": "s3cr3t", "note": 1}"#,
        ));
        let ok = ok.unwrap();
        assert_eq!(ok.client_id, "app");
        assert_eq!(ok.client_secret.expose(), "s3cr3t");
        assert!(!format!("{ok:?}").contains("s3cr3t"));

        for text in [
            None,
            Some("s3cr3t"),
            Some(r#"{"clientID": "app"}"#),
            Some(r#"{"clientID": "app", "clientSecret": ""}"#),
            Some(r#"{"clientID": 7, "clientSecret": "s3cr3t"}"#),
        ] {
            let problem = parse(text).unwrap_err();
            assert!(problem.contains("clientSecret"), "{problem}");
            assert!(!problem.contains("s3cr3t"), "{problem}");
        }
    }

    #[test]
    fn a_found_secret_fills_the_client_id_and_a_missing_one_makes_its_rule_answer_500() {
        let credentials = ClientCredentials {
            client_id: "app".into(),
            client_secret: ClientSecret("s3cr3t".into()),
        };
        let found = BTreeMap::from([
            ("gwsync/a/ok".to_string(), Ok(credentials.clone())),
            (
                "gwsync/a/gone".to_string(),
                Err("ResourceNotFoundException".into()),
            ),
        ]);

        let mut good = stack("gwsync/a/ok");
        assert_eq!(named_secrets(&good), BTreeSet::from(["gwsync/a/ok".into()]));
        let mut ids = AwsIds::default();
        assert!(resolve_credentials(&mut good, &found, &mut ids).is_empty());
        let Action::Authenticate(Authenticate::Oidc(oidc)) =
            &good.load_balancers[0].listeners[0].rules[0].actions[0]
        else {
            panic!("the OIDC action stays");
        };
        assert_eq!(oidc.client_id, "app");
        assert_eq!(ids.client_secrets["gwsync/a/ok"], credentials.client_secret);

        let mut bad = stack("gwsync/a/gone");
        let held = resolve_credentials(&mut bad, &found, &mut AwsIds::default());
        assert_eq!(held.len(), 1);
        let text = held[0].to_string();
        assert!(
            text.contains("answers 500")
                && text.contains("gwsync/a/gone")
                && text.contains("ResourceNotFoundException"),
            "{text}"
        );
        assert_eq!(
            bad.load_balancers[0].listeners[0].rules[0].actions,
            vec![Action::fixed(500)]
        );
    }
}
