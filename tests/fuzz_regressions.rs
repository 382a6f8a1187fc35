//! The fuzzer's corpus and every input that ever crashed a target, replayed through its target
//! (none may panic), then a short fuzzing run per target (no mutant may panic). Inputs slower than
//! `runner::SLOW` are printed, not failed: how long an input takes depends on the machine's load,
//! and tests assert behaviour, not speed (the 10-minute fuzzing runs report slow inputs).
//!
//! The short run is a fixed number of mutants per target by default (the same executions on every
//! machine, about a second each); `GIFQA_FUZZ_SECONDS=30` fuzzes each target for 30 s instead (CI),
//! and `GIFQA_FUZZ_SEED` changes the mutation seed. A finding is saved under
//! `tests/fuzz/regressions/<target>/` and fails the test; keep the file, fix the reader, and the
//! replay test keeps it fixed.

use gifqa_tests::fuzz::runner::{self, Budget, Options};
use gifqa_tests::fuzz::targets::{self, Target};
use gifqa_tests::fuzz::{load_seeds, target_seed};

/// Mutants per target when `GIFQA_FUZZ_SECONDS` is not set.
const DEFAULT_EXECUTIONS: u64 = 300;
/// Mutation seed when `GIFQA_FUZZ_SEED` is not set.
const DEFAULT_SEED: u64 = 40;

fn target(name: &str) -> Box<dyn Target> {
    targets::by_name(name).unwrap_or_else(|err| panic!("{err}"))
}

/// Every seed file of the target (corpus, external seeds, regressions) runs without a problem.
fn replay(name: &str) {
    let target = target(name);
    let seeds = load_seeds(target.as_ref());
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut problems: Vec<String> = Vec::new();
    for (path, bytes) in &seeds {
        match runner::execute(target.as_ref(), bytes) {
            Err(problem @ runner::Problem::Panic { .. }) => problems.push(format!("{}: {problem}", path.display())),
            Err(slow) => println!("{name}: note: {}: {slow}", path.display()),
            Ok(_) => {}
        }
    }
    println!("{name}: {} files replayed", seeds.len());
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
}

/// A short fuzzing run finds nothing.
fn fuzz(name: &str) {
    let target = target(name);
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    let budget = match env("GIFQA_FUZZ_SECONDS") {
        Some(seconds) => Budget::Seconds(seconds.parse().expect("GIFQA_FUZZ_SECONDS is a number of seconds")),
        None => Budget::Executions(DEFAULT_EXECUTIONS),
    };
    let seed = env("GIFQA_FUZZ_SEED").map_or(DEFAULT_SEED, |s| s.parse().expect("GIFQA_FUZZ_SEED is a number"));
    let seeds: Vec<Vec<u8>> = load_seeds(target.as_ref()).into_iter().map(|(_, bytes)| bytes).collect();
    let options = Options {
        budget,
        seed: target_seed(seed, name),
        save_to: Some(targets::regressions_dir(name)),
        progress: false,
    };
    let report = runner::fuzz(target.as_ref(), &seeds, &options);
    println!(
        "{name}: {} executions in {:.1} s ({:.0}/s), {} accepted, seed {seed}",
        report.executions,
        report.seconds,
        report.per_second(),
        report.accepted
    );
    let describe = |f: &runner::Finding| format!("{} ({} times; input {:?})", f.problem, f.count, f.saved);
    let (panics, slow): (Vec<_>, Vec<_>) =
        report.findings.iter().partition(|f| matches!(f.problem, runner::Problem::Panic { .. }));
    for finding in slow {
        println!("{name}: note: {}", describe(finding));
    }
    let findings: Vec<String> = panics.into_iter().map(describe).collect();
    assert!(findings.is_empty(), "{name}: fuzzing found\n{}", findings.join("\n"));
}

macro_rules! target_tests {
    ($($name:ident),*) => {
        mod replay {
            $(#[test] fn $name() { super::replay(stringify!($name)); })*
        }
        mod fuzz {
            $(#[test] fn $name() { super::fuzz(stringify!($name)); })*
        }
    };
}

target_tests!(gif, sampling, tgif, msrvtt, question, config, tokenizer);

#[test]
fn every_target_is_tested() {
    let names: Vec<&str> = targets::all().unwrap().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["gif", "sampling", "tgif", "msrvtt", "question", "config", "tokenizer"]);
}
