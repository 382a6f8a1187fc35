//! Progress bars that also show in logs. indicatif draws nothing when stderr is not a terminal
//! (`nohup … > log`, CI), so an hour of training would print nothing until the epoch ends; there
//! the bar is drawn instead as one plain line per [`LOG_EVERY`].

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// How often a bar writes its plain line when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// A progress bar in the project's style: drawn in place on a terminal, a plain line every
/// [`LOG_EVERY`] otherwise.
pub fn progress(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    if !io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::term_like_with_hz(
            Box::new(PlainLines::new(io::stderr(), LOG_EVERY)),
            1,
        ));
    }
    bar
}

/// A [`TermLike`] for logs: it ignores cursor moves and writes what a redraw drew as one line,
/// at most once per `every` (the first redraw always).
pub struct PlainLines<W: Write + Send> {
    every: Duration,
    state: Mutex<LineState<W>>,
}

struct LineState<W> {
    out: W,
    drawn: String,
    last: Option<Instant>,
}

impl<W: Write + Send> PlainLines<W> {
    /// Lines go to `out`, one per `every` at most.
    pub fn new(out: W, every: Duration) -> Self {
        Self { every, state: Mutex::new(LineState { out, drawn: String::new(), last: None }) }
    }

    /// Runs `f` on the state; a poisoned lock only means another redraw panicked, and the text
    /// it left is still a valid (if partial) line.
    fn with<T>(&self, f: impl FnOnce(&mut LineState<W>) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state)
    }
}

impl<W: Write + Send> fmt::Debug for PlainLines<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainLines").field("every", &self.every).finish_non_exhaustive()
    }
}

impl<W: Write + Send> TermLike for PlainLines<W> {
    fn width(&self) -> u16 {
        120
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.with(|state| state.drawn.push_str(s));
        Ok(())
    }

    fn clear_line(&self) -> io::Result<()> {
        self.with(|state| state.drawn.clear());
        Ok(())
    }

    /// The end of a redraw: its text becomes a line if one is due.
    fn flush(&self) -> io::Result<()> {
        self.with(|state| {
            let line = state.drawn.replace('\r', " ").trim().to_string();
            state.drawn.clear();
            let due = state.last.is_none_or(|last| last.elapsed() >= self.every);
            if line.is_empty() || !due {
                return Ok(());
            }
            state.last = Some(Instant::now());
            writeln!(state.out, "{line}")?;
            state.out.flush()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A `Write` whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn redraw(term: &impl TermLike, text: &str) {
        term.move_cursor_up(1).unwrap();
        term.write_str("\r").unwrap();
        term.clear_line().unwrap();
        term.write_str(text).unwrap();
        term.write_str("   ").unwrap();
        term.flush().unwrap();
    }

    /// What two redraws a moment apart leave in the log of a bar that writes once per `every`.
    fn log_of_two_redraws(every: Duration) -> String {
        let out = Shared::default();
        let term = PlainLines::new(out.clone(), every);
        redraw(&term, "epoch 1/1 [=>  ] 1/10");
        redraw(&term, "epoch 1/1 [===>] 3/10");
        out.text()
    }

    #[test]
    fn writes_the_first_redraw_then_holds_back_until_the_interval_passes() {
        assert_eq!(log_of_two_redraws(Duration::from_secs(3600)), "epoch 1/1 [=>  ] 1/10\n");
    }

    #[test]
    fn writes_each_redraw_once_the_interval_has_passed() {
        assert_eq!(log_of_two_redraws(Duration::ZERO), "epoch 1/1 [=>  ] 1/10\nepoch 1/1 [===>] 3/10\n");
    }

    #[test]
    fn a_cleared_bar_writes_nothing() {
        let out = Shared::default();
        let term = PlainLines::new(out.clone(), Duration::ZERO);
        term.write_str("half a line").unwrap();
        term.clear_line().unwrap();
        term.flush().unwrap();
        assert_eq!(out.text(), "");
    }

    #[test]
    fn a_real_bar_reaches_the_log() {
        let out = Shared::default();
        let bar = ProgressBar::with_draw_target(
            Some(4),
            ProgressDrawTarget::term_like(Box::new(PlainLines::new(out.clone(), Duration::ZERO))),
        );
        bar.set_style(ProgressStyle::with_template("{msg} {pos}/{len}").unwrap());
        bar.set_message("epoch 1/2");
        bar.set_position(3);
        bar.tick();
        assert!(out.text().lines().any(|line| line == "epoch 1/2 3/4"), "log was {:?}", out.text());
    }
}
