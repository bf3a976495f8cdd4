//! Shared-memory regions: bytes several processes map at once.
//!
//! A [`SharedRegion`] is a memory file (a Linux `memfd`, or an unlinked file
//! in `/dev/shm` where `memfd_create` is missing) mapped `MAP_SHARED`: what
//! one process writes through [`SharedRegion::as_bytes_mut`] is what every
//! other process mapping the same file reads, with no copy and no disk.
//! pagemill's process workers hand their partial results back to the
//! coordinator this way: each worker writes an Arrow IPC file into a region
//! the coordinator created, and the coordinator maps it read-only and decodes
//! it in place ([`Source::from_shared`](crate::Source::from_shared)).
//!
//! A region is passed to another process as a file descriptor
//! ([`SharedRegion::try_clone_fd`], for example as the child's standard input
//! through `std::process::Stdio::from`), and opened there with
//! [`SharedRegion::open_fd`]; a region backed by a named file (for example in
//! `/dev/shm`) is opened with [`SharedRegion::open_path`].
//!
//! # Contract
//!
//! The views ([`as_bytes`](SharedRegion::as_bytes) and
//! [`as_bytes_mut`](SharedRegion::as_bytes_mut)) are plain slices, so the
//! same promise as for every mapped [`Source`](crate::Source) applies, across
//! processes this time: **while a view is in use, no other process writes to
//! the region or shrinks it.** A write would change bytes under a `&[u8]`; a
//! shrink makes touching the lost pages raise `SIGBUS`. The usual protocol is
//! a hand-over: one side writes and then exits (or otherwise signals that it
//! is done), and only then does the other side map and read. A region that
//! grows ([`SharedRegion::set_len`]) is remapped by the process that grows
//! it; others see the new length when they open it again.
//!
//! # Example
//!
//! ```
//! use pagemill_mmap::{Access, SharedRegion};
//!
//! # fn main() -> Result<(), pagemill_mmap::Error> {
//! let mut writer = SharedRegion::create("doc-example", 5)?;
//! writer.as_bytes_mut()?.copy_from_slice(b"hello");
//!
//! // Another mapping of the same memory file (in another process, this
//! // would be the descriptor it inherited).
//! let reader = SharedRegion::open_fd(writer.try_clone_fd()?, Access::ReadOnly)?;
//! assert_eq!(reader.as_bytes(), b"hello");
//! assert!(reader.is_read_only());
//!
//! // Grow it: the writer remaps, a new reader sees the new bytes.
//! writer.set_len(11)?;
//! writer.as_bytes_mut()?[5..].copy_from_slice(b" world");
//! let reader = SharedRegion::open_fd(writer.try_clone_fd()?, Access::ReadOnly)?;
//! assert_eq!(reader.as_bytes(), b"hello world");
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::error::Error;
use crate::options::Access;

/// A memory file mapped `MAP_SHARED`, read-only or read-write. See the
/// [module documentation](crate::shared) for the contract between the
/// processes that map it.
#[derive(Debug)]
pub struct SharedRegion {
    name: String,
    file: File,
    map: RegionMap,
}

#[derive(Debug)]
pub(crate) enum RegionMap {
    /// A region of length zero: nothing mapped.
    Empty {
        writable: bool,
    },
    ReadOnly(Mmap),
    ReadWrite(MmapMut),
}

impl SharedRegion {
    /// Create a new region of `len` zero bytes, mapped read-write.
    /// `name_hint` names it in `/proc/PID/fd` listings and in errors. The
    /// memory is anonymous: it is freed when the last descriptor and mapping
    /// of it go, whatever happens to the processes (nothing to clean up in
    /// `/dev/shm`, even after a crash).
    pub fn create(name_hint: &str, len: usize) -> Result<SharedRegion, Error> {
        let name = format!("shared region {name_hint}");
        let file =
            memory_file(name_hint).map_err(|source| Error::Shared { name: name.clone(), what: "create", source })?;
        file.set_len(len as u64).map_err(|source| Error::Shared { name: name.clone(), what: "size", source })?;
        let map = map_region(&file, true, len).map_err(|source| Error::Map { name: name.clone(), source })?;
        Ok(SharedRegion { name, file, map })
    }

    /// Map the whole memory file (or regular file) behind `fd`, as it is now:
    /// [`Access::ReadOnly`] or [`Access::ReadWrite`] (the descriptor must
    /// then be open for writing). A private [`Access::CopyOnWrite`] map is
    /// not shared, so it is refused.
    pub fn open_fd(fd: OwnedFd, access: Access) -> Result<SharedRegion, Error> {
        let name = "shared region (descriptor)".to_string();
        SharedRegion::open_file(name, File::from(fd), access)
    }

    /// Open and map a region backed by the file at `path` (for example one
    /// in `/dev/shm`), as in [`open_fd`](SharedRegion::open_fd).
    pub fn open_path(path: impl AsRef<Path>, access: Access) -> Result<SharedRegion, Error> {
        let path = path.as_ref();
        let writable = writable(access, &path.display().to_string())?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
        SharedRegion::open_file(format!("shared region {}", path.display()), file, access)
    }

    fn open_file(name: String, file: File, access: Access) -> Result<SharedRegion, Error> {
        let writable = writable(access, &name)?;
        let meta = file.metadata().map_err(|source| Error::Shared { name: name.clone(), what: "inspect", source })?;
        if !meta.is_file() {
            return Err(Error::Unsupported { name, what: "a shared region on a file that is not regular" });
        }
        let len = usize::try_from(meta.len()).map_err(|_| Error::Map {
            name: name.clone(),
            source: io::Error::other("larger than the address space"),
        })?;
        let map = map_region(&file, writable, len).map_err(|source| Error::Map { name: name.clone(), source })?;
        Ok(SharedRegion { name, file, map })
    }

    /// Resize the memory file to `len` bytes (new bytes read as zeros) and
    /// remap it. Read-write regions only. Other processes must not be using
    /// a view of the region when it shrinks (see the module's contract).
    pub fn set_len(&mut self, len: usize) -> Result<(), Error> {
        if self.is_read_only() {
            return Err(Error::Unsupported { name: self.name.clone(), what: "resizing a read-only view" });
        }
        // Unmap first: the old map must not outlive a shrink.
        self.map = RegionMap::Empty { writable: true };
        self.file.set_len(len as u64).map_err(|source| Error::Shared {
            name: self.name.clone(),
            what: "resize",
            source,
        })?;
        self.map =
            map_region(&self.file, true, len).map_err(|source| Error::Map { name: self.name.clone(), source })?;
        Ok(())
    }

    /// The region's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.map {
            RegionMap::Empty { .. } => &[],
            RegionMap::ReadOnly(m) => m,
            RegionMap::ReadWrite(m) => m,
        }
    }

    /// The region's bytes, for writing: every process mapping the region sees
    /// the writes. Fails on a read-only view.
    pub fn as_bytes_mut(&mut self) -> Result<&mut [u8], Error> {
        match &mut self.map {
            RegionMap::Empty { writable: true } => Ok(&mut []),
            RegionMap::ReadWrite(m) => Ok(m),
            RegionMap::Empty { writable: false } | RegionMap::ReadOnly(_) => {
                Err(Error::Unsupported { name: self.name.clone(), what: "writing to a read-only view" })
            }
        }
    }

    /// The region's length in bytes, as mapped.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this view is read-only.
    pub fn is_read_only(&self) -> bool {
        matches!(self.map, RegionMap::ReadOnly(_) | RegionMap::Empty { writable: false })
    }

    /// The region's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The memory file's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// A new descriptor of the same memory file (close-on-exec, as Rust opens
    /// every descriptor), to hand to a child process, e.g. through
    /// `std::process::Stdio::from`, which installs it as one of the child's
    /// standard streams.
    pub fn try_clone_fd(&self) -> Result<OwnedFd, Error> {
        self.file.as_fd().try_clone_to_owned().map_err(|source| Error::Shared {
            name: self.name.clone(),
            what: "duplicate",
            source,
        })
    }

    pub(crate) fn into_parts(self) -> (String, RegionMap) {
        (self.name, self.map)
    }
}

fn writable(access: Access, name: &str) -> Result<bool, Error> {
    match access {
        Access::ReadOnly => Ok(false),
        Access::ReadWrite => Ok(true),
        Access::CopyOnWrite => {
            Err(Error::Unsupported { name: name.to_string(), what: "a private copy-on-write view of a shared region" })
        }
    }
}

fn map_region(file: &File, writable: bool, len: usize) -> io::Result<RegionMap> {
    if len == 0 {
        return Ok(RegionMap::Empty { writable });
    }
    let mut opts = MmapOptions::new();
    opts.len(len);
    if writable {
        // SAFETY: the module's contract: while this map is alive no other
        // process shrinks the memory file, and writes by others never overlap
        // a view in use here (hand-over protocol). Writes from this process
        // only go through `as_bytes_mut`, which borrows the region mutably.
        unsafe { opts.map_mut(file) }.map(RegionMap::ReadWrite)
    } else {
        // SAFETY: the module's contract: while this map is alive no other
        // process writes to or shrinks the memory file.
        unsafe { opts.map(file) }.map(RegionMap::ReadOnly)
    }
}

/// A new anonymous memory file: `memfd_create` on Linux, else an unlinked
/// file in `/dev/shm` (or the temporary folder where there is no `/dev/shm`).
fn memory_file(name_hint: &str) -> io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        use std::os::fd::FromRawFd;
        let hint: String = name_hint.chars().filter(|c| c.is_ascii_graphic()).take(200).collect();
        let cname = std::ffi::CString::new(format!("pagemill-{hint}")).map_err(io::Error::other)?;
        // SAFETY: `cname` is a valid NUL-terminated string that outlives the
        // call; `memfd_create` reads it and returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: `fd` was just returned by `memfd_create`: it is open and
            // owned by nobody else.
            return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        log::debug!("memfd_create failed ({}); using /dev/shm", io::Error::last_os_error());
    }
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = if Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let hint: String = name_hint.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
    let path = dir.join(format!("pagemill-{hint}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    // Anonymous from now on: nothing is left behind, whatever happens.
    std::fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_seen_by_another_mapping() {
        let mut a = SharedRegion::create("test", 4096).unwrap();
        assert_eq!(a.len(), 4096);
        assert!(a.as_bytes().iter().all(|&b| b == 0));
        let b = SharedRegion::open_fd(a.try_clone_fd().unwrap(), Access::ReadOnly).unwrap();
        a.as_bytes_mut().unwrap()[..3].copy_from_slice(b"abc");
        // Same pages: the read-only view sees the write at once.
        assert_eq!(&b.as_bytes()[..3], b"abc");
        assert_eq!(b.len(), 4096);
    }

    #[test]
    fn read_only_views_refuse_writes_and_resizes() {
        let a = SharedRegion::create("test", 10).unwrap();
        let mut b = SharedRegion::open_fd(a.try_clone_fd().unwrap(), Access::ReadOnly).unwrap();
        assert!(b.as_bytes_mut().is_err());
        assert!(b.set_len(20).is_err());
        assert!(SharedRegion::open_fd(a.try_clone_fd().unwrap(), Access::CopyOnWrite).is_err());
    }

    #[test]
    fn empty_regions_and_resizing() {
        let mut a = SharedRegion::create("empty", 0).unwrap();
        assert!(a.is_empty());
        assert_eq!(a.as_bytes_mut().unwrap().len(), 0);
        a.set_len(3).unwrap();
        a.as_bytes_mut().unwrap().copy_from_slice(b"xyz");
        a.set_len(2).unwrap();
        let b = SharedRegion::open_fd(a.try_clone_fd().unwrap(), Access::ReadWrite).unwrap();
        assert_eq!(b.as_bytes(), b"xy");
        assert!(!b.is_read_only());
    }

    #[test]
    fn a_child_process_writes_through_an_inherited_descriptor() {
        let region = SharedRegion::create("child", 0).unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "printf 'from the child' >&0"])
            .stdin(std::process::Stdio::from(region.try_clone_fd().unwrap()))
            .status()
            .unwrap();
        assert!(status.success());
        // The child grew the memory file; a new view sees its bytes.
        let view = SharedRegion::open_fd(region.try_clone_fd().unwrap(), Access::ReadOnly).unwrap();
        assert_eq!(view.as_bytes(), b"from the child");
    }

    #[test]
    fn open_path_maps_a_named_file() {
        let path = std::env::temp_dir().join(format!("pagemill-shared-test-{}", std::process::id()));
        std::fs::write(&path, b"named").unwrap();
        let mut w = SharedRegion::open_path(&path, Access::ReadWrite).unwrap();
        w.as_bytes_mut().unwrap()[0] = b'N';
        drop(w);
        let r = SharedRegion::open_path(&path, Access::ReadOnly).unwrap();
        assert_eq!(r.as_bytes(), b"Named");
        assert_eq!(std::fs::read(&path).unwrap(), b"Named");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(SharedRegion::open_path(&path, Access::ReadOnly), Err(Error::Open { .. })));
    }
}
