//! SwitchBoard's lane router, reproduced locally (switchboard.md §2) so that `git oc` can route
//! without the service and still give the same lane, backend, rule id, confidence and rationale.
//!
//! Lanes and backends stay strings: they are data from the policy file, so policies in the old
//! (`kodo`, `archon_then_kodo`) and new (`team_executor`, `dag_executor`) vocabularies both work.
//!
//! Health-based demotion (§2.6) is omitted, i.e. treated as off: SwitchBoard never records
//! failures or latencies, so it never fires in the live service either.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::contracts::{BackendName, ExecutionMode, LaneName, Priority, RiskLevel, TaskProposal, TaskType};

/// SwitchBoard's built-in `DEFAULT_POLICY`, used when no policy file is configured.
pub const DEFAULT_POLICY_YAML: &str = include_str!("switchboard-default-policy.yaml");

/// Keys a `when` map may use: the routing signals of §2.2 plus `max_risk_level`.
pub const KNOWN_WHEN_KEYS: &[&str] = &[
    "task_type",
    "execution_mode",
    "risk_level",
    "priority",
    "max_risk_level",
    "local_only",
    "preferred_lane",
];

/// Hard-coded by SwitchBoard for the fallback, whatever the policy says.
pub const FALLBACK_CONFIDENCE: f64 = 0.7;

pub const ELIGIBLE: &str = "eligible";
pub const BLOCKED_BY_CONSTRAINT: &str = "blocked_by_constraint";
pub const BLOCKED_BY_POLICY: &str = "blocked_by_policy";
pub const UNSUPPORTED: &str = "unsupported";
pub const DEPRIORITIZED: &str = "deprioritized";

/// A `when` / `applies_when` map: key → scalar or list, kept in file order.
pub type Conditions = serde_json::Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Policy model (§2.1)
// ---------------------------------------------------------------------------------------------

/// SwitchBoard's `LaneRoutingPolicy`. Unknown keys are rejected here; `from_yaml` drops them
/// first (with warnings) because SwitchBoard ignores them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingPolicy {
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub rules: Vec<LaneRule>,
    #[serde(default)]
    pub backend_rules: Vec<BackendRule>,
    #[serde(default)]
    pub fallback: FallbackPolicy,
    /// Parsed but never used, as in SwitchBoard.
    #[serde(default)]
    pub thresholds: DecisionThresholds,
    #[serde(default)]
    pub excluded_backends: Vec<String>,
    #[serde(default)]
    pub alternative_routes: Vec<AlternativeRoute>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneRule {
    pub name: String,
    /// Lower is evaluated first; ties keep file order.
    #[serde(default = "default_priority")]
    pub priority: i64,
    pub select_lane: String,
    pub select_backend: String,
    #[serde(default)]
    pub when: Conditions,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_rule_confidence", deserialize_with = "unit_interval")]
    pub confidence: f64,
}

/// Overrides the backend within a lane; see [`route`] for the name order and stop rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendRule {
    pub name: String,
    pub lane: String,
    pub select_backend: String,
    #[serde(default)]
    pub when: Conditions,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackPolicy {
    #[serde(default = "default_fallback_lane")]
    pub lane: String,
    #[serde(default = "default_fallback_backend")]
    pub backend: String,
    #[serde(default = "default_fallback_rationale")]
    pub rationale: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionThresholds {
    #[serde(default, deserialize_with = "unit_interval")]
    pub min_confidence_to_select: f64,
    #[serde(default = "default_local_lane_max_risk")]
    pub local_lane_max_risk: String,
}

/// A fallback or escalation candidate for `route_plan`. `cost_class` and `capability_class` are
/// informational: candidates take theirs from a fixed table, as SwitchBoard does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternativeRoute {
    pub name: String,
    pub lane: String,
    pub backend: String,
    /// `fallback` or `escalation`; any other value makes the route unused.
    pub role: String,
    #[serde(default = "default_cost_class")]
    pub cost_class: String,
    #[serde(default = "default_capability_class")]
    pub capability_class: String,
    #[serde(default)]
    pub from_lanes: Vec<String>,
    #[serde(default)]
    pub from_backends: Vec<String>,
    #[serde(default)]
    pub applies_when: Conditions,
    #[serde(default)]
    pub blocked_by_labels: Vec<String>,
    #[serde(default = "default_priority", deserialize_with = "non_negative")]
    pub priority: i64,
    #[serde(default = "default_alternative_confidence", deserialize_with = "unit_interval")]
    pub confidence: f64,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub notes: String,
}

fn default_version() -> String {
    "1".to_owned()
}
fn default_priority() -> i64 {
    100
}
fn default_rule_confidence() -> f64 {
    1.0
}
fn default_alternative_confidence() -> f64 {
    0.8
}
fn default_fallback_lane() -> String {
    "claude_cli".to_owned()
}
fn default_fallback_backend() -> String {
    "kodo".to_owned()
}
fn default_fallback_rationale() -> String {
    "Default fallback: no policy rule matched".to_owned()
}
fn default_local_lane_max_risk() -> String {
    "low".to_owned()
}
fn default_cost_class() -> String {
    "medium".to_owned()
}
fn default_capability_class() -> String {
    "enhanced".to_owned()
}

/// SwitchBoard's pydantic bounds (`ge=0, le=1`): a policy outside them does not load.
fn unit_interval<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "confidence {value} is outside 0.0..=1.0"
        )))
    }
}

/// SwitchBoard's pydantic bound `ge=0` on alternative-route priorities.
fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = i64::deserialize(deserializer)?;
    if value >= 0 {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!("priority {value} is negative")))
    }
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        RoutingPolicy {
            version: default_version(),
            rules: Vec::new(),
            backend_rules: Vec::new(),
            fallback: FallbackPolicy::default(),
            thresholds: DecisionThresholds::default(),
            excluded_backends: Vec::new(),
            alternative_routes: Vec::new(),
        }
    }
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        FallbackPolicy {
            lane: default_fallback_lane(),
            backend: default_fallback_backend(),
            rationale: default_fallback_rationale(),
        }
    }
}

impl Default for DecisionThresholds {
    fn default() -> Self {
        DecisionThresholds {
            min_confidence_to_select: 0.0,
            local_lane_max_risk: default_local_lane_max_risk(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------------

const TOP_KEYS: &[&str] = &[
    "version",
    "rules",
    "backend_rules",
    "fallback",
    "thresholds",
    "excluded_backends",
    "alternative_routes",
];
const RULE_KEYS: &[&str] = &[
    "name",
    "priority",
    "select_lane",
    "select_backend",
    "when",
    "description",
    "confidence",
];
const BACKEND_RULE_KEYS: &[&str] = &["name", "lane", "select_backend", "when", "description"];
const FALLBACK_KEYS: &[&str] = &["lane", "backend", "rationale"];
const THRESHOLD_KEYS: &[&str] = &["min_confidence_to_select", "local_lane_max_risk"];
const ALTERNATIVE_KEYS: &[&str] = &[
    "name",
    "lane",
    "backend",
    "role",
    "cost_class",
    "capability_class",
    "from_lanes",
    "from_backends",
    "applies_when",
    "blocked_by_labels",
    "priority",
    "confidence",
    "reason",
    "notes",
];

impl RoutingPolicy {
    /// SwitchBoard's built-in `DEFAULT_POLICY` (the embedded YAML).
    pub fn builtin_default() -> RoutingPolicy {
        static DEFAULT: OnceLock<RoutingPolicy> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                RoutingPolicy::from_yaml(DEFAULT_POLICY_YAML)
                    .expect("the embedded SwitchBoard default policy (switchboard-default-policy.yaml) must load")
                    .0
            })
            .clone()
    }

    /// Load a SwitchBoard policy file. Keys outside the schema are dropped and reported as
    /// warnings, because SwitchBoard silently ignores them; everything else must fit the schema.
    pub fn from_yaml(text: &str) -> Result<(RoutingPolicy, Vec<String>), String> {
        let mut value: Value = serde_norway::from_str(text).map_err(|e| yaml_error(&e))?;
        // An empty file is an empty policy, as with `yaml.safe_load(...) or {}`.
        if value.is_null() {
            value = Value::Object(serde_json::Map::new());
        }
        let mut warnings = Vec::new();
        strip_unknown_keys(&mut value, &mut warnings)?;
        let policy = deserialize_policy(value)?;
        Ok((policy, warnings))
    }

    /// SwitchBoard's `validate_policy` (§2.8): problems that make `/health` report `degraded`.
    /// Backend-rule backends and alternative routes are not checked, as in SwitchBoard.
    pub fn validate(&self) -> Vec<String> {
        let mut issues = Vec::new();
        let mut seen = HashSet::new();
        for rule in &self.rules {
            if !seen.insert(rule.name.as_str()) {
                issues.push(format!("Duplicate rule name: '{}'", rule.name));
            }
            if rule.select_lane.parse::<LaneName>().is_err() {
                issues.push(format!(
                    "Rule '{}': unknown lane '{}' (known: {})",
                    rule.name,
                    rule.select_lane,
                    LaneName::known_values()
                ));
            }
            if rule.select_backend.parse::<BackendName>().is_err() {
                issues.push(format!(
                    "Rule '{}': unknown backend '{}' (known: {})",
                    rule.name,
                    rule.select_backend,
                    BackendName::known_values()
                ));
            }
            validate_conditions(&format!("Rule '{}'", rule.name), &rule.when, &mut issues);
        }
        for rule in &self.backend_rules {
            validate_conditions(&format!("Backend rule '{}'", rule.name), &rule.when, &mut issues);
        }
        if self.fallback.lane.parse::<LaneName>().is_err() {
            issues.push(format!("Fallback lane '{}' is not a known lane.", self.fallback.lane));
        }
        if self.fallback.backend.parse::<BackendName>().is_err() {
            issues.push(format!(
                "Fallback backend '{}' is not a known backend.",
                self.fallback.backend
            ));
        }
        issues
    }
}

fn yaml_error(error: &serde_norway::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(at) => {
            // libyaml repeats the location inside the message; say it once, up front.
            let message = message.replacen(&format!(" at line {} column {}", at.line(), at.column()), "", 1);
            format!(
                "invalid routing policy YAML at line {}, column {}: {message}",
                at.line(),
                at.column()
            )
        }
        None => format!("invalid routing policy YAML: {message}"),
    }
}

fn strip_unknown_keys(value: &mut Value, warnings: &mut Vec<String>) -> Result<(), String> {
    let Value::Object(top) = value else {
        return Err(format!(
            "invalid routing policy: expected a mapping at the top level, found {}",
            kind(value)
        ));
    };
    strip_object(top, TOP_KEYS, "at top level", warnings);
    let lists: [(&str, &[&str]); 3] = [
        ("rules", RULE_KEYS),
        ("backend_rules", BACKEND_RULE_KEYS),
        ("alternative_routes", ALTERNATIVE_KEYS),
    ];
    for (section, keys) in lists {
        if let Some(Value::Array(items)) = top.get_mut(section) {
            for (i, item) in items.iter_mut().enumerate() {
                let place = format!("{section}[{i}]");
                strip_object(expect_mapping(item, &place)?, keys, &format!("in {place}"), warnings);
            }
        }
    }
    for (section, keys) in [("fallback", FALLBACK_KEYS), ("thresholds", THRESHOLD_KEYS)] {
        if let Some(value) = top.get_mut(section) {
            strip_object(
                expect_mapping(value, section)?,
                keys,
                &format!("in {section}"),
                warnings,
            );
        }
    }
    Ok(())
}

/// serde would also take a list as a struct (fields by position); SwitchBoard does not.
fn expect_mapping<'v>(value: &'v mut Value, place: &str) -> Result<&'v mut serde_json::Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "invalid routing policy: {place}: expected a mapping, found {}",
            kind(other)
        )),
    }
}

fn strip_object(map: &mut serde_json::Map<String, Value>, known: &[&str], place: &str, warnings: &mut Vec<String>) {
    let unknown: Vec<String> = map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
    for key in unknown {
        map.shift_remove(&key);
        warnings.push(format!("unknown key '{key}' {place} (ignored, as SwitchBoard does)"));
    }
}

fn deserialize_policy(value: Value) -> Result<RoutingPolicy, String> {
    match serde_json::from_value::<RoutingPolicy>(value.clone()) {
        Ok(policy) => Ok(policy),
        Err(error) => Err(locate_error(&value).unwrap_or_else(|| format!("invalid routing policy: {error}"))),
    }
}

/// Re-checks section by section so that the error names where it is (serde_json does not).
fn locate_error(value: &Value) -> Option<String> {
    fn check<T: DeserializeOwned>(place: &str, value: &Value) -> Option<String> {
        serde_json::from_value::<T>(value.clone())
            .err()
            .map(|e| format!("invalid routing policy: {place}: {e}"))
    }
    fn check_list<T: DeserializeOwned>(place: &str, value: &Value) -> Option<String> {
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| check::<T>(&format!("{place}[{i}]"), item)),
            other => check::<Vec<T>>(place, other),
        }
    }
    let top = value.as_object()?;
    let field = |name: &str| top.get(name);
    field("version")
        .and_then(|v| check::<String>("version", v))
        .or_else(|| field("rules").and_then(|v| check_list::<LaneRule>("rules", v)))
        .or_else(|| field("backend_rules").and_then(|v| check_list::<BackendRule>("backend_rules", v)))
        .or_else(|| field("fallback").and_then(|v| check::<FallbackPolicy>("fallback", v)))
        .or_else(|| field("thresholds").and_then(|v| check::<DecisionThresholds>("thresholds", v)))
        .or_else(|| field("excluded_backends").and_then(|v| check::<Vec<String>>("excluded_backends", v)))
        .or_else(|| field("alternative_routes").and_then(|v| check_list::<AlternativeRoute>("alternative_routes", v)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn validate_conditions(owner: &str, when: &Conditions, issues: &mut Vec<String>) {
    for (key, expected) in when {
        if !KNOWN_WHEN_KEYS.contains(&key.as_str()) {
            issues.push(format!(
                "{owner}: unknown when key '{key}' (known: {})",
                KNOWN_WHEN_KEYS.join(", ")
            ));
            continue;
        }
        let Some(allowed) = enum_values(key) else { continue };
        let values = match expected {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            single => vec![single],
        };
        for value in values {
            if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                issues.push(format!(
                    "{owner}: when.{key} value {} is not one of: {}",
                    show(value),
                    allowed.join(", ")
                ));
            }
        }
    }
}

/// The enum a `when` key's values must come from, if it is enum-valued.
fn enum_values(key: &str) -> Option<Vec<&'static str>> {
    fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| as_str(*v)).collect()
    }
    match key {
        "task_type" => Some(names(TaskType::ALL, TaskType::as_str)),
        "execution_mode" => Some(names(ExecutionMode::ALL, ExecutionMode::as_str)),
        "risk_level" | "max_risk_level" => Some(names(RiskLevel::ALL, RiskLevel::as_str)),
        "priority" => Some(names(Priority::ALL, Priority::as_str)),
        _ => None,
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Routing signals and condition matching (§2.2, §2.3)
// ---------------------------------------------------------------------------------------------

/// The proposal fields routing may look at (SwitchBoard's `_proposal_attrs` inputs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingAttrs {
    pub task_type: String,
    pub execution_mode: String,
    pub risk_level: String,
    pub priority: String,
    pub labels: Vec<String>,
}

impl RoutingAttrs {
    pub fn from_proposal(proposal: &TaskProposal) -> RoutingAttrs {
        RoutingAttrs {
            task_type: proposal.task_type.as_str().to_owned(),
            execution_mode: proposal.execution_mode.as_str().to_owned(),
            risk_level: proposal.risk_level.as_str().to_owned(),
            priority: proposal.priority.as_str().to_owned(),
            labels: proposal.labels.clone(),
        }
    }

    pub fn local_only(&self) -> bool {
        self.labels.iter().any(|l| l == "local_only")
    }

    /// The first `prefer:<lane>` label, prefix stripped.
    pub fn preferred_lane(&self) -> Option<&str> {
        self.labels.iter().find_map(|l| l.strip_prefix("prefer:"))
    }

    /// The value `when` sees for `key`; keys that are not signals read as null (Python's `None`).
    pub fn signal(&self, key: &str) -> Value {
        match key {
            "task_type" => Value::from(self.task_type.as_str()),
            "execution_mode" => Value::from(self.execution_mode.as_str()),
            "risk_level" => Value::from(self.risk_level.as_str()),
            "priority" => Value::from(self.priority.as_str()),
            "local_only" => Value::Bool(self.local_only()),
            "preferred_lane" => self.preferred_lane().map_or(Value::Null, Value::from),
            _ => Value::Null,
        }
    }
}

/// `when` matching. `risk_ceiling` turns on the `max_risk_level` special case, which only lane
/// rules have; elsewhere `max_risk_level` is an ordinary (absent) signal.
fn conditions_match(when: &Conditions, attrs: &RoutingAttrs, risk_ceiling: bool) -> bool {
    when.iter().all(|(key, expected)| {
        if risk_ceiling && key == "max_risk_level" {
            return risk_at_or_below(&attrs.risk_level, expected);
        }
        let actual = attrs.signal(key);
        match expected {
            Value::Array(items) => items.iter().any(|item| py_eq(&actual, item)),
            scalar => py_eq(&actual, scalar),
        }
    })
}

/// `order(risk) <= order(ceiling)` with anything unknown (including a non-string ceiling, which
/// SwitchBoard turns into text with `str()`) counted as medium. An empty risk counts as missing,
/// i.e. `low`.
fn risk_at_or_below(risk: &str, ceiling: &Value) -> bool {
    fn order(level: &str) -> u8 {
        match level {
            "low" => 0,
            "high" => 2,
            _ => 1,
        }
    }
    let risk = if risk.is_empty() { "low" } else { risk };
    order(risk) <= ceiling.as_str().map_or(1, order)
}

/// Python `==` for JSON-shaped values: bools are the integers 0 and 1, ints equal floats of the
/// same value, and no type equals a string except a string.
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(_) | Value::Number(_), Value::Bool(_) | Value::Number(_)) => match (py_number(a), py_number(b)) {
            (Some(x), Some(y)) => x.equals(y),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum PyNumber {
    Int(i128),
    Float(f64),
}

impl PyNumber {
    fn equals(self, other: PyNumber) -> bool {
        match (self, other) {
            (PyNumber::Int(x), PyNumber::Int(y)) => x == y,
            (PyNumber::Float(x), PyNumber::Float(y)) => x == y,
            (PyNumber::Int(i), PyNumber::Float(f)) | (PyNumber::Float(f), PyNumber::Int(i)) => {
                // Exact comparison, as Python does: only whole floats can equal an int.
                f.fract() == 0.0 && f.abs() < 1e38 && f as i128 == i
            }
        }
    }
}

fn py_number(value: &Value) -> Option<PyNumber> {
    match value {
        Value::Bool(b) => Some(PyNumber::Int(i128::from(*b))),
        Value::Number(n) => n
            .as_i64()
            .map(|i| PyNumber::Int(i128::from(i)))
            .or_else(|| n.as_u64().map(|u| PyNumber::Int(i128::from(u))))
            .or_else(|| n.as_f64().map(PyNumber::Float)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Primary selection (§2.4, §2.5)
// ---------------------------------------------------------------------------------------------

/// What `/route` would answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteOutcome {
    pub lane: String,
    pub backend: String,
    /// The matched rule's name; `None` when the policy's fallback was used.
    pub rule: Option<String>,
    pub confidence: f64,
    /// Other known lanes, in SwitchBoard's order; duplicates are kept as SwitchBoard keeps them.
    pub alternatives: Vec<String>,
    pub rationale: String,
}

/// Choose the lane and backend for `attrs` under `policy`, exactly as SwitchBoard's
/// `LaneSelector` does: rules by priority (stable), first match whose backend is not excluded;
/// then backend rules by *name*, stopping at the first that matches even if its backend is
/// excluded; the fallback (never checked against exclusions) when no rule is left.
pub fn route(policy: &RoutingPolicy, attrs: &RoutingAttrs) -> RouteOutcome {
    let selection = select(policy, attrs);
    let rationale = rationale(policy, &selection, attrs);
    RouteOutcome {
        rationale,
        lane: selection.lane,
        backend: selection.backend,
        rule: selection.rule.map(|r| r.name.clone()),
        confidence: selection.confidence,
        alternatives: selection
            .alternatives
            .into_iter()
            .filter(|l| l.parse::<LaneName>().is_ok())
            .collect(),
    }
}

struct Selection<'p> {
    lane: String,
    backend: String,
    rule: Option<&'p LaneRule>,
    confidence: f64,
    /// Unfiltered: unknown lanes are dropped only in the `/route` answer.
    alternatives: Vec<String>,
}

fn sorted_rules(policy: &RoutingPolicy) -> Vec<&LaneRule> {
    let mut rules: Vec<&LaneRule> = policy.rules.iter().collect();
    rules.sort_by_key(|r| r.priority);
    rules
}

fn select<'p>(policy: &'p RoutingPolicy, attrs: &RoutingAttrs) -> Selection<'p> {
    let excluded: HashSet<&str> = policy.excluded_backends.iter().map(String::as_str).collect();
    let rules = sorted_rules(policy);
    let mut alternatives = Vec::new();
    let mut matched = None;
    for (index, rule) in rules.iter().enumerate() {
        if !conditions_match(&rule.when, attrs, true) {
            continue;
        }
        if excluded.contains(rule.select_backend.as_str()) {
            alternatives.push(rule.select_lane.clone());
            continue;
        }
        matched = Some(index);
        break;
    }
    let Some(matched) = matched else {
        return Selection {
            lane: policy.fallback.lane.clone(),
            backend: policy.fallback.backend.clone(),
            rule: None,
            confidence: FALLBACK_CONFIDENCE,
            alternatives,
        };
    };
    let rule = rules[matched];
    let lane = rule.select_lane.clone();
    let mut backend = rule.select_backend.clone();

    let mut backend_rules: Vec<&BackendRule> = policy.backend_rules.iter().collect();
    backend_rules.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(brule) = backend_rules
        .iter()
        .find(|b| b.lane == lane && conditions_match(&b.when, attrs, false))
        && !excluded.contains(brule.select_backend.as_str())
    {
        backend = brule.select_backend.clone();
    }

    for (index, other) in rules.iter().enumerate() {
        if index != matched && other.select_lane != lane && !alternatives.contains(&other.select_lane) {
            alternatives.push(other.select_lane.clone());
        }
    }
    Selection {
        lane,
        backend,
        rule: Some(rule),
        confidence: rule.confidence,
        alternatives,
    }
}

fn rationale(policy: &RoutingPolicy, selection: &Selection<'_>, attrs: &RoutingAttrs) -> String {
    match selection.rule {
        None => policy.fallback.rationale.clone(),
        Some(rule) => format!(
            "task_type={}, risk_level={} \u{2192} lane={}, backend={} [rule: {}]",
            attrs.task_type, attrs.risk_level, selection.lane, selection.backend, rule.name
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Route plan: fallbacks and escalations (§2.7)
// ---------------------------------------------------------------------------------------------

/// One lane/backend pair in a plan; `eligibility_status` says whether it may be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteCandidate {
    pub lane: String,
    pub backend: String,
    pub priority: i64,
    pub reason: String,
    /// One of [`ELIGIBLE`], [`BLOCKED_BY_CONSTRAINT`], [`BLOCKED_BY_POLICY`], [`UNSUPPORTED`],
    /// [`DEPRIORITIZED`] (the last two are never produced while demotion is off).
    pub eligibility_status: String,
    pub confidence: f64,
    pub estimated_cost_class: String,
    pub estimated_capability_class: String,
    /// The alternative route's notes; `None` when empty, as SwitchBoard sends `null`.
    pub notes: Option<String>,
}

/// SwitchBoard's `FallbackPlan` / `EscalationPlan`: the eligible candidates and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidatePlan {
    pub candidates: Vec<RouteCandidate>,
    pub reasoning: String,
}

/// What `/route-plan` would answer (same field names, so it serializes the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutePlan {
    pub primary: RouteCandidate,
    pub fallbacks: CandidatePlan,
    pub escalations: CandidatePlan,
    /// Fallback blocks first, then escalation blocks.
    pub blocked_candidates: Vec<RouteCandidate>,
    pub policy_summary: String,
    pub primary_reason: String,
    pub fallback_reasoning: String,
    pub escalation_reasoning: String,
    pub blocked_reasoning: String,
}

/// The primary route plus the policy's fallback and escalation candidates, eligible or blocked.
pub fn route_plan(policy: &RoutingPolicy, attrs: &RoutingAttrs) -> RoutePlan {
    let selection = select(policy, attrs);
    let (lane, backend) = (selection.lane.as_str(), selection.backend.as_str());
    let primary = RouteCandidate {
        lane: lane.to_owned(),
        backend: backend.to_owned(),
        priority: 0,
        reason: rationale(policy, &selection, attrs),
        eligibility_status: ELIGIBLE.to_owned(),
        confidence: selection.confidence,
        estimated_cost_class: route_cost_class(lane, backend).to_owned(),
        estimated_capability_class: route_capability_class(lane, backend).to_owned(),
        notes: None,
    };
    let (fallbacks, fallback_blocked) = evaluate_alternatives(policy, attrs, lane, backend, Role::Fallback);
    let (escalations, escalation_blocked) = evaluate_alternatives(policy, attrs, lane, backend, Role::Escalation);
    let blocked: Vec<RouteCandidate> = fallback_blocked.into_iter().chain(escalation_blocked).collect();

    let mut summary = vec![format!("primary={lane}/{backend}")];
    if !fallbacks.candidates.is_empty() {
        summary.push(format!("fallbacks={}", fallbacks.candidates.len()));
    }
    if !escalations.candidates.is_empty() {
        summary.push(format!("escalations={}", escalations.candidates.len()));
    }
    if !blocked.is_empty() {
        summary.push(format!("blocked={}", blocked.len()));
    }

    RoutePlan {
        primary_reason: primary.reason.clone(),
        fallback_reasoning: fallbacks.reasoning.clone(),
        escalation_reasoning: escalations.reasoning.clone(),
        blocked_reasoning: blocked_reasoning(&blocked),
        policy_summary: summary.join("; "),
        primary,
        fallbacks,
        escalations,
        blocked_candidates: blocked,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Fallback,
    Escalation,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Fallback => "fallback",
            Role::Escalation => "escalation",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Role::Fallback => "Fallback",
            Role::Escalation => "Escalation",
        }
    }
}

/// SwitchBoard's fallback and escalation engines, which differ only in wording. The label block
/// comes before `applies_when`, so blocked entries appear even where the route would not apply.
fn evaluate_alternatives(
    policy: &RoutingPolicy,
    attrs: &RoutingAttrs,
    lane: &str,
    backend: &str,
    role: Role,
) -> (CandidatePlan, Vec<RouteCandidate>) {
    let excluded: HashSet<&str> = policy.excluded_backends.iter().map(String::as_str).collect();
    let mut routes: Vec<&AlternativeRoute> = policy
        .alternative_routes
        .iter()
        .filter(|a| a.role == role.key())
        .collect();
    routes.sort_by_key(|a| a.priority);

    let mut eligible = Vec::new();
    let mut blocked = Vec::new();
    for alt in routes {
        if !alt.from_lanes.is_empty() && !alt.from_lanes.iter().any(|l| l == lane) {
            continue;
        }
        if !alt.from_backends.is_empty() && !alt.from_backends.iter().any(|b| b == backend) {
            continue;
        }
        if alt.lane == lane && alt.backend == backend {
            continue;
        }
        let candidate = |reason: String, status: &str, confidence: f64| RouteCandidate {
            lane: alt.lane.clone(),
            backend: alt.backend.clone(),
            priority: alt.priority,
            reason,
            eligibility_status: status.to_owned(),
            confidence,
            estimated_cost_class: route_cost_class(&alt.lane, &alt.backend).to_owned(),
            estimated_capability_class: route_capability_class(&alt.lane, &alt.backend).to_owned(),
            notes: Some(alt.notes.clone()).filter(|n| !n.is_empty()),
        };
        let blocking: Vec<&str> = attrs
            .labels
            .iter()
            .filter(|l| alt.blocked_by_labels.contains(l))
            .map(String::as_str)
            .collect();
        if !blocking.is_empty() {
            let reason = format!(
                "{} route blocked by constraint label(s): {}",
                role.title(),
                blocking.join(", ")
            );
            blocked.push(candidate(reason, BLOCKED_BY_CONSTRAINT, 0.0));
        } else if excluded.contains(alt.backend.as_str()) {
            let reason = format!(
                "{} route blocked by policy: backend '{}' is excluded",
                role.title(),
                alt.backend
            );
            blocked.push(candidate(reason, BLOCKED_BY_POLICY, 0.0));
        } else if conditions_match(&alt.applies_when, attrs, false) {
            let reason = if alt.reason.is_empty() {
                format!("{} via policy rule '{}'", role.title(), alt.name)
            } else {
                alt.reason.clone()
            };
            eligible.push(candidate(reason, ELIGIBLE, alt.confidence));
        }
    }
    let reasoning = alternatives_reasoning(role, &eligible, blocked.len(), lane, backend);
    (
        CandidatePlan {
            candidates: eligible,
            reasoning,
        },
        blocked,
    )
}

fn alternatives_reasoning(
    role: Role,
    eligible: &[RouteCandidate],
    blocked: usize,
    lane: &str,
    backend: &str,
) -> String {
    match (eligible.first(), role) {
        (None, Role::Fallback) if blocked == 0 => {
            format!("No fallback routes defined from {lane}/{backend}. Primary is the only available path.")
        }
        (None, Role::Escalation) if blocked == 0 => {
            format!("No escalation warranted from {lane}/{backend} for this task type and risk level.")
        }
        (None, Role::Fallback) => format!(
            "All {blocked} fallback route(s) from {lane}/{backend} are blocked by explicit constraints or policy."
        ),
        (None, Role::Escalation) => {
            format!(
                "Escalation would be warranted but {blocked} route(s) are blocked by explicit constraints or policy."
            )
        }
        (Some(first), _) => {
            let more = if eligible.len() > 1 {
                format!(" (+{} more)", eligible.len() - 1)
            } else {
                String::new()
            };
            let blocked = if blocked > 0 {
                format!(" {blocked} blocked.")
            } else {
                String::new()
            };
            format!(
                "{} {} route(s) available. First: {}/{}{more}.{blocked}",
                eligible.len(),
                role.key(),
                first.lane,
                first.backend
            )
        }
    }
}

fn blocked_reasoning(blocked: &[RouteCandidate]) -> String {
    let routes = |status: &str| {
        blocked
            .iter()
            .filter(|c| c.eligibility_status == status)
            .map(|c| format!("{}/{}", c.lane, c.backend))
            .collect::<Vec<_>>()
    };
    let mut parts = Vec::new();
    let constraint = routes(BLOCKED_BY_CONSTRAINT);
    if !constraint.is_empty() {
        parts.push(format!("Constraint-blocked: {}", constraint.join(", ")));
    }
    let policy = routes(BLOCKED_BY_POLICY);
    if !policy.is_empty() {
        parts.push(format!("Policy-blocked: {}", policy.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}.", parts.join(". "))
    }
}

/// SwitchBoard's fixed cost table, with the renamed executor backends (`team_executor`,
/// `dag_executor`) given the classes of the names they replace. Anything else is `medium`.
pub fn route_cost_class(lane: &str, backend: &str) -> &'static str {
    match (lane, backend) {
        ("aider_local", "direct_local") => "low",
        ("claude_cli" | "codex_cli", "archon_then_kodo" | "dag_executor") | ("claude_cli", "archon" | "openclaw") => {
            "high"
        }
        _ => "medium",
    }
}

/// SwitchBoard's fixed capability table (see [`route_cost_class`]). Anything else is `enhanced`.
pub fn route_capability_class(lane: &str, backend: &str) -> &'static str {
    match (lane, backend) {
        ("aider_local", "direct_local") => "basic",
        ("claude_cli" | "codex_cli", "archon_then_kodo" | "dag_executor") | ("claude_cli", "archon") => "workflow",
        ("claude_cli", "openclaw") => "premium",
        _ => "enhanced",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::BackendName;
    use crate::planning::{PlanningContext, build_proposal};
    use serde_json::json;

    const CONFIG_POLICY_YAML: &str = include_str!("testdata/switchboard-policy.yaml");
    const MATRIX: &str = include_str!("testdata/switchboard-routing-matrix.json");
    const MATRIX_TEAM_EXECUTOR: &str = include_str!("testdata/switchboard-routing-matrix.team-executor.json");

    const TASK_TYPES: [&str; 9] = [
        "lint_fix",
        "bug_fix",
        "simple_edit",
        "test_write",
        "documentation",
        "refactor",
        "feature",
        "dependency_update",
        "unknown",
    ];

    fn attrs(task_type: &str, risk_level: &str, labels: &[&str]) -> RoutingAttrs {
        RoutingAttrs {
            task_type: task_type.to_owned(),
            execution_mode: "goal".to_owned(),
            risk_level: risk_level.to_owned(),
            priority: "normal".to_owned(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        }
    }

    fn load(yaml: &str) -> RoutingPolicy {
        let (policy, warnings) = RoutingPolicy::from_yaml(yaml).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        policy
    }

    fn config_policy() -> RoutingPolicy {
        load(CONFIG_POLICY_YAML)
    }

    /// The default policy in the newer vocabulary, as ProtocolWarden's SwitchBoard ships it.
    fn team_executor_yaml() -> String {
        DEFAULT_POLICY_YAML
            .replace("archon_then_kodo", "dag_executor")
            .replace("kodo", "team_executor")
    }

    /// A policy made of the default's header plus the given rule list, for focused cases.
    fn rules_policy(rules_yaml: &str) -> RoutingPolicy {
        load(&format!("version: '1'\n{rules_yaml}"))
    }

    /// Runs every case of a routing matrix the way SwitchBoard's test does (only the expected
    /// keys present are checked) and returns the failures as `(case number, key)`.
    fn matrix_failures(policy: &RoutingPolicy, matrix: &str) -> Vec<(usize, String)> {
        let cases: Vec<Value> = serde_json::from_str(matrix).unwrap();
        assert_eq!(cases.len(), 7);
        let mut failures = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let proposal = &case["proposal"];
            let labels: Vec<&str> = proposal["labels"]
                .as_array()
                .map(|ls| ls.iter().map(|l| l.as_str().unwrap()).collect())
                .unwrap_or_default();
            let attrs = attrs(
                proposal["task_type"].as_str().unwrap(),
                proposal["risk_level"].as_str().unwrap_or("low"),
                &labels,
            );
            let plan = route_plan(policy, &attrs);
            for (key, expected) in case["expected"].as_object().unwrap() {
                let actual = match key.as_str() {
                    "primary_lane" => json!(plan.primary.lane),
                    "primary_backend" => json!(plan.primary.backend),
                    "has_fallbacks" => json!(!plan.fallbacks.candidates.is_empty()),
                    "has_escalations" => json!(!plan.escalations.candidates.is_empty()),
                    "has_blocked" => json!(!plan.blocked_candidates.is_empty()),
                    "all_blocked_by_constraint" => json!(
                        plan.blocked_candidates
                            .iter()
                            .all(|c| c.eligibility_status == BLOCKED_BY_CONSTRAINT)
                    ),
                    "escalation_backend_available" => {
                        let wanted = expected.as_str().unwrap();
                        json!(
                            plan.escalations
                                .candidates
                                .iter()
                                .any(|c| c.backend == wanted)
                                .then_some(wanted)
                        )
                    }
                    other => panic!("matrix case {} has an unknown expectation {other}", i + 1),
                };
                if &actual != expected {
                    failures.push((i + 1, key.clone()));
                }
            }
        }
        failures
    }

    // -- 1-3: conformance with SwitchBoard's routing matrix ------------------------------------

    #[test]
    fn routing_matrix_passes_against_the_builtin_default() {
        assert_eq!(matrix_failures(&RoutingPolicy::builtin_default(), MATRIX), vec![]);
    }

    #[test]
    fn team_executor_matrix_passes_against_the_renamed_default() {
        let policy = load(&team_executor_yaml());
        assert_eq!(policy.validate(), Vec::<String>::new());
        assert_eq!(policy.backend_rules[0].name, "codex_team_executor_low_risk");
        assert_eq!(matrix_failures(&policy, MATRIX_TEAM_EXECUTOR), vec![]);
        // The old-vocabulary matrix does not pass against it: the names really are data.
        assert!(!matrix_failures(&policy, MATRIX).is_empty());
    }

    #[test]
    fn config_policy_passes_cases_3_to_7_and_routes_cases_1_and_2_to_direct_local() {
        let policy = config_policy();
        assert_eq!(
            matrix_failures(&policy, MATRIX),
            vec![(1, "primary_backend".into()), (2, "primary_backend".into())]
        );
        for labels in [&[][..], &["local_only"][..]] {
            let plan = route_plan(&policy, &attrs("lint_fix", "low", labels));
            assert_eq!(
                (plan.primary.lane.as_str(), plan.primary.backend.as_str()),
                ("aider_local", "direct_local")
            );
        }
    }

    // -- 4: the decision table of §2.5 ---------------------------------------------------------

    /// The expected (rule, lane, backend, confidence) from the §2.5 table.
    fn expected_decision(
        task_type: &str,
        risk: &str,
        local_only: bool,
        aider_backend: &'static str,
    ) -> (Option<&'static str>, &'static str, &'static str, f64) {
        let local = ["lint_fix", "documentation", "simple_edit"].contains(&task_type);
        let medium = ["bug_fix", "test_write", "dependency_update"].contains(&task_type);
        let structured = ["refactor", "feature"].contains(&task_type);
        if local_only {
            return (Some("force_local_only"), "aider_local", aider_backend, 1.0);
        }
        match risk {
            "low" if local => (Some("local_low_risk"), "aider_local", aider_backend, 0.95),
            "medium" if local => (Some("local_catchall"), "aider_local", aider_backend, 0.8),
            "low" | "medium" if medium => (Some("medium_implementation"), "claude_cli", "kodo", 0.9),
            "medium" | "high" if structured => (Some("premium_structured"), "claude_cli", "archon_then_kodo", 0.85),
            "high" => (Some("high_risk_escalation"), "claude_cli", "kodo", 0.92),
            _ => (None, "claude_cli", "kodo", 0.7),
        }
    }

    #[test]
    fn decision_table_holds_under_both_shipped_policies_whatever_the_mode_and_priority() {
        let policies = [
            (
                RoutingPolicy::builtin_default(),
                "aider_local",
                DEFAULT_FALLBACK_RATIONALE,
            ),
            (
                config_policy(),
                "direct_local",
                "Default fallback when no lane rule matches.",
            ),
        ];
        let mut checked = 0;
        for (policy, aider_backend, fallback_rationale) in &policies {
            for task_type in TASK_TYPES {
                for risk in ["low", "medium", "high"] {
                    for local_only in [false, true] {
                        let (rule, lane, backend, confidence) =
                            expected_decision(task_type, risk, local_only, aider_backend);
                        for mode in ExecutionMode::ALL {
                            for priority in Priority::ALL {
                                let mut labels = vec!["no_remote"];
                                if local_only {
                                    labels.push("local_only");
                                }
                                let mut a = attrs(task_type, risk, &labels);
                                a.execution_mode = mode.as_str().to_owned();
                                a.priority = priority.as_str().to_owned();
                                let out = route(policy, &a);
                                let what = format!("{task_type}/{risk}/local_only={local_only}/{mode}/{priority}");
                                assert_eq!(out.rule.as_deref(), rule, "{what}");
                                assert_eq!((out.lane.as_str(), out.backend.as_str()), (lane, backend), "{what}");
                                assert_eq!(out.confidence, confidence, "{what}");
                                let (alternatives, rationale) = match rule {
                                    None => (vec![], fallback_rationale.to_string()),
                                    Some(rule) => (
                                        vec![if lane == "aider_local" {
                                            "claude_cli"
                                        } else {
                                            "aider_local"
                                        }],
                                        format!(
                                            "task_type={task_type}, risk_level={risk} → lane={lane}, backend={backend} [rule: {rule}]"
                                        ),
                                    ),
                                };
                                assert_eq!(out.alternatives, alternatives, "{what}");
                                assert_eq!(out.rationale, rationale, "{what}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 9 * 3 * 2 * 4 * 4);
    }

    const DEFAULT_FALLBACK_RATIONALE: &str = "Default fallback: no policy rule matched; using premium lane with kodo.";

    #[test]
    fn live_service_answers_are_reproduced_with_the_config_policy() {
        let policy = config_policy();
        let r1 = route(&policy, &attrs("lint_fix", "low", &[]));
        assert_eq!(
            r1.rationale,
            "task_type=lint_fix, risk_level=low → lane=aider_local, backend=direct_local [rule: local_low_risk]"
        );
        assert_eq!((r1.confidence, r1.alternatives), (0.95, vec!["claude_cli".to_owned()]));

        let mut r2_attrs = attrs("bug_fix", "medium", &[]);
        r2_attrs.priority = "high".into();
        let r2 = route(&policy, &r2_attrs);
        assert_eq!(
            r2.rationale,
            "task_type=bug_fix, risk_level=medium \u{2192} lane=claude_cli, backend=kodo [rule: medium_implementation]"
        );
        assert_eq!((r2.confidence, r2.alternatives), (0.9, vec!["aider_local".to_owned()]));

        let r3 = route(&policy, &attrs("refactor", "high", &[]));
        assert_eq!(
            r3.rationale,
            "task_type=refactor, risk_level=high → lane=claude_cli, backend=archon_then_kodo [rule: premium_structured]"
        );

        let r4 = route(&policy, &attrs("feature", "low", &["local_only"]));
        assert_eq!(
            r4.rationale,
            "task_type=feature, risk_level=low → lane=aider_local, backend=direct_local [rule: force_local_only]"
        );
        assert_eq!((r4.rule.as_deref(), r4.confidence), (Some("force_local_only"), 1.0));

        let r5 = route(&policy, &attrs("unknown", "low", &[]));
        assert_eq!(r5.rule, None);
        assert_eq!(r5.confidence, 0.7);
        assert_eq!(r5.alternatives, Vec::<String>::new());
        assert_eq!(r5.rationale, "Default fallback when no lane rule matches.");
        assert_eq!((r5.lane.as_str(), r5.backend.as_str()), ("claude_cli", "kodo"));

        let r6 = route(&policy, &attrs("documentation", "medium", &["no_remote"]));
        assert_eq!(r6.rule.as_deref(), Some("local_catchall"));
        assert_eq!((r6.backend.as_str(), r6.confidence), ("direct_local", 0.8));
        assert_eq!(r6.alternatives, vec!["claude_cli".to_owned()]);

        // OC's real client sent `prefer:codex_cli`; no shipped rule reads it.
        let preferred = route(&policy, &attrs("test_write", "low", &["prefer:codex_cli"]));
        assert_eq!(preferred.rule.as_deref(), Some("medium_implementation"));
        assert_eq!(preferred.lane, "claude_cli");
    }

    #[test]
    fn from_proposal_takes_the_routing_fields() {
        let mut ctx = PlanningContext::new("Write unit tests for the parser", "test_write");
        ctx.repo_key = "api-service".into();
        ctx.clone_url = "https://git.example.invalid/api-service.git".into();
        ctx.risk_level = "medium".into();
        ctx.priority = "critical".into();
        ctx.execution_mode = "fix_pr".into();
        ctx.labels = vec!["no_remote".into(), "prefer:codex_cli".into(), "local_only".into()];
        let a = RoutingAttrs::from_proposal(&build_proposal(&ctx).unwrap());
        assert_eq!(
            a,
            RoutingAttrs {
                task_type: "test_write".into(),
                execution_mode: "fix_pr".into(),
                risk_level: "medium".into(),
                priority: "critical".into(),
                labels: vec!["no_remote".into(), "prefer:codex_cli".into(), "local_only".into()],
            }
        );
        assert!(a.local_only());
        assert_eq!(a.preferred_lane(), Some("codex_cli"));
        assert_eq!(a.signal("local_only"), json!(true));
        assert_eq!(a.signal("labels"), Value::Null);
        assert_eq!(
            route(&RoutingPolicy::builtin_default(), &a).rule.as_deref(),
            Some("force_local_only")
        );
    }

    // -- route_plan (§2.7) --------------------------------------------------------------------

    #[test]
    fn route_plan_reproduces_the_live_plans() {
        let policy = config_policy();

        let r1 = route_plan(&policy, &attrs("lint_fix", "low", &[]));
        assert_eq!(
            r1.primary,
            RouteCandidate {
                lane: "aider_local".into(),
                backend: "direct_local".into(),
                priority: 0,
                reason: r1.primary_reason.clone(),
                eligibility_status: "eligible".into(),
                confidence: 0.95,
                estimated_cost_class: "low".into(),
                estimated_capability_class: "basic".into(),
                notes: None,
            }
        );
        assert_eq!(
            r1.primary_reason,
            route(&policy, &attrs("lint_fix", "low", &[])).rationale
        );
        let fallback = &r1.fallbacks.candidates[..];
        assert_eq!(fallback.len(), 1);
        assert_eq!(
            (fallback[0].lane.as_str(), fallback[0].backend.as_str()),
            ("claude_cli", "kodo")
        );
        assert_eq!((fallback[0].priority, fallback[0].confidence), (10, 0.85));
        assert_eq!(
            fallback[0].notes.as_deref(),
            Some("Only use after a local execution attempt fails or is unavailable.")
        );
        assert_eq!(
            (
                fallback[0].estimated_cost_class.as_str(),
                fallback[0].estimated_capability_class.as_str()
            ),
            ("medium", "enhanced")
        );
        assert_eq!(
            r1.fallbacks.reasoning,
            "1 fallback route(s) available. First: claude_cli/kodo."
        );
        assert_eq!(r1.fallback_reasoning, r1.fallbacks.reasoning);
        assert!(r1.escalations.candidates.is_empty());
        assert_eq!(
            r1.escalation_reasoning,
            "No escalation warranted from aider_local/direct_local for this task type and risk level."
        );
        assert_eq!(r1.policy_summary, "primary=aider_local/direct_local; fallbacks=1");
        assert_eq!(r1.blocked_reasoning, "");

        let r3 = route_plan(&policy, &attrs("refactor", "high", &[]));
        assert_eq!(
            (
                r3.primary.estimated_cost_class.as_str(),
                r3.primary.estimated_capability_class.as_str()
            ),
            ("high", "workflow")
        );
        assert_eq!(r3.fallbacks.candidates.len(), 1);
        assert_eq!(r3.fallbacks.candidates[0].confidence, 0.8);
        assert_eq!(
            r3.fallbacks.candidates[0].reason,
            "Lightweight kodo execution if the workflow backend is unavailable."
        );
        assert_eq!(r3.fallbacks.candidates[0].notes, None);
        assert!(r3.escalations.candidates.is_empty());

        let r4 = route_plan(&policy, &attrs("feature", "low", &["local_only"]));
        assert!(r4.fallbacks.candidates.is_empty() && r4.escalations.candidates.is_empty());
        let blocked: Vec<(&str, &str, &str, f64)> = r4
            .blocked_candidates
            .iter()
            .map(|c| {
                (
                    c.backend.as_str(),
                    c.eligibility_status.as_str(),
                    c.reason.as_str(),
                    c.confidence,
                )
            })
            .collect();
        assert_eq!(
            blocked,
            vec![
                (
                    "kodo",
                    "blocked_by_constraint",
                    "Fallback route blocked by constraint label(s): local_only",
                    0.0
                ),
                (
                    "kodo",
                    "blocked_by_constraint",
                    "Escalation route blocked by constraint label(s): local_only",
                    0.0
                ),
            ]
        );
        assert_eq!(
            r4.fallback_reasoning,
            "All 1 fallback route(s) from aider_local/direct_local are blocked by explicit constraints or policy."
        );
        assert_eq!(
            r4.escalation_reasoning,
            "Escalation would be warranted but 1 route(s) are blocked by explicit constraints or policy."
        );
        assert_eq!(
            r4.blocked_reasoning,
            "Constraint-blocked: claude_cli/kodo, claude_cli/kodo."
        );
        assert_eq!(r4.policy_summary, "primary=aider_local/direct_local; blocked=2");

        // Blocking labels are listed in proposal order.
        let both = route_plan(&policy, &attrs("lint_fix", "low", &["no_remote", "x", "local_only"]));
        assert_eq!(
            both.blocked_candidates[0].reason,
            "Fallback route blocked by constraint label(s): no_remote, local_only"
        );
    }

    #[test]
    fn route_plan_escalations_and_the_no_fallback_wording() {
        let policy = RoutingPolicy::builtin_default();
        let plan = route_plan(&policy, &attrs("bug_fix", "high", &[]));
        assert_eq!(plan.primary.backend, "kodo");
        assert_eq!(
            plan.fallback_reasoning,
            "No fallback routes defined from claude_cli/kodo. Primary is the only available path."
        );
        let escalations: Vec<(&str, i64, f64)> = plan
            .escalations
            .candidates
            .iter()
            .map(|c| (c.backend.as_str(), c.priority, c.confidence))
            .collect();
        assert_eq!(escalations, vec![("archon_then_kodo", 20, 0.88)]);
        assert_eq!(
            plan.escalation_reasoning,
            "1 escalation route(s) available. First: claude_cli/archon_then_kodo."
        );
        assert_eq!(plan.policy_summary, "primary=claude_cli/kodo; escalations=1");

        let plan = route_plan(&policy, &attrs("documentation", "medium", &[]));
        assert_eq!(
            plan.escalations.candidates[0].reason,
            policy.alternative_routes[2].reason
        );
        assert_eq!(plan.escalations.candidates[0].confidence, 0.9);
    }

    #[test]
    fn route_plan_policy_blocks_counts_and_default_reasons() {
        let mut policy = config_policy();
        policy.excluded_backends = vec!["openclaw".into()];
        let extra = |name: &str, backend: &str, priority: i64, reason: &str| AlternativeRoute {
            name: name.into(),
            lane: "claude_cli".into(),
            backend: backend.into(),
            role: "fallback".into(),
            cost_class: "medium".into(),
            capability_class: "enhanced".into(),
            from_lanes: vec![],
            from_backends: vec![],
            applies_when: Conditions::new(),
            blocked_by_labels: vec![],
            priority,
            confidence: 0.5,
            reason: reason.into(),
            notes: String::new(),
        };
        policy.alternative_routes.push(extra("to_openclaw", "openclaw", 1, ""));
        policy.alternative_routes.push(extra("to_archon", "archon", 50, ""));
        let mut same_as_primary = extra("same_as_primary", "direct_local", 0, "never");
        same_as_primary.lane = "aider_local".into();
        policy.alternative_routes.push(same_as_primary);
        let mut ignored = extra("wrong_role", "archon", 0, "");
        ignored.role = "sideways".into();
        policy.alternative_routes.push(ignored);

        let plan = route_plan(&policy, &attrs("lint_fix", "low", &[]));
        let eligible: Vec<(&str, &str)> = plan
            .fallbacks
            .candidates
            .iter()
            .map(|c| (c.backend.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            eligible,
            vec![
                (
                    "kodo",
                    "Premium lane fallback when local execution is unavailable or insufficient."
                ),
                ("archon", "Fallback via policy rule 'to_archon'"),
            ]
        );
        assert_eq!(
            (
                plan.fallbacks.candidates[1].estimated_cost_class.as_str(),
                plan.fallbacks.candidates[1].estimated_capability_class.as_str()
            ),
            ("high", "workflow")
        );
        assert_eq!(plan.blocked_candidates.len(), 1);
        assert_eq!(plan.blocked_candidates[0].eligibility_status, "blocked_by_policy");
        assert_eq!(
            plan.blocked_candidates[0].reason,
            "Fallback route blocked by policy: backend 'openclaw' is excluded"
        );
        assert_eq!(plan.blocked_candidates[0].estimated_capability_class, "premium");
        assert_eq!(
            plan.fallback_reasoning,
            "2 fallback route(s) available. First: claude_cli/kodo (+1 more). 1 blocked."
        );
        assert_eq!(plan.blocked_reasoning, "Policy-blocked: claude_cli/openclaw.");
        assert_eq!(
            plan.policy_summary,
            "primary=aider_local/direct_local; fallbacks=2; blocked=1"
        );

        let plan = route_plan(&policy, &attrs("lint_fix", "low", &["local_only"]));
        assert_eq!(
            plan.blocked_reasoning,
            "Constraint-blocked: claude_cli/kodo, claude_cli/kodo. Policy-blocked: claude_cli/openclaw."
        );
        // The plan serializes with SwitchBoard's field names and `null` notes.
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["primary"]["notes"], Value::Null);
        assert!(json["fallbacks"]["reasoning"].is_string() && json["blocked_candidates"].is_array());
    }

    #[test]
    fn cost_and_capability_table() {
        let table = [
            ("aider_local", "direct_local", "low", "basic"),
            ("aider_local", "kodo", "medium", "enhanced"),
            ("claude_cli", "kodo", "medium", "enhanced"),
            ("codex_cli", "kodo", "medium", "enhanced"),
            ("claude_cli", "archon_then_kodo", "high", "workflow"),
            ("codex_cli", "archon_then_kodo", "high", "workflow"),
            ("claude_cli", "archon", "high", "workflow"),
            ("claude_cli", "openclaw", "high", "premium"),
            ("claude_cli", "dag_executor", "high", "workflow"),
            ("claude_cli", "team_executor", "medium", "enhanced"),
            ("aider_local", "aider_local", "medium", "enhanced"),
            ("codex_cli", "archon", "medium", "enhanced"),
        ];
        for (lane, backend, cost, capability) in table {
            assert_eq!(
                (route_cost_class(lane, backend), route_capability_class(lane, backend)),
                (cost, capability)
            );
        }
    }

    // -- 5: exclusions, backend rules, conditions -----------------------------------------------

    #[test]
    fn excluded_backend_skips_rules_and_keeps_duplicate_alternatives() {
        let mut policy = RoutingPolicy::builtin_default();
        policy.excluded_backends = vec!["aider_local".into()];
        // local_low_risk and local_catchall both match and are skipped; nothing else matches.
        let out = route(&policy, &attrs("lint_fix", "low", &[]));
        assert_eq!(out.rule, None);
        assert_eq!(
            (out.lane.as_str(), out.backend.as_str(), out.confidence),
            ("claude_cli", "kodo", 0.7)
        );
        assert_eq!(
            out.alternatives,
            vec!["aider_local".to_owned(), "aider_local".to_owned()]
        );
        assert_eq!(out.rationale, DEFAULT_FALLBACK_RATIONALE);

        // A later rule still matches; other lanes are added once each.
        let out = route(&policy, &attrs("lint_fix", "high", &["local_only"]));
        assert_eq!(out.rule.as_deref(), Some("high_risk_escalation"));
        assert_eq!(out.alternatives, vec!["aider_local".to_owned()]);

        // The fallback is never checked against exclusions.
        policy.excluded_backends = vec!["kodo".into()];
        let out = route(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!(
            (out.rule, out.lane.as_str(), out.backend.as_str()),
            (None, "claude_cli", "kodo")
        );
        assert_eq!(out.alternatives, vec!["claude_cli".to_owned()]);
    }

    #[test]
    fn alternatives_keep_only_known_lanes() {
        let policy = rules_policy(
            "rules:\n\
             - {name: gpu, priority: 1, select_lane: gpu_lane, select_backend: kodo, when: {task_type: refactor}}\n\
             - {name: main, priority: 2, select_lane: claude_cli, select_backend: kodo}\n\
             - {name: codex, priority: 3, select_lane: codex_cli, select_backend: kodo, when: {task_type: nothing}}\n\
             - {name: local, priority: 4, select_lane: aider_local, select_backend: aider_local}\n",
        );
        let out = route(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!(out.rule.as_deref(), Some("main"));
        assert_eq!(out.alternatives, vec!["codex_cli".to_owned(), "aider_local".to_owned()]);
        // An unknown lane is still selected (validate() is what reports it).
        let out = route(&policy, &attrs("refactor", "low", &[]));
        assert_eq!(out.lane, "gpu_lane");
        assert_eq!(
            out.alternatives,
            vec![
                "claude_cli".to_owned(),
                "codex_cli".to_owned(),
                "aider_local".to_owned()
            ]
        );
    }

    #[test]
    fn priority_sort_is_stable() {
        let policy = rules_policy(
            "rules:\n\
             - {name: late, priority: 50, select_lane: codex_cli, select_backend: kodo}\n\
             - {name: first, priority: 7, select_lane: aider_local, select_backend: aider_local}\n\
             - {name: second, priority: 7, select_lane: claude_cli, select_backend: kodo}\n\
             - {name: default_priority, select_lane: claude_cli, select_backend: openclaw}\n",
        );
        let out = route(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!(out.rule.as_deref(), Some("first"));
        assert_eq!(out.alternatives, vec!["claude_cli".to_owned(), "codex_cli".to_owned()]);
        assert_eq!(policy.rules[3].priority, 100);
        assert_eq!(policy.rules[3].confidence, 1.0);
    }

    #[test]
    fn backend_rules_go_by_name_and_the_first_match_stops_even_if_excluded() {
        let yaml = "rules:\n\
             - {name: codex, select_lane: codex_cli, select_backend: kodo}\n\
             backend_rules:\n\
             - {name: zz_last, lane: codex_cli, select_backend: openclaw}\n\
             - {name: mm_wrong_lane, lane: claude_cli, select_backend: demo_stub}\n\
             - {name: bb_second, lane: codex_cli, select_backend: archon}\n\
             - {name: aa_high_only, lane: codex_cli, select_backend: command, when: {risk_level: high}}\n";
        let mut policy = rules_policy(yaml);
        let backend = |policy: &RoutingPolicy, risk: &str| route(policy, &attrs("bug_fix", risk, &[])).backend;
        assert_eq!(backend(&policy, "low"), "archon");
        assert_eq!(backend(&policy, "high"), "command");
        let out = route(&policy, &attrs("bug_fix", "high", &[]));
        assert_eq!(
            out.rationale,
            "task_type=bug_fix, risk_level=high → lane=codex_cli, backend=command [rule: codex]"
        );

        policy.excluded_backends = vec!["archon".into()];
        assert_eq!(
            backend(&policy, "low"),
            "kodo",
            "bb_second matched, was excluded, and ended the loop"
        );

        // The shipped backend rule only acts on the codex lane, for low and medium risk.
        let mut shipped = RoutingPolicy::builtin_default();
        shipped.rules.insert(0, policy.rules[0].clone());
        shipped.rules[0].select_backend = "openclaw".into();
        shipped.rules[0].priority = 0;
        assert_eq!(backend(&shipped, "medium"), "kodo");
        assert_eq!(backend(&shipped, "high"), "openclaw");
    }

    #[test]
    fn max_risk_level_orders_risks_and_counts_unknown_values_as_medium() {
        let rule = |ceiling: Value| {
            let mut policy = RoutingPolicy::default();
            policy.rules.push(LaneRule {
                name: "capped".into(),
                priority: 1,
                select_lane: "aider_local".into(),
                select_backend: "aider_local".into(),
                when: json!({ "max_risk_level": ceiling }).as_object().unwrap().clone(),
                description: String::new(),
                confidence: 0.5,
            });
            policy
        };
        let matches = |policy: &RoutingPolicy, risk: &str| route(policy, &attrs("bug_fix", risk, &[])).rule.is_some();
        let cases: [(Value, [bool; 5]); 6] = [
            // risks:          low    medium high   extreme  "" (missing = low)
            (json!("low"), [true, false, false, false, true]),
            (json!("medium"), [true, true, false, true, true]),
            (json!("high"), [true, true, true, true, true]),
            (json!("severe"), [true, true, false, true, true]),
            (json!(["low"]), [true, true, false, true, true]),
            (Value::Null, [true, true, false, true, true]),
        ];
        for (ceiling, expected) in cases {
            let policy = rule(ceiling.clone());
            let got = ["low", "medium", "high", "extreme", ""].map(|risk| matches(&policy, risk));
            assert_eq!(got, expected, "max_risk_level: {ceiling}");
        }
    }

    #[test]
    fn max_risk_level_is_not_special_in_backend_rules_or_alternative_routes() {
        let mut policy = rules_policy(
            "rules:\n\
             - {name: codex, select_lane: codex_cli, select_backend: kodo}\n\
             backend_rules:\n\
             - {name: a, lane: codex_cli, select_backend: openclaw, when: {max_risk_level: high}}\n\
             alternative_routes:\n\
             - {name: up, lane: claude_cli, backend: kodo, role: escalation, applies_when: {max_risk_level: high}}\n\
             - {name: none, lane: claude_cli, backend: archon, role: escalation, applies_when: {max_risk_level: null}}\n",
        );
        let plan = route_plan(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!(plan.primary.backend, "kodo");
        let backends: Vec<&str> = plan.escalations.candidates.iter().map(|c| c.backend.as_str()).collect();
        assert_eq!(backends, vec!["archon"]);
        assert_eq!(
            plan.escalations.candidates[0].reason,
            "Escalation via policy rule 'none'"
        );
        policy.backend_rules[0].when = json!({ "max_risk_level": null }).as_object().unwrap().clone();
        assert_eq!(route(&policy, &attrs("bug_fix", "low", &[])).backend, "openclaw");
    }

    #[test]
    fn prefer_label_uses_the_first_prefer_label() {
        let policy = rules_policy(
            "rules:\n\
             - {name: wants_codex, priority: 1, select_lane: codex_cli, select_backend: kodo, when: {preferred_lane: codex_cli}}\n\
             - {name: wants_nothing, priority: 2, select_lane: aider_local, select_backend: aider_local, when: {preferred_lane: null}}\n\
             - {name: rest, priority: 3, select_lane: claude_cli, select_backend: kodo}\n",
        );
        let rule = |labels: &[&str]| route(&policy, &attrs("bug_fix", "low", labels)).rule.unwrap();
        assert_eq!(rule(&["x", "prefer:codex_cli", "prefer:aider_local"]), "wants_codex");
        assert_eq!(rule(&["prefer:aider_local", "prefer:codex_cli"]), "rest");
        assert_eq!(rule(&["local_only"]), "wants_nothing");
        assert_eq!(rule(&["prefer:"]), "rest");
    }

    #[test]
    fn unknown_when_keys_only_match_null() {
        let rule_for = |when: Value| {
            let mut policy = RoutingPolicy::default();
            policy.rules.push(LaneRule {
                name: "r".into(),
                priority: 1,
                select_lane: "codex_cli".into(),
                select_backend: "kodo".into(),
                when: when.as_object().unwrap().clone(),
                description: String::new(),
                confidence: 1.0,
            });
            route(&policy, &attrs("bug_fix", "low", &["local_only", "labels"]))
                .rule
                .is_some()
        };
        assert!(!rule_for(json!({ "labels": "local_only" })));
        assert!(!rule_for(json!({ "labels": ["local_only"] })));
        assert!(!rule_for(json!({ "nonsense": false })));
        assert!(rule_for(json!({ "nonsense": null })));
        assert!(rule_for(json!({ "nonsense": [null, "x"] })));
        assert!(rule_for(json!({})));
        assert!(!rule_for(json!({ "task_type": [] })));
    }

    #[test]
    fn condition_values_compare_as_python_does() {
        let matches = |expected: Value, label: bool| {
            let mut policy = RoutingPolicy::default();
            policy.rules.push(LaneRule {
                name: "r".into(),
                priority: 1,
                select_lane: "codex_cli".into(),
                select_backend: "kodo".into(),
                when: json!({ "local_only": expected }).as_object().unwrap().clone(),
                description: String::new(),
                confidence: 1.0,
            });
            let labels: &[&str] = if label { &["local_only"] } else { &[] };
            route(&policy, &attrs("bug_fix", "low", labels)).rule.is_some()
        };
        assert!(matches(json!(true), true) && !matches(json!(true), false));
        assert!(matches(json!(1), true) && matches(json!(1.0), true) && matches(json!(0), false));
        assert!(matches(json!(0.0), false) && matches(json!([2, 1]), true));
        assert!(!matches(json!("true"), true) && !matches(json!(2), true) && !matches(json!(0.5), false));
        assert!(!matches(json!(null), false));

        assert!(py_eq(&json!(3), &json!(3.0)) && py_eq(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!py_eq(&json!(-1), &json!(u64::MAX)) && !py_eq(&json!("a"), &json!(["a"])));
        assert!(py_eq(&json!({"a": [1, true]}), &json!({"a": [1.0, 1]})));
    }

    // -- 6: loading and validation -------------------------------------------------------------

    #[test]
    fn builtin_default_is_the_embedded_policy_and_validates_clean() {
        let policy = RoutingPolicy::builtin_default();
        let names: Vec<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "force_local_only",
                "local_low_risk",
                "medium_implementation",
                "premium_structured",
                "high_risk_escalation",
                "local_catchall"
            ]
        );
        let confidences: Vec<f64> = policy.rules.iter().map(|r| r.confidence).collect();
        assert_eq!(confidences, [1.0, 0.95, 0.9, 0.85, 0.92, 0.8]);
        assert_eq!(policy.fallback.rationale, DEFAULT_FALLBACK_RATIONALE);
        assert_eq!(policy.thresholds, DecisionThresholds::default());
        assert_eq!(policy.alternative_routes.len(), 5);
        assert_eq!(policy.validate(), Vec::<String>::new());
        assert_eq!(config_policy().validate(), Vec::<String>::new());

        // The two shipped policies differ only where §2.5 says they do.
        let mut config = config_policy();
        for rule in config.rules.iter_mut().filter(|r| r.select_backend == "direct_local") {
            rule.select_backend = "aider_local".into();
        }
        let strip = |p: &mut RoutingPolicy| {
            p.fallback.rationale.clear();
            p.rules.iter_mut().for_each(|r| r.description.clear());
            p.backend_rules.iter_mut().for_each(|r| r.description.clear());
            p.alternative_routes.iter_mut().for_each(|a| {
                a.reason.clear();
                a.notes.clear();
            });
        };
        let mut default = policy.clone();
        strip(&mut config);
        strip(&mut default);
        assert_eq!(config, default);
    }

    #[test]
    fn when_values_are_the_reference_vocabularies() {
        assert_eq!(enum_values("task_type").unwrap(), TASK_TYPES);
        assert_eq!(enum_values("max_risk_level").unwrap(), ["low", "medium", "high"]);
        assert_eq!(enum_values("priority").unwrap(), ["low", "normal", "high", "critical"]);
        assert_eq!(
            enum_values("execution_mode").unwrap(),
            ["goal", "fix_pr", "test_campaign", "improve_campaign"]
        );
    }

    #[test]
    fn unknown_keys_are_dropped_with_a_warning() {
        let yaml = "version: '1'\n\
             extra: 1\n\
             rules:\n\
             - {name: a, select_lane: claude_cli, select_backend: kodo, weight: 3, when: {task_type: bug_fix}}\n\
             - {name: b, select_lane: aider_local, select_backend: aider_local, foo: x, bar: y}\n\
             backend_rules:\n\
             - {name: c, lane: codex_cli, select_backend: kodo, enabled: true}\n\
             fallback: {lane: claude_cli, backend: kodo, why: none}\n\
             thresholds: {min_confidence_to_select: 0.5, max: 1}\n\
             alternative_routes:\n\
             - {name: d, lane: claude_cli, backend: kodo, role: fallback, weight: 1}\n";
        let (policy, warnings) = RoutingPolicy::from_yaml(yaml).unwrap();
        assert_eq!(
            warnings,
            [
                "unknown key 'extra' at top level (ignored, as SwitchBoard does)",
                "unknown key 'weight' in rules[0] (ignored, as SwitchBoard does)",
                "unknown key 'foo' in rules[1] (ignored, as SwitchBoard does)",
                "unknown key 'bar' in rules[1] (ignored, as SwitchBoard does)",
                "unknown key 'enabled' in backend_rules[0] (ignored, as SwitchBoard does)",
                "unknown key 'weight' in alternative_routes[0] (ignored, as SwitchBoard does)",
                "unknown key 'why' in fallback (ignored, as SwitchBoard does)",
                "unknown key 'max' in thresholds (ignored, as SwitchBoard does)",
            ]
        );
        assert_eq!(policy.rules.len(), 2);
        assert_eq!(
            policy.rules[0].when,
            *json!({"task_type": "bug_fix"}).as_object().unwrap()
        );
        assert_eq!(policy.thresholds.min_confidence_to_select, 0.5);
        assert_eq!(policy.fallback.rationale, "Default fallback: no policy rule matched");
        assert_eq!(policy.alternative_routes[0].priority, 100);
        assert_eq!(policy.alternative_routes[0].confidence, 0.8);
        assert_eq!(policy.alternative_routes[0].cost_class, "medium");
        // Unknown keys inside `when` are data, not schema: validate() reports them instead.
        let (policy, warnings) =
            RoutingPolicy::from_yaml("rules: [{name: a, select_lane: claude_cli, select_backend: kodo, when: {x: 1}}]")
                .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(policy.validate().len(), 1);
    }

    #[test]
    fn bad_yaml_and_bad_values_give_one_line_errors() {
        let error = |yaml: &str| {
            let message = RoutingPolicy::from_yaml(yaml).unwrap_err();
            assert!(!message.contains('\n'), "{message}");
            message
        };
        let syntax = error("rules:\n  - name: a\n    when: {task_type: [bug_fix}\n");
        assert_eq!(
            syntax,
            "invalid routing policy YAML at line 3, column 31: did not find expected ',' or ']', \
             while parsing a flow sequence at line 3 column 23"
        );
        let tabs = error("rules:\n\t- name: a\n");
        assert!(tabs.starts_with("invalid routing policy YAML at line 2"), "{tabs}");

        assert_eq!(
            error("rules:\n- {name: a, select_lane: claude_cli}\n"),
            "invalid routing policy: rules[0]: missing field `select_backend`"
        );
        let confidence = error("rules:\n- {name: a, select_lane: claude_cli, select_backend: kodo, confidence: 1.5}\n");
        assert!(
            confidence.starts_with("invalid routing policy: rules[0]: confidence 1.5 is outside 0.0..=1.0"),
            "{confidence}"
        );
        let priority =
            error("alternative_routes:\n- {name: a, lane: claude_cli, backend: kodo, role: fallback, priority: -1}\n");
        assert!(
            priority.starts_with("invalid routing policy: alternative_routes[0]: priority -1 is negative"),
            "{priority}"
        );
        let version = error("version: 1\n");
        assert!(
            version.starts_with("invalid routing policy: version: invalid type: integer `1`"),
            "{version}"
        );
        assert!(error("rules: nope\n").starts_with("invalid routing policy: rules: invalid type: string"));
        assert_eq!(
            error("fallback: [claude_cli]\n"),
            "invalid routing policy: fallback: expected a mapping, found a list"
        );
        assert_eq!(
            error("rules: [x]\n"),
            "invalid routing policy: rules[0]: expected a mapping, found a string"
        );
        assert_eq!(
            error("thresholds:\n"),
            "invalid routing policy: thresholds: expected a mapping, found null"
        );
        assert!(
            error("thresholds: {min_confidence_to_select: 2}\n").starts_with("invalid routing policy: thresholds: ")
        );
        assert_eq!(
            error("- just\n- a list\n"),
            "invalid routing policy: expected a mapping at the top level, found a list"
        );

        // An empty file is an empty policy: everything goes to the default fallback.
        let (empty, _) = RoutingPolicy::from_yaml("").unwrap();
        assert_eq!(empty, RoutingPolicy::default());
        let out = route(&empty, &attrs("bug_fix", "low", &[]));
        assert_eq!(
            (out.rule, out.rationale.as_str()),
            (None, "Default fallback: no policy rule matched")
        );
    }

    #[test]
    fn validate_reports_each_kind_of_issue() {
        let yaml = "rules:\n\
             - {name: dup, select_lane: claude_cli, select_backend: kodo}\n\
             - {name: dup, select_lane: gpu_lane, select_backend: mystery}\n\
             - name: conditions\n  \
               select_lane: codex_cli\n  \
               select_backend: team_executor\n  \
               when:\n    \
                 color: red\n    \
                 task_type: [bug_fix, coding]\n    \
                 execution_mode: sprint\n    \
                 risk_level: extreme\n    \
                 max_risk_level: 3\n    \
                 priority: [urgent]\n    \
                 local_only: true\n    \
                 preferred_lane: anything\n\
             backend_rules:\n\
             - {name: br, lane: codex_cli, select_backend: not_validated, when: {bogus: 1, risk_level: [low, severe]}}\n\
             fallback: {lane: nowhere, backend: nothing}\n";
        let issues = load(yaml).validate();
        let lanes = "known: claude_cli, codex_cli, aider_local";
        assert_eq!(
            issues,
            [
                "Duplicate rule name: 'dup'".to_owned(),
                format!("Rule 'dup': unknown lane 'gpu_lane' ({lanes})"),
                format!("Rule 'dup': unknown backend 'mystery' (known: {})", BackendName::known_values()),
                format!("Rule 'conditions': unknown when key 'color' (known: {})", KNOWN_WHEN_KEYS.join(", ")),
                format!("Rule 'conditions': when.task_type value 'coding' is not one of: {}", TASK_TYPES.join(", ")),
                "Rule 'conditions': when.execution_mode value 'sprint' is not one of: goal, fix_pr, test_campaign, improve_campaign".to_owned(),
                "Rule 'conditions': when.risk_level value 'extreme' is not one of: low, medium, high".to_owned(),
                "Rule 'conditions': when.max_risk_level value 3 is not one of: low, medium, high".to_owned(),
                "Rule 'conditions': when.priority value 'urgent' is not one of: low, normal, high, critical".to_owned(),
                format!("Backend rule 'br': unknown when key 'bogus' (known: {})", KNOWN_WHEN_KEYS.join(", ")),
                "Backend rule 'br': when.risk_level value 'severe' is not one of: low, medium, high".to_owned(),
                "Fallback lane 'nowhere' is not a known lane.".to_owned(),
                "Fallback backend 'nothing' is not a known backend.".to_owned(),
            ]
        );
    }

    // -- 7: the same model from TOML -----------------------------------------------------------

    #[test]
    fn toml_policy_routes_like_yaml() {
        let text = r#"
version = "1"
excluded_backends = ["openclaw"]

[[rules]]
name = "docs_local"
priority = 5
select_lane = "aider_local"
select_backend = "direct_local"
when = { task_type = ["documentation", "lint_fix"], max_risk_level = "medium" }
confidence = 0.9

[[rules]]
name = "premium"
priority = 10
select_lane = "claude_cli"
select_backend = "openclaw"
when = { local_only = false, priority = ["critical"] }

[[rules]]
name = "everything_else"
select_lane = "codex_cli"
select_backend = "command"

[[backend_rules]]
name = "codex_high"
lane = "codex_cli"
select_backend = "codex"
when = { risk_level = "high" }

[fallback]
lane = "claude_cli"
backend = "claude"
rationale = "nothing matched"

[[alternative_routes]]
name = "to_claude"
lane = "claude_cli"
backend = "claude"
role = "fallback"
from_lanes = ["codex_cli"]
confidence = 0.6
"#;
        let policy: RoutingPolicy = toml::from_str(text).unwrap();
        assert_eq!(policy.validate(), Vec::<String>::new());
        let out = route(&policy, &attrs("documentation", "medium", &[]));
        assert_eq!(
            (out.rule.as_deref(), out.backend.as_str(), out.confidence),
            (Some("docs_local"), "direct_local", 0.9)
        );
        assert_eq!(out.alternatives, vec!["claude_cli".to_owned(), "codex_cli".to_owned()]);
        let mut critical = attrs("bug_fix", "high", &[]);
        critical.priority = "critical".into();
        let out = route(&policy, &critical);
        assert_eq!(
            (out.rule.as_deref(), out.lane.as_str(), out.backend.as_str()),
            (Some("everything_else"), "codex_cli", "codex")
        );
        assert_eq!(
            out.alternatives,
            vec!["claude_cli".to_owned(), "aider_local".to_owned()]
        );
        let out = route(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!((out.backend.as_str(), out.confidence), ("command", 1.0));
        let plan = route_plan(&policy, &attrs("bug_fix", "low", &[]));
        assert_eq!(plan.fallbacks.candidates[0].backend, "claude");
        assert_eq!(plan.fallbacks.candidates[0].confidence, 0.6);

        // Strict about keys, unlike the YAML loader.
        let typo = toml::from_str::<RoutingPolicy>(
            "[[rules]]\nname = \"a\"\nselect_lane = \"x\"\nselect_backend = \"y\"\nwhen_ = {}\n",
        );
        assert!(typo.unwrap_err().to_string().contains("unknown field `when_`"));
        let bad = toml::from_str::<RoutingPolicy>(
            "[[rules]]\nname = \"a\"\nselect_lane = \"x\"\nselect_backend = \"y\"\nconfidence = 7\n",
        );
        assert!(bad.unwrap_err().to_string().contains("outside 0.0..=1.0"));
    }

    #[test]
    fn builtin_default_round_trips_through_toml_json_and_yaml() {
        let policy = RoutingPolicy::builtin_default();
        let toml_text = toml::to_string(&policy).unwrap();
        assert_eq!(toml::from_str::<RoutingPolicy>(&toml_text).unwrap(), policy);
        let json_value = serde_json::to_value(&policy).unwrap();
        assert_eq!(serde_json::from_value::<RoutingPolicy>(json_value).unwrap(), policy);
        let yaml_text = serde_norway::to_string(&policy).unwrap();
        assert_eq!(load(&yaml_text), policy);
    }
}
