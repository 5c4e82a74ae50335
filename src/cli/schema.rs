//! `churn schema`: the built-in Telco schema as a template, or (`--infer FILE`) a schema drafted
//! from a table, so a raw CSV becomes a model in two commands.

use super::CliError;
use crate::schema::infer::{self, ColumnStats};
use crate::schema::Raw;
use crate::table::{RawBatch, TableReader};
use std::path::PathBuf;

/// Rows read to draft a schema: enough for levels and ranges, bounded in memory.
const INFER_ROWS: usize = 200_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Draft a schema from this table (CSV or Parquet) instead of printing the Telco template:
    /// kinds, levels, missing-value tokens, id and target guesses, columns to ignore (free
    /// text, leakage candidates), each explained in a comment. Reads up to 200,000 rows.
    #[arg(long, value_name = "FILE")]
    pub infer: Option<PathBuf>,
    /// The target column (default: guessed from names such as churn, attrition, exited).
    #[arg(long, requires = "infer")]
    pub target: Option<String>,
    /// Where to write the TOML (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let text = match &a.infer {
        None => crate::schema::TELCO_TOML.to_string(),
        Some(path) => {
            let mut reader = TableReader::open_unhashed(path)?;
            let mut cols: Vec<ColumnStats> = reader.columns().iter().map(|c| ColumnStats::new(c.trim())).collect();
            let mut batch = RawBatch::new_csv();
            let mut rows = 0;
            while rows < INFER_ROWS && reader.read_batch(4096.min(INFER_ROWS - rows), &mut batch)? {
                let cells = batch.cells();
                for r in 0..batch.len() {
                    for (k, c) in cols.iter_mut().enumerate() {
                        let number;
                        let cell = match cells.get(r, k) {
                            Raw::Text(t) => t,
                            Raw::Number(v) => {
                                number = v.to_string();
                                number.as_str()
                            }
                            Raw::Integer(i) => {
                                number = i.to_string();
                                number.as_str()
                            }
                            Raw::Bool(b) => {
                                number = b.to_string();
                                number.as_str()
                            }
                            Raw::Date(d) => {
                                number = d.to_string();
                                number.as_str()
                            }
                            Raw::Null | Raw::Composite => "",
                        };
                        c.push(cell);
                    }
                }
                rows += batch.len();
            }
            let name = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_else(|| "table".into());
            infer::draft(&name, &cols, a.target.as_deref())
                .map_err(|e| CliError::Usage(format!("cannot draft a schema from {}: {e}", path.display())))?
        }
    };
    match &a.output {
        None => print!("{text}"),
        Some(p) => {
            crate::atomic::write_file(p, text.as_bytes())
                .map_err(|source| CliError::Io { context: format!("cannot write {}", p.display()), source })?;
            eprintln!("schema: {} (read it, then: churn train --data FILE --schema {})", p.display(), p.display());
        }
    }
    Ok(())
}
