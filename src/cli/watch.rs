//! `git oc watch`: run lanes unattended until Ctrl-C or SIGTERM.

use clap::Args;

use super::ui::Ui;
use crate::error::{Error, Result};
use crate::lanes::LaneKind;

/// The lanes, each with what it does, for help and completion.
fn lane_values() -> clap::builder::PossibleValuesParser {
    LaneKind::ALL
        .map(|k| clap::builder::PossibleValue::new(k.as_str()).help(k.about()))
        .into()
}

/// Run lanes unattended: claim board tasks and run them, one loop per lane
#[derive(Debug, Args)]
#[command(
    long_about = "Run lanes unattended, one loop per lane in this one process: goal, test and improve claim \
Ready for AI tasks of their kind labelled with this repository's key and run them; propose runs the \
autonomy cycle when the repository changes; review runs the review loop. Each lane writes its status \
where git oc status reads it. Ctrl-C or SIGTERM cancels a run in progress (its evidence is recorded and \
its task goes back to Ready for AI) and stops every lane."
)]
pub struct WatchArgs {
    /// A lane to run (repeat for several)
    #[arg(long, value_name = "LANE", value_parser = lane_values(),
          required_unless_present = "all", conflicts_with = "all")]
    pub lane: Vec<String>,
    /// Run every lane
    #[arg(long)]
    pub all: bool,
    /// One cycle of each lane, then exit
    #[arg(long)]
    pub once: bool,
    /// Seconds between cycles [default: goal 30, the others 60]
    #[arg(long, value_name = "S")]
    pub interval: Option<f64>,
}

pub fn cmd_watch(ui: &mut Ui, args: &WatchArgs) -> Result<i32> {
    let interval = match args.interval {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Some(std::time::Duration::from_secs_f64(s)),
        Some(s) => {
            return Err(
                Error::input(format!("--interval {s} is not a number of seconds between 0 and 86400"))
                    .hint("pass e.g. --interval 30, or leave it out for each lane's own"),
            );
        }
    };
    let mut lanes: Vec<LaneKind> = if args.all {
        LaneKind::ALL.to_vec()
    } else {
        args.lane.iter().filter_map(|l| LaneKind::parse(l)).collect()
    };
    lanes.sort();
    lanes.dedup();
    let options = crate::lanes::watch::WatchOptions {
        lanes,
        once: args.once,
        interval,
    };
    let dir = super::current_dir()?;
    let statuses = crate::lanes::watch::watch(&dir, &options, &gix::interrupt::IS_INTERRUPTED, |line| {
        ui.note(&line.text);
    })?;
    let failed = statuses
        .iter()
        .any(|s| s.state == crate::lanes::status::LaneState::Error);
    let doc = serde_json::json!({ "lanes": statuses });
    ui.emit(&doc, || {
        statuses
            .iter()
            .map(|s| {
                let mut line = format!("{}: {}", s.lane, s.last_action);
                if let Some(t) = &s.task_id {
                    line.push_str(&format!(" task={t}"));
                }
                if let Some(n) = &s.note {
                    line.push_str(&format!(" ({n})"));
                }
                line.push('\n');
                line
            })
            .collect()
    });
    Ok(if failed { 1 } else { 0 })
}
