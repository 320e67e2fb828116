//! Hostname matching as the Gateway API defines it, shared by admission and translation.
//!
//! A wildcard `*.example.com` stands for one or more labels in front of `example.com`: it
//! matches `a.example.com` and `a.b.example.com`, never `example.com` itself (Gateway API
//! spec, `Hostname` and `HTTPRouteSpec.hostnames`). Comparisons are case-insensitive, as DNS
//! names are; callers pass names as written.

/// The suffix of a wildcard pattern (`*.example.com` gives `.example.com`).
fn wildcard_suffix(pattern: &str) -> Option<&str> {
    pattern.strip_prefix('*').filter(|s| s.starts_with('.'))
}

/// Does `pattern` (exact or wildcard) match the concrete or wildcard name `name`?
/// A wildcard name matches a wildcard pattern when every name it stands for does.
pub fn covers(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    match wildcard_suffix(&pattern) {
        None => pattern == name,
        Some(suffix) => match wildcard_suffix(&name) {
            // `*.a.example.com` is covered by `*.example.com`, and by itself.
            Some(name_suffix) => name_suffix.ends_with(suffix),
            None => name.len() > suffix.len() && name.ends_with(suffix),
        },
    }
}

/// The hostnames a route answers on one listener: the intersection of the listener's
/// hostname (None: any) with one route hostname, or None when they do not intersect.
/// The more specific of the two is the result.
pub fn intersect(listener: Option<&str>, route: &str) -> Option<String> {
    let Some(listener) = listener else {
        return Some(route.to_string());
    };
    if covers(listener, route) {
        Some(route.to_string())
    } else if covers(route, listener) {
        Some(listener.to_string())
    } else {
        None
    }
}

/// Is `name` a valid Gateway API hostname: a DNS name, optionally with one leading `*.`
/// label, no IP address, no port, no trailing dot?
pub fn is_valid(name: &str) -> bool {
    let body = name.strip_prefix("*.").unwrap_or(name);
    !body.is_empty()
        && name.len() <= 253
        && !body.parse::<std::net::Ipv4Addr>().is_ok_and(|_| true)
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_needs_at_least_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "aexample.com"));
        assert!(covers("*", "anything.io"));
        assert!(covers("Foo.Example.com", "foo.example.COM"));
    }

    #[test]
    fn wildcard_covers_narrower_wildcard() {
        assert!(covers("*.example.com", "*.a.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.a.example.com", "*.example.com"));
        assert!(!covers("a.example.com", "*.example.com"));
    }

    #[test]
    fn intersection_takes_the_more_specific() {
        assert_eq!(intersect(None, "a.com").as_deref(), Some("a.com"));
        assert_eq!(
            intersect(Some("*.example.com"), "a.example.com").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(
            intersect(Some("abc.foo.example.com"), "*.example.com").as_deref(),
            Some("abc.foo.example.com")
        );
        assert_eq!(
            intersect(Some("*.example.com"), "*.foo.example.com").as_deref(),
            Some("*.foo.example.com")
        );
        assert_eq!(intersect(Some("a.com"), "b.com"), None);
        assert_eq!(intersect(Some("*.wildcard.io"), "wildcard.io"), None);
    }

    #[test]
    fn validity() {
        assert!(is_valid("pay.example.com"));
        assert!(is_valid("*.pay.example.com"));
        assert!(!is_valid("pay.example.com."));
        assert!(!is_valid("*"));
        assert!(!is_valid("a.*.com"));
        assert!(!is_valid("10.0.0.1"));
        assert!(!is_valid("host:80"));
    }
}
