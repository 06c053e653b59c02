//! The SwitchBoard client: `POST {url}/route` with the proposal JSON, answered by a CxRP
//! `lane_decision` envelope (schema `0.x`).

use std::time::Duration;

use serde_json::Value;

use crate::contracts::{BackendName, LaneDecision, LaneName, TaskProposal, Timestamp};

/// Why SwitchBoard could not give a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchBoardError {
    /// Could not connect, or the request timed out: a fallback may apply.
    Unavailable(String),
    /// It answered, but not with a decision git-oc can use.
    Rejected(String),
}

impl std::fmt::Display for SwitchBoardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwitchBoardError::Unavailable(m) | SwitchBoardError::Rejected(m) => f.write_str(m),
        }
    }
}

/// Ask SwitchBoard at `base_url` to route `proposal`. Credentials in the URL are sent, never
/// shown: every message has them replaced by `[REDACTED]`.
pub fn route(base_url: &str, proposal: &TaskProposal, timeout: Duration) -> Result<LaneDecision, SwitchBoardError> {
    let redact = |m: String| crate::execution::secrets::redact_urls(&m).into_owned();
    request(base_url, proposal, timeout).map_err(|e| match e {
        SwitchBoardError::Unavailable(m) => SwitchBoardError::Unavailable(redact(m)),
        SwitchBoardError::Rejected(m) => SwitchBoardError::Rejected(redact(m)),
    })
}

fn request(base_url: &str, proposal: &TaskProposal, timeout: Duration) -> Result<LaneDecision, SwitchBoardError> {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}/route");
    let body = serde_json::to_string(proposal).map_err(|e| SwitchBoardError::Rejected(e.to_string()))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.post(&url).header("Content-Type", "application/json").send(body);
    let mut response = match response {
        Ok(r) => r,
        Err(ureq::Error::Timeout(_)) => {
            return Err(SwitchBoardError::Unavailable(format!(
                "SwitchBoard request timed out at {base} after {}s",
                timeout.as_secs_f64()
            )));
        }
        Err(e @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound)) => {
            return Err(SwitchBoardError::Unavailable(format!(
                "SwitchBoard unreachable at {base}: {e}"
            )));
        }
        Err(e) => {
            return Err(SwitchBoardError::Rejected(format!(
                "SwitchBoard request to {url} failed: {e}"
            )));
        }
    };
    let status = response.status().as_u16();
    let text = match response.body_mut().read_to_string() {
        Ok(t) => t,
        Err(ureq::Error::Timeout(_)) => {
            return Err(SwitchBoardError::Unavailable(format!(
                "SwitchBoard request timed out at {base}"
            )));
        }
        Err(e) => {
            return Err(SwitchBoardError::Rejected(format!(
                "could not read SwitchBoard's answer: {e}"
            )));
        }
    };
    if !(200..300).contains(&status) {
        return Err(SwitchBoardError::Rejected(format!(
            "SwitchBoard answered {status}: {}",
            detail(&text)
        )));
    }
    let payload: Value = serde_json::from_str(&text)
        .map_err(|e| SwitchBoardError::Rejected(format!("SwitchBoard's answer is not JSON: {e}")))?;
    decode_lane_decision(&payload)
}

/// The server's explanation of an error: FastAPI's `detail`, else the body.
fn detail(body: &str) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Ok(v) => match v.get("detail") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|i| {
                    let loc = i.get("loc").map(|l| l.to_string()).unwrap_or_default();
                    let msg = i.get("msg").and_then(Value::as_str).unwrap_or("");
                    format!("{loc}: {msg}")
                })
                .collect::<Vec<_>>()
                .join("; "),
            Some(other) => other.to_string(),
            None => v.to_string(),
        },
        Err(_) => body.trim().to_owned(),
    };
    let text: String = text.chars().take(500).collect();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text.replace(['\n', '\r'], " ")
    }
}

/// Decode a CxRP `lane_decision` envelope the way the reference client does.
pub fn decode_lane_decision(payload: &Value) -> Result<LaneDecision, SwitchBoardError> {
    let kind = payload.get("contract_kind").and_then(Value::as_str);
    let version = payload.get("schema_version").and_then(Value::as_str);
    if kind != Some("lane_decision") || !version.is_some_and(|v| v.starts_with("0.")) {
        return Err(SwitchBoardError::Rejected(format!(
            "unexpected /route response shape: expected a CxRP LaneDecision envelope (contract_kind='lane_decision', \
             schema_version='0.x'), got contract_kind={}, schema_version={}",
            kind.map_or("None".to_owned(), |k| format!("'{k}'")),
            version.map_or("None".to_owned(), |v| format!("'{v}'"))
        )));
    }
    let field = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(executor), Some(backend)) = (field("executor"), field("backend")) else {
        return Err(SwitchBoardError::Rejected(
            "CxRP LaneDecision missing executor/backend; git-oc requires both to choose a lane and a backend".into(),
        ));
    };
    let lane: LaneName = executor.parse().map_err(|e: String| SwitchBoardError::Rejected(e))?;
    let backend: BackendName = backend.parse().map_err(|e: String| SwitchBoardError::Rejected(e))?;
    let metadata = payload.get("metadata").cloned().unwrap_or(Value::Null);
    let alternatives = payload
        .get("alternatives")
        .and_then(Value::as_array)
        .map(|alts| {
            alts.iter()
                .filter_map(|a| a.get("executor").and_then(Value::as_str))
                .map(|e| e.parse::<LaneName>().map_err(SwitchBoardError::Rejected))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(LaneDecision {
        decision_id: field("decision_id").unwrap_or_else(crate::contracts::new_id),
        proposal_id: field("proposal_id").unwrap_or_default(),
        selected_lane: lane,
        selected_backend: backend,
        confidence: payload.get("confidence").and_then(Value::as_f64).unwrap_or(1.0),
        policy_rule_matched: metadata
            .get("policy_rule_matched")
            .and_then(Value::as_str)
            .map(str::to_owned),
        rationale: field("rationale").filter(|r| !r.is_empty()),
        alternatives_considered: alternatives,
        // SwitchBoard's created_at is ignored, as the reference does: the decision is timed here.
        decided_at: Timestamp::now(),
        switchboard_version: metadata
            .get("switchboard_version")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_envelope_switchboard_sends() {
        let payload: Value = serde_json::from_str(
            r#"{"schema_version":"0.3","contract_kind":"lane_decision","created_at":"2026-11-24T23:33:10.250691+00:00",
 "metadata":{"policy_rule_matched":"medium_implementation"},
 "decision_id":"2fa77acc-911c-498e-8630-5bdff6a3ee8a","proposal_id":"prop-0002",
 "lane":"coding_agent","executor":"claude_cli","backend":"kodo",
 "rationale":"task_type=bug_fix, risk_level=medium → lane=claude_cli, backend=kodo [rule: medium_implementation]",
 "confidence":0.9,
 "alternatives":[{"lane":"coding_agent","executor":"aider_local","backend":null,"confidence":0.0,"reason":""}],
 "execution_target":{"lane":"coding_agent","backend":"kodo","executor":"claude_cli","runtime_binding":null}}"#,
        )
        .unwrap();
        let d = decode_lane_decision(&payload).unwrap();
        assert_eq!(d.selected_lane, LaneName::ClaudeCli);
        assert_eq!(d.selected_backend, BackendName::Kodo);
        assert_eq!(d.confidence, 0.9);
        assert_eq!(d.policy_rule_matched.as_deref(), Some("medium_implementation"));
        assert_eq!(d.alternatives_considered, [LaneName::AiderLocal]);
        assert_eq!(d.switchboard_version, None);
        assert_eq!(d.decision_id, "2fa77acc-911c-498e-8630-5bdff6a3ee8a");
    }

    #[test]
    fn rejects_other_shapes() {
        let wrong_kind: Value = serde_json::json!({"contract_kind": "task_proposal", "schema_version": "0.3"});
        assert!(
            matches!(decode_lane_decision(&wrong_kind), Err(SwitchBoardError::Rejected(m)) if m.contains("contract_kind='task_proposal'"))
        );
        let v1: Value = serde_json::json!({"contract_kind": "lane_decision", "schema_version": "1.0"});
        assert!(decode_lane_decision(&v1).is_err());
        let old_shape: Value = serde_json::json!({"selected_lane": "claude_cli", "selected_backend": "kodo"});
        assert!(
            matches!(decode_lane_decision(&old_shape), Err(SwitchBoardError::Rejected(m)) if m.contains("contract_kind=None"))
        );
        let no_backend: Value =
            serde_json::json!({"contract_kind": "lane_decision", "schema_version": "0.3", "executor": "claude_cli"});
        assert!(
            matches!(decode_lane_decision(&no_backend), Err(SwitchBoardError::Rejected(m)) if m.contains("missing executor/backend"))
        );
        let unknown: Value = serde_json::json!({"contract_kind": "lane_decision", "schema_version": "0.3", "executor": "gpt_cli", "backend": "kodo"});
        assert!(decode_lane_decision(&unknown).is_err());
    }

    #[test]
    fn error_details_come_from_fastapi_bodies() {
        assert_eq!(detail(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            detail(r#"{"detail":[{"type":"missing","loc":["body","task_id"],"msg":"Field required"}]}"#),
            r#"["body","task_id"]: Field required"#
        );
        assert_eq!(detail("Internal Server Error"), "Internal Server Error");
    }
}
