//! `churn predict`: a whole customer file scored with bounded memory on all cores. Rows are read
//! in batches, validated, encoded and scored in parallel, and written in input order. A row that
//! fails validation goes to the reject file with its line number and reason; none vanishes.

use super::output::{CustomerId, Flat, Prediction};
use super::Scorer;
use crate::forest::reasons::Scratch;
use crate::ingest::{Columns, DataError};
use crate::table::writer::{Cell, ColumnType, TableWriter};
use crate::table::{RawBatch, TableReader};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

pub struct BatchOptions {
    /// Top reasons to append per customer (0 = none).
    pub explain: usize,
    /// Also write the model's input columns (what the XGBoost model sees).
    pub with_features: bool,
    pub threads: usize,
    pub batch_rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub rows: u64,
    pub scored: u64,
    pub rejected: u64,
    pub predicted_churners: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub output: String,
    pub rejects: Option<String>,
}

/// One batch's results: the scored rows as the output's cells (each prediction's flat row, then
/// the model inputs with `--with-features`), and the refused rows. The cells' text sits in one
/// buffer, so a row costs no allocation of its own and the writer thread frees none.
struct Scored {
    text: String,
    cells: Vec<Stored>,
    scored: u64,
    churners: u64,
    rejects: Vec<Reject>,
}

/// A cell kept for the writer: text as a range of `Scored::text`.
enum Stored {
    Text(std::ops::Range<usize>),
    Float(f64),
    Float32(f32),
    Int(i64),
    Null,
}

/// Cells are kept as they come (their text copied into the batch's buffer).
impl<'a> Extend<Cell<'a>> for Scored {
    fn extend<I: IntoIterator<Item = Cell<'a>>>(&mut self, cells: I) {
        for c in cells {
            let start = self.text.len();
            self.cells.push(match c {
                Cell::Text(t) => {
                    self.text.push_str(t);
                    Stored::Text(start..self.text.len())
                }
                Cell::Pair(name, value) => {
                    self.text.extend([name, " = ", value]);
                    Stored::Text(start..self.text.len())
                }
                Cell::Float(v) => Stored::Float(v),
                Cell::Float32(v) => Stored::Float32(v),
                Cell::Int(v) => Stored::Int(v),
                Cell::Null => Stored::Null,
            });
        }
    }
}

impl Scored {
    fn cell(&self, c: &Stored) -> Cell<'_> {
        match c {
            Stored::Text(r) => Cell::Text(&self.text[r.clone()]),
            Stored::Float(v) => Cell::Float(*v),
            Stored::Float32(v) => Cell::Float32(*v),
            Stored::Int(v) => Cell::Int(*v),
            Stored::Null => Cell::Null,
        }
    }
}

struct Reject {
    location: String,
    id: String,
    reason: String,
}

fn map_columns(scorer: &Scorer, path: &Path, header: &[String]) -> Result<Columns, DataError> {
    let gate = scorer.gate();
    gate.columns(header, false).map_err(|columns| DataError::MissingColumns {
        path: path.to_path_buf(),
        schema: gate.schema().name.clone(),
        columns,
    })
}

pub fn default_rejects_path(output: &Path) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "scored".into());
    output.with_file_name(format!("{stem}.rejects.csv"))
}

/// The scored file's layout: a prediction's flat row (the id when the file has one, the score,
/// the reasons asked for), then the model inputs with `--with-features`.
fn layout(scorer: &Scorer, map: &Columns, opts: &BatchOptions) -> Flat {
    Flat { id: map.id.and(scorer.id_column()).map(str::to_string), line: false, reasons: opts.explain }
}

fn output_columns(scorer: &Scorer, flat: &Flat, opts: &BatchOptions) -> Vec<(String, ColumnType)> {
    let mut columns = flat.columns();
    if opts.with_features {
        for f in scorer.model.feature_names() {
            columns.push((f, ColumnType::Float));
        }
    }
    columns
}

pub fn score_file(
    scorer: &Scorer,
    input: &Path,
    output: &Path,
    rejects_path: &Path,
    opts: &BatchOptions,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<BatchSummary, DataError> {
    let start = Instant::now();
    let mut reader = TableReader::open_unhashed(input)?;
    let map = map_columns(scorer, input, reader.columns())?;
    let flat = layout(scorer, &map, opts);
    let columns = output_columns(scorer, &flat, opts);
    let mut writer = TableWriter::create(output, &columns)?;
    let mut reject_writer: Option<TableWriter> = None;
    let (mut rows, mut scored, mut rejected, mut churners) = (0u64, 0u64, 0u64, 0u64);
    let threads = opts.threads.max(1);
    // Three stages overlap: a reader thread parses batches, `threads` workers validate and score
    // them, and this thread writes results back in input order. Channels hold two batches each,
    // so memory stays bounded whatever the file size.
    let (batch_tx, batch_rx) = mpsc::sync_channel::<(u64, RawBatch)>(threads + 1);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, usize, Scored)>(threads + 1);
    // Spent batches go back to the reader, so their row buffers are reused.
    let (spent_tx, spent_rx) = mpsc::channel::<RawBatch>();
    let batch_rx = Mutex::new(batch_rx);
    let batch_rows = opts.batch_rows;
    let read_result: Result<(), DataError> = std::thread::scope(|s| {
        let reader_handle = s.spawn(move || -> Result<(), DataError> {
            let mut seq = 0;
            loop {
                let mut batch = spent_rx.try_recv().unwrap_or_else(|_| RawBatch::new_csv());
                if !reader.read_batch(batch_rows, &mut batch)? {
                    return Ok(());
                }
                if batch_tx.send((seq, batch)).is_err() {
                    return Ok(());
                }
                seq += 1;
            }
        });
        for _ in 0..threads {
            let (batch_rx, done_tx, map, flat, spent_tx) = (&batch_rx, done_tx.clone(), &map, &flat, spent_tx.clone());
            s.spawn(move || loop {
                let next = batch_rx.lock().expect("batch queue").recv();
                let Ok((seq, batch)) = next else { return };
                let scored = score_rows(scorer, &batch.cells(), &batch, map, flat, opts);
                let n = batch.len();
                let _ = spent_tx.send(batch);
                if done_tx.send((seq, n, scored)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        drop(spent_tx);
        let mut pending: BTreeMap<u64, (usize, Scored)> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut write_error: Option<DataError> = None;
        for (seq, n, results) in done_rx.iter() {
            pending.insert(seq, (n, results));
            while let Some((n, batch)) = pending.remove(&next_seq) {
                next_seq += 1;
                if write_error.is_some() {
                    continue;
                }
                rows += n as u64;
                let result = write_batch(&mut writer, &mut reject_writer, rejects_path, columns.len(), &batch);
                match result {
                    Ok((s_, c_)) => {
                        scored += s_;
                        churners += c_;
                        rejected += batch.rejects.len() as u64;
                    }
                    Err(e) => write_error = Some(e),
                }
                on_progress(rows);
            }
        }
        let read = reader_handle.join().expect("the reader thread panicked");
        match write_error {
            Some(e) => Err(e),
            None => read,
        }
    });
    read_result?;
    writer.finish()?;
    if let Some(w) = reject_writer {
        w.finish()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BatchSummary {
        rows,
        scored,
        rejected,
        predicted_churners: churners,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
        output: output.display().to_string(),
        rejects: (rejected > 0).then(|| rejects_path.display().to_string()),
    })
}

fn write_batch(
    writer: &mut TableWriter,
    reject_writer: &mut Option<TableWriter>,
    rejects_path: &Path,
    width: usize,
    batch: &Scored,
) -> Result<(u64, u64), DataError> {
    let rej = &batch.rejects;
    debug_assert_eq!(batch.cells.len(), batch.scored as usize * width, "every row has the file's width");
    let mut cells: Vec<Cell> = Vec::with_capacity(width);
    for row in batch.cells.chunks(width.max(1)) {
        cells.clear();
        cells.extend(row.iter().map(|c| batch.cell(c)));
        writer.write_row(&cells)?;
    }
    for r in rej {
        if reject_writer.is_none() {
            let cols: Vec<(String, ColumnType)> =
                ["location", "id", "reason"].iter().map(|c| (c.to_string(), ColumnType::Text)).collect();
            *reject_writer = Some(TableWriter::create(rejects_path, &cols)?);
        }
        reject_writer.as_mut().expect("created above").write_row(&[
            Cell::Text(&r.location),
            Cell::Text(&r.id),
            Cell::Text(&r.reason),
        ])?;
    }
    Ok((batch.scored, batch.churners))
}

fn score_rows(
    scorer: &Scorer,
    cells: &crate::table::BatchCells<'_>,
    batch: &RawBatch,
    map: &Columns,
    flat: &Flat,
    opts: &BatchOptions,
) -> Scored {
    let gate = scorer.gate();
    let mut out = Scored { text: String::new(), cells: Vec::new(), scored: 0, churners: 0, rejects: Vec::new() };
    let id_key = scorer.id_column().unwrap_or("id");
    let threshold = scorer.threshold();
    let mut ids = String::new();
    let mut values = vec![0f64; gate.names().len()];
    let mut x = vec![0f32; scorer.n_features()];
    let mut scratch = Scratch::default();
    let mut problems = Vec::new();
    for r in 0..batch.len() {
        problems.clear();
        let location = batch.location(r);
        ids.clear();
        if !gate.row(map, cells, r, location, &mut values, &mut ids, &mut problems) {
            // The id as written, even when it is what was refused.
            let written = map.id.map(|c| match cells.get(r, c) {
                crate::schema::Raw::Text(t) => crate::schema::value_preview(crate::schema::trim(t)),
                _ => String::new(),
            });
            let reason = problems.iter().map(|p| p.message()).collect::<Vec<_>>().join("; ");
            out.rejects.push(Reject { location: location.to_string(), id: written.unwrap_or_default(), reason });
            continue;
        }
        scorer.encode(&values, &mut x);
        let (score, explanation) =
            scorer.score_maybe_explained(&x, &values, (opts.explain > 0).then_some(opts.explain), &mut scratch);
        let id = CustomerId { key: id_key, value: map.id.map(|_| std::borrow::Cow::Borrowed(ids.as_str())) };
        let prediction =
            Prediction::new(id, None, score, scorer.label_text(score.churn), threshold).explained(explanation);
        flat.cells(&prediction, &mut out);
        if opts.with_features {
            out.extend(x.iter().map(|v| if v.is_nan() { Cell::Null } else { Cell::Float32(*v) }));
        }
        out.scored += 1;
        out.churners += prediction.churn as u64;
    }
    out
}
