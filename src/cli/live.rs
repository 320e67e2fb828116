//! The commands that talk to AWS: `plan` (against the live configuration), `apply`, and
//! `explain --live`. The path from a revision to a plan is `reconcile`'s; this module adds
//! the terminal: formats, saved plans, confirmation, exit codes.

use super::{ApplyArgs, Checked, Cli, CliError, PlanArgs, PlanFormat, check_revision, load_config};
use crate::alb::Stack;
use crate::aws::apply::apply;
use crate::aws::client::{Clients, RateLimits};
use crate::aws::observe::observe;
use crate::config::Config;
use crate::plan::{PLAN_VERSION, Plan, render};
use crate::reconcile::{LivePlan, compose_snapshot, live_plan};
use crate::validate::{Report, Status};
use std::io::{BufRead, IsTerminal, Write};

/// Exit codes of `plan` against AWS, as Terraform's `-detailed-exitcode`.
const NO_CHANGES: u8 = 0;
const CHANGES: u8 = 1;
const ERROR: u8 = 2;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            context: "starting the async runtime".to_string(),
            source,
        })
}

pub(super) async fn connect(config: &Config) -> Clients {
    let rates = RateLimits {
        read_per_second: config.aws.reads_per_second,
        read_burst: config.aws.read_burst,
        write_per_second: config.aws.writes_per_second,
        write_burst: config.aws.write_burst,
    };
    Clients::connect(&config.aws, rates).await
}

fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(plan),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

/// `gwsync plan` against AWS.
pub(super) fn plan(cli: &Cli, args: &PlanArgs) -> Result<u8, CliError> {
    let config = load_config(cli)?.0;
    let checked = check_revision(cli, &args.revision)?;
    let report = Report {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        team: None,
    };
    if report.status() == Status::Invalid {
        print!("{}", report.to_text());
        return Ok(ERROR);
    }
    let live = runtime()?.block_on(async {
        // Planning only reads: without a state database it still plans, holding back the
        // Gateways that a refused team may have rules on.
        let effective = match super::record::open(&config).await {
            Ok(store) => last_good(&config, &store, &checked).await?,
            Err(e) => {
                tracing::warn!(error = %e, "no state database: a refused team's last good state is unknown");
                Effective {
                    admission: checked.admission.clone(),
                    translation: checked.translation.clone(),
                    notes: vec![format!("state database not available ({e})")],
                }
            }
        };
        let clients = connect(&config).await;
        let mut live = live_plan(
            &clients,
            &config.instance_id,
            &checked.revision,
            &effective.admission,
            &effective.translation,
        )
        .await?;
        live.held_back.splice(0..0, effective.notes);
        Ok::<_, CliError>(live)
    })?;
    print_problems(&report, &live.held_back);
    let rendered = render(&live.plan, args.format);
    match &args.out {
        Some(path) => {
            std::fs::write(path, render::json(&live.plan)).map_err(|source| CliError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
            print!("{rendered}");
            eprintln!("plan saved to {}", path.display());
        }
        None => print!("{rendered}"),
    }
    Ok(if live.plan.is_empty() {
        NO_CHANGES
    } else {
        CHANGES
    })
}

/// Team problems go to stderr, so that stdout holds exactly the plan in its format.
fn print_problems(report: &Report<'_>, held_back: &[String]) {
    if report.status() != Status::Clean {
        eprint!("{}", report.to_text());
    }
    for h in held_back {
        eprintln!("held back: {h}");
    }
}

/// `gwsync apply`.
pub(super) fn run_apply(cli: &Cli, args: &ApplyArgs) -> Result<u8, CliError> {
    let config = load_config(cli)?.0;
    let checked = check_revision(cli, &args.revision)?;
    let report = Report {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        team: None,
    };
    if report.status() == Status::Invalid {
        print!("{}", report.to_text());
        return Ok(ERROR);
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        // One apply at a time, whichever process runs it; the lock is released however the
        // apply ends.
        let store = super::record::open(&config).await?;
        super::record::lock(&store).await?;
        let result = apply_locked(&config, &store, &checked, &report, args).await;
        super::record::unlock(&store).await?;
        result
    })
}

async fn apply_locked(
    config: &Config,
    store: &crate::store::Store,
    checked: &Checked,
    report: &Report<'_>,
    args: &ApplyArgs,
) -> Result<u8, CliError> {
    // A rollback holds the live state until a commit newer than the one it held back.
    if let Some(pin) = store.pin().await? {
        if pin
            .head
            .as_deref()
            .is_none_or(|h| h == checked.revision.commit)
        {
            println!(
                "Pinned to {} by a rollback ({}): {} is not applied until a new commit arrives or `gwsync resume`.",
                &pin.commit[..pin.commit.len().min(12)],
                pin.actor,
                &checked.revision.commit[..12]
            );
            return Ok(NO_CHANGES);
        }
        store.clear_pin().await?;
        println!("A new commit arrived since the rollback: the pin is lifted.");
    }
    let effective = last_good(config, store, checked).await?;
    let clients = connect(config).await;
    let mut live = live_plan(
        &clients,
        &config.instance_id,
        &checked.revision,
        &effective.admission,
        &effective.translation,
    )
    .await?;
    live.held_back.splice(0..0, effective.notes);
    print_problems(report, &live.held_back);
    let plan = match &args.plan {
        Some(path) => saved_plan(path, checked, &live)?,
        None => live.plan.clone(),
    };
    super::record::revision(store, checked, &config.repo.tenants_file).await?;
    if plan.is_empty() {
        println!("No changes.");
        return Ok(NO_CHANGES);
    }
    let deletions = plan.rule_deletions();
    if deletions > config.apply.max_rule_deletions && !args.allow_deletes {
        print!("{}", render::text(&plan));
        return Err(CliError::Usage(format!(
            "the plan deletes {deletions} listener rules, more than apply.max_rule_deletions ({}); review it and pass --allow-deletes",
            config.apply.max_rule_deletions
        )));
    }
    print!("{}", render::text(&plan));
    if !args.auto_approve && !confirm(&format!("Apply these {} changes", plan.changes.len()))? {
        println!("Nothing applied.");
        return Ok(ERROR);
    }
    let apply_id = store
        .begin_apply(
            &checked.revision.commit,
            "sync",
            &super::record::actor(),
            &render::json(&plan),
            super::record::now(),
        )
        .await?;
    let mut ids = live.ids;
    let outcome = apply(&clients, &plan, &mut ids, &config.instance_id).await;
    let report_json = serde_json::to_string(&outcome).expect("the apply report serialises");
    store
        .finish_apply(
            apply_id,
            &report_json,
            outcome.succeeded(),
            super::record::now(),
        )
        .await?;
    print!("{}", outcome.render());
    Ok(if outcome.succeeded() {
        NO_CHANGES
    } else {
        CHANGES
    })
}

/// The revision as it is applied: a team refused in it keeps the files of its last admitted
/// revision (from the store) while every other team is taken as it is now.
struct Effective {
    admission: crate::tenancy::Admission,
    translation: crate::translate::Translation,
    /// Which teams keep an earlier state, for the operator.
    notes: Vec<String>,
}

async fn last_good(
    config: &Config,
    store: &crate::store::Store,
    checked: &Checked,
) -> Result<Effective, CliError> {
    let as_is = || Effective {
        admission: checked.admission.clone(),
        translation: checked.translation.clone(),
        notes: Vec::new(),
    };
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(as_is());
    };
    let report = Report {
        revision: &checked.revision,
        admission: &checked.admission,
        translation: &checked.translation,
        team: None,
    };
    let mut replacements = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for team in &checked.admission.teams {
        if report.team_admitted(&team.name) {
            continue;
        }
        match store.last_admitted(&team.name).await? {
            Some((commit, files)) => {
                notes.push(format!(
                    "team {} is refused at this revision: its last admitted state (commit {}) stays in place",
                    team.name,
                    &commit[..commit.len().min(12)]
                ));
                replacements.insert(team.name.clone(), files);
            }
            None => notes.push(format!(
                "team {} is refused at this revision and has no admitted revision on record",
                team.name
            )),
        }
    }
    if replacements.is_empty() {
        return Ok(Effective { notes, ..as_is() });
    }
    let composed = compose_snapshot(&checked.snapshot, tenancy, &replacements);
    let admission = crate::tenancy::admit(&composed, &super::admit_options(config));
    let translation =
        crate::translate::translate(&admission, &checked.ages, &super::translate_options(config));
    Ok(Effective {
        admission,
        translation,
        notes,
    })
}

/// A plan saved by `plan --out`: applied only while the commit and the live state it was
/// computed from are still there.
fn saved_plan(
    path: &std::path::Path,
    checked: &Checked,
    live: &LivePlan,
) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    let plan: Plan = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not a gwsync plan: {e}", path.display())))?;
    if plan.version != PLAN_VERSION {
        return Err(CliError::Usage(format!(
            "{}: plan version {} is not {PLAN_VERSION}",
            path.display(),
            plan.version
        )));
    }
    if plan.commit.as_deref() != Some(checked.revision.commit.as_str()) {
        return Err(CliError::Usage(format!(
            "{} was planned for commit {}, the revision is now {}: plan again",
            path.display(),
            plan.commit.as_deref().unwrap_or("(none)"),
            checked.revision.commit
        )));
    }
    if plan.observed_fingerprint != live.observed.fingerprint {
        return Err(CliError::Usage(format!(
            "{}: the load balancers changed since it was planned: plan again",
            path.display()
        )));
    }
    Ok(plan)
}

/// Asks on the terminal whether to `what` ("Apply these 3 changes?"); without a terminal,
/// refuses (use --auto-approve in automation).
pub(super) fn confirm(what: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to confirm on: pass --auto-approve to proceed without asking".to_string(),
        ));
    }
    print!("{what}? Only `yes` proceeds: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            context: "reading the answer".to_string(),
            source,
        })?;
    Ok(answer.trim() == "yes")
}

/// The configuration as AWS has it, for `explain --live`.
pub(super) fn observed_stack(config: &Config) -> Result<Stack, CliError> {
    runtime()?.block_on(async {
        let clients = connect(config).await;
        let (observed, _) = observe(&clients, &config.instance_id).await?;
        Ok(observed.stack)
    })
}

impl From<crate::aws::observe::AwsError> for CliError {
    fn from(e: crate::aws::observe::AwsError) -> Self {
        CliError::Usage(format!("AWS: {e}"))
    }
}
