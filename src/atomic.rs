//! Writes that are whole or absent: a killed process never leaves a file or a folder that looks
//! complete but is not. Files are written under a temporary name beside their destination,
//! synced and renamed; folders are filled under a temporary name and swapped in. What an
//! interrupted write left behind (`.<name>.part-*`, `.<name>.old-*`) is removed, and reported,
//! by the next write to the same destination.

use std::io::Write;
use std::path::{Path, PathBuf};

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// A temporary file or folder beside its destination, created with the permissions a plain
/// `File::create` or `create_dir` would give (0666/0777 under the umask), not tempfile's private
/// 0600/0700: what is renamed into place keeps them, and a bundle baked into an image must stay
/// readable by the user the server runs as.
pub fn builder(prefix: &str, dir: bool) -> tempfile::Builder<'_, 'static> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).permissions(std::fs::Permissions::from_mode(if dir { 0o777 } else { 0o666 }));
    b
}

/// Removes leftovers of interrupted writes to `path`; returns their names.
pub fn remove_leftovers(path: &Path) -> Vec<String> {
    let name = name_of(path);
    let prefixes = [format!(".{name}.part-"), format!(".{name}.old-")];
    let Ok(entries) = std::fs::read_dir(parent_of(path)) else { return Vec::new() };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if prefixes.iter().any(|p| n.starts_with(p)) {
            let gone =
                if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            if gone.is_ok() {
                found.push(n);
            }
        }
    }
    found
}

/// Writes `bytes` to `path` in one step for any reader.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent_of(path);
    let mut tmp = builder(&format!(".{}.part-", name_of(path)), false).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A folder being filled under a temporary name beside `dest`.
pub struct StagedDir {
    dest: PathBuf,
    staging: tempfile::TempDir,
}

impl StagedDir {
    /// Starts filling a folder that will replace `dest`. Leftovers of an interrupted earlier
    /// write are removed first (and a note says so).
    pub fn new(dest: &Path) -> std::io::Result<StagedDir> {
        let dir = parent_of(dest);
        std::fs::create_dir_all(dir)?;
        for n in remove_leftovers(dest) {
            eprintln!("note: removed {n}, left in {} by an interrupted run", dir.display());
        }
        let staging = builder(&format!(".{}.part-", name_of(dest)), true).tempdir_in(dir)?;
        Ok(StagedDir { dest: dest.to_path_buf(), staging })
    }

    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Swaps the filled folder in for `dest`. Until the second rename `dest` is absent (never
    /// half old, half new); the old folder is removed afterwards.
    pub fn commit(self) -> std::io::Result<()> {
        let staged = self.staging.keep();
        if self.dest.exists() {
            let old = parent_of(&self.dest).join(format!(".{}.old-{}", name_of(&self.dest), std::process::id()));
            std::fs::rename(&self.dest, &old)?;
            std::fs::rename(&staged, &self.dest)?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&staged, &self.dest)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_replaced_whole_and_leftovers_are_cleared() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("model");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old.txt"), "old").unwrap();
        // What a killed run leaves: a half-filled staging folder.
        std::fs::create_dir_all(d.path().join(".model.part-abc")).unwrap();
        let staged = StagedDir::new(&dest).unwrap();
        assert!(!d.path().join(".model.part-abc").exists());
        std::fs::write(staged.path().join("new.txt"), "new").unwrap();
        assert!(dest.join("old.txt").exists(), "the old folder stays until the commit");
        staged.commit().unwrap();
        assert!(dest.join("new.txt").exists() && !dest.join("old.txt").exists());
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["model"]);
    }

    #[test]
    fn files_are_written_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn what_is_written_is_readable_by_others_as_a_plain_create_would_be() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let umask = {
            let probe = d.path().join("probe");
            std::fs::write(&probe, b"").unwrap();
            0o666 & !std::fs::metadata(&probe).unwrap().permissions().mode()
        };
        let p = d.path().join("schema.toml");
        write_file(&p, b"x").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o666 & !umask);
        let dest = d.path().join("model");
        let staged = StagedDir::new(&dest).unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o777 & !umask);
    }
}
