//! The request evaluator: given one ALB [`LoadBalancer`] of the model and an HTTP request, say
//! which listener and which rule take the request and what happens to it (forward with the
//! request as the targets receive it, redirect with its `Location`, fixed response).
//!
//! It is what `gwsync explain` and the Gateway API conformance tests run on, so its one job is
//! to be a faithful ALB: it implements ALB's own matching rules (case rules, `*`/`?` wildcards,
//! `RegexValues`, first matching rule by priority, transforms, redirect keywords), never Gateway
//! API's. A translation mistake only shows up if the evaluator is independent of the
//! translation, so **this module must never read anything but the model**: no Gateway API
//! types, no `RuleSource`, no knowledge of how or why a rule was written.
//!
//! Each semantic is decided in one place below, with the AWS page that documents it; where AWS
//! is silent the choice is marked "Assumption" and listed in `docs/EVALUATOR.md`.

use super::{
    Action, Condition, Listener, LoadBalancer, Patterns, Protocol, QueryValue, Rule, Scheme,
    TargetGroupRef, Transform, WeightedTargetGroup,
};
use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An HTTP request as it reaches the load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The port the request was sent to: selects the listener.
    pub port: u16,
    /// The Host header as sent, which may carry `:port`. None: the load balancer's own address
    /// (its DNS name, which the model does not know; see [`evaluate`]).
    pub host: Option<String>,
    /// The path as sent (not percent-decoded), without the query string; at least `/`.
    pub path: String,
    /// The query parameters in order, as sent (not percent-decoded). `?flag` gives `("flag", "")`.
    pub query: Vec<(String, String)>,
    /// The method as sent (not case-normalised: ALB compares it case-sensitively).
    pub method: String,
    /// Every header as sent, in order; a header sent twice appears twice.
    pub headers: Vec<(String, String)>,
    /// The client address the load balancer sees; None: unknown, and then no `source-ip`
    /// condition matches.
    pub source_ip: Option<IpAddr>,
}

impl Request {
    /// A request for `url` (e.g. `https://pay.example.com:8443/a/b?x=1&y=2`) with `method`
    /// and `headers`.
    ///
    /// The port defaults by scheme (80, 443). The Host is the URL's authority as written
    /// (with its port when the URL has one), unless `headers` holds a `Host` header (name
    /// compared case-insensitively), which then wins, as it would on the wire. The path and
    /// query are kept as sent: no percent-decoding, no dot-segment removal. A fragment is
    /// dropped (clients never send it). `source_ip` is left None.
    pub fn parse(
        url: &str,
        method: &str,
        headers: &[(String, String)],
    ) -> Result<Request, EvaluateError> {
        let bad = |why: &str| EvaluateError::BadUrl(format!("{url}: {why}"));
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host/path"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        // Userinfo never reaches the Host header.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (hostname, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        if hostname.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad("the port must be 1-65535")),
            },
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_and_query, ""),
        };
        let path = if path.is_empty() { "/" } else { path };
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (pair.to_string(), String::new()),
            })
            .collect();
        let host = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map(|(_, value)| value.trim().to_string())
            .unwrap_or_else(|| authority.to_string());
        Ok(Request {
            scheme,
            port,
            host: Some(host),
            path: path.to_string(),
            query,
            method: method.to_string(),
            headers: headers.to_vec(),
            source_ip: None,
        })
    }

    /// The query string as sent, without `?`: `k=v` pairs joined by `&`, a pair with an empty
    /// value written as its key alone (the parsed form cannot tell `?a` from `?a=`).
    pub fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The path followed by `?query` when there is a query: what a url-rewrite transform sees.
    pub fn path_and_query(&self) -> String {
        let query = self.query_string();
        if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{query}", self.path)
        }
    }
}

/// What the load balancer does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The port of the listener that took the request.
    pub listener: u16,
    /// The priority of the rule that matched; None: the listener's default action.
    pub priority: Option<u32>,
    /// The rule holds an authenticate action: the request is taken as authenticated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub authenticated: bool,
    pub action: Outcome,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every target group of the forward action with its weight (weight 0 included), and the
    /// request as the targets receive it.
    Forward {
        backends: Vec<BackendShare>,
        request: ForwardedRequest,
    },
    Redirect {
        status: u16,
        location: String,
    },
    FixedResponse {
        status: u16,
    },
}

/// One target group of a forward action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendShare {
    /// `namespace/name` of the Service for a target group gwsync owns; the target group name
    /// for an existing one.
    pub backend: String,
    /// The Service port of an owned target group; None for an existing one.
    pub port: Option<u16>,
    pub weight: u32,
}

/// The request as the targets receive it, after the rule's transforms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedRequest {
    /// The Host header, without the port the client may have sent.
    pub host: String,
    /// The path, followed by `?query` when there is a query string.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluateError {
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("the load balancer has no listener on port {port}")]
    NoListener { port: u16 },
    #[error("the listener on port {port} is {}, the request is {scheme}", .listener.as_str())]
    ProtocolMismatch {
        port: u16,
        listener: Protocol,
        scheme: String,
    },
    /// The model holds something AWS would have refused (a bad regex or CIDR, a rule without
    /// a final action): there is no ALB behaviour to report.
    #[error("listener {listener}, {}: {reason}", priority.map_or("default action".to_string(), |p| format!("rule {p}")))]
    InvalidModel {
        listener: u16,
        priority: Option<u32>,
        reason: String,
    },
}

/// Which listener and rule of `lb` take `request`, and what happens.
///
/// A request without a Host (`request.host` None) is addressed to the load balancer's DNS
/// name, which the model does not hold; it is stood in for by
/// `[internal-]<name>.elb.amazonaws.com`, so that it matches `*` and `*.elb.amazonaws.com` as
/// the real name would, and no application hostname.
pub fn evaluate(lb: &LoadBalancer, request: &Request) -> Result<Answer, EvaluateError> {
    // Listener selection: the listener is the one on the port the request was sent to
    // ("A listener is a process that checks for connection requests, using the protocol and
    // port that you configure": "Listeners for your Application Load Balancers",
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html).
    // A request in the other protocol fails at the TLS/HTTP level, never reaches the rules.
    let listener = lb
        .listener(request.port)
        .ok_or(EvaluateError::NoListener { port: request.port })?;
    if !request
        .scheme
        .eq_ignore_ascii_case(listener.protocol.scheme())
    {
        return Err(EvaluateError::ProtocolMismatch {
            port: listener.port,
            listener: listener.protocol,
            scheme: request.scheme.clone(),
        });
    }
    let view = View::new(lb, request);

    // "Rules are evaluated in priority order, from the lowest value to the highest value. The
    // default rule is evaluated last." ("Listener rules for your Application Load Balancer",
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html).
    // The model keeps rules sorted; sorting again keeps the evaluator independent of that.
    let mut rules: Vec<&Rule> = listener.rules.iter().collect();
    rules.sort_by_key(|rule| rule.priority);
    for rule in rules {
        let invalid = |reason: String| EvaluateError::InvalidModel {
            listener: listener.port,
            priority: Some(rule.priority),
            reason,
        };
        if rule_matches(rule, &view).map_err(invalid)? {
            return answer(
                listener,
                Some(rule.priority),
                &rule.actions,
                &rule.transforms,
                &view,
            )
            .map_err(invalid);
        }
    }
    // The default rule has no conditions and no transforms.
    answer(
        listener,
        None,
        std::slice::from_ref(&listener.default_action),
        &[],
        &view,
    )
    .map_err(|reason| EvaluateError::InvalidModel {
        listener: listener.port,
        priority: None,
        reason,
    })
}

/// The request as the rules see it.
struct View<'a> {
    request: &'a Request,
    /// The Host without its port (or the stand-in for the load balancer's own name).
    host: String,
}

impl<'a> View<'a> {
    fn new(lb: &LoadBalancer, request: &'a Request) -> View<'a> {
        let host = match &request.host {
            // Assumption (AWS documents no port handling for host conditions): ALB matches the
            // host name without the `:port` a client may send; see docs/EVALUATOR.md.
            Some(host) => strip_port(host.trim()).to_string(),
            None => lb_address(lb),
        };
        View { request, host }
    }
}

fn lb_address(lb: &LoadBalancer) -> String {
    let prefix = match lb.scheme {
        Scheme::Internal => "internal-",
        Scheme::InternetFacing => "",
    };
    format!("{prefix}{}.elb.amazonaws.com", lb.name)
}

/// A rule matches when every condition matches ("Each rule condition has a type and
/// configuration information. When the conditions for a rule are met, then its actions are
/// performed": "Listener rules for your Application Load Balancer").
fn rule_matches(rule: &Rule, view: &View) -> Result<bool, String> {
    for condition in &rule.conditions {
        if !condition_matches(condition, view)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One condition: within it, any value matching is enough ("If you specify multiple strings,
/// the condition is satisfied if one of the strings matches": API_HostHeaderConditionConfig,
/// API_PathPatternConditionConfig, API_HttpHeaderConditionConfig,
/// API_QueryStringConditionConfig).
fn condition_matches(condition: &Condition, view: &View) -> Result<bool, String> {
    let request = view.request;
    match condition {
        // host-header: "The comparison is case insensitive. The following wildcard characters
        // are supported: * (matches 0 or more characters) and ? (matches exactly 1
        // character)" (HostHeaderConditionConfig,
        // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_HostHeaderConditionConfig.html).
        // `*` matches any characters, dots included: the user guide's `*.example.com` matches
        // `test.example.com` but not `example.com` ("Condition types for listener rules",
        // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html).
        Condition::HostHeader { values } => patterns_match(values, &view.host, Case::Insensitive),
        // path-pattern: "The comparison is case sensitive ... The path pattern is compared
        // only to the path of the URL, not to its query string" (PathPatternConditionConfig,
        // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_PathPatternConditionConfig.html).
        // Assumption: RegexValues ("compare against the request URL") also see the path only.
        Condition::PathPattern { values } => patterns_match(values, &request.path, Case::Sensitive),
        // http-header: "The header name is case insensitive ... Wildcards are not supported"
        // (in the name); values: "The comparison strings are case insensitive" with `*`/`?`;
        // "If the same header appears multiple times in the request, we search them in order
        // until a match is found"; "You can't use an HTTP header condition to specify the host
        // header" (HttpHeaderConditionConfig,
        // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_HttpHeaderConditionConfig.html).
        // A header the request does not carry matches nothing, not even `*`.
        Condition::HttpHeader { name, values } => {
            if name.eq_ignore_ascii_case("host") {
                return Err("an http-header condition cannot name the Host header \
                            (AWS requires a host-header condition)"
                    .to_string());
            }
            let occurrences = request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim());
            for value in occurrences {
                if patterns_match(values, value, Case::Insensitive)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        // query-string: "The comparison is case insensitive ... * ... ? ... To search for a
        // literal '*' or '?' character in a query string, you must escape these characters in
        // Values using a '\' character. If you specify multiple key/value pairs or values, the
        // condition is satisfied if one of them is found in the query string"
        // (QueryStringConditionConfig,
        // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_QueryStringConditionConfig.html).
        // A pair without a key matches "any key set to" the value ("Condition types for
        // listener rules", query string conditions).
        Condition::QueryString { values } => Ok(values.iter().any(|pair| {
            request
                .query
                .iter()
                .any(|(key, value)| query_pair_matches(pair, key, value))
        })),
        // http-request-method: "The match evaluation is case-sensitive. Wildcard characters
        // are not supported; therefore, the method name must be an exact match" ("Condition
        // types for listener rules", HTTP request method conditions).
        Condition::HttpRequestMethod { values } => Ok(values.contains(&request.method)),
        // source-ip: "The IP address must be specified in CIDR format. You can use both IPv4
        // and IPv6 addresses ... This condition is not satisfied by the addresses in the
        // X-Forwarded-For header" ("Condition types for listener rules", source IP address
        // conditions). An unknown source address matches nothing.
        Condition::SourceIp { values } => {
            let Some(ip) = request.source_ip else {
                return Ok(false);
            };
            for cidr in values {
                if cidr_contains(cidr, ip)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

fn query_pair_matches(pair: &QueryValue, key: &str, value: &str) -> bool {
    let key_matches = match &pair.key {
        None => true,
        Some(pattern) => wildcard_match(pattern, key, Case::Insensitive, Escapes::Backslash),
    };
    key_matches && wildcard_match(&pair.value, value, Case::Insensitive, Escapes::Backslash)
}

#[derive(Clone, Copy)]
enum Case {
    Sensitive,
    Insensitive,
}

#[derive(Clone, Copy, PartialEq)]
enum Escapes {
    None,
    /// `\*` and `\?` are literal (documented for query-string values only).
    Backslash,
}

/// Wildcard values or regexes of one condition against one string.
///
/// Assumption (AWS documents neither anchoring nor case for RegexValues): a regex matches when
/// it matches anywhere in the value (unanchored search, as PCRE and RE2 do; write `^...$` for
/// a whole-value match), and it is case-sensitive unless it says `(?i)`.
fn patterns_match(patterns: &Patterns, text: &str, case: Case) -> Result<bool, String> {
    match patterns {
        Patterns::Wildcard(values) => Ok(values
            .iter()
            .any(|pattern| wildcard_match(pattern, text, case, Escapes::None))),
        Patterns::Regex(values) => {
            for source in values {
                if compile(source)?.is_match(text) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

fn compile(source: &str) -> Result<Regex, String> {
    Regex::new(source).map_err(|e| format!("regex {source:?} does not compile: {e}"))
}

#[derive(Clone, Copy, PartialEq)]
enum Token {
    /// `*`: zero or more characters, any characters.
    Star,
    /// `?`: exactly one character.
    One,
    Literal(char),
}

/// An ALB wildcard pattern (`*` = zero or more characters, `?` = exactly one) against the
/// whole of `text`.
fn wildcard_match(pattern: &str, text: &str, case: Case, escapes: Escapes) -> bool {
    let (pattern, text) = match case {
        Case::Sensitive => (pattern.to_string(), text.to_string()),
        Case::Insensitive => (pattern.to_lowercase(), text.to_lowercase()),
    };
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if escapes == Escapes::Backslash
                && matches!(chars.peek(), Some('*' | '?' | '\\')) =>
            {
                tokens.push(Token::Literal(chars.next().unwrap_or('\\')))
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            c => tokens.push(Token::Literal(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy match with backtracking to the last star: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(Token::One) => {
                p += 1;
                t += 1;
            }
            Some(Token::Literal(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star, from)) => {
                    p = star + 1;
                    t = from + 1;
                    last_star = Some((star, from + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == Token::Star)
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> Result<bool, String> {
    let bad = || format!("source-ip value {cidr:?} is not a CIDR block");
    let (address, length) = match cidr.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (cidr, None),
    };
    let network: IpAddr = address.trim().parse().map_err(|_| bad())?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    let length: u32 = match length {
        None => max,
        Some(l) => l.trim().parse().map_err(|_| bad())?,
    };
    if length > max {
        return Err(bad());
    }
    Ok(match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    })
}

/// The outcome of a rule (or default action) that took the request.
fn answer(
    listener: &Listener,
    priority: Option<u32>,
    actions: &[Action],
    transforms: &[Transform],
    view: &View,
) -> Result<Answer, String> {
    // "Each rule must include exactly one of the following actions: forward, redirect, or
    // fixed-response, and it must be the last action to be performed" ("Listener rules for
    // your Application Load Balancer"). Authenticate actions come before it: the evaluator
    // takes the user as authenticated and reports that authentication was required.
    let authenticated = actions
        .iter()
        .any(|action| matches!(action, Action::Authenticate { .. }));
    let action = match actions.last() {
        None | Some(Action::Authenticate { .. }) => {
            return Err("no forward, redirect or fixed-response action".to_string());
        }
        Some(Action::Forward { target_groups, .. }) => forward(target_groups, transforms, view)?,
        Some(Action::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status,
        }) => Outcome::Redirect {
            status: *status,
            location: redirect_location(protocol, host, port, path, query, view),
        },
        Some(Action::FixedResponse { status, .. }) => Outcome::FixedResponse { status: *status },
    };
    Ok(Answer {
        listener: listener.port,
        priority,
        authenticated,
        action,
    })
}

fn forward(
    target_groups: &[WeightedTargetGroup],
    transforms: &[Transform],
    view: &View,
) -> Result<Outcome, String> {
    let backends = target_groups
        .iter()
        .map(|tg| {
            let (backend, port) = match &tg.target_group {
                TargetGroupRef::Owned(key) => match key.rsplit_once(':') {
                    Some((backend, port)) => match port.parse::<u16>() {
                        Ok(port) => (backend.to_string(), Some(port)),
                        Err(_) => (key.clone(), None),
                    },
                    None => (key.clone(), None),
                },
                TargetGroupRef::Existing(name) => (name.clone(), None),
            };
            BackendShare {
                backend,
                port,
                weight: tg.weight,
            }
        })
        .collect();

    // Transforms rewrite the request "before they are routed to targets" and do "not change
    // the routing decision"; "If there is no pattern match, the original request is sent to
    // the target. If there is a pattern match but the transform fails, we return an HTTP 500
    // error" ("Transforms for listener rules",
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-transforms.html).
    let mut host = view.host.clone();
    let mut url = view.request.path_and_query();
    for transform in transforms {
        match transform {
            // host-header-rewrite: the regex is matched against the host header (without the
            // client's port, as for host conditions).
            Transform::HostHeaderRewrite { regex, replace } => {
                if let Some(rewritten) = rewrite(regex, replace, &host)? {
                    // Assumption: an empty host is a failed transform.
                    if rewritten.is_empty() {
                        return Ok(Outcome::FixedResponse { status: 500 });
                    }
                    host = rewritten;
                }
            }
            // url-rewrite: the regex is matched against the path and the query string (the
            // URL rewrite section of "Transforms for listener rules" says either can be
            // modified); AWS's own controller writes `^([^?]*)` to replace the path alone and
            // keep the query (aws-load-balancer-controller, route_rule_transform.go).
            Transform::UrlRewrite { regex, replace } => {
                if let Some(rewritten) = rewrite(regex, replace, &url)? {
                    // Assumption: a URL that is no longer an absolute path is a failed
                    // transform.
                    if !rewritten.starts_with('/') {
                        return Ok(Outcome::FixedResponse { status: 500 });
                    }
                    url = rewritten;
                }
            }
        }
    }
    Ok(Outcome::Forward {
        backends,
        request: ForwardedRequest { host, path: url },
    })
}

/// Replaces the first (leftmost) match of `regex` in `input` by `replace` with `$1`-style
/// capture groups ("You can specify capture groups in the regular expression (for example, $1
/// and $2)": RewriteConfig,
/// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RewriteConfig.html).
/// None when the regex does not match. Assumption: only the first match is replaced.
fn rewrite(regex: &str, replace: &str, input: &str) -> Result<Option<String>, String> {
    let regex = compile(regex)?;
    let Some(captures) = regex.captures(input) else {
        return Ok(None);
    };
    let whole = captures.get(0).expect("group 0 always participates");
    let mut out = String::with_capacity(input.len() + replace.len());
    out.push_str(&input[..whole.start()]);
    out.push_str(&expand(replace, &captures));
    out.push_str(&input[whole.end()..]);
    Ok(Some(out))
}

/// Expands `$1`..`$99`, `${n}` and `${name}` and `$$` in a replacement. `$12` is group 12 when
/// the regex has 12 groups, else group 1 followed by `2` (as PCRE/JavaScript replacements do;
/// the regex crate's own `$1a` = group "1a" rule would silently drop text). A group that did
/// not participate expands to nothing; any other `$` is literal.
fn expand(replace: &str, captures: &Captures) -> String {
    let group = |n: usize| captures.get(n).map_or("", |m| m.as_str());
    let chars: Vec<char> = replace.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' || i + 1 == chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        if next == '$' {
            out.push('$');
            i += 2;
        } else if next == '{' {
            match chars[i + 2..].iter().position(|c| *c == '}') {
                Some(len) => {
                    let name: String = chars[i + 2..i + 2 + len].iter().collect();
                    match name.parse::<usize>() {
                        Ok(n) => out.push_str(group(n)),
                        Err(_) => out.push_str(captures.name(&name).map_or("", |m| m.as_str())),
                    }
                    i += 3 + len;
                }
                None => {
                    out.push('$');
                    i += 1;
                }
            }
        } else if let Some(d1) = next.to_digit(10) {
            let mut n = d1 as usize;
            let mut used = 2;
            if let Some(d2) = chars.get(i + 2).and_then(|c| c.to_digit(10)) {
                let two = n * 10 + d2 as usize;
                if two < captures.len() {
                    n = two;
                    used = 3;
                }
            }
            out.push_str(group(n));
            i += used;
        } else {
            out.push('$');
            i += 1;
        }
    }
    out
}

/// The `Location` of a redirect: "A URI consists of the following components:
/// protocol://hostname:port/path?query ... Any components that you do not modify retain their
/// original values. You can reuse URI components using the following reserved keywords:
/// #{protocol}, #{host}, #{port}, #{path} (the leading "/" is removed), #{query}"; the query is
/// given "without the leading ?, as it is automatically added" (RedirectActionConfig,
/// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RedirectActionConfig.html).
///
/// Assumptions (AWS is silent): the port is always written, as configured, even when it is the
/// scheme's default (`https://host:443/x`); `?` is left out when the query comes out empty;
/// `#{host}` is the host without the client's port; transforms do not apply to redirects.
fn redirect_location(
    protocol: &str,
    host: &str,
    port: &str,
    path: &str,
    query: &str,
    view: &View,
) -> String {
    let request = view.request;
    let protocol_value = request.scheme.to_ascii_uppercase();
    let port_value = request.port.to_string();
    let path_value = request
        .path
        .strip_prefix('/')
        .unwrap_or(&request.path)
        .to_string();
    let query_value = request.query_string();
    let keywords = [
        ("protocol", protocol_value.as_str()),
        ("host", view.host.as_str()),
        ("port", port_value.as_str()),
        ("path", path_value.as_str()),
        ("query", query_value.as_str()),
    ];
    let scheme = substitute(protocol, &keywords).to_ascii_lowercase();
    let host = substitute(host, &keywords);
    let port = substitute(port, &keywords);
    let mut path = substitute(path, &keywords);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let query = substitute(query, &keywords);
    let mut location = format!("{scheme}://{host}");
    if !port.is_empty() {
        location.push(':');
        location.push_str(&port);
    }
    location.push_str(&path);
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    location
}

/// Replaces `#{name}` keywords in one pass (a substituted value is never rescanned).
fn substitute(template: &str, keywords: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}').and_then(|end| {
            keywords
                .iter()
                .find(|(name, _)| *name == &after[..end])
                .map(|(_, value)| (end, *value))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits `host[:port]` (with `[v6]:port` literals); None when the port part is not digits.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|port| (host, Some(port))),
        };
    }
    match authority.split_once(':') {
        None => Some((authority, None)),
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        // A bare IPv6 address: no port.
        Some(_) => Some((authority, None)),
    }
}

/// The host of a Host header without its `:port` (kept when it is not a port).
fn strip_port(host: &str) -> &str {
    match split_host_port(host) {
        Some((name, Some(port))) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::fixtures::{
        self, forward_to, header, header_regex, host, host_regex, listener, method, path,
        path_regex, query, source_ip,
    };
    use crate::alb::{Authenticate, JwtValidation};

    // ---- builders (the model's are shared: `alb::fixtures`) --------------------------------

    fn lb(listeners: Vec<Listener>) -> LoadBalancer {
        fixtures::load_balancer("platform/public", listeners)
    }

    fn rule(priority: u32, conditions: Vec<Condition>, action: Action) -> Rule {
        fixtures::rule(priority, conditions, vec![action])
    }

    fn with_transforms(mut rule: Rule, transforms: Vec<Transform>) -> Rule {
        rule.transforms = transforms;
        rule
    }

    fn fwd(backend: &str) -> Action {
        forward_to(&[(TargetGroupRef::Owned(backend.to_string()), 1)])
    }

    fn redirect(protocol: &str, host: &str, port: &str, path: &str, query: &str) -> Action {
        Action::Redirect {
            protocol: protocol.to_string(),
            host: host.to_string(),
            port: port.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            status: 301,
        }
    }

    fn get(url: &str) -> Request {
        Request::parse(url, "GET", &[]).unwrap()
    }

    fn with_headers(url: &str, headers: &[(&str, &str)]) -> Request {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Request::parse(url, "GET", &headers).unwrap()
    }

    /// A load balancer with one HTTP:80 listener holding one rule (priority 1) with
    /// `conditions`, forwarding to `ns/hit:80`.
    fn one_rule(conditions: Vec<Condition>) -> LoadBalancer {
        lb(vec![listener(
            80,
            Protocol::Http,
            vec![rule(1, conditions, fwd("ns/hit:80"))],
        )])
    }

    fn matches(conditions: Vec<Condition>, request: &Request) -> bool {
        let answer = evaluate(&one_rule(conditions), request).unwrap();
        answer.priority == Some(1)
    }

    fn forwarded(answer: &Answer) -> &ForwardedRequest {
        match &answer.action {
            Outcome::Forward { request, .. } => request,
            other => panic!("expected a forward, got {other:?}"),
        }
    }

    fn location(answer: &Answer) -> &str {
        match &answer.action {
            Outcome::Redirect { location, .. } => location,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    // ---- listeners ------------------------------------------------------------------------

    #[test]
    fn missing_listener_is_an_error() {
        let lb = one_rule(vec![]);
        assert_eq!(
            evaluate(&lb, &get("http://a.example.com:8080/")),
            Err(EvaluateError::NoListener { port: 8080 })
        );
    }

    #[test]
    fn scheme_must_match_listener_protocol() {
        let lb = lb(vec![
            listener(80, Protocol::Https, vec![]),
            listener(443, Protocol::Http, vec![]),
        ]);
        assert_eq!(
            evaluate(&lb, &get("http://a.example.com/")),
            Err(EvaluateError::ProtocolMismatch {
                port: 80,
                listener: Protocol::Https,
                scheme: "http".to_string()
            })
        );
        let err = evaluate(&lb, &get("https://a.example.com/")).unwrap_err();
        assert_eq!(
            err,
            EvaluateError::ProtocolMismatch {
                port: 443,
                listener: Protocol::Http,
                scheme: "https".to_string()
            }
        );
        assert_eq!(
            err.to_string(),
            "the listener on port 443 is HTTP, the request is https"
        );
    }

    #[test]
    fn listener_is_chosen_by_port() {
        let lb = lb(vec![
            listener(
                80,
                Protocol::Http,
                vec![rule(1, vec![], fwd("ns/plain:80"))],
            ),
            listener(
                8443,
                Protocol::Https,
                vec![rule(7, vec![], fwd("ns/tls:80"))],
            ),
        ]);
        let answer = evaluate(&lb, &get("https://a.example.com:8443/")).unwrap();
        assert_eq!((answer.listener, answer.priority), (8443, Some(7)));
    }

    // ---- rule order -----------------------------------------------------------------------

    #[test]
    fn lowest_priority_wins_whatever_the_stored_order() {
        let lb = lb(vec![listener(
            80,
            Protocol::Http,
            vec![
                rule(20, vec![path(&["/*"])], fwd("ns/catch-all:80")),
                rule(5, vec![path(&["/api/*"])], fwd("ns/api:80")),
                rule(10, vec![path(&["/api/v2/*"])], fwd("ns/v2:80")),
            ],
        )]);
        assert_eq!(
            evaluate(&lb, &get("http://a.example.com/api/v2/x"))
                .unwrap()
                .priority,
            Some(5)
        );
        assert_eq!(
            evaluate(&lb, &get("http://a.example.com/other"))
                .unwrap()
                .priority,
            Some(20)
        );
    }

    #[test]
    fn default_action_when_no_rule_matches() {
        let lb = one_rule(vec![path(&["/api"])]);
        let answer = evaluate(&lb, &get("http://a.example.com/web")).unwrap();
        assert_eq!(
            answer,
            Answer {
                listener: 80,
                priority: None,
                authenticated: false,
                action: Outcome::FixedResponse { status: 404 },
            }
        );
    }

    #[test]
    fn conditions_are_anded_and_values_ored() {
        let conditions = vec![
            host(&["a.example.com", "b.example.com"]),
            path(&["/x", "/y"]),
        ];
        assert!(matches(conditions.clone(), &get("http://b.example.com/x")));
        assert!(matches(conditions.clone(), &get("http://a.example.com/y")));
        assert!(!matches(conditions.clone(), &get("http://c.example.com/x")));
        assert!(!matches(conditions, &get("http://a.example.com/z")));
    }

    #[test]
    fn rule_without_conditions_matches_everything() {
        assert!(matches(vec![], &get("http://anything.example.com/any")));
    }

    // ---- host-header ----------------------------------------------------------------------

    #[test]
    fn host_is_case_insensitive() {
        assert!(matches(
            vec![host(&["Pay.Example.COM"])],
            &get("http://pay.example.com/")
        ));
        assert!(matches(
            vec![host(&["pay.example.com"])],
            &with_headers("http://x/", &[("HOST", "PAY.EXAMPLE.COM")])
        ));
    }

    #[test]
    fn host_star_matches_any_characters_including_dots() {
        let star = vec![host(&["*.example.com"])];
        assert!(matches(star.clone(), &get("http://test.example.com/")));
        assert!(matches(star.clone(), &get("http://a.b.example.com/")));
        assert!(!matches(star, &get("http://example.com/")));
        // `*` matches zero characters too.
        assert!(matches(
            vec![host(&["ex*ample.com"])],
            &get("http://example.com/")
        ));
    }

    #[test]
    fn host_question_mark_matches_exactly_one_character() {
        let one = vec![host(&["api?.example.com"])];
        assert!(matches(one.clone(), &get("http://api1.example.com/")));
        assert!(!matches(one.clone(), &get("http://api.example.com/")));
        assert!(!matches(one, &get("http://api12.example.com/")));
    }

    #[test]
    fn host_port_is_ignored() {
        let exact = vec![host(&["very.specific.com"])];
        assert!(matches(
            exact.clone(),
            &with_headers("http://x/", &[("Host", "very.specific.com:1234")])
        ));
        assert!(matches(exact, &get("http://very.specific.com:80/")));
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }

    #[test]
    fn host_regex_is_an_unanchored_search() {
        assert!(matches(
            vec![host_regex(&["example"])],
            &get("http://api.example.com/")
        ));
        let anchored = vec![host_regex(&["^api\\.example\\.com$"])];
        assert!(matches(anchored.clone(), &get("http://api.example.com/")));
        assert!(!matches(anchored.clone(), &get("http://xapi.example.com/")));
        // The port is not part of what the regex sees.
        assert!(matches(
            anchored,
            &with_headers("http://x/", &[("host", "api.example.com:8080")])
        ));
    }

    #[test]
    fn request_without_host_is_addressed_to_the_load_balancer() {
        let mut request = get("http://x/");
        request.host = None;
        assert!(matches(vec![host(&["*"])], &request));
        assert!(matches(vec![host(&["*.elb.amazonaws.com"])], &request));
        assert!(!matches(vec![host(&["x"])], &request));
    }

    // ---- path-pattern ---------------------------------------------------------------------

    #[test]
    fn path_is_case_sensitive() {
        assert!(matches(vec![path(&["/Api"])], &get("http://a/Api")));
        assert!(!matches(vec![path(&["/Api"])], &get("http://a/api")));
    }

    #[test]
    fn path_wildcards() {
        let prefix = vec![path(&["/abc", "/abc/*"])];
        assert!(matches(prefix.clone(), &get("http://a/abc")));
        assert!(matches(prefix.clone(), &get("http://a/abc/")));
        assert!(matches(prefix.clone(), &get("http://a/abc/d/e")));
        assert!(!matches(prefix, &get("http://a/abcd")));
        let middle = vec![path(&["/img/*/pics"])];
        assert!(matches(middle.clone(), &get("http://a/img/x/y/pics")));
        assert!(!matches(middle, &get("http://a/img/x/pics/z")));
        assert!(matches(vec![path(&["/v?/x"])], &get("http://a/v1/x")));
        assert!(!matches(vec![path(&["/v?/x"])], &get("http://a/v10/x")));
    }

    #[test]
    fn path_ignores_the_query_string() {
        assert!(matches(
            vec![path(&["/search"])],
            &get("http://a/search?q=1")
        ));
        assert!(!matches(
            vec![path(&["*q=1*"])],
            &get("http://a/search?q=1")
        ));
        assert!(!matches(
            vec![path_regex(&["q=1"])],
            &get("http://a/search?q=1")
        ));
    }

    #[test]
    fn path_regex_values() {
        let exact = vec![path_regex(&["^/a\\*b$"])];
        assert!(matches(exact.clone(), &get("http://a/a*b")));
        assert!(!matches(exact, &get("http://a/aXb")));
        assert!(matches(
            vec![path_regex(&["/v[0-9]+/"])],
            &get("http://a/api/v12/users")
        ));
        assert!(!matches(vec![path_regex(&["^/API"])], &get("http://a/api")));
        assert!(matches(
            vec![path_regex(&["(?i)^/API"])],
            &get("http://a/api")
        ));
    }

    // ---- http-header ----------------------------------------------------------------------

    #[test]
    fn header_name_and_value_are_case_insensitive() {
        let request = with_headers("http://a/", &[("x-Env", "Canary")]);
        assert!(matches(vec![header("X-ENV", &["canary"])], &request));
        assert!(matches(vec![header("x-env", &["CAN*"])], &request));
        assert!(matches(vec![header("x-env", &["Canar?"])], &request));
        assert!(!matches(vec![header("x-env", &["stable"])], &request));
    }

    #[test]
    fn missing_header_never_matches() {
        assert!(!matches(vec![header("x-env", &["*"])], &get("http://a/")));
    }

    #[test]
    fn repeated_header_matches_on_any_occurrence() {
        let request = with_headers("http://a/", &[("x-env", "one"), ("X-Env", "two")]);
        assert!(matches(vec![header("x-env", &["two"])], &request));
        assert!(matches(vec![header("x-env", &["one"])], &request));
        assert!(!matches(vec![header("x-env", &["one,two"])], &request));
    }

    #[test]
    fn header_condition_on_host_is_invalid() {
        let err = evaluate(
            &one_rule(vec![header("Host", &["a.example.com"])]),
            &get("http://a.example.com/"),
        )
        .unwrap_err();
        assert!(matches!(err, EvaluateError::InvalidModel { .. }), "{err}");
    }

    #[test]
    fn header_regex_values() {
        let request = with_headers("http://a/", &[("User-Agent", "Mozilla Chrome/120")]);
        assert!(matches(
            vec![header_regex("user-agent", &["Chrome/[0-9]+"])],
            &request
        ));
        assert!(!matches(
            vec![header_regex("user-agent", &["^Chrome"])],
            &request
        ));
    }

    // ---- query-string ---------------------------------------------------------------------

    #[test]
    fn query_pairs_are_case_insensitive_with_wildcards() {
        let request = get("http://a/?Version=V1&other=x");
        assert!(matches(vec![query(&[(Some("version"), "v1")])], &request));
        assert!(matches(vec![query(&[(Some("VERS*"), "v?")])], &request));
        assert!(!matches(vec![query(&[(Some("version"), "v2")])], &request));
        assert!(!matches(vec![query(&[(Some("missing"), "*")])], &request));
    }

    #[test]
    fn query_pair_without_key_matches_any_parameter_value() {
        let request = get("http://a/?a=1&b=example");
        assert!(matches(vec![query(&[(None, "example")])], &request));
        assert!(matches(vec![query(&[(None, "1")])], &request));
        assert!(!matches(vec![query(&[(None, "a")])], &request));
    }

    #[test]
    fn query_any_pair_is_enough() {
        let request = get("http://a/?version=v1");
        assert!(matches(
            vec![query(&[(Some("version"), "v2"), (Some("version"), "v1")])],
            &request
        ));
        assert!(!matches(vec![query(&[(None, "x")])], &get("http://a/")));
    }

    #[test]
    fn query_backslash_escapes_wildcards() {
        let literal = vec![query(&[(Some("q"), "a\\*")])];
        assert!(matches(literal.clone(), &get("http://a/?q=a*")));
        assert!(!matches(literal, &get("http://a/?q=ab")));
        assert!(matches(
            vec![query(&[(Some("q"), "a*")])],
            &get("http://a/?q=ab")
        ));
    }

    // ---- http-request-method --------------------------------------------------------------

    #[test]
    fn method_is_exact_and_case_sensitive() {
        let lb = one_rule(vec![method(&["GET", "HEAD"])]);
        let hit = |m: &str| {
            evaluate(&lb, &Request::parse("http://a/", m, &[]).unwrap())
                .unwrap()
                .priority
                .is_some()
        };
        assert!(hit("GET"));
        assert!(hit("HEAD"));
        assert!(!hit("get"));
        assert!(!hit("POST"));
        assert!(!hit("GE"));
    }

    // ---- source-ip ------------------------------------------------------------------------

    #[test]
    fn source_ip_cidr() {
        let condition = vec![source_ip(&["192.0.2.0/24", "2001:db8::/32"])];
        let mut request = get("http://a/");
        assert!(!matches(condition.clone(), &request), "unknown source");
        request.source_ip = Some("192.0.2.77".parse().unwrap());
        assert!(matches(condition.clone(), &request));
        request.source_ip = Some("192.0.3.1".parse().unwrap());
        assert!(!matches(condition.clone(), &request));
        request.source_ip = Some("2001:db8::1".parse().unwrap());
        assert!(matches(condition.clone(), &request));
        request.source_ip = Some("2001:db9::1".parse().unwrap());
        assert!(!matches(condition, &request));
        request.source_ip = Some("10.1.2.3".parse().unwrap());
        assert!(matches(vec![source_ip(&["0.0.0.0/0"])], &request));
        assert!(matches(vec![source_ip(&["10.1.2.3/32"])], &request));
    }

    #[test]
    fn invalid_model_values_are_reported() {
        let mut request = get("http://a/");
        request.source_ip = Some("10.0.0.1".parse().unwrap());
        let err = evaluate(&one_rule(vec![source_ip(&["10.0.0.0/33"])]), &request).unwrap_err();
        assert!(matches!(
            err,
            EvaluateError::InvalidModel {
                listener: 80,
                priority: Some(1),
                ..
            }
        ));
        let err = evaluate(&one_rule(vec![path_regex(&["(unclosed"])]), &request).unwrap_err();
        assert!(err.to_string().starts_with("listener 80, rule 1: regex"));
    }

    // ---- actions --------------------------------------------------------------------------

    #[test]
    fn authenticate_is_pre_routing() {
        let mut authenticated = rule(3, vec![], fwd("payments/payments-api:8080"));
        authenticated.actions.insert(
            0,
            Action::Authenticate(Authenticate::JwtValidation(JwtValidation {
                issuer: "https://idp".into(),
                jwks_endpoint: "https://idp/keys".into(),
                additional_claims: vec![],
            })),
        );
        let lb = lb(vec![listener(443, Protocol::Https, vec![authenticated])]);
        let answer = evaluate(&lb, &get("https://pay.example.com/x")).unwrap();
        assert!(answer.authenticated);
        assert!(matches!(answer.action, Outcome::Forward { .. }));
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["authenticated"], serde_json::json!(true));
    }

    #[test]
    fn rule_without_final_action_is_invalid() {
        let mut broken = rule(1, vec![], Action::fixed(200));
        broken.actions = vec![Action::Authenticate(Authenticate::JwtValidation(
            JwtValidation {
                issuer: "https://idp".into(),
                jwks_endpoint: "https://idp/keys".into(),
                additional_claims: vec![],
            },
        ))];
        let lb = lb(vec![listener(80, Protocol::Http, vec![broken])]);
        assert!(matches!(
            evaluate(&lb, &get("http://a/")),
            Err(EvaluateError::InvalidModel { .. })
        ));
    }

    #[test]
    fn forward_keeps_every_target_group_and_weight() {
        let lb = lb(vec![listener(
            80,
            Protocol::Http,
            vec![rule(
                1,
                vec![],
                forward_to(&[
                    (TargetGroupRef::Owned("payments/api:8080".to_string()), 90),
                    (
                        TargetGroupRef::Owned("payments/api-canary:8080".to_string()),
                        0,
                    ),
                    (TargetGroupRef::Existing("payments-legacy".to_string()), 10),
                ]),
            )],
        )]);
        let answer = evaluate(&lb, &get("http://pay.example.com/")).unwrap();
        let Outcome::Forward { backends, .. } = answer.action else {
            panic!("expected a forward");
        };
        assert_eq!(
            backends,
            vec![
                BackendShare {
                    backend: "payments/api".to_string(),
                    port: Some(8080),
                    weight: 90
                },
                BackendShare {
                    backend: "payments/api-canary".to_string(),
                    port: Some(8080),
                    weight: 0
                },
                BackendShare {
                    backend: "payments-legacy".to_string(),
                    port: None,
                    weight: 10
                },
            ]
        );
    }

    #[test]
    fn forwarded_request_without_transforms_is_the_original() {
        let answer = evaluate(
            &one_rule(vec![]),
            &with_headers("http://a/p/q?x=1&y", &[("Host", "Pay.example.com:8080")]),
        )
        .unwrap();
        assert_eq!(
            forwarded(&answer),
            &ForwardedRequest {
                host: "Pay.example.com".to_string(),
                path: "/p/q?x=1&y".to_string()
            }
        );
    }

    #[test]
    fn fixed_response() {
        let lb = lb(vec![listener(
            80,
            Protocol::Http,
            vec![rule(1, vec![path(&["/down"])], Action::fixed(503))],
        )]);
        assert_eq!(
            evaluate(&lb, &get("http://a/down")).unwrap().action,
            Outcome::FixedResponse { status: 503 }
        );
    }

    // ---- transforms -----------------------------------------------------------------------

    fn transformed(transforms: Vec<Transform>, url: &str) -> Answer {
        let lb = lb(vec![listener(
            80,
            Protocol::Http,
            vec![with_transforms(
                rule(1, vec![path(&["/*"])], fwd("ns/svc:80")),
                transforms,
            )],
        )]);
        evaluate(&lb, &get(url)).unwrap()
    }

    fn url_rewrite(regex: &str, replace: &str) -> Transform {
        Transform::UrlRewrite {
            regex: regex.to_string(),
            replace: replace.to_string(),
        }
    }

    fn host_rewrite(regex: &str, replace: &str) -> Transform {
        Transform::HostHeaderRewrite {
            regex: regex.to_string(),
            replace: replace.to_string(),
        }
    }

    #[test]
    fn url_rewrite_with_capture_group_keeps_the_query() {
        let answer = transformed(
            vec![url_rewrite("^/api/(.+)$", "/v2/$1")],
            "http://a/api/users?id=7",
        );
        // The regex sees path and query: `(.+)$` captured `users?id=7`.
        assert_eq!(forwarded(&answer).path, "/v2/users?id=7");
        // The path-only form AWS's controller writes leaves the query alone.
        let answer = transformed(
            vec![url_rewrite("(^/foo(/)?)", "/cat$2")],
            "http://a/foo/bar?q1=q2&q3=q4",
        );
        assert_eq!(forwarded(&answer).path, "/cat/bar?q1=q2&q3=q4");
        let answer = transformed(vec![url_rewrite("^([^?]*)", "/bar")], "http://a/foo?q=1");
        assert_eq!(forwarded(&answer).path, "/bar?q=1");
    }

    #[test]
    fn url_rewrite_can_change_the_query() {
        let answer = transformed(
            vec![url_rewrite("^/dp/([A-Za-z0-9]+)/?$", "/product.php?id=$1")],
            "http://a/dp/B09G3HRMVB",
        );
        assert_eq!(forwarded(&answer).path, "/product.php?id=B09G3HRMVB");
    }

    #[test]
    fn rewrite_without_match_keeps_the_original() {
        let answer = transformed(
            vec![
                url_rewrite("^/nomatch/(.*)", "/x/$1"),
                host_rewrite("^nomatch$", "other"),
            ],
            "http://a.example.com/keep?me=1",
        );
        assert_eq!(
            forwarded(&answer),
            &ForwardedRequest {
                host: "a.example.com".to_string(),
                path: "/keep?me=1".to_string()
            }
        );
    }

    #[test]
    fn host_header_rewrite() {
        let answer = transformed(
            vec![host_rewrite(
                "^mywebsite-(.+).com$",
                "internal.dev.$1.myweb.com",
            )],
            "http://mywebsite-example.com/project-a",
        );
        assert_eq!(
            forwarded(&answer),
            &ForwardedRequest {
                host: "internal.dev.example.myweb.com".to_string(),
                path: "/project-a".to_string()
            }
        );
        let answer = transformed(
            vec![host_rewrite(".*", "backend.internal")],
            "http://front.example.com:80/",
        );
        assert_eq!(forwarded(&answer).host, "backend.internal");
    }

    #[test]
    fn rewrite_replaces_the_match_only() {
        let answer = transformed(vec![url_rewrite("/old/", "/new/")], "http://a/x/old/old/y");
        assert_eq!(forwarded(&answer).path, "/x/new/old/y");
    }

    #[test]
    fn replacement_syntax() {
        let captures = Regex::new("(a)(b)").unwrap().captures("ab").unwrap();
        assert_eq!(expand("$1x$2", &captures), "axb");
        assert_eq!(expand("${2}0", &captures), "b0");
        assert_eq!(expand("$12", &captures), "a2");
        assert_eq!(expand("$$1 $9 $", &captures), "$1  $");
        let named = Regex::new("(?P<id>[0-9]+)")
            .unwrap()
            .captures("42")
            .unwrap();
        assert_eq!(expand("id=${id}", &named), "id=42");
    }

    #[test]
    fn failed_url_rewrite_answers_500() {
        let answer = transformed(vec![url_rewrite("^/", "")], "http://a/x");
        assert_eq!(answer.action, Outcome::FixedResponse { status: 500 });
    }

    // ---- redirects ------------------------------------------------------------------------

    fn redirected(action: Action, url: &str) -> Answer {
        let lb = lb(vec![
            listener(80, Protocol::Http, vec![rule(1, vec![], action.clone())]),
            listener(8443, Protocol::Https, vec![rule(1, vec![], action)]),
        ]);
        evaluate(&lb, &get(url)).unwrap()
    }

    #[test]
    fn redirect_keeps_every_part_through_keywords() {
        let keep_all = redirect("#{protocol}", "#{host}", "#{port}", "/#{path}", "#{query}");
        assert_eq!(
            location(&redirected(
                keep_all.clone(),
                "https://a.example.com:8443/x/y?b=2&c"
            )),
            "https://a.example.com:8443/x/y?b=2&c"
        );
        let answer = redirected(keep_all, "http://a.example.com/");
        assert_eq!(location(&answer), "http://a.example.com:80/");
    }

    #[test]
    fn redirect_http_to_https() {
        let answer = redirected(
            redirect("HTTPS", "#{host}", "443", "/#{path}", "#{query}"),
            "http://pay.example.com/x?y=1",
        );
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"listener":80,"priority":1,"action":{"type":"redirect","status":301,"location":"https://pay.example.com:443/x?y=1"}}"#
        );
    }

    #[test]
    fn redirect_explicit_parts_and_keywords_in_context() {
        let answer = redirected(
            Action::Redirect {
                protocol: "HTTPS".to_string(),
                host: "new.#{host}".to_string(),
                port: "9443".to_string(),
                path: "/new/#{path}/p#{port}".to_string(),
                query: "#{query}&from=#{host}".to_string(),
                status: 302,
            },
            "http://old.example.com:80/a?x=1",
        );
        assert_eq!(
            answer.action,
            Outcome::Redirect {
                status: 302,
                location: "https://new.old.example.com:9443/new/a/p80?x=1&from=old.example.com"
                    .to_string()
            }
        );
    }

    #[test]
    fn redirect_with_fixed_path_and_no_query() {
        let answer = redirected(
            redirect(
                "#{protocol}",
                "other.example.com",
                "#{port}",
                "/landing",
                "",
            ),
            "http://a.example.com/x?drop=1",
        );
        assert_eq!(location(&answer), "http://other.example.com:80/landing");
        let answer = redirected(
            redirect("#{protocol}", "#{host}", "#{port}", "/#{path}", "#{query}"),
            "http://a.example.com/x",
        );
        assert_eq!(
            location(&answer),
            "http://a.example.com:80/x",
            "no stray `?`"
        );
    }

    #[test]
    fn redirect_host_drops_the_client_port() {
        let answer = evaluate(
            &lb(vec![listener(
                80,
                Protocol::Http,
                vec![rule(
                    1,
                    vec![],
                    redirect("HTTPS", "#{host}", "443", "/#{path}", "#{query}"),
                )],
            )]),
            &with_headers("http://x/p", &[("Host", "a.example.com:80")]),
        )
        .unwrap();
        assert_eq!(location(&answer), "https://a.example.com:443/p");
    }

    #[test]
    fn substitute_leaves_unknown_keywords() {
        let keywords = [("host", "h#{path}")];
        assert_eq!(
            substitute("#{host}#{nope}#{", &keywords),
            "h#{path}#{nope}#{"
        );
    }

    // ---- JSON -----------------------------------------------------------------------------

    #[test]
    fn answer_json_shapes() {
        let lb = lb(vec![listener(
            443,
            Protocol::Https,
            vec![rule(
                3,
                vec![path(&["/api/*"])],
                forward_to(&[(
                    TargetGroupRef::Owned("payments/payments-api:8080".to_string()),
                    90,
                )]),
            )],
        )]);
        let answer = evaluate(&lb, &get("https://pay.example.com/api/x")).unwrap();
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            serde_json::json!({"listener": 443, "priority": 3, "action": {"type": "forward",
                "backends": [{"backend": "payments/payments-api", "port": 8080, "weight": 90}],
                "request": {"host": "pay.example.com", "path": "/api/x"}}})
        );
        let answer = evaluate(&lb, &get("https://pay.example.com/web")).unwrap();
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"listener":443,"priority":null,"action":{"type":"fixed-response","status":404}}"#
        );
        let back: Answer = serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        assert_eq!(back, answer);
    }

    // ---- Request::parse -------------------------------------------------------------------

    #[test]
    fn parse_full_url() {
        let request = Request::parse(
            "https://pay.example.com:8443/a/b?x=1&y=2",
            "POST",
            &[("X-Env".to_string(), "canary".to_string())],
        )
        .unwrap();
        assert_eq!(
            request,
            Request {
                scheme: "https".to_string(),
                port: 8443,
                host: Some("pay.example.com:8443".to_string()),
                path: "/a/b".to_string(),
                query: vec![
                    ("x".to_string(), "1".to_string()),
                    ("y".to_string(), "2".to_string())
                ],
                method: "POST".to_string(),
                headers: vec![("X-Env".to_string(), "canary".to_string())],
                source_ip: None,
            }
        );
    }

    #[test]
    fn parse_default_ports() {
        assert_eq!(get("http://a.example.com/").port, 80);
        assert_eq!(get("https://a.example.com/").port, 443);
        assert_eq!(get("HTTPS://a.example.com").scheme, "https");
        assert_eq!(get("http://[2001:db8::1]:8080/").port, 8080);
        assert_eq!(
            get("http://[2001:db8::1]/").host.as_deref(),
            Some("[2001:db8::1]")
        );
    }

    #[test]
    fn parse_host_header_overrides_url_host() {
        let request = with_headers(
            "http://10.0.0.5:8080/",
            &[("Accept", "*/*"), ("hOsT", "very.specific.com:1234")],
        );
        assert_eq!(request.host.as_deref(), Some("very.specific.com:1234"));
        assert_eq!(request.port, 8080);
    }

    #[test]
    fn parse_path_and_query() {
        let request = get("http://a.example.com");
        assert_eq!((request.path.as_str(), request.query.len()), ("/", 0));
        let request = get("http://a.example.com?x=1");
        assert_eq!(request.path, "/");
        let request = get("http://a/p%20q/r?a=1&&flag&b=x=y&c=#frag");
        assert_eq!(request.path, "/p%20q/r", "kept as sent");
        assert_eq!(
            request.query,
            vec![
                ("a".to_string(), "1".to_string()),
                ("flag".to_string(), String::new()),
                ("b".to_string(), "x=y".to_string()),
                ("c".to_string(), String::new()),
            ]
        );
        assert_eq!(request.path_and_query(), "/p%20q/r?a=1&flag&b=x=y&c");
        assert_eq!(get("http://a/x#frag?no").query, vec![]);
    }

    #[test]
    fn parse_rejects_bad_urls() {
        for url in [
            "a.example.com/x",
            "ftp://a.example.com/",
            "http:///x",
            "http://a.example.com:0/",
            "http://a.example.com:99999/",
            "http://a.example.com:x/",
            "http://a b/",
        ] {
            assert!(
                matches!(
                    Request::parse(url, "GET", &[]),
                    Err(EvaluateError::BadUrl(_))
                ),
                "{url}"
            );
        }
    }
}
