//! The folder churn keeps downloads in between runs (the XGBoost library, models fetched from an
//! MLflow server): `$CHURN_CACHE_DIR`, else `$XDG_CACHE_HOME/churn`, else `~/.cache/churn`.

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CHURN_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("churn")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/churn")))
        .unwrap_or_else(|| std::env::temp_dir().join("churn-cache"))
}
