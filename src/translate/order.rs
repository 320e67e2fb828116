//! The order of the rules on one ALB listener, which is where Gateway API semantics are won
//! or lost.
//!
//! - **Listener isolation.** Every Gateway and ListenerSet listener on one port shares the
//!   ALB listener. A request belongs to the listener whose hostname matches it most
//!   specifically (exact, then the longest wildcard, then none), and only that listener's
//!   routes may answer it. So listeners are laid out from most to least specific, and after a
//!   listener's rules comes a fixed 404 for its hostname whenever a less specific listener on
//!   the port would also match it (ALB has no "host is not" condition).
//! - **Precedence** inside one listener, across every route attached to it (Gateway API,
//!   `HTTPRouteSpec.hostnames` and `HTTPRouteRule.matches`): the most specific matching
//!   hostname (characters of an exact hostname, then of any hostname), each hostname's
//!   rules together (hostnames of one length never match the same request); then an Exact path;
//!   then regular expressions (implementation-specific; gwsync puts them before prefixes);
//!   then the longest prefix; then a method; then the most header matches; then the most
//!   query matches; then the oldest route, then `namespace/name`; then rule and match order.
//! - **Compaction.** Rules from the same route rule with the same actions, whose conditions
//!   differ in the values of one condition, become one rule with both values. It is exact:
//!   the later one moves up to the earlier only when no rule between them can take a request
//!   it matches (another hostname, or another literal path), so every request is answered by
//!   the same actions as before.
//! - **Limits.** 3 values per condition, 5 values and 5 wildcards per rule. A prefix match
//!   that needs two path values is split into two adjacent rules before it is refused.

use super::routes::{MatchTemplate, PathMatch};
use crate::alb::covers::covers;
use crate::alb::{Action, Condition, Patterns, Rule, RuleSource, Transform, identity, values};
use crate::diagnostic::{Diagnostic, codes};
use crate::hostname;
use crate::manifest::Document;
use std::cmp::Reverse;
use std::collections::HashMap;

/// ALB: match values per condition.
pub const MAX_VALUES_PER_CONDITION: usize = 3;
/// ALB: match values per rule, all conditions together.
pub const MAX_VALUES_PER_RULE: usize = 5;
/// ALB: `*` and `?` wildcards per rule.
pub const MAX_WILDCARDS_PER_RULE: usize = 5;

/// The sort key of a match on a listener; smaller sorts first (takes precedence).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Precedence {
    host: (Reverse<usize>, Reverse<usize>),
    /// The hostname itself, after its specificity: two hostnames of one length never match
    /// the same request (exact ones differ; wildcards of one length have different
    /// suffixes), so their order is free, and grouping each hostname's rules together keeps
    /// them adjacent for compaction and their priorities independent of other hostnames'.
    hostname: String,
    path: (u8, Reverse<usize>),
    method: Reverse<bool>,
    headers: Reverse<usize>,
    queries: Reverse<usize>,
    age: i64,
    route: String,
    rule: usize,
    matched: usize,
}

impl Precedence {
    pub(super) fn new(
        host: Option<&str>,
        path: &PathMatch,
        m: &MatchTemplate,
        age: i64,
        route: &str,
        rule: usize,
    ) -> Precedence {
        let hostname = host.unwrap_or_default().to_string();
        let host = match host {
            Some(h) if h.starts_with('*') => (Reverse(0), Reverse(h.len())),
            Some(h) => (Reverse(h.len()), Reverse(h.len())),
            None => (Reverse(0), Reverse(0)),
        };
        let path = match path {
            PathMatch::Exact(p) => (0, Reverse(p.len())),
            PathMatch::Regex(p) => (1, Reverse(p.len())),
            PathMatch::Prefix(p) => (2, Reverse(p.len())),
        };
        Precedence {
            host,
            hostname,
            path,
            method: Reverse(m.has_method),
            headers: Reverse(m.headers),
            queries: Reverse(m.queries),
            age,
            route: route.to_string(),
            rule,
            matched: m.index.unwrap_or(0),
        }
    }
}

/// One would-be ALB rule: a match of a route rule, on one listener, for one hostname.
pub(super) struct Entry<'a> {
    /// Index of the Gateway API listener (in the port's listener list) it is attached to.
    pub group: usize,
    pub team: String,
    pub precedence: Precedence,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub transforms: Vec<Transform>,
    pub source: RuleSource,
    /// The field of the match, for limit errors.
    pub field: String,
    pub doc: &'a Document,
}

/// What ordering one ALB listener's rules found besides the rules.
pub(super) struct Ordered {
    pub rules: Vec<Rule>,
    /// Limit refusals, each with its team; refused entries are left out.
    pub refusals: Vec<(String, Diagnostic)>,
    /// Matches that can never be reached (an earlier rule has exactly their conditions, or
    /// takes every request they take), each with its team: warnings that name both routes.
    pub unreachable: Vec<(String, Diagnostic)>,
    /// The would-be rules (one per match and hostname) before compaction: with the rules of
    /// routes that came out, what compaction saved.
    pub matches: usize,
}

/// The earlier rules of a listener by their host condition, so that a new rule is compared
/// only with the rules that can cover it: those with its host condition, and those with
/// none (a host condition never covers a rule without one).
#[derive(Default)]
struct ByHost {
    rules: HashMap<Option<Condition>, Vec<usize>>,
}

impl ByHost {
    fn host(conditions: &[Condition]) -> Option<Condition> {
        conditions
            .iter()
            .find(|c| matches!(c, Condition::HostHeader { .. }))
            .cloned()
    }

    fn insert(&mut self, conditions: &[Condition], index: usize) {
        self.rules
            .entry(Self::host(conditions))
            .or_default()
            .push(index);
    }

    /// The first earlier rule that takes every request `conditions` take.
    fn covering(&self, rules: &[Rule], conditions: &[Condition]) -> Option<usize> {
        let host = Self::host(conditions);
        let same_host = self.rules.get(&host).into_iter().flatten();
        let no_host = host
            .is_some()
            .then(|| self.rules.get(&None))
            .flatten()
            .into_iter()
            .flatten();
        same_host
            .chain(no_host)
            .copied()
            .filter(|&i| covers(&rules[i].conditions, conditions))
            .min()
    }
}

/// Orders, compacts, isolates, checks and numbers the rules of one ALB listener. `groups`
/// are the listener hostnames on the port, indexed like `Entry::group`.
pub(super) fn rules(mut entries: Vec<Entry<'_>>, groups: &[Option<String>]) -> Ordered {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| specificity(groups[g].as_deref()));
    entries.sort_by(|a, b| a.precedence.cmp(&b.precedence));

    let mut rules: Vec<Rule> = Vec::new();
    // The conditions already on the listener, with the rule that has them: a later rule
    // with the same ones is unreachable.
    let mut seen: HashMap<Vec<Condition>, usize> = HashMap::new();
    let mut by_host = ByHost::default();
    let mut refusals = Vec::new();
    let mut unreachable = Vec::new();
    let matches = entries.len();
    for (position, &g) in order.iter().enumerate() {
        let group: Vec<&Entry> = entries.iter().filter(|e| e.group == g).collect();
        for entry in compact(&group) {
            match fit_limits(entry.conditions) {
                // A rule with the same conditions as an earlier one can never match: it is
                // left out (and so two rules of a listener never share their conditions,
                // which is how they are told apart on AWS), with a warning naming both.
                Ok(split) => {
                    for conditions in split {
                        if let Some(&earlier) = seen.get(&conditions) {
                            unreachable.push((
                                entry.team.clone(),
                                entry
                                    .doc
                                    .diagnostic(unreachable_match(&rules[earlier], &entry.field)),
                            ));
                            continue;
                        }
                        // Kept (its conditions are its identity on AWS), but it never
                        // matches: say so, naming the rule that takes its requests.
                        if let Some(earlier) = by_host.covering(&rules, &conditions) {
                            unreachable.push((
                                entry.team.clone(),
                                entry
                                    .doc
                                    .diagnostic(shadowed_match(&rules[earlier], &entry.field)),
                            ));
                        }
                        seen.insert(conditions.clone(), rules.len());
                        by_host.insert(&conditions, rules.len());
                        rules.push(Rule {
                            priority: 0,
                            conditions,
                            actions: entry.actions.clone(),
                            transforms: entry.transforms.clone(),
                            source: Some(entry.source.clone()),
                            owner: Some(entry.team.clone()),
                        });
                    }
                }
                Err((code, message)) => refusals.push((
                    entry.team.clone(),
                    entry
                        .doc
                        .diagnostic(Diagnostic::refusal(code, message).field(entry.field.clone())),
                )),
            }
        }
        if let Some(h) = &groups[g] {
            let shadowed = order[position + 1..].iter().any(|&later| {
                groups[later]
                    .as_deref()
                    .is_none_or(|l| hostname::covers(l, h))
            });
            let conditions = vec![Condition::HostHeader {
                values: Patterns::Wildcard(vec![h.clone()]),
            }];
            // Not needed when a catch-all route of this hostname already answers it all.
            if shadowed && !seen.contains_key(&conditions) {
                seen.insert(conditions.clone(), rules.len());
                by_host.insert(&conditions, rules.len());
                rules.push(Rule {
                    priority: 0,
                    conditions,
                    actions: vec![Action::fixed(404)],
                    transforms: Vec::new(),
                    source: Some(RuleSource::ListenerIsolation {
                        hostname: h.clone(),
                    }),
                    owner: Some(identity::PLATFORM_OWNER.to_string()),
                });
            }
        }
    }
    for (i, rule) in rules.iter_mut().enumerate() {
        rule.priority = i as u32 + 1;
    }
    Ordered {
        rules,
        refusals,
        unreachable,
        matches,
    }
}

/// The warning on a match that `earlier` (of higher precedence) already has exactly.
fn unreachable_match(earlier: &Rule, field: &str) -> Diagnostic {
    let by = earlier
        .source
        .as_ref()
        .map_or_else(|| "an earlier rule".to_string(), crate::alb::render::source);
    Diagnostic::warning(
        codes::UNREACHABLE_MATCH,
        format!("this match never matches: {by} has exactly its conditions and comes first"),
    )
    .field(field.to_string())
}

/// The warning on a match whose every request `earlier` (of higher precedence) takes: the
/// same conditions with more values (methods folded into one rule), or fewer conditions.
fn shadowed_match(earlier: &Rule, field: &str) -> Diagnostic {
    let by = earlier
        .source
        .as_ref()
        .map_or_else(|| "an earlier rule".to_string(), crate::alb::render::source);
    Diagnostic::warning(
        codes::SHADOWED_MATCH,
        format!(
            "this match never matches on ALB: {by} comes first and takes every request it would take"
        ),
    )
    .field(field.to_string())
}

/// Most specific first: exact hostnames (longest first), wildcards (longest first), none.
fn specificity(h: Option<&str>) -> (u8, Reverse<usize>, String) {
    match h {
        Some(h) if h.starts_with('*') => (1, Reverse(h.len()), h.to_string()),
        Some(h) => (0, Reverse(h.len()), h.to_string()),
        None => (2, Reverse(0), String::new()),
    }
}

/// Merges entries of one route rule that differ in one condition's values, again until
/// nothing merges: the matches of one hostname first, then rules of several hostnames whose
/// paths became equal (`a.com /x|/y` and `b.com /x|/y` make `a.com|b.com /x|/y`).
/// Exact: an entry merges into an earlier one only when no rule between them can take a
/// request it matches ([`merge_pass`]), so it answers every request as before, and a merge
/// unites one condition's values of otherwise equal conditions.
fn compact<'a>(group: &[&Entry<'a>]) -> Vec<CompactedEntry<'a>> {
    let mut out: Vec<CompactedEntry<'a>> = group
        .iter()
        .map(|e| CompactedEntry {
            team: e.team.clone(),
            conditions: e.conditions.clone(),
            actions: e.actions.clone(),
            transforms: e.transforms.clone(),
            source: e.source.clone(),
            field: e.field.clone(),
            doc: e.doc,
        })
        .collect();
    loop {
        let before = out.len();
        out = merge_pass(out);
        if out.len() == before {
            return out;
        }
    }
}

/// One pass of [`compact`]: each entry merged into the latest earlier entry of its route
/// rule where it can be. Rules between the two (other hostnames' rules, which precedence puts
/// between a route rule's paths on hostnames of different lengths) must each be [`disjoint`]
/// from the entry: moving it up to the earlier one then changes no answer, since a request it
/// matches matched none of them.
fn merge_pass(entries: Vec<CompactedEntry<'_>>) -> Vec<CompactedEntry<'_>> {
    let mut out: Vec<CompactedEntry> = Vec::new();
    // Where the latest entry of each route rule is in `out`.
    let mut latest: HashMap<(String, usize), usize> = HashMap::new();
    for e in entries {
        let key = route_rule(&e.source);
        let earlier = key.as_ref().and_then(|k| latest.get(k)).copied();
        if let Some(i) = earlier
            && out[i].actions == e.actions
            && out[i].transforms == e.transforms
            && let Some(merged) = merge_conditions(&out[i].conditions, &e.conditions)
            && out[i + 1..]
                .iter()
                .all(|between| disjoint(&between.conditions, &e.conditions))
        {
            let into = &mut out[i];
            into.conditions = merged;
            if let (RuleSource::Route { matches, .. }, RuleSource::Route { matches: more, .. }) =
                (&mut into.source, &e.source)
            {
                for m in more {
                    if !matches.contains(m) {
                        matches.push(*m);
                    }
                }
            }
            continue;
        }
        if let Some(key) = key {
            latest.insert(key, out.len());
        }
        out.push(e);
    }
    out
}

/// The HTTPRoute (`namespace/name`) and rule index a rule came from, if a route rule.
fn route_rule(source: &RuleSource) -> Option<(String, usize)> {
    match source {
        RuleSource::Route { route, rule, .. } => Some((route.clone(), *rule)),
        _ => None,
    }
}

/// Whether no request can match both rules: a field both have a condition on (host, path or
/// method) takes its values from two sets of literals (no `*`, `?` or escape) with none in
/// common. Hostnames compare without case, as ALB compares them; paths and methods as
/// written. Anything else may overlap, as far as this knows.
fn disjoint(a: &[Condition], b: &[Condition]) -> bool {
    a.iter().any(|x| b.iter().any(|y| literals_disjoint(x, y)))
}

fn literals_disjoint(x: &Condition, y: &Condition) -> bool {
    use Condition::{HostHeader, HttpRequestMethod, PathPattern};
    use Patterns::Wildcard;
    let (a, b, ignore_case): (&[String], &[String], bool) = match (x, y) {
        (
            HostHeader {
                values: Wildcard(a),
            },
            HostHeader {
                values: Wildcard(b),
            },
        ) => (a, b, true),
        (
            PathPattern {
                values: Wildcard(a),
            },
            PathPattern {
                values: Wildcard(b),
            },
        ) => (a, b, false),
        (HttpRequestMethod { values: a }, HttpRequestMethod { values: b }) => (a, b, false),
        _ => return false,
    };
    let literal = |v: &String| !v.contains(['*', '?', '\\']);
    let same = |p: &String, q: &String| {
        if ignore_case {
            p.eq_ignore_ascii_case(q)
        } else {
            p == q
        }
    };
    a.iter().all(literal)
        && b.iter().all(literal)
        && !a.iter().any(|p| b.iter().any(|q| same(p, q)))
}

/// An entry after compaction, borrowing its document for diagnostics.
struct CompactedEntry<'a> {
    team: String,
    conditions: Vec<Condition>,
    actions: Vec<Action>,
    transforms: Vec<Transform>,
    source: RuleSource,
    field: String,
    doc: &'a Document,
}

/// The union of two condition lists that differ only in the values of one condition, if it
/// stays within the limits; None otherwise.
fn merge_conditions(a: &[Condition], b: &[Condition]) -> Option<Vec<Condition>> {
    if a.len() != b.len() {
        return None;
    }
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let [i] = differing.as_slice() else {
        return None;
    };
    let merged = merge_values(&a[*i], &b[*i])?;
    let mut out = a.to_vec();
    out[*i] = merged;
    check_limits(&out).is_ok().then_some(out)
}

fn merge_values(a: &Condition, b: &Condition) -> Option<Condition> {
    let union = |x: &Patterns, y: &Patterns| -> Option<Patterns> {
        match (x, y) {
            (Patterns::Wildcard(x), Patterns::Wildcard(y)) => {
                Some(Patterns::Wildcard(union_of(x, y)))
            }
            (Patterns::Regex(x), Patterns::Regex(y)) => Some(Patterns::Regex(union_of(x, y))),
            _ => None,
        }
    };
    match (a, b) {
        (Condition::HostHeader { values: x }, Condition::HostHeader { values: y }) => {
            Some(Condition::HostHeader {
                values: union(x, y)?,
            })
        }
        (Condition::PathPattern { values: x }, Condition::PathPattern { values: y }) => {
            Some(Condition::PathPattern {
                values: union(x, y)?,
            })
        }
        (
            Condition::HttpHeader {
                name: n1,
                values: x,
            },
            Condition::HttpHeader {
                name: n2,
                values: y,
            },
        ) if n1 == n2 => Some(Condition::HttpHeader {
            name: n1.clone(),
            values: union(x, y)?,
        }),
        (
            Condition::HttpRequestMethod { values: x },
            Condition::HttpRequestMethod { values: y },
        ) => Some(Condition::HttpRequestMethod {
            values: union_of(x, y),
        }),
        _ => None,
    }
}

fn union_of<T: Clone + PartialEq>(x: &[T], y: &[T]) -> Vec<T> {
    let mut out = x.to_vec();
    for v in y {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// Why a rule's conditions cannot go to ALB: the code (`alb-limit`, `alb-value`) and a
/// message naming the limit or the value.
type Refused = (crate::diagnostic::Code, String);

/// ALB's per-rule limits and its rules on values; the error names the limit or the value.
fn check_limits(conditions: &[Condition]) -> Result<(), Refused> {
    if let Some(problem) = conditions.iter().find_map(values::condition_problem) {
        return Err((codes::ALB_VALUE, problem));
    }
    if let Some(c) = conditions
        .iter()
        .find(|c| c.value_count() > MAX_VALUES_PER_CONDITION)
    {
        return Err((
            codes::ALB_LIMIT,
            format!(
                "a {} condition would need {} values; ALB allows {MAX_VALUES_PER_CONDITION} per condition",
                condition_name(c),
                c.value_count()
            ),
        ));
    }
    let values: usize = conditions.iter().map(Condition::value_count).sum();
    if values > MAX_VALUES_PER_RULE {
        return Err((
            codes::ALB_LIMIT,
            format!(
                "the rule would need {values} condition values (hostname, path values, method, headers, query parameters); ALB allows {MAX_VALUES_PER_RULE} per rule"
            ),
        ));
    }
    let wildcards: usize = conditions.iter().map(Condition::wildcard_count).sum();
    if wildcards > MAX_WILDCARDS_PER_RULE {
        return Err((
            codes::ALB_LIMIT,
            format!(
                "the rule would need {wildcards} wildcards; ALB allows {MAX_WILDCARDS_PER_RULE} per rule"
            ),
        ));
    }
    Ok(())
}

/// Fits one rule's conditions into ALB's limits, splitting a two-value path condition into
/// two rules (same action, adjacent, so exact) when that is what it takes.
fn fit_limits(conditions: Vec<Condition>) -> Result<Vec<Vec<Condition>>, Refused> {
    let Err(message) = check_limits(&conditions) else {
        return Ok(vec![conditions]);
    };
    let split_at = conditions.iter().position(
        |c| matches!(c, Condition::PathPattern { values: Patterns::Wildcard(v) } if v.len() > 1),
    );
    let Some(i) = split_at else {
        return Err(message);
    };
    let Condition::PathPattern {
        values: Patterns::Wildcard(values),
    } = &conditions[i]
    else {
        return Err(message);
    };
    let mut out = Vec::new();
    for v in values {
        let mut one = conditions.clone();
        one[i] = Condition::PathPattern {
            values: Patterns::Wildcard(vec![v.clone()]),
        };
        check_limits(&one)?;
        out.push(one);
    }
    Ok(out)
}

fn condition_name(c: &Condition) -> &'static str {
    match c {
        Condition::HostHeader { .. } => "host-header",
        Condition::PathPattern { .. } => "path-pattern",
        Condition::HttpHeader { .. } => "http-header",
        Condition::QueryString { .. } => "query-string",
        Condition::HttpRequestMethod { .. } => "http-request-method",
        Condition::SourceIp { .. } => "source-ip",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(values: &[&str]) -> Condition {
        Condition::HostHeader {
            values: Patterns::Wildcard(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn path(values: &[&str]) -> Condition {
        Condition::PathPattern {
            values: Patterns::Wildcard(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn method(values: &[&str]) -> Condition {
        Condition::HttpRequestMethod {
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn rules_are_disjoint_only_by_literals_of_one_field_with_none_in_common() {
        assert!(disjoint(&[host(&["a.com"])], &[host(&["b.com", "c.com"])]));
        // One field with disjoint literals is enough, whatever the others share.
        assert!(disjoint(
            &[host(&["a.com"]), path(&["/x"])],
            &[host(&["a.com"]), path(&["/y"]), method(&["GET"])]
        ));
        assert!(!disjoint(
            &[host(&["a.com"]), path(&["/p/*"])],
            &[host(&["a.com"]), path(&["/q"])]
        ));
        assert!(disjoint(&[path(&["/x", "/y"])], &[path(&["/z"])]));
        assert!(disjoint(&[method(&["GET"])], &[method(&["POST", "PUT"])]));
        // Hostnames compare without case; paths and methods as written.
        assert!(!disjoint(&[host(&["A.com"])], &[host(&["a.COM"])]));
        assert!(disjoint(&[path(&["/X"])], &[path(&["/x"])]));
        // A wildcard or an escape may match the other's value: not known to be disjoint.
        assert!(!disjoint(&[host(&["*.a.com"])], &[host(&["b.a.com"])]));
        assert!(!disjoint(&[path(&["/p/*"])], &[path(&["/q"])]));
        assert!(!disjoint(&[path(&["/a?"])], &[path(&["/b"])]));
        assert!(!disjoint(&[path(&["/a\\*"])], &[path(&["/b"])]));
        // Conditions on different fields, or none: both may match one request.
        assert!(!disjoint(&[host(&["a.com"])], &[path(&["/x"])]));
        assert!(!disjoint(&[], &[host(&["a.com"])]));
    }
}
