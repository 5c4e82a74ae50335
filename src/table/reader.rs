//! Reading raw rows from CSV and Parquet, from files or from bytes in memory (a request body), in
//! batches, with the location of every row. Nothing here judges a value: that is the ingestion
//! gate's job (`crate::ingest`).

#[cfg(feature = "parquet")]
use super::arrow::ArrowColumn;
use super::TableError;
use crate::schema::Raw;
#[cfg(feature = "parquet")]
use arrow_array::RecordBatch;
#[cfg(feature = "parquet")]
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, TableError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") | Some("txt") => Ok(Format::Csv),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            _ => Err(TableError::UnsupportedFormat { path: path.to_path_buf() }),
        }
    }
}

/// Where a row came from, for messages: a line of CSV text (the header is line 1, counted as an
/// editor counts them whatever the line endings), a Parquet row (from 1), or the index of a
/// record in a JSON array or an MLflow request (from 0, as the client numbered them). A table of
/// several files (a folder or a glob of parts) adds the part: the k-th file in name order, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    Line(u64),
    Row(u64),
    Index(u64),
    PartLine(u32, u64),
    PartRow(u32, u64),
}

impl Location {
    pub fn number(&self) -> u64 {
        match self {
            Location::Line(n) | Location::Row(n) | Location::Index(n) => *n,
            Location::PartLine(_, n) | Location::PartRow(_, n) => *n,
        }
    }

    fn in_part(self, part: Option<u32>) -> Location {
        match (self, part) {
            (Location::Line(n), Some(p)) => Location::PartLine(p, n),
            (Location::Row(n), Some(p)) => Location::PartRow(p, n),
            (l, _) => l,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) | Location::Index(n) => write!(f, "row {n}"),
            Location::PartLine(p, n) => write!(f, "part {p} line {n}"),
            Location::PartRow(p, n) => write!(f, "part {p} row {n}"),
        }
    }
}

/// The files of a table given as a folder (its .csv/.parquet files) or as a glob (`*` and `?` in
/// the file name), in name order; None for a single file.
pub fn parts_of(path: &Path) -> Result<Option<Vec<PathBuf>>, TableError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (dir, pattern) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else if name.contains(['*', '?']) {
        (path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(), Some(name))
    } else {
        return Ok(None);
    };
    let io = |source| TableError::Io { path: path.to_path_buf(), source };
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| match &pattern {
            Some(g) => p.file_name().is_some_and(|n| glob_matches(g, &n.to_string_lossy())),
            None => Format::of(p).is_ok() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')),
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        return Err(TableError::Empty { path: path.to_path_buf(), detail: "no .csv or .parquet file matches".into() });
    }
    Ok(Some(parts))
}

/// Bytes on disk of a table (of all its parts).
pub fn table_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    match parts_of(path) {
        Ok(Some(parts)) => parts.iter().map(|p| size(p)).sum(),
        _ => size(path),
    }
}

/// A shell-style match of `*` (any run) and `?` (any one character).
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Feeds every byte read into a SHA-256, so a training file is hashed in the same pass.
struct HashingReader<R> {
    inner: R,
    /// None when nobody needs the file's hash (batch scoring).
    hasher: Option<Sha256>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Turns every line ending (CRLF, or a lone CR) into LF before the CSV parser sees it. The csv
/// crate counts lines by LF only and, with CRLF endings, reports each record's line one too low
/// (BurntSushi/rust-csv#395); the IBM file is CRLF. Values lose nothing a customer field holds.
struct LfOnly<R> {
    inner: R,
    /// A CR ended the previous read: a LF starting this one belongs to it.
    after_cr: bool,
}

impl<R: Read> Read for LfOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            // Most files (and every read of a LF-only file) hold no CR: nothing to rewrite.
            if !self.after_cr && !buf[..n].contains(&b'\r') {
                return Ok(n);
            }
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                buf[out] = if b == b'\r' { b'\n' } else { b };
                out += 1;
            }
            // A read that held only the LF of a CRLF must not look like the end of the input.
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

type CsvSource = LfOnly<HashingReader<Box<dyn Read + Send>>>;

enum Inner {
    Csv(csv::Reader<CsvSource>),
    #[cfg(feature = "parquet")]
    Parquet {
        reader: ParquetRecordBatchReader,
        next_row: u64,
        hash: String,
    },
    /// A table of several files, read one after the other.
    Parts {
        parts: Vec<PathBuf>,
        /// The part being read (0-based) and its reader.
        at: usize,
        current: Box<TableReader>,
        /// Over each part's SHA-256, in order (when hashing).
        hasher: Option<Sha256>,
    },
}

/// A file of customer rows, read batch by batch with bounded memory.
pub struct TableReader {
    path: PathBuf,
    columns: Vec<String>,
    inner: Inner,
}

/// One batch of raw rows.
pub enum RawBatch {
    Csv {
        records: Vec<csv::StringRecord>,
        lines: Vec<u64>,
        /// The part (from 1) of a table of several files.
        part: Option<u32>,
    },
    #[cfg(feature = "parquet")]
    Arrow { batch: RecordBatch, first_row: u64, part: Option<u32> },
}

impl RawBatch {
    pub fn new_csv() -> RawBatch {
        RawBatch::Csv { records: Vec::new(), lines: Vec::new(), part: None }
    }

    fn set_part(&mut self, p: Option<u32>) {
        match self {
            RawBatch::Csv { part, .. } => *part = p,
            #[cfg(feature = "parquet")]
            RawBatch::Arrow { part, .. } => *part = p,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            RawBatch::Csv { records, .. } => records.len(),
            #[cfg(feature = "parquet")]
            RawBatch::Arrow { batch, .. } => batch.num_rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn location(&self, row: usize) -> Location {
        match self {
            RawBatch::Csv { lines, part, .. } => Location::Line(lines[row]).in_part(*part),
            #[cfg(feature = "parquet")]
            RawBatch::Arrow { first_row, part, .. } => Location::Row(first_row + row as u64).in_part(*part),
        }
    }

    /// Column accessors resolved once per batch (Arrow arrays are downcast here, not per cell).
    pub fn cells(&self) -> BatchCells<'_> {
        match self {
            RawBatch::Csv { records, .. } => BatchCells::Csv(records),
            #[cfg(feature = "parquet")]
            RawBatch::Arrow { batch, .. } => {
                BatchCells::Arrow(batch.columns().iter().map(|c| ArrowColumn::of(c.as_ref())).collect())
            }
        }
    }
}

pub enum BatchCells<'a> {
    Csv(&'a [csv::StringRecord]),
    #[cfg(feature = "parquet")]
    Arrow(Vec<ArrowColumn<'a>>),
}

impl BatchCells<'_> {
    /// How many cells a CSV line holds (a Parquet row always holds every column).
    #[inline]
    pub fn width(&self, row: usize) -> Option<usize> {
        match self {
            BatchCells::Csv(records) => Some(records[row].len()),
            #[cfg(feature = "parquet")]
            BatchCells::Arrow(_) => None,
        }
    }

    #[inline]
    pub fn get(&self, row: usize, col: usize) -> Raw<'_> {
        match self {
            BatchCells::Csv(records) => records[row].get(col).map(Raw::Text).unwrap_or(Raw::Null),
            #[cfg(feature = "parquet")]
            BatchCells::Arrow(cols) => cols[col].get(row),
        }
    }
}

impl TableReader {
    /// Opens a table and hashes its bytes while reading (see `finish_hash`).
    pub fn open(path: &Path) -> Result<TableReader, TableError> {
        TableReader::open_with(path, true)
    }

    /// Opens a table without hashing it.
    pub fn open_unhashed(path: &Path) -> Result<TableReader, TableError> {
        TableReader::open_with(path, false)
    }

    /// CSV text held in memory (a request body), read with the same rules as a file.
    pub fn csv_bytes(bytes: bytes::Bytes, name: &str) -> Result<TableReader, TableError> {
        TableReader::csv(Box::new(std::io::Cursor::new(bytes)), Path::new(name), false)
    }

    fn csv(source: Box<dyn Read + Send>, path: &Path, hash: bool) -> Result<TableReader, TableError> {
        let hashing = HashingReader { inner: source, hasher: hash.then(Sha256::new) };
        // Flexible: a line with the wrong number of fields is the gate's finding about that row
        // (a refused row), not the end of the file.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(LfOnly { inner: hashing, after_cr: false });
        let headers = reader.headers().map_err(|e| TableError::from_csv(path, e))?;
        let columns: Vec<String> = headers.iter().map(str::to_string).collect();
        if columns.is_empty() || (columns.len() == 1 && columns[0].trim_start_matches('\u{feff}').trim().is_empty()) {
            return Err(TableError::Empty { path: path.to_path_buf(), detail: "no header line".into() });
        }
        Ok(TableReader { path: path.to_path_buf(), columns, inner: Inner::Csv(reader) })
    }

    fn open_with(path: &Path, hash: bool) -> Result<TableReader, TableError> {
        if let Some(parts) = parts_of(path)? {
            let current = Box::new(TableReader::open_with(&parts[0], hash)?);
            let columns = current.columns.clone();
            let hasher = hash.then(Sha256::new);
            return Ok(TableReader {
                path: path.to_path_buf(),
                columns,
                inner: Inner::Parts { parts, at: 0, current, hasher },
            });
        }
        let io = |source| TableError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        match Format::of(path)? {
            Format::Csv => TableReader::csv(Box::new(BufReader::with_capacity(1 << 20, file)), path, hash),
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => Err(TableError::Parquet {
                path: path.to_path_buf(),
                message: "this build of churn reads CSV only (it was built without the `parquet` feature)".into(),
            }),
            #[cfg(feature = "parquet")]
            Format::Parquet => {
                let hash = if hash { sha256_file(path).map_err(io)? } else { String::new() };
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| TableError::Parquet { path: path.to_path_buf(), message: e.to_string() })?;
                let columns = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
                let reader = builder
                    .with_batch_size(8192)
                    .build()
                    .map_err(|e| TableError::Parquet { path: path.to_path_buf(), message: e.to_string() })?;
                Ok(TableReader {
                    path: path.to_path_buf(),
                    columns,
                    inner: Inner::Parquet { reader, next_row: 1, hash },
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table's format (its parts' when it has several).
    pub fn format(&self) -> Format {
        match &self.inner {
            Inner::Csv(_) => Format::Csv,
            #[cfg(feature = "parquet")]
            Inner::Parquet { .. } => Format::Parquet,
            Inner::Parts { current, .. } => current.format(),
        }
    }

    /// The header's names as written (the gate trims them and a byte-order mark).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Reads up to `max` rows into `batch` (reusing its buffers); returns false at the end.
    pub fn read_batch(&mut self, max: usize, batch: &mut RawBatch) -> Result<bool, TableError> {
        match &mut self.inner {
            Inner::Csv(reader) => {
                if !matches!(batch, RawBatch::Csv { .. }) {
                    *batch = RawBatch::new_csv();
                }
                // Without the `parquet` feature a batch can only be CSV.
                #[allow(irrefutable_let_patterns)]
                let RawBatch::Csv { records, lines, part } = batch
                else {
                    unreachable!()
                };
                *part = None;
                records.resize_with(max, csv::StringRecord::new);
                lines.clear();
                let mut n = 0;
                while n < max {
                    let more = reader.read_record(&mut records[n]).map_err(|e| TableError::from_csv(&self.path, e))?;
                    if !more {
                        break;
                    }
                    let line = records[n].position().map(|p| p.line()).unwrap_or(0);
                    // A blank line inside the file reads as one empty field: skip it like pandas does.
                    if records[n].len() == 1
                        && records[n].get(0).is_some_and(|c| c.is_empty())
                        && self.columns.len() > 1
                    {
                        continue;
                    }
                    lines.push(line);
                    n += 1;
                }
                records.truncate(n);
                Ok(n > 0)
            }
            #[cfg(feature = "parquet")]
            Inner::Parquet { reader, next_row, .. } => match reader.next() {
                None => Ok(false),
                Some(Err(e)) => Err(TableError::Parquet { path: self.path.clone(), message: e.to_string() }),
                Some(Ok(rb)) => {
                    let n = rb.num_rows() as u64;
                    *batch = RawBatch::Arrow { batch: rb, first_row: *next_row, part: None };
                    *next_row += n;
                    Ok(n > 0)
                }
            },
            Inner::Parts { parts, at, current, hasher } => loop {
                if current.read_batch(max, batch)? {
                    batch.set_part((parts.len() > 1).then_some(*at as u32 + 1));
                    return Ok(true);
                }
                *at += 1;
                if *at == parts.len() {
                    return Ok(false);
                }
                let next = Box::new(TableReader::open_with(&parts[*at], hasher.is_some())?);
                if next.columns != self.columns {
                    return Err(TableError::Malformed {
                        path: parts[*at].clone(),
                        message: format!(
                            "its columns ({}) are not those of {} ({}): the parts of a table share one header",
                            next.columns.join(", "),
                            parts[0].display(),
                            self.columns.join(", ")
                        ),
                    });
                }
                let done = std::mem::replace(current, next);
                if let Some(h) = hasher {
                    h.update(done.finish_hash().as_bytes());
                }
            },
        }
    }

    /// Reads every batch on a thread of its own while `each` handles the one before, so that
    /// parsing and what follows it overlap on two cores; returns the reader once every batch
    /// was handled (for its hash), or the first error of either side.
    pub fn read_ahead<E: From<TableError> + Send>(
        self,
        max: usize,
        mut each: impl FnMut(&RawBatch) -> Result<(), E>,
    ) -> Result<TableReader, E> {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<RawBatch, TableError>>(2);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<RawBatch>();
        std::thread::scope(|s| {
            let reading = s.spawn(move || {
                let mut reader = self;
                loop {
                    let mut batch = empty_rx.try_recv().unwrap_or_else(|_| RawBatch::new_csv());
                    match reader.read_batch(max, &mut batch) {
                        Ok(true) => {
                            if full_tx.send(Ok(batch)).is_err() {
                                break; // the other side stopped on an error
                            }
                        }
                        Ok(false) => break,
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            break;
                        }
                    }
                }
                reader
            });
            for batch in full_rx {
                let batch = batch.map_err(E::from)?;
                each(&batch)?;
                let _ = empty_tx.send(batch);
            }
            Ok(reading.join().expect("the reading thread does not panic"))
        })
    }

    /// SHA-256 of the file's bytes; for CSV, valid once every row has been read.
    pub fn finish_hash(self) -> String {
        match self.inner {
            Inner::Csv(reader) => {
                let mut h = reader.into_inner().inner;
                let Some(mut hasher) = h.hasher.take() else { return String::new() };
                // Whatever the CSV reader had not pulled yet still belongs to the file.
                let mut rest = Vec::new();
                let _ = h.inner.read_to_end(&mut rest);
                hasher.update(&rest);
                hex(&hasher.finalize())
            }
            #[cfg(feature = "parquet")]
            Inner::Parquet { hash, .. } => hash,
            Inner::Parts { current, hasher, .. } => match hasher {
                None => String::new(),
                Some(mut h) => {
                    h.update(current.finish_hash().as_bytes());
                    hex(&h.finalize())
                }
            },
        }
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = BufReader::new(File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
