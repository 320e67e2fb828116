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
//! allows them).

use super::{Action, Condition, Patterns};

/// Longest condition value, regex, redirect host, path or query.
pub const MAX_VALUE: usize = 128;
/// Longest header name or method.
pub const MAX_NAME: usize = 40;
/// Longest fixed-response body.
pub const MAX_BODY: usize = 1024;
/// Longest load balancer or target group name.
pub const MAX_RESOURCE_NAME: usize = 32;

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
        Action::Forward { .. } | Action::Authenticate(_) => None,
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
