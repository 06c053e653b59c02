//! `git oc ci`: write the CI configuration that runs `git oc worker` jobs.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ui::Ui;
use crate::error::{Error, Result};
use crate::worker::ci::Recipe;

/// Write CI jobs that run git oc workers (GitHub Actions, GitLab CI)
#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    GithubActions(RecipeArgs),
    Gitlab(RecipeArgs),
}

/// The jobs' settings
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Workers running at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub workers: u32,
    /// When the workers start (cron, UTC)
    #[arg(long, value_name = "CRON", default_value = "*/30 * * * *")]
    pub schedule: String,
    /// The kinds of task the workers take
    #[arg(long, value_name = "LANES", value_delimiter = ',', default_value = "goal")]
    pub lanes: Vec<String>,
    /// Each worker stops once the board has had no work for this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub idle_exit: u64,
    /// Each worker stops after this many tasks
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_tasks: u64,
    /// How the job installs git-oc
    #[arg(long, value_name = "COMMAND", default_value = "cargo install --locked git-oc")]
    pub install: String,
    /// A repository secret the agents need, passed as an environment variable (repeatable)
    #[arg(long, value_name = "NAME")]
    pub secret: Vec<String>,
    /// Where to write [default: .github/workflows/git-oc-workers.yml, or .gitlab-ci.yml]; '-'
    /// for stdout
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Replace the file if it exists
    #[arg(long)]
    pub force: bool,
}

pub fn cmd_ci(ui: &mut Ui, args: &CiArgs) -> Result<i32> {
    let (a, text, default) = match &args.command {
        CiCommand::GithubActions(a) => (
            a,
            crate::worker::ci::github_actions(&recipe(a))?,
            ".github/workflows/git-oc-workers.yml",
        ),
        CiCommand::Gitlab(a) => (a, crate::worker::ci::gitlab(&recipe(a))?, ".gitlab-ci.yml"),
    };
    if a.output.as_deref() == Some(std::path::Path::new("-")) {
        ui.data(&text);
        return Ok(0);
    }
    let path = match &a.output {
        Some(p) => p.clone(),
        None => {
            let repo = super::open_repo()?;
            repo.workdir().join(default)
        }
    };
    if path.exists() && !a.force {
        return Err(Error::input(format!("{} exists", path.display()))
            .hint("pass --force to replace it, or --output another path ('-' for stdout)"));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("could not create {}", dir.display()), &e))?;
    }
    crate::evidence::write_atomic(&path, text.as_bytes())?;
    ui.emit(&serde_json::json!({ "written": path.display().to_string() }), || {
        format!("wrote {}\n", path.display())
    });
    Ok(0)
}

fn recipe(a: &RecipeArgs) -> Recipe {
    Recipe {
        workers: a.workers,
        schedule: a.schedule.clone(),
        lanes: a.lanes.clone(),
        idle_exit: a.idle_exit,
        max_tasks: a.max_tasks,
        install: a.install.clone(),
        secrets: a.secret.clone(),
    }
}
