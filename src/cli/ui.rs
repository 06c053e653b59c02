//! Output discipline: `Ui` owns stdout and stderr and the output format, chosen once per
//! command. Data goes to stdout, progress and diagnostics to stderr. A reader that goes away
//! (`git oc demo | head -3`) ends output quietly; any other failure to write the data (a full
//! disk) is an error, so that lost output never exits 0.

use std::io::{IsTerminal, Write};

use crate::error::{Error, Result};

/// How command results are printed: the human report, or one JSON document (`--json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug)]
enum Sink {
    Open,
    /// The reader went away: nothing more is written, and that is not an error.
    Closed,
    /// Writing failed for another reason; reported by [`Ui::finish`].
    Failed(String),
}

pub struct Ui {
    format: OutputFormat,
    quiet: bool,
    verbose: u8,
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    err_is_terminal: bool,
    out_is_terminal: bool,
    sink: Sink,
}

impl Ui {
    /// The process's own stdout and stderr.
    pub fn new(format: OutputFormat, quiet: bool, verbose: u8) -> Self {
        let err_is_terminal = std::io::stderr().is_terminal();
        let out_is_terminal = std::io::stdout().is_terminal();
        Self::with_writers(
            format,
            quiet,
            verbose,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
        .terminal(out_is_terminal, err_is_terminal)
    }

    /// Any writers, for tests and embedding.
    pub fn with_writers(
        format: OutputFormat,
        quiet: bool,
        verbose: u8,
        out: Box<dyn Write>,
        err: Box<dyn Write>,
    ) -> Self {
        Ui {
            format,
            quiet,
            verbose,
            out,
            err,
            err_is_terminal: false,
            out_is_terminal: false,
            sink: Sink::Open,
        }
    }

    fn terminal(mut self, out_is_terminal: bool, err_is_terminal: bool) -> Self {
        self.out_is_terminal = out_is_terminal;
        self.err_is_terminal = err_is_terminal;
        self
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// Write command data to stdout. Returns false once nothing more can be written.
    pub fn data(&mut self, text: &str) -> bool {
        self.bytes(text.as_bytes())
    }

    /// Write exact bytes to stdout (an evidence file, say).
    pub fn bytes(&mut self, bytes: &[u8]) -> bool {
        if !matches!(self.sink, Sink::Open) {
            return false;
        }
        match self.out.write_all(bytes).and_then(|_| self.out.flush()) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.sink = Sink::Closed;
                false
            }
            Err(e) => {
                self.sink = Sink::Failed(e.to_string());
                false
            }
        }
    }

    /// A file's exact bytes for pipes and redirections; on a terminal, control characters other
    /// than line breaks and tabs are escaped (a fetched `stdout.txt` may hold escape sequences).
    pub fn file(&mut self, bytes: &[u8]) -> bool {
        if !self.out_is_terminal {
            return self.bytes(bytes);
        }
        let text = String::from_utf8_lossy(bytes);
        let shown = crate::text::escape_controls_keep_lines(&text).into_owned();
        self.data(&shown)
    }

    /// One pretty-printed JSON document on stdout.
    pub fn json(&mut self, doc: &impl serde::Serialize) -> bool {
        self.data(&json_text(doc))
    }

    /// The JSON document with `--json`, else the human text.
    pub fn emit(&mut self, doc: &impl serde::Serialize, human: impl FnOnce() -> String) -> bool {
        match self.format {
            OutputFormat::Json => self.json(doc),
            OutputFormat::Human => self.data(&human()),
        }
    }

    /// Whether progress lines are shown: on a terminal or with `-v`, never with `-q` or `--json`.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && (self.verbose > 0 || (self.err_is_terminal && !self.is_json()))
    }

    /// A progress line on stderr, for people watching.
    pub fn status(&mut self, text: &str) {
        if self.shows_progress() {
            let _ = writeln!(self.err, "{}", crate::text::escape_controls(text));
        }
    }

    /// Whether a live, redrawn status line can be shown: stderr is a terminal.
    pub fn live_status(&self) -> bool {
        self.err_is_terminal
    }

    /// Draw (or redraw) the one live status line, cut to fit an 80-column line.
    pub fn status_line(&mut self, text: &str) {
        let text = crate::text::escape_controls(text);
        let cut = crate::contracts::prefix_chars(&text, 79);
        let _ = write!(self.err, "\r\x1b[2K{cut}").and_then(|_| self.err.flush());
    }

    /// Remove the live status line.
    pub fn clear_status_line(&mut self) {
        let _ = write!(self.err, "\r\x1b[2K").and_then(|_| self.err.flush());
    }

    /// Raw output of a running agent or validation command (`-v`), already redacted.
    pub fn stream(&mut self, bytes: &[u8]) {
        let _ = self.err.write_all(bytes).and_then(|_| self.err.flush());
    }

    /// A diagnostic on stderr (what was kept and why, say): not data, so never on stdout, and
    /// not shown with `-q`.
    pub fn note(&mut self, text: &str) {
        if !self.quiet {
            let _ = writeln!(self.err, "{}", crate::text::escape_controls(text));
        }
    }

    /// The width of the terminal stdout goes to; `None` when stdout is not a terminal (a pipe or
    /// a file gets whole lines).
    pub fn terminal_width(&self) -> Option<usize> {
        if !self.out_is_terminal {
            return None;
        }
        // SAFETY: TIOCGWINSZ fills in a winsize; an all-zero one is a valid value to start from.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctl only writes into `size`, which outlives the call.
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        let from_env = || std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok());
        match (ok, size.ws_col) {
            (true, cols) if cols > 0 => Some(usize::from(cols)),
            _ => Some(from_env().unwrap_or(80)),
        }
    }

    pub fn warning(&mut self, text: &str) {
        let _ = writeln!(self.err, "warning: {}", crate::text::escape_controls(text));
    }

    pub fn error(&mut self, e: &Error) {
        let _ = self.err.write_all(e.render().as_bytes()).and_then(|_| self.err.flush());
    }

    /// Flush and report data that could not be written (the reader going away is not an error).
    pub fn finish(&mut self) -> Result<()> {
        if matches!(self.sink, Sink::Open)
            && let Err(e) = self.out.flush()
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            self.sink = Sink::Failed(e.to_string());
        }
        match &self.sink {
            Sink::Failed(why) => Err(Error::run("could not write the output")
                .caused_by(why.clone())
                .hint("check where stdout goes (a full disk, a closed file)")),
            _ => Ok(()),
        }
    }

    /// Whether data on stdout may be coloured: a terminal, and no `NO_COLOR`.
    pub fn color(&self) -> bool {
        self.out_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    /// Colour is for terminals only, and never with `NO_COLOR`.
    pub fn color_stderr() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
    }
}

/// A pretty-printed JSON document and its final line break.
pub fn json_text(doc: &impl serde::Serialize) -> String {
    match serde_json::to_string_pretty(doc) {
        Ok(text) => format!("{text}\n"),
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Gone;
    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_is_an_error_and_a_gone_reader_is_not() {
        let mut ui = Ui::with_writers(OutputFormat::Human, false, 0, Box::new(Full), Box::new(std::io::sink()));
        assert!(!ui.data("x"));
        assert_eq!(ui.finish().unwrap_err().exit_code(), 1);
        let mut ui = Ui::with_writers(OutputFormat::Human, false, 0, Box::new(Gone), Box::new(std::io::sink()));
        assert!(!ui.data("x"));
        assert!(ui.finish().is_ok());
    }
}
