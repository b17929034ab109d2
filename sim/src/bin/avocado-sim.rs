//! `avocado-sim`: runs seeds of the deterministic simulation and prints what it found.

use avocado_sim::{run, shrink, Config, Faults};
use clap::Parser;

/// Runs Avocado's deterministic simulation over a range of seeds.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// How many seeds to run (from --first).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Run this one seed only (a replay).
    #[arg(long)]
    seed: Option<u64>,
    /// Scheduler steps per seed.
    #[arg(long, default_value_t = 2_000)]
    steps: usize,
    /// Faults to inject, comma-separated (loss, duplication, reorder, crashes, clock-jumps,
    /// byzantine), or `all`.
    #[arg(long, default_value = "all")]
    faults: String,
}

fn main() {
    let args = Args::parse();
    let faults = match Faults::parse(&args.faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("avocado-sim: {e}");
            std::process::exit(2);
        }
    };
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.first..args.first + args.seeds).collect(),
    };
    let (mut steps, mut proposals, mut settled, mut failed, mut disputes, mut answered, mut crashes, mut pending) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    let mut finalized = 0;
    for seed in &seeds {
        match run(*seed, Config { faults, ..Config::for_seed(*seed, args.steps) }) {
            Ok(s) => {
                steps += s.steps;
                proposals += s.proposals;
                settled += s.settled;
                failed += s.failed;
                disputes += s.disputes;
                answered += s.answered;
                crashes += s.crashes;
                pending += s.pending_on_byzantine;
                finalized += s.finalized;
            }
            Err(f) => {
                eprintln!("{}", shrink(f));
                std::process::exit(1);
            }
        }
    }
    println!(
        "{} seeds, {steps} steps: {proposals} honest proposals ({settled} settled, {failed} reported failed, \
         {pending} left pending on Byzantine participants), {crashes} crashes, {disputes} disputes started, \
         {answered} answered, {finalized} channels final on the judge; every invariant held",
        seeds.len()
    );
}
