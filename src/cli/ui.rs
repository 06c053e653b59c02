//! Output discipline: data on stdout, status and diagnostics on stderr. A closed stdout (as in
//! `git oc demo | head -3`) ends output quietly instead of failing.

use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    stdout_closed: bool,
}

impl Ui {
    pub fn new(quiet: bool, verbose: u8) -> Self {
        Ui {
            quiet,
            verbose,
            stdout_closed: false,
        }
    }

    /// Write command data to stdout. Returns false once the reader has gone away.
    pub fn data(&mut self, text: &str) -> bool {
        if self.stdout_closed {
            return false;
        }
        let mut out = std::io::stdout().lock();
        // A broken pipe and any other write failure alike: the reader cannot take more.
        let written = out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_ok();
        self.stdout_closed = !written;
        written
    }

    /// Write one pretty-printed JSON document to stdout (`--json`).
    pub fn json(&mut self, doc: &impl serde::Serialize) -> bool {
        self.data(&json_text(doc))
    }

    /// A progress line on stderr, for people watching a terminal (never with `-q`).
    pub fn status(&self, text: &str) {
        if !self.quiet && (self.verbose > 0 || std::io::stderr().is_terminal()) {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    pub fn warning(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
    }

    /// Colour is for terminals only, and never with `NO_COLOR`.
    pub fn color_stderr() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
    }
}

/// A pretty-printed JSON document and its final line break.
pub fn json_text(doc: &impl serde::Serialize) -> String {
    format!("{}\n", serde_json::to_string_pretty(doc).unwrap_or_default())
}
