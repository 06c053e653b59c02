//! `git oc status`: the lanes, the board, the runs in progress and the last runs.

use clap::Args;

use super::ui::Ui;
use crate::error::{Error, Result};

/// Show the lanes, the board's tasks by state and repository, runs in progress and the last runs
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Redraw until Ctrl-C (in place on a terminal; with --json, one document a line)
    #[arg(long)]
    pub watch: bool,
    /// Seconds between redraws with --watch
    #[arg(long, value_name = "S", default_value_t = 2.0, requires = "watch")]
    pub every: f64,
    /// How many of the last runs to show
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: usize,
}

pub fn cmd_status(ui: &mut Ui, args: &StatusArgs) -> Result<i32> {
    if !(args.every.is_finite() && args.every >= 0.1 && args.every <= 3600.0) {
        return Err(Error::input(format!(
            "--every {} is not a number of seconds between 0.1 and 3600",
            args.every
        ))
        .hint("pass e.g. --every 2"));
    }
    let dir = super::current_dir()?;
    let interrupt = &gix::interrupt::IS_INTERRUPTED;
    let in_place = args.watch && !ui.is_json() && ui.terminal_width().is_some();
    loop {
        let o = crate::lanes::overview::overview(&dir, args.runs)?;
        let written = if ui.is_json() && args.watch {
            // A stream of documents: one a line.
            ui.data(&serde_json::to_string(&o).unwrap_or_default())
        } else if ui.is_json() {
            ui.json(&o)
        } else {
            let text = crate::lanes::overview::render(&o);
            if in_place {
                // Home and clear, then the report: a redraw in place.
                ui.data(&format!("\x1b[H\x1b[2J{text}"))
            } else {
                ui.data(&text)
            }
        };
        // Nobody reads any more (a closed pipe): stop.
        if !written {
            return Ok(0);
        }
        if !args.watch {
            return Ok(0);
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(args.every);
        while std::time::Instant::now() < until {
            if interrupt.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(0);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
