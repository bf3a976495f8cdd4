use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pagemill_mmap::{FileId, Source};

use crate::error::Error;

/// The temporary files of the `AtomicFile`s of this process that are neither
/// committed nor dropped, for [`AtomicFile::remove_temporaries`].
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    // The list stays consistent even if a holder panicked: every change is a
    // single push or remove.
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An output file that appears whole or not at all.
///
/// Bytes go to a temporary file in the target's folder (so the final rename
/// stays on one file system); [`commit`](AtomicFile::commit) flushes, syncs
/// and renames it over the target. Dropping an `AtomicFile` without
/// committing (an error, a panic unwinding) removes the temporary file, and
/// a process interrupted by a signal removes them all with
/// [`AtomicFile::remove_temporaries`] (the `pagemill` binary does so on
/// SIGINT, SIGTERM and SIGHUP). Creating one whose target is one of the inputs
/// is refused.
///
/// A target that is a symbolic link is written through: the file it points
/// to is replaced, the link stays. A target that exists and is no regular
/// file (a FIFO, a character device such as `/dev/null` or a terminal, a
/// socket) is written in place, since nothing can be renamed over it; such
/// a target gets the bytes as they come, not whole or not at all.
#[derive(Debug)]
pub struct AtomicFile {
    /// The path as given, for messages.
    target: PathBuf,
    /// Where the temporary file is renamed to: the target with its symbolic
    /// links followed. `None` when writing in place.
    dest: Option<PathBuf>,
    temp: Option<PathBuf>,
    writer: Option<BufWriter<File>>,
    /// The SIGBUS handler (`pagemill_mmap::sigbus`) removes the temporary
    /// file too: a mapped input truncated under a run that is writing its
    /// output leaves nothing behind either.
    _sigbus: Option<pagemill_mmap::sigbus::RemoveOnSigbus>,
}

/// `path` with the symbolic links it names followed, as far as they lead
/// (a dangling link: the path it points to, which the rename creates).
fn follow_links(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&p) {
                Ok(link) => {
                    p = match p.parent() {
                        Some(dir) if link.is_relative() => dir.join(link),
                        _ => link,
                    }
                }
                Err(_) => break,
            },
            _ => break,
        }
    }
    p
}

/// The file descriptor `path` names, if it is one of the process's own
/// (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`), through any links.
fn fd_alias(path: &Path) -> Option<u32> {
    let own = format!("/proc/{}/fd/", std::process::id());
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let text = p.to_str()?;
        let named = match text {
            "/dev/stdin" => Some(0),
            "/dev/stdout" => Some(1),
            "/dev/stderr" => Some(2),
            _ => ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", own.as_str()]
                .iter()
                .find_map(|prefix| text.strip_prefix(prefix))
                .and_then(|n| n.parse().ok()),
        };
        if named.is_some() {
            return named;
        }
        let link = std::fs::read_link(&p).ok()?;
        p = match p.parent() {
            Some(dir) if link.is_relative() => dir.join(link),
            _ => link,
        };
    }
    None
}

/// A handle of its own on standard output or error (`fd` 1 or 2), sharing
/// the descriptor's offset and flags; `None` for other descriptors.
fn std_handle(fd: u32) -> Option<std::io::Result<File>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let owned = match fd {
            1 => std::io::stdout().as_fd().try_clone_to_owned(),
            2 => std::io::stderr().as_fd().try_clone_to_owned(),
            _ => return None,
        };
        Some(owned.map(File::from))
    }
    #[cfg(not(unix))]
    {
        let _ = fd;
        None
    }
}

/// The directory `path` lies in (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Output to `target` written straight into `file`, in place (a
    /// device, a FIFO, standard output): not atomic.
    fn in_place(target: PathBuf, file: File) -> AtomicFile {
        AtomicFile {
            target,
            dest: None,
            temp: None,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            _sigbus: None,
        }
    }

    /// The file a write to `target` replaces: its symbolic links followed
    /// and its directory resolved (`None` where the directory does not
    /// exist). Two targets with the same landing path are one file.
    pub fn landing_path(target: &Path) -> Option<PathBuf> {
        let dest = follow_links(target);
        Some(dir_of(&dest).canonicalize().ok()?.join(dest.file_name()?))
    }

    /// Start writing `target`, refusing if it is the same file as any of
    /// `inputs`.
    pub fn create(target: impl AsRef<Path>, inputs: &[Source]) -> Result<AtomicFile, Error> {
        let target = target.as_ref().to_path_buf();
        if let Some(id) = FileId::of_path(&target)
            && inputs.iter().any(|s| s.file_id() == Some(id))
        {
            return Err(Error::OutputIsInput { path: target });
        }
        let io_err = |source| Error::Output { path: target.clone(), source };
        let meta = std::fs::metadata(&target).ok();
        if let Some(fd) = fd_alias(&target)
            && meta.as_ref().is_some_and(std::fs::Metadata::is_file)
        {
            // `/dev/stdout` on a shell's `> file` or `>> file`: renaming a
            // new file over that one would drop what the shell wrote
            // before and send what it writes after to an unlinked file.
            // Written through the descriptor itself, at its offset.
            let file = std_handle(fd)
                .ok_or_else(|| {
                    io_err(std::io::Error::other(format!(
                        "file descriptor {fd} is open on a regular file, which pagemill cannot replace whole; name the file itself"
                    )))
                })?
                .map_err(io_err)?;
            return Ok(AtomicFile::in_place(target, file));
        }
        if let Some(meta) = &meta
            && !meta.is_file()
            && !meta.is_dir()
        {
            // A FIFO, device or socket: opened through any links, written
            // in place.
            let file = std::fs::OpenOptions::new().write(true).open(&target).map_err(io_err)?;
            return Ok(AtomicFile::in_place(target, file));
        }
        let dest = follow_links(&target);
        let dir = dir_of(&dest).to_path_buf();
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{name}.pagemill-{}-{attempt}.tmp", std::process::id()));
            // Created and listed under the lock: a file created just before
            // an interruption's `remove_temporaries` would not be listed yet,
            // and one created after it waits for the process to end.
            let mut pending = pending();
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    // A file replaced keeps its permissions: a private
                    // result stays private, from the first byte written.
                    if let Ok(meta) = std::fs::metadata(&dest)
                        && meta.is_file()
                        && let Err(e) = file.set_permissions(meta.permissions())
                    {
                        let _ = std::fs::remove_file(&temp);
                        return Err(io_err(e));
                    }
                    pending.push(temp.clone());
                    drop(pending);
                    // Absolute, in case the handler runs after a chdir.
                    let _sigbus = pagemill_mmap::sigbus::remove_on_sigbus(
                        &std::env::current_dir().map_or_else(|_| temp.clone(), |cwd| cwd.join(&temp)),
                    );
                    return Ok(AtomicFile {
                        target,
                        dest: Some(dest),
                        temp: Some(temp),
                        writer: Some(BufWriter::with_capacity(1 << 16, file)),
                        _sigbus: Some(_sigbus),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
                Err(e) => return Err(io_err(e)),
            }
        }
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary path being written (`None` for a target written in
    /// place: a FIFO or a device).
    pub fn temp_path(&self) -> Option<&Path> {
        self.temp.as_deref()
    }

    /// Flush, sync to disk and rename onto the target (with its links
    /// followed); a target written in place is only flushed.
    pub fn commit(mut self) -> Result<(), Error> {
        let writer = self.writer.take().expect("writer present until commit");
        let (Some(temp), Some(dest)) = (&self.temp, &self.dest) else {
            let flushed = writer.into_inner().map_err(io::IntoInnerError::into_error).map(drop);
            return flushed.map_err(|source| Error::Output { path: self.target.clone(), source });
        };
        let synced = writer.into_inner().map_err(io::IntoInnerError::into_error).and_then(|file| file.sync_all());
        let result = synced.and_then(|()| {
            // Renamed under the lock, so that an interruption either sees the
            // file committed or removes its temporary file before the rename.
            let mut pending = pending();
            let renamed = std::fs::rename(temp, dest);
            pending.retain(|p| p != temp);
            renamed
        });
        if result.is_err() {
            let _ = std::fs::remove_file(temp);
        }
        result.map_err(|source| Error::Output { path: self.target.clone(), source })
    }

    /// Remove the temporary file of every `AtomicFile` of this process that
    /// is neither committed nor dropped: what a signal handler calls before
    /// the process exits, so that an interrupted run leaves nothing behind.
    ///
    /// Until the returned guard is dropped, no `AtomicFile` can be created,
    /// committed or dropped (they wait for it); hold it until the process
    /// exits, so that no file is committed after its temporary was removed.
    pub fn remove_temporaries() -> Temporaries {
        let mut guard = pending();
        for temp in guard.drain(..) {
            let _ = std::fs::remove_file(&temp);
        }
        Temporaries { _guard: guard }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("writer present until commit").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("writer present until commit").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else { return };
        match &self.temp {
            Some(temp) => {
                drop(writer);
                let mut pending = pending();
                let _ = std::fs::remove_file(temp);
                pending.retain(|p| p != temp);
            }
            // Written in place (a device, a FIFO, standard output): what is
            // still buffered of an output that was not committed stays
            // unwritten (a plain drop would flush it).
            None => drop(writer.into_parts()),
        }
    }
}

/// Returned by [`AtomicFile::remove_temporaries`]: while it lives, atomic
/// files can be neither created nor committed.
#[derive(Debug)]
pub struct Temporaries {
    _guard: MutexGuard<'static, Vec<PathBuf>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pagemill-atomic-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn commit_renames_and_drop_removes() {
        let dir = temp_dir("commit");
        let target = dir.join("out.txt");
        let mut out = AtomicFile::create(&target, &[]).unwrap();
        out.write_all(b"hello").unwrap();
        assert!(!target.exists());
        let temp = out.temp_path().unwrap().to_path_buf();
        assert!(temp.exists());
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert!(!temp.exists());

        let mut out = AtomicFile::create(&target, &[]).unwrap();
        out.write_all(b"partial").unwrap();
        let temp = out.temp_path().unwrap().to_path_buf();
        drop(out);
        assert!(!temp.exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"hello", "an abandoned write leaves the old file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A link is written through (the link stays, its file is replaced,
    /// whole); a FIFO and a device are written in place, not replaced by a
    /// regular file (as root, `-o /dev/null` once replaced the device).
    #[cfg(unix)]
    #[test]
    fn landing_paths_follow_links_and_resolve_directories() {
        let dir = temp_dir("landing");
        let real = dir.join("real.csv");
        std::fs::write(&real, "x").unwrap();
        let link = dir.join("link.csv");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        let land = |p: &Path| AtomicFile::landing_path(p);
        assert!(land(&real).is_some());
        assert_eq!(land(&link), land(&real), "a link lands in its file");
        assert_eq!(land(&dir.join("sub/../new.csv")), None, "sub/ is not there yet");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        assert_eq!(land(&dir.join("sub/../new.csv")), land(&dir.join("new.csv")), "a file not there yet");
        assert_eq!(land(&dir.join("nowhere/x.csv")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let target = dir.join("private.csv");
        for mode in [0o600, 0o755, 0o640] {
            std::fs::write(&target, "old\n").unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut out = AtomicFile::create(&target, &[]).unwrap();
            let temp = out.temp_path().unwrap().to_path_buf();
            assert_eq!(std::fs::metadata(&temp).unwrap().permissions().mode() & 0o777, mode, "while written");
            out.write_all(b"new\n").unwrap();
            out.commit().unwrap();
            assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, mode);
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_are_written_through_and_special_files_in_place() {
        let dir = temp_dir("special");
        let real = dir.join("real.txt");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        let mut out = AtomicFile::create(&link, &[]).unwrap();
        out.write_all(b"new").unwrap();
        out.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link: the file it names is created.
        let dangling = dir.join("dangling.txt");
        std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
        let mut out = AtomicFile::create(&dangling, &[]).unwrap();
        out.write_all(b"made").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(dir.join("made.txt")).unwrap(), b"made");
        assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());

        let fifo = dir.join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(&fifo).unwrap())
            };
            let mut out = AtomicFile::create(&fifo, &[]).unwrap();
            assert!(out.temp_path().is_none());
            out.write_all(b"through the pipe").unwrap();
            out.commit().unwrap();
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            assert!(!std::fs::metadata(&fifo).unwrap().is_file(), "the FIFO stays a FIFO");
            // An output abandoned (a failed run) sends nothing it buffered.
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(&fifo).unwrap())
            };
            let mut out = AtomicFile::create(&fifo, &[]).unwrap();
            out.write_all(b"half a result").unwrap();
            drop(out);
            assert_eq!(reader.join().unwrap(), b"");
        }
        // (Devices are left out: a regression would replace the machine's
        // /dev/null before the test could fail.)
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // `remove_temporaries` acts on the whole process, and so on every test
    // running beside it: it is tested through the `pagemill` binary, which
    // calls it on SIGINT and SIGTERM (crates/cli/tests).

    #[test]
    fn refuses_to_overwrite_an_input() {
        let dir = temp_dir("input");
        let path = dir.join("in.txt");
        std::fs::write(&path, b"data\n").unwrap();
        let source = pagemill_mmap::OpenOptions::new().open(&path).unwrap();
        let err = AtomicFile::create(&path, std::slice::from_ref(&source)).unwrap_err();
        assert!(matches!(err, Error::OutputIsInput { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
