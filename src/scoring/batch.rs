//! `churn predict`: a whole customer file scored with bounded memory on all cores. Rows are read
//! in batches, validated, encoded and scored in parallel, and written in input order. A row that
//! fails validation goes to the reject file with its line number and reason; none vanishes.

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

struct OutRow {
    /// Where the id sits in `Scored::ids`.
    id: std::ops::Range<usize>,
    probability: f32,
    churn: bool,
    decile: Option<u8>,
    reasons: Vec<(String, f64)>,
    features: Vec<f32>,
}

/// One batch's results; ids share one buffer so a row costs no allocation of its own.
struct Scored {
    rows: Vec<OutRow>,
    ids: String,
    rejects: Vec<Reject>,
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

/// The scored file's columns: the id when there is one, the score, the reasons asked for, and
/// the model inputs with `--with-features`.
fn output_columns(scorer: &Scorer, map: &Columns, opts: &BatchOptions) -> Vec<(String, ColumnType)> {
    let mut columns: Vec<(String, ColumnType)> = Vec::new();
    if let (Some(_), Some(id)) = (map.id, scorer.id_column()) {
        columns.push((id.to_string(), ColumnType::Text));
    }
    columns.push(("churn_probability".into(), ColumnType::Float));
    columns.push(("churn".into(), ColumnType::Text));
    columns.push(("risk_decile".into(), ColumnType::Int));
    for k in 1..=opts.explain {
        columns.push((format!("reason_{k}"), ColumnType::Text));
        columns.push((format!("reason_{k}_points"), ColumnType::Float));
    }
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
    let columns = output_columns(scorer, &map, opts);
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
            let (batch_rx, done_tx, map, spent_tx) = (&batch_rx, done_tx.clone(), &map, spent_tx.clone());
            s.spawn(move || loop {
                let next = batch_rx.lock().expect("batch queue").recv();
                let Ok((seq, batch)) = next else { return };
                let scored = score_rows(scorer, &batch.cells(), &batch, map, 0..batch.len(), opts);
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
                let result =
                    write_batch(&mut writer, &mut reject_writer, rejects_path, scorer, &map, &columns, opts, &batch);
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

#[allow(clippy::too_many_arguments)]
fn write_batch(
    writer: &mut TableWriter,
    reject_writer: &mut Option<TableWriter>,
    rejects_path: &Path,
    scorer: &Scorer,
    map: &Columns,
    columns: &[(String, ColumnType)],
    opts: &BatchOptions,
    batch: &Scored,
) -> Result<(u64, u64), DataError> {
    let (out, rej) = (&batch.rows, &batch.rejects);
    let mut churners = 0;
    let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
    for r in out {
        churners += r.churn as u64;
        cells.clear();
        if map.id.is_some() {
            cells.push(Cell::Text(&batch.ids[r.id.clone()]));
        }
        cells.push(Cell::Float32(r.probability));
        cells.push(Cell::Text(scorer.label_text(r.churn)));
        cells.push(r.decile.map(|d| Cell::Int(d as i64)).unwrap_or(Cell::Null));
        for k in 0..opts.explain {
            match r.reasons.get(k) {
                Some((t, p)) => {
                    cells.push(Cell::Text(t));
                    cells.push(Cell::Float((p * 100.0).round() / 100.0));
                }
                None => {
                    cells.push(Cell::Null);
                    cells.push(Cell::Null);
                }
            }
        }
        for v in &r.features {
            cells.push(if v.is_nan() { Cell::Null } else { Cell::Float32(*v) });
        }
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
    Ok((out.len() as u64, churners))
}

fn score_rows(
    scorer: &Scorer,
    cells: &crate::table::BatchCells<'_>,
    batch: &RawBatch,
    map: &Columns,
    rows: std::ops::Range<usize>,
    opts: &BatchOptions,
) -> Scored {
    let gate = scorer.gate();
    let mut out = Vec::with_capacity(rows.len());
    let mut ids = String::new();
    let mut rejects = Vec::new();
    let mut values = vec![0f64; gate.names().len()];
    let mut x = vec![0f32; scorer.n_features()];
    let mut scratch = Scratch::default();
    let mut problems = Vec::new();
    for r in rows {
        problems.clear();
        let location = batch.location(r);
        let id_start = ids.len();
        if !gate.row(map, cells, r, location, &mut values, &mut ids, &mut problems) {
            ids.truncate(id_start);
            // The id as written, even when it is what was refused.
            let written = map.id.map(|c| match cells.get(r, c) {
                crate::schema::Raw::Text(t) => crate::schema::value_preview(crate::schema::trim(t)),
                _ => String::new(),
            });
            let reason = problems.iter().map(|p| p.message()).collect::<Vec<_>>().join("; ");
            rejects.push(Reject { location: location.to_string(), id: written.unwrap_or_default(), reason });
            continue;
        }
        scorer.encode(&values, &mut x);
        let s = scorer.score(&x);
        let reasons = if opts.explain > 0 {
            scorer
                .explain(&x, &values, opts.explain, &mut scratch)
                .reasons
                .into_iter()
                .map(|r| (format!("{} = {}", r.label, r.value), r.points))
                .collect()
        } else {
            Vec::new()
        };
        out.push(OutRow {
            id: id_start..ids.len(),
            probability: s.probability,
            churn: s.churn,
            decile: s.risk_decile,
            reasons,
            features: if opts.with_features { x.clone() } else { Vec::new() },
        });
    }
    Scored { rows: out, ids, rejects }
}
