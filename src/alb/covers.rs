//! Whether one rule's conditions take every request another's take: the conservative test
//! behind the warnings on shadowed rules (translation, for rules of one listener) and the
//! notes on owned rules a foreign rule shadows (plan). It compares condition values as
//! ALB does (host and header values case-insensitively) but never evaluates patterns: a
//! wildcard covers only itself, so it answers false whenever it cannot tell.

use super::{Condition, Patterns};

/// Whether a rule with `conditions` matches every request that a rule with `inner` matches:
/// each of its conditions is one of `inner`'s with fewer or no values missing, or a path
/// pattern that matches every path. Conservative: false whenever it cannot tell.
pub fn covers(conditions: &[Condition], inner: &[Condition]) -> bool {
    conditions.iter().all(|c| implied(c, inner))
}

fn implied(condition: &Condition, inner: &[Condition]) -> bool {
    let subset = |outer: &[String], values: &[String], fold: bool| {
        values.iter().all(|v| {
            outer
                .iter()
                .any(|o| o == v || (fold && o.eq_ignore_ascii_case(v)))
        })
    };
    match condition {
        Condition::PathPattern {
            values: Patterns::Wildcard(all),
        } if all.iter().any(|p| p == "*" || p == "/*") => true,
        _ => inner.iter().any(|c| match (condition, c) {
            (
                Condition::HostHeader {
                    values: Patterns::Wildcard(outer),
                },
                Condition::HostHeader {
                    values: Patterns::Wildcard(values),
                },
            ) => subset(outer, values, true),
            (
                Condition::PathPattern {
                    values: Patterns::Wildcard(outer),
                },
                Condition::PathPattern {
                    values: Patterns::Wildcard(values),
                },
            ) => subset(outer, values, false),
            (
                Condition::HttpHeader {
                    name: outer_name,
                    values: Patterns::Wildcard(outer),
                },
                Condition::HttpHeader {
                    name,
                    values: Patterns::Wildcard(values),
                },
            ) => outer_name.eq_ignore_ascii_case(name) && subset(outer, values, true),
            (
                Condition::HttpRequestMethod { values: outer },
                Condition::HttpRequestMethod { values },
            )
            | (Condition::SourceIp { values: outer }, Condition::SourceIp { values }) => {
                subset(outer, values, false)
            }
            _ => condition == c,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Condition {
        Condition::HostHeader {
            values: Patterns::Wildcard(vec![h.to_string()]),
        }
    }

    fn methods(m: &[&str]) -> Condition {
        Condition::HttpRequestMethod {
            values: m.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn more_values_and_fewer_conditions_cover() {
        let folded = [host("x.com"), methods(&["GET", "POST"])];
        assert!(covers(&folded, &[host("X.com"), methods(&["GET"])]));
        assert!(covers(
            &[host("x.com")],
            &[host("x.com"), methods(&["GET"])]
        ));
        assert!(!covers(&[host("x.com"), methods(&["GET"])], &folded));
        assert!(
            !covers(&folded, &[methods(&["GET"])]),
            "a host condition covers only hosts"
        );
    }

    #[test]
    fn patterns_are_never_evaluated() {
        // `*.x.com` takes `a.x.com` on ALB, but the test answers false when it cannot tell.
        assert!(!covers(&[host("*.x.com")], &[host("a.x.com")]));
        let everything = Condition::PathPattern {
            values: Patterns::Wildcard(vec!["/*".to_string()]),
        };
        let api = Condition::PathPattern {
            values: Patterns::Wildcard(vec!["/api".to_string()]),
        };
        assert!(covers(&[host("x.com"), everything], &[host("x.com"), api]));
    }
}
