//! `gwsync check` (a pull request: base against head) and `gwsync codeowners`.

use super::{
    CheckArgs, CheckFormat, Cli, CliError, CodeownersArgs, check_revision, load_config, open_source,
};
use crate::check::{Inputs, compare, render};
use crate::config::Config;
use crate::diagnostic::{Diagnostic, codes};
use crate::exit::Exit;
use crate::reconcile::checked::check_working_tree;
use crate::reconcile::{CheckCache, Checked, check_incremental};
use crate::source::{Side, Source};
use crate::tenancy::codeowners::CODEOWNERS_PATHS;

pub(super) fn run(cli: &Cli, args: &CheckArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let (opened, _) = open_source(&config, args.repo.as_deref())?;
    let source = &opened.source;
    // Base first, then head through the same cache: head reads again only the owners whose
    // files differ, and walks only the commits since base for route ages (base is on head's
    // history in a pull request), instead of the whole history twice.
    let mut cache = CheckCache::default();
    let base = check_incremental(source, source.resolve(&args.base)?, &config, &mut cache)?;
    let working_tree = args.worktree.then(|| source.working_tree()).transpose()?;
    let head_revision = source.resolve(args.head.as_deref().unwrap_or("HEAD"))?;
    let head_side = match &working_tree {
        Some(w) => Side::WorkingTree(w),
        None => Side::Commit(&head_revision),
    };
    let head = match head_side {
        Side::WorkingTree(w) => check_working_tree(source, w, &config)?,
        Side::Commit(revision) => check_incremental(source, revision.clone(), &config, &mut cache)?,
    };
    let changed = source.changed_between(Side::Commit(&base.revision), head_side)?;
    let warnings = codeowners_drift(source, head_side, &head, &config)?
        .into_iter()
        .collect();
    let live_plan = if args.live {
        Some(super::live::plan_checked(&config, &head)?.plan)
    } else {
        None
    };
    let result = compare(
        &base,
        &head,
        Inputs {
            changed: &changed,
            tenants_file: &config.repo.tenants_file,
            target_groups_per_load_balancer: config.aws.target_groups_per_load_balancer,
            live_plan,
            warnings,
        },
    );
    print!(
        "{}",
        match args.format {
            CheckFormat::Text => render::text(&result),
            CheckFormat::Json => render::json(&result) + "\n",
            CheckFormat::Markdown => render::markdown(&result),
            CheckFormat::Github => render::github_annotations(&result),
            CheckFormat::Gitlab => render::gitlab_code_quality(&result),
        }
    );
    Ok(result.status().exit())
}

/// A warning when the committed CODEOWNERS differs from what head's tenants file implies.
fn codeowners_drift(
    source: &Source,
    head: Side<'_>,
    checked: &Checked,
    config: &Config,
) -> Result<Option<Diagnostic>, CliError> {
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(None);
    };
    let expected = tenancy.codeowners(&config.repo.tenants_file);
    for path in CODEOWNERS_PATHS {
        if let Some(bytes) = source.read_path(head, path)? {
            if bytes == expected.as_bytes() {
                return Ok(None);
            }
            return Ok(Some(
                Diagnostic::warning(
                    codes::CODEOWNERS_OUTDATED,
                    "CODEOWNERS differs from what the tenants file implies: run `gwsync codeowners > .github/CODEOWNERS` and commit it, so that each folder's owners review its changes",
                )
                .at(path, None),
            ));
        }
    }
    Ok(None)
}

/// `gwsync codeowners`: the CODEOWNERS text of a revision's tenants file.
pub(super) fn codeowners(cli: &Cli, args: &CodeownersArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let checked = check_revision(cli, &args.revision)?;
    let Some(tenancy) = &checked.admission.tenancy else {
        eprint!("{}", checked.report().to_text());
        return Err(CliError::Usage(
            "the tenants file of this revision is invalid: no CODEOWNERS can be made from it"
                .to_string(),
        ));
    };
    print!("{}", tenancy.codeowners(&config.repo.tenants_file));
    Ok(Exit::Clean)
}
