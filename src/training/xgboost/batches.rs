//! XGBoost's quantised training matrix built from batches (`XGQuantileDMatrixCreateFromCallback`,
//! the engine of Python's `QuantileDMatrix` and of `xgboost.dask`): the library pulls batches
//! through two callbacks, sketches their quantiles, then stores each value as its bin, about a
//! byte per input. The model inputs are never resident whole, only one batch at a time; in a
//! distributed job the sketch is merged across workers by the library itself.
//!
//! With a cache folder the matrix lives on disk instead (`XGExtMemQuantileDMatrixCreateFromCallback`,
//! XGBoost's external memory): pages are read back each round.

use super::handles::{c_string, check, last_error, DMatrix};
use super::library;
use super::XgbError;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use xgboost_sys as sys;

/// One batch of model inputs: `labels.len()` rows of `x.len() / labels.len()` values each
/// (row-major, NaN for missing).
pub struct Batch<'a> {
    pub x: &'a [f32],
    pub labels: &'a [f32],
}

/// Where the batches come from. XGBoost reads them several times (once to sketch, once to
/// store), rewinding with `reset` before each pass; a batch must stay valid until the next call.
pub trait Batches {
    fn reset(&mut self);
    /// The next batch (never empty), or None at the end.
    fn next_batch(&mut self) -> Result<Option<Batch<'_>>, String>;
}

/// How the matrix is built.
pub struct Quantised<'a> {
    pub max_bin: u32,
    pub threads: usize,
    /// A matrix whose bins this one reuses (a validation matrix takes its training matrix's).
    pub reference: Option<&'a DMatrix>,
    /// Keep the quantised pages in files under this folder (external memory).
    pub cache: Option<&'a Path>,
    pub n_features: usize,
}

/// What the callbacks share with the library: the source, the proxy it sets, and the first
/// failure (a callback cannot unwind into C; it stops the iteration and the error is returned
/// once the library gives control back).
struct State<'a> {
    source: &'a mut dyn Batches,
    proxy: sys::DMatrixHandle,
    n_features: usize,
    rows: usize,
    failure: Option<String>,
}

unsafe extern "C" fn reset(iter: sys::DataIterHandle) {
    // SAFETY: `iter` is the `State` passed below, alive for the whole build.
    let state = unsafe { &mut *iter.cast::<State>() };
    if state.failure.is_none() {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| state.source.reset())) {
            state.failure = Some(panic_message(p));
        }
        state.rows = 0;
    }
}

unsafe extern "C" fn next(iter: sys::DataIterHandle) -> c_int {
    // SAFETY: as in `reset`.
    let state = unsafe { &mut *iter.cast::<State>() };
    if state.failure.is_some() {
        return 0;
    }
    match catch_unwind(AssertUnwindSafe(|| set_next(state))) {
        Ok(Ok(more)) => more as c_int,
        Ok(Err(e)) => {
            state.failure = Some(e);
            0
        }
        Err(p) => {
            state.failure = Some(panic_message(p));
            0
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let text = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
    format!("reading a batch panicked: {}", text.unwrap_or_default())
}

/// NumPy's array interface, the C API's way of describing a buffer it reads in place.
fn array_interface(ptr: *const f32, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!(r#"{{"data": [{}, true], "shape": [{}], "typestr": "<f4", "version": 3}}"#, ptr as usize, dims.join(", "))
}

fn set_next(state: &mut State) -> Result<bool, String> {
    let n_features = state.n_features;
    let Some(batch) = state.source.next_batch()? else { return Ok(false) };
    let rows = batch.labels.len();
    if rows == 0 || batch.x.len() != rows * n_features {
        return Err(format!("a batch of {} values for {rows} rows of {n_features} inputs", batch.x.len()));
    }
    let data = c_string(&array_interface(batch.x.as_ptr(), &[rows, n_features])).map_err(|e| e.0)?;
    let labels = c_string(&array_interface(batch.labels.as_ptr(), &[rows])).map_err(|e| e.0)?;
    // SAFETY: the proxy is valid; the batch's buffers stay alive until the next callback (the
    // `Batches` contract), which is as long as the library reads them.
    unsafe {
        check(sys::XGProxyDMatrixSetDataDense(state.proxy, data.as_ptr())).map_err(|e| e.0)?;
        check(sys::XGDMatrixSetInfoFromInterface(state.proxy, c"label".as_ptr(), labels.as_ptr())).map_err(|e| e.0)?;
    }
    state.rows += rows;
    Ok(true)
}

/// Builds the quantised matrix from every batch of `source`.
pub fn quantised(source: &mut dyn Batches, how: &Quantised) -> Result<DMatrix, XgbError> {
    library::ensure()?;
    let mut proxy = ptr::null_mut();
    // SAFETY: an out-pointer.
    check(unsafe { sys::XGProxyDMatrixCreate(&mut proxy) })?;
    let proxy = DMatrix::from_handle(proxy);
    let mut state = State { source, proxy: proxy.handle, n_features: how.n_features, rows: 0, failure: None };
    let reference = how.reference.map_or(ptr::null_mut(), |r| r.handle);
    let mut out = ptr::null_mut();
    let iter = (&mut state as *mut State).cast::<c_void>();
    let code = match how.cache {
        None => {
            let config = c_string(&format!(
                r#"{{"nthread": {}, "missing": NaN, "max_bin": {}}}"#,
                how.threads.max(1),
                how.max_bin
            ))?;
            // SAFETY: `iter` and the proxy outlive the call; the callbacks match the header.
            unsafe {
                sys::XGQuantileDMatrixCreateFromCallback(
                    iter,
                    proxy.handle,
                    reference,
                    reset,
                    next,
                    config.as_ptr(),
                    &mut out,
                )
            }
        }
        Some(dir) => {
            let prefix = dir.join("xgboost-cache");
            let config = c_string(&format!(
                r#"{{"nthread": {}, "missing": NaN, "max_bin": {}, "cache_prefix": {}, "on_host": false}}"#,
                how.threads.max(1),
                how.max_bin,
                serde_json::Value::from(prefix.to_string_lossy().into_owned())
            ))?;
            // SAFETY: as above.
            unsafe {
                sys::XGExtMemQuantileDMatrixCreateFromCallback(
                    iter,
                    proxy.handle,
                    reference,
                    reset,
                    next,
                    config.as_ptr(),
                    &mut out,
                )
            }
        }
    };
    if let Some(failure) = state.failure.take() {
        if code == 0 {
            drop(DMatrix::from_handle(out));
        }
        return Err(XgbError(failure));
    }
    if code != 0 {
        return Err(XgbError(last_error()));
    }
    Ok(DMatrix::from_handle(out))
}

/// Batches of an in-memory matrix, `batch_rows` rows at a time.
pub struct InMemory<'a> {
    pub x: &'a [f32],
    pub labels: &'a [f32],
    pub batch_rows: usize,
    at: usize,
}

impl<'a> InMemory<'a> {
    pub fn new(x: &'a [f32], labels: &'a [f32], batch_rows: usize) -> InMemory<'a> {
        InMemory { x, labels, batch_rows: batch_rows.max(1), at: 0 }
    }
}

impl Batches for InMemory<'_> {
    fn reset(&mut self) {
        self.at = 0;
    }

    fn next_batch(&mut self) -> Result<Option<Batch<'_>>, String> {
        let n = self.labels.len();
        if self.at >= n {
            return Ok(None);
        }
        let m = self.x.len() / n.max(1);
        let end = (self.at + self.batch_rows).min(n);
        let batch = Batch { x: &self.x[self.at * m..end * m], labels: &self.labels[self.at..end] };
        self.at = end;
        Ok(Some(batch))
    }
}
