//! Customer tables as bytes: CSV (the IBM file exactly as published: CRLF, a byte-order mark or
//! not) and Parquet, read in batches of raw cells and written row by row with bounded memory.
//! Judging the cells is the ingestion gate's job (`crate::ingest`), not this module's.

#[cfg(feature = "parquet")]
mod arrow;
mod reader;
pub mod writer;

pub use reader::{hex, parts_of, sha256_file, table_bytes, BatchCells, Format, Location, RawBatch, TableReader};

use std::path::{Path, PathBuf};

/// A table that cannot be read or written at all.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not a table churn reads: use a .csv or .parquet file", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("{} is empty: {detail}", path.display())]
    Empty { path: PathBuf, detail: String },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{}: cannot read Parquet: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
}

impl TableError {
    pub(crate) fn from_csv(path: &Path, e: csv::Error) -> TableError {
        let line = e.position().map(|p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(source) => TableError::Io { path: path.to_path_buf(), source },
            csv::ErrorKind::UnequalLengths { expected_len, len, pos } => TableError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "line {}: {len} fields where the header has {expected_len}",
                    pos.map(|p| p.line()).or(line).unwrap_or(0)
                ),
            },
            csv::ErrorKind::Utf8 { pos, err } => TableError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "line {}: field {} is not valid UTF-8",
                    pos.map(|p| p.line()).or(line).unwrap_or(0),
                    err.field() + 1
                ),
            },
            other => TableError::Malformed { path: path.to_path_buf(), message: format!("{other:?}") },
        }
    }
}
