//! A pseudo-terminal for tests that need a real terminal: interactive shells completing command
//! lines as a person types them, and commands that fit their output to the terminal's width.
//! Output is waited for by content, never by time; the bound on each wait only keeps a broken
//! build from hanging CI.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    master: std::fs::File,
    child: Child,
    output: Arc<(Mutex<Output>, Condvar)>,
    /// Where the next `expect` starts looking, in the cleaned output.
    seen: usize,
}

#[derive(Default)]
struct Output {
    raw: Vec<u8>,
    closed: bool,
}

const GIVE_UP: Duration = Duration::from_secs(120);

impl Pty {
    /// Start `cmd` on a new terminal of `cols` × `rows`, as its controlling terminal.
    pub fn spawn(mut cmd: Command, cols: u16, rows: u16) -> Pty {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the integers it is given.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; the child makes the terminal (its
        // stdin) its controlling terminal, as a login would.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start a process on a terminal");
        // Close the parent's copies of the terminal's slave side (held by `cmd`): reads then end
        // once the child and its children are gone.
        drop(cmd);
        let master = std::fs::File::from(master);
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let mut reader = master.try_clone().unwrap();
        let shared = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cond) = &*shared;
                let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    out.closed = true;
                    cond.notify_all();
                    return;
                }
                out.raw.extend_from_slice(&buf[..n]);
                cond.notify_all();
            }
        });
        Pty {
            master,
            child,
            output,
            seen: 0,
        }
    }

    /// Type `keys`.
    pub fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Wait until `what` appears in the output after what earlier calls consumed; returns the
    /// output up to and including it, without terminal control sequences.
    #[track_caller]
    pub fn expect(&mut self, what: &str) -> String {
        let give_up = Instant::now() + GIVE_UP;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            let text = clean(&out.raw);
            if let Some(at) = text[self.seen.min(text.len())..].find(what) {
                let end = self.seen + at + what.len();
                let found = text[self.seen..end].to_owned();
                self.seen = end;
                return found;
            }
            let now = Instant::now();
            assert!(
                now < give_up && !out.closed,
                "gave up waiting for {what:?}; the terminal shows:\n{}",
                &text[self.seen.min(text.len())..]
            );
            out = cond.wait_timeout(out, give_up - now).unwrap().0;
        }
    }

    /// Wait until every one of `items` has appeared after what earlier calls consumed, in any
    /// order; returns the output up to the last of them.
    #[track_caller]
    pub fn expect_all(&mut self, items: &[&str]) -> String {
        let give_up = Instant::now() + GIVE_UP;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            let text = clean(&out.raw);
            let rest = &text[self.seen.min(text.len())..];
            let ends: Option<Vec<usize>> = items.iter().map(|i| rest.find(i).map(|at| at + i.len())).collect();
            if let Some(end) = ends.and_then(|e| e.into_iter().max()) {
                let found = rest[..end].to_owned();
                self.seen += end;
                return found;
            }
            let now = Instant::now();
            assert!(
                now < give_up && !out.closed,
                "gave up waiting for all of {items:?}; the terminal shows:\n{rest}"
            );
            out = cond.wait_timeout(out, give_up - now).unwrap().0;
        }
    }

    /// Wait for the process to end; its status and everything it printed (cleaned).
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let give_up = Instant::now() + GIVE_UP;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap();
        while !out.closed && Instant::now() < give_up {
            out = cond.wait_timeout(out, Duration::from_secs(1)).unwrap().0;
        }
        (status, clean(&out.raw))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Terminal output as text: escape sequences (CSI, OSC, charset selections) and carriage
/// returns removed.
pub fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // Until BEL or ST (ESC \).
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Some('(' | ')') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' | '\x07' => {}
            c => out.push(c),
        }
    }
    out
}
