//! The one error type of git-oc. Its kind decides the exit code; it prints as `error: …`, then
//! one `caused by: …` line per cause (the typed `source()` chain, then plain-text causes), then
//! `hint: …` lines. Hints that depend on the cause are chosen from the cause's type, not its text.

use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad usage or bad input: flags, goals, paths, configuration, not a repository. Exit 2.
    Input,
    /// The run could not be carried out or did not succeed. Exit 1.
    Run,
    /// Interrupted by the user after recording what happened. Exit 130.
    Interrupted,
    /// A defect in git-oc itself (a panic, a broken invariant). Exit 70 (`EX_SOFTWARE`).
    Internal,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::Run => 1,
            ErrorKind::Interrupted => 130,
            ErrorKind::Internal => 70,
        }
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The typed cause, whose own `source()` chain continues it.
    source: Option<Source>,
    /// Plain-text causes after the typed chain (a child process's stderr, say).
    notes: Vec<String>,
    pub hints: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: one_line(&message.into()),
            source: None,
            notes: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    pub fn run(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Run, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
            .hint("this is a defect in git-oc; please report it with the command you ran and GIT_OC_LOG=debug output")
    }

    /// A failed git operation: `context` says what git-oc was doing; the gix error is the cause.
    pub fn git(context: impl Into<String>, err: impl Into<gix::Error>) -> Self {
        let err: gix::Error = err.into();
        Self::run(context).with_source(err)
    }

    pub fn io(context: impl Into<String>, err: &std::io::Error) -> Self {
        let copy = std::io::Error::new(err.kind(), err.to_string());
        Self::run(context).with_source(copy)
    }

    /// Attach a typed cause, and the hints its type calls for.
    pub fn with_source(mut self, err: impl std::error::Error + Send + Sync + 'static) -> Self {
        let source: Source = Arc::new(err);
        if let Some(hint) = hint_for(source.as_ref()) {
            self = self.hint(hint);
        }
        self.source = Some(source);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        let hint = one_line(&hint.into());
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
        self
    }

    /// A plain-text cause, after the typed ones.
    pub fn caused_by(mut self, cause: impl Into<String>) -> Self {
        let cause = one_line(&cause.into());
        if !cause.is_empty() && !self.notes.contains(&cause) && cause != self.message {
            self.notes.push(cause);
        }
        self
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// Every cause, outermost first: the typed chain, then the plain-text ones.
    pub fn causes(&self) -> Vec<String> {
        let mut out = match &self.source {
            Some(s) => error_chain(s.as_ref()),
            None => Vec::new(),
        };
        for note in &self.notes {
            if !out.contains(note) {
                out.push(note.clone());
            }
        }
        out.retain(|c| *c != self.message);
        out
    }

    /// The message and its causes on one line, `message: cause: cause`, for warnings and reasons.
    pub fn summary_line(&self) -> String {
        std::iter::once(self.message.clone())
            .chain(self.causes())
            .collect::<Vec<_>>()
            .join(": ")
    }

    /// The summary and what to do about it, on one line (for reports that carry errors as text).
    pub fn summary_with_hints(&self) -> String {
        let mut line = self.summary_line();
        for hint in &self.hints {
            line.push_str(&format!(" (hint: {hint})"));
        }
        line
    }

    /// The text printed on stderr, one line per message, cause and hint.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        for cause in self.causes() {
            out.push_str(&format!("caused by: {cause}\n"));
        }
        for hint in &self.hints {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The hint a typed cause calls for: a held lock, a read-only repository, GitHub's answer.
fn hint_for(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(api) = e.downcast_ref::<crate::github::ApiError>() {
            return api.hint();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                // gix reports a lock file someone else holds as the `AlreadyExists` of its creation.
                std::io::ErrorKind::AlreadyExists => {
                    return Some(
                        "another git process holds a lock; if none is running, delete the .lock file named above \
                         (git oc gc removes git-oc's own stale locks)"
                            .to_owned(),
                    );
                }
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    return Some("git-oc needs to write to the repository's .git directory".to_owned());
                }
                std::io::ErrorKind::StorageFull => return Some("free some disk space and run again".to_owned()),
                _ => {}
            }
        }
        current = e.source();
    }
    None
}

/// Messages are printed one per line: control characters (newlines in a goal or a path, say)
/// are shown escaped so that one message never spans several lines or drives the terminal.
fn one_line(s: &str) -> String {
    crate::text::escape_controls(s.trim_end()).into_owned()
}

/// The messages of an error and its sources, outermost first, without repeats.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = one_line(&e.to_string());
        // gix tags errors with a classification (`NotFound`, `Validation`, …) that reads as
        // noise to a user; real messages have more than one word.
        let is_class_tag = !text.contains(' ') && text.starts_with(|c: char| c.is_ascii_uppercase());
        if !text.is_empty() && !is_class_tag && !out.contains(&text) {
            out.push(text);
        }
        current = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_causes_form_a_chain_and_choose_hints() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Error::io("could not write x", &io).caused_by("more detail");
        assert_eq!(e.causes(), ["denied", "more detail"]);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.hints, ["git-oc needs to write to the repository's .git directory"]);
        assert_eq!(
            e.render(),
            "error: could not write x\ncaused by: denied\ncaused by: more detail\nhint: git-oc needs to write to the \
             repository's .git directory\n"
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = Error::input("bad\ngoal\u{1b}[31m");
        assert_eq!(e.message, "bad\\ngoal\\x1b[31m");
        assert_eq!(Error::internal("x").exit_code(), 70);
    }
}
