//! `churn`: parse the command line, run the command, turn errors into messages and exit codes.

use clap::Parser;

fn main() {
    let cli = churn::cli::Cli::parse();
    if let Err(e) = churn::cli::run(cli) {
        eprintln!("{}", churn::cli::describe(&e));
        std::process::exit(e.exit_code());
    }
}
