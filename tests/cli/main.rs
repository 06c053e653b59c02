//! One integration-test binary: every test runs the real `git-oc` binary against real git
//! repositories made in temporary directories, with a scrubbed environment.
// The fake GitHub writes GitHub's large repository objects with one `json!` each.
#![recursion_limit = "256"]

mod common;
mod plane_fake;
mod pty;
mod test_assets;
mod test_autonomy;
mod test_bad_input_battery;
mod test_board;
mod test_completions;
mod test_config;
mod test_daily;
mod test_demo;
mod test_demo_bad_input;
mod test_demo_git;
mod test_diff_parity;
mod test_everyday;
mod test_gc;
mod test_hot_text;
mod test_lanes;
mod test_plane;
mod test_pr_review;
mod test_properties;
mod test_publish;
mod test_reliability;
mod test_review;
mod test_run;
mod test_run_bad_input;
mod test_run_diff;
mod test_switchboard;
mod test_sync;
mod test_trust;
mod test_trust_periphery;
mod test_worker;
