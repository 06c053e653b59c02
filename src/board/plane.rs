//! The Plane board (`[board] kind = "plane"`): Plane's REST API v1, the subset the original uses
//! (reference-fullstack §9.1, plane-api.md). Every list is followed to its last page (the
//! original read only the first); requests carry `X-API-Key` and are retried a bounded number of
//! times on 429 (after `Retry-After`), on 502/503/504 and on connection errors; states are
//! resolved by name (an unknown name fails before anything is sent, where the original sent the
//! name and Plane refused it), labels by name and created when missing (a 409 on creation means
//! someone made it meanwhile: its id is used); descriptions and comments are converted to and
//! from HTML.
//!
//! A transition with an expected state reads the work item and then patches it: Plane has no
//! compare-and-swap, so a change made by someone else between the two requests is not seen.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::{Value, json};

use super::task::{self, Comment, Task, TaskSummary};
use super::{Board, BoardKind, Filter, HistoryEntry, NewTask, StateKind, States, Transition, check::Check};
use crate::contracts::Timestamp;
use crate::error::{Error, Result};

/// The token's environment variable.
pub const TOKEN_VAR: &str = "PLANE_API_TOKEN";
/// Attempts per request, as the original.
const ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: u64 = 60;

#[derive(Clone, Debug)]
struct PlaneState {
    id: String,
    name: String,
}

#[derive(Clone, Debug)]
struct PlaneLabel {
    id: String,
    name: String,
}

pub struct PlaneBoard {
    base: String,
    /// `/api/v1/workspaces/{slug}/projects/{project_id}`
    prefix: String,
    project_id: String,
    token: String,
    agent: ureq::Agent,
    states: States,
    /// The pause before retry `n` is `n` times this (the original: 2 s).
    retry_unit: Duration,
    plane_states: RefCell<Option<Vec<PlaneState>>>,
    labels: RefCell<Option<Vec<PlaneLabel>>>,
    /// Each work item's `priority` as last read (the task has no field for it).
    priorities: RefCell<std::collections::HashMap<String, String>>,
}

impl PlaneBoard {
    /// The board the `[plane]` section names, with the token from the environment.
    pub fn from_config(section: &crate::config::PlaneSection, states: States) -> Result<PlaneBoard> {
        let need = |value: &Option<String>, key: &str| -> Result<String> {
            value.clone().filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                Error::input(format!("[board] kind = \"plane\" needs plane.{key}"))
                    .hint("set url, workspace and project_id in the [plane] section of .oc/config.toml")
            })
        };
        let url = need(&section.url, "url")?;
        let workspace = need(&section.workspace, "workspace")?;
        let project_id = need(&section.project_id, "project_id")?;
        if !is_uuid(&project_id) {
            return Err(Error::input(format!("plane.project_id {project_id:?} is not a UUID"))
                .hint("copy the project's id from Plane's project settings"));
        }
        let token = std::env::var(TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Error::input(format!("the Plane board needs an API token in {TOKEN_VAR}")).hint(format!(
                    "create one in Plane (profile settings, API tokens) and export {TOKEN_VAR}"
                ))
            })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(PlaneBoard {
            base: url.trim_end_matches('/').to_owned(),
            prefix: format!("/api/v1/workspaces/{workspace}/projects/{project_id}"),
            project_id,
            token,
            agent,
            states,
            retry_unit: Duration::from_millis(section.retry_unit_ms.unwrap_or(2000)),
            plane_states: RefCell::new(None),
            labels: RefCell::new(None),
            priorities: RefCell::new(std::collections::HashMap::new()),
        })
    }

    /// One request, retried as the original does; the JSON answer of a 2xx.
    fn call(&self, method: &str, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let shown = crate::execution::secrets::redact_url(&self.base).into_owned();
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            let pause = self.retry_unit * attempt;
            let sent = match method {
                "GET" => self
                    .agent
                    .get(&url)
                    .header("X-API-Key", &self.token)
                    .header("Content-Type", "application/json")
                    .query_pairs(query.iter().copied())
                    .call(),
                _ => {
                    let text = body.map(Value::to_string).unwrap_or_default();
                    let builder = if method == "POST" {
                        self.agent.post(&url)
                    } else {
                        self.agent.patch(&url)
                    };
                    builder
                        .header("X-API-Key", &self.token)
                        .header("Content-Type", "application/json")
                        .query_pairs(query.iter().copied())
                        .send(text)
                }
            };
            let mut response = match sent {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::debug!(error = %e, attempt, "Plane request failed; retrying");
                    std::thread::sleep(pause);
                    continue;
                }
                Err(e) => {
                    return Err(Error::run(format!("could not reach Plane at {shown}"))
                        .caused_by(crate::execution::secrets::redact_urls(&e.to_string()).into_owned())
                        .hint("check [plane] url and that Plane is running and reachable"));
                }
            };
            let status = response.status().as_u16();
            if status == 429 && !last {
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok());
                let wait = after.map_or(pause, |s| Duration::from_secs(s.min(MAX_RETRY_AFTER)));
                tracing::debug!(?wait, attempt, "Plane is rate limiting; waiting");
                std::thread::sleep(wait);
                continue;
            }
            if matches!(status, 502..=504) && !last {
                std::thread::sleep(pause);
                continue;
            }
            let text = response.body_mut().read_to_string().unwrap_or_default();
            if (200..300).contains(&status) {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| {
                    Error::run(format!(
                        "Plane answered {method} {path} with something that is not JSON"
                    ))
                    .caused_by(e.to_string())
                    .hint("check that [plane] url is Plane's address")
                });
            }
            return Err(self.status_error(status, method, path, &text));
        }
        Err(Error::run("the Plane request did not succeed").hint("run the command again"))
    }

    /// Plane's error answers (plane-api.md §2.2, §2.4) as git-oc errors.
    fn status_error(&self, status: u16, method: &str, path: &str, body: &str) -> Error {
        let detail = serde_json::from_str::<Value>(body)
            .ok()
            .map(|v| {
                ["detail", "error", "error_message"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        let what = format!("{method} {path}");
        match status {
            401 => Error::input(format!("Plane wants an API token ({status}: {detail})"))
                .hint(format!("export {TOKEN_VAR} with a token from Plane's profile settings")),
            403 => Error::input(format!("Plane refused the request ({status}: {detail})")).hint(format!(
                "check {TOKEN_VAR} (a wrong or expired token is refused with 403) and that its user is a member of project {}",
                self.project_id
            )),
            404 => Error::input(format!("Plane has nothing at {what} ({detail})"))
                .hint("check [plane] workspace and project_id, and the task id"),
            429 => Error::run(format!("Plane kept rate limiting the requests ({detail})"))
                .hint("wait a minute and run the command again"),
            400..=499 => Error::input(format!("Plane refused {what} ({status}: {detail})"))
                .hint("see the message; the request was not applied"),
            _ => Error::run(format!("Plane failed on {what} ({status}: {detail})"))
                .hint("Plane had a problem; run the command again later"),
        }
    }

    /// Every item of a list endpoint, page after page.
    fn list_all(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _page in 0..100_000 {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let body = self.call("GET", path, &q, None)?;
            match &body {
                Value::Array(items) => {
                    out.extend(items.iter().cloned());
                    return Ok(out);
                }
                _ => {
                    if let Some(items) = body.get("results").and_then(Value::as_array) {
                        out.extend(items.iter().cloned());
                    }
                    let more = body.get("next_page_results").and_then(Value::as_bool).unwrap_or(false);
                    match body.get("next_cursor").and_then(Value::as_str) {
                        Some(next) if more => cursor = Some(next.to_owned()),
                        _ => return Ok(out),
                    }
                }
            }
        }
        Ok(out)
    }

    fn plane_states(&self) -> Result<Vec<PlaneState>> {
        if let Some(s) = self.plane_states.borrow().as_ref() {
            return Ok(s.clone());
        }
        let states: Vec<PlaneState> = self
            .list_all(&format!("{}/states/", self.prefix), &[])?
            .iter()
            .filter_map(|s| {
                Some(PlaneState {
                    id: s.get("id")?.as_str()?.to_owned(),
                    name: s.get("name")?.as_str()?.to_owned(),
                })
            })
            .collect();
        *self.plane_states.borrow_mut() = Some(states.clone());
        Ok(states)
    }

    /// The Plane state id of a state name (case-insensitive); an unknown name is an error.
    fn state_id(&self, name: &str) -> Result<String> {
        self.plane_states()?
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.id)
            .ok_or_else(|| {
                Error::input(format!("the Plane project has no state named {name:?}"))
                    .hint("create it in Plane (git-oc never creates states), or rename it in [board.states]")
            })
    }

    fn state_name(&self, value: &Value) -> Result<String> {
        if let Some(name) = value.get("name").and_then(Value::as_str) {
            return Ok(name.to_owned());
        }
        let id = value.as_str().unwrap_or_default();
        Ok(self
            .plane_states()?
            .into_iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_owned(), |s| s.name))
    }

    fn labels(&self, refresh: bool) -> Result<Vec<PlaneLabel>> {
        if !refresh && let Some(l) = self.labels.borrow().as_ref() {
            return Ok(l.clone());
        }
        let labels: Vec<PlaneLabel> = self
            .list_all(&format!("{}/labels/", self.prefix), &[])?
            .iter()
            .filter_map(|l| {
                Some(PlaneLabel {
                    id: l.get("id")?.as_str()?.to_owned(),
                    name: l.get("name")?.as_str()?.to_owned(),
                })
            })
            .collect();
        *self.labels.borrow_mut() = Some(labels.clone());
        Ok(labels)
    }

    /// Label ids for names, creating the labels Plane does not have.
    fn label_ids(&self, names: &[String]) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for name in names {
            let known = self
                .labels(false)?
                .into_iter()
                .find(|l| l.name.eq_ignore_ascii_case(name));
            let id = match known {
                Some(l) => l.id,
                None => match self.call(
                    "POST",
                    &format!("{}/labels/", self.prefix),
                    &[],
                    Some(&json!({ "name": name })),
                ) {
                    Ok(created) => created.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    // Made by someone else meanwhile (Plane answers 409 with its id): read again.
                    Err(e) if e.message.contains("409") => self
                        .labels(true)?
                        .into_iter()
                        .find(|l| l.name.eq_ignore_ascii_case(name))
                        .map(|l| l.id)
                        .ok_or(e)?,
                    Err(e) => return Err(e),
                },
            };
            if let Some(cache) = self.labels.borrow_mut().as_mut()
                && !cache.iter().any(|l| l.id == id)
            {
                cache.push(PlaneLabel {
                    id: id.clone(),
                    name: name.clone(),
                });
            }
            ids.push(id);
        }
        Ok(ids)
    }

    fn label_names(&self, value: &Value) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for l in value.as_array().into_iter().flatten() {
            if let Some(name) = l.get("name").and_then(Value::as_str) {
                out.push(name.to_owned());
                continue;
            }
            let id = l.as_str().unwrap_or_default();
            let mut found = self.labels(false)?.into_iter().find(|x| x.id == id);
            if found.is_none() {
                found = self.labels(true)?.into_iter().find(|x| x.id == id);
            }
            out.push(found.map_or_else(|| id.to_owned(), |x| x.name));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn item_path(&self, id: &str) -> Result<String> {
        let id = id.trim().to_ascii_lowercase();
        if !is_uuid(&id) {
            return Err(Error::input(format!("{id:?} is not a Plane work item id"))
                .hint("Plane work items are named by their UUID; list them with 'git oc task list'"));
        }
        Ok(format!("{}/work-items/{id}/", self.prefix))
    }

    fn fetch_item(&self, id: &str) -> Result<Value> {
        let path = self.item_path(id)?;
        self.call("GET", &path, &[("expand", "state")], None).map_err(|e| {
            if e.message.starts_with("Plane has nothing") {
                Error::input(format!("no task {id} on the Plane board")).hint("list tasks with 'git oc task list'")
            } else {
                e
            }
        })
    }

    fn to_task(&self, item: &Value, comments: Vec<Comment>) -> Result<Task> {
        let time = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .and_then(Timestamp::parse)
                .unwrap_or(Timestamp::from_micros(0))
        };
        let mut t = Task {
            id: item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            title: item.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            state: self.state_name(item.get("state").unwrap_or(&Value::Null))?,
            labels: self.label_names(item.get("labels").unwrap_or(&Value::Null))?,
            description: html_to_text(item.get("description_html").and_then(Value::as_str).unwrap_or("")),
            created_at: time("created_at"),
            created_by: item
                .get("created_by")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            updated_at: time("updated_at"),
            edited_at: time("updated_at"),
            state_changed_at: time("updated_at"),
            comments,
        };
        t.normalize();
        if let Some(p) = item.get("priority").and_then(Value::as_str) {
            self.priorities.borrow_mut().insert(t.id.clone(), p.to_owned());
        }
        Ok(t)
    }

    fn comments(&self, id: &str) -> Result<Vec<Comment>> {
        let path = format!("{}comments/", self.item_path(id)?);
        Ok(self
            .list_all(&path, &[])?
            .iter()
            .map(|c| Comment {
                id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                author: c
                    .get("actor")
                    .or_else(|| c.get("created_by"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                created_at: c
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(Timestamp::parse)
                    .unwrap_or(Timestamp::from_micros(0)),
                body: html_to_text(c.get("comment_html").and_then(Value::as_str).unwrap_or("")),
            })
            .collect())
    }
}

impl Board for PlaneBoard {
    fn kind(&self) -> BoardKind {
        BoardKind::Plane
    }

    /// Plane's own priority field, else a `priority:` label.
    fn priority(&self, task: &Task) -> Option<String> {
        self.priorities
            .borrow()
            .get(&task.id)
            .filter(|p| !p.eq_ignore_ascii_case("none"))
            .cloned()
            .or_else(|| task.label_value("priority").map(str::to_owned))
    }

    fn states(&self) -> &States {
        &self.states
    }

    fn list(&self, filter: &Filter) -> Result<Vec<TaskSummary>> {
        let items = self.list_all(&format!("{}/work-items/", self.prefix), &[("expand", "state")])?;
        let mut out = Vec::new();
        for item in &items {
            let mut s = self.to_task(item, Vec::new())?.summary();
            // Plane lists no comment counts; counting would cost a request per task.
            s.comments = 0;
            if filter.matches(&s) {
                out.push(s);
            }
        }
        self.states.sort_for_listing(&mut out);
        Ok(out)
    }

    fn get(&self, id: &str) -> Result<Task> {
        let item = self.fetch_item(id)?;
        let comments = self.comments(id)?;
        self.to_task(&item, comments)
    }

    fn create(&self, new: &NewTask) -> Result<Task> {
        let (title, labels, state) = new.checked(&self.states)?;
        let draft = Task {
            id: String::new(),
            title: title.clone(),
            state: state.clone(),
            labels: labels.clone(),
            description: new.description.trim_end().to_owned(),
            created_at: Timestamp::from_micros(0),
            created_by: String::new(),
            updated_at: Timestamp::from_micros(0),
            edited_at: Timestamp::from_micros(0),
            state_changed_at: Timestamp::from_micros(0),
            comments: Vec::new(),
        };
        task::check_text(&draft)?;
        let body = json!({
            "name": title,
            "description_stripped": draft.description,
            "description_html": text_to_html(&draft.description),
            "state": self.state_id(&state)?,
            "labels": self.label_ids(&labels)?,
        });
        let created = self.call("POST", &format!("{}/work-items/", self.prefix), &[], Some(&body))?;
        let id = created.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        self.get(&id)
    }

    fn transition(&self, id: &str, to: &str, expected: Option<&str>) -> Result<Transition> {
        let to = self.states.resolve(to)?;
        let expected = expected.map(|e| self.states.resolve(e)).transpose()?;
        let item = self.fetch_item(id)?;
        let id = item.get("id").and_then(Value::as_str).unwrap_or(id).to_owned();
        let from = self.state_name(item.get("state").unwrap_or(&Value::Null))?;
        if let Some(exp) = &expected
            && !from.eq_ignore_ascii_case(exp)
        {
            return Err(
                Error::run(format!("task {id} is in state {from:?}, not {exp:?}: it was not moved"))
                    .hint(format!("someone else moved it; see it with 'git oc task show {id}'")),
            );
        }
        if from.eq_ignore_ascii_case(&to) {
            return Ok(Transition { task_id: id, from, to });
        }
        let mut body = json!({ "state": self.state_id(&to)? });
        let today = Timestamp::now().to_string()[..10].to_owned();
        // The dates the original sets with a move.
        match self.states.kind_of(&to) {
            Some(StateKind::Running) => body["start_date"] = json!(today),
            Some(StateKind::Done | StateKind::InReview | StateKind::Blocked) => body["target_date"] = json!(today),
            _ if to.eq_ignore_ascii_case("Review") => body["target_date"] = json!(today),
            _ => {}
        }
        self.call("PATCH", &self.item_path(&id)?, &[], Some(&body))?;
        Ok(Transition { task_id: id, from, to })
    }

    fn comment(&self, id: &str, body: &str) -> Result<Comment> {
        let body = body.trim_end();
        if body.trim().is_empty() {
            return Err(Error::input("the comment is empty").hint("write the comment's text"));
        }
        let path = format!("{}comments/", self.item_path(id)?);
        // The item must exist: Plane answers an unknown one with a 400.
        self.fetch_item(id)?;
        let c = self.call("POST", &path, &[], Some(&json!({ "comment_html": text_to_html(body) })))?;
        Ok(Comment {
            id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            author: c.get("actor").and_then(Value::as_str).unwrap_or_default().to_owned(),
            created_at: c
                .get("created_at")
                .and_then(Value::as_str)
                .and_then(Timestamp::parse)
                .unwrap_or_else(Timestamp::now),
            body: body.to_owned(),
        })
    }

    fn edit(&self, id: &str, title: Option<&str>, description: Option<&str>) -> Result<Task> {
        let title = title.map(task::check_title).transpose()?;
        if title.is_none() && description.is_none() {
            return Err(Error::input("nothing to edit").hint("give --title, --body, --body-file or --edit"));
        }
        let mut current = self.get(id)?;
        let mut body = json!({});
        if let Some(t) = &title {
            current.title = t.clone();
            body["name"] = json!(t);
        }
        if let Some(d) = description {
            current.description = d.trim_end().to_owned();
            body["description_stripped"] = json!(current.description);
            body["description_html"] = json!(text_to_html(&current.description));
        }
        task::check_text(&current)?;
        self.call("PATCH", &self.item_path(&current.id)?, &[], Some(&body))?;
        self.get(&current.id)
    }

    fn set_labels(&self, id: &str, add: &[String], remove: &[String]) -> Result<Task> {
        let add = add.iter().map(|l| task::check_label(l)).collect::<Result<Vec<_>>>()?;
        let remove = remove
            .iter()
            .map(|l| task::check_label(l))
            .collect::<Result<Vec<_>>>()?;
        if add.is_empty() && remove.is_empty() {
            return Err(Error::input("no label to add or remove").hint("give --add LABEL or --remove LABEL"));
        }
        // Plane replaces the whole set: read, change, write.
        let current = self.get(id)?;
        let mut labels = current.labels.clone();
        labels.retain(|l| !remove.iter().any(|r| r.eq_ignore_ascii_case(l)));
        for l in add {
            if !labels.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
                labels.push(l);
            }
        }
        let ids = self.label_ids(&labels)?;
        self.call(
            "PATCH",
            &self.item_path(&current.id)?,
            &[],
            Some(&json!({ "labels": ids })),
        )?;
        self.get(&current.id)
    }

    fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let t = self.get(id)?;
        let mut out = vec![HistoryEntry {
            commit: None,
            time: t.created_at,
            event: "created".into(),
            subject: format!("created: {}", t.title),
            author: t.created_by.clone(),
        }];
        out.extend(t.comments.iter().map(|c| HistoryEntry {
            commit: None,
            time: c.created_at,
            event: "commented".into(),
            subject: c.body.lines().next().unwrap_or("").to_owned(),
            author: c.author.clone(),
        }));
        out.sort_by_key(|e| e.time);
        Ok(out)
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        match self.call("GET", "/api/v1/users/me/", &[], None) {
            Ok(me) => {
                let name = me
                    .get("display_name")
                    .or_else(|| me.get("first_name"))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                let email = me.get("email").and_then(Value::as_str).unwrap_or("?");
                checks.push(Check::ok("api user", format!("{name} <{email}>")));
            }
            Err(e) => {
                checks.push(Check::fail("api user", e.summary_line()));
                return checks;
            }
        }
        match self.call("GET", &format!("{}/", self.prefix), &[], None) {
            Ok(p) => checks.push(Check::ok(
                "project",
                format!(
                    "{} ({})",
                    p.get("name").and_then(Value::as_str).unwrap_or("?"),
                    self.project_id
                ),
            )),
            Err(e) => checks.push(Check::fail("project", e.summary_line())),
        }
        match self.plane_states() {
            Ok(have) => {
                let missing: Vec<&str> = StateKind::ALL
                    .iter()
                    .map(|k| self.states.name(*k))
                    .filter(|n| !have.iter().any(|s| s.name.eq_ignore_ascii_case(n)))
                    .collect();
                checks.push(if missing.is_empty() {
                    Check::ok("plane states", format!("all {} states exist", StateKind::ALL.len()))
                } else {
                    Check::fail(
                        "plane states",
                        format!(
                            "the project lacks the states {} (git-oc never creates states)",
                            missing.join(", ")
                        ),
                    )
                });
            }
            Err(e) => checks.push(Check::fail("plane states", e.summary_line())),
        }
        match self.labels(true) {
            Ok(l) => checks.push(Check::ok(
                "labels",
                format!("{} label(s); missing ones are created when first used", l.len()),
            )),
            Err(e) => checks.push(Check::fail("labels", e.summary_line())),
        }
        match self.list_all(&format!("{}/work-items/", self.prefix), &[("expand", "state")]) {
            Ok(items) => checks.push(Check::ok(
                "tasks",
                format!("{} work item(s), every page read", items.len()),
            )),
            Err(e) => checks.push(Check::fail("tasks", e.summary_line())),
        }
        checks
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// Text as the original sends it: each blank-line-separated block a `<p>`, lines joined with
/// `<br/>`, HTML-escaped.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::new();
    let mut block: Vec<String> = Vec::new();
    let flush = |block: &mut Vec<String>, out: &mut String| {
        if !block.is_empty() {
            out.push_str(&format!("<p>{}</p>", block.join("<br/>")));
            block.clear();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut block, &mut out);
        } else {
            block.push(escape(line));
        }
    }
    flush(&mut block, &mut out);
    out
}

/// HTML as the original reads it back: headings become `## x`, list items `- x`, `<br>` a line
/// break, paragraphs blank-line separated, other tags dropped, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let closing = tag.starts_with('/');
        match (name.as_str(), closing) {
            ("br", _) => out.push('\n'),
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => out.push_str("\n## "),
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => out.push('\n'),
            ("li", false) => out.push_str("- "),
            ("li", true) => out.push('\n'),
            ("p" | "div" | "ul" | "ol" | "pre", true) => out.push_str("\n\n"),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let mut text = String::new();
    let mut blank = 0;
    for line in decoded.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank == 1 && !text.is_empty() {
                text.push('\n');
            }
        } else {
            blank = 0;
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_round_trip_through_html() {
        let text = "## Execution\nrepo: svc\nmode: goal\n\n## Goal\nUse a < b & c.";
        let html = text_to_html(text);
        assert_eq!(
            html,
            "<p>## Execution<br/>repo: svc<br/>mode: goal</p><p>## Goal<br/>Use a &lt; b &amp; c.</p>"
        );
        assert_eq!(html_to_text(&html), text);
        // Plane's normalisation (a div around several blocks, <br> for <br/>) changes nothing.
        let normalised = format!("<div>{}</div>", html.replace("<br/>", "<br>"));
        assert_eq!(html_to_text(&normalised), text);
        assert_eq!(
            html_to_text("<h2>Goal</h2><ul><li>a</li><li>b</li></ul>"),
            "## Goal\n- a\n- b"
        );
    }
}
