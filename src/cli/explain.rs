//! `gwsync explain`: which rule takes a request, and what happens to it.

use super::{Cli, CliError, ExplainArgs, OutputFormat, RevisionArgs, check_target};
use crate::alb::evaluate::{Answer, Outcome, Request, evaluate};
use crate::alb::{LoadBalancer, render};
use crate::exit::Exit;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One entry of a `--requests` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".to_string()
}

pub(super) fn run(cli: &Cli, args: &ExplainArgs) -> Result<Exit, CliError> {
    let requests = requests(args)?;
    if let Some(base) = &args.base {
        return before_and_after(cli, args, base, &requests);
    }
    let live_stack;
    let checked;
    let stack = if args.live {
        live_stack = super::live::observed_stack(&super::load_config(cli)?.0)?;
        &live_stack
    } else {
        checked = check_target(cli, &args.revision, args.worktree)?;
        &checked.translation.stack
    };
    let lb = stack.load_balancer(&args.gateway).ok_or_else(|| {
        CliError::Usage(format!(
            "Gateway {} has no load balancer {} (not declared, another class, or refused: run `gwsync validate`)",
            args.gateway,
            if args.live { "owned by this instance on AWS" } else { "in this revision" }
        ))
    })?;
    let mut answers = Vec::new();
    for (spec, request) in &requests {
        let answer =
            evaluate(lb, request).map_err(|e| CliError::Usage(format!("{}: {e}", spec.url)))?;
        answers.push(answer);
    }
    match args.format {
        OutputFormat::Json if args.requests.is_some() => {
            println!(
                "{}",
                serde_json::to_string_pretty(&answers).expect("answers serialise")
            )
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answers[0]).expect("answers serialise")
        ),
        OutputFormat::Text => {
            for ((spec, _), answer) in requests.iter().zip(&answers) {
                println!("{} {}", spec.method, spec.url);
                print!("{}", explain_text(lb, answer));
            }
        }
    }
    Ok(Exit::Clean)
}

/// `--base`: each request answered at the base revision and at the head (`--rev`, the working
/// tree, or HEAD), one after the other. A side without the Gateway's load balancer says so.
fn before_and_after(
    cli: &Cli,
    args: &ExplainArgs,
    base: &str,
    requests: &[(RequestSpec, Request)],
) -> Result<Exit, CliError> {
    let base_args = RevisionArgs {
        repo: args.revision.repo.clone(),
        rev: Some(base.to_string()),
    };
    let head_args = RevisionArgs {
        repo: args.revision.repo.clone(),
        rev: args.head.clone().or_else(|| args.revision.rev.clone()),
    };
    let sides = [
        ("before", check_target(cli, &base_args, false)?),
        ("after", check_target(cli, &head_args, args.worktree)?),
    ];
    let mut answers = Vec::new();
    let mut text = String::new();
    for (spec, request) in requests {
        text.push_str(&format!("{} {}\n", spec.method, spec.url));
        let mut pair = serde_json::Map::new();
        for (when, checked) in &sides {
            let revision = &checked.revision;
            text.push_str(&format!(
                "  {when} ({} {:?}):\n",
                crate::source::short(&revision.commit),
                revision.summary
            ));
            let lb = checked.translation.stack.load_balancer(&args.gateway);
            let answer = match lb {
                None => {
                    text.push_str("    no load balancer for this Gateway\n");
                    serde_json::Value::Null
                }
                Some(lb) => {
                    let answer = evaluate(lb, request)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", spec.url)))?;
                    for line in explain_text(lb, &answer).lines() {
                        text.push_str(&format!("  {line}\n"));
                    }
                    serde_json::to_value(&answer).expect("answers serialise")
                }
            };
            pair.insert(when.to_string(), answer);
        }
        answers.push(serde_json::Value::Object(pair));
    }
    match args.format {
        OutputFormat::Text => print!("{text}"),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answers).expect("answers serialise")
        ),
    }
    Ok(Exit::Clean)
}

/// The requests to answer, from the command line or the `--requests` file.
fn requests(args: &ExplainArgs) -> Result<Vec<(RequestSpec, Request)>, CliError> {
    let specs = match (&args.url, &args.requests) {
        (Some(url), _) => {
            let mut headers = BTreeMap::new();
            for h in &args.headers {
                let (name, value) = h.split_once(':').ok_or_else(|| {
                    CliError::Usage(format!("-H `{h}`: write a header as `Name: value`"))
                })?;
                headers.insert(name.trim().to_string(), value.trim().to_string());
            }
            vec![RequestSpec {
                url: url.clone(),
                method: args.method.clone(),
                headers,
            }]
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
                context: format!("reading {}", path.display()),
                source,
            })?;
            crate::manifest::from_yaml::<Vec<RequestSpec>>(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
        }
        (None, None) => return Err(CliError::Usage("give --url or --requests".to_string())),
    };
    specs
        .into_iter()
        .map(|spec| {
            let headers: Vec<(String, String)> = spec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let request = Request::parse(&spec.url, &spec.method, &headers)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            Ok((spec, request))
        })
        .collect()
}

fn explain_text(lb: &LoadBalancer, answer: &Answer) -> String {
    let listener = lb.listener(answer.listener);
    let rule = answer
        .priority
        .and_then(|p| listener?.rules.iter().find(|r| r.priority == p));
    let mut out = String::new();
    match rule {
        Some(r) => out.push_str(&format!(
            "  listener {}: rule {}\n",
            answer.listener,
            render::rule(r)
        )),
        None => out.push_str(&format!(
            "  listener {}: no rule matches; default action\n",
            answer.listener
        )),
    }
    if answer.authenticated {
        out.push_str("  the rule authenticates the request first\n");
    }
    match &answer.action {
        Outcome::Forward { backends, request } => {
            let shares: Vec<String> = backends
                .iter()
                .map(|b| match b.port {
                    Some(p) => format!("{}:{p} (weight {})", b.backend, b.weight),
                    None => format!("target group {} (weight {})", b.backend, b.weight),
                })
                .collect();
            out.push_str(&format!("  => forward to {}\n", shares.join(", ")));
            out.push_str(&format!(
                "     the backend sees host {} path {}\n",
                request.host, request.path
            ));
        }
        Outcome::Redirect { status, location } => {
            out.push_str(&format!("  => redirect {status} to {location}\n"))
        }
        Outcome::FixedResponse { status } => out.push_str(&format!("  => respond {status}\n")),
    }
    out
}
