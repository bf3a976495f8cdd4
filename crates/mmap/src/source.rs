use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use memmap2::{Advice, Mmap, MmapMut, MmapOptions, UncheckedAdvice};

use crate::decompress::{Compression, Counting, Inflated, Stream, decoder, fill, inflate, peek, read_all, read_error};
use crate::error::Error;
use crate::options::{Access, OpenOptions, Policy};
use crate::sigbus::{Registration, register};

/// The bytes of one input: a file or standard input, mapped or read.
///
/// See the [crate documentation](crate) for the safety contract that every
/// mapped `Source` relies on: the file must not be modified or truncated by
/// anyone while the `Source` is alive. [`Source::check_unchanged`] detects
/// (after the fact) a change of size or modification time.
///
/// A `Source` is `Sync`: many threads can read [`Source::bytes`] at once.
#[derive(Debug)]
pub struct Source {
    name: String,
    path: Option<PathBuf>,
    data: Data,
    access: Access,
    /// The open file, kept to re-check its metadata (`fstat`) and identity.
    file: Option<File>,
    stamp: Option<Stamp>,
    /// The input was compressed and `data` holds it decompressed.
    compression: Option<Compression>,
    /// This map's entry in the SIGBUS handler's registry.
    registration: Option<Registration>,
}

#[derive(Debug)]
enum Data {
    Mapped(Mmap),
    MappedMut(MmapMut),
    Owned(Vec<u8>),
    /// A compressed regular file, decoded on demand by [`Source::stream`]
    /// from byte `start` of the file; no bytes are held.
    Streamed {
        start: u64,
    },
    /// A pipe, stdin or other input that is not a regular file, read (and
    /// decoded, if compressed) once, on demand, by [`Source::stream`].
    Piped(Mutex<Pipe>),
}

/// What is left of a piped input.
struct Pipe {
    /// (Decoded) bytes read ahead by [`Source::head`], handed out first.
    head: Vec<u8>,
    /// The rest: the pipe, or a decoder over it; `None` once streamed.
    rest: Option<Box<dyn Read + Send>>,
    /// Raw bytes read from the pipe so far.
    consumed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("head", &self.head.len())
            .field("streamed", &self.rest.is_none())
            .field("consumed", &self.consumed.load(Ordering::Relaxed))
            .finish()
    }
}

/// The metadata pagemill compares to notice an input that changed under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp { len: meta.len(), modified: meta.modified().ok() }
    }
}

/// Identity of a file on disk (device and inode on Unix), used to refuse
/// writing output onto an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path`, if it exists and the platform has
    /// one.
    pub fn of_path(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().and_then(|m| FileId::of_metadata(&m))
    }

    #[cfg(unix)]
    fn of_metadata(meta: &std::fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId { dev: meta.dev(), ino: meta.ino() })
    }

    #[cfg(not(unix))]
    fn of_metadata(_meta: &std::fs::Metadata) -> Option<FileId> {
        None
    }
}

/// Whether `meta` is a FIFO (a pipe). Not a socket: one socket is often
/// both stdin and stdout (inetd, socat), and writing to it never feeds its
/// own read side.
fn fifo(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        meta.file_type().is_fifo()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// The mapping granularity assumed when rounding ranges inward for
/// [`Source::release`]. Rounding to a multiple of 4 KiB is correct on systems
/// with larger pages too: memmap2 aligns the start down to the real page size,
/// and at worst a neighbouring page is re-faulted.
const PAGE: usize = 4096;

impl Source {
    /// Wrap bytes already in memory. Useful for tests and for library users
    /// whose data is not in a file.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Source {
        Source {
            name: name.into(),
            path: None,
            data: Data::Owned(bytes),
            access: Access::CopyOnWrite,
            file: None,
            stamp: None,
            compression: None,
            registration: None,
        }
    }

    /// A read-only source over a [`SharedRegion`](crate::SharedRegion),
    /// which it owns from now on: its bytes are the region's pages, not a
    /// copy (for example to decode an Arrow IPC file another process wrote
    /// there in place). The region's contract holds for as long as the
    /// source lives: no process writes to or shrinks the region.
    #[cfg(unix)]
    pub fn from_shared(name: impl Into<String>, region: crate::SharedRegion) -> Source {
        use crate::shared::RegionMap;
        let (_, map) = region.into_parts();
        let data = match map {
            RegionMap::Empty { .. } => Data::Owned(Vec::new()),
            RegionMap::ReadOnly(m) => Data::Mapped(m),
            RegionMap::ReadWrite(m) => Data::MappedMut(m),
        };
        Source {
            name: name.into(),
            path: None,
            data,
            access: Access::ReadOnly,
            file: None,
            stamp: None,
            compression: None,
            registration: None,
        }
    }

    pub(crate) fn open(opts: &OpenOptions, path: &Path) -> Result<Source, Error> {
        let name = path.display().to_string();
        let open_err = |source| Error::Open { path: path.to_path_buf(), source };
        let file = match opts.access {
            Access::ReadWrite => std::fs::OpenOptions::new().read(true).write(true).open(path),
            Access::ReadOnly | Access::CopyOnWrite => File::open(path),
        }
        .map_err(|e| {
            // Opening a directory for writing fails with EISDIR; report it as
            // the directory it is.
            if path.is_dir() { Error::IsDirectory { path: path.to_path_buf() } } else { open_err(e) }
        })?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(Error::IsDirectory { path: path.to_path_buf() });
        }
        Source::from_file(opts, name, Some(path.to_path_buf()), file, &meta, 0)
    }

    pub(crate) fn stdin(opts: &OpenOptions) -> Result<Source, Error> {
        let name = "<stdin>".to_string();
        if opts.access == Access::ReadWrite {
            return Err(Error::Unsupported { name, what: "a read-write map of stdin" });
        }
        // A regular file on stdin read as a stream (`--mmap never`) is
        // still that file: output must not be written onto it.
        #[allow(unused_mut)]
        let mut regular: Option<File> = None;
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            // A duplicate of fd 0: if stdin is a regular file it can be mapped
            // like any other file. Dropping it closes only the duplicate.
            if let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() {
                let mut file = File::from(fd);
                if let Ok(meta) = file.metadata() {
                    if meta.is_file() {
                        if opts.mmap.policy() != Policy::Never {
                            let start = file.stream_position().unwrap_or(0);
                            return Source::from_file(opts, name, None, file, &meta, start);
                        }
                        regular = Some(file);
                    } else if fifo(&meta) {
                        // Kept for its identity only: `-o` naming this
                        // pipe (or `/dev/stdin`) would write into the input.
                        regular = Some(file);
                    }
                }
            }
        }
        if opts.stream {
            let mut source = Source::piped(opts, name, Box::new(io::stdin()))?;
            source.file = regular;
            return Ok(source);
        }
        let bytes =
            read_all(&mut io::stdin().lock(), 0).map_err(|source| Error::Read { name: name.clone(), source })?;
        let (data, compression) = inflate_owned(opts, &name, bytes)?;
        Ok(Source {
            name,
            path: None,
            data,
            access: opts.access,
            file: regular,
            stamp: None,
            compression,
            registration: None,
        })
    }

    /// Map or read an open regular (or special) file from byte `start` on.
    fn from_file(
        opts: &OpenOptions,
        name: String,
        path: Option<PathBuf>,
        mut file: File,
        meta: &std::fs::Metadata,
        start: u64,
    ) -> Result<Source, Error> {
        let stamp = Stamp::of(meta);
        let len = meta.len().saturating_sub(start);
        if opts.decompress
            && opts.access == Access::ReadOnly
            && meta.is_file()
            && len >= 2
            && let Some(kind) = peek(&file, start, len).and_then(|head| Compression::detect(&head))
        {
            if opts.stream && cfg!(unix) {
                log::debug!("{name}: {} input, streamed", kind.name());
                return Ok(Source {
                    name,
                    path,
                    data: Data::Streamed { start },
                    access: opts.access,
                    file: Some(file),
                    stamp: Some(stamp),
                    compression: Some(kind),
                    registration: None,
                });
            }
            file.seek(io::SeekFrom::Start(start)).map_err(|source| Error::Read { name: name.clone(), source })?;
            let data = inflate(kind, &file, &name).map_err(|source| Error::Decompress {
                name: name.clone(),
                format: kind.name(),
                source,
            })?;
            log::debug!("{name}: {} input, {} bytes decompressed", kind.name(), data.as_ref().len());
            let source = Source {
                name,
                path,
                data: Data::from(data),
                access: opts.access,
                file: Some(file),
                stamp: Some(stamp),
                compression: Some(kind),
                registration: None,
            };
            if opts.sequential {
                source.advise_sequential();
            }
            return Ok(source);
        }
        let mappable = meta.is_file() && len > 0;
        let want_map = match opts.mmap.policy() {
            Policy::Never => false,
            Policy::Always => mappable,
            Policy::Auto => mappable && len >= opts.min_map_len,
        } || (opts.access == Access::ReadWrite && mappable);

        if opts.access == Access::ReadWrite && !meta.is_file() {
            return Err(Error::Unsupported { name, what: "a read-write map of a file that is not regular" });
        }

        if want_map {
            match map(&file, opts.access, start, len) {
                Ok(data) => {
                    let mut source = Source {
                        name,
                        path,
                        data,
                        access: opts.access,
                        file: Some(file),
                        stamp: Some(stamp),
                        compression: None,
                        registration: None,
                    };
                    let writable = opts.access == Access::ReadWrite;
                    source.registration = Some(register(&source.name, source.bytes(), start, writable));
                    if opts.sequential {
                        source.advise_sequential();
                    }
                    log::debug!(
                        "{}: memory-mapped ({len} bytes, {:?}, policy {})",
                        source.name,
                        opts.access,
                        opts.mmap
                    );
                    return Ok(source);
                }
                Err(e) if opts.access == Access::ReadWrite => return Err(Error::Map { name, source: e }),
                Err(e) => log::debug!("{name}: memory map failed ({e}); reading instead"),
            }
        } else if opts.access == Access::ReadWrite {
            // An empty regular file: nothing to map, nothing to write.
            return Ok(Source {
                name,
                path,
                data: Data::Owned(Vec::new()),
                access: opts.access,
                file: Some(file),
                stamp: Some(stamp),
                compression: None,
                registration: None,
            });
        } else {
            log::debug!("{name}: reading into memory ({len} bytes, policy {})", opts.mmap);
        }

        if opts.stream && !meta.is_file() && opts.access == Access::ReadOnly {
            // A FIFO, a character device, a /proc file: read as it comes.
            // A duplicate kept for its identity (see `file_id`).
            let same = file.try_clone().ok();
            let mut source = Source::piped(opts, name, Box::new(file))?;
            source.file = same;
            return Ok(source);
        }
        if start > 0 {
            file.seek(io::SeekFrom::Start(start)).map_err(|source| Error::Read { name: name.clone(), source })?;
        }
        // The size is a hint (a /proc file says 0; a file may grow).
        let hint = usize::try_from(len).unwrap_or(usize::MAX).min(1 << 40);
        let bytes = read_all(&mut file, hint).map_err(|source| Error::Read { name: name.clone(), source })?;
        let is_file = meta.is_file();
        let (data, compression) = inflate_owned(opts, &name, bytes)?;
        Ok(Source {
            name,
            path,
            data,
            compression,
            registration: None,
            access: opts.access,
            // Only regular files have a size and mtime worth re-checking.
            stamp: if is_file && meta.len() > 0 { Some(stamp) } else { None },
            file: Some(file),
        })
    }

    /// A streamed source over `reader`, a pipe or stdin: its first bytes are
    /// read now to recognise a compressed stream.
    pub(crate) fn piped(opts: &OpenOptions, name: String, reader: Box<dyn Read + Send>) -> Result<Source, Error> {
        let consumed = Arc::new(AtomicU64::new(0));
        let mut raw = Counting { inner: reader, consumed: consumed.clone() };
        let mut magic = Vec::new();
        fill(&mut raw, &mut magic, 4).map_err(|e| read_error(&name, None, e))?;
        let compression = Compression::detect(&magic).filter(|_| opts.decompress);
        let (head, rest): (Vec<u8>, Box<dyn Read + Send>) = match compression {
            Some(kind) => {
                let input = io::Cursor::new(magic).chain(raw);
                let decoded = decoder(kind, input, &name).map_err(|e| read_error(&name, compression, e))?;
                (Vec::new(), decoded)
            }
            None => (magic, Box::new(raw)),
        };
        log::debug!("{name}: streamed{}", compression.map_or(String::new(), |k| format!(" ({} input)", k.name())));
        Ok(Source {
            name,
            path: None,
            data: Data::Piped(Mutex::new(Pipe { head, rest: Some(rest), consumed })),
            access: opts.access,
            file: None,
            stamp: None,
            compression,
            registration: None,
        })
    }

    /// The compression the input was read through, if it was compressed
    /// ([`bytes`](Source::bytes) are then the decompressed data, unless the
    /// source [is streamed](Source::is_streamed)).
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Whether this is a compressed file, a pipe or stdin opened with
    /// [`OpenOptions::stream`](crate::OpenOptions::stream): its data is read
    /// through [`stream`](Source::stream), and [`bytes`](Source::bytes) is
    /// empty.
    pub fn is_streamed(&self) -> bool {
        matches!(self.data, Data::Streamed { .. } | Data::Piped(_))
    }

    /// A reader over a [streamed](Source::is_streamed) source, from its first
    /// (decompressed) byte: a new decoder of a compressed file each time; for
    /// a pipe or stdin, the one and only pass over it (a second call is
    /// [`Error::Unsupported`]). [`Error::Unsupported`] for other sources,
    /// whose bytes are all in [`bytes`](Source::bytes).
    pub fn stream(&self) -> Result<Stream<'_>, Error> {
        let unsupported = |what| Error::Unsupported { name: self.name.clone(), what };
        if let Data::Piped(pipe) = &self.data {
            let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
            let rest = pipe.rest.take().ok_or_else(|| unsupported("reading a pipe or stdin a second time"))?;
            let head = std::mem::take(&mut pipe.head);
            let reader: Box<dyn Read + Send> =
                if head.is_empty() { rest } else { Box::new(io::Cursor::new(head).chain(rest)) };
            return Ok(Stream::pipe(&self.name, self.compression, reader, pipe.consumed.clone()));
        }
        let (Data::Streamed { start }, Some(file), Some(kind)) = (&self.data, &self.file, self.compression) else {
            return Err(unsupported("streaming an input that was not opened to be streamed"));
        };
        #[cfg(unix)]
        {
            Stream::new(&self.name, kind, file, *start).map_err(|e| read_error(&self.name, Some(kind), e))
        }
        #[cfg(not(unix))]
        {
            let _ = (start, file, kind);
            Err(unsupported("streaming a compressed file on this platform"))
        }
    }

    /// The first `max` bytes of the input (fewer if it is shorter): a slice of
    /// [`bytes`](Source::bytes), or for a [streamed](Source::is_streamed)
    /// source the start of its decompressed data, decoded now. For looking
    /// at a header or detecting a format before a run.
    ///
    /// For a pipe or stdin the bytes read are kept and handed out again by
    /// [`stream`](Source::stream), so looking ahead loses nothing.
    pub fn head(&self, max: usize) -> Result<Cow<'_, [u8]>, Error> {
        if let Data::Piped(pipe) = &self.data {
            let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
            let Pipe { head, rest, .. } = &mut *pipe;
            if head.len() < max
                && let Some(reader) = rest
            {
                fill(reader, head, max).map_err(|e| read_error(&self.name, self.compression, e))?;
            }
            return Ok(Cow::Owned(head[..head.len().min(max)].to_vec()));
        }
        if !self.is_streamed() {
            let bytes = self.bytes();
            return Ok(Cow::Borrowed(&bytes[..bytes.len().min(max)]));
        }
        let mut head = Vec::new();
        self.stream()?.fill(&mut head, max)?;
        Ok(Cow::Owned(head))
    }

    /// The size on disk of a [streamed](Source::is_streamed) source (its
    /// compressed bytes): what its progress is measured against, since the
    /// decompressed size is not known before the end. `None` for other
    /// sources, whose size is [`len`](Source::len).
    pub fn compressed_len(&self) -> Option<u64> {
        match (&self.data, self.stamp) {
            (Data::Streamed { start }, Some(stamp)) => Some(stamp.len.saturating_sub(*start)),
            _ => None,
        }
    }

    /// The input's size in the bytes a run reads from it, what progress is
    /// measured in: [`len`](Source::len), or for a streamed compressed file
    /// its [`compressed_len`](Source::compressed_len); `None` for a streamed
    /// pipe or stdin, whose size is not known before it ends.
    pub fn stored_len(&self) -> Option<u64> {
        match &self.data {
            Data::Streamed { .. } => self.compressed_len(),
            Data::Piped(_) => None,
            _ => Some(self.len() as u64),
        }
    }

    /// For a [streamed](Source::is_streamed) pipe or stdin, the bytes read
    /// from it so far (before decompression; all of them after a run).
    /// `None` for other sources.
    pub fn received(&self) -> Option<u64> {
        match &self.data {
            Data::Piped(pipe) => Some(pipe.lock().unwrap_or_else(|e| e.into_inner()).consumed.load(Ordering::Relaxed)),
            _ => None,
        }
    }

    /// The input's name for messages: its path, or `<stdin>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path the source was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The access mode the source was opened with.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The identity of the underlying file, if it is one: a regular file,
    /// or a FIFO (named, or a pipe on stdin), whose bytes an output written
    /// to it would mix with or steal from the input.
    pub fn file_id(&self) -> Option<FileId> {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .filter(|m| m.is_file() || fifo(m))
            .and_then(|m| FileId::of_metadata(&m))
    }

    /// The input's bytes. Empty for a [streamed](Source::is_streamed)
    /// source, whose data comes through [`stream`](Source::stream).
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Mapped(m) => m,
            Data::MappedMut(m) => m,
            Data::Owned(v) => v,
            Data::Streamed { .. } | Data::Piped(_) => &[],
        }
    }

    /// The input's bytes, writable. Available for [`Access::ReadWrite`]
    /// (writes reach the file) and [`Access::CopyOnWrite`] (writes stay
    /// private); an error for read-only sources.
    pub fn bytes_mut(&mut self) -> Result<&mut [u8], Error> {
        match (&mut self.data, self.access) {
            (_, Access::ReadOnly) => {
                Err(Error::Unsupported { name: self.name.clone(), what: "writing a read-only source" })
            }
            (Data::MappedMut(m), _) => Ok(m),
            (Data::Owned(v), _) => Ok(v),
            (Data::Mapped(_) | Data::Streamed { .. } | Data::Piped(_), _) => {
                Err(Error::Unsupported { name: self.name.clone(), what: "writing a read-only map" })
            }
        }
    }

    /// The number of bytes ([`bytes`](Source::bytes)`.len()`; 0 for a
    /// [streamed](Source::is_streamed) source).
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the bytes come from a memory map (rather than a read).
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, Data::Mapped(_) | Data::MappedMut(_))
    }

    /// Advise the kernel that the whole input will be read front to back
    /// (`MADV_SEQUENTIAL`: aggressive read-ahead). A no-op for read sources.
    pub fn advise_sequential(&self) {
        let result = match &self.data {
            Data::Mapped(m) => m.advise(Advice::Sequential),
            Data::MappedMut(m) => m.advise(Advice::Sequential),
            Data::Owned(_) | Data::Streamed { .. } | Data::Piped(_) => Ok(()),
        };
        if let Err(e) = result {
            log::debug!("{}: madvise(SEQUENTIAL) failed: {e}", self.name);
        }
    }

    /// Advise the kernel that `range` will be read soon (`MADV_WILLNEED`:
    /// start reading it in now). A no-op for read sources and empty ranges.
    pub fn will_need(&self, range: Range<usize>) {
        let Some((off, len)) = clamp(range, self.len()) else { return };
        let result = match &self.data {
            Data::Mapped(m) => m.advise_range(Advice::WillNeed, off, len),
            Data::MappedMut(m) => m.advise_range(Advice::WillNeed, off, len),
            Data::Owned(_) | Data::Streamed { .. } | Data::Piped(_) => Ok(()),
        };
        if let Err(e) = result {
            log::debug!("{}: madvise(WILLNEED) failed: {e}", self.name);
        }
    }

    /// Make the pages of `range` resident and mapped now, because the caller
    /// is about to read all of it: one system call sets up the page tables
    /// of the whole range (`MADV_POPULATE_READ`, Linux 5.14 and later),
    /// reading from the disk what the page cache lacks, where touching the
    /// range would take a page fault every few pages. For read-only maps
    /// only: read-write and copy-on-write maps, other systems, and ranges
    /// the kernel refuses get [`will_need`](Source::will_need) instead. A
    /// no-op for read sources and empty ranges.
    ///
    /// The call returns when the range is populated, so it blocks on the
    /// disk for a cold range; scanning the range next would block on the
    /// same reads. It never raises `SIGBUS`: pages beyond the end of a file
    /// that shrank are an error here (logged at debug level), and the
    /// type-level contract above applies to the read that follows.
    pub fn populate(&self, range: Range<usize>) {
        #[cfg(target_os = "linux")]
        if let Data::Mapped(m) = &self.data
            && let Some((off, len)) = clamp(range.clone(), self.len())
        {
            match m.advise_range(Advice::PopulateRead, off, len) {
                Ok(()) => return,
                Err(e) => log::debug!("{}: madvise(POPULATE_READ) failed: {e}", self.name),
            }
        }
        self.will_need(range);
    }

    /// Give back the resident pages of `range`, which the caller has finished
    /// reading, so that a scan over an input larger than RAM keeps its
    /// resident set bounded (`MADV_DONTNEED`).
    ///
    /// Only whole pages inside `range` are released. The bytes stay readable:
    /// a later read faults them in again from the page cache or the disk.
    /// Only read-only maps release; for read-write and copy-on-write maps (whose
    /// private pages would be lost) and read sources this is a no-op.
    pub fn release(&self, range: Range<usize>) {
        let Data::Mapped(m) = &self.data else { return };
        let start = range.start.div_ceil(PAGE) * PAGE;
        let end = range.end.min(m.len()) / PAGE * PAGE;
        if end <= start {
            return;
        }
        // SAFETY: `m` is a read-only, shared map of a file (`Data::Mapped` is
        // only ever built by `map` with `Access::ReadOnly`). DONTNEED on a
        // shared file mapping drops page-table entries only: the next access
        // re-faults the same bytes from the page cache or the file, so no
        // reference into the map ever sees different data, provided the file
        // is not modified, which is the type-level contract of `Source`.
        let result = unsafe { m.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start) };
        if let Err(e) = result {
            log::debug!("{}: madvise(DONTNEED) failed: {e}", self.name);
        }
    }

    /// Write all changes of a read-write map to the file and wait for it
    /// (`msync(MS_SYNC)`). An error for other access modes, which have nothing
    /// to write back.
    pub fn flush(&self) -> Result<(), Error> {
        self.writable_map()?.flush().map_err(|source| Error::Flush { name: self.name.clone(), source })
    }

    /// Write the changes in `len` bytes from `offset` to the file and wait.
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<(), Error> {
        let map = self.writable_map()?;
        let Some((off, len)) = clamp(offset..offset.saturating_add(len), map.len()) else { return Ok(()) };
        map.flush_range(off, len).map_err(|source| Error::Flush { name: self.name.clone(), source })
    }

    /// Start writing all changes to the file without waiting
    /// (`msync(MS_ASYNC)`).
    pub fn flush_async(&self) -> Result<(), Error> {
        self.writable_map()?.flush_async().map_err(|source| Error::Flush { name: self.name.clone(), source })
    }

    /// Split the writable bytes into disjoint pieces, one per range, that can
    /// be edited on different threads at once and each written back to the
    /// file on its own ([`ChunkMut::flush`]) as soon as it is done, while the
    /// other pieces are still being edited.
    ///
    /// `ranges` must be in ascending order, must not overlap and must lie
    /// within the source (gaps are allowed); anything else is an
    /// [`Error::Unsupported`]. Needs a writable source, as
    /// [`bytes_mut`](Source::bytes_mut) does. Every piece borrows the source
    /// mutably, so it cannot be dropped, flushed as a whole or read through
    /// [`bytes`](Source::bytes) until the pieces are gone; call
    /// [`flush`](Source::flush) after them to be sure everything reached the
    /// file.
    pub fn split_mut(&mut self, ranges: &[Range<usize>]) -> Result<Vec<ChunkMut<'_>>, Error> {
        let shared = self.access == Access::ReadWrite && matches!(self.data, Data::MappedMut(_));
        let name = self.name.as_str();
        let mut rest: &mut [u8] = match (&mut self.data, self.access) {
            (_, Access::ReadOnly) | (Data::Mapped(_) | Data::Streamed { .. } | Data::Piped(_), _) => {
                return Err(Error::Unsupported { name: name.to_string(), what: "writing a read-only source" });
            }
            (Data::MappedMut(m), _) => m,
            (Data::Owned(v), _) => v,
        };
        let mut chunks = Vec::with_capacity(ranges.len());
        let mut at = 0usize;
        for range in ranges {
            if range.start < at || range.end < range.start || range.end - at > rest.len() {
                return Err(Error::Unsupported {
                    name: name.to_string(),
                    what: "splitting into ranges that overlap, are out of order or run past the end",
                });
            }
            let (_gap, tail) = std::mem::take(&mut rest).split_at_mut(range.start - at);
            let (bytes, tail) = tail.split_at_mut(range.end - range.start);
            rest = tail;
            at = range.end;
            chunks.push(ChunkMut { name, offset: range.start, bytes, shared });
        }
        Ok(chunks)
    }

    fn writable_map(&self) -> Result<&MmapMut, Error> {
        match (&self.data, self.access) {
            (Data::MappedMut(m), Access::ReadWrite) => Ok(m),
            (Data::Owned(v), Access::ReadWrite) if v.is_empty() => {
                Err(Error::Unsupported { name: self.name.clone(), what: "flushing an empty file" })
            }
            _ => Err(Error::Unsupported {
                name: self.name.clone(),
                what: "flushing a source that is not a read-write map",
            }),
        }
    }

    /// Check that the file's size and modification time are what they were
    /// when it was opened. Call it after a run: a changed input means the
    /// results (and, for a mapped input, possibly the bytes seen) cannot be
    /// trusted. Sources that are not regular files always pass.
    pub fn check_unchanged(&self) -> Result<(), Error> {
        let (Some(file), Some(before)) = (&self.file, self.stamp) else { return Ok(()) };
        let now = match file.metadata() {
            Ok(meta) => Stamp::of(&meta),
            Err(e) => return Err(Error::Changed { name: self.name.clone(), detail: format!("cannot stat: {e}") }),
        };
        // A read-write map changes its own file: only its length is checked.
        let own_writes = self.access == Access::ReadWrite;
        if now.len != before.len {
            Err(Error::Changed {
                name: self.name.clone(),
                detail: format!("size was {} bytes, now {}", before.len, now.len),
            })
        } else if now.modified != before.modified && !own_writes {
            Err(Error::Changed { name: self.name.clone(), detail: "modification time moved".to_string() })
        } else {
            Ok(())
        }
    }
}

/// One writable piece of a [`Source`], from [`Source::split_mut`]: a disjoint
/// `&mut [u8]` that knows where it lies in the source and can write its own
/// pages back to the file.
#[derive(Debug)]
pub struct ChunkMut<'a> {
    name: &'a str,
    offset: usize,
    bytes: &'a mut [u8],
    /// The bytes are a shared read-write map of a file: writes reach it.
    shared: bool,
}

impl ChunkMut<'_> {
    /// Where the piece starts in the source.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The piece's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// The piece's bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }

    /// Write the changes in this piece to the file and wait for them
    /// (`msync(MS_SYNC)` over the pages the piece touches; pages shared with
    /// a neighbouring piece are written too, which is harmless: a later write
    /// to them just dirties them again). An error for pieces of a source that
    /// is not a read-write map, which have nothing to write back, and on
    /// platforms other than Unix.
    pub fn flush(&self) -> Result<(), Error> {
        if !self.shared {
            return Err(Error::Unsupported {
                name: self.name.to_string(),
                what: "flushing a source that is not a read-write map",
            });
        }
        msync(self.bytes).map_err(|source| Error::Flush { name: self.name.to_string(), source })
    }
}

/// `msync(MS_SYNC)` over the pages that hold `bytes`, which lie in a shared
/// writable map.
#[cfg(unix)]
fn msync(bytes: &[u8]) -> io::Result<()> {
    use std::sync::OnceLock;
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    if bytes.is_empty() {
        return Ok(());
    }
    let page = *PAGE_SIZE.get_or_init(|| {
        // SAFETY: sysconf only reads a system constant; it has no
        // preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(PAGE)
    });
    let addr = bytes.as_ptr() as usize;
    let start = addr - addr % page;
    let len = bytes.len() + (addr - start);
    // SAFETY: msync reads and writes no memory of this process; it asks the
    // kernel to write back pages of a mapping. Its promise to us is only that
    // the range lies inside a mapping: `bytes` lies in a live shared map (the
    // `ChunkMut` borrows the `Source` that owns it, checked by `shared`), and
    // the map starts on a page boundary (mmap places maps on page boundaries,
    // and read-write maps always start at file offset 0), so rounding the
    // start down to a page stays inside it.
    let rc = unsafe { libc::msync(start as *mut libc::c_void, len, libc::MS_SYNC) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(not(unix))]
fn msync(_bytes: &[u8]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "flushing part of a map is only implemented on Unix"))
}

/// The input's bytes, as [`Source::bytes`]: lets a `Source` own a zero-copy
/// buffer (`bytes::Bytes::from_owner`, and from it an Arrow buffer) that keeps
/// the mapping alive for as long as any slice of it is in use.
impl AsRef<[u8]> for Source {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// Map `len` bytes of `file` from `start` with the given access.
fn map(file: &File, access: Access, start: u64, len: u64) -> io::Result<Data> {
    let len = usize::try_from(len).map_err(|_| io::Error::other("file larger than the address space"))?;
    let mut opts = MmapOptions::new();
    opts.offset(start).len(len);
    match access {
        // SAFETY: the caller holds the file open and relies on the type-level
        // contract of `Source`: nobody modifies or truncates it while mapped.
        Access::ReadOnly => unsafe { opts.map(file) }.map(Data::Mapped),
        // SAFETY: as above; in addition the map is shared and writable, and the
        // only writes come through `Source::bytes_mut`, which borrows mutably.
        Access::ReadWrite => unsafe { opts.map_mut(file) }.map(Data::MappedMut),
        // SAFETY: as above; a private map's writes never reach the file.
        Access::CopyOnWrite => unsafe { opts.map_copy(file) }.map(Data::MappedMut),
    }
}

/// Clip `range` to `len`; `None` when nothing is left.
fn clamp(range: Range<usize>, len: usize) -> Option<(usize, usize)> {
    let start = range.start.min(len);
    let end = range.end.min(len);
    (end > start).then_some((start, end - start))
}

impl From<Inflated> for Data {
    fn from(data: Inflated) -> Data {
        match data {
            Inflated::Mapped(map) => Data::Mapped(map),
            Inflated::Owned(bytes) => Data::Owned(bytes),
        }
    }
}

/// Bytes read from a pipe, stdin or a small file: decompressed if they are
/// compressed and the options ask for it.
fn inflate_owned(opts: &OpenOptions, name: &str, bytes: Vec<u8>) -> Result<(Data, Option<Compression>), Error> {
    match Compression::detect(&bytes) {
        Some(kind) if opts.decompress && opts.access == Access::ReadOnly => {
            let data = inflate(kind, &bytes[..], name).map_err(|source| Error::Decompress {
                name: name.to_string(),
                format: kind.name(),
                source,
            })?;
            Ok((Data::from(data), Some(kind)))
        }
        _ => Ok((Data::Owned(bytes), None)),
    }
}
