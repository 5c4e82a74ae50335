//! Writing tables row by row to CSV or Parquet with bounded memory.

use super::{Format, TableError};
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    Null,
}

const PARQUET_ROWS_PER_BATCH: usize = 65_536;

enum Sink {
    Csv(csv::Writer<BufWriter<File>>),
    Parquet { writer: ArrowWriter<File>, builders: Vec<Builder>, schema: Arc<ArrowSchema>, rows: usize },
}

enum Builder {
    Text(StringBuilder),
    Float(Float64Builder),
    Int(Int64Builder),
}

pub struct TableWriter {
    path: PathBuf,
    sink: Sink,
    text_buf: String,
    ryu_buf: ryu::Buffer,
}

impl TableWriter {
    pub fn create(path: &Path, columns: &[(String, ColumnType)]) -> Result<TableWriter, TableError> {
        let io = |source| TableError::Io { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = File::create(path).map_err(io)?;
        let sink = match Format::of(path)? {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 20, file));
                w.write_record(columns.iter().map(|(n, _)| n.as_str())).map_err(|e| csv_err(path, e))?;
                Sink::Csv(w)
            }
            Format::Parquet => {
                let fields: Vec<ArrowField> = columns
                    .iter()
                    .map(|(n, t)| {
                        let dt = match t {
                            ColumnType::Text => DataType::Utf8,
                            ColumnType::Float => DataType::Float64,
                            ColumnType::Int => DataType::Int64,
                        };
                        ArrowField::new(n, dt, true)
                    })
                    .collect();
                let schema = Arc::new(ArrowSchema::new(fields));
                let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
                let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
                    .map_err(|e| TableError::Parquet { path: path.to_path_buf(), message: e.to_string() })?;
                let builders = columns
                    .iter()
                    .map(|(_, t)| match t {
                        ColumnType::Text => Builder::Text(StringBuilder::new()),
                        ColumnType::Float => Builder::Float(Float64Builder::new()),
                        ColumnType::Int => Builder::Int(Int64Builder::new()),
                    })
                    .collect();
                Sink::Parquet { writer, builders, schema, rows: 0 }
            }
        };
        Ok(TableWriter { path: path.to_path_buf(), sink, text_buf: String::new(), ryu_buf: ryu::Buffer::new() })
    }

    pub fn write_row(&mut self, cells: &[Cell]) -> Result<(), TableError> {
        match &mut self.sink {
            Sink::Csv(w) => {
                for c in cells {
                    self.text_buf.clear();
                    match c {
                        Cell::Text(t) => w.write_field(t),
                        Cell::Float(v) => {
                            use std::fmt::Write as _;
                            let _ = write!(self.text_buf, "{v}");
                            w.write_field(&self.text_buf)
                        }
                        Cell::Float32(v) => w.write_field(format_f32(*v, &mut self.ryu_buf, &mut self.text_buf)),
                        Cell::Int(v) => {
                            use std::fmt::Write as _;
                            let _ = write!(self.text_buf, "{v}");
                            w.write_field(&self.text_buf)
                        }
                        Cell::Null => w.write_field(""),
                    }
                    .map_err(|e| csv_err(&self.path, e))?;
                }
                w.write_record(None::<&[u8]>).map_err(|e| csv_err(&self.path, e))
            }
            Sink::Parquet { builders, rows, .. } => {
                for (b, c) in builders.iter_mut().zip(cells) {
                    match (b, c) {
                        (Builder::Text(b), Cell::Text(t)) => b.append_value(t),
                        (Builder::Text(b), Cell::Float(v)) => b.append_value(v.to_string()),
                        (Builder::Text(b), Cell::Int(v)) => b.append_value(v.to_string()),
                        (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
                        (Builder::Float(b), Cell::Float32(v)) => b.append_value(*v as f64),
                        (Builder::Text(b), Cell::Float32(v)) => b.append_value(v.to_string()),
                        (Builder::Float(b), Cell::Int(v)) => b.append_value(*v as f64),
                        (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
                        (Builder::Int(b), Cell::Float(v)) => b.append_value(*v as i64),
                        (Builder::Text(b), _) => b.append_null(),
                        (Builder::Float(b), _) => b.append_null(),
                        (Builder::Int(b), _) => b.append_null(),
                    }
                }
                *rows += 1;
                if *rows >= PARQUET_ROWS_PER_BATCH {
                    self.flush_parquet()?;
                }
                Ok(())
            }
        }
    }

    fn flush_parquet(&mut self) -> Result<(), TableError> {
        if let Sink::Parquet { writer, builders, schema, rows } = &mut self.sink {
            if *rows == 0 {
                return Ok(());
            }
            let arrays: Vec<ArrayRef> = builders
                .iter_mut()
                .map(|b| match b {
                    Builder::Text(b) => Arc::new(b.finish()) as ArrayRef,
                    Builder::Float(b) => Arc::new(b.finish()) as ArrayRef,
                    Builder::Int(b) => Arc::new(b.finish()) as ArrayRef,
                })
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), arrays)
                .map_err(|e| TableError::Parquet { path: self.path.clone(), message: e.to_string() })?;
            writer
                .write(&batch)
                .map_err(|e| TableError::Parquet { path: self.path.clone(), message: e.to_string() })?;
            *rows = 0;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), TableError> {
        self.flush_parquet()?;
        match self.sink {
            Sink::Csv(mut w) => w.flush().map_err(|source| TableError::Io { path: self.path.clone(), source }),
            Sink::Parquet { writer, .. } => writer
                .close()
                .map(|_| ())
                .map_err(|e| TableError::Parquet { path: self.path.clone(), message: e.to_string() }),
        }
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
