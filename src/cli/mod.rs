//! The command line: one clap `Command` enum, dispatched in one place; one module per
//! subcommand with its `Args` and a `cmd_*` function.

pub mod assets;
pub mod autonomy;
pub mod board;
pub mod ci;
pub mod demo;
pub mod diff;
pub mod doctor;
pub mod gc;
pub mod init;
pub mod land;
pub mod plan;
pub mod policy;
pub mod pr;
pub mod progress;
pub mod release;
pub mod review;
pub mod run;
pub mod runs;
pub mod status;
pub mod sync;
pub mod task;
pub mod ui;
pub mod watch;
pub mod worker;

// Everyday shell use: the hidden `complete` subcommand behind the completion scripts, tables.
pub mod complete;
pub mod table;

use std::ffi::OsString;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::RunOutcome;
use ui::{OutputFormat, Ui};

const ABOUT: &str = "Plan, gate, run and record coding-agent work on isolated git worktrees";
const LONG_ABOUT: &str = "\
git oc turns a goal into a task proposal, routes it to a coding-agent backend, gates it with a \
policy, runs the agent on its own linked worktree and branch, computes the diff from git objects, \
commits it, and keeps the evidence of every run as files and in git: a ref per run \
(refs/oc/runs/<run_id>) and a note on the commit (refs/notes/oc), readable with plain git.";

#[derive(Debug, Parser)]
#[command(
    name = "git-oc",
    bin_name = "git-oc",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    override_usage = "git oc [OPTIONS] <COMMAND>",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Print more detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only data and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print one JSON document on stdout instead of the report
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::DemoArgs),
    Run(run::RunArgs),
    Diff(diff::DiffArgs),
    Apply(land::ApplyArgs),
    Discard(land::DiscardArgs),
    Retry(land::RetryArgs),
    Plan(plan::PlanArgs),
    Policy(policy::PolicyArgs),
    Runs(runs::RunsArgs),
    Show(runs::ShowArgs),
    Pr(pr::PrArgs),
    Review(review::ReviewArgs),
    Push(sync::PushArgs),
    Fetch(sync::FetchArgs),
    Task(task::TaskArgs),
    Release(release::ReleaseArgs),
    Board(board::BoardArgs),
    AutonomyCycle(autonomy::AutonomyArgs),
    Watch(watch::WatchArgs),
    Status(status::StatusArgs),
    Worker(worker::WorkerArgs),
    Ci(ci::CiArgs),
    Gc(gc::GcArgs),
    Doctor(doctor::DoctorArgs),
    Init(init::InitArgs),
    Completions(assets::CompletionsArgs),
    // Called by the completion scripts on every Tab.
    #[command(hide = true)]
    Complete(complete::CompleteArgs),
    Man(assets::ManArgs),
}

/// The repository the command runs in, found from the current directory as git finds it.
pub fn open_repo() -> Result<crate::git::Repo> {
    crate::git::Repo::discover(&current_dir()?)
}

/// The repository with its configuration and checked policies, for commands that plan runs.
pub fn open_session() -> Result<crate::session::Session> {
    crate::session::Session::open(&current_dir()?)
}

pub fn current_dir() -> Result<std::path::PathBuf> {
    std::env::current_dir().map_err(|e| Error::input("cannot read the current directory").caused_by(e.to_string()))
}

/// Carry out a prepared run, showing its progress, then print it (its JSON document or its
/// report) and any failure to write its evidence to disk; the run's exit code.
pub fn run_and_print(
    ui: &mut Ui,
    prepared: crate::session::PreparedRun,
    document: fn(&RunOutcome) -> serde_json::Value,
    report: fn(&RunOutcome) -> String,
) -> Result<i32> {
    let outcome = {
        let observer = progress::Progress::new(ui);
        let cx = crate::pipeline::RunContext::system(&observer);
        prepared.execute(&cx)?
    };
    // Every value in the outcome is redacted already; the final pass catches what rendering
    // assembles from several values.
    let redactor = crate::execution::secrets::Redactor::from_env();
    if ui.is_json() {
        let mut doc = document(&outcome);
        redactor.redact_value(&mut doc);
        ui.json(&doc);
    } else {
        ui.data(&redactor.redact(&report(&outcome)));
    }
    if let Some(e) = &outcome.disk_error {
        let hint = format!("the evidence is kept in git: git show {}", outcome.git.evidence_ref);
        ui.error(&e.clone().hint(hint));
    }
    // Publication warnings go to stderr after the report, whatever the progress mode.
    if let Some(crate::publication::Report::Published(p)) = &outcome.publication {
        for w in &p.warnings {
            ui.warning(&redactor.redact(w));
        }
    }
    if let Some(e) = &outcome.publish_error {
        ui.error(e);
    }
    Ok(outcome.exit_code())
}

/// A `  label       : value` line, as the reports print them (control characters escaped).
pub fn field(out: &mut String, label: &str, value: &str) {
    let value = value.replace(['\n', '\r'], " ");
    out.push_str(&format!("  {label:<12}: {}\n", crate::text::escape_controls(&value)));
}

/// A policy decision and the reasoning `explain()` gives for it.
pub fn policy_fields(
    out: &mut String,
    decision: &crate::contracts::PolicyDecision,
    explanation: &crate::contracts::PolicyExplanation,
) {
    field(out, "status", &decision.status.as_str().to_uppercase());
    for v in &decision.violations {
        let tag = if v.blocking { "[BLOCK]" } else { "[review]" };
        field(out, "violation", &format!("{tag} {}: {}", v.rule_id, v.message));
    }
    for w in &decision.warnings {
        field(out, "warning", &format!("{}: {}", w.rule_id, w.message));
    }
    for remedy in crate::policy::remedies(decision) {
        field(out, "hint", &remedy);
    }
    field(out, "summary", &explanation.summary);
    field(out, "review", &explanation.review_reasoning);
    field(out, "validation", &explanation.validation_reasoning);
    field(out, "scope", &explanation.scope_reasoning);
    field(out, "routing", &explanation.routing_reasoning);
}

/// The clap definition, for completions, man pages and tests.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run git-oc with `args` (including the program name) and return the exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return report_clap_error(&e),
    };
    init_tracing(cli.verbose);
    install_panic_hook();
    // Ctrl-C sets a flag the run loop watches: the agent is stopped and the evidence recorded
    // before exiting with 130. A second Ctrl-C kills the agent at once, and the evidence is
    // still recorded; a third ends git-oc (see execution::process).
    let _interrupt_handler = crate::execution::process::install_interrupt_handler();
    // `git help oc` and `git oc --help` need the man pages where man looks; Tab needs speed.
    if !matches!(cli.command, Command::Man(_) | Command::Complete(_)) {
        assets::install_man_pages_on_first_use();
    }
    let format = if cli.json {
        OutputFormat::Json
    } else {
        OutputFormat::Human
    };
    let mut ui = Ui::new(format, cli.quiet, cli.verbose);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let code = dispatch(&mut ui, &cli.command)?;
        ui.finish()?;
        Ok::<i32, Error>(code)
    }));
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            ui.error(&e);
            e.exit_code()
        }
        // The panic hook has printed the one `error:` line.
        Err(_) => ErrorKind::Internal.exit_code(),
    }
}

/// A panic prints one `error:` line and a hint, never Rust's panic text or a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%what, location = %at, "panic");
        let e = Error::internal(format!("git-oc hit an internal error and stopped: {what}{at}"));
        eprint!("{}", e.render());
    }));
}

fn dispatch(ui: &mut Ui, command: &Command) -> Result<i32> {
    let text_only = match command {
        Command::Completions(_) => Some("completions"),
        Command::Man(_) => Some("man"),
        _ => None,
    };
    if let (Some(name), true) = (text_only, ui.is_json()) {
        return Err(
            Error::input(format!("git oc {name} has no JSON output")).hint(format!("run git oc {name} without --json"))
        );
    }
    match command {
        Command::Demo(args) => demo::cmd_demo(ui, args),
        Command::Run(args) => run::cmd_run(ui, args),
        Command::Diff(args) => diff::cmd_diff(ui, args),
        Command::Apply(args) => land::cmd_apply(ui, args),
        Command::Discard(args) => land::cmd_discard(ui, args),
        Command::Retry(args) => land::cmd_retry(ui, args),
        Command::Plan(args) => plan::cmd_plan(ui, args),
        Command::Policy(args) => policy::cmd_policy(ui, args),
        Command::Runs(args) => runs::cmd_runs(ui, args),
        Command::Show(args) => runs::cmd_show(ui, args),
        Command::Pr(args) => pr::cmd_pr(ui, args),
        Command::Review(args) => review::cmd_review(ui, args),
        Command::Push(args) => sync::cmd_push(ui, args),
        Command::Fetch(args) => sync::cmd_fetch(ui, args),
        Command::Task(args) => task::cmd_task(ui, args),
        Command::Release(args) => release::cmd_release(ui, args),
        Command::Board(args) => board::cmd_board(ui, args),
        Command::AutonomyCycle(args) => autonomy::cmd_autonomy_cycle(ui, args),
        Command::Watch(args) => watch::cmd_watch(ui, args),
        Command::Status(args) => status::cmd_status(ui, args),
        Command::Worker(args) => worker::cmd_worker(ui, args),
        Command::Ci(args) => ci::cmd_ci(ui, args),
        Command::Gc(args) => gc::cmd_gc(ui, args),
        Command::Doctor(args) => doctor::cmd_doctor(ui, args),
        Command::Init(args) => init::cmd_init(ui, args),
        Command::Completions(args) => assets::cmd_completions(ui, args),
        Command::Complete(args) => complete::cmd_complete(ui, args),
        Command::Man(args) => assets::cmd_man(ui, args),
    }
}

/// clap's errors, reshaped into git-oc's one-line `error:` plus `hint:` form.
fn report_clap_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind as K;
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion => {
            let _ = e.print();
            return 0;
        }
        K::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 2;
        }
        _ => {}
    }
    let rendered = e.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    // clap lists what is missing on the lines after the first; the one `error:` line names them.
    if let Some(clap::error::ContextValue::Strings(missing)) = e.get(clap::error::ContextKind::InvalidArg)
        && e.kind() == K::MissingRequiredArgument
    {
        message = format!("{} {}", message.trim_end(), missing.join(", "));
    }
    let mut err = Error::input(message);
    for line in lines {
        let line = line.trim();
        if let Some(tip) = line.strip_prefix("tip: ") {
            err = err.hint(tip);
        } else if let Some(values) = line
            .strip_prefix("[possible values: ")
            .and_then(|v| v.strip_suffix(']'))
        {
            err = err.hint(format!("possible values: {values}"));
        }
    }
    let usage = rendered.lines().find_map(|l| l.strip_prefix("Usage: ")).map(|u| {
        // Subcommands' usage lines name the binary; people type `git oc`.
        let u = u.trim();
        u.strip_prefix("git-oc ")
            .map_or_else(|| u.to_owned(), |rest| format!("git oc {rest}"))
    });
    err = match usage {
        Some(u) => err.hint(format!("usage: {u}; see 'git oc help' for more")),
        None => err.hint("see 'git oc help' for usage"),
    };
    Ui::new(OutputFormat::Human, false, 0).error(&err);
    ErrorKind::Input.exit_code()
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("GIT_OC_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("warn")),
        _ => EnvFilter::new(match verbose {
            0 => "warn",
            1 => "git_oc=info",
            _ => "git_oc=debug",
        }),
    };
    // Each stage and each git or process operation is a span; its closing line says how long it
    // took (`time.busy`, `time.idle`), and every line when since the start, so `-vv` (or
    // GIT_OC_LOG=debug) shows what git-oc did, in order. (`without_time` would drop the spans'
    // durations too.)
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(Ui::color_stderr())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_timer(tracing_subscriber::fmt::time::Uptime::default())
        .try_init();
}
