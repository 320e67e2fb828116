//! What the Gateway API schema forbids in an HTTPRoute beyond types: the validation rules
//! (CEL and patterns) the Kubernetes API server would apply before any controller saw the
//! object. Types, ranges and control characters are checked while the document is walked
//! (`yaml`); these need the typed route.
//!
//! Sources: `HTTPPathMatch` in the Gateway API's `httproute_types.go` (an Exact or
//! PathPrefix value starts with `/`, has no `//`, `/./`, `/../`, `%2f`, `%2F` or `#`, does
//! not end in `/.` or `/..`, and holds only
//! `^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`) and `HTTPHeaderName` (header and
//! query parameter names: `^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$`), and `HTTPRouteRule.name` (a
//! `SectionName`, unique within the route).
//!
//! A path such as `/payments/../orders` would pass a team's path grant (`/payments`) while
//! answering for another team's prefix on a backend that normalises paths: refusing it here
//! keeps the grant check in `tenancy` sound.

use crate::diagnostic::{Diagnostic, codes};
use gateway_api::apis::standard::httproutes::{HttpRouteRulesMatchesPathType, HttpRouteSpec};

/// Every schema problem of one route, each with its field.
pub(super) fn http_route_problems(spec: &HttpRouteSpec) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut bad = |field: String, message: String| {
        out.push(Diagnostic::refusal(codes::INVALID_FIELD, message).field(field));
    };
    let mut rule_names = std::collections::BTreeMap::new();
    for (r, rule) in spec.rules.iter().flatten().enumerate() {
        if let Some(name) = &rule.name {
            let field = format!("spec.rules[{r}].name");
            if let Some(why) = section_name_problem(name) {
                bad(field.clone(), format!("rule name `{name}` {why}"));
            }
            if let Some(first) = rule_names.insert(name.clone(), r) {
                bad(
                    field,
                    format!(
                        "rule name `{name}` is already the name of rules[{first}]; rule names are unique within a route"
                    ),
                );
            }
        }
        for (m, matched) in rule.matches.iter().flatten().enumerate() {
            let field = format!("spec.rules[{r}].matches[{m}]");
            if let Some(path) = &matched.path
                && path.r#type != Some(HttpRouteRulesMatchesPathType::RegularExpression)
                && let Some(value) = &path.value
                && let Some(why) = path_problem(value)
            {
                bad(
                    format!("{field}.path.value"),
                    format!("path `{value}` {why}"),
                );
            }
            for (h, header) in matched.headers.iter().flatten().enumerate() {
                if let Some(why) = header_name_problem(&header.name) {
                    bad(
                        format!("{field}.headers[{h}].name"),
                        format!("header name `{}` {why}", header.name),
                    );
                }
            }
            for (q, query) in matched.query_params.iter().flatten().enumerate() {
                if let Some(why) = header_name_problem(&query.name) {
                    bad(
                        format!("{field}.queryParams[{q}].name"),
                        format!("query parameter name `{}` {why}", query.name),
                    );
                }
            }
        }
    }
    out
}

/// Why an Exact or PathPrefix value is not a valid Gateway API path, if it is not.
pub fn path_problem(value: &str) -> Option<&'static str> {
    const FORBIDDEN: [(&str, &str); 6] = [
        ("//", "must not contain `//`"),
        ("/./", "must not contain the dot segment `/./`"),
        ("/../", "must not contain the dot segment `/../`"),
        ("%2f", "must not contain an encoded `/` (`%2f`)"),
        ("%2F", "must not contain an encoded `/` (`%2F`)"),
        ("#", "must not contain `#`"),
    ];
    if !value.starts_with('/') {
        return Some("must start with `/`");
    }
    if let Some((_, why)) = FORBIDDEN.iter().find(|(bad, _)| value.contains(bad)) {
        return Some(why);
    }
    if value.ends_with("/.") || value.ends_with("/..") {
        return Some("must not end with a dot segment (`/.` or `/..`)");
    }
    if value.split('/').any(is_encoded_dot_segment) {
        return Some("must not contain a percent-encoded dot segment (`%2e`, `%2e%2e`)");
    }
    if !valid_path_characters(value) {
        return Some(
            "may hold only letters, digits, `-._~!$&'()*+,;=:@/` and `%` followed by two hex digits",
        );
    }
    None
}

/// A segment that is `.` or `..` once `%2e` is decoded (RFC 3986 §6.2.2.2), but not plainly.
fn is_encoded_dot_segment(segment: &str) -> bool {
    let decoded = segment.replace("%2e", ".").replace("%2E", ".");
    decoded != segment && (decoded == "." || decoded == "..")
}

fn valid_path_characters(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-/._~!$&'()*+,;=:@".contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Why a rule name is not a `SectionName` (a DNS label: lowercase letters, digits and `-`,
/// at most 253 characters), if it is not.
fn section_name_problem(name: &str) -> Option<&'static str> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!valid).then_some(
        "must be lowercase letters, digits and `-`, starting and ending with a letter or digit",
    )
}

/// Why a header or query parameter name is not an `HTTPHeaderName`, if it is not.
fn header_name_problem(name: &str) -> Option<&'static str> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    (!valid).then_some("may hold only letters, digits and `!#$%&'*+-.^_`|~`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_gateway_api_schema() {
        for good in [
            "/", "/a", "/a/b/", "/a.b", "/a..b", "/%41", "/a~b", "/a:b@c",
        ] {
            assert_eq!(path_problem(good), None, "{good}");
        }
        for bad in [
            "a",
            "/payments/../orders",
            "/a/./b",
            "//a",
            "/a/%2e%2e/b",
            "/a/.%2E/b",
            "/a/%2e",
            "/a/%2Fb",
            "/a%2fb",
            "/a#b",
            "/a/..",
            "/a/.",
            "/a b",
            "/a\r\nb",
            "/%zz",
            "/%4",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn header_names_are_tokens() {
        assert_eq!(header_name_problem("x-api-key"), None);
        for bad in ["", "a b", "a:b", "a\nb", "ä"] {
            assert!(header_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
