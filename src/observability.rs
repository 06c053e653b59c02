//! Observability: a result becomes a normalized `ExecutionRecord`, and the record an
//! `ExecutionTrace` with a headline, a summary and the warnings a reviewer should see.

use serde_json::{Map, Value};

use crate::contracts::{
    ArtifactIndex, ArtifactType, BackendDetailRef, ChangedFilesEvidence, ChangedFilesStatus, ExecutionArtifact,
    ExecutionRecord, ExecutionResult, ExecutionTrace, FailureReasonCategory, Timestamp, ValidationEvidence,
    ValidationStatus, ValidationSummary, new_id, prefix_chars,
};

const PRIMARY_TYPES: [ArtifactType; 3] = [ArtifactType::Diff, ArtifactType::Patch, ArtifactType::ValidationReport];

pub fn index_artifacts(artifacts: &[ExecutionArtifact]) -> ArtifactIndex {
    let (primary, supplemental): (Vec<_>, Vec<_>) = artifacts
        .iter()
        .cloned()
        .partition(|a| PRIMARY_TYPES.contains(&a.artifact_type));
    let mut counts = Map::new();
    for a in artifacts {
        let key = a.artifact_type.as_str().to_owned();
        let n = counts.get(&key).and_then(Value::as_u64).unwrap_or(0) + 1;
        counts.insert(key, Value::from(n));
    }
    let mut present: Vec<String> = counts.keys().cloned().collect();
    present.sort();
    ArtifactIndex {
        primary_artifacts: primary,
        supplemental_artifacts: supplemental,
        artifact_counts: counts,
        artifact_types_present: present,
    }
}

/// How much the changed-file list of a result can be trusted, by where it came from.
pub fn normalize_changed_files(result: &ExecutionResult) -> ChangedFilesEvidence {
    let src = result.changed_files_source.as_deref().unwrap_or("").trim().to_owned();
    let conf = result.changed_files_confidence;
    let files = result.changed_files.clone();
    let evidence = |status, files, source: &str, confidence: f64, notes: Option<&str>| ChangedFilesEvidence {
        status,
        files,
        source: source.to_owned(),
        confidence,
        notes: notes.map(str::to_owned),
    };
    let or = |s: &str, default: &str| if s.is_empty() { default.to_owned() } else { s.to_owned() };
    match result.failure_category {
        Some(FailureReasonCategory::PolicyBlocked) => {
            return evidence(
                ChangedFilesStatus::NotApplicable,
                Vec::new(),
                "policy_blocked",
                1.0,
                Some("Execution was blocked by policy; no files were changed."),
            );
        }
        Some(FailureReasonCategory::UnsupportedRequest) => {
            return evidence(
                ChangedFilesStatus::NotApplicable,
                Vec::new(),
                "adapter_unsupported",
                1.0,
                Some("Execution did not run because the selected adapter could not support the request."),
            );
        }
        Some(FailureReasonCategory::NoChanges) => {
            return evidence(
                ChangedFilesStatus::None,
                files,
                &or(&src, "backend_confirmed_empty"),
                conf.unwrap_or(1.0),
                Some("Execution completed with authoritative evidence of no file changes."),
            );
        }
        _ => {}
    }
    let authoritative = src == "git_diff" || src == "backend_manifest";
    if authoritative && !files.is_empty() {
        evidence(ChangedFilesStatus::Known, files, &src, conf.unwrap_or(1.0), None)
    } else if authoritative {
        evidence(
            ChangedFilesStatus::None,
            files,
            &src,
            conf.unwrap_or(1.0),
            Some("Authoritative diff evidence confirms no files were changed."),
        )
    } else if src == "event_stream" && !files.is_empty() {
        evidence(
            ChangedFilesStatus::Inferred,
            files,
            &src,
            conf.unwrap_or(0.5),
            Some("Changed-file list was inferred from backend event data."),
        )
    } else if !files.is_empty() {
        evidence(
            ChangedFilesStatus::Unknown,
            files,
            &or(&src, "unspecified"),
            conf.unwrap_or(0.0),
            Some("Changed-file list was present without trustworthy provenance; certainty was not upgraded."),
        )
    } else {
        evidence(
            ChangedFilesStatus::Unknown,
            files,
            &or(&src, "none"),
            conf.unwrap_or(0.0),
            Some("Backend did not report changed files."),
        )
    }
}

pub fn normalize_validation(summary: &ValidationSummary) -> ValidationEvidence {
    ValidationEvidence {
        status: summary.status,
        checks_run: summary.commands_run,
        checks_passed: summary.commands_passed,
        checks_failed: summary.commands_failed,
        summary: summary.failure_excerpt.clone(),
        artifact_refs: Vec::new(),
    }
}

pub fn record(
    result: &ExecutionResult,
    backend: &str,
    lane: &str,
    detail_refs: Vec<BackendDetailRef>,
    notes: &str,
    metadata: Map<String, Value>,
) -> ExecutionRecord {
    ExecutionRecord {
        record_id: new_id(),
        run_id: result.run_id.clone(),
        proposal_id: result.proposal_id.clone(),
        decision_id: result.decision_id.clone(),
        result: result.clone(),
        recorded_at: Timestamp::now(),
        backend: Some(backend.to_owned()),
        lane: Some(lane.to_owned()),
        artifact_index: index_artifacts(&result.artifacts),
        changed_files_evidence: normalize_changed_files(result),
        validation_evidence: normalize_validation(&result.validation),
        backend_detail_refs: detail_refs,
        notes: notes.to_owned(),
        metadata,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn headline(record: &ExecutionRecord) -> String {
    format!(
        "{} | {} @ {} | run={}",
        record.result.status.headline_form(),
        record.backend.as_deref().unwrap_or("unknown"),
        record.lane.as_deref().unwrap_or("unknown"),
        prefix_chars(&record.run_id, 8)
    )
}

pub fn summary(record: &ExecutionRecord) -> String {
    let result = &record.result;
    let cf = &record.changed_files_evidence;
    let mut parts = vec![format!("Run {}", prefix_chars(&record.run_id, 8))];
    if result.success {
        parts.push(match cf.status {
            ChangedFilesStatus::Known => format!("changed {}", plural(cf.files.len(), "file", "files")),
            ChangedFilesStatus::Inferred => format!("changed {} (inferred)", plural(cf.files.len(), "file", "files")),
            ChangedFilesStatus::None => "completed with no file changes".to_owned(),
            _ => "succeeded".to_owned(),
        });
        if let Some(stat) = result.diff_stat_excerpt.as_deref().filter(|s| !s.is_empty()) {
            parts.push(stat.to_owned());
        }
    } else if let Some(reason) = result.failure_reason.as_deref().filter(|s| !s.is_empty()) {
        parts.push(format!("failed: {}", prefix_chars(reason, 120)));
    } else if let Some(category) = result.failure_category {
        parts.push(format!("failed ({category})"));
    } else {
        parts.push(format!("failed ({})", result.status));
    }
    if result.validation.status != ValidationStatus::Skipped {
        parts.push(format!(
            "validation={} ({}/{} passed)",
            result.validation.status, result.validation.commands_passed, result.validation.commands_run
        ));
    }
    parts.join("; ")
}

pub fn changed_files_summary(cf: &ChangedFilesEvidence) -> String {
    let n = cf.files.len();
    match cf.status {
        ChangedFilesStatus::Known => format!("{} changed (source: {})", plural(n, "file", "files"), cf.source),
        ChangedFilesStatus::Inferred => format!("{} changed (inferred from {})", plural(n, "file", "files"), cf.source),
        ChangedFilesStatus::None => format!("no files changed (source: {})", cf.source),
        ChangedFilesStatus::NotApplicable => "not applicable (execution did not run)".to_owned(),
        ChangedFilesStatus::Unknown => "unknown (backend did not report changed files)".to_owned(),
    }
}

/// Every warning the trace can carry, in the reference's order; each is emitted only when true.
pub fn warnings(record: &ExecutionRecord) -> Vec<String> {
    let mut out = Vec::new();
    match record.changed_files_evidence.status {
        ChangedFilesStatus::Inferred => {
            out.push("changed-file manifest is inferred from backend event data and is not authoritative".to_owned())
        }
        ChangedFilesStatus::Unknown => {
            out.push("changed-file manifest unavailable; backend did not report file changes".to_owned())
        }
        _ => {}
    }
    if record.validation_evidence.status == ValidationStatus::Skipped {
        out.push("validation was skipped for this run".to_owned());
    }
    if record.artifact_index.primary_artifacts.is_empty() {
        out.push("no primary artifacts produced by this run".to_owned());
    }
    if record.result.failure_category == Some(FailureReasonCategory::NoChanges) {
        out.push("run completed with no file changes".to_owned());
    }
    if let Some(r) = &record.result.runtime_invocation_ref {
        for (label, path) in [
            ("stdout_path", &r.stdout_path),
            ("stderr_path", &r.stderr_path),
            ("artifact_directory", &r.artifact_directory),
        ] {
            if let Some(p) = path.as_deref().filter(|p| !p.is_empty())
                && !std::path::Path::new(p).exists()
            {
                out.push(format!("runtime_invocation_ref.{label} no longer exists on disk: {p}"));
            }
        }
    }
    out
}

pub fn build_trace(record: &ExecutionRecord) -> ExecutionTrace {
    let object = |key: &str| match record.metadata.get(key) {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    ExecutionTrace {
        trace_id: new_id(),
        record_id: record.record_id.clone(),
        headline: headline(record),
        status: record.result.status,
        summary: summary(record),
        key_artifacts: record.artifact_index.primary_artifacts.clone(),
        changed_files_summary: changed_files_summary(&record.changed_files_evidence),
        validation_summary: record.validation_evidence.clone(),
        warnings: warnings(record),
        backend_detail_refs: record.backend_detail_refs.clone(),
        runtime_invocation_ref: record.result.runtime_invocation_ref.clone(),
        routing: object("routing"),
        provenance: object("provenance"),
        generated_at: Timestamp::now(),
    }
}
