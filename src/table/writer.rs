//! Writing tables row by row to CSV or Parquet with bounded memory. A table is written under a
//! temporary name beside its destination and renamed into place by `finish`: a run killed
//! mid-write leaves no file that looks complete (only a `.<name>.part-*` that the next write to
//! the same destination removes).

use super::{Format, TableError};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Float,
    Int,
}

/// One output value. `Text` is written verbatim to CSV (quoted only when it must be).
#[derive(Debug, Clone)]
pub enum Cell<'a> {
    Text(&'a str),
    Float(f64),
    /// Written with the shortest text that reads back as the same f32.
    Float32(f32),
    Int(i64),
    /// `name = value`, as a reason is shown (`Contract = Month-to-month`).
    Pair(&'a str, &'a str),
    Null,
}

/// Cells as CSV text, with the buffers their formatting reuses.
#[derive(Default)]
pub struct CellText {
    text: String,
    ryu: ryu::Buffer,
}

impl CellText {
    pub fn format<'s>(&'s mut self, cell: &'s Cell) -> &'s str {
        use std::fmt::Write as _;
        self.text.clear();
        match cell {
            Cell::Text(t) => return t,
            Cell::Float(v) => {
                let _ = write!(self.text, "{v}");
            }
            Cell::Float32(v) => return format_f32(*v, &mut self.ryu, &mut self.text),
            Cell::Int(v) => {
                let _ = write!(self.text, "{v}");
            }
            Cell::Pair(name, value) => {
                let _ = write!(self.text, "{name} = {value}");
            }
            Cell::Null => {}
        }
        &self.text
    }
}

enum Sink {
    Csv(csv::Writer<BufWriter<File>>),
    #[cfg(feature = "parquet")]
    Parquet(super::arrow::ParquetSink),
}

pub struct TableWriter {
    path: PathBuf,
    /// Where the rows go until `finish` renames it to `path`.
    part: tempfile::TempPath,
    sink: Sink,
    text: CellText,
}

impl TableWriter {
    pub fn create(path: &Path, columns: &[(String, ColumnType)]) -> Result<TableWriter, TableError> {
        let io = |source| TableError::Io { path: path.to_path_buf(), source };
        let format = Format::of(path)?;
        let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => {
                std::fs::create_dir_all(parent).map_err(io)?;
                parent
            }
            None => Path::new("."),
        };
        for n in crate::atomic::remove_leftovers(path) {
            eprintln!("note: removed {n}, an unfinished {} left by an interrupted run", path.display());
        }
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let tmp = crate::atomic::builder(&format!(".{name}.part-"), false).tempfile_in(dir).map_err(io)?;
        let (file, part) = tmp.into_parts();
        let sink = match format {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 20, file));
                w.write_record(columns.iter().map(|(n, _)| n.as_str())).map_err(|e| csv_err(path, e))?;
                Sink::Csv(w)
            }
            #[cfg(feature = "parquet")]
            Format::Parquet => Sink::Parquet(super::arrow::ParquetSink::new(file, columns, path)?),
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => {
                return Err(TableError::Parquet {
                    path: path.to_path_buf(),
                    message: "this build of churn writes CSV only (it was built without the `parquet` feature)".into(),
                })
            }
        };
        Ok(TableWriter { path: path.to_path_buf(), part, sink, text: CellText::default() })
    }

    pub fn write_row(&mut self, cells: &[Cell]) -> Result<(), TableError> {
        match &mut self.sink {
            Sink::Csv(w) => {
                for c in cells {
                    w.write_field(self.text.format(c)).map_err(|e| csv_err(&self.path, e))?;
                }
                w.write_record(None::<&[u8]>).map_err(|e| csv_err(&self.path, e))
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.write_row(cells, &self.path),
        }
    }

    /// Completes the file and moves it into place.
    pub fn finish(self) -> Result<(), TableError> {
        let io = |source| TableError::Io { path: self.path.clone(), source };
        match self.sink {
            Sink::Csv(w) => {
                let file =
                    w.into_inner().map_err(|e| io(e.into_error()))?.into_inner().map_err(|e| io(e.into_error()))?;
                file.sync_all().map_err(io)?;
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.finish(&self.path)?,
        }
        self.part.persist(&self.path).map_err(|e| io(e.error))
    }
}

fn csv_err(path: &Path, e: csv::Error) -> TableError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => TableError::Io { path: path.to_path_buf(), source },
        other => TableError::Malformed { path: path.to_path_buf(), message: format!("{other:?}") },
    }
}

/// An f32 in the fewest digits that read back as the same f32, without an exponent, as `Display`
/// writes it (where two digit strings are equally short, ryu's choice may differ in the last
/// digit). ryu is several times faster on the batch path's millions of probabilities.
fn format_f32<'a>(v: f32, ryu_buf: &'a mut ryu::Buffer, fallback: &'a mut String) -> &'a str {
    if v.is_finite() {
        let s = ryu_buf.format_finite(v);
        if !s.contains('e') {
            return s.strip_suffix(".0").unwrap_or(s);
        }
    }
    use std::fmt::Write as _;
    fallback.clear();
    let _ = write!(fallback, "{v}");
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_text_reads_back_exactly_and_is_as_short_as_display() {
        let mut rng = crate::random::Rng::new(7);
        let mut values =
            vec![0.0f32, -0.0, 1.0, 0.5, 1e-7, 3.5e-5, 123456.0, 1e20, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE];
        values.extend((0..20_000).map(|_| rng.uniform() as f32));
        values.extend((0..2_000).map(|_| f32::from_bits(rng.next_u64() as u32)));
        let (mut ryu_buf, mut text) = (ryu::Buffer::new(), String::new());
        for v in values {
            let (ours, display) = (format_f32(v, &mut ryu_buf, &mut text).to_string(), format!("{v}"));
            let back: f32 = ours.parse().unwrap();
            assert!(back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()), "{ours} for {display}");
            assert_eq!(ours.len(), display.len(), "{ours} for {display}");
            assert!(!ours.contains('e'), "{ours}");
        }
    }
}
