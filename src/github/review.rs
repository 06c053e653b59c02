//! The calls the review loop makes (`git oc review`): every open pull request with its body,
//! a pull request's comments, reactions, reviews and check runs, a comment posted, a merge and
//! a branch deleted. Lists are read through octocrab's `Link` pagination as plain JSON, so a
//! field GitHub adds or leaves out never breaks a read.

use serde::Serialize;
use serde_json::Value;

use super::{ApiError, ApiErrorKind, Client};

/// Pages read at most for one list.
const MAX_PAGES: usize = 50;

/// A pull request as the review loop sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewPull {
    pub number: u64,
    pub url: String,
    pub title: String,
    pub body: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub head: String,
    pub head_sha: String,
    /// `owner/name` the head branch lives in (another one for a fork).
    pub head_repository: String,
    pub base: String,
    pub author: String,
    pub labels: Vec<String>,
}

impl ReviewPull {
    fn from_json(v: &Value) -> ReviewPull {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        ReviewPull {
            number: v["number"].as_u64().unwrap_or(0),
            url: s(&v["html_url"]),
            title: s(&v["title"]),
            body: s(&v["body"]),
            state: s(&v["state"]),
            draft: v["draft"].as_bool().unwrap_or(false),
            merged: v["merged"].as_bool().unwrap_or(false) || v["merged_at"].is_string(),
            head: s(&v["head"]["ref"]),
            head_sha: s(&v["head"]["sha"]),
            head_repository: s(&v["head"]["repo"]["full_name"]),
            base: s(&v["base"]["ref"]),
            author: s(&v["user"]["login"]),
            labels: v["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str().map(str::to_owned))
                .collect(),
        }
    }
}

/// A comment on the pull request's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssueComment {
    pub id: u64,
    pub login: String,
    pub body: String,
    pub created_at: String,
}

/// A reaction on the pull request itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reaction {
    pub login: String,
    /// `+1`, `-1`, `heart`, …
    pub content: String,
}

/// A submitted review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Review {
    pub id: u64,
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, …
    pub state: String,
    pub commit_id: String,
}

/// A check run on a commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckRun {
    pub name: String,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
}

/// What a merge said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merged {
    pub sha: String,
    pub message: String,
}

impl Client {
    fn list(&self, action: &str, route: String, query: &[(&str, &str)]) -> Result<Vec<Value>, ApiError> {
        let mut params = vec![("per_page", "100")];
        params.extend_from_slice(query);
        let mut page = self.block_on(
            action,
            self.octo.get::<octocrab::Page<Value>, _, _>(route, Some(&params)),
        )?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            out.append(&mut page.items);
            let next = page.next.take();
            if next.is_none() {
                break;
            }
            match self.block_on(action, self.octo.get_page::<Value>(&next))? {
                Some(p) => page = p,
                None => break,
            }
        }
        Ok(out)
    }

    fn repo_route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.name)
    }

    /// Every open pull request of the repository (drafts included).
    pub fn open_pulls(&self) -> Result<Vec<ReviewPull>, ApiError> {
        Ok(self
            .list(
                "list the open pull requests",
                self.repo_route("pulls"),
                &[("state", "open")],
            )?
            .iter()
            .map(ReviewPull::from_json)
            .collect())
    }

    pub fn pull(&self, number: u64) -> Result<ReviewPull, ApiError> {
        let v: Value = self.block_on(
            "read the pull request",
            self.octo.get(self.repo_route(&format!("pulls/{number}")), None::<&()>),
        )?;
        Ok(ReviewPull::from_json(&v))
    }

    pub fn issue_comments(&self, number: u64) -> Result<Vec<IssueComment>, ApiError> {
        let route = self.repo_route(&format!("issues/{number}/comments"));
        Ok(self
            .list("read the comments", route, &[])?
            .iter()
            .map(|c| IssueComment {
                id: c["id"].as_u64().unwrap_or(0),
                login: c["user"]["login"].as_str().unwrap_or_default().to_owned(),
                body: c["body"].as_str().unwrap_or_default().to_owned(),
                created_at: c["created_at"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    pub fn reactions(&self, number: u64) -> Result<Vec<Reaction>, ApiError> {
        let route = self.repo_route(&format!("issues/{number}/reactions"));
        Ok(self
            .list("read the reactions", route, &[])?
            .iter()
            .map(|r| Reaction {
                login: r["user"]["login"].as_str().unwrap_or_default().to_owned(),
                content: r["content"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    pub fn reviews(&self, number: u64) -> Result<Vec<Review>, ApiError> {
        let route = self.repo_route(&format!("pulls/{number}/reviews"));
        Ok(self
            .list("read the reviews", route, &[])?
            .iter()
            .map(|r| Review {
                id: r["id"].as_u64().unwrap_or(0),
                login: r["user"]["login"].as_str().unwrap_or_default().to_owned(),
                state: r["state"].as_str().unwrap_or_default().to_owned(),
                commit_id: r["commit_id"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// The check runs on `sha`, every page read, with their status and output title.
    pub fn commit_check_runs(&self, sha: &str) -> Result<Vec<CheckRun>, ApiError> {
        let action = "read the check runs";
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let route = self.repo_route(&format!("commits/{sha}/check-runs"));
            let page = page.to_string();
            let params = [("per_page", "100"), ("page", page.as_str())];
            let v: Value = self.block_on(action, self.octo.get(route, Some(&params)))?;
            let runs = v["check_runs"].as_array().cloned().unwrap_or_default();
            let total = v["total_count"].as_u64().unwrap_or(0) as usize;
            out.extend(runs.iter().map(|r| CheckRun {
                name: r["name"].as_str().unwrap_or_default().to_owned(),
                status: r["status"].as_str().unwrap_or_default().to_owned(),
                conclusion: r["conclusion"].as_str().map(str::to_owned),
                title: r["output"]["title"].as_str().map(str::to_owned),
            }));
            if runs.is_empty() || out.len() >= total {
                break;
            }
        }
        Ok(out)
    }

    /// Post a comment on the pull request's conversation; its id.
    pub fn comment(&self, number: u64, body: &str) -> Result<u64, ApiError> {
        let route = self.repo_route(&format!("issues/{number}/comments"));
        let v: Value = self.block_on(
            "comment on the pull request",
            self.octo.post(route, Some(&serde_json::json!({ "body": body }))),
        )?;
        Ok(v["id"].as_u64().unwrap_or(0))
    }

    /// Merge the pull request at `sha` (GitHub refuses with 409 when its head moved since).
    pub fn merge(&self, number: u64, sha: &str, method: &str, title: &str) -> Result<Merged, ApiError> {
        let route = self.repo_route(&format!("pulls/{number}/merge"));
        let mut body = serde_json::json!({ "merge_method": method, "sha": sha });
        if method == "squash" {
            body["commit_title"] = Value::String(format!("{title} (#{number})"));
        }
        let v: Value = self.block_on("merge the pull request", self.octo.put(route, Some(&body)))?;
        Ok(Merged {
            sha: v["sha"].as_str().unwrap_or_default().to_owned(),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Delete a branch of the repository.
    pub fn delete_branch(&self, branch: &str) -> Result<(), ApiError> {
        let action = "delete the branch";
        let route = self.repo_route(&format!("git/refs/heads/{branch}"));
        self.block_on(action, async {
            let response = self.octo._delete(route, None::<&()>).await?;
            octocrab::map_github_error(response).await.map(drop)
        })
    }
}

/// Whether a failed merge is one GitHub may allow later (405 not mergeable, 409 head moved).
pub fn merge_refused(e: &ApiError) -> bool {
    matches!(e.status, Some(405 | 409)) || e.kind == ApiErrorKind::Validation && e.mentions("mergeable")
}
