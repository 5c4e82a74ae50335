//! Finds the XGBoost library training uses, fetching the pinned one on first use.
//!
//! churn builds with Rust alone: the C API is declared in `crates/xgboost-sys` and bound at run
//! time. The library is the `libxgboost.so` of the PyPI wheel `xgboost-cpu` 3.2.0, the very
//! library the Python reference stack and MLflow's xgboost flavor run, so models match Python's
//! bit for bit. Looked for, in order:
//! 1. `CHURN_XGBOOST_LIB`: a libxgboost.so, or a folder holding one;
//! 2. `lib/libxgboost.so` beside the churn binary (a binary shipped with its library);
//! 3. churn's cache: `$CHURN_CACHE_DIR`, else `$XDG_CACHE_HOME/churn`, else `~/.cache/churn`.
//!
//! When none holds it, the wheel is taken from `CHURN_XGBOOST_WHEEL` (a file, for machines
//! without network) or downloaded once from its pinned PyPI address, checked against its pinned
//! SHA-256, and unpacked into the cache with its OpenMP runtime beside it (the wheel's layout,
//! which the library's own RUNPATH expects).

use super::XgbError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub const VERSION: &str = "3.2.0";
const WHEEL: &str = "xgboost_cpu-3.2.0-py3-none-manylinux_2_28_x86_64.whl";
const WHEEL_URL: &str = "https://files.pythonhosted.org/packages/ba/1d/c05e982a2220e1a208f5ca8792265cefb43e860e8796bff3245cc94fc2ce/xgboost_cpu-3.2.0-py3-none-manylinux_2_28_x86_64.whl";
const WHEEL_SHA256: &str = "9c10b1653e1a689bf4094a328144cf3633c9be0e5217a76fbdc2fde6abcb2950";
const LIB: &str = "libxgboost.so";

/// Where the library was found and its version, once loaded.
#[derive(Debug, Clone)]
pub struct Library {
    pub path: PathBuf,
    pub version: (u32, u32, u32),
}

static LOADED: OnceLock<Result<Library, String>> = OnceLock::new();

/// Loads the library (finding or fetching it first) once per process. Call it before starting
/// threads: loading sets the OpenMP environment the library reads.
pub fn ensure() -> Result<&'static Library, XgbError> {
    LOADED.get_or_init(|| locate_or_fetch().and_then(|p| load(&p))).as_ref().map_err(|e| XgbError(e.clone()))
}

fn load(path: &Path) -> Result<Library, String> {
    // OpenMP's workers spin while they wait for work. On a machine whose cores are busy with
    // other processes (a laptop, a CI runner, a container beside others) the spinning threads
    // fight those processes for the cores and a 0.2 s fit took 5 s and more; waiting passively
    // costs nothing measurable on an idle machine (bench/busy.sh, README). libgomp reads this
    // when it loads, with libxgboost, here; a value the user set is kept.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        std::env::set_var("OMP_WAIT_POLICY", "PASSIVE");
    }
    let version = xgboost_sys::load(path)?;
    if (version.0, version.1) != (3, 2) {
        eprintln!(
            "warning: {} is XGBoost {}.{}.{}; churn is tested with {VERSION} (models may differ slightly from Python's)",
            path.display(),
            version.0,
            version.1,
            version.2
        );
    }
    Ok(Library { path: path.to_path_buf(), version })
}

fn cached_root() -> PathBuf {
    crate::cache::dir().join(format!("xgboost-cpu-{VERSION}"))
}

/// Every place looked at, in order, with the library found in the first that has one.
fn candidates() -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("CHURN_XGBOOST_LIB").filter(|v| !v.is_empty()).map(PathBuf::from) {
        let lib = if p.is_dir() { p.join(LIB) } else { p.clone() };
        if !lib.is_file() {
            return Err(format!("CHURN_XGBOOST_LIB={} holds no {LIB}", p.display()));
        }
        out.push(lib);
        return Ok(out);
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.push(dir.join("lib").join(LIB));
    }
    out.push(cached_root().join("xgboost/lib").join(LIB));
    Ok(out)
}

fn locate_or_fetch() -> Result<PathBuf, String> {
    let places = candidates()?;
    if let Some(found) = places.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let root = cached_root();
    let wheel = match std::env::var_os("CHURN_XGBOOST_WHEEL").filter(|v| !v.is_empty()) {
        Some(file) => {
            std::fs::read(&file).map_err(|e| format!("CHURN_XGBOOST_WHEEL={}: {e}", file.to_string_lossy()))?
        }
        None => {
            eprintln!(
                "churn: fetching the XGBoost library once ({WHEEL}, 17 MB, SHA-256 pinned) into {}",
                root.display()
            );
            download().map_err(|e| {
                format!(
                    "the XGBoost library is not on this machine (looked at {}) and could not be downloaded: {e}\n\
                     Offline, either point CHURN_XGBOOST_LIB at a libxgboost.so {VERSION} (e.g. from `pip install xgboost-cpu=={VERSION}`: \
                     python -c \"import xgboost, os; print(os.path.dirname(xgboost.__file__) + '/lib')\"), \
                     or CHURN_XGBOOST_WHEEL at a copy of {WHEEL} ({WHEEL_URL})",
                    places.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                )
            })?
        }
    };
    unpack(&verified(wheel)?, &root)?;
    Ok(root.join("xgboost/lib").join(LIB))
}

fn verified(wheel: Vec<u8>) -> Result<Vec<u8>, String> {
    let digest = crate::table::hex(&Sha256::digest(&wheel));
    if digest != WHEEL_SHA256 {
        return Err(format!(
            "the XGBoost wheel has SHA-256 {digest}, not the pinned {WHEEL_SHA256}: refusing to use it"
        ));
    }
    Ok(wheel)
}

fn download() -> Result<Vec<u8>, String> {
    let agent = crate::http_client::agent(Duration::from_secs(20), Duration::from_secs(600));
    let mut response = agent.get(WHEEL_URL).call().map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("{WHEEL_URL} answered {}", response.status()));
    }
    let mut bytes = Vec::new();
    response.body_mut().with_config().limit(64 << 20).reader().read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Unpacks the library and its OpenMP runtime into `root`, atomically: a half-written cache is
/// never mistaken for a complete one (another process may be unpacking at the same time).
fn unpack(wheel: &[u8], root: &Path) -> Result<(), String> {
    let parent = root.parent().ok_or("the cache folder has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".xgboost-unpack-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a folder in {}: {e}", parent.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel)).map_err(|e| format!("the wheel: {e}"))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("the wheel: {e}"))?;
        let Some(name) = entry.enclosed_name() else { continue };
        let keep = name.starts_with("xgboost/lib") || name.starts_with("xgboost_cpu.libs");
        if !keep || entry.is_dir() {
            continue;
        }
        let dest = staging.path().join(&name);
        std::fs::create_dir_all(dest.parent().expect("a file in a folder"))
            .map_err(|e| format!("cannot unpack into {}: {e}", staging.path().display()))?;
        let mut out = std::fs::File::create(&dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    if !staging.path().join("xgboost/lib").join(LIB).is_file() {
        return Err(format!("the wheel holds no xgboost/lib/{LIB}"));
    }
    let staged = staging.keep();
    match std::fs::rename(&staged, root) {
        Ok(()) => Ok(()),
        // Another process finished first: use its copy.
        Err(_) if root.join("xgboost/lib").join(LIB).is_file() => {
            let _ = std::fs::remove_dir_all(&staged);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(format!("cannot move the library into {}: {e}", root.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_loads_with_every_declared_function() {
        // Resolving every symbol is part of loading; a missing one fails with its name.
        let lib = ensure().expect("the XGBoost library loads");
        assert_eq!((lib.version.0, lib.version.1), (3, 2), "{lib:?}");
        assert!(xgboost_sys::FUNCTIONS.len() > 30);
    }

    #[test]
    fn a_wheel_with_another_digest_is_refused() {
        let err = verified(b"not the wheel".to_vec()).unwrap_err();
        assert!(err.contains("not the pinned"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_wheel_is_refused_and_leaves_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("xgboost-cpu");
        let err = unpack(b"not a zip", &root).unwrap_err();
        assert!(err.contains("the wheel"), "{err}");
        assert!(!root.exists());
    }
}
