//! A fake Plane server following plane-api.md §6's checklist: routing with UUID-typed path
//! segments (404 `Page not found.`), trailing slashes (301), methods (405); `X-API-Key`
//! authentication (401 missing, 403 unknown token or foreign project); a per-key rate limit with
//! the `X-RateLimit-*` headers and 429 + `Retry-After` + the 5900 body; the list envelope with
//! `per_page` and `cursor`, in Plane's orders; work items, states, labels and comments in the
//! shapes of §3, with Plane's write rules (state and label ids validated, labels replaced,
//! `description_stripped` ignored, `description_html` normalised, `completed_at`, `sequence_id`,
//! the default state); seeded with the original's states. Hooks force a 429 or a 5xx.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

pub const TOKEN: &str = "plane_api_test_token_0123456789";
pub const WORKSPACE: &str = "acme";
pub const PROJECT: &str = "4af68566-94a4-4eb3-94aa-50dc9427067b";
const WS_ID: &str = "cd4ab5a2-1a5f-4516-a6c6-8da1a9fa5be4";
const USER: &str = "16c61a3a-512a-48ac-b0be-b6b46fe6f430";

pub struct Plane {
    /// Requests allowed per 60 s per key.
    pub rate_limit: usize,
    /// Rows per page when the client gives no `per_page` (Plane: 1000).
    pub default_per_page: usize,
    /// Statuses to answer the next requests with (429 comes with `Retry-After: 0`).
    pub forced: VecDeque<u16>,
    pub requests: Vec<(String, String)>,
    hits: HashMap<String, Vec<Instant>>,
    clock: i64,
    seq: i64,
    pub states: Vec<Value>,
    pub labels: Vec<Value>,
    pub items: Vec<Value>,
    pub comments: Vec<Value>,
}

pub struct FakePlane {
    pub url: String,
    pub plane: Arc<Mutex<Plane>>,
}

fn uuid_of(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Plane {
    fn now(&mut self) -> String {
        self.clock += 1;
        let secs = 1_779_000_000 + self.clock;
        let t = jiff_like(secs);
        format!("{t}.000000Z")
    }

    fn new_id(&mut self) -> String {
        self.seq += 1;
        uuid_of(0x1000 + self.seq as u64)
    }

    fn seed(&mut self) {
        for (i, (name, group)) in [
            ("Backlog", "backlog"),
            ("Ready for AI", "unstarted"),
            ("Running", "started"),
            ("In Review", "started"),
            ("Review", "started"),
            ("Blocked", "started"),
            ("Done", "completed"),
            ("Cancelled", "cancelled"),
        ]
        .iter()
        .enumerate()
        {
            let at = self.now();
            self.states.push(json!({
                "id": uuid_of(0x100 + i as u64), "name": name, "description": "", "color": "#60646C",
                "slug": name.to_lowercase().replace(' ', "-"), "sequence": (i as f64 + 1.0) * 15000.0,
                "group": group, "is_triage": false, "default": i == 0,
                "external_source": null, "external_id": null, "project": PROJECT, "workspace": WS_ID,
                "created_at": at, "updated_at": at, "deleted_at": null, "created_by": USER, "updated_by": null
            }));
        }
    }

    fn state(&self, id: &str) -> Option<&Value> {
        self.states.iter().find(|s| s["id"] == id)
    }
}

/// 1779000000 + n seconds as `YYYY-MM-DDTHH:MM:SS` (UTC), without a date library.
fn jiff_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

impl FakePlane {
    pub fn start() -> FakePlane {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut plane = Plane {
            rate_limit: 60,
            default_per_page: 1000,
            forced: VecDeque::new(),
            requests: Vec::new(),
            hits: HashMap::new(),
            clock: 0,
            seq: 0,
            states: Vec::new(),
            labels: Vec::new(),
            items: Vec::new(),
            comments: Vec::new(),
        };
        plane.seed();
        let plane = Arc::new(Mutex::new(plane));
        let shared = plane.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        FakePlane { url, plane }
    }
}

fn serve(stream: std::net::TcpStream, plane: &Mutex<Plane>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let r = {
        let mut p = plane.lock().unwrap();
        p.requests.push((method.clone(), target.clone()));
        handle(&mut p, &method, &target, &headers, &String::from_utf8_lossy(&body))
    };
    let reason = match r.status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        r.status,
        r.body.len()
    );
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&r.body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
}

fn query_map(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.to_owned(),
                v.replace("%3A", ":").replace("%3a", ":").replace("%2C", ","),
            )
        })
        .collect()
}

fn page(p: &Plane, rows: Vec<Value>, q: &HashMap<String, String>) -> Reply {
    let per_page = match q.get("per_page") {
        None => p.default_per_page,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 1000 => return reply(400, json!({"detail": "Invalid per_page value. Cannot exceed 1000."})),
            Ok(n) if n > 0 => n,
            _ => return reply(400, json!({"detail": "Invalid per_page parameter."})),
        },
    };
    let page: i64 = match q.get("cursor") {
        None => 0,
        Some(c) => {
            let parts: Vec<&str> = c.split(':').collect();
            if parts.len() != 3 || parts.iter().any(|x| x.parse::<i64>().is_err()) {
                return reply(400, json!({"detail": "Invalid cursor parameter."}));
            }
            let n: i64 = parts[1].parse().unwrap();
            if n < 0 {
                return reply(400, json!({"detail": "Error in parsing"}));
            }
            n
        }
    };
    let total = rows.len();
    let start = (page as usize * per_page).min(total);
    let end = (start + per_page).min(total);
    reply(
        200,
        json!({
            "grouped_by": null, "sub_grouped_by": null, "total_count": total,
            "next_cursor": format!("{per_page}:{}:0", page + 1),
            "prev_cursor": format!("{per_page}:{}:1", page - 1),
            "next_page_results": end < total, "prev_page_results": page > 0,
            "count": end - start, "total_pages": total.div_ceil(per_page),
            "total_results": total, "extra_stats": null,
            "results": rows[start..end].to_vec(),
        }),
    )
}

/// Plane's normalisation of `description_html` (lxml round trip): several top-level blocks are
/// wrapped in a `<div>`, and `<br/>` becomes `<br>`.
fn normalize_html(html: &str) -> String {
    let html = html.replace("<br/>", "<br>").replace("<br />", "<br>");
    if html.matches("<p>").count() > 1 {
        format!("<div>{html}</div>")
    } else {
        html
    }
}

fn item_view(p: &Plane, item: &Value, expand: &str) -> Value {
    let mut v = item.clone();
    if expand.split(',').any(|e| e == "state")
        && let Some(s) = v["state"].as_str().and_then(|id| p.state(id))
    {
        v["state"] = json!({"id": s["id"], "name": s["name"], "color": s["color"], "group": s["group"]});
    }
    if expand.split(',').any(|e| e == "labels") {
        let labels: Vec<Value> = v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| p.labels.iter().find(|l| &l["id"] == id).cloned())
            .collect();
        v["labels"] = json!(labels);
    }
    v
}

fn bad_uuid(value: &Value) -> String {
    format!(
        "“{}” is not a valid UUID.",
        value.as_str().unwrap_or(&value.to_string())
    )
}

/// Apply the writable fields of `body` to a work item, as Plane validates them.
fn write_item(p: &mut Plane, item: &mut Value, body: &Value) -> Result<(), Reply> {
    if let Some(name) = body.get("name") {
        match name.as_str() {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= 255 => item["name"] = json!(n),
            _ => return Err(reply(400, json!({"name": ["This field may not be blank."]}))),
        }
    }
    if let Some(state) = body.get("state") {
        let id = state.as_str().unwrap_or_default();
        if !is_uuid(id) {
            return Err(reply(400, json!({"state": [bad_uuid(state)]})));
        }
        let Some(s) = p.state(id).cloned() else {
            return Err(reply(
                400,
                json!({"non_field_errors": ["State is not valid please pass a valid state_id"]}),
            ));
        };
        item["state"] = json!(id);
        item["completed_at"] = if s["group"] == "completed" {
            json!(p.now())
        } else {
            Value::Null
        };
    }
    if let Some(labels) = body.get("labels") {
        let Some(ids) = labels.as_array() else {
            return Err(reply(400, json!({"labels": ["Expected a list of items."]})));
        };
        for id in ids {
            if !is_uuid(id.as_str().unwrap_or_default()) {
                return Err(reply(400, json!({"labels": [bad_uuid(id)]})));
            }
            if !p.labels.iter().any(|l| &l["id"] == id) {
                return Err(reply(
                    400,
                    json!({"labels": [format!("Invalid pk \"{}\" - object does not exist.", id.as_str().unwrap_or(""))]}),
                ));
            }
        }
        item["labels"] = json!(ids);
    }
    // `description_stripped` is ignored: Plane computes its own.
    if let Some(html) = body.get("description_html").and_then(Value::as_str) {
        item["description_html"] = json!(normalize_html(html));
    }
    for key in ["start_date", "target_date", "priority"] {
        if let Some(v) = body.get(key) {
            item[key] = v.clone();
        }
    }
    item["updated_at"] = json!(p.now());
    Ok(())
}

fn handle(p: &mut Plane, method: &str, target: &str, headers: &HashMap<String, String>, body: &str) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = query_map(query);
    let not_found = || reply(404, json!({"error": "Page not found."}));
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return not_found();
    };
    if !path.ends_with('/') {
        let mut r = reply(301, json!({}));
        r.body = String::new();
        r.headers.push(("location".into(), format!("{path}/")));
        return r;
    }
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    // Route first: an unknown route or a non-UUID id is 404 whatever the key.
    enum Route<'a> {
        Me,
        Project,
        States,
        Labels,
        Items,
        Item(&'a str),
        Comments(&'a str),
    }
    let route = match segs.as_slice() {
        ["users", "me"] => Route::Me,
        ["workspaces", _, "projects", pid, tail @ ..] if is_uuid(pid) => match tail {
            [] => Route::Project,
            ["states"] => Route::States,
            ["labels"] => Route::Labels,
            ["work-items"] => Route::Items,
            ["work-items", id] if is_uuid(id) => Route::Item(id),
            ["work-items", id, "comments"] if is_uuid(id) => Route::Comments(id),
            _ => return not_found(),
        },
        _ => return not_found(),
    };
    let allowed: &[&str] = match route {
        Route::Me | Route::Project => &["GET"],
        Route::States | Route::Labels | Route::Items | Route::Comments(_) => &["GET", "POST"],
        Route::Item(_) => &["GET", "PATCH", "DELETE"],
    };
    if !allowed.contains(&method) {
        return reply(405, json!({"detail": format!("Method \"{method}\" not allowed.")}));
    }
    // Authenticate, check permissions, then throttle.
    let Some(key) = headers.get("x-api-key") else {
        return reply(401, json!({"detail": "Authentication credentials were not provided."}));
    };
    if key != TOKEN {
        return reply(403, json!({"detail": "Given API token is not valid"}));
    }
    if let ["workspaces", ws, "projects", pid, ..] = segs.as_slice()
        && (*ws != WORKSPACE || *pid != PROJECT)
    {
        return reply(
            403,
            json!({"detail": "You do not have permission to perform this action."}),
        );
    }
    if let Some(status) = p.forced.pop_front() {
        let mut r = if status == 429 {
            reply(429, json!({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}))
        } else {
            reply(status, json!({"error": "Something went wrong please try again later"}))
        };
        if status == 429 {
            r.headers.push(("retry-after".into(), "0".into()));
        }
        return r;
    }
    let now = Instant::now();
    let limit = p.rate_limit;
    let hits = p.hits.entry(key.clone()).or_default();
    hits.retain(|t| now.duration_since(*t).as_secs() < 60);
    if hits.len() >= limit {
        let wait = hits.first().map_or(60, |t| 60 - now.duration_since(*t).as_secs());
        let mut r = reply(429, json!({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}));
        r.headers.push(("retry-after".into(), wait.max(1).to_string()));
        return r;
    }
    hits.push(now);
    let remaining = limit - hits.len();
    let mut r = route_request(p, method, route_kind(&route), &q, body);
    r.headers.push(("x-ratelimit-remaining".into(), remaining.to_string()));
    r.headers.push(("x-ratelimit-reset".into(), "1779190922".into()));
    return r;

    fn route_kind<'a>(r: &Route<'a>) -> (&'static str, Option<&'a str>) {
        match r {
            Route::Me => ("me", None),
            Route::Project => ("project", None),
            Route::States => ("states", None),
            Route::Labels => ("labels", None),
            Route::Items => ("items", None),
            Route::Item(id) => ("item", Some(id)),
            Route::Comments(id) => ("comments", Some(id)),
        }
    }
}

fn route_request(
    p: &mut Plane,
    method: &str,
    route: (&str, Option<&str>),
    q: &HashMap<String, String>,
    body: &str,
) -> Reply {
    let body: Value = if body.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return reply(400, json!({"detail": format!("JSON parse error - {e}")})),
        }
    };
    let expand = q.get("expand").cloned().unwrap_or_default();
    let gone = || reply(404, json!({"error": "The requested resource does not exist."}));
    match (route, method) {
        (("me", _), _) => reply(
            200,
            json!({"id": USER, "first_name": "OC", "last_name": "Bot", "email": "oc@example.com", "avatar": "", "avatar_url": null, "display_name": "oc-bot"}),
        ),
        (("project", _), _) => reply(
            200,
            json!({"id": PROJECT, "name": "Operations", "identifier": "OPS", "workspace": WS_ID, "default_state": uuid_of(0x100)}),
        ),
        (("states", _), "GET") => {
            let rows = p.states.clone();
            page(p, rows, q)
        }
        (("states", _), _) => reply(400, json!({"error": "The payload is not valid"})),
        (("labels", _), "GET") => {
            let mut rows = p.labels.clone();
            rows.reverse();
            page(p, rows, q)
        }
        (("labels", _), _) => {
            let Some(name) = body.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                return reply(400, json!({"name": ["This field is required."]}));
            };
            if let Some(existing) = p.labels.iter().find(|l| l["name"] == name) {
                return reply(
                    409,
                    json!({"error": "Label with the same name already exists in the project", "id": existing["id"]}),
                );
            }
            let at = p.now();
            let id = p.new_id();
            let label = json!({
                "id": id, "name": name, "description": "", "color": body.get("color").cloned().unwrap_or(json!("")),
                "sort_order": 65535.0, "parent": null, "external_source": null, "external_id": null,
                "project": PROJECT, "workspace": WS_ID, "created_at": at, "updated_at": at, "deleted_at": null,
                "created_by": USER, "updated_by": null
            });
            p.labels.push(label.clone());
            reply(201, label)
        }
        (("items", _), "GET") => {
            let mut rows: Vec<Value> = p.items.iter().map(|i| item_view(p, i, &expand)).collect();
            rows.reverse();
            page(p, rows, q)
        }
        (("items", _), _) => {
            if body.get("name").and_then(Value::as_str).is_none() {
                return reply(400, json!({"name": ["This field is required."]}));
            }
            let at = p.now();
            let id = p.new_id();
            let sequence = p.items.len() as i64 + 1;
            let mut item = json!({
                "id": id, "type_id": null, "assignees": [], "labels": [], "created_at": at, "updated_at": at,
                "deleted_at": null, "point": null, "name": "", "description_html": "<p></p>",
                "description_binary": null, "priority": "none", "start_date": null, "target_date": null,
                "sequence_id": sequence, "sort_order": 65535.0, "completed_at": null, "archived_at": null,
                "is_draft": false, "external_source": null, "external_id": null, "created_by": USER,
                "updated_by": null, "project": PROJECT, "workspace": WS_ID, "parent": null,
                "state": uuid_of(0x100), "estimate_point": null, "type": null
            });
            if let Err(r) = write_item(p, &mut item, &body) {
                return r;
            }
            item["updated_at"] = item["created_at"].clone();
            p.items.push(item.clone());
            reply(201, item)
        }
        (("item", Some(id)), "GET") => match p.items.iter().find(|i| i["id"] == id) {
            Some(i) => reply(200, item_view(p, i, &expand)),
            None => gone(),
        },
        (("item", Some(id)), "PATCH") => {
            let Some(pos) = p.items.iter().position(|i| i["id"] == id) else {
                return gone();
            };
            let mut item = p.items[pos].clone();
            if let Err(r) = write_item(p, &mut item, &body) {
                return r;
            }
            p.items[pos] = item.clone();
            reply(200, item)
        }
        (("item", _), _) => reply(405, json!({"detail": "Method not allowed."})),
        (("comments", Some(id)), "GET") => {
            let mut rows: Vec<Value> = p
                .comments
                .iter()
                .filter(|c| c["issue"] == id)
                .map(|c| {
                    let mut c = c.clone();
                    c["is_member"] = json!(true);
                    c
                })
                .collect();
            rows.reverse();
            page(p, rows, q)
        }
        (("comments", Some(id)), _) => {
            if !p.items.iter().any(|i| i["id"] == id) {
                return reply(400, json!({"error": "The payload is not valid"}));
            }
            let at = p.now();
            let cid = p.new_id();
            let description = p.new_id();
            let comment = json!({
                "id": cid, "created_at": at, "updated_at": at, "deleted_at": null,
                "comment_html": body.get("comment_html").cloned().unwrap_or(json!("<p></p>")),
                "attachments": [], "access": "INTERNAL", "external_source": null, "external_id": null,
                "edited_at": null, "created_by": USER, "updated_by": null, "project": PROJECT,
                "workspace": WS_ID, "description": description, "issue": id, "actor": USER, "parent": null
            });
            p.comments.push(comment.clone());
            reply(201, comment)
        }
        _ => reply(404, json!({"error": "Page not found."})),
    }
}
