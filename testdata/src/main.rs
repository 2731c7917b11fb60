//! `gen-invoices`: writes Sluice's invoice test data as JSON lines.
//!
//! `fixtures OUT_DIR` writes the three small committed fixture files, whose
//! counts are exact (see [`fixtures::FIXTURES`]); `bench OUT_FILE --records N`
//! or `--bytes N` streams a large input for benchmarks. Both are
//! deterministic. This file only parses arguments, does the file I/O, and maps
//! failures to exit codes: 2 for bad arguments, 1 for I/O errors.

mod bench;
mod catalog;
mod cli;
mod fixtures;
mod invoice;
mod json;
mod money;
mod rng;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use cli::{Command, USAGE};

/// Write buffer of the bench output: large enough that a 1 GB file costs a
/// few hundred write calls rather than a hundred thousand.
const BENCH_BUFFER_BYTES: usize = 8 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("gen-invoices: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gen-invoices: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> io::Result<()> {
    match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Fixtures { out_dir } => write_fixtures(&out_dir),
        Command::Bench { out_file, limit } => write_bench(&out_file, limit),
    }
}

fn write_fixtures(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir).map_err(at(dir))?;
    for (fixture, bytes) in fixtures::render()? {
        let path = dir.join(fixture.file_name);
        fs::write(&path, bytes).map_err(at(&path))?;
    }
    Ok(())
}

fn write_bench(path: &Path, limit: bench::Limit) -> io::Result<()> {
    let started = Instant::now();
    let file = File::create(path).map_err(at(path))?;
    let mut out = BufWriter::with_capacity(BENCH_BUFFER_BYTES, file);
    let summary = bench::write(&mut out, limit).map_err(at(path))?;
    out.flush().map_err(at(path))?;
    eprintln!(
        "wrote {} records, {} bytes, {} with StoreID {} to {} in {:.1}s",
        summary.records,
        summary.bytes,
        summary.target_records,
        catalog::TARGET_STORE,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prefixes an I/O error with the path it happened on.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |err| io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}
