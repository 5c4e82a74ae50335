//! The XGBoost C API functions churn's training calls, bound at run time.
//!
//! Why at run time: churn's build must need Rust and nothing else (no libclang for bindgen, no
//! library to link against), and a serving build needs no XGBoost at all. The library is loaded
//! once with [`load`]; until then every call fails with XGBoost's own error convention (-1, and
//! [`XGBGetLastError`] says why), so churn's owned handles (`src/training/xgboost`) report it as
//! an ordinary error.
//!
//! The declarations follow `include/xgboost/c_api.h` of XGBoost 3.2 (the pinned library), with
//! the batch-matrix callbacks (a quantised matrix built from batches) and the collective (the
//! tracker and the communicator of distributed training). They
//! are checked against the library when it loads: every symbol must resolve, or `load` fails
//! naming the missing ones; churn's tests then train, predict, save and reload through each of
//! them and compare with the pure-Rust scorer.
#![allow(non_camel_case_types, non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_float, c_int, c_uint, c_void, CStr};
use std::path::Path;
use std::sync::OnceLock;

pub type bst_ulong = u64;
pub type DMatrixHandle = *mut c_void;
pub type BoosterHandle = *mut c_void;
pub type DataIterHandle = *mut c_void;
pub type TrackerHandle = *mut c_void;
/// `DataIterResetCallback` of the header: rewinds a batch iterator.
pub type DataIterResetCallback = unsafe extern "C" fn(iter: DataIterHandle);
/// `XGDMatrixCallbackNext` of the header: sets the next batch on the proxy; 0 when there is none.
pub type XGDMatrixCallbackNext = unsafe extern "C" fn(iter: DataIterHandle) -> c_int;

macro_rules! c_api {
    ($( fn $name:ident( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        /// Every function of the table, resolved from one library.
        struct Api {
            _lib: libloading::Library,
            last_error: unsafe extern "C" fn() -> *const c_char,
            version: unsafe extern "C" fn(*mut c_int, *mut c_int, *mut c_int),
            $( $name: unsafe extern "C" fn($($ty),*) -> $ret, )*
        }

        impl Api {
            fn resolve(lib: libloading::Library) -> Result<Api, String> {
                let mut missing = Vec::new();
                macro_rules! sym {
                    ($s:expr) => {
                        // SAFETY: the symbol is read with the type the header declares for it.
                        match unsafe { lib.get($s) } {
                            Ok(f) => Some(*f),
                            Err(_) => {
                                missing.push(String::from_utf8_lossy(&$s[..$s.len() - 1]).into_owned());
                                None
                            }
                        }
                    };
                }
                let last_error = sym!(b"XGBGetLastError\0");
                let version = sym!(b"XGBoostVersion\0");
                $( let $name = sym!(concat!(stringify!($name), "\0").as_bytes()); )*
                if !missing.is_empty() {
                    return Err(format!("the library lacks {}", missing.join(", ")));
                }
                Ok(Api {
                    last_error: last_error.expect("checked above"),
                    version: version.expect("checked above"),
                    $( $name: $name.expect("checked above"), )*
                    _lib: lib,
                })
            }
        }

        $(
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                match API.get() {
                    Some(api) => (api.$name)($($arg),*),
                    None => -1,
                }
            }
        )*

        /// Names of every function this crate declares (for checks and messages).
        pub const FUNCTIONS: &[&str] = &["XGBGetLastError", "XGBoostVersion", $( stringify!($name), )*];
    };
}

c_api! {
    fn XGDMatrixCreateFromURI(config: *const c_char, out: *mut DMatrixHandle) -> c_int;
    fn XGDMatrixCreateFromCSR(indptr: *const c_char, indices: *const c_char, data: *const c_char, ncol: bst_ulong, config: *const c_char, out: *mut DMatrixHandle) -> c_int;
    fn XGDMatrixCreateFromCSC(indptr: *const c_char, indices: *const c_char, data: *const c_char, nrow: bst_ulong, config: *const c_char, out: *mut DMatrixHandle) -> c_int;
    fn XGDMatrixCreateFromMat(data: *const c_float, nrow: bst_ulong, ncol: bst_ulong, missing: c_float, out: *mut DMatrixHandle) -> c_int;
    fn XGDMatrixSliceDMatrix(handle: DMatrixHandle, idxset: *const c_int, len: bst_ulong, out: *mut DMatrixHandle) -> c_int;
    fn XGDMatrixFree(handle: DMatrixHandle) -> c_int;
    fn XGDMatrixSaveBinary(handle: DMatrixHandle, fname: *const c_char, silent: c_int) -> c_int;
    fn XGDMatrixSetFloatInfo(handle: DMatrixHandle, field: *const c_char, array: *const c_float, len: bst_ulong) -> c_int;
    fn XGDMatrixSetUIntInfo(handle: DMatrixHandle, field: *const c_char, array: *const c_uint, len: bst_ulong) -> c_int;
    fn XGDMatrixGetFloatInfo(handle: DMatrixHandle, field: *const c_char, out_len: *mut bst_ulong, out_dptr: *mut *const c_float) -> c_int;
    fn XGDMatrixGetUIntInfo(handle: DMatrixHandle, field: *const c_char, out_len: *mut bst_ulong, out_dptr: *mut *const c_uint) -> c_int;
    fn XGDMatrixNumRow(handle: DMatrixHandle, out: *mut bst_ulong) -> c_int;
    fn XGDMatrixNumCol(handle: DMatrixHandle, out: *mut bst_ulong) -> c_int;
    fn XGDMatrixNumNonMissing(handle: DMatrixHandle, out: *mut bst_ulong) -> c_int;
    fn XGDMatrixSetStrFeatureInfo(handle: DMatrixHandle, field: *const c_char, features: *mut *const c_char, size: bst_ulong) -> c_int;
    fn XGDMatrixGetStrFeatureInfo(handle: DMatrixHandle, field: *const c_char, size: *mut bst_ulong, out_features: *mut *mut *const c_char) -> c_int;
    fn XGBoosterCreate(dmats: *const DMatrixHandle, len: bst_ulong, out: *mut BoosterHandle) -> c_int;
    fn XGBoosterFree(handle: BoosterHandle) -> c_int;
    fn XGBoosterSlice(handle: BoosterHandle, begin_layer: c_int, end_layer: c_int, step: c_int, out: *mut BoosterHandle) -> c_int;
    fn XGBoosterSetParam(handle: BoosterHandle, name: *const c_char, value: *const c_char) -> c_int;
    fn XGBoosterUpdateOneIter(handle: BoosterHandle, iter: c_int, dtrain: DMatrixHandle) -> c_int;
    fn XGBoosterBoostOneIter(handle: BoosterHandle, dtrain: DMatrixHandle, grad: *mut c_float, hess: *mut c_float, len: bst_ulong) -> c_int;
    fn XGBoosterEvalOneIter(handle: BoosterHandle, iter: c_int, dmats: *mut DMatrixHandle, evnames: *mut *const c_char, len: bst_ulong, out_result: *mut *const c_char) -> c_int;
    fn XGBoosterPredict(handle: BoosterHandle, dmat: DMatrixHandle, option_mask: c_int, ntree_limit: c_uint, training: c_int, out_len: *mut bst_ulong, out_result: *mut *const c_float) -> c_int;
    fn XGBoosterPredictFromDMatrix(handle: BoosterHandle, dmat: DMatrixHandle, config: *const c_char, out_shape: *mut *const bst_ulong, out_dim: *mut bst_ulong, out_result: *mut *const c_float) -> c_int;
    fn XGBoosterLoadModel(handle: BoosterHandle, fname: *const c_char) -> c_int;
    fn XGBoosterSaveModel(handle: BoosterHandle, fname: *const c_char) -> c_int;
    fn XGBoosterLoadModelFromBuffer(handle: BoosterHandle, buf: *const c_void, len: bst_ulong) -> c_int;
    fn XGBoosterSaveModelToBuffer(handle: BoosterHandle, config: *const c_char, out_len: *mut bst_ulong, out_dptr: *mut *const c_char) -> c_int;
    fn XGBoosterDumpModelEx(handle: BoosterHandle, fmap: *const c_char, with_stats: c_int, format: *const c_char, out_len: *mut bst_ulong, out_dump_array: *mut *mut *const c_char) -> c_int;
    fn XGBoosterGetAttr(handle: BoosterHandle, key: *const c_char, out: *mut *const c_char, success: *mut c_int) -> c_int;
    fn XGBoosterSetAttr(handle: BoosterHandle, key: *const c_char, value: *const c_char) -> c_int;
    fn XGBoosterGetAttrNames(handle: BoosterHandle, out_len: *mut bst_ulong, out: *mut *mut *const c_char) -> c_int;
    fn XGBoosterSetStrFeatureInfo(handle: BoosterHandle, field: *const c_char, features: *mut *const c_char, size: bst_ulong) -> c_int;
    fn XGBoosterGetStrFeatureInfo(handle: BoosterHandle, field: *const c_char, len: *mut bst_ulong, out_features: *mut *mut *const c_char) -> c_int;
    fn XGBoosterPredictFromDense(handle: BoosterHandle, values: *const c_char, config: *const c_char, proxy: DMatrixHandle, out_shape: *mut *const bst_ulong, out_dim: *mut bst_ulong, out_result: *mut *const c_float) -> c_int;
    fn XGDMatrixSetInfoFromInterface(handle: DMatrixHandle, field: *const c_char, c_interface_str: *const c_char) -> c_int;
    fn XGProxyDMatrixCreate(out: *mut DMatrixHandle) -> c_int;
    fn XGProxyDMatrixSetDataDense(handle: DMatrixHandle, c_interface_str: *const c_char) -> c_int;
    fn XGQuantileDMatrixCreateFromCallback(iter: DataIterHandle, proxy: DMatrixHandle, reference: DMatrixHandle, reset: DataIterResetCallback, next: XGDMatrixCallbackNext, config: *const c_char, out: *mut DMatrixHandle) -> c_int;
    fn XGExtMemQuantileDMatrixCreateFromCallback(iter: DataIterHandle, proxy: DMatrixHandle, reference: DMatrixHandle, reset: DataIterResetCallback, next: XGDMatrixCallbackNext, config: *const c_char, out: *mut DMatrixHandle) -> c_int;
    fn XGTrackerCreate(config: *const c_char, out: *mut TrackerHandle) -> c_int;
    fn XGTrackerRun(handle: TrackerHandle, config: *const c_char) -> c_int;
    fn XGTrackerWaitFor(handle: TrackerHandle, config: *const c_char) -> c_int;
    fn XGTrackerWorkerArgs(handle: TrackerHandle, args: *mut *const c_char) -> c_int;
    fn XGTrackerFree(handle: TrackerHandle) -> c_int;
    fn XGCommunicatorInit(config: *const c_char) -> c_int;
    fn XGCommunicatorFinalize() -> c_int;
    fn XGCommunicatorGetRank() -> c_int;
    fn XGCommunicatorGetWorldSize() -> c_int;
    fn XGCommunicatorIsDistributed() -> c_int;
    fn XGCommunicatorAllreduce(send_receive_buffer: *mut c_void, count: usize, data_type: c_int, op: c_int) -> c_int;
    fn XGCommunicatorBroadcast(send_receive_buffer: *mut c_void, size: usize, root: c_int) -> c_int;
    fn XGCommunicatorSignalError() -> c_int;
    fn XGCommunicatorPrint(message: *const c_char) -> c_int;
}

static API: OnceLock<Api> = OnceLock::new();

/// The message every call reports before a library is loaded.
static NOT_LOADED: &CStr = c"the XGBoost library is not loaded (churn loads it before training)";

/// Loads libxgboost from `path` and resolves every declared function. The first library loaded
/// stays for the life of the process; a later call with another path is refused.
pub fn load(path: &Path) -> Result<(u32, u32, u32), String> {
    if let Some(api) = API.get() {
        return Ok(version_of(api));
    }
    // SAFETY: loading runs the library's initialisers; libxgboost's only set up its own globals.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    let api = Api::resolve(lib).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = API.set(api);
    Ok(version_of(API.get().expect("set above")))
}

/// The loaded library's version, when one is loaded.
pub fn loaded_version() -> Option<(u32, u32, u32)> {
    API.get().map(version_of)
}

fn version_of(api: &Api) -> (u32, u32, u32) {
    let (mut a, mut b, mut c) = (0, 0, 0);
    // SAFETY: three valid out-pointers, as the header declares.
    unsafe { (api.version)(&mut a, &mut b, &mut c) };
    (a as u32, b as u32, c as u32)
}

pub unsafe fn XGBGetLastError() -> *const c_char {
    match API.get() {
        Some(api) => (api.last_error)(),
        None => NOT_LOADED.as_ptr(),
    }
}

pub unsafe fn XGBoostVersion(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    if let Some(api) = API.get() {
        (api.version)(major, minor, patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_before_loading_fail_with_a_message() {
        let mut out: DMatrixHandle = std::ptr::null_mut();
        let data = [1.0f32, 2.0];
        assert_eq!(unsafe { XGDMatrixCreateFromMat(data.as_ptr(), 1, 2, f32::NAN, &mut out) }, -1);
        let msg = unsafe { CStr::from_ptr(XGBGetLastError()) }.to_string_lossy();
        assert!(msg.contains("not loaded"), "{msg}");
    }

    #[test]
    fn a_missing_library_is_named() {
        let err = load(Path::new("/nonexistent/libxgboost.so")).unwrap_err();
        assert!(err.contains("/nonexistent/libxgboost.so"), "{err}");
    }
}
