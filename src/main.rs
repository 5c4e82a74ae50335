//! `churn`: parse the command line, run the command, turn errors into messages and exit codes.

use clap::Parser;
use std::error::Error;

fn main() {
    let cli = churn::cli::Cli::parse();
    if let Err(e) = churn::cli::run(cli) {
        eprintln!("error: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}
