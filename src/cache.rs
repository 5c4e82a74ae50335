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
            let fallback = private_temp();
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
        .unwrap_or_else(private_temp)
}

/// `churn-cache-<uid>` in the shared temp dir, made 0700 by this user. A folder of that name
/// that is a symlink, belongs to someone else or is writable by others is refused (the cache
/// holds a library churn loads): a fresh folder of this process's own is used then.
fn private_temp() -> PathBuf {
    // Chosen once per process: a refused name would otherwise give each call a new folder.
    static CHOSEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(choose_private_temp).clone()
}

fn choose_private_temp() -> PathBuf {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    let path = std::env::temp_dir().join(format!("churn-cache-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&path);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0 => {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
            path
        }
        _ => tempfile::Builder::new()
            .prefix("churn-cache-")
            .tempdir()
            .map(|d| d.keep())
            // Nothing writable in the temp dir: the error shows where a file is written.
            .unwrap_or(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn an_unwritable_home_falls_back_to_a_private_temp_folder() {
        // Not through the environment (tests run in parallel): the rule itself.
        use std::os::unix::fs::MetadataExt;
        let chosen = usable(Path::new("/proc/churn-cannot-be-made/churn").to_path_buf());
        assert!(chosen.starts_with(std::env::temp_dir()) && chosen.is_dir(), "{}", chosen.display());
        let m = std::fs::symlink_metadata(&chosen).unwrap();
        assert!(!m.file_type().is_symlink() && m.mode() & 0o077 == 0, "{:o}", m.mode());
        let fine = tempfile::tempdir().unwrap();
        assert_eq!(usable(fine.path().join("churn")), fine.path().join("churn"));
    }
}
