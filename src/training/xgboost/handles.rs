//! Owned handles of the XGBoost C API: a [`DMatrix`] and a [`Booster`], each freed on drop, every
//! call checked and its failure reported with XGBoost's own message.
//!
//! Why churn holds its own handles instead of the `xgb` crate's: training builds its matrices
//! from batches (`XGQuantileDMatrixCreateFromCallback`, see `batches`) and in a distributed job
//! every call must run on the communicator's thread, and `xgb` neither builds such a matrix nor
//! lets a booster train on a matrix it did not build. The calls are the C API's, through the
//! declarations of `crates/xgboost-sys`.

use super::library;
use super::XgbError;
use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;
use xgboost_sys as sys;

/// XGBoost's message for the last failed call on this thread.
pub(super) fn last_error() -> String {
    // SAFETY: XGBGetLastError returns a valid NUL-terminated string owned by the library.
    clean(&unsafe { CStr::from_ptr(sys::XGBGetLastError()) }.to_string_lossy())
}

/// A line of the library's stack traces, which says nothing to a user.
pub fn is_trace_line(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("[bt]") || line.starts_with("Stack trace")
}

/// A library message without its stack trace, source positions and time stamps: what is left
/// says what went wrong ("Ring allreduce failed.; Encountered EOF. The other end is likely
/// closed.").
pub(crate) fn clean(message: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in message.lines() {
        let line = line.trim();
        if line.is_empty() || is_trace_line(line) {
            continue;
        }
        // "- [file.cc:12|04:57:01]: text" and "[04:57:01] /path/file.cc:83: [file.cc:12|..]: text"
        let mut text = line.trim_start_matches("- ");
        while let Some(rest) = text.strip_prefix('[').and_then(|t| t.split_once("]:").or_else(|| t.split_once(']'))) {
            text = rest.1.trim_start();
            if let Some((_, after)) =
                text.split_once(": ").filter(|(head, _)| head.contains(".cc") || head.contains(".h"))
            {
                text = after;
            }
        }
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p == text) {
            parts.push(text.to_string());
        }
    }
    if parts.is_empty() {
        message.trim().to_string()
    } else {
        parts.join(" ")
    }
}

/// Turns a C API return code into a result.
pub(super) fn check(code: c_int) -> Result<(), XgbError> {
    if code == 0 {
        Ok(())
    } else {
        Err(XgbError(last_error()))
    }
}

pub(super) fn c_string(s: &str) -> Result<CString, XgbError> {
    CString::new(s).map_err(|_| XgbError(format!("{s:?} holds a NUL byte")))
}

/// A data matrix in XGBoost's memory. Not `Send`: XGBoost keeps per-thread entries keyed by the
/// matrix and clears only the dropping thread's.
#[derive(Debug)]
pub struct DMatrix {
    pub(super) handle: sys::DMatrixHandle,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl DMatrix {
    /// Takes ownership of a handle the C API just created.
    pub(super) fn from_handle(handle: sys::DMatrixHandle) -> DMatrix {
        DMatrix { handle, _not_send: std::marker::PhantomData }
    }

    /// A matrix of `rows` rows from row-major values, NaN for missing.
    pub fn dense(x: &[f32], rows: usize) -> Result<DMatrix, XgbError> {
        library::ensure()?;
        let cols = x.len().checked_div(rows).unwrap_or(0);
        if cols * rows != x.len() {
            return Err(XgbError(format!("{} values do not make {rows} rows", x.len())));
        }
        let mut handle = ptr::null_mut();
        // SAFETY: `x` holds rows * cols floats; the library copies them.
        check(unsafe { sys::XGDMatrixCreateFromMat(x.as_ptr(), rows as u64, cols as u64, f32::NAN, &mut handle) })?;
        Ok(DMatrix::from_handle(handle))
    }

    pub fn set_labels(&mut self, labels: &[f32]) -> Result<(), XgbError> {
        // SAFETY: a valid handle and `labels.len()` floats, copied by the library.
        check(unsafe {
            sys::XGDMatrixSetFloatInfo(self.handle, c"label".as_ptr(), labels.as_ptr(), labels.len() as u64)
        })
    }

    pub fn set_feature_names(&mut self, names: &[String]) -> Result<(), XgbError> {
        let owned = names.iter().map(|n| c_string(n)).collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: `ptrs` points at NUL-terminated strings alive for the call.
        check(unsafe {
            sys::XGDMatrixSetStrFeatureInfo(self.handle, c"feature_name".as_ptr(), ptrs.as_mut_ptr(), ptrs.len() as u64)
        })
    }

    /// A proxy holding a base margin of 0 for `rows` rows, for in-place predictions of the
    /// trees alone.
    pub fn zero_margins(rows: usize) -> Result<DMatrix, XgbError> {
        library::ensure()?;
        let mut handle = ptr::null_mut();
        // SAFETY: an out-pointer.
        check(unsafe { sys::XGProxyDMatrixCreate(&mut handle) })?;
        let proxy = DMatrix::from_handle(handle);
        let zeros = vec![0f32; rows];
        let info = c_string(&format!(
            r#"{{"data": [{}, true], "shape": [{rows}], "typestr": "<f4", "version": 3}}"#,
            zeros.as_ptr() as usize
        ))?;
        // SAFETY: `zeros` holds `rows` floats; the library copies meta information.
        check(unsafe { sys::XGDMatrixSetInfoFromInterface(proxy.handle, c"base_margin".as_ptr(), info.as_ptr()) })?;
        Ok(proxy)
    }

    pub fn rows(&self) -> Result<usize, XgbError> {
        let mut out = 0;
        // SAFETY: a valid handle and out-pointer.
        check(unsafe { sys::XGDMatrixNumRow(self.handle, &mut out) })?;
        Ok(out as usize)
    }
}

impl Drop for DMatrix {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and freed once.
        unsafe { sys::XGDMatrixFree(self.handle) };
    }
}

/// A gradient-boosted model in XGBoost's memory.
pub struct Booster {
    handle: sys::BoosterHandle,
}

// SAFETY: XGBoost keeps a booster's returned buffers in thread-local maps keyed by the learner,
// so the handle has no thread affinity; `&mut self` guards every call that changes it. (In a
// distributed job the communicator is per thread: the training procedure keeps the booster on
// the communicator's thread.)
unsafe impl Send for Booster {}

/// What a prediction returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    Probability,
    Margin,
    Contributions,
}

impl Booster {
    /// A new booster that caches predictions for the given matrices (the ones it trains and
    /// evaluates on).
    pub fn new(cache: &[&DMatrix]) -> Result<Booster, XgbError> {
        library::ensure()?;
        let handles: Vec<sys::DMatrixHandle> = cache.iter().map(|d| d.handle).collect();
        let mut handle = ptr::null_mut();
        // SAFETY: `handles` are valid matrices alive for the call.
        check(unsafe { sys::XGBoosterCreate(handles.as_ptr(), handles.len() as u64, &mut handle) })?;
        Ok(Booster { handle })
    }

    /// A booster from a saved model (JSON or UBJSON).
    pub fn load(bytes: &[u8]) -> Result<Booster, XgbError> {
        let mut b = Booster::new(&[])?;
        // SAFETY: `bytes` is valid for its length.
        check(unsafe { sys::XGBoosterLoadModelFromBuffer(b.handle, bytes.as_ptr().cast(), bytes.len() as u64) })?;
        b.set_param("nthread", "0")?;
        Ok(b)
    }

    pub fn set_param(&mut self, name: &str, value: &str) -> Result<(), XgbError> {
        let (k, v) = (c_string(name)?, c_string(value)?);
        // SAFETY: NUL-terminated strings alive for the call.
        check(unsafe { sys::XGBoosterSetParam(self.handle, k.as_ptr(), v.as_ptr()) })
    }

    pub fn set_feature_names(&mut self, names: &[String]) -> Result<(), XgbError> {
        let owned = names.iter().map(|n| c_string(n)).collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: `ptrs` points at NUL-terminated strings alive for the call.
        check(unsafe {
            sys::XGBoosterSetStrFeatureInfo(self.handle, c"feature_name".as_ptr(), ptrs.as_mut_ptr(), ptrs.len() as u64)
        })
    }

    /// One boosting round on `train`.
    pub fn update(&mut self, round: usize, train: &DMatrix) -> Result<(), XgbError> {
        // SAFETY: valid handles.
        check(unsafe { sys::XGBoosterUpdateOneIter(self.handle, round as c_int, train.handle) })
    }

    /// The evaluation metric (`eval_metric`) on one matrix after `round`: in a distributed job,
    /// over every worker's rows (the library reduces it).
    pub fn metric(&mut self, round: usize, data: &DMatrix, metric: &str) -> Result<f64, XgbError> {
        let mut dmats = [data.handle];
        let mut names = [c"data".as_ptr()];
        let mut out: *const c_char = ptr::null();
        // SAFETY: one valid matrix and one name; the result string is owned by the library.
        check(unsafe {
            sys::XGBoosterEvalOneIter(self.handle, round as c_int, dmats.as_mut_ptr(), names.as_mut_ptr(), 1, &mut out)
        })?;
        // SAFETY: a NUL-terminated string, valid until the next call on this booster.
        let text = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
        parse_metric(&text, metric).ok_or_else(|| XgbError(format!("XGBoost reported no {metric} in {text:?}")))
    }

    /// Predictions of every row of `data`, one value per row (or per row and column plus the
    /// bias for contributions).
    pub fn predict(&self, data: &DMatrix, output: Output) -> Result<Vec<f32>, XgbError> {
        let config = c_string(&predict_config(output, 0..0))?;
        let (mut shape, mut dims, mut result) = (ptr::null(), 0u64, ptr::null());
        // SAFETY: valid handles; the outputs point at library-owned buffers read below.
        check(unsafe {
            sys::XGBoosterPredictFromDMatrix(
                self.handle,
                data.handle,
                config.as_ptr(),
                &mut shape,
                &mut dims,
                &mut result,
            )
        })?;
        // SAFETY: as the header documents the outputs.
        Ok(unsafe { copy_result(shape, dims, result) })
    }

    /// Probabilities or margins of `rows` rows of dense inputs (row-major, NaN for missing),
    /// from the trees of `rounds` only (all of them when the range is empty): the library reads
    /// the rows where they are, without a matrix.
    pub fn predict_dense(
        &self,
        x: &[f32],
        rows: usize,
        output: Output,
        rounds: std::ops::Range<usize>,
    ) -> Result<Vec<f32>, XgbError> {
        self.predict_dense_with(x, rows, output, rounds, None)
    }

    /// As [`Booster::predict_dense`], with the base margins of `meta` (a proxy matrix from
    /// [`DMatrix::zero_margins`] makes a margin the trees' sum alone, without the base score).
    pub fn predict_dense_with(
        &self,
        x: &[f32],
        rows: usize,
        output: Output,
        rounds: std::ops::Range<usize>,
        meta: Option<&DMatrix>,
    ) -> Result<Vec<f32>, XgbError> {
        if rows == 0 {
            return Ok(Vec::new());
        }
        let cols = x.len() / rows;
        let data = c_string(&format!(
            r#"{{"data": [{}, true], "shape": [{rows}, {cols}], "typestr": "<f4", "version": 3}}"#,
            x.as_ptr() as usize
        ))?;
        let config = c_string(&predict_config(output, rounds))?;
        let (mut shape, mut dims, mut result) = (ptr::null(), 0u64, ptr::null());
        // SAFETY: `x` holds rows * cols floats, read in place for the call; no proxy is given.
        check(unsafe {
            sys::XGBoosterPredictFromDense(
                self.handle,
                data.as_ptr(),
                config.as_ptr(),
                meta.map_or(ptr::null_mut(), |m| m.handle),
                &mut shape,
                &mut dims,
                &mut result,
            )
        })?;
        // SAFETY: as the header documents the outputs.
        Ok(unsafe { copy_result(shape, dims, result) })
    }

    /// The rounds [begin, end) as a new booster.
    pub fn slice(&self, begin: usize, end: usize) -> Result<Booster, XgbError> {
        let mut handle = ptr::null_mut();
        // SAFETY: a valid handle and out-pointer.
        check(unsafe { sys::XGBoosterSlice(self.handle, begin as c_int, end as c_int, 1, &mut handle) })?;
        Ok(Booster { handle })
    }

    /// The model as XGBoost saves it: UBJSON (MLflow's `model.ubj`) or JSON.
    pub fn save(&self, ubj: bool) -> Result<Vec<u8>, XgbError> {
        let config = if ubj { c"{\"format\": \"ubj\"}" } else { c"{\"format\": \"json\"}" };
        let (mut len, mut data) = (0u64, ptr::null());
        // SAFETY: a valid handle; the buffer is library-owned until the next call, copied here.
        check(unsafe { sys::XGBoosterSaveModelToBuffer(self.handle, config.as_ptr(), &mut len, &mut data) })?;
        // SAFETY: `data` holds `len` bytes.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) }.to_vec())
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and freed once.
        unsafe { sys::XGBoosterFree(self.handle) };
    }
}

fn predict_config(output: Output, rounds: std::ops::Range<usize>) -> String {
    let kind = match output {
        Output::Probability => 0,
        Output::Margin => 1,
        Output::Contributions => 2,
    };
    format!(
        r#"{{"type": {kind}, "training": false, "iteration_begin": {}, "iteration_end": {}, "strict_shape": false, "missing": NaN, "cache_id": 0}}"#,
        rounds.start, rounds.end
    )
}

/// Copies a prediction the library returned (valid until the next call on the booster).
unsafe fn copy_result(shape: *const u64, dims: u64, result: *const f32) -> Vec<f32> {
    // SAFETY: `shape` holds `dims` sizes whose product is the result's length.
    let len: u64 = unsafe { std::slice::from_raw_parts(shape, dims as usize) }.iter().product();
    // SAFETY: `result` holds `len` floats.
    unsafe { std::slice::from_raw_parts(result, len as usize) }.to_vec()
}

/// The value of `metric` in an evaluation line such as `[3]\tdata-logloss:0.412`.
fn parse_metric(line: &str, metric: &str) -> Option<f64> {
    line.split('\t').skip(1).find_map(|item| {
        let (name, value) = item.split_once(':')?;
        (name.rsplit_once('-').map_or(name, |(_, m)| m) == metric).then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_messages_lose_their_stack_traces_and_positions() {
        let raw = "[04:57:01] /workspace/src/collective/result.cc:83: [histogram.h:197|04:57:01]: \n\n\
                   - [allgather.cc:50|04:57:01]: Ring allgather failed, current iteration:0\n\
                   - [loop.cc:101|04:57:01]: Encountered EOF. The other end is likely closed.\n\
                   Stack trace:\n  [bt] (0) /lib/libxgboost.so(+0x11031e) [0x7fd9]\n";
        assert_eq!(
            clean(raw),
            "Ring allgather failed, current iteration:0 Encountered EOF. The other end is likely closed."
        );
        assert_eq!(clean("plain words"), "plain words");
    }

    #[test]
    fn a_metric_is_read_from_the_evaluation_line() {
        assert_eq!(parse_metric("[3]\tdata-logloss:0.41250", "logloss"), Some(0.4125));
        assert_eq!(parse_metric("[0]\tdata-auc:0.9\tdata-logloss:1e-3", "logloss"), Some(0.001));
        assert_eq!(parse_metric("[0]\tdata-auc:0.9", "logloss"), None);
    }
}
