//! The command line: arguments (clap), logging set-up, and one function per command.
//!
//! Commands are thin: they resolve configuration and inputs, call the pipeline stages, render
//! the result and pick the documented exit code. They hold no business rules.

mod check;
mod daemon;
mod doctor;
mod explain;
mod history;
mod live;
mod plan;
mod record;
mod rollback;
mod store;
mod validate;

use crate::config::{Config, DEFAULT_CONFIG_PATH, RepoLocation};
use crate::exit::Exit;
use crate::reconcile::Checked;
use crate::source::{GitAuth, Source};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `gwsync --version`: the release, the commit and date it was built from, and the Gateway
/// API version whose schema it reads (`manifest::GATEWAY_API_VERSION`; `concat!` takes
/// literals only, and a test holds the two together).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GWSYNC_GIT_COMMIT"),
    ", built ",
    env!("GWSYNC_BUILD_DATE"),
    "; Gateway API ",
    "v1.5.1",
    ")"
);

/// gwsync: GitOps from Gateway API YAML in Git to AWS Application Load Balancers.
#[derive(Debug, Parser)]
#[command(name = "gwsync", version = VERSION, about)]
pub struct Cli {
    /// Configuration file. Without this flag, /etc/gwsync/gwsync.toml is read when it exists.
    #[arg(long, global = true, env = "GWSYNC_CONFIG")]
    pub config: Option<PathBuf>,

    /// The gwsync instance: the `gwsync.dev/instance` tag of everything it owns on AWS
    /// (overrides `instance_id`).
    #[arg(long, global = true, env = "GWSYNC_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Where the state database (and a remote repository's clone) live (overrides
    /// `state_dir`; the database is `<state dir>/gwsync.db` unless `store.path` says otherwise).
    #[arg(long, global = true, env = "GWSYNC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// More log output (-v: info, -vv: debug, -vvv: trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read one revision, load every manifest and admit it team by team.
    ///
    /// Exit codes: 0 every team admitted with no error; 1 some team refused or some
    /// reference unresolved; 2 the revision as a whole or the invocation is invalid.
    #[command(
        after_help = "Examples:\n  gwsync validate --repo . --team payments\n  gwsync validate --repo . --worktree\n  gwsync validate --rev main --format json"
    )]
    Validate(ValidateArgs),
    /// Compute the changes that take AWS to the configuration a revision asks for.
    ///
    /// Exit codes: 0 no changes, 1 changes, 2 error. With --offline: the desired
    /// configuration per Gateway, without contacting AWS (exit codes as for validate).
    #[command(
        after_help = "Examples:\n  gwsync plan --offline --repo .\n  gwsync plan --format markdown\n  gwsync plan --out plan.json && gwsync apply --plan plan.json"
    )]
    Plan(PlanArgs),
    /// Plan, show the plan, and apply it after confirmation (or --auto-approve).
    ///
    /// Exit codes: 0 applied (or nothing to do), 1 some changes failed (the next run
    /// converges), 2 nothing applied (invalid revision, stale saved plan, deletion guard,
    /// no confirmation).
    #[command(
        after_help = "Examples:\n  gwsync apply\n  gwsync apply --auto-approve --rev 7a374ee\n  gwsync apply --plan plan.json"
    )]
    Apply(ApplyArgs),
    /// The revisions gwsync has read and applied, newest first, from the state database.
    #[command(
        after_help = "Examples:\n  gwsync history\n  gwsync history --team payments --limit 5\n  gwsync history --format json"
    )]
    History(HistoryArgs),
    /// Go back to a recorded revision (every team, or one with --team), from the state
    /// database: no Git needed for a full rollback. Pins the result: `apply` does not roll
    /// forward until a new commit arrives or `gwsync resume`.
    #[command(
        after_help = "Examples:\n  gwsync rollback --to 7a374ee\n  gwsync rollback --to 7a374ee --team payments\n  gwsync rollback --to 7a374ee --auto-approve"
    )]
    Rollback(RollbackArgs),
    /// Lift a rollback's pin.
    #[command(after_help = "Examples:\n  gwsync resume")]
    Resume(ResumeArgs),
    /// Keep one team at what is live on AWS while every other team moves on: its rules stay
    /// as they are across any number of new commits, until `gwsync release --team`.
    #[command(
        after_help = "Examples:\n  gwsync hold --team payments --reason \"incident 4711\"\n  gwsync status"
    )]
    Hold(HoldArgs),
    /// Lift a team's hold: the next apply brings it to the tracked revision.
    #[command(after_help = "Examples:\n  gwsync release --team payments")]
    Release(ReleaseArgs),
    /// Tracked and applied revisions, the pin, holds, raised conditions (stalled, drift,
    /// guarded), and each team's state.
    ///
    /// Exit codes: 0; with --check, 1 when anything wants attention.
    #[command(
        after_help = "Examples:\n  gwsync status\n  gwsync status --check\n  gwsync status --format json"
    )]
    Status(StatusArgs),
    /// One recorded revision: each team's verdict and problems, and its applies with their
    /// plans and reports.
    #[command(after_help = "Examples:\n  gwsync show 7a374ee\n  gwsync show 7a374ee --format json")]
    Show(ShowArgs),
    /// Run the reconciler as a service: poll and watch the repository, apply every new
    /// commit, check for drift, serve /healthz, /readyz, /metrics, /status and the webhook.
    ///
    /// Stops cleanly on SIGTERM (after the apply in flight); SIGHUP reloads the
    /// configuration. Exit code 0 after a clean stop, 2 when it cannot start.
    #[command(
        after_help = "Examples:\n  gwsync run --config /etc/gwsync/gwsync.toml\n  systemctl reload gwsync    # SIGHUP: read the configuration again"
    )]
    Run(RunArgs),
    /// Run one reconcile now, as the daemon does on each trigger: fetch, check, apply
    /// without asking (the deletion guard still holds), record. Failed applies are retried
    /// with the daemon's backoff unless --once; a stalled revision is tried again.
    ///
    /// Exit codes: 0 converged (or held by a pin), 1 changes failed, 2 nothing applied
    /// (invalid revision, deletion guard, unreachable repository).
    #[command(
        after_help = "Examples:\n  gwsync sync\n  gwsync sync --once\n  gwsync sync --ignore-freeze \"hotfix INC-42\""
    )]
    Sync(SyncArgs),
    /// Answer which rule of which listener takes a request, and what happens to it.
    ///
    /// Evaluates with ALB's own matching rules against the configuration computed from
    /// the revision (--offline). Exit code 0 when every request was answered, 2 otherwise.
    #[command(
        after_help = "Examples:\n  gwsync explain --offline --repo . --gateway platform/public --url https://pay.example.com/api\n  gwsync explain --live --gateway platform/public --url https://pay.example.com/api -H 'x-beta: 1'\n  gwsync explain --offline --repo . --worktree --base origin/main --gateway platform/public --url https://api.example.com/orders"
    )]
    Explain(ExplainArgs),
    /// What a pull request does: the files it changes and whose they are, each team it
    /// concerns admitted at head, the rules it adds, changes and removes, requests of other
    /// teams that go elsewhere, and the rule budget.
    ///
    /// Exit codes: 0 every team the change concerns is admitted without error, 1 some is
    /// refused or has an error, 2 the invocation or the head revision is invalid.
    #[command(
        after_help = "Examples:\n  gwsync check --repo . --base \"$(git merge-base origin/main HEAD)\"\n  gwsync check --repo . --base origin/main --worktree\n  gwsync check --repo . --base origin/main --format markdown > comment.md"
    )]
    Check(CheckArgs),
    /// Print the CODEOWNERS file the tenants file implies: each team owns its folder, the
    /// platform the tenants file, its folder and `.github/`.
    #[command(after_help = "Examples:\n  gwsync codeowners --repo . > .github/CODEOWNERS")]
    Codeowners(CodeownersArgs),
    /// Maintain the state database: `prune` removes revisions beyond retention.
    #[command(
        subcommand,
        after_help = "Examples:\n  sudo -u gwsync gwsync store prune --dry-run\n  sudo -u gwsync gwsync store prune"
    )]
    Store(StoreCommand),
    /// Check this machine's deployment: the configuration, the state directory's owner and
    /// modes, the secrets the configuration names, the systemd unit's limits, Git with the
    /// configured credentials, AWS (region, identity, owned resources, the IAM policy's
    /// reads). One line per check, with a fix for each failure. Only reads.
    ///
    /// Run it as root: the secrets are in the unit's environment file, root's only.
    /// Exit codes: 0 no check failed (warnings allowed), 1 some check failed.
    #[command(
        after_help = "Examples:\n  sudo gwsync doctor\n  sudo gwsync doctor --offline\n  gwsync doctor --config ./gwsync.toml --user \"$USER\" --unit deploy/gwsync.service --format json"
    )]
    Doctor(DoctorArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or PowerShell.
    #[command(
        after_help = "Examples:\n  gwsync completions bash > /etc/bash_completion.d/gwsync\n  gwsync completions zsh > \"${fpath[1]}/_gwsync\"\n  gwsync completions fish > ~/.config/fish/completions/gwsync.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  gwsync man | man -l -\n  gwsync man --out-dir /usr/share/man/man1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Remove the revisions retention lets go (`store.keep_revisions`, `store.keep_days`),
    /// with their snapshots and applies, then shrink the file. Never removes the newest
    /// revision, a pinned one, a team's live or wanted one, or a team's last admitted one.
    ///
    /// Exit codes: 0 done (or nothing to remove), 2 the database could not be read.
    #[command(
        after_help = "Examples:\n  sudo -u gwsync gwsync store prune --dry-run\n  sudo -u gwsync gwsync store prune --keep-revisions 200\n  sudo -u gwsync gwsync store prune --keep-days 90 --keep-revisions 0"
    )]
    Prune(PruneArgs),
    /// Copy the whole history (revisions, snapshots, applies, pin, holds, conditions, team
    /// records, operator events) from one store into a new, empty one: from the SQLite file
    /// to PostgreSQL when gwsync grows beyond one host, or back. Stop the daemons first.
    ///
    /// Exit codes: 0 copied, 2 a store could not be opened, or the target is not empty.
    #[command(
        after_help = "Examples:\n  sudo -u gwsync gwsync store migrate --from sqlite:/var/lib/gwsync/gwsync.db \\\n      --to 'postgres://gwsync@db.internal/gwsync?sslmode=verify-full&sslrootcert=/etc/gwsync/rds-ca.pem' \\\n      --password-file /etc/gwsync/db-password"
    )]
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The store to copy from: sqlite:PATH or postgres://USER@HOST/DATABASE.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The store to copy into (created and migrated if missing; must hold no history yet).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// A file holding the PostgreSQL password (never on the command line).
    #[arg(long, value_name = "PATH", conflicts_with = "password_env")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the PostgreSQL password.
    #[arg(long, value_name = "NAME")]
    pub password_env: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Keep the newest N revisions whatever their age (0: no count limit). Default:
    /// store.keep_revisions.
    #[arg(long, value_name = "N")]
    pub keep_revisions: Option<u64>,
    /// Keep revisions first seen within D days (0: no age limit). Default: store.keep_days.
    #[arg(long, value_name = "D")]
    pub keep_days: Option<u64>,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The user the daemon runs as, whose the state must be. Default: the installed unit's
    /// `User=`, else gwsync.
    #[arg(long)]
    pub user: Option<String>,
    /// The unit file to check instead of asking systemd for gwsync.service.
    #[arg(long, value_name = "PATH")]
    pub unit: Option<PathBuf>,
    /// The unit's `EnvironmentFile=`, where the secrets are.
    #[arg(long, value_name = "PATH", default_value = "/etc/gwsync/gwsync.env")]
    pub env_file: PathBuf,
    /// Check only this machine: no Git, no AWS.
    #[arg(long)]
    pub offline: bool,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `gwsync.1` and one `gwsync-COMMAND.1` per command here instead of printing
    /// `gwsync.1`.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Which revision to read: the same flags for every command that reads one.
#[derive(Debug, clap::Args)]
pub struct RevisionArgs {
    /// Repository: a local path, or a URL to fetch (overrides repo.url / repo.path).
    #[arg(long)]
    pub repo: Option<String>,
    /// Branch, tag or commit. Default: HEAD for a local --repo, else repo.branch.
    #[arg(long)]
    pub rev: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Repository: a local path, or a URL to fetch (overrides repo.url / repo.path).
    #[arg(long)]
    pub repo: Option<String>,
    /// The pull request's base: in CI, the merge base of the PR with its target branch.
    #[arg(long)]
    pub base: String,
    /// The pull request's head. Default: HEAD.
    #[arg(long, conflicts_with = "worktree")]
    pub head: Option<String>,
    /// Take the working tree of the local --repo (uncommitted edits on top of HEAD) as head.
    #[arg(long)]
    pub worktree: bool,
    /// Plan head against AWS instead of comparing it with base (needs AWS credentials).
    #[arg(long)]
    pub live: bool,
    /// Output: text for a terminal, JSON, the pull-request comment, or annotations.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// The pull-request comment (starts with a hidden marker CI finds to update it).
    Markdown,
    /// GitHub Actions workflow commands: one annotation per diagnostic, on its file and line.
    Github,
    /// A GitLab Code Quality report: one issue per diagnostic, on its file and line.
    Gitlab,
}

#[derive(Debug, clap::Args)]
pub struct CodeownersArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Show the desired configuration computed from the revision, without contacting AWS.
    #[arg(long)]
    pub offline: bool,
    /// Output: text for a terminal, JSON (what `apply --plan` takes), or Markdown.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also save the plan (JSON) for `gwsync apply --plan FILE`.
    #[arg(long, conflicts_with = "offline")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// For pull-request comments (`plan`: not with --offline).
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The recorded revision to go back to (a commit or a unique prefix).
    #[arg(long)]
    pub to: String,
    /// Roll back only this team; every other team stays at the current revision (which is
    /// then read from Git).
    #[arg(long)]
    pub team: Option<String>,
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Apply the rollback's plan without asking (needed without a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Apply even when the plan deletes more listener rules than `apply.max_rule_deletions`.
    #[arg(long)]
    pub allow_deletes: bool,
}

#[derive(Debug, clap::Args)]
pub struct ResumeArgs {}

#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// The team to hold (its name in tenants.yaml).
    #[arg(long)]
    pub team: String,
    /// Why, for `status` and the next person on call.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The team to release.
    #[arg(long)]
    pub team: String,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// One attempt: no retries of a failed apply.
    #[arg(long)]
    pub once: bool,
    /// Apply even while a freeze window (`[[freeze]]`) is open; the reason is recorded in
    /// history.
    #[arg(long, value_name = "REASON")]
    pub ignore_freeze: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Exit 1 when anything wants attention: a team not in sync (refused, failed, stalled,
    /// held, pinned), a raised condition (stalled, drift, guarded), a failed last apply, a
    /// rollback's pin.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only revisions with this team's snapshot, and only its verdict.
    #[arg(long)]
    pub team: Option<String>,
    /// How many revisions to show, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A commit, or a unique prefix of at least 4 characters.
    pub revision: String,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Apply a plan saved by `gwsync plan --out`; refused when the commit or the live state
    /// moved since.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow more rule deletions than apply.max_rule_deletions.
    #[arg(long)]
    pub allow_deletes: bool,
    /// Apply even while a freeze window (`[[freeze]]`) is open; the reason is recorded in
    /// history.
    #[arg(long, value_name = "REASON")]
    pub ignore_freeze: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Read the working tree of the local --repo (uncommitted edits on top of HEAD) instead
    /// of a commit (the head, with --base).
    #[arg(long, conflicts_with = "rev")]
    pub worktree: bool,
    /// Answer each request before and after a change: at this revision, and at --rev (or the
    /// working tree, or HEAD).
    #[arg(long, conflicts_with = "live")]
    pub base: Option<String>,
    /// With --base: the revision after the change (the same as --rev).
    #[arg(long, requires = "base", conflicts_with_all = ["rev", "worktree"])]
    pub head: Option<String>,
    /// Evaluate against the configuration computed from the revision.
    #[arg(long, required_unless_present = "live", conflicts_with = "live")]
    pub offline: bool,
    /// Evaluate against the rules read from AWS.
    #[arg(long)]
    pub live: bool,
    /// The Gateway whose load balancer receives the requests: NAMESPACE/NAME.
    #[arg(long)]
    pub gateway: String,
    /// The request URL; its scheme and port pick the listener.
    #[arg(
        long,
        conflicts_with = "requests",
        required_unless_present = "requests"
    )]
    pub url: Option<String>,
    /// The request's method (compared case-sensitively, as ALB does).
    #[arg(long, default_value = "GET", requires = "url")]
    pub method: String,
    /// A request header, `Name: value` (repeatable). A Host header is what host matching sees.
    #[arg(short = 'H', long = "header", requires = "url")]
    pub headers: Vec<String>,
    /// A YAML or JSON list of `{url, method, headers: {name: value}}`, answered in order.
    #[arg(long)]
    pub requests: Option<PathBuf>,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Read the working tree of the local --repo (uncommitted edits on top of HEAD) instead
    /// of a commit.
    #[arg(long, conflicts_with = "rev")]
    pub worktree: bool,
    /// Report only this team (and anything that refuses the whole revision).
    #[arg(long)]
    pub team: Option<String>,
    /// Output: text for a terminal, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Sets up tracing on stderr, human or JSON.
pub fn init_logging(cli: &Cli) {
    // The daemon's journal is its operators' view of what it did: reconciles and applies
    // are logged at info, so that is its least level.
    let least = if matches!(cli.command, Command::Run(_)) {
        1
    } else {
        0
    };
    let default = match cli.verbose.max(least) {
        // aws_config warns, in its debug form (a thousand characters), of each credential
        // provider that found nothing; the error that follows says it in one line.
        0 => "warn,aws_config=error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: never into a file or the journal, never when
    // NO_COLOR is set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// `gwsync completions SHELL`: clap_complete's script for the whole command line.
fn completions(args: &CompletionsArgs) -> Result<Exit, CliError> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "gwsync", &mut std::io::stdout());
    Ok(Exit::Clean)
}

/// `gwsync man`: clap_mangen's pages: `gwsync.1` on stdout, or with `--out-dir` that page
/// and `gwsync-COMMAND.1` for every command, as a package installs them.
fn man_pages(args: &ManArgs) -> Result<Exit, CliError> {
    let command = <Cli as clap::CommandFactory>::command();
    let io = |context: String| move |source| CliError::Io { context, source };
    let render = |command: clap::Command| -> std::io::Result<Vec<u8>> {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        Ok(page)
    };
    let Some(dir) = &args.out_dir else {
        let page = render(command).map_err(io("rendering the manual page".to_string()))?;
        std::io::Write::write_all(&mut std::io::stdout(), &page)
            .map_err(io("writing the manual page".to_string()))?;
        return Ok(Exit::Clean);
    };
    let pages = std::iter::once(("gwsync".to_string(), command.clone())).chain(
        command.get_subcommands().map(|sub| {
            let name = format!("gwsync-{}", sub.get_name());
            (name.clone(), sub.clone().display_name(name))
        }),
    );
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let text = render(page).map_err(io(format!("rendering {name}.1")))?;
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(Exit::Clean)
}

/// Runs a command and turns its outcome into the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli, args),
        Command::Plan(args) if args.offline => plan::run(&cli, args),
        Command::Plan(args) => live::plan(&cli, args),
        Command::Apply(args) => live::run_apply(&cli, args),
        Command::History(args) => history::history(&cli, args),
        Command::Rollback(args) => rollback::rollback(&cli, args),
        Command::Resume(args) => rollback::resume(&cli, args),
        Command::Hold(args) => rollback::hold(&cli, args),
        Command::Release(args) => rollback::release(&cli, args),
        Command::Status(args) => rollback::status(&cli, args),
        Command::Show(args) => history::show(&cli, args),
        Command::Explain(args) => explain::run(&cli, args),
        Command::Check(args) => check::run(&cli, args),
        Command::Codeowners(args) => check::codeowners(&cli, args),
        Command::Doctor(args) => doctor::run(&cli, args),
        Command::Store(StoreCommand::Prune(args)) => store::prune(&cli, args),
        Command::Store(StoreCommand::Migrate(args)) => store::migrate(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man_pages(args),
        Command::Run(_) => daemon::run(&cli),
        Command::Sync(args) => daemon::sync(&cli, args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("gwsync: {}", crate::error_chain(&e));
            Exit::NothingDone.into()
        }
    }
}

/// An error that stops a command before it has a result; always [`Exit::NothingDone`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    #[error(transparent)]
    Reconcile(#[from] crate::daemon::reconciler::ReconcileError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Aws(#[from] crate::aws::error::AwsError),
    /// The operator decides (deletion guard, stale plan, a rollback that cannot be rebuilt).
    #[error(transparent)]
    Refused(#[from] crate::reconcile::Refusal),
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// The configuration for a command: `--config`, else the default file when it exists, else
/// the defaults. Returns whether a file was read.
/// A world-writable configuration file or state directory is warned about (the daemon
/// refuses to start on one).
fn load_config(cli: &Cli) -> Result<(Config, bool), CliError> {
    let source = ConfigSource::of(cli);
    let loaded = source.load()?;
    for exposed in
        crate::config::permissions::world_writable(source.file.as_deref(), &loaded.0.state_dir)
    {
        eprintln!("warning: {exposed}");
    }
    Ok(loaded)
}

/// Where a command's configuration comes from: the file and the command line's overrides.
/// Kept apart from [`Cli`] so the daemon can read it again on reload.
#[derive(Debug, Clone)]
struct ConfigSource {
    file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    instance_id: Option<String>,
}

impl ConfigSource {
    fn of(cli: &Cli) -> ConfigSource {
        let default = Path::new(DEFAULT_CONFIG_PATH);
        ConfigSource {
            file: cli
                .config
                .clone()
                .or_else(|| default.exists().then(|| default.to_path_buf())),
            state_dir: cli.state_dir.clone(),
            instance_id: cli.instance_id.clone(),
        }
    }

    fn load(&self) -> Result<(Config, bool), CliError> {
        let mut config = match &self.file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(dir) = &self.state_dir {
            config.store.path = dir.join("gwsync.db");
            config.state_dir = dir.clone();
        }
        if let Some(id) = &self.instance_id {
            crate::config::check_instance_id(id)
                .map_err(|m| CliError::Usage(format!("--instance-id: {m}")))?;
            config.instance_id = id.clone();
        }
        Ok((config, self.file.is_some()))
    }
}

/// An opened repository, and the scratch directory that holds its clone when the state
/// directory is not to be used (kept alive as long as the source).
struct OpenedSource {
    source: Source,
    _scratch: Option<tempfile::TempDir>,
}

/// Opens the repository named by `--repo` or the configuration. A remote given only on the
/// command line is cloned into a scratch directory, so ad-hoc runs leave no state behind.
fn open_source(
    config: &Config,
    repo_arg: Option<&str>,
) -> Result<(OpenedSource, RepoLocation), CliError> {
    let location = match repo_arg {
        Some(arg) => RepoLocation::from_arg(arg),
        None => config
            .repo
            .location
            .clone()
            .ok_or(crate::source::SourceError::NoRepository)?,
    };
    let auth = GitAuth::from_config(&config.repo)?;
    let (source, scratch) = match (&location, repo_arg) {
        (RepoLocation::Url(url), Some(_)) => {
            let dir = tempfile::tempdir().map_err(|source| CliError::Io {
                context: "creating a scratch directory for the clone".to_string(),
                source,
            })?;
            let source = Source::open_remote(url, &dir.path().join("repo.git"), auth)?;
            (source, Some(dir))
        }
        _ => (Source::open(&location, &config.state_dir, auth)?, None),
    };
    source.fetch()?;
    Ok((
        OpenedSource {
            source,
            _scratch: scratch,
        },
        location,
    ))
}

fn check_revision(cli: &Cli, args: &RevisionArgs) -> Result<Checked, CliError> {
    check_target(cli, args, false)
}

/// [`check_revision`], or with `worktree` the working tree of the local `--repo`.
fn check_target(cli: &Cli, args: &RevisionArgs, worktree: bool) -> Result<Checked, CliError> {
    let (config, from_file) = load_config(cli)?;
    let (opened, location) = open_source(&config, args.repo.as_deref())?;
    if worktree {
        let working_tree = opened.source.working_tree()?;
        return Ok(crate::reconcile::checked::check_working_tree(
            &opened.source,
            &working_tree,
            &config,
        )?);
    }
    let rev = default_rev(&config, from_file, args, &location);
    let revision = opened.source.resolve(&rev)?;
    tracing::info!(commit = %revision.commit, rev = %rev, "reading revision");
    Ok(crate::reconcile::check(&opened.source, revision, &config)?)
}

/// The revision to read when `--rev` names none: HEAD of a local checkout read in a PR's CI
/// (no configuration, or an explicit `--repo`), else the configured branch.
fn default_rev(
    config: &Config,
    from_file: bool,
    args: &RevisionArgs,
    location: &RepoLocation,
) -> String {
    match (&args.rev, location) {
        (Some(rev), _) => rev.clone(),
        (None, RepoLocation::Path(_)) if !from_file || args.repo.is_some() => "HEAD".to_string(),
        (None, _) => config.repo.branch.clone(),
    }
}
