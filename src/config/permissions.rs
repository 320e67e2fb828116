//! Who may change what gwsync trusts: its configuration file (the repository it follows,
//! the AWS endpoint) and its state directory (the history `rollback` restores, the clone).
//! Either being world-writable hands the load balancer to every local user, so the daemon
//! refuses to start on one (as sshd's `StrictModes` does) and other commands warn.
//! Directories gwsync makes itself are created 0700 ([`create_private_dir`]).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A path anyone on the host may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldWritable {
    pub path: PathBuf,
    pub mode: u32,
}

impl std::fmt::Display for WorldWritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is world-writable (mode {:04o}): any local user could point gwsync elsewhere; run `chmod o-w {}`",
            self.path.display(),
            self.mode & 0o7777,
            self.path.display()
        )
    }
}

/// The configuration file and the state directory, if they exist and anyone may write
/// them. A sticky world-writable directory (like /tmp) is still refused: others cannot
/// delete gwsync's files there, but they can plant their own before gwsync makes them.
pub fn world_writable(config_file: Option<&Path>, state_dir: &Path) -> Vec<WorldWritable> {
    config_file
        .into_iter()
        .chain(std::iter::once(state_dir))
        .filter_map(|path| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            (mode & 0o002 != 0).then(|| WorldWritable {
                path: path.to_path_buf(),
                mode,
            })
        })
        .collect()
}

/// The owner of `path`, or of its nearest existing ancestor when `path` does not exist yet
/// (what a command would create there becomes this user's), when that is another user than
/// this process's: the
/// state directory of the daemon's user, read by root. Files root leaves there (a clone's
/// objects, the database's `-wal` file) would lock the daemon out, so commands refuse it.
pub fn foreign_owner(path: &Path) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let existing = path
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())?;
    // This process's user: the owner of its own /proc entry (Linux), no unsafe call needed.
    let there = std::fs::metadata(existing).ok()?.uid();
    let me = std::fs::metadata("/proc/self").ok()?.uid();
    (there != me).then(|| (existing.to_path_buf(), there))
}

/// Creates `dir` and any missing parents with mode 0700 (before the umask), so that what
/// gwsync keeps there is readable by its own user only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_writable_paths_are_named_and_private_dirs_are_private() {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state/nested");
        create_private_dir(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&root.path().join("state")), 0o700);
        let config = root.path().join("gwsync.toml");
        std::fs::write(&config, "").unwrap();
        assert!(world_writable(Some(&config), &state).is_empty());
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let found = world_writable(Some(&config), &state);
        assert_eq!(found.len(), 2);
        assert!(found[0].to_string().contains("mode 0666"), "{}", found[0]);
        assert!(found[1].to_string().contains("chmod o-w"), "{}", found[1]);
    }
}
