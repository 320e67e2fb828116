//! Certificate discovery: the issued ACM certificates that cover listener (or, for a listener
//! without hostname or certificate, its routes') hostnames, and writing them into the desired
//! state. A hostname no certificate covers is reported; its listener stays as it is on AWS
//! (`reconcile::holds`).

use crate::alb::{Certificate, Stack};
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use crate::plan::HeldBack;
use std::collections::{BTreeMap, BTreeSet};

/// Largest page ACM's ListCertificates allows.
const ACM_PAGE_SIZE: i32 = 1000;

/// Every key type ACM has: ListCertificates returns only RSA_2048 certificates unless told
/// otherwise.
const KEY_TYPES: [aws_sdk_acm::types::KeyAlgorithm; 7] = [
    aws_sdk_acm::types::KeyAlgorithm::Rsa1024,
    aws_sdk_acm::types::KeyAlgorithm::Rsa2048,
    aws_sdk_acm::types::KeyAlgorithm::Rsa3072,
    aws_sdk_acm::types::KeyAlgorithm::Rsa4096,
    aws_sdk_acm::types::KeyAlgorithm::EcPrime256v1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp384r1,
    aws_sdk_acm::types::KeyAlgorithm::EcSecp521r1,
];

/// An issued certificate and the names it covers.
#[derive(Debug, Clone)]
struct IssuedCertificate {
    arn: String,
    names: Vec<String>,
    /// Seconds since the epoch; later is preferred.
    not_after: i64,
}

/// The ARN of an issued ACM certificate for each hostname that one covers (hostnames
/// without one are left out). A certificate covers a hostname when one of its names is the
/// hostname or a wildcard one label above it (`*.example.com` covers `a.example.com`, not
/// `a.b.example.com` nor `example.com`). Among several: an exact name over a wildcard, then
/// the one valid longest, then the lowest ARN.
///
/// Calls: ListCertificates (1000 a page) and, only for certificates whose names the listing
/// does not hold in full, DescribeCertificate.
pub async fn find_certificates(
    clients: &Clients,
    hostnames: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    if hostnames.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut certificates = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .read_call("ListCertificates", || {
                clients
                    .acm
                    .list_certificates()
                    .certificate_statuses(aws_sdk_acm::types::CertificateStatus::Issued)
                    .includes(
                        aws_sdk_acm::types::Filters::builder()
                            .set_key_types(Some(KEY_TYPES.to_vec()))
                            .build(),
                    )
                    .max_items(ACM_PAGE_SIZE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for s in out.certificate_summary_list() {
            let Some(arn) = s.certificate_arn() else {
                continue;
            };
            let listed = s.subject_alternative_name_summaries();
            let complete =
                !listed.is_empty() && s.has_additional_subject_alternative_names() != Some(true);
            let (mut names, not_after) = if complete {
                (listed.to_vec(), s.not_after().map_or(0, |t| t.secs()))
            } else {
                let detail = clients
                    .read_call("DescribeCertificate", || {
                        clients
                            .acm
                            .describe_certificate()
                            .certificate_arn(arn)
                            .send()
                    })
                    .await?;
                let Some(c) = detail.certificate() else {
                    continue;
                };
                (
                    c.subject_alternative_names().to_vec(),
                    c.not_after().or(s.not_after()).map_or(0, |t| t.secs()),
                )
            };
            names.extend(s.domain_name().map(str::to_string));
            certificates.push(IssuedCertificate {
                arn: arn.to_string(),
                names,
                not_after,
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(match_certificates(hostnames, &certificates))
}

fn match_certificates(
    hostnames: &BTreeSet<String>,
    certificates: &[IssuedCertificate],
) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for host in hostnames {
        let host_lc = host.to_ascii_lowercase();
        let best = certificates
            .iter()
            .filter_map(|c| {
                let exact = c.names.iter().any(|n| n.eq_ignore_ascii_case(&host_lc));
                let wildcard = c.names.iter().any(|n| wildcard_covers(n, &host_lc));
                (exact || wildcard).then_some((exact, c))
            })
            // Best first: exact, then valid longest, then lowest ARN.
            .min_by(|(ea, a), (eb, b)| {
                eb.cmp(ea)
                    .then(b.not_after.cmp(&a.not_after))
                    .then(a.arn.cmp(&b.arn))
            });
        if let Some((_, c)) = best {
            found.insert(host.clone(), c.arn.clone());
        }
    }
    found
}

/// Whether certificate name `*.parent` covers `host` (lowercase): exactly one label more.
fn wildcard_covers(name: &str, host: &str) -> bool {
    let Some(parent) = name.strip_prefix("*.") else {
        return false;
    };
    match host.split_once('.') {
        Some((label, rest)) => {
            !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(parent)
        }
        None => false,
    }
}

/// Replaces every `Certificate::ForHostname` in the desired stack by the ARN `found` has
/// for it; a hostname without one stays and gets an error naming its listener. Each HTTPS
/// listener's certificates are then in observe's shape: the default (first) one, then the
/// others sorted, each once.
pub fn resolve_certificates(stack: &mut Stack, found: &BTreeMap<String, String>) -> Vec<HeldBack> {
    let mut missing = Vec::new();
    for lb in &mut stack.load_balancers {
        for l in &mut lb.listeners {
            resolve_route_hostnames(&mut l.certificates, found);
            for c in &mut l.certificates {
                let Some(host) = c.hostname().map(str::to_string) else {
                    continue;
                };
                match found.get(host.as_str()) {
                    Some(arn) => *c = Certificate::Arn(arn.clone()),
                    None => missing.push(HeldBack::MissingCertificate {
                        gateway: lb.gateway.clone(),
                        port: l.port,
                        hostname: host,
                    }),
                }
            }
            if l.certificates.len() > 1 {
                let default = l.certificates[0].clone();
                let others: BTreeSet<Certificate> = l.certificates[1..]
                    .iter()
                    .filter(|c| **c != default)
                    .cloned()
                    .collect();
                l.certificates = std::iter::once(default).chain(others).collect();
            }
        }
    }
    missing
}

/// Certificates discovered from route hostnames are optional one by one: those ACM has are
/// used and the others left out, so long as one is found. When none is, they all stay
/// unresolved, and the listener's Gateway is held (its load balancer stays as it is).
fn resolve_route_hostnames(certificates: &mut Vec<Certificate>, found: &BTreeMap<String, String>) {
    let discovered = |c: &Certificate| matches!(c, Certificate::ForRouteHostname(_));
    let any_found = certificates
        .iter()
        .any(|c| discovered(c) && c.hostname().is_some_and(|h| found.contains_key(h)));
    if any_found {
        certificates
            .retain(|c| !discovered(c) || c.hostname().is_some_and(|h| found.contains_key(h)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::{Action, IpAddressType, Listener, LoadBalancer, Protocol, Scheme};

    /// Route-hostname certificates: those found are used, the others left out; with none
    /// found they all stay unresolved and are reported, so the Gateway is held.
    #[test]
    fn route_hostname_certificates_are_used_when_found() {
        let route = |h: &str| Certificate::ForRouteHostname(h.into());
        let found = BTreeMap::from([("b.example.com".to_string(), "arn:b".to_string())]);

        let mut some = https_stack(vec![route("a.example.com"), route("b.example.com")]);
        assert!(resolve_certificates(&mut some, &found).is_empty());
        let certificates = &some.load_balancers[0].listeners[0].certificates;
        assert_eq!(certificates, &[Certificate::Arn("arn:b".into())]);

        let mut none = https_stack(vec![route("c.example.com")]);
        let missing = resolve_certificates(&mut none, &found);
        assert_eq!(missing.len(), 1, "{missing:?}");
        let certificates = &none.load_balancers[0].listeners[0].certificates;
        assert_eq!(certificates, &[route("c.example.com")]);
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(wildcard_covers("*.example.com", "a.example.com"));
        assert!(!wildcard_covers("*.example.com", "a.b.example.com"));
        assert!(!wildcard_covers("*.example.com", "example.com"));
        assert!(!wildcard_covers("example.com", "example.com"));
    }

    #[test]
    fn exact_names_win_then_the_longest_valid() {
        let cert = |arn: &str, names: &[&str], not_after| IssuedCertificate {
            arn: arn.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            not_after,
        };
        let certs = [
            cert("arn:wild-late", &["*.example.com"], 300),
            cert("arn:exact-early", &["shop.example.com"], 100),
            cert("arn:exact-late", &["shop.example.com"], 200),
        ];
        let hosts: BTreeSet<String> = ["shop.example.com", "x.example.com", "a.b.example.com"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            match_certificates(&hosts, &certs),
            BTreeMap::from([
                ("shop.example.com".to_string(), "arn:exact-late".to_string()),
                ("x.example.com".to_string(), "arn:wild-late".to_string()),
            ])
        );
    }

    fn https_stack(certificates: Vec<Certificate>) -> Stack {
        Stack {
            load_balancers: vec![LoadBalancer {
                gateway: "platform/public".into(),
                name: "gw".into(),
                scheme: Scheme::Internal,
                ip_address_type: IpAddressType::Ipv4,
                subnets: vec![],
                security_groups: vec![],
                attributes: BTreeMap::new(),
                tags: BTreeMap::new(),
                listeners: vec![Listener {
                    port: 443,
                    protocol: Protocol::Https,
                    ssl_policy: None,
                    certificates,
                    default_action: Action::fixed(404),
                    rules: vec![],
                }],
                target_groups: vec![],
            }],
        }
    }

    #[test]
    fn certificates_resolve_dedupe_and_sort_like_observed() {
        let host = |h: &str| Certificate::ForHostname(h.into());
        let arn = |a: &str| Certificate::Arn(a.into());
        let mut stack = https_stack(vec![
            host("z.example.com"),
            host("b.example.com"),
            host("a.example.com"),
            host("y.example.com"),
            host("missing.example.com"),
        ]);
        let found = BTreeMap::from([
            ("z.example.com".to_string(), "arn:z".to_string()),
            ("y.example.com".to_string(), "arn:z".to_string()),
            ("b.example.com".to_string(), "arn:b".to_string()),
            ("a.example.com".to_string(), "arn:a".to_string()),
        ]);
        let missing = resolve_certificates(&mut stack, &found);
        assert_eq!(
            stack.load_balancers[0].listeners[0].certificates,
            vec![
                arn("arn:z"),
                arn("arn:a"),
                arn("arn:b"),
                host("missing.example.com")
            ]
        );
        assert_eq!(
            missing,
            [HeldBack::MissingCertificate {
                gateway: "platform/public".into(),
                port: 443,
                hostname: "missing.example.com".into(),
            }]
        );
        let words = missing[0].to_string();
        assert!(
            words.contains("port 443 of Gateway platform/public"),
            "{words}"
        );
    }
}
