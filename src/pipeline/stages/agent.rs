//! The agent stage: the adapter runs in the worktree. Its output is captured (redacted, bounded)
//! and handed to the observer as it arrives; an agent that deletes its worktree, writes into the
//! user's checkout, fails, times out or is cancelled ends the run here, recorded.

use std::path::Path;

use crate::contracts::{ExecutionResult, ExecutionStatus, FailureReasonCategory, RuntimeInvocationRef};
use crate::error::{Error, Result};
use crate::evidence::files;
use crate::execution::{AdapterContext, Capture};
use crate::pipeline::{Env, Event, Flow, Outcome, OutputSource, RunState, Stage, StageName};

pub struct Agent {
    /// Give the agent the goal as `goal.md` in the run's evidence directory.
    pub goal_file: bool,
    /// Notice an agent that changes the user's own checkout or refs outside its run (costs a
    /// status of the checkout and a listing of the refs).
    pub watch_outside: bool,
}

impl Stage for Agent {
    fn name(&self) -> StageName {
        StageName::Agent
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let Some(wt) = &state.worktree else {
            return Err(Error::internal("the agent stage ran without a worktree"));
        };
        let run_dir = crate::evidence::run_dir(&state.plan.workspace, &state.request.run_id);
        let goal_file = run_dir.join(files::GOAL);
        let prompt = crate::execution::agents::goal_file_text(&state.request.goal_text, &state.request.allowed_paths);
        if self.goal_file {
            crate::evidence::make_run_dir(&state.plan.workspace, &state.request.run_id)
                .and_then(|_| crate::evidence::write_atomic(&goal_file, prompt.as_bytes()))?;
            state.goal_file = Some(prompt.clone().into_bytes());
        }
        let observer = env.cx.observer;
        let forward = |bytes: &[u8]| {
            observer.event(&Event::Output {
                source: OutputSource::Agent,
                bytes,
            })
        };
        let ctx = AdapterContext {
            request: &state.request,
            task_id: state.plan.bundle.proposal.task_id.clone(),
            workspace: &wt.path,
            goal_file: &goal_file,
            prompt,
            output: observer.wants_output().then_some(&forward as &dyn Fn(&[u8])),
            redactor: &env.cx.redactor,
            interrupt: env.cx.interrupt,
        };
        // What the user's own checkout looks like before the agent runs, to notice an agent that
        // writes outside its worktree.
        let checkout_before = if self.watch_outside {
            state.refs_before = crate::git::refs::all(&env.repo.repo).ok();
            crate::git::snapshot::worktree_changes(&env.repo.repo)
                .ok()
                .map(|paths| {
                    let stamps = checkout_stamps(&env.repo.repo, &paths);
                    (paths, stamps)
                })
        } else {
            None
        };
        // With the routing rules a configuration names in a file of their own.
        let routing_file = crate::config::Config::load(env.repo.workdir())
            .ok()
            .and_then(|c| c.routing.policy_file.clone());
        let oc_configs: Vec<std::path::PathBuf> = crate::config::user_config_path()
            .into_iter()
            .chain([crate::config::repo_config_path(env.repo.workdir())])
            .chain(routing_file)
            .collect();
        let guarded = crate::git::guard::Guarded::take(env.repo.repo.common_dir(), wt.repo.git_dir(), &oc_configs);
        observer.event(&Event::Running {
            source: OutputSource::Agent,
            what: env.adapter.display_name(),
        });
        let run = env.adapter.execute(&ctx);
        // The agent has ended: what it changed in git's configuration or hooks goes back before
        // any git command of ours reads them.
        warn_listing(
            &mut state.warnings,
            env,
            "the agent changed git's configuration or hooks, where its worktree finds the repository, or git-oc's configuration, which every later command here obeys; put back as they were",
            &guarded.restore(),
        );
        warn_listing(
            &mut state.warnings,
            env,
            "git-oc's caches changed while the agent ran; deleted (they are rebuilt from git)",
            &guarded.drop_changed_caches(),
        );
        state.executed = true;
        state.workspace_gone = !wt.path.is_dir();
        let mut checkout_readable = true;
        if let Some((before, stamps)) = checkout_before {
            // Stamped before git-oc's own status of the checkout reads (or refreshes) the index.
            let now = checkout_stamps(&env.repo.repo, &before);
            let after = crate::git::snapshot::worktree_changes(&env.repo.repo);
            checkout_readable = after.is_ok();
            let warning = match after {
                Ok(after) => {
                    // A path changed that was clean, one of your changes undone (a file you had
                    // changed put back, an untracked file deleted), one of your changed files
                    // changed again, or your index.
                    let mut new: Vec<&str> = after
                        .iter()
                        .filter(|p| !before.contains(p))
                        .chain(
                            before
                                .iter()
                                .filter(|p| !after.contains(p) || stamps.get(*p) != now.get(*p)),
                        )
                        .map(String::as_str)
                        .collect();
                    new.sort();
                    new.dedup();
                    if stamps.get(INDEX_STAMP) != now.get(INDEX_STAMP) {
                        new.push(INDEX_STAMP);
                    }
                    (!new.is_empty()).then(|| {
                        format!(
                            "the agent changed files in your checkout, outside its worktree: {}",
                            new.join(", ")
                        )
                    })
                }
                // Readable before the agent, not after: the agent broke something of yours.
                Err(e) => Some(format!(
                    "your checkout could not be checked after the agent ran: {}",
                    e.summary_line()
                )),
            };
            if let Some(warning) = warning {
                env.cx.warn(&warning);
                state.warnings.push(warning);
            }
        }
        // Refs are read only when the checkout could be: a named pipe among them would block.
        if let Some(before) = &state.refs_before
            && checkout_readable
            && let Ok(after) = crate::git::refs::all(&env.repo.repo)
        {
            let changed = changed_refs(before, &after, &state.plan.branch);
            let sole = env.cx.sole_board_writer;
            let tasks_put_back = if sole {
                crate::git::guard::put_back_tasks(&env.repo.repo, before, &after)
            } else {
                Vec::new()
            };
            let put_back =
                crate::git::guard::restore_records(&env.repo.repo, env.repo.workdir(), before, &after, !sole);
            let replaced = crate::git::guard::restore_replacements(&env.repo.repo, before, &after);
            // Evidence recorded meanwhile by a run this one cannot vouch for (not registered when
            // the agent started, not started by this process) may be made up by the agent.
            let own = format!("{}{}", crate::git::RUNS_REF_PREFIX, state.request.run_id);
            let vouched = guarded.registered_at_start();
            let unvouched_under = |prefix: &str, name: &str| {
                name.strip_prefix(prefix).is_some_and(|id| {
                    name != own
                        && !before.contains_key(name)
                        && !vouched.contains(id)
                        && !crate::execution::inflight::registered_here(id)
                })
            };
            let unvouched = |name: &str| unvouched_under(crate::git::RUNS_REF_PREFIX, name);
            // The same for an autonomy cycle's records, which later cycles learn from.
            let made_up_record = |name: &str| {
                crate::autonomy::store::PREFIXES.iter().any(|p| name.starts_with(p))
                    && !before.contains_key(name)
                    && !crate::autonomy::store::written_here(name)
            };
            // In a worker's clone no other git-oc records runs: such evidence goes (and the note
            // blocks naming it with it, below).
            let runs_put_back = if sole {
                crate::git::guard::put_back_refs(&env.repo.repo, before, &after, |name| {
                    unvouched(name) || made_up_record(name)
                })
            } else {
                Vec::new()
            };
            // A demo's evidence is never published, but `git oc runs`, `show` and `doctor` list it
            // as a run: one the agent made up goes, in any clone (a demo is run again at will).
            let made_up_demos = crate::git::guard::put_back_refs(&env.repo.repo, before, &after, |name| {
                unvouched_under(crate::git::DEMO_REF_PREFIX, name)
            });
            let dropped = crate::git::guard::drop_foreign_notes(&env.repo.repo, before, sole);
            warn_listing(
                &mut state.warnings,
                env,
                "demo runs recorded while the agent ran that no git-oc this run knows of started (made up by the agent, or a demo run meanwhile elsewhere); deleted",
                &made_up_demos,
            );
            warn_listing(
                &mut state.warnings,
                env,
                "runs or autonomy records recorded while the agent ran that no git-oc of this clone wrote (made up by the agent); deleted",
                &runs_put_back,
            );
            if sole {
                // Nobody else writes a worker's clone: a branch the agent moved (its `main`, the
                // base of the next run, say) goes back, so that no later run builds on it.
                // (Replacement refs are put back below, with their own warning.)
                let outside = crate::git::guard::put_back_refs(&env.repo.repo, before, &after, |name| {
                    !name.starts_with("refs/replace/") && changed.iter().any(|c| c == name)
                });
                warn_listing(
                    &mut state.warnings,
                    env,
                    "refs outside the run changed while the agent ran (no one else writes this clone); put back as they were",
                    &outside,
                );
            } else {
                warn_listing(
                    &mut state.warnings,
                    env,
                    "refs outside the run changed while the agent ran (git-oc did not change them)",
                    &changed,
                );
            }
            warn_listing(
                &mut state.warnings,
                env,
                "the agent deleted or rewrote git-oc's records while it ran; put back",
                &put_back,
            );
            warn_listing(
                &mut state.warnings,
                env,
                "the agent changed the board's tasks while it ran (no other git-oc writes them here); put back as they were",
                &tasks_put_back,
            );
            if !sole {
                // Here a change built on what was there may be yours (another terminal) or the
                // agent's: it stays, and is named, since `git oc push` would publish it.
                let tasks_changed: Vec<String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|name| name.starts_with(crate::board::git::TASKS_REF_PREFIX))
                    .filter(|name| before.get(*name) != after.get(*name) && !put_back.contains(*name))
                    .map(|name| match before.contains_key(name) {
                        true => name.clone(),
                        false => format!("{name} (new)"),
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                warn_listing(
                    &mut state.warnings,
                    env,
                    "tasks changed while the agent ran, by it or by you; `git oc push` publishes them, so read them first (git oc task show)",
                    &tasks_changed,
                );
                // One that is Ready now would be run by `git oc watch` and, published, by every
                // worker of the board: held until a person releases it.
                let runs: Vec<(&String, &String)> = after.iter().filter(|(name, _)| unvouched(name)).collect();
                let records: Vec<(&String, &String)> = after.iter().filter(|(name, _)| made_up_record(name)).collect();
                match hold(env, &state.request.run_id, before, &after, &runs, &records) {
                    Ok(marks) => {
                        use crate::board::held::Kind;
                        let held = |kind: Kind| -> Vec<String> {
                            marks.iter().filter(|m| m.0 == kind).map(|m| m.1.clone()).collect()
                        };
                        warn_listing(
                            &mut state.warnings,
                            env,
                            "tasks that became Ready while the agent ran, held until you read and release them (`git oc task show ID`, then `git oc release ID`): `git oc push` refuses to publish them, `git oc watch` does not run them",
                            &held(Kind::Task),
                        );
                        warn_listing(
                            &mut state.warnings,
                            env,
                            "autonomy records written while the agent ran that this run cannot vouch for (made up by the agent, or a cycle in another terminal meanwhile), held until you read and release them (`git show refs/oc/ID`, then `git oc release ID`, or delete one with `git update-ref -d refs/oc/ID`): later cycles ignore them, `git oc push` refuses to publish them",
                            &held(Kind::Record),
                        );
                        warn_listing(
                            &mut state.warnings,
                            env,
                            "runs recorded while the agent ran that this run cannot vouch for (made up by the agent, or run in another terminal meanwhile), held until you read and release them (`git oc show ID`, then `git oc release ID`, or delete one with `git update-ref -d refs/oc/runs/ID`): `git oc push` refuses to publish them",
                            &held(Kind::Run),
                        );
                    }
                    Err(e) => {
                        let warning = format!(
                            "what the agent may have written could not be held: {}",
                            e.summary_line()
                        );
                        env.cx.warn(&warning);
                        state.warnings.push(warning);
                    }
                }
            }
            warn_listing(
                &mut state.warnings,
                env,
                "replacement refs (git replace) changed while the agent ran; put back as they were",
                &replaced,
            );
            warn_listing(
                &mut state.warnings,
                env,
                "note blocks git-oc did not write appeared while the agent ran; taken out",
                &dropped,
            );
        }
        let mut result = run.result;
        state.capture = run.capture;
        if let Some(capture) = &state.capture
            && !state.workspace_gone
        {
            // A full disk must not lose the run: the same bytes still go into git.
            match write_capture(
                &state.plan.workspace,
                &state.request.run_id,
                capture,
                env.adapter.display_name(),
                env.cx.ids.new_id(),
            ) {
                Ok(r) => result.runtime_invocation_ref = Some(r),
                Err(e) => state.warnings.push(e.summary_line()),
            }
        }
        state.result = result;

        if state.workspace_gone {
            // Nothing may be written there any more: it would come back as an empty directory
            // and look like "every file deleted".
            let reason = format!("the worktree {} disappeared during the run", wt.path.display());
            state.result = ExecutionResult::failed(
                &state.request,
                ExecutionStatus::Failed,
                FailureReasonCategory::BackendError,
                reason.clone(),
            );
            state.outcome = Some(Outcome::Failed);
            state.reason = Some(reason);
            return Ok(Flow::Stop);
        }
        if state.result.status == ExecutionStatus::Cancelled {
            state.outcome = Some(Outcome::Cancelled);
            state.reason = state.result.failure_reason.clone();
        }
        // A failed agent's partial work is still looked at, so that the report says what it left.
        Ok(if state.result.success {
            Flow::Continue
        } else {
            Flow::Failed
        })
    }
}

/// Warn (on the terminal and in the run's warnings) that `what`, listing `items`, unless empty.
fn warn_listing(warnings: &mut Vec<String>, env: &Env, what: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let warning = format!("{what}: {}", items.join(", "));
    env.cx.warn(&warning);
    warnings.push(warning);
}

/// The name the index's stamp goes by among the checkout's paths.
const INDEX_STAMP: &str = "(your index)";

/// Size, modification time and inode of each of `paths` in the checkout, and of the index (an
/// agent can mark your files `--skip-worktree` there, hiding your next change from `git status`):
/// what tells that a path already changed before the agent was changed again.
fn checkout_stamps(
    repo: &gix::Repository,
    paths: &[String],
) -> std::collections::BTreeMap<String, Option<(u64, i64, i64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let stamp = |path: &Path| {
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
    };
    let mut out = std::collections::BTreeMap::new();
    if let Some(workdir) = repo.workdir() {
        for path in paths {
            out.insert(path.clone(), stamp(&workdir.join(path.trim_end_matches('/'))));
        }
    }
    out.insert(INDEX_STAMP.to_owned(), stamp(&repo.index_path()));
    out
}

/// Refs that differ between two listings, except the run's own branch and git-oc's refs (other
/// runs may write theirs meanwhile).
fn changed_refs(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
    branch: &str,
) -> Vec<String> {
    let own = format!("refs/heads/{branch}");
    let ours = |name: &str| {
        name == own
            || name.starts_with("refs/oc/")
            || name.starts_with("refs/notes/")
            || name.starts_with("refs/heads/oc/")
            || name.starts_with("refs/heads/demo/")
    };
    let mut out: Vec<String> = before
        .iter()
        .filter(|(name, target)| !ours(name) && after.get(*name) != Some(*target))
        .map(|(name, _)| name.clone())
        .chain(
            after
                .keys()
                .filter(|name| !ours(name) && !before.contains_key(*name))
                .cloned(),
        )
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Hold (`board::held`, for the run `run_id`) every task that changed while the agent ran and
/// is Ready now, the evidence refs `runs` and the autonomy records `records` (name, commit):
/// the marks recorded.
fn hold(
    env: &Env,
    run_id: &str,
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
    runs: &[(&String, &String)],
    records: &[(&String, &String)],
) -> Result<Vec<crate::board::held::Mark>> {
    use crate::board::held::Kind;
    let repo = &env.repo.repo;
    let states = crate::publish::board_states(env.repo.workdir());
    let mut marks = Vec::new();
    for (name, tip) in after {
        let Some(id) = name.strip_prefix(crate::board::git::TASKS_REF_PREFIX) else {
            continue;
        };
        if before.get(name) == Some(tip) {
            continue;
        }
        let Ok(commit) = gix::ObjectId::from_hex(tip.as_bytes()) else {
            continue;
        };
        // A task that cannot be read is held too: nobody can tell what it asks for.
        let ready = crate::board::git::read_task_at(repo, commit).map_or(true, |t| {
            states.kind_of(&t.state) == Some(crate::board::StateKind::Ready)
        });
        if ready {
            marks.push((Kind::Task, id.to_owned(), commit));
        }
    }
    for (kind, refs) in [(Kind::Run, runs), (Kind::Record, records)] {
        for (name, tip) in refs {
            let id = name.trim_start_matches(kind.ref_prefix());
            if let Ok(commit) = gix::ObjectId::from_hex(tip.as_bytes()) {
                marks.push((kind, id.to_owned(), commit));
            }
        }
    }
    crate::board::held::record(repo, run_id, &marks)?;
    Ok(marks)
}

/// `stdout.txt` and `stderr.txt` in the run directory, as soon as the agent is done.
fn write_capture(
    workspace: &Path,
    run_id: &str,
    capture: &Capture,
    runtime: &str,
    invocation_id: String,
) -> Result<RuntimeInvocationRef> {
    // Made again as real directories: the agent may have put a symlink in their place.
    let run_dir = &crate::evidence::make_run_dir(workspace, run_id)?;
    let stdout = run_dir.join(files::STDOUT);
    let stderr = run_dir.join(files::STDERR);
    crate::evidence::write_atomic(&stdout, &capture.stdout)?;
    crate::evidence::write_atomic(&stderr, &capture.stderr)?;
    Ok(RuntimeInvocationRef {
        invocation_id,
        runtime_name: runtime.to_owned(),
        runtime_kind: "subprocess".to_owned(),
        stdout_path: Some(stdout.display().to_string()),
        stderr_path: Some(stderr.display().to_string()),
        artifact_directory: Some(run_dir.display().to_string()),
    })
}
