//! The demo's stub backend: writes one small artifact into the workspace, runs nothing else.

use std::path::Path;

use super::secrets::Redactor;

use crate::contracts::{
    ArtifactType, ExecutionArtifact, ExecutionRequest, ExecutionResult, ExecutionStatus, FailureReasonCategory,
    Timestamp, new_id,
};

pub const ARTIFACT_PATH: &str = "artifacts/demo_result.txt";
pub const BACKEND_LABEL: &str = "demo_stub";

pub struct DemoStubAdapter;

impl super::Adapter for DemoStubAdapter {
    fn display_name(&self) -> &str {
        "DemoStubBackendAdapter"
    }

    fn execute(&self, ctx: &super::AdapterContext) -> super::AdapterRun {
        super::AdapterRun {
            result: self.write_artifact(ctx.request, ctx.workspace, ctx.redactor),
            capture: None,
        }
    }
}

impl DemoStubAdapter {
    fn write_artifact(&self, request: &ExecutionRequest, workspace: &Path, redactor: &Redactor) -> ExecutionResult {
        let dir = workspace.join("artifacts");
        let file = workspace.join(ARTIFACT_PATH);
        let content = format!(
            "OperationsCenter demo execution\nrun_id:    {}\ngoal:      {}\nrepo_key:  {}\nbackend:   {}\ncompleted: {}\n",
            request.run_id,
            // The artifact is committed: a secret typed into the goal must not be.
            redactor.redact(&request.goal_text),
            request.repo_key,
            BACKEND_LABEL,
            Timestamp::now().isoformat()
        );
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, content)) {
            let path = if dir.is_dir() { file } else { dir };
            return ExecutionResult::failed(
                request,
                ExecutionStatus::Failed,
                FailureReasonCategory::BackendError,
                format!(
                    "DemoStubBackendAdapter could not write artifact: {} ({})",
                    e,
                    path.display()
                ),
            );
        }
        let mut result = ExecutionResult::new(request, ExecutionStatus::Succeeded, true);
        result.artifacts.push(ExecutionArtifact {
            artifact_id: new_id(),
            artifact_type: ArtifactType::LogExcerpt,
            label: "demo artifact".to_owned(),
            content: None,
            uri: Some(
                Path::new(&request.workspace_path)
                    .join(ARTIFACT_PATH)
                    .display()
                    .to_string(),
            ),
            size_bytes: None,
            produced_at: Timestamp::now(),
        });
        result.completed_at = Timestamp::now();
        result
    }
}
