//! Progress of a run on stderr, rendered from the run's events. On a terminal: one live line,
//! redrawn as the run goes (the stage, its elapsed time, what is running and its last output
//! line), cleared at the end. With `-v`: a line per stage start and the agent's and validation's
//! output as it arrives; `-vv` adds stage timings. Off a terminal without `-v`, and with `-q`:
//! nothing.

use std::cell::RefCell;
use std::time::Instant;

use super::ui::Ui;
use crate::pipeline::{Event, Observer, StageName};

pub struct Progress<'u> {
    ui: RefCell<&'u mut Ui>,
    mode: Mode,
    live: RefCell<Live>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    /// One line, redrawn.
    Live,
    /// A line per event, output streamed (`-v`; `-vv` adds timings).
    Lines {
        timings: bool,
    },
}

#[derive(Default)]
struct Live {
    stage: Option<(StageName, Instant)>,
    running: String,
    last_line: String,
    drawn: bool,
}

impl<'u> Progress<'u> {
    pub fn new(ui: &'u mut Ui) -> Self {
        let mode = if !ui.shows_progress() {
            Mode::Off
        } else if ui.verbose() > 0 {
            Mode::Lines {
                timings: ui.verbose() > 1,
            }
        } else if ui.live_status() {
            Mode::Live
        } else {
            Mode::Off
        };
        Progress {
            ui: RefCell::new(ui),
            mode,
            live: RefCell::new(Live::default()),
        }
    }

    fn redraw(&self) {
        let live = self.live.borrow();
        let Some((stage, since)) = live.stage else { return };
        let mut text = format!("git-oc: {} {:.1}s", stage.as_str(), since.elapsed().as_secs_f64());
        if !live.running.is_empty() {
            text.push_str(&format!(" · {}", live.running));
        }
        if !live.last_line.is_empty() {
            text.push_str(&format!(" · {}", live.last_line));
        }
        drop(live);
        self.ui.borrow_mut().status_line(&text);
        self.live.borrow_mut().drawn = true;
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if self.live.borrow().drawn {
            self.ui.borrow_mut().clear_status_line();
        }
    }
}

/// The last non-empty line of some output, without its line break.
fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
}

impl Observer for Progress<'_> {
    fn event(&self, event: &Event) {
        match self.mode {
            Mode::Off => {}
            Mode::Live => {
                {
                    let mut live = self.live.borrow_mut();
                    match event {
                        Event::StageStarted(stage) => {
                            live.stage = Some((*stage, Instant::now()));
                            live.running.clear();
                            live.last_line.clear();
                        }
                        Event::Running { what, .. } => {
                            live.running = what.to_string();
                            live.last_line.clear();
                        }
                        Event::Output { bytes, .. } => {
                            if let Some(line) = last_line(bytes) {
                                live.last_line = line;
                            }
                        }
                        _ => return,
                    }
                }
                self.redraw();
            }
            Mode::Lines { timings } => {
                let mut ui = self.ui.borrow_mut();
                match event {
                    Event::Started { branch, backend, .. } => {
                        ui.status(&format!("git-oc: running {backend} on {branch}"))
                    }
                    Event::StageStarted(stage) if timings => ui.status(&format!("git-oc: {}", stage.as_str())),
                    Event::StageFinished { stage, elapsed } if timings => ui.status(&format!(
                        "git-oc: {} done in {} ms",
                        stage.as_str(),
                        elapsed.as_millis()
                    )),
                    Event::Running { what, .. } => ui.status(&format!("git-oc: running {what}")),
                    Event::Output { bytes, .. } => ui.stream(bytes),
                    Event::Warning(text) => ui.warning(text),
                    _ => {}
                }
            }
        }
    }

    fn wants_output(&self) -> bool {
        self.mode != Mode::Off
    }
}
