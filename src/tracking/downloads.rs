//! Models fetched from a tracking server, kept in churn's cache (`<cache>/models`): reused while
//! the same artifacts are asked for, complete or absent (a download lands in a staging folder
//! renamed when done), the least recently used beyond [`KEEP_MODELS`] removed.

use super::TrackingError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Fetched models kept in the cache.
pub const KEEP_MODELS: usize = 16;

/// The cached folder of `artifact_uri` on the server at `base`, filled by `download` (into the
/// staging folder it is given) when it is not cached yet.
pub fn cached(
    base: &str,
    artifact_uri: &str,
    download: impl FnOnce(&Path) -> Result<(), TrackingError>,
) -> Result<PathBuf, TrackingError> {
    let models = crate::cache::dir().join("models");
    let key = crate::table::hex(&Sha256::digest(format!("{base}\n{artifact_uri}").as_bytes()));
    let dest = models.join(&key[..32]);
    let done = dest.join(".churn-complete");
    if done.is_file() {
        // Touched, so the least recently used entries are the ones removed.
        let _ = std::fs::write(&done, artifact_uri);
        return Ok(dest);
    }
    std::fs::create_dir_all(&models).map_err(TrackingError::io(&models))?;
    let staging =
        tempfile::Builder::new().prefix(".download-").tempdir_in(&models).map_err(TrackingError::io(&models))?;
    download(staging.path())?;
    std::fs::write(staging.path().join(".churn-complete"), artifact_uri).map_err(TrackingError::io(staging.path()))?;
    let staged = staging.keep();
    if std::fs::rename(&staged, &dest).is_err() {
        // Another process cached it first (or a broken entry is in the way): use a whole one.
        let _ = std::fs::remove_dir_all(&staged);
        if !done.is_file() {
            let _ = std::fs::remove_dir_all(&dest);
            let why = format!("churn's model cache cannot keep {artifact_uri} from {base} here");
            return Err(TrackingError::Io { path: dest.clone(), source: std::io::Error::other(why) });
        }
    }
    prune(&models, KEEP_MODELS);
    Ok(dest)
}

/// Keeps the `keep` most recently used cache entries (complete ones; staging folders of
/// downloads that died are removed too once they are an hour old).
fn prune(models: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(models) else { return };
    let mut complete = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let used = std::fs::metadata(path.join(".churn-complete")).and_then(|m| m.modified());
        match used {
            Ok(t) => complete.push((t, path)),
            Err(_) => {
                let stale = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
                if stale {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
    }
    complete.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, path) in complete.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_most_recently_used_models() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..5 {
            let e = d.path().join(format!("m{i}"));
            std::fs::create_dir_all(&e).unwrap();
            std::fs::write(e.join(".churn-complete"), "x").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::create_dir_all(d.path().join(".download-fresh")).unwrap();
        prune(d.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, vec![".download-fresh", "m3", "m4"]);
    }
}
