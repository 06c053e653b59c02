//! The publish stage: pushing the run branch and its evidence and opening a pull request. Empty
//! until publishing exists; a run that reaches it has passed both gates.

use crate::error::Result;
use crate::pipeline::{Env, Flow, RunState, Stage, StageName};

pub struct Publish;

impl Stage for Publish {
    fn name(&self) -> StageName {
        StageName::Publish
    }

    fn run(&self, _state: &mut RunState, _env: &Env) -> Result<Flow> {
        Ok(Flow::Continue)
    }
}
