//! The folder churn keeps downloads in between runs (the XGBoost library, models fetched from an
//! MLflow server): `$CHURN_CACHE_DIR`, else `$XDG_CACHE_HOME/churn`, else `~/.cache/churn`.
//! When that folder cannot be made (a container user whose home does not exist, a read-only
//! root file system) a per-user folder under the temp dir is used instead, with a note, so a
//! server started with a `models:/` URI still starts.

use std::path::PathBuf;
use std::sync::Once;

pub fn dir() -> PathBuf {
    usable(preferred())
}

fn usable(preferred: PathBuf) -> PathBuf {
    match std::fs::create_dir_all(&preferred) {
        Ok(()) => preferred,
        Err(e) => {
            let fallback = fallback();
            // Its own failure surfaces where a file is written, with the path.
            let _ = std::fs::create_dir_all(&fallback);
            static NOTE: Once = Once::new();
            NOTE.call_once(|| {
                eprintln!(
                    "note: churn's cache folder {} cannot be created ({e}); using {} (set CHURN_CACHE_DIR to choose)",
                    preferred.display(),
                    fallback.display()
                )
            });
            fallback
        }
    }
}

fn preferred() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CHURN_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("churn")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/churn")))
        .unwrap_or_else(fallback)
}

fn fallback() -> PathBuf {
    // Per user: another user's folder in a shared /tmp would not be writable.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid().to_string()).unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("churn-cache-{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn an_unwritable_home_falls_back_to_the_temp_dir() {
        // Not through the environment (tests run in parallel): the rule itself.
        let blocked = Path::new("/proc/churn-cannot-be-made/churn");
        let chosen = usable(blocked.to_path_buf());
        assert_eq!(chosen, fallback());
        assert!(chosen.starts_with(std::env::temp_dir()) && chosen.is_dir(), "{}", chosen.display());
        let fine = tempfile::tempdir().unwrap();
        assert_eq!(usable(fine.path().join("churn")), fine.path().join("churn"));
    }
}
