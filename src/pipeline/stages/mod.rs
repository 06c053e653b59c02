//! One module per stage, in the order a full run passes through them.

pub mod agent;
pub mod commit;
pub mod post_run_gate;
pub mod pre_run_gate;
pub mod publish;
pub mod record;
pub mod snapshot;
pub mod validation;
pub mod workspace;

pub use agent::Agent;
pub use commit::Commit;
pub use post_run_gate::PostRunGate;
pub use pre_run_gate::PreRunGate;
pub use publish::Publish;
pub use record::Record;
pub use snapshot::SnapshotStage;
pub use validation::Validation;
pub use workspace::Workspace;
