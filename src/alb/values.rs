//! ALB's rules on values: what `CreateRule` and `ModifyRule` refuse, checked before anything
//! is sent. Translation calls these on every rule it builds, so that a value AWS would
//! reject is a diagnostic on the route (the file, the field, the team), never an apply error.
//!
//! Sources: the ELB API reference (each condition value and regex at most 128 characters;
//! `FixedResponseActionConfig.MessageBody` at most 1024; `RedirectActionConfig` host, path
//! and query at most 128, port 1–65535) and the ALB user guide's listener rule conditions
//! (the character sets: host `a-z A-Z 0-9 - _ .` with at least one `.` and only letters
//! after the last; path `a-z A-Z 0-9 _ - . $ / ~ " ' @ : + & ;`; query `a-z A-Z 0-9
//! _ - . $ / ~ " ' @ : + & ( ) ! , ; =` and `\` to escape a wildcard; header names at most
//! 40 characters of `a-z A-Z 0-9 ! # $ % & ' + - . ^ _ ` | ~`; header values printable
//! ASCII; methods at most 40 characters of `A-Z - _`; `*` and `?` wildcards where the guide
//! allows them); for authentication and JWT validation, the API reference's
//! `AuthenticateCognitoActionConfig`, `AuthenticateOidcActionConfig`,
//! `JwtValidationActionConfig` and `TargetGroupStickinessConfig`.

use super::{Action, Authenticate, AuthenticationSession, Condition, Patterns};

/// Longest condition value, regex, redirect host, path or query.
pub const MAX_VALUE: usize = 128;
/// Longest header name or method.
pub const MAX_NAME: usize = 40;
/// Longest fixed-response body.
pub const MAX_BODY: usize = 1024;
/// Longest load balancer or target group name.
pub const MAX_RESOURCE_NAME: usize = 32;
/// Most tags on one ELB resource, gwsync's own included.
pub const MAX_TAGS: usize = 50;
/// Longest stickiness and authentication session, in seconds (7 days).
pub const MAX_DURATION_SECONDS: u32 = 604_800;
/// Most authentication request parameters, and most additional JWT claims.
pub const MAX_AUTH_ITEMS: usize = 10;
/// Longest JWT issuer and JWKS endpoint.
pub const MAX_JWT_TEXT: usize = 256;
/// Longest tag key and tag value.
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;

/// Why ALB would refuse this condition, naming the value; None when it takes it.
pub fn condition_problem(condition: &Condition) -> Option<String> {
    match condition {
        Condition::HostHeader { values } => patterns_problem("host", values, host_value),
        Condition::PathPattern { values } => patterns_problem("path", values, path_value),
        Condition::HttpHeader { name, values } => header_name(name)
            .map(|why| format!("header name `{name}`: {why}"))
            .or_else(|| patterns_problem("header value", values, header_value)),
        Condition::QueryString { values } => values.iter().find_map(|q| {
            let key = q.key.as_deref().and_then(query_value);
            key.or_else(|| query_value(&q.value))
                .map(|why| format!("query parameter `{}`: {why}", query_text(q)))
        }),
        Condition::HttpRequestMethod { values } => values
            .iter()
            .find_map(|m| method(m).map(|why| format!("method `{m}`: {why}"))),
        Condition::SourceIp { .. } => None,
    }
}

/// Why ALB would refuse this action, naming the value; None when it takes it.
pub fn action_problem(action: &Action) -> Option<String> {
    match action {
        Action::FixedResponse { body, .. } => body
            .as_deref()
            .filter(|b| b.chars().count() > MAX_BODY)
            .map(|b| {
                format!(
                    "a fixed-response body of {} characters; ALB allows {MAX_BODY}",
                    b.chars().count()
                )
            }),
        Action::Redirect {
            host, path, query, ..
        } => [("host", host), ("path", path), ("query", query)]
            .into_iter()
            .find(|(_, v)| v.chars().count() > MAX_VALUE)
            .map(|(part, v)| {
                format!(
                    "a redirect {part} of {} characters; ALB allows {MAX_VALUE}",
                    v.chars().count()
                )
            }),
        Action::Forward {
            stickiness_seconds: Some(seconds),
            ..
        } if !(1..=MAX_DURATION_SECONDS).contains(seconds) => Some(format!(
            "a stickiness duration of {seconds} seconds; ALB allows 1 to {MAX_DURATION_SECONDS}"
        )),
        Action::Forward { .. } => None,
        Action::Authenticate(auth) => authenticate_problem(auth),
    }
}

/// Why ALB would refuse this authentication action (the API reference's
/// `AuthenticateCognitoActionConfig`, `AuthenticateOidcActionConfig` and
/// `JwtValidationActionConfig`): endpoints are full `https://` URLs, an issuer and a JWKS
/// endpoint at most 256 characters, at most 10 extra parameters and 10 additional claims, a
/// session of 1 to 604800 seconds.
fn authenticate_problem(auth: &Authenticate) -> Option<String> {
    let https = |what: &str, url: &str| {
        let host = url.strip_prefix("https://").unwrap_or_default();
        (host.is_empty() || host.starts_with('/'))
            .then(|| format!("the {what} `{url}` is not a full https:// URL"))
    };
    let longer = |what: &str, value: &str, max: usize| {
        too_long(value, max).map(|why| format!("the {what}: {why}"))
    };
    let session = |s: &AuthenticationSession| {
        if !(1..=i64::from(MAX_DURATION_SECONDS)).contains(&s.session_timeout_seconds) {
            Some(format!(
                "a session timeout of {} seconds; ALB allows 1 to {MAX_DURATION_SECONDS}",
                s.session_timeout_seconds
            ))
        } else if s.extra_params.len() > MAX_AUTH_ITEMS {
            Some(format!(
                "{} authentication request parameters; ALB allows {MAX_AUTH_ITEMS}",
                s.extra_params.len()
            ))
        } else {
            None
        }
    };
    match auth {
        Authenticate::Cognito(c) => session(&c.session),
        Authenticate::Oidc(o) => https("issuer", &o.issuer)
            .or_else(|| https("authorization endpoint", &o.authorization_endpoint))
            .or_else(|| https("token endpoint", &o.token_endpoint))
            .or_else(|| https("user info endpoint", &o.user_info_endpoint))
            .or_else(|| session(&o.session)),
        Authenticate::JwtValidation(j) => https("JWKS endpoint", &j.jwks_endpoint)
            .or_else(|| longer("JWKS endpoint", &j.jwks_endpoint, MAX_JWT_TEXT))
            .or_else(|| longer("issuer", &j.issuer, MAX_JWT_TEXT))
            .or_else(|| {
                (j.additional_claims.len() > MAX_AUTH_ITEMS).then(|| {
                    format!(
                        "{} additional claims; ALB allows {MAX_AUTH_ITEMS}",
                        j.additional_claims.len()
                    )
                })
            }),
    }
}

/// The first value of a host, path or header condition ALB refuses, with why.
/// A check of one value: why ALB refuses it, if it does.
type ValueCheck = fn(&str) -> Option<String>;

fn patterns_problem(what: &str, patterns: &Patterns, wildcard_value: ValueCheck) -> Option<String> {
    let (values, check): (&[String], ValueCheck) = match patterns {
        Patterns::Wildcard(v) => (v, wildcard_value),
        Patterns::Regex(v) => (v, regex_value),
    };
    values
        .iter()
        .find_map(|v| check(v).map(|why| format!("{what} `{v}`: {why}")))
}

fn too_long(value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    (n > max).then(|| format!("{n} characters; ALB allows {max}"))
}

fn not_allowed(value: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    value
        .chars()
        .find(|c| !allowed(*c))
        .map(|c| format!("ALB does not allow the character {c:?} here"))
}

fn regex_value(value: &str) -> Option<String> {
    too_long(value, MAX_VALUE)
}

fn host_value(value: &str) -> Option<String> {
    too_long(value, MAX_VALUE)
        .or_else(|| not_allowed(value, |c| c.is_ascii_alphanumeric() || "-_.*?".contains(c)))
        .or_else(|| match value.rsplit_once('.') {
            None => Some("ALB needs at least one `.` in a host value".to_string()),
            Some((_, last)) if !last.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some("ALB allows only letters after the last `.` of a host value".to_string())
            }
            Some(_) => None,
        })
}

fn path_value(value: &str) -> Option<String> {
    too_long(value, MAX_VALUE).or_else(|| {
        not_allowed(value, |c| {
            c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&;*?".contains(c)
        })
    })
}

fn query_value(value: &str) -> Option<String> {
    too_long(value, MAX_VALUE).or_else(|| {
        not_allowed(value, |c| {
            c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&()!,;=*?\\".contains(c)
        })
    })
}

fn query_text(q: &super::QueryValue) -> String {
    match &q.key {
        Some(k) => format!("{k}={}", q.value),
        None => q.value.clone(),
    }
}

fn header_name(name: &str) -> Option<String> {
    too_long(name, MAX_NAME).or_else(|| {
        not_allowed(name, |c| {
            c.is_ascii_alphanumeric() || "!#$%&'+-.^_`|~*?".contains(c)
        })
    })
}

fn header_value(value: &str) -> Option<String> {
    too_long(value, MAX_VALUE).or_else(|| not_allowed(value, |c| (' '..='~').contains(&c)))
}

fn method(value: &str) -> Option<String> {
    too_long(value, MAX_NAME)
        .or_else(|| not_allowed(value, |c| c.is_ascii_uppercase() || "-_".contains(c)))
}

/// Why ELB would refuse these user tags on a resource that also carries `own_tags` of
/// gwsync's, as `(key, why)`; the key is empty when the problem is the count. Keys under
/// `gwsync.dev/` are gwsync's and under `aws:` AWS's (ELB API reference, `Tag`: key 1-128,
/// value 0-256 characters of letters, digits, spaces and `_ . : / = + - @`; at most 50
/// tags per resource).
pub fn tags_problem(
    tags: &std::collections::BTreeMap<String, String>,
    own_tags: usize,
) -> Option<(String, String)> {
    // `\p{Z}` (separators) is whitespace that is not a control character.
    let allowed = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    };
    let room = MAX_TAGS - own_tags;
    if tags.len() > room {
        return Some((
            String::new(),
            format!(
                "{} tags; ELB allows {MAX_TAGS} per resource and gwsync sets {own_tags} of its own, leaving {room}",
                tags.len()
            ),
        ));
    }
    tags.iter().find_map(|(key, value)| {
        let why = if key.starts_with(super::identity::OWN_PREFIX) {
            Some(format!(
                "tags under `{}` are gwsync's own and cannot be set by a document",
                super::identity::OWN_PREFIX
            ))
        } else if is_aws_tag_key(key) {
            Some("tags under `aws:` are reserved by AWS".to_string())
        } else if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
            Some(format!("a tag key must be 1 to {MAX_TAG_KEY} characters"))
        } else if value.chars().count() > MAX_TAG_VALUE {
            Some(format!(
                "a tag value must be at most {MAX_TAG_VALUE} characters"
            ))
        } else {
            not_allowed(key, allowed)
                .map(|why| format!("key: {why}"))
                .or_else(|| not_allowed(value, allowed).map(|why| format!("value: {why}")))
        };
        why.map(|why| (key.clone(), why))
    })
}

/// A key that only AWS may set (`aws:` in any case).
pub fn is_aws_tag_key(key: &str) -> bool {
    key.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("aws:"))
}

/// Why a team may not register this target address, if it may not: loopback, link-local
/// (which holds the instance metadata service, 169.254.169.254), unspecified, multicast and
/// broadcast addresses, and AWS's IPv6 service range `fd00:ec2::/32` (metadata at
/// `fd00:ec2::254`, DNS, NTP). ELB refuses most of these too; none is a real backend, and a
/// metadata address as a target would hand the load balancer's clients the host's
/// credentials wherever ELB would take it. Instance IDs and other non-addresses pass.
pub fn target_address_problem(id: &str) -> Option<&'static str> {
    use std::net::IpAddr;
    let address: IpAddr = id.parse().ok()?;
    match address {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address"),
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("a link-local address (the instance metadata service lives there)")
        }
        IpAddr::V4(v4) if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() => {
            Some("not a host address")
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local address"),
        IpAddr::V6(v6) if v6.is_unspecified() || v6.is_multicast() => Some("not a host address"),
        IpAddr::V6(v6) if v6.segments()[..2] == [0xfd00, 0x0ec2] => {
            Some("in AWS's service range fd00:ec2::/32 (instance metadata, DNS, NTP)")
        }
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => v6
            .to_ipv4_mapped()
            .and_then(|v4| target_address_problem(&v4.to_string())),
        _ => None,
    }
}

/// Checks a load balancer or target group name (ELB's rules: 1 to 32 letters, digits and
/// `-`, not at either end, not starting with `internal-`); the error says why it is not.
pub fn resource_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_RESOURCE_NAME {
        return Err(format!(
            "`{name}` must be 1 to {MAX_RESOURCE_NAME} characters"
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("`{name}` may hold only letters, digits and '-'"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("`{name}` must not start or end with '-'"));
    }
    if name.starts_with("internal-") {
        return Err(format!("`{name}` must not start with `internal-`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::fixtures::{header, host, host_regex, method, path, query};

    #[test]
    fn conditions_within_the_rules_pass() {
        for c in [
            host(&["pay.example.com", "*.example.com", "a-b_c.example.org"]),
            path(&["/api", "/api/*", "/a$b~c@d:e+f&g;h'i\"j"]),
            header("x-canary", &["always", "a b ! { } ~"]),
            query(&[(Some("v"), "2"), (None, "a\\*b")]),
            method(&["GET", "PURGE_ALL"]),
            host_regex(&["^.*\\.example\\.com$"]),
        ] {
            assert_eq!(condition_problem(&c), None, "{c:?}");
        }
    }

    #[test]
    fn each_rule_is_named() {
        let long = format!("/{}", "a".repeat(128));
        let cases = [
            (
                path(&[&long]),
                "path `/aaa",
                "129 characters; ALB allows 128",
            ),
            (path(&["/a b"]), "path `/a b`", "character ' '"),
            (path(&["/a#b"]), "path `/a#b`", "character '#'"),
            (host(&["localhost"]), "host `localhost`", "at least one `.`"),
            (
                host(&["a.example.c0m"]),
                "host",
                "only letters after the last",
            ),
            (host(&["a!.example.com"]), "host", "character '!'"),
            (
                header(&"x".repeat(41), &["1"]),
                "header name",
                "41 characters",
            ),
            (header("x y", &["1"]), "header name `x y`", "character ' '"),
            (header("x", &["caf\u{e9}"]), "header value", "character"),
            (
                query(&[(Some("k"), "a b")]),
                "query parameter `k=a b`",
                "' '",
            ),
            (method(&["get"]), "method `get`", "character 'g'"),
            (host_regex(&[&"a".repeat(129)]), "host", "129 characters"),
        ];
        for (condition, subject, why) in cases {
            let problem = condition_problem(&condition).expect("refused");
            assert!(
                problem.contains(subject) && problem.contains(why),
                "{problem}"
            );
        }
    }

    #[test]
    fn tags_within_elb_rules() {
        let tags = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(
            tags_problem(&tags(&[("team", "a b"), ("c:d", "x@y")]), 4),
            None
        );
        for bad in [
            ("gwsync.dev/owner", "orders"),
            ("gwsync.dev/anything", "x"),
            ("AWS:cloudformation", "x"),
            ("", "x"),
            ("a\nb", "x"),
            ("k", "v;rm"),
        ] {
            let problem = tags_problem(&tags(&[bad]), 4);
            assert_eq!(problem.map(|p| p.0), Some(bad.0.to_string()), "{bad:?}");
        }
        let many: Vec<(String, String)> = (0..47).map(|i| (format!("k{i}"), "v".into())).collect();
        let many = many.into_iter().collect();
        assert!(tags_problem(&many, 4).is_some_and(|(key, _)| key.is_empty()));
        assert_eq!(tags_problem(&many, 2), None);
    }

    #[test]
    fn unsafe_target_addresses() {
        for ok in [
            "10.0.1.5",
            "192.168.0.1",
            "100.64.0.1",
            "2600:1f18::1",
            "i-0abc",
            "fd12::1",
        ] {
            assert_eq!(target_address_problem(ok), None, "{ok}");
        }
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(target_address_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn action_values() {
        let body = |n: usize| Action::FixedResponse {
            status: 503,
            content_type: Some("text/plain".into()),
            body: Some("x".repeat(n)),
        };
        assert_eq!(action_problem(&body(1024)), None);
        assert!(
            action_problem(&body(1025))
                .unwrap()
                .contains("1025 characters")
        );
        let redirect = Action::Redirect {
            protocol: "HTTPS".into(),
            host: "#{host}".into(),
            port: "443".into(),
            path: format!("/{}", "p".repeat(128)),
            query: "#{query}".into(),
            status: 301,
        };
        assert!(
            action_problem(&redirect)
                .unwrap()
                .contains("redirect path of 129")
        );
    }
}
