//! Stage 3, decide: the rules turn insights into candidates of a family, then the suppression
//! pipeline keeps at most `max_candidates`, each suppressed one with its reason. The family a
//! rule emits is the family the allow-lists name (the original's `dependency_drift` rule
//! emitted `dependency_drift_followup`, which no list allowed; here both are `dependency_drift`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::insights::Insight;

/// The families, default ones first. A new family is a new entry here and a rule in [`rules`].
pub const FAMILIES: [Family; 14] = [
    Family::ObservationCoverage,
    Family::TestVisibility,
    Family::DependencyDrift,
    Family::ExecutionHealthFollowup,
    Family::LintFix,
    Family::TypeFix,
    Family::ValidationPatternFollowup,
    Family::CiPattern,
    Family::HotspotConcentration,
    Family::TodoAccumulation,
    Family::BacklogPromotion,
    Family::ArchPromotion,
    Family::CoverageGap,
    Family::LintCluster,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    ObservationCoverage,
    TestVisibility,
    DependencyDrift,
    ExecutionHealthFollowup,
    LintFix,
    TypeFix,
    ValidationPatternFollowup,
    CiPattern,
    HotspotConcentration,
    TodoAccumulation,
    BacklogPromotion,
    ArchPromotion,
    CoverageGap,
    LintCluster,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::ObservationCoverage => "observation_coverage",
            Family::TestVisibility => "test_visibility",
            Family::DependencyDrift => "dependency_drift",
            Family::ExecutionHealthFollowup => "execution_health_followup",
            Family::LintFix => "lint_fix",
            Family::TypeFix => "type_fix",
            Family::ValidationPatternFollowup => "validation_pattern_followup",
            Family::CiPattern => "ci_pattern",
            Family::HotspotConcentration => "hotspot_concentration",
            Family::TodoAccumulation => "todo_accumulation",
            Family::BacklogPromotion => "backlog_promotion",
            Family::ArchPromotion => "arch_promotion",
            Family::CoverageGap => "coverage_gap",
            Family::LintCluster => "lint_cluster",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        // The original's name for the drift family is accepted too.
        let s = if s == "dependency_drift_followup" {
            "dependency_drift"
        } else {
            s
        };
        FAMILIES.into_iter().find(|f| f.as_str() == s)
    }

    /// Allowed without `--all-families`.
    pub fn is_default(self) -> bool {
        self <= Family::ValidationPatternFollowup
    }

    /// 0: backlog; 2: ready; 1: ready when the change is only style.
    pub fn tier(self) -> u8 {
        match self {
            Family::ObservationCoverage | Family::TestVisibility | Family::DependencyDrift | Family::LintFix => 2,
            Family::ArchPromotion => 0,
            _ => 1,
        }
    }

    pub fn risk_class(self) -> &'static str {
        match self {
            Family::LintFix | Family::TodoAccumulation | Family::LintCluster => "style",
            Family::HotspotConcentration => "structural",
            Family::ArchPromotion => "arch",
            Family::ObservationCoverage | Family::TestVisibility | Family::CoverageGap => "quality",
            _ => "logic",
        }
    }

    pub fn validation_profile(self) -> &'static str {
        match self {
            Family::LintFix | Family::LintCluster => "lint_clean",
            Family::ArchPromotion => "manual_review",
            Family::TypeFix => "types_clean",
            Family::CiPattern => "ci_green",
            _ => "tests_pass",
        }
    }

    /// The family that must be absent for this one to be proposed (fix lint before types, make
    /// tests visible before chasing execution health).
    fn upstream(self) -> Option<Family> {
        match self {
            Family::TypeFix => Some(Family::LintFix),
            Family::ExecutionHealthFollowup => Some(Family::TestVisibility),
            _ => None,
        }
    }

    pub fn names() -> String {
        FAMILIES.map(Family::as_str).join(", ")
    }
}

impl Serialize for Family {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Family {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Family::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown family {s:?}")))
    }
}

/// The thresholds and limits, from `[autonomy]` and the command line.
#[derive(Clone, Debug)]
pub struct Tuning {
    pub observation_coverage_min_runs: usize,
    pub test_visibility_min_runs: usize,
    pub dependency_drift_min_runs: usize,
    pub lint_min_violations: usize,
    pub type_min_errors: usize,
    pub validation_failure_threshold: usize,
    pub coverage_min_percent: f64,
    pub coverage_file_min_percent: f64,
    pub coverage_min_uncovered_files: usize,
    pub lint_cluster_min_runs: usize,
    pub max_candidates: usize,
    pub cooldown_minutes: u64,
    pub max_create: usize,
    pub max_queued: usize,
    pub allowed: BTreeSet<Family>,
    pub disabled: BTreeSet<Family>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub candidate_id: String,
    pub dedup_key: String,
    pub family: Family,
    pub subject: String,
    pub pattern: String,
    pub confidence: String,
    pub risk_class: String,
    pub tier: u8,
    pub validation_profile: String,
    pub title: String,
    pub summary: String,
    pub constraints: Vec<String>,
    pub evidence_lines: Vec<String>,
    /// Labels the task gets besides the autonomy ones (backlog items: `source: backlog`,
    /// `type: <t>`).
    #[serde(default)]
    pub labels: Vec<String>,
    pub insight_ids: Vec<String>,
    pub observation_ids: Vec<String>,
    pub run_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suppressed {
    pub dedup_key: String,
    pub family: Family,
    pub subject: String,
    pub title: String,
    pub reason: String,
    pub detail: String,
}

/// What else the decision looks at: earlier cycles' emitted candidates (dedup key, family, when,
/// newest first), and the board's open autonomy tasks when it could be read.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub recent_emitted: Vec<(String, Family, crate::contracts::Timestamp)>,
    pub now: Option<crate::contracts::Timestamp>,
    pub board: Option<BoardState>,
}

#[derive(Clone, Debug, Default)]
pub struct BoardState {
    /// Dedup-key label value → task id, for tasks not done or cancelled.
    pub open_keys: BTreeMap<String, String>,
    /// Dedup-key label value → task id, for done or cancelled tasks.
    pub closed_keys: BTreeMap<String, String>,
    /// Lower-cased titles of open tasks → task id.
    pub open_titles: BTreeMap<String, String>,
    /// Open autonomy tasks in the backlog or ready state.
    pub queued: usize,
}

/// The label carrying a candidate's dedup key (hashed: labels are short, keys are not).
pub fn key_label(dedup_key: &str) -> String {
    format!("autonomy-key: {}", key_hash(dedup_key))
}

pub fn key_hash(dedup_key: &str) -> String {
    // FNV-1a: stable across versions and machines, which std's hasher is not.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dedup_key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn confidence(high: bool) -> String {
    if high { "high" } else { "medium" }.to_owned()
}

struct Draft<'a> {
    family: Family,
    pattern: String,
    subject: String,
    high: bool,
    title: String,
    summary: String,
    constraints: Vec<String>,
    evidence_lines: Vec<String>,
    labels: Vec<String>,
    insights: Vec<&'a Insight>,
}

fn lines_of(i: &Insight) -> Vec<String> {
    let mut out = vec![format!(
        "{} ({}, {} snapshot(s) in a row)",
        i.dedup_key, i.status, i.consecutive
    )];
    if let Some(obj) = i.evidence.as_object() {
        for (k, v) in obj {
            if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(format!("{k}: {}", text.chars().take(300).collect::<String>()));
        }
    }
    out
}

/// The rules, in the original's order: each insight it matches becomes a draft candidate.
fn rules<'a>(insights: &'a [Insight], t: &Tuning) -> Vec<Draft<'a>> {
    let mut out = Vec::new();
    let default_constraints = || {
        vec![
            "Keep the change scoped to the identified issue.".to_owned(),
            "Do not expand into unrelated refactors.".to_owned(),
        ]
    };
    let mut draft = |family: Family, i: &'a Insight, pattern: &str, high: bool, title: String, summary: String| {
        out.push(Draft {
            family,
            pattern: pattern.to_owned(),
            subject: i.subject.clone(),
            high,
            title,
            summary,
            constraints: default_constraints(),
            evidence_lines: lines_of(i),
            labels: Vec::new(),
            insights: vec![i],
        });
    };
    for i in insights {
        let n = i.consecutive;
        let count = i.evidence["count"].as_u64().unwrap_or(0) as usize;
        match (i.kind.as_str(), i.status.as_str()) {
            ("observation_coverage", "persistent_unavailable") if n >= t.observation_coverage_min_runs => draft(
                Family::ObservationCoverage,
                i,
                "persistent_unavailable",
                n >= 3,
                format!("Restore the {} signal for the autonomy cycle", i.subject),
                format!(
                    "The autonomy cycle could not read the {} signal in {n} snapshots in a row ({}). Make it observable: \
                     add or fix what the collector needs (for tests, a test command git-oc can run).",
                    i.subject,
                    i.evidence["reason"].as_str().unwrap_or("unavailable")
                ),
            ),
            ("test_status_continuity", "unknown" | "unavailable") if n >= t.test_visibility_min_runs => draft(
                Family::TestVisibility,
                i,
                &format!("{}_persistent", i.status),
                n >= 5,
                "Make the test suite runnable and visible".to_owned(),
                format!(
                    "The tests gave no verdict ({}) in {n} snapshots in a row. Add or repair a test command that runs \
                     quickly and reports pass/fail.",
                    i.status
                ),
            ),
            ("test_status_continuity", "failed") if i.dedup_key.ends_with("|persistent") && n >= t.test_visibility_min_runs => {
                draft(
                    Family::TestVisibility,
                    i,
                    "failed_persistent",
                    n >= 5,
                    "Fix the persistently failing tests".to_owned(),
                    format!(
                        "The test command has failed in {n} snapshots in a row. Find the failing tests and fix the code or the tests."
                    ),
                )
            }
            ("test_status_continuity", "passed_to_failed") => draft(
                Family::TestVisibility,
                i,
                "passed_to_failed",
                true,
                "Fix the tests that started failing".to_owned(),
                format!(
                    "The tests passed in the previous snapshot and fail now (`{}`). Find the change that broke them and fix it.",
                    i.evidence["command"].as_str().unwrap_or("tests")
                ),
            ),
            ("dependency_drift_continuity", "present") if n >= t.dependency_drift_min_runs => draft(
                Family::DependencyDrift,
                i,
                "present",
                n >= 4,
                "Refresh the lockfiles that lag their manifests".to_owned(),
                "A dependency manifest changed after its lockfile was last committed. Regenerate the lockfile, check the \
                 resolved versions, and commit both together."
                    .to_owned(),
            ),
            ("execution_health", pattern) => {
                let (title, summary, high) = match pattern {
                    "high_no_op_rate" => (
                        "Investigate why most agent runs change nothing",
                        "Most recent git-oc runs ended as no-ops. Look at their goals and evidence; sharpen the goals or fix \
                         what keeps the agent from acting.",
                        i.evidence["no_op_rate"].as_f64().unwrap_or(0.0) >= 0.8,
                    ),
                    "repeated_unknown_failures" => (
                        "Investigate the repeated agent failures",
                        "Several recent git-oc runs failed or timed out. Read their evidence and fix the cause (backend \
                         configuration, timeouts, environment).",
                        true,
                    ),
                    _ => (
                        "Fix the validation that keeps failing agent runs",
                        "Recent git-oc runs keep failing validation. Read the validation output in their evidence and fix \
                         the code or the validation command.",
                        true,
                    ),
                };
                draft(Family::ExecutionHealthFollowup, i, pattern, high, title.into(), summary.into());
            }
            ("lint_drift", status) if count >= t.lint_min_violations || status == "worsened" => {
                let overlap = i.evidence["hotspot_overlap"].as_array().is_some_and(|a| !a.is_empty());
                draft(
                    Family::LintFix,
                    i,
                    if status == "worsened" { "worsened" } else { "present" },
                    count >= 20 || overlap,
                    format!("Fix the {count} lint findings of {}", i.subject),
                    format!(
                        "{} reports {count} findings in {} file(s). Fix them without changing behaviour.",
                        i.subject,
                        i.evidence["distinct_files"]
                    ),
                )
            }
            ("type_health", status) if count >= t.type_min_errors || status == "worsened" => draft(
                Family::TypeFix,
                i,
                if status == "worsened" { "worsened" } else { "present" },
                count >= 10,
                format!("Fix the {count} type errors reported by {}", i.subject),
                format!(
                    "{} reports {count} errors in {} file(s). Fix them.",
                    i.subject, i.evidence["distinct_files"]
                ),
            ),
            ("validation_pattern", "repeated_failures") => {
                let tasks = i.evidence["tasks"].as_array().map_or(0, Vec::len);
                draft(
                    Family::ValidationPatternFollowup,
                    i,
                    "repeated_failures",
                    tasks >= 3,
                    "Fix the tasks whose runs keep failing validation".to_owned(),
                    format!(
                        "{tasks} task(s) failed validation in at least two runs. Find the common cause in their evidence and fix it."
                    ),
                )
            }
            ("ci_pattern", status) => draft(
                Family::CiPattern,
                i,
                status,
                status == "failing",
                format!("Fix the {status} CI checks"),
                format!(
                    "CI checks are {status} on the last commits: failing {}, flaky {}.",
                    i.evidence["failing_checks"], i.evidence["flaky_checks"]
                ),
            ),
            ("file_hotspot", "persistent") => draft(
                Family::HotspotConcentration,
                i,
                "persistent",
                false,
                format!("Reduce change concentration in {}", i.subject),
                format!(
                    "{} is among the most changed files in {} snapshots in a row. Consider splitting it or simplifying it.",
                    i.subject, i.consecutive
                ),
            ),
            ("todo_concentration", status) => draft(
                Family::TodoAccumulation,
                i,
                status,
                false,
                "Resolve accumulated TODO and FIXME markers".to_owned(),
                format!(
                    "TODO/FIXME markers {} (TODO {}, FIXME {}). Resolve or file the most important ones.",
                    if status == "increased" { "increased" } else { "are present" },
                    i.evidence["todo_count"],
                    i.evidence["fixme_count"]
                ),
            ),
            ("backlog_item" | "arch_backlog_item", _) => {
                let arch = i.kind == "arch_backlog_item";
                let title = i.evidence["title"].as_str().unwrap_or(&i.subject).to_owned();
                let file = i.evidence["file"].as_str().unwrap_or("the backlog");
                draft(
                    if arch { Family::ArchPromotion } else { Family::BacklogPromotion },
                    i,
                    "next",
                    false,
                    title.clone(),
                    format!(
                        "{title}\n\nThis is an open item of the `## Next` section of {file} (line {}){}. \
                         Do it, then remove it from the backlog in the same change.",
                        i.evidence["line"],
                        if arch { "; it changes the architecture, so agree on the design before the code" } else { "" }
                    ),
                );
            }
            ("coverage_gap", status) => {
                let percent = i.evidence["percent"].as_f64().map_or("unknown".to_owned(), |p| format!("{p}%"));
                let files = i.evidence["uncovered_files"].as_array().map(|a| {
                    a.iter().take(5).filter_map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
                });
                let (title, summary) = if status == "low_overall" {
                    (
                        format!("Raise the test coverage ({percent} of lines)"),
                        format!(
                            "Line coverage is {percent} ({} report), below {}%. Add tests for the least covered code first: {}.",
                            i.evidence["report"].as_str().unwrap_or("the"),
                            t.coverage_min_percent,
                            files.unwrap_or_default()
                        ),
                    )
                } else {
                    (
                        format!("Cover the {} files below {}% line coverage", i.evidence["files_below_threshold"], t.coverage_file_min_percent),
                        format!(
                            "{} files are below {}% line coverage (overall {percent}). Add tests for them, least covered first: {}.",
                            i.evidence["files_below_threshold"],
                            t.coverage_file_min_percent,
                            files.unwrap_or_default()
                        ),
                    )
                };
                draft(Family::CoverageGap, i, status, false, title, summary);
            }
            ("theme", status @ ("lint_cluster" | "type_cluster")) => {
                let what = if status == "lint_cluster" { "findings" } else { "errors" };
                let files = i.evidence["files"].as_array().map_or(0, Vec::len);
                draft(
                    Family::LintCluster,
                    i,
                    status,
                    true,
                    format!("Fix every {} {what} ({} of them)", i.subject, i.evidence["count"]),
                    format!(
                        "{} has reported {} {what} of {} in {n} snapshots in a row, in {files} file(s). Fix them all in one \
                         change, without changing behaviour, or configure the rule off if the project disagrees with it.",
                        i.evidence["tool"].as_str().unwrap_or("the linter"),
                        i.evidence["count"],
                        i.subject
                    ),
                );
            }
            _ => {}
        }
    }
    // Backlog items keep the original's labels: where they come from and their type.
    for d in &mut out {
        if matches!(d.family, Family::BacklogPromotion | Family::ArchPromotion) {
            let item_type = d.insights[0].evidence["type"].as_str().unwrap_or("task");
            d.labels = vec!["source: backlog".to_owned(), format!("type: {item_type}")];
        }
    }
    out
}

/// Candidates emitted and suppressed, in the order decided.
pub fn decide(insights: &[Insight], t: &Tuning, cx: &Context) -> (Vec<Candidate>, Vec<Suppressed>) {
    let mut drafts = rules(insights, t);
    // Higher confidence first, then tier, then the families' order: what survives the quotas.
    drafts.sort_by(|a, b| {
        b.high
            .cmp(&a.high)
            .then_with(|| b.family.tier().cmp(&a.family.tier()))
            .then_with(|| a.family.cmp(&b.family))
    });
    let in_cycle: BTreeSet<Family> = drafts.iter().map(|d| d.family).collect();
    let now = cx.now.unwrap_or_else(crate::contracts::Timestamp::now);
    let cooldown_start = now.as_micros()
        - i64::try_from(t.cooldown_minutes)
            .unwrap_or(i64::MAX / 60_000_000)
            .saturating_mul(60_000_000);
    let recent = |pred: &dyn Fn(&(String, Family, crate::contracts::Timestamp)) -> bool| {
        cx.recent_emitted
            .iter()
            .find(|e| e.2.as_micros() >= cooldown_start && pred(e))
            .map(|e| e.2)
    };
    let (mut emitted, mut suppressed) = (Vec::<Candidate>::new(), Vec::new());
    let mut per_family: BTreeMap<Family, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for d in drafts {
        let dedup_key = format!("candidate|{}|{}|{}", d.family.as_str(), d.subject, d.pattern);
        let upstream = d.family.upstream();
        let reason: Option<(&str, String)> = if t.disabled.contains(&d.family) {
            Some(("family_disabled", "listed in [autonomy] disabled_families".into()))
        } else if !t.allowed.contains(&d.family) {
            Some((
                "family_deferred_initial_gating",
                "not an allowed family: run with --all-families or list it in [autonomy] families".into(),
            ))
        } else if let Some(up) = upstream.filter(|u| in_cycle.contains(u)) {
            Some((
                "upstream_family_in_cycle",
                format!("{} comes first and has a candidate in this cycle", up.as_str()),
            ))
        } else if let Some(at) = upstream.and_then(|up| recent(&|e| e.1 == up)) {
            Some((
                "upstream_family_recently_emitted",
                format!(
                    "{} was proposed at {at}, within the cooldown",
                    upstream.map_or("", Family::as_str)
                ),
            ))
        } else if seen.contains(&dedup_key) {
            Some(("duplicate_in_run", "the same candidate twice in this cycle".into()))
        } else if let Some(at) = recent(&|e| e.0 == dedup_key) {
            Some((
                "cooldown_active",
                format!("emitted at {at}, less than {} minutes ago", t.cooldown_minutes),
            ))
        } else if let Some(task) = cx.board.as_ref().and_then(|b| {
            b.open_keys
                .get(&key_hash(&dedup_key))
                .or_else(|| b.open_titles.get(&d.title.to_lowercase()))
        }) {
            Some(("existing_open_equivalent_task", format!("task {task} is open for it")))
        } else if let Some(task) = matches!(d.family, Family::BacklogPromotion | Family::ArchPromotion)
            .then(|| cx.board.as_ref().and_then(|b| b.closed_keys.get(&key_hash(&dedup_key))))
            .flatten()
        {
            Some((
                "backlog_item_already_promoted",
                format!("task {task} was done or cancelled for it: remove the item from the backlog file"),
            ))
        } else if let Some(b) = cx.board.as_ref().filter(|b| b.queued >= t.max_queued) {
            Some((
                "board_saturated",
                format!("{} open autonomy tasks, the limit is {}", b.queued, t.max_queued),
            ))
        } else if per_family.get(&d.family).copied().unwrap_or(0) >= 1 {
            Some(("family_quota_exceeded", "one candidate per family and cycle".into()))
        } else if emitted.len() >= t.max_candidates {
            Some((
                "quota_exceeded",
                format!("at most {} candidates per cycle", t.max_candidates),
            ))
        } else {
            None
        };
        seen.insert(dedup_key.clone());
        if let Some((reason, detail)) = reason {
            suppressed.push(Suppressed {
                dedup_key,
                family: d.family,
                subject: d.subject,
                title: d.title,
                reason: reason.into(),
                detail,
            });
            continue;
        }
        *per_family.entry(d.family).or_default() += 1;
        let mut insight_ids: Vec<String> = d.insights.iter().map(|i| i.id.clone()).collect();
        insight_ids.dedup();
        let mut run_ids: Vec<String> = d.insights.iter().flat_map(|i| i.run_ids.clone()).collect();
        run_ids.dedup();
        let observation_ids = d
            .insights
            .first()
            .map(|i| i.observation_ids.clone())
            .unwrap_or_default();
        emitted.push(Candidate {
            candidate_id: format!("cand_{}", &key_hash(&dedup_key)[..12]),
            dedup_key,
            family: d.family,
            subject: d.subject,
            pattern: d.pattern,
            confidence: confidence(d.high),
            risk_class: d.family.risk_class().into(),
            tier: d.family.tier(),
            validation_profile: d.family.validation_profile().into(),
            title: d.title,
            summary: d.summary,
            constraints: d.constraints,
            evidence_lines: d.evidence_lines,
            labels: d.labels,
            insight_ids,
            observation_ids,
            run_ids,
        });
    }
    (emitted, suppressed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autonomy::insights::derive;
    use crate::autonomy::observe::{CountSignal, Snapshot};
    use crate::contracts::Timestamp;

    fn tuning() -> Tuning {
        Tuning {
            observation_coverage_min_runs: 2,
            test_visibility_min_runs: 3,
            dependency_drift_min_runs: 2,
            lint_min_violations: 5,
            type_min_errors: 3,
            validation_failure_threshold: 2,
            coverage_min_percent: 60.0,
            coverage_file_min_percent: 80.0,
            coverage_min_uncovered_files: 3,
            lint_cluster_min_runs: 3,
            max_candidates: 3,
            cooldown_minutes: 120,
            max_create: 2,
            max_queued: 15,
            allowed: FAMILIES.into_iter().filter(|f| f.is_default()).collect(),
            disabled: BTreeSet::new(),
        }
    }

    fn snap(id: &str, edit: impl FnOnce(&mut Snapshot)) -> Snapshot {
        let mut s = Snapshot {
            id: id.into(),
            ..Snapshot::default()
        };
        s.repo.name = "svc".into();
        s.signals.test.status = "passed".into();
        edit(&mut s);
        s
    }

    fn lint(count: usize) -> CountSignal {
        let findings: Vec<(String, String)> = (0..count).map(|i| ("clippy::x".into(), format!("f{i}.rs"))).collect();
        CountSignal::from_findings("cargo clippy", "violations", &findings)
    }

    #[test]
    fn cooldown_runs_from_the_injected_clock() {
        let cur = snap("o2", |s| s.signals.lint = lint(6));
        let insights = derive(&cur, &[], &tuning());
        let (emitted, _) = decide(&insights, &tuning(), &Context::default());
        assert_eq!(emitted.len(), 1);
        let key = emitted[0].dedup_key.clone();
        let at = Timestamp::from_micros(1_000_000_000_000_000);
        let minutes = |m: i64| Timestamp::from_micros(at.as_micros() + m * 60_000_000);
        let cx = |now| Context {
            recent_emitted: vec![(key.clone(), Family::LintFix, at)],
            now: Some(now),
            board: None,
        };
        let (e, s) = decide(&insights, &tuning(), &cx(minutes(119)));
        assert!(e.is_empty());
        assert_eq!(s[0].reason, "cooldown_active");
        let (e, _) = decide(&insights, &tuning(), &cx(minutes(121)));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn lint_comes_before_types_and_thresholds_are_tunable() {
        let cur = snap("o1", |s| {
            s.signals.lint = lint(5);
            s.signals.types =
                CountSignal::from_findings("rustc", "errors", &vec![("E1".to_owned(), "a.rs".to_owned()); 3]);
        });
        let insights = derive(&cur, &[], &tuning());
        let (e, s) = decide(&insights, &tuning(), &Context::default());
        assert_eq!(e.iter().map(|c| c.family).collect::<Vec<_>>(), [Family::LintFix]);
        assert_eq!(s[0].reason, "upstream_family_in_cycle");
        let mut t = tuning();
        t.lint_min_violations = 6;
        let (e, _) = decide(&insights, &t, &Context::default());
        assert_eq!(e.iter().map(|c| c.family).collect::<Vec<_>>(), [Family::TypeFix]);
    }

    #[test]
    fn a_worsening_lint_count_is_proposed_below_the_threshold() {
        let old = snap("o1", |s| s.signals.lint = lint(1));
        let cur = snap("o2", |s| s.signals.lint = lint(2));
        let insights = derive(&cur, std::slice::from_ref(&old), &tuning());
        let (e, _) = decide(&insights, &tuning(), &Context::default());
        assert_eq!(e[0].pattern, "worsened");
    }

    #[test]
    fn mostly_no_op_runs_are_an_execution_health_candidate_with_their_run_ids() {
        let cur = snap("o1", |s| {
            let h = &mut s.signals.execution_health;
            h.total_runs = 5;
            h.no_op = 4;
            h.executed = 1;
            h.runs_by_outcome
                .insert("no_op".into(), vec!["r1".into(), "r2".into(), "r3".into(), "r4".into()]);
        });
        let insights = derive(&cur, &[], &tuning());
        let (e, _) = decide(&insights, &tuning(), &Context::default());
        assert_eq!(e[0].family, Family::ExecutionHealthFollowup);
        assert_eq!(e[0].pattern, "high_no_op_rate");
        assert_eq!(e[0].confidence, "high");
        assert_eq!(e[0].run_ids, ["r1", "r2", "r3", "r4"]);
    }

    #[test]
    fn at_most_three_lint_clusters_once_persistent_and_the_runs_are_tunable() {
        let many = || {
            let findings: Vec<(String, String)> = (0..5)
                .flat_map(|c| (0..2).map(move |f| (format!("C{c}"), format!("f{f}.py"))))
                .collect();
            CountSignal::from_findings("ruff", "violations", &findings)
        };
        let older: Vec<Snapshot> = ["o2", "o1"]
            .iter()
            .map(|id| snap(id, |s| s.signals.lint = many()))
            .collect();
        let cur = snap("o3", |s| s.signals.lint = many());
        let themes =
            |t: &Tuning, older: &[Snapshot]| derive(&cur, older, t).into_iter().filter(|i| i.kind == "theme").count();
        assert_eq!(themes(&tuning(), &older), 3);
        assert_eq!(themes(&tuning(), &older[..1]), 0);
        let mut t = tuning();
        t.lint_cluster_min_runs = 2;
        assert_eq!(themes(&t, &older[..1]), 3);
    }

    #[test]
    fn the_drift_family_has_one_name_and_the_original_spelling_is_accepted() {
        assert_eq!(
            Family::parse("dependency_drift_followup"),
            Some(Family::DependencyDrift)
        );
        assert!(Family::DependencyDrift.is_default());
        assert!(!Family::CiPattern.is_default());
        assert_eq!(key_hash("x"), key_hash("x"));
        assert_ne!(key_hash("x"), key_hash("y"));
    }
}
