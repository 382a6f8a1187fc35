//! `fuzz`: the seeded mutation fuzzer of `gifqa_tests::fuzz`.
//!
//! ```sh
//! cargo run --release -p gifqa-tests --bin fuzz -- --list
//! cargo run --release -p gifqa-tests --bin fuzz -- --target gif --seconds 60 --seed 7
//! cargo run --release -p gifqa-tests --bin fuzz -- --target all --seconds 30
//! cargo run --release -p gifqa-tests --bin fuzz -- --target tgif --replay tests/fuzz/regressions/tgif/X.bin
//! cargo run --release -p gifqa-tests --bin fuzz -- --write-seeds
//! ```
//!
//! Findings are saved to `tests/fuzz/regressions/<target>/`; the exit status is 1 when a run found
//! anything.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use gifqa_tests::fuzz::runner::{self, Budget, Options, Report};
use gifqa_tests::fuzz::targets::{self, Target};
use gifqa_tests::fuzz::{load_seeds, seeds, target_seed};

/// Seeded mutation fuzzing of the readers of outside input.
#[derive(Parser)]
#[command(name = "fuzz")]
struct Args {
    /// A target name, or `all`.
    #[arg(long, required_unless_present_any = ["list", "write_seeds"])]
    target: Option<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60.0, conflicts_with = "executions")]
    seconds: f64,
    /// Mutants per target instead of a time (the same run on any machine).
    #[arg(long)]
    executions: Option<u64>,
    /// Seed of the mutations (each target mixes in its name); printed so a run can be replayed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the target once on this file and print what happened.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// List the targets.
    #[arg(long)]
    list: bool,
    /// (Re)write the generated seeds in tests/fuzz/corpus (tiny GIFs, sampling inputs, training.json).
    #[arg(long)]
    write_seeds: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.write_seeds {
        for path in seeds::write_all()? {
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let all = targets::all()?;
    if args.list {
        for target in &all {
            println!("{:<10} {}", target.name(), target.about());
        }
        return Ok(());
    }
    let name = args.target.context("--target is required")?;
    let chosen: Vec<&dyn Target> = if name == "all" {
        all.iter().map(AsRef::as_ref).collect()
    } else {
        match all.iter().find(|t| t.name() == name) {
            Some(target) => vec![target.as_ref()],
            None => bail!(targets::TargetError::Unknown(name)),
        }
    };
    if let Some(file) = &args.replay {
        let input = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        for target in chosen {
            let started = std::time::Instant::now();
            let outcome = runner::execute(target, &input);
            let seconds = started.elapsed().as_secs_f64();
            match outcome {
                Ok(accepted) => {
                    println!("{}: no problem (input {}, {seconds:.3} s)", target.name(), accepted_word(accepted));
                }
                Err(problem) => println!("{}: {problem}", target.name()),
            }
        }
        return Ok(());
    }

    let budget = match args.executions {
        Some(n) => Budget::Executions(n),
        None => Budget::Seconds(args.seconds),
    };
    let mut reports = Vec::new();
    for target in chosen {
        let seeds: Vec<Vec<u8>> = load_seeds(target).into_iter().map(|(_, bytes)| bytes).collect();
        let seed = target_seed(args.seed, target.name());
        eprintln!(
            "[{}] {} seeds ({} bytes), {budget:?}, seed {} (mutation stream {seed:#x})",
            target.name(),
            seeds.len(),
            seeds.iter().map(Vec::len).sum::<usize>(),
            args.seed
        );
        let options = Options { budget, seed, save_to: Some(targets::regressions_dir(target.name())), progress: true };
        let report = runner::fuzz(target, &seeds, &options);
        print_findings(&report);
        reports.push(report);
    }
    println!(
        "{:<10} {:>11} {:>10} {:>9} {:>8} {:>9} {:>13}",
        "target", "executions", "exec/s", "accepted", "seconds", "findings", "new crashes"
    );
    for r in &reports {
        println!(
            "{:<10} {:>11} {:>10.0} {:>9} {:>8.1} {:>9} {:>13}",
            r.target,
            r.executions,
            r.per_second(),
            r.accepted,
            r.seconds,
            r.findings.len(),
            r.new_findings()
        );
    }
    if reports.iter().any(|r| !r.findings.is_empty()) {
        std::process::exit(1);
    }
    Ok(())
}

fn accepted_word(accepted: bool) -> &'static str {
    if accepted { "accepted" } else { "rejected" }
}

fn print_findings(report: &Report) {
    for finding in &report.findings {
        let saved = finding.saved.as_ref().map_or_else(|| "not saved (a seed)".into(), |p| p.display().to_string());
        println!(
            "[{}] {} ({} executions, first input {} bytes: {saved}{})",
            report.target,
            finding.problem,
            finding.count,
            finding.input.len(),
            if finding.new { ", new" } else { "" }
        );
    }
}
