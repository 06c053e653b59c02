//! `git oc task add | list | show | move | comment | label | edit`: the board's tasks.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::field;
use super::table::{Column, render};
use super::ui::Ui;
use crate::board::{Board, Filter, NewTask, Task, task};
use crate::error::{Error, Result};
use crate::text::escape_controls;

/// Work with the tasks of the board
///
/// The board is git-native by default: each task is a ref under refs/oc/tasks/ holding a chain of
/// commits, one per change, shared with 'git oc push' and 'git oc fetch'. Tasks are named by
/// their id or a unique prefix of it.
#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    Add(AddArgs),
    List(ListArgs),
    Show(ShowArgs),
    Move(MoveArgs),
    Comment(CommentArgs),
    Label(LabelArgs),
    Edit(EditArgs),
}

/// Add a task to the board
///
/// The description may hold the sections the lanes read: '## Goal', '## Execution' (YAML: repo,
/// base_branch, mode, allowed_paths, open_pr, validation_profile) and '## Constraints'. --edit
/// opens that template in your editor.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The task's title (one line)
    #[arg(value_name = "TITLE", required_unless_present = "edit")]
    pub title: Option<String>,
    /// The description
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Read the description from a file ('-' for stdin)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "body")]
    pub body_file: Option<PathBuf>,
    /// Write the task in $EDITOR, starting from the template
    #[arg(long, conflicts_with_all = ["body", "body_file"])]
    pub edit: bool,
    /// A label (repeatable), e.g. 'task-kind: goal'
    #[arg(short, long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Shorthand for --label 'repo: KEY'
    #[arg(long, value_name = "KEY")]
    pub repo: Option<String>,
    /// The state to start in [default: the backlog]
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
}

/// List the board's tasks
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this state (repeatable)
    #[arg(long, value_name = "STATE")]
    pub state: Vec<String>,
    /// Only tasks with this label (repeatable: all of them)
    #[arg(short, long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Only tasks labelled 'repo: KEY'
    #[arg(long, value_name = "KEY")]
    pub repo: Option<String>,
}

/// Show a task: its text, parsed sections, comments and history
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task id, or a unique prefix
    #[arg(value_name = "TASK")]
    pub task: String,
}

/// Move a task to another state
///
/// With --expect, the task is moved only if it is in that state now (compare-and-swap);
/// otherwise nothing changes and the command fails.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The task id, or a unique prefix
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The new state: a name ('Ready for AI') or a key (ready, running, in_review, blocked, done,
    /// cancelled, backlog)
    #[arg(value_name = "STATE")]
    pub state: String,
    /// Move only if the task is in this state now
    #[arg(long, value_name = "STATE")]
    pub expect: Option<String>,
}

/// Comment on a task
#[derive(Debug, Args)]
pub struct CommentArgs {
    /// The task id, or a unique prefix
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The comment
    #[arg(value_name = "TEXT", required_unless_present = "file")]
    pub text: Option<String>,
    /// Read the comment from a file ('-' for stdin)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "text")]
    pub file: Option<PathBuf>,
}

/// Add or remove a task's labels
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The task id, or a unique prefix
    #[arg(value_name = "TASK")]
    pub task: String,
    /// A label to add (repeatable)
    #[arg(long, value_name = "LABEL")]
    pub add: Vec<String>,
    /// A label to remove (repeatable)
    #[arg(long, value_name = "LABEL")]
    pub remove: Vec<String>,
}

/// Change a task's title or description
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The task id, or a unique prefix
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The new title
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    /// The new description
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Read the new description from a file ('-' for stdin)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "body")]
    pub body_file: Option<PathBuf>,
    /// Edit the title and description in $EDITOR
    #[arg(long, conflicts_with_all = ["title", "body", "body_file"])]
    pub edit: bool,
}

pub fn cmd_task(ui: &mut Ui, args: &TaskArgs) -> Result<i32> {
    let (repo, board) = crate::board::open_in(&super::current_dir()?)?;
    match &args.command {
        TaskCommand::Add(a) => add(ui, &repo, board.as_ref(), a),
        TaskCommand::List(a) => list(ui, board.as_ref(), a),
        TaskCommand::Show(a) => show(ui, board.as_ref(), a),
        TaskCommand::Move(a) => {
            let moved = board.transition(&a.task, &a.state, a.expect.as_deref())?;
            ui.emit(&moved, || {
                if moved.from == moved.to {
                    format!("task {} is already in {}\n", moved.task_id, moved.to)
                } else {
                    format!("moved task {}: {} -> {}\n", moved.task_id, moved.from, moved.to)
                }
            });
            Ok(0)
        }
        TaskCommand::Comment(a) => {
            let text = match (&a.text, &a.file) {
                (Some(t), _) => t.clone(),
                (None, Some(f)) => read_text(f)?,
                (None, None) => String::new(),
            };
            let id = board.get(&a.task)?.id;
            let comment = board.comment(&id, &text)?;
            ui.emit(&comment, || format!("commented on task {id}\n"));
            Ok(0)
        }
        TaskCommand::Edit(a) => {
            let (title, description) = if a.edit {
                let t = board.get(&a.task)?;
                let start = format!(
                    "{}\n\n{}\n\n# The first line is the title; the rest is the task's description. Lines starting\n\
                     # with '# ' are dropped. An empty title aborts.\n",
                    t.title, t.description
                );
                let (title, description) = task::from_edited(&edit_text(&repo, &start)?)?;
                (Some(title), Some(description))
            } else {
                let description = match (&a.body, &a.body_file) {
                    (Some(b), _) => Some(b.clone()),
                    (None, Some(f)) => Some(read_text(f)?),
                    (None, None) => None,
                };
                (a.title.clone(), description)
            };
            let t = board.edit(&a.task, title.as_deref(), description.as_deref())?;
            ui.emit(&t, || format!("edited task {}: {}\n", t.id, escape_controls(&t.title)));
            Ok(0)
        }
        TaskCommand::Label(a) => {
            let t = board.set_labels(&a.task, &a.add, &a.remove)?;
            ui.emit(&t, || {
                format!("task {} labels: {}\n", t.id, escape_controls(&t.labels.join(", ")))
            });
            Ok(0)
        }
    }
}

/// A file's text, or stdin's for `-`.
fn read_text(path: &std::path::Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::input("could not read stdin").caused_by(e.to_string()))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| {
        Error::input(format!("could not read {}", path.display()))
            .caused_by(e.to_string())
            .hint("give a readable UTF-8 text file")
    })
}

fn add(ui: &mut Ui, repo: &crate::git::Repo, board: &dyn Board, a: &AddArgs) -> Result<i32> {
    let mut labels = a.labels.clone();
    if let Some(key) = &a.repo {
        labels.push(format!("repo: {key}"));
    }
    let (title, description) = if a.edit {
        let repo_key = a.repo.clone().unwrap_or_else(|| repo.name());
        let branch = repo.current_branch().unwrap_or_else(|| "main".to_owned());
        let start = task::template(a.title.as_deref().unwrap_or(""), &repo_key, &branch);
        task::from_edited(&edit_text(repo, &start)?)?
    } else {
        let description = match (&a.body, &a.body_file) {
            (Some(b), _) => b.clone(),
            (None, Some(f)) => read_text(f)?,
            (None, None) => String::new(),
        };
        (a.title.clone().unwrap_or_default(), description)
    };
    let created = board.create(&NewTask {
        title,
        description,
        state: a.state.clone(),
        labels,
    })?;
    ui.emit(&created, || {
        format!(
            "added task {}: {} [{}]\n",
            created.id,
            escape_controls(&created.title),
            created.state
        )
    });
    Ok(0)
}

/// The editor git would use: `GIT_EDITOR`, `core.editor`, `VISUAL`, `EDITOR`, then `vi`.
fn editor(repo: &crate::git::Repo) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    env("GIT_EDITOR")
        .or_else(|| {
            repo.repo
                .config_snapshot()
                .string("core.editor")
                .map(|v| v.to_string())
                .filter(|v| !v.trim().is_empty())
        })
        .or_else(|| env("VISUAL"))
        .or_else(|| env("EDITOR"))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Let the user edit `start` in their editor, as git does for a commit message; the result.
fn edit_text(repo: &crate::git::Repo, start: &str) -> Result<String> {
    let dir = repo.state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("could not create {}", dir.display()), &e))?;
    let path = dir.join("TASK_EDITMSG");
    crate::evidence::write_atomic(&path, start.as_bytes())?;
    let editor = editor(repo);
    // As git runs it: through the shell, so that an editor with arguments works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(&path)
        .status()
        .map_err(|e| Error::io("could not start the editor", &e))?;
    if !status.success() {
        let _ = std::fs::remove_file(&path);
        return Err(
            Error::input(format!("the editor {editor:?} failed ({status}); no task was added"))
                .hint("set GIT_EDITOR or EDITOR to an editor that works, or give the title and --body"),
        );
    }
    let text = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    text.map_err(|e| {
        Error::input("could not read the edited task")
            .caused_by(e.to_string())
            .hint("write UTF-8 text")
    })
}

fn list(ui: &mut Ui, board: &dyn Board, a: &ListArgs) -> Result<i32> {
    let states = a
        .state
        .iter()
        .map(|s| board.states().resolve(s))
        .collect::<Result<Vec<_>>>()?;
    let labels = a
        .labels
        .iter()
        .map(|l| task::check_label(l))
        .collect::<Result<Vec<_>>>()?;
    let tasks = board.list(&Filter {
        states,
        labels,
        repo: a.repo.clone(),
    })?;
    if ui.is_json() {
        ui.json(&tasks);
        return Ok(0);
    }
    if tasks.is_empty() {
        ui.note("no tasks; add one with 'git oc task add TITLE'");
        return Ok(0);
    }
    let columns = [
        Column::fixed("ID"),
        Column::shrinks("STATE", 2, 6),
        Column::shrinks("TITLE", 1, 12),
        Column::shrinks("LABELS", 0, 6),
    ];
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                escape_controls(&t.state).into_owned(),
                escape_controls(&t.title).into_owned(),
                escape_controls(&t.labels.join(", ")).into_owned(),
            ]
        })
        .collect();
    let width = ui.terminal_width();
    ui.data(&render(&columns, &rows, width));
    Ok(0)
}

#[derive(serde::Serialize)]
struct ShowDoc<'a> {
    task: &'a Task,
    parsed: Option<task::ParsedTask>,
    parse_error: Option<String>,
    history: Vec<crate::board::HistoryEntry>,
}

fn show(ui: &mut Ui, board: &dyn Board, a: &ShowArgs) -> Result<i32> {
    let t = board.get(&a.task)?;
    let (parsed, parse_error) = match task::parse(&t) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.message)),
    };
    let history = board.history(&t.id)?;
    let doc = ShowDoc {
        task: &t,
        parsed,
        parse_error,
        history,
    };
    if ui.is_json() {
        ui.json(&doc);
        return Ok(0);
    }
    let mut out = format!("task {}\n", t.id);
    field(&mut out, "title", &t.title);
    field(&mut out, "state", &t.state);
    field(&mut out, "labels", &t.labels.join(", "));
    field(&mut out, "created", &format!("{} by {}", t.created_at, t.created_by));
    field(&mut out, "updated", &t.updated_at.to_string());
    match (&doc.parsed, &doc.parse_error) {
        (Some(p), _) => {
            field(&mut out, "goal", p.goal.lines().next().unwrap_or(""));
            field(&mut out, "repo", &p.execution.repo);
            field(&mut out, "mode", &p.execution.mode);
        }
        (None, Some(e)) => field(&mut out, "parsed", e),
        _ => {}
    }
    if !t.description.is_empty() {
        out.push('\n');
        for line in t.description.lines() {
            out.push_str(&format!("    {}\n", escape_controls(line)));
        }
    }
    if !t.comments.is_empty() {
        out.push_str(&format!("\n[comments] {}\n", t.comments.len()));
        for c in &t.comments {
            out.push_str(&format!("  {} {}:\n", c.created_at, escape_controls(&c.author)));
            for line in c.body.lines() {
                out.push_str(&format!("    {}\n", escape_controls(line)));
            }
        }
    }
    if !doc.history.is_empty() {
        out.push_str("\n[history]\n");
        for h in &doc.history {
            let commit = h.commit.as_deref().map_or("", |c| &c[..7.min(c.len())]);
            out.push_str(&format!("  {commit} {} {}\n", h.time, escape_controls(&h.subject)));
        }
    }
    ui.data(&out);
    Ok(0)
}
