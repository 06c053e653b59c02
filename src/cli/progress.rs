//! Progress of a run on stderr, rendered from the run's events: a line when it starts, the
//! stages with `-vv`, and the agent's and validation's output as it arrives with `-v`.

use std::cell::RefCell;

use super::ui::Ui;
use crate::pipeline::{Event, Observer};

pub struct Progress<'u> {
    ui: RefCell<&'u mut Ui>,
    stream: bool,
    stages: bool,
}

impl<'u> Progress<'u> {
    pub fn new(ui: &'u mut Ui) -> Self {
        let stream = ui.verbose() > 0 && !ui.is_json();
        let stages = ui.verbose() > 1;
        Progress {
            ui: RefCell::new(ui),
            stream,
            stages,
        }
    }
}

impl Observer for Progress<'_> {
    fn event(&self, event: &Event) {
        let mut ui = self.ui.borrow_mut();
        match event {
            Event::Started { branch, backend, .. } => ui.status(&format!("git-oc: running {backend} on {branch}")),
            Event::StageStarted(stage) if self.stages => ui.status(&format!("git-oc: {}", stage.as_str())),
            Event::StageFinished { stage, elapsed } if self.stages => ui.status(&format!(
                "git-oc: {} done in {} ms",
                stage.as_str(),
                elapsed.as_millis()
            )),
            Event::Output { bytes, .. } if self.stream => ui.stream(bytes),
            Event::Warning(text) if ui.shows_progress() => ui.warning(text),
            _ => {}
        }
    }

    fn wants_output(&self) -> bool {
        self.stream
    }
}
