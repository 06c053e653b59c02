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
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.stdout_closed = true;
                false
            }
            Err(_) => {
                self.stdout_closed = true;
                false
            }
        }
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
