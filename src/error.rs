//! The one error type of git-oc. Its kind decides the exit code; it prints as
//! `error: …`, then `caused by: …` lines, then `hint: …` lines.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad usage or bad input: flags, goals, paths, configuration, not a repository. Exit 2.
    Input,
    /// The run could not be carried out or did not succeed. Exit 1.
    Run,
    /// Interrupted by the user after recording what happened. Exit 130.
    Interrupted,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::Run => 1,
            ErrorKind::Interrupted => 130,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: one_line(&message.into()),
            causes: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    pub fn run(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Run, message)
    }

    /// A failed git operation: `context` says what git-oc was doing, the gix error chain becomes
    /// the causes.
    pub fn git(context: impl Into<String>, err: impl Into<gix::Error>) -> Self {
        let err: gix::Error = err.into();
        let mut e = Self::run(context);
        e.causes = error_chain(&err);
        if e.causes
            .iter()
            .any(|c| c.contains("could not be obtained") || c.contains(".lock"))
        {
            e = e.hint(
                "another git process holds a lock; if none is running, delete the .lock file named above (git oc gc \
                 removes git-oc's own stale locks)",
            );
        } else if e
            .causes
            .iter()
            .any(|c| c.contains("Read-only file system") || c.contains("Permission denied"))
        {
            e = e.hint("git-oc needs to write to the repository's .git directory");
        }
        e
    }

    pub fn io(context: impl Into<String>, err: &std::io::Error) -> Self {
        Self::run(context).caused_by(err.to_string())
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(one_line(&hint.into()));
        self
    }

    pub fn caused_by(mut self, cause: impl Into<String>) -> Self {
        let cause = one_line(&cause.into());
        if !cause.is_empty() && !self.causes.contains(&cause) && cause != self.message {
            self.causes.push(cause);
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

    /// The message and its causes on one line, `message: cause: cause`, for warnings and reasons.
    pub fn summary_line(&self) -> String {
        std::iter::once(self.message.as_str())
            .chain(self.causes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(": ")
    }

    /// The text printed on stderr, one line per message, cause and hint.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        for cause in &self.causes {
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

impl std::error::Error for Error {}

/// Messages are printed one per line: control characters (newlines in a goal or a path, say)
/// are shown escaped so that one message never spans several lines.
fn one_line(s: &str) -> String {
    let s = s.trim_end();
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
