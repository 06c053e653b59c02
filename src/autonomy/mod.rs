//! The autonomy cycle (`git oc autonomy-cycle`, reference-fullstack §12): observe the repository,
//! derive insights from this snapshot and the older ones, decide which improvement candidates to
//! propose (rules, families, thresholds, suppression), and with `execute` file them as tasks on
//! the configured board. Snapshots and cycle reports are kept in git (`store.rs`), so the rules
//! that need a signal to persist work across clones, and `git oc push`/`fetch` carry them.
//!
//! One module per stage: `observe` (+ `checks`, `history`, `ci` for the collectors),
//! `insights`, `decide`, `propose`, and `report` for the Markdown form.

pub mod backlog;
pub mod checks;
pub mod ci;
pub mod coverage;
pub mod decide;
pub mod history;
pub mod insights;
pub mod observe;
pub mod propose;
pub mod report;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::contracts::Timestamp;
use crate::error::{Error, Result};
use decide::{Candidate, Family, Suppressed, Tuning};
use insights::Insight;
use observe::{CountSignal, RepoContext, Signals, Snapshot};
use propose::ProposeStage;

/// Older snapshots the insights look at (the original: 5).
const HISTORY: usize = 5;
/// Earlier cycles read for the cooldowns.
const RECENT_CYCLES: usize = 50;

/// What a cycle does; `None` takes `[autonomy]`'s value, else the original's default.
#[derive(Clone, Debug, Default)]
pub struct CycleOptions {
    /// File the emitted candidates on the board (otherwise a dry run).
    pub execute: bool,
    pub max_candidates: Option<usize>,
    pub cooldown_minutes: Option<u64>,
    pub max_create: Option<usize>,
    /// Allow the gated families too.
    pub all_families: bool,
    /// The cycle's time [default: the system clock]; tests pin it.
    pub now: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CycleReport {
    pub id: String,
    pub generated_at: Timestamp,
    pub dry_run: bool,
    pub repo_key: String,
    pub repo: RepoContext,
    pub observation_ref: String,
    pub cycle_ref: String,
    pub stages: Stages,
    pub signals: Signals,
    pub guard_rails: GuardRails,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stages {
    pub observe: ObserveStage,
    pub insights: InsightsStage,
    pub decide: DecideStage,
    pub propose: ProposeStage,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ObserveStage {
    pub id: String,
    pub signals_collected: Vec<String>,
    pub signals_unavailable: Vec<String>,
    pub collector_errors: BTreeMap<String, String>,
    /// The older snapshots the insights compared with, newest first.
    pub history: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InsightsStage {
    pub count: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub insights: Vec<Insight>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DecideStage {
    pub id: String,
    pub emitted: Vec<Candidate>,
    pub suppressed: Vec<Suppressed>,
    pub suppression_reasons: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GuardRails {
    pub families_allowed: Vec<String>,
    pub families_gated: Vec<String>,
    pub families_disabled: Vec<String>,
    pub max_candidates: usize,
    pub cooldown_minutes: u64,
    pub max_create: usize,
    pub max_queued: usize,
    /// Open autonomy tasks waiting on the board, when it could be read.
    pub board_queued: Option<usize>,
    /// `degraded` when a collector failed or the board could not be read.
    pub cycle_health: String,
}

/// How many observation snapshots and cycle reports `git oc gc` keeps, each: at least what the
/// insights read (the current snapshot and `HISTORY` older ones).
pub fn keep_records(config: &Config) -> Result<usize> {
    match config.autonomy.keep_records {
        Some(n) if n <= HISTORY => Err(Error::input(format!(
            "[autonomy] keep_records must be at least {} (from {})",
            HISTORY + 1,
            config.source("autonomy.keep_records")
        ))
        .hint(format!(
            "the cycle compares each snapshot with the {HISTORY} before it; remove the key for the default, 50"
        ))),
        Some(n) => Ok(n),
        None => Ok(50),
    }
}

/// The thresholds and limits: the command line, else `[autonomy]`, else the original's.
pub fn tuning(config: &Config, options: &CycleOptions) -> Result<Tuning> {
    let a = &config.autonomy;
    let parse_list = |key: &str, list: &Option<Vec<String>>| -> Result<Option<BTreeSet<Family>>> {
        let Some(list) = list else { return Ok(None) };
        list.iter()
            .map(|name| {
                Family::parse(name.trim()).ok_or_else(|| {
                    Error::input(format!(
                        "unknown family {name:?} in [autonomy] {key} (from {})",
                        config.source(&format!("autonomy.{key}"))
                    ))
                    .hint(format!("the families are: {}", Family::names()))
                })
            })
            .collect::<Result<BTreeSet<_>>>()
            .map(Some)
    };
    let configured = parse_list("families", &a.families)?;
    let disabled = parse_list("disabled_families", &a.disabled_families)?.unwrap_or_default();
    let allowed = if options.all_families {
        decide::FAMILIES.into_iter().collect()
    } else {
        configured.unwrap_or_else(|| decide::FAMILIES.into_iter().filter(|f| f.is_default()).collect())
    };
    let positive = |key: &str, v: Option<usize>, default: usize| -> Result<usize> {
        match v {
            Some(0) => Err(Error::input(format!(
                "[autonomy] {key} must be at least 1 (from {})",
                config.source(&format!("autonomy.{key}"))
            ))
            .hint(format!("remove it for the default, {default}"))),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    };
    let percent = |key: &str, v: Option<f64>, default: f64| -> Result<f64> {
        match v {
            Some(p) if !(0.0..=100.0).contains(&p) => Err(Error::input(format!(
                "[autonomy] {key} must be a percentage from 0 to 100, not {p} (from {})",
                config.source(&format!("autonomy.{key}"))
            ))
            .hint(format!("remove it for the default, {default}"))),
            Some(p) => Ok(p),
            None => Ok(default),
        }
    };
    Ok(Tuning {
        observation_coverage_min_runs: positive("observation_coverage_min_runs", a.observation_coverage_min_runs, 2)?,
        test_visibility_min_runs: positive("test_visibility_min_runs", a.test_visibility_min_runs, 3)?,
        dependency_drift_min_runs: positive("dependency_drift_min_runs", a.dependency_drift_min_runs, 2)?,
        lint_min_violations: positive("lint_min_violations", a.lint_min_violations, 5)?,
        type_min_errors: positive("type_min_errors", a.type_min_errors, 3)?,
        validation_failure_threshold: positive("validation_failure_threshold", a.validation_failure_threshold, 2)?,
        coverage_min_percent: percent("coverage_min_percent", a.coverage_min_percent, 60.0)?,
        coverage_file_min_percent: percent("coverage_file_min_percent", a.coverage_file_min_percent, 80.0)?,
        coverage_min_uncovered_files: positive("coverage_min_uncovered_files", a.coverage_min_uncovered_files, 3)?,
        lint_cluster_min_runs: positive("lint_cluster_min_runs", a.lint_cluster_min_runs, 3)?,
        max_candidates: options.max_candidates.or(a.max_candidates).unwrap_or(3),
        cooldown_minutes: options.cooldown_minutes.or(a.cooldown_minutes).unwrap_or(120),
        max_create: options.max_create.or(a.max_create).unwrap_or(2),
        max_queued: positive("max_queued", a.max_queued, 15)?,
        allowed,
        disabled,
    })
}

/// Stage 1: every collector, each failure recorded rather than fatal.
pub fn observe(repo: &crate::git::Repo, config: &Config, repo_key: &str, id: &str, now: Timestamp) -> Snapshot {
    let workdir = repo.workdir();
    let mut snap = Snapshot {
        id: id.to_owned(),
        observed_at: Some(now),
        observer_version: observe::OBSERVER_VERSION,
        ..Snapshot::default()
    };
    let mut errors = BTreeMap::new();
    match observe::repo_context(repo, repo_key) {
        Ok(c) => snap.repo = c,
        Err(e) => {
            snap.repo.name = repo_key.to_owned();
            snap.repo.path = workdir.display().to_string();
            errors.insert("repo_context".to_owned(), e);
        }
    }
    match observe::commits_and_hotspots(workdir) {
        Ok((c, h)) => (snap.signals.recent_commits, snap.signals.file_hotspots) = (c, h),
        Err(e) => {
            errors.insert("recent_commits".to_owned(), e);
        }
    }
    match observe::todo_signal(workdir) {
        Ok(t) => snap.signals.todo = t,
        Err(e) => {
            errors.insert("todo_signal".to_owned(), e);
        }
    }
    match observe::dependency_drift(workdir) {
        Ok(d) => snap.signals.dependency_drift = d,
        Err(e) => {
            snap.signals.dependency_drift.status = "not_available".into();
            errors.insert("dependency_drift".to_owned(), e);
        }
    }
    let a = &config.autonomy;
    let command = checks::test_command(workdir, a.test_command.as_deref(), config.run.validate());
    snap.signals.test = checks::test_signal(
        workdir,
        command,
        Duration::from_secs(a.test_timeout.unwrap_or(300).max(1)),
    );
    if a.lint == Some(false) {
        let off = || CountSignal::unavailable("disabled by [autonomy] lint = false");
        (snap.signals.lint, snap.signals.types) = (off(), off());
    } else {
        let (lint, types, errs) =
            checks::lint_and_types(workdir, Duration::from_secs(a.lint_timeout.unwrap_or(300).max(1)));
        (snap.signals.lint, snap.signals.types) = (lint, types);
        errors.extend(errs);
    }
    match crate::evidence::store::list_runs(&repo.repo) {
        Ok((mut runs, _)) => {
            runs.retain(|r| r.evidence_ref.starts_with(crate::git::RUNS_REF_PREFIX));
            snap.signals.execution_health = history::execution_health(&runs);
            snap.signals.validation_history = history::validation_history(&runs);
        }
        Err(e) => {
            errors.insert("execution_health".to_owned(), e.to_string());
        }
    }
    match backlog::collect(workdir, a.backlog_file.as_deref()) {
        Ok(b) => snap.signals.backlog = b,
        Err(e) => {
            snap.signals.backlog.status = "unavailable".into();
            errors.insert("backlog".to_owned(), e);
        }
    }
    let file_threshold = a.coverage_file_min_percent.unwrap_or(80.0);
    match coverage::collect(workdir, a.coverage_report.as_deref(), file_threshold) {
        Ok(c) => snap.signals.coverage = c,
        Err(e) => {
            snap.signals.coverage = coverage::CoverageSignal::unavailable(e.clone());
            errors.insert("coverage_signal".to_owned(), e);
        }
    }
    snap.signals.ci = match ci::collect(repo, config) {
        Ok(s) => s,
        Err(e) => {
            errors.insert("ci_history".to_owned(), e.clone());
            ci::CiSignal {
                status: "unavailable".into(),
                detail: Some(e),
                ..ci::CiSignal::default()
            }
        }
    };
    snap.collector_errors = errors;
    snap
}

/// The older snapshots, newest first, without `current`.
fn older_snapshots(repo: &gix::Repository, current: &str) -> Vec<Snapshot> {
    let mut ids = store::trusted_ids(repo, store::OBSERVATIONS_REF_PREFIX);
    ids.retain(|i| i.as_str() < current);
    ids.iter()
        .rev()
        .filter_map(|id| store::read_json::<Snapshot>(repo, store::OBSERVATIONS_REF_PREFIX, id, store::SNAPSHOT_FILE))
        .take(HISTORY)
        .collect()
}

/// Candidates earlier executed cycles emitted: (dedup key, family, when), newest first. Dry runs
/// do not count, so that a dry run followed by `--execute` proposes what the dry run showed.
fn recent_emitted(repo: &gix::Repository) -> Vec<(String, Family, Timestamp)> {
    let ids = store::trusted_ids(repo, store::CYCLES_REF_PREFIX);
    let mut out = Vec::new();
    for id in ids.iter().rev().take(RECENT_CYCLES) {
        let Some(c) = store::read_json::<serde_json::Value>(repo, store::CYCLES_REF_PREFIX, id, store::CYCLE_FILE)
        else {
            continue;
        };
        if c["dry_run"] != false {
            continue;
        }
        let Some(at) = c["generated_at"].as_str().and_then(Timestamp::parse) else {
            continue;
        };
        for e in c["stages"]["decide"]["emitted"].as_array().into_iter().flatten() {
            if let (Some(key), Some(family)) = (e["dedup_key"].as_str(), e["family"].as_str().and_then(Family::parse)) {
                out.push((key.to_owned(), family, at));
            }
        }
    }
    out
}

fn availability(s: &Signals) -> (Vec<String>, Vec<String>) {
    let all = [
        ("test_signal", s.test.status.as_str()),
        ("dependency_drift", s.dependency_drift.status.as_str()),
        ("lint_signal", s.lint.status.as_str()),
        ("type_signal", s.types.status.as_str()),
        ("ci_history", s.ci.status.as_str()),
        ("backlog", s.backlog.status.as_str()),
        ("coverage_signal", s.coverage.status.as_str()),
    ];
    let mut collected = vec![
        "repo_context".to_owned(),
        "recent_commits".to_owned(),
        "file_hotspots".to_owned(),
        "todo_signal".to_owned(),
        "execution_health".to_owned(),
        "validation_history".to_owned(),
    ];
    let mut unavailable = Vec::new();
    for (name, status) in all {
        if matches!(status, "unavailable" | "not_available" | "") {
            unavailable.push(name.to_owned());
        } else {
            collected.push(name.to_owned());
        }
    }
    (collected, unavailable)
}

/// Run one cycle in the repository holding `dir`.
pub fn run_cycle(dir: &Path, options: &CycleOptions) -> Result<CycleReport> {
    let repo = crate::git::Repo::discover(dir)?;
    if repo.repo.workdir().is_none() {
        return Err(
            Error::input("the autonomy cycle needs a work tree, and this repository is bare")
                .hint("run it in a clone with a work tree"),
        );
    }
    let config = Config::load(repo.workdir())?;
    let tuning = tuning(&config, options)?;
    let now = options.now.unwrap_or_else(Timestamp::now);
    let repo_key = config.run.repo_key.clone().unwrap_or_else(|| repo.name());
    let mut warnings = Vec::new();
    // With --execute the board must work, and that is known before anything is written.
    let board = match crate::board::open(&repo, &config) {
        Ok(b) => Some(b),
        Err(e) if !options.execute => {
            warnings.push(format!(
                "the board could not be opened, so open tasks were not checked: {e}"
            ));
            None
        }
        Err(e) => return Err(e),
    };
    let board_state = match &board {
        Some(b) => match propose::board_state(b.as_ref()) {
            Ok(s) => Some(s),
            Err(e) if !options.execute => {
                warnings.push(format!(
                    "the board could not be read, so open tasks were not checked: {e}"
                ));
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };

    let obs_id = store::new_id("obs", now);
    let snapshot = observe(&repo, &config, &repo_key, &obs_id, now);
    let snapshot_json = serde_json::to_vec_pretty(&snapshot)
        .map_err(|e| Error::internal("could not write the snapshot").caused_by(e.to_string()))?;
    let obs_commit = store::write(
        &repo.repo,
        store::OBSERVATIONS_REF_PREFIX,
        &obs_id,
        &[(store::SNAPSHOT_FILE.to_owned(), snapshot_json)],
        None,
        &format!("autonomy observation {obs_id}\n\nOc-Observation: {obs_id}\nOc-Repo: {repo_key}\n"),
    )?;
    let older = older_snapshots(&repo.repo, &obs_id);
    let insights = insights::derive(&snapshot, &older, &tuning);

    let cx = decide::Context {
        recent_emitted: recent_emitted(&repo.repo),
        now: Some(now),
        board: board_state.clone(),
    };
    let (emitted, suppressed) = decide::decide(&insights, &tuning, &cx);
    let decision_id = store::new_id("dec", now);
    let cycle_id = store::new_id("cyc", now);
    let propose = if !options.execute {
        ProposeStage {
            status: "dry_run".into(),
            ..ProposeStage::default()
        }
    } else if emitted.is_empty() {
        ProposeStage {
            status: "skipped (no emitted candidates)".into(),
            ..ProposeStage::default()
        }
    } else {
        let base_branch = snapshot.repo.current_branch.clone();
        let p = propose::Provenance {
            repo_key: &repo_key,
            base_branch: base_branch.as_deref(),
            cycle_id: &cycle_id,
            decision_id: &decision_id,
        };
        match &board {
            Some(b) => propose::file(b.as_ref(), &emitted, &p, tuning.max_create),
            None => return Err(Error::internal("the board is not open")),
        }
    };

    let (signals_collected, signals_unavailable) = availability(&snapshot.signals);
    let mut by_kind = BTreeMap::new();
    for i in &insights {
        *by_kind.entry(i.kind.clone()).or_insert(0) += 1;
    }
    let mut suppression_reasons = BTreeMap::new();
    for s in &suppressed {
        *suppression_reasons.entry(s.reason.clone()).or_insert(0) += 1;
    }
    let families = |pick: &dyn Fn(&Family) -> bool| -> Vec<String> {
        decide::FAMILIES
            .iter()
            .filter(|f| pick(f))
            .map(|f| f.as_str().to_owned())
            .collect()
    };
    let degraded = !snapshot.collector_errors.is_empty() || !warnings.is_empty();
    let report = CycleReport {
        id: cycle_id.clone(),
        generated_at: now,
        dry_run: !options.execute,
        repo_key: repo_key.clone(),
        repo: snapshot.repo.clone(),
        observation_ref: format!("{}{obs_id}", store::OBSERVATIONS_REF_PREFIX),
        cycle_ref: format!("{}{cycle_id}", store::CYCLES_REF_PREFIX),
        stages: Stages {
            observe: ObserveStage {
                id: obs_id.clone(),
                signals_collected,
                signals_unavailable,
                collector_errors: snapshot.collector_errors.clone(),
                history: older.iter().map(|s| s.id.clone()).collect(),
            },
            insights: InsightsStage {
                count: insights.len(),
                by_kind,
                insights,
            },
            decide: DecideStage {
                id: decision_id,
                emitted,
                suppressed,
                suppression_reasons,
            },
            propose,
        },
        signals: snapshot.signals,
        guard_rails: GuardRails {
            families_allowed: families(&|f| tuning.allowed.contains(f) && !tuning.disabled.contains(f)),
            families_gated: families(&|f| !tuning.allowed.contains(f)),
            families_disabled: families(&|f| tuning.disabled.contains(f)),
            max_candidates: tuning.max_candidates,
            cooldown_minutes: tuning.cooldown_minutes,
            max_create: tuning.max_create,
            max_queued: tuning.max_queued,
            board_queued: board_state.map(|b| b.queued),
            cycle_health: if degraded { "degraded" } else { "nominal" }.into(),
        },
        warnings,
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::internal("could not write the cycle report").caused_by(e.to_string()))?;
    store::write(
        &repo.repo,
        store::CYCLES_REF_PREFIX,
        &cycle_id,
        &[
            (store::CYCLE_FILE.to_owned(), json),
            (store::CYCLE_MARKDOWN.to_owned(), report::markdown(&report).into_bytes()),
        ],
        Some(obs_commit),
        &format!(
            "autonomy cycle {cycle_id}: {} emitted, {} suppressed\n\nOc-Cycle: {cycle_id}\nOc-Observation: {obs_id}\nOc-Dry-Run: {}\n",
            report.stages.decide.emitted.len(),
            report.stages.decide.suppressed.len(),
            report.dry_run
        ),
    )?;
    Ok(report)
}

/// A retained cycle report: its id, its JSON document and its Markdown.
#[derive(Clone, Debug, Serialize)]
pub struct StoredCycle {
    pub id: String,
    pub report: serde_json::Value,
    #[serde(skip)]
    pub markdown: String,
}

/// The cycle `id` names (a unique prefix will do), or the newest.
pub fn show_cycle(dir: &Path, id: Option<&str>) -> Result<StoredCycle> {
    let repo = crate::git::Repo::discover(dir)?;
    let id = match id {
        Some(typed) => store::resolve(&repo.repo, store::CYCLES_REF_PREFIX, typed.trim())?,
        None => store::ids(&repo.repo, store::CYCLES_REF_PREFIX).pop().ok_or_else(|| {
            Error::input("no autonomy cycle has been recorded in this repository")
                .hint("run git oc autonomy-cycle first (or git oc fetch to get a remote's)")
        })?,
    };
    let (_, json) = store::read(&repo.repo, store::CYCLES_REF_PREFIX, &id, store::CYCLE_FILE)?;
    let report = serde_json::from_slice(&json).map_err(|e| {
        Error::run(format!("the report of cycle {id} is not valid JSON"))
            .caused_by(e.to_string())
            .hint("it was not written by git oc autonomy-cycle")
    })?;
    let markdown = store::read(&repo.repo, store::CYCLES_REF_PREFIX, &id, store::CYCLE_MARKDOWN)
        .map(|(_, m)| String::from_utf8_lossy(&m).into_owned())
        .unwrap_or_default();
    Ok(StoredCycle { id, report, markdown })
}
