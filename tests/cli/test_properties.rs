//! Property tests: the path-pattern matcher, the configuration and policy parsers and the
//! notes-block parser never panic, whatever they are given, and keep their invariants.

use git_oc::evidence::note::{NoteBlock, append_block, merge_notes, parse_blocks};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn path_matching_never_panics(pattern in "[a-z*?\\[\\]!/.\\\\ -]{0,24}", path in "[a-z*/. -]{0,32}") {
        let _ = git_oc::policy::path_matches(&pattern, &path);
    }

    #[test]
    fn path_matching_with_arbitrary_unicode(pattern in "\\PC{0,16}", path in "\\PC{0,24}") {
        let _ = git_oc::policy::path_matches(&pattern, &path);
    }

    #[test]
    fn a_literal_pattern_matches_itself(name in "[a-z][a-z0-9_]{0,8}(/[a-z][a-z0-9_]{0,8}){0,3}") {
        prop_assert!(git_oc::policy::path_matches(&name, &name));
        let under = format!("{name}/child.txt");
        prop_assert!(git_oc::policy::path_matches(&name, &under), "a matched directory covers its contents");
    }

    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,200}") {
        let _ = git_oc::config::parse_file(std::path::Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn config_shaped_text_never_panics(
        section in prop::sample::select(vec!["run", "routing", "gc", "adapters", "backends.claude", "policy", "[policy.repo_policies]"]),
        key in "[a-z_]{1,12}",
        value in prop::sample::select(vec!["1", "\"x\"", "true", "[]", "[1, \"a\"]", "{ a = 1 }", "-5", "1e400", "\"\\u0000\""]),
    ) {
        let text = format!("[{section}]\n{key} = {value}\n");
        if let Ok(file) = git_oc::config::parse_file(std::path::Path::new("fuzz.toml"), &text) {
            let path = std::path::PathBuf::from("fuzz.toml");
            let _ = git_oc::config::Config::from_layers(vec![(git_oc::config::Source::Repository(path.clone()), path, file)])
                .map(|c| c.checked_policy());
        }
    }

    #[test]
    fn routing_policy_yaml_never_panics(text in "\\PC{0,200}") {
        if let Ok((policy, _)) = git_oc::routing::rules::RoutingPolicy::from_yaml(&text) {
            let _ = policy.validate();
        }
    }

    #[test]
    fn routing_policy_yaml_shaped_text_never_panics(
        lane in "[a-z_]{0,12}", backend in "[a-z_]{0,12}", key in "[a-z_]{1,14}", value in "[a-z0-9_ ]{0,10}",
        priority in -5i64..500, confidence in -1.0f64..2.0,
    ) {
        let text = format!(
            "rules:\n- name: r\n  priority: {priority}\n  confidence: {confidence}\n  select_lane: {lane}\n  select_backend: {backend}\n  when:\n    {key}: [{value}]\nfallback:\n  lane: {lane}\n  backend: {backend}\n"
        );
        if let Ok((policy, _)) = git_oc::routing::rules::RoutingPolicy::from_yaml(&text) {
            let _ = policy.validate();
            let attrs = git_oc::routing::rules::RoutingAttrs {
                task_type: "bug_fix".into(), execution_mode: "goal".into(), risk_level: value.clone(),
                priority: "normal".into(), labels: vec![value.clone()],
            };
            let _ = git_oc::routing::rules::route(&policy, &attrs);
            let _ = git_oc::routing::rules::route_plan(&policy, &attrs);
        }
    }

    #[test]
    fn policy_json_never_panics(text in "\\PC{0,200}") {
        if let Ok(config) = serde_json::from_str::<git_oc::policy::PolicyConfig>(&text) {
            let _ = git_oc::policy::validate_config(&config);
        }
    }

    #[test]
    fn note_parsing_never_panics(text in "\\PC{0,300}", block in "\\PC{0,100}") {
        let _ = parse_blocks(&text);
        let _ = append_block(&text, &block);
        let _ = merge_notes(&text, &block);
    }

    #[test]
    fn appended_blocks_parse_back_and_merging_is_idempotent(
        runs in prop::collection::vec("[0-9a-f]{8}", 1..6),
        other in prop::collection::vec("[0-9a-f]{8}", 0..6),
    ) {
        let block = |id: &str| NoteBlock {
            headline: format!("SUCCEEDED | x @ y | run={id}"),
            trailers: vec![("Oc-Run".into(), id.to_owned()), ("Oc-Status".into(), "succeeded".into())],
        }.render();
        let mut ours = String::new();
        for r in &runs {
            if let Some(next) = append_block(&ours, &block(r)) {
                ours = next;
            }
        }
        let mut theirs = String::new();
        for r in &other {
            if let Some(next) = append_block(&theirs, &block(r)) {
                theirs = next;
            }
        }
        let merged = merge_notes(&ours, &theirs);
        let ids: Vec<String> = parse_blocks(&merged).iter().filter_map(|b| b.run_id().map(str::to_owned)).collect();
        for r in runs.iter().chain(&other) {
            prop_assert_eq!(ids.iter().filter(|i| *i == r).count(), 1, "each run exactly once");
        }
        prop_assert_eq!(merge_notes(&merged, &theirs), merged.clone());
        prop_assert_eq!(merge_notes(&merged, &ours), merged);
    }
}
