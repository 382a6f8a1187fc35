//! The fuzzing loop: every seed once, then mutants of the seeds and of the mutants the target
//! accepted, each run under `catch_unwind` with the panic hook silenced, each timed by a watchdog.
//! A panic, or an execution over [`SLOW`], is a finding: its input (a panic's shrunk by
//! [`minimize`]) is saved under the target's regressions folder as `<first 16 hex digits of its
//! SHA-256>.bin`.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};

use super::mutate::Mutator;
use super::targets::Target;

/// An execution that takes longer than this is a finding.
pub const SLOW: Duration = Duration::from_secs(2);
/// An execution still running after this long is a hang: its input is saved and the process ends,
/// since a running execution cannot be stopped from outside.
pub const HANG: Duration = Duration::from_secs(60);
/// Most mutants kept as parents because the target accepted them.
const POOL: usize = 256;
/// Seconds between progress lines.
const PROGRESS_EVERY: f64 = 5.0;

/// How long a fuzzing run lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Mutants until this many seconds have passed (seeds included).
    Seconds(f64),
    /// This many mutants after the seeds (the same executions on every machine).
    Executions(u64),
}

/// How to fuzz one target.
#[derive(Debug, Clone)]
pub struct Options {
    /// When to stop.
    pub budget: Budget,
    /// Seed of the mutations: the same seed, seeds and budget of executions replay the same run.
    pub seed: u64,
    /// Where findings are saved (`None`: nowhere).
    pub save_to: Option<PathBuf>,
    /// Print a progress line every few seconds (to stderr).
    pub progress: bool,
}

/// What went wrong in one execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The target panicked.
    Panic {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic.
        location: String,
    },
    /// The target took longer than [`SLOW`].
    Slow {
        /// How long it took.
        seconds: f64,
    },
}

impl Problem {
    /// What tells one bug from another: the panic's location, or "slow".
    pub fn key(&self) -> String {
        match self {
            Problem::Panic { location, .. } => location.clone(),
            Problem::Slow { .. } => "slow".into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Panic { message, location } => write!(f, "panic at {location}: {message}"),
            Problem::Slow { seconds } => write!(f, "took {seconds:.1} s (over {} s)", SLOW.as_secs()),
        }
    }
}

/// A distinct problem found while fuzzing (the first input that showed it).
#[derive(Debug, Clone)]
pub struct Finding {
    /// What happened.
    pub problem: Problem,
    /// The input.
    pub input: Vec<u8>,
    /// Where the input was saved, if it was.
    pub saved: Option<PathBuf>,
    /// Whether the saved file is new (not already a regression input).
    pub new: bool,
    /// Executions that showed the same problem (by [`Problem::key`]).
    pub count: u64,
}

/// The outcome of fuzzing one target.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's name.
    pub target: String,
    /// Executions, seeds included.
    pub executions: u64,
    /// Executions whose input the target accepted.
    pub accepted: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Distinct problems, in the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Executions per second.
    pub fn per_second(&self) -> f64 {
        self.executions as f64 / self.seconds.max(1e-9)
    }

    /// Findings whose input was not already a regression file.
    pub fn new_findings(&self) -> usize {
        self.findings.iter().filter(|f| f.new).count()
    }
}

thread_local! {
    /// Set while this thread runs a target: its panics are recorded instead of printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last quiet panic's message and location.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the panics of threads running a target and passes
/// every other panic to the hook it replaced.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.get() {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic without a message)".into());
                let location = info
                    .location()
                    .map_or_else(|| "unknown".into(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC.set(Some((message, location)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on `input` once, quietly: `Ok(accepted)`, or the problem (a panic, or a run over
/// [`SLOW`]).
pub fn execute(target: &dyn Target, input: &[u8]) -> Result<bool, Problem> {
    install_panic_hook();
    let started = Instant::now();
    QUIET.set(true);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    QUIET.set(false);
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Err(_) => {
            let (message, location) = LAST_PANIC.take().unwrap_or_else(|| ("(not recorded)".into(), "unknown".into()));
            Err(Problem::Panic { message, location })
        }
        Ok(_) if seconds > SLOW.as_secs_f64() => Err(Problem::Slow { seconds }),
        Ok(accepted) => Ok(accepted),
    }
}

/// The file name of a finding: the first 16 hex digits of the input's SHA-256, then `.bin`.
pub fn file_name(input: &[u8]) -> String {
    let digest = Sha256::digest(input);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{hex}.bin")
}

/// Saves `input` in `dir` (created if needed) under [`file_name`]; `true` when the file is new.
pub fn save(dir: &Path, input: &[u8]) -> std::io::Result<(PathBuf, bool)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(input));
    if path.exists() {
        return Ok((path, false));
    }
    std::fs::write(&path, input)?;
    Ok((path, true))
}

/// The execution the watchdog watches.
#[derive(Clone)]
struct Execution {
    number: u64,
    started: Instant,
    input: Arc<Vec<u8>>,
    /// False for a seed, which is a file already and is never saved again.
    mutant: bool,
}

/// What the watchdog sees: the running execution, if any.
type Running = Mutex<Option<Execution>>;

/// Fuzzes `target` from `seeds` (run first, unchanged) within `options.budget`.
pub fn fuzz(target: &dyn Target, seeds: &[Vec<u8>], options: &Options) -> Report {
    let running: Running = Mutex::new(None);
    let done = AtomicBool::new(false);
    let name = target.name();
    std::thread::scope(|scope| {
        scope.spawn(|| watchdog(name, &running, &done, options.save_to.as_deref()));
        let report = fuzz_loop(target, seeds, options, &running);
        done.store(true, Ordering::Relaxed);
        report
    })
}

/// Watches the running execution: saves the input of one that passes [`SLOW`], and ends the
/// process when one passes [`HANG`].
fn watchdog(name: &str, running: &Running, done: &AtomicBool, save_to: Option<&Path>) {
    let mut reported = None;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let Some(execution) = running.lock().unwrap_or_else(PoisonError::into_inner).clone() else {
            continue;
        };
        let Execution { number, started, input, mutant } = execution;
        let save_to = save_to.filter(|_| mutant);
        let elapsed = started.elapsed();
        if elapsed > SLOW && reported != Some(number) {
            reported = Some(number);
            let saved = save_to.map(|dir| save(dir, &input));
            eprintln!("[{name}] execution {number} has run for over {} s; input: {saved:?}", SLOW.as_secs());
        }
        if elapsed > HANG {
            let saved = save_to.map(|dir| save(dir, &input));
            eprintln!("[{name}] execution {number} hangs (over {} s): input {saved:?}; stopping", HANG.as_secs());
            std::process::exit(3);
        }
    }
}

fn fuzz_loop(target: &dyn Target, seeds: &[Vec<u8>], options: &Options, running: &Running) -> Report {
    let largest = seeds.iter().map(Vec::len).max().unwrap_or(0);
    let mut mutator = Mutator::new(options.seed, (2 * largest).clamp(64 << 10, 4 << 20));
    let started = Instant::now();
    let mut report =
        Report { target: target.name().into(), executions: 0, accepted: 0, seconds: 0.0, findings: Vec::new() };
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut next_progress = PROGRESS_EVERY;
    let mut mutants = 0u64;
    let fallback = [Vec::new()];
    let parents = if seeds.is_empty() { &fallback[..] } else { seeds };
    for index in 0.. {
        let mutant = index >= seeds.len();
        let input = if !mutant {
            seeds[index].clone()
        } else {
            let stop = match options.budget {
                Budget::Seconds(seconds) => started.elapsed().as_secs_f64() >= seconds,
                Budget::Executions(n) => mutants >= n,
            };
            if stop {
                break;
            }
            mutants += 1;
            let from_pool = !pool.is_empty() && mutator.rng().random_bool(0.5);
            let parent = if from_pool {
                &pool[mutator.rng().random_range(0..pool.len())]
            } else {
                &parents[mutator.rng().random_range(0..parents.len())]
            };
            mutator.mutate(parent, parents, target.text(), target.dictionary())
        };
        let input = Arc::new(input);
        let execution = Execution { number: report.executions, started: Instant::now(), input: input.clone(), mutant };
        *running.lock().unwrap_or_else(PoisonError::into_inner) = Some(execution);
        let outcome = execute(target, &input);
        *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
        report.executions += 1;
        match outcome {
            Ok(true) => {
                report.accepted += 1;
                if mutant {
                    if pool.len() < POOL {
                        pool.push(input.to_vec());
                    } else {
                        let replaced = mutator.rng().random_range(0..POOL);
                        pool[replaced] = input.to_vec();
                    }
                }
            }
            Ok(false) => {}
            Err(problem) => {
                let known = report.findings.iter().any(|f| f.problem.key() == problem.key());
                // A new panic from a mutant is shrunk first (each try watched like any execution).
                let input = if mutant && !known && matches!(problem, Problem::Panic { .. }) {
                    minimize(&input, &problem.key(), |candidate| {
                        let execution = Execution {
                            number: report.executions,
                            started: Instant::now(),
                            input: Arc::new(candidate.to_vec()),
                            mutant,
                        };
                        *running.lock().unwrap_or_else(PoisonError::into_inner) = Some(execution);
                        let outcome = execute(target, candidate);
                        *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
                        outcome
                    })
                } else {
                    input.to_vec()
                };
                record(&mut report, problem, &input, mutant, options);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        if options.progress && elapsed >= next_progress {
            next_progress += PROGRESS_EVERY;
            eprintln!(
                "[{}] {elapsed:.0} s: {} executions ({:.0}/s), {} accepted, {} findings",
                report.target,
                report.executions,
                report.executions as f64 / elapsed,
                report.accepted,
                report.findings.len()
            );
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Most executions [`minimize`] spends on one input.
const MINIMIZE_EXECUTIONS: usize = 4000;
/// Most seconds [`minimize`] spends on one input.
const MINIMIZE_SECONDS: f64 = 20.0;

/// Shrinks `input` while `run` still fails with the same [`Problem::key`]: removes chunks of
/// halving sizes (half the input, a quarter, ... one byte), keeping every removal that still
/// fails, within [`MINIMIZE_EXECUTIONS`] and [`MINIMIZE_SECONDS`]. A small regression file says
/// more than a large one, and holds nothing of the seed it came from that the failure does not need.
pub fn minimize(input: &[u8], key: &str, mut run: impl FnMut(&[u8]) -> Result<bool, Problem>) -> Vec<u8> {
    let started = Instant::now();
    let mut best = input.to_vec();
    let mut executions = 0;
    let mut chunk = best.len().div_ceil(2);
    let within_budget =
        |executions: usize| executions < MINIMIZE_EXECUTIONS && started.elapsed().as_secs_f64() < MINIMIZE_SECONDS;
    while chunk > 0 && within_budget(executions) {
        let mut start = 0;
        while start < best.len() && within_budget(executions) {
            let end = (start + chunk).min(best.len());
            let candidate: Vec<u8> = best[..start].iter().chain(&best[end..]).copied().collect();
            executions += 1;
            match run(&candidate) {
                Err(problem) if problem.key() == key => best = candidate,
                _ => start += chunk,
            }
        }
        chunk /= 2;
    }
    best
}

/// Adds a finding (saving a mutant's input) or counts it against an earlier one with the same key.
fn record(report: &mut Report, problem: Problem, input: &[u8], mutant: bool, options: &Options) {
    if let Some(earlier) = report.findings.iter_mut().find(|f| f.problem.key() == problem.key()) {
        earlier.count += 1;
        return;
    }
    let (saved, new) = match options.save_to.as_deref().filter(|_| mutant).map(|dir| save(dir, input)) {
        Some(Ok((path, new))) => (Some(path), new),
        Some(Err(err)) => {
            eprintln!("[{}] could not save a finding: {err}", report.target);
            (None, true)
        }
        None => (None, mutant),
    };
    if options.progress {
        let shown = saved.as_ref().map_or_else(|| "not saved".into(), |p| p.display().to_string());
        eprintln!("[{}] finding: {problem} ({} bytes, {shown})", report.target, input.len());
    }
    report.findings.push(Finding { problem, input: input.to_vec(), saved, new, count: 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimize_keeps_what_the_failure_needs() {
        let fails = |input: &[u8]| -> Result<bool, Problem> {
            if input.windows(2).any(|w| w == b"XY") && input.contains(&b'!') {
                Err(Problem::Panic { message: "boom".into(), location: "here".into() })
            } else {
                Ok(false)
            }
        };
        let input = b"a long prefix XY and then a middle ! and an end";
        assert_eq!(minimize(input, "here", fails), b"XY!");
        // Another problem does not count as the same failure.
        assert_eq!(minimize(input, "elsewhere", fails), input);
    }

    #[test]
    fn finding_names_are_content_hashes() {
        assert_eq!(file_name(b""), "e3b0c44298fc1c14.bin");
        assert_ne!(file_name(b"a"), file_name(b"b"));
    }
}
