//! Transparent decompression of gzip and zstd inputs.
//!
//! A compressed input is recognised by its first bytes, not its name. By
//! default it is decompressed once, as a stream, into an unlinked temporary
//! file (in `$TMPDIR`) that is then memory-mapped like any other input:
//! memory stays bounded by the page cache, not by the decompressed size, but
//! the disk must hold the decompressed data. Where no temporary file can be
//! made the data is decompressed into memory instead.
//!
//! With [`OpenOptions::stream`](crate::OpenOptions::stream) a compressed
//! regular file is not decompressed on open at all: the source hands out
//! [`Stream`]s ([`Source::stream`](crate::Source::stream)), fresh decoders
//! that read the file with positional reads, so nothing is written to disk
//! and a job's memory is a few blocks per stream. Pipes and stdin are
//! streamed the same way, decoded or not, once.
//!
//! Byte offsets and line numbers in reports refer to the decompressed data.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

use memmap2::{Mmap, MmapOptions};

/// A compression format pagemill reads transparently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// gzip (RFC 1952), including several concatenated members, as `cat a.gz
    /// b.gz` and some rotation tools write.
    Gzip,
    /// Zstandard, including several concatenated frames.
    Zstd,
}

impl Compression {
    /// The format whose magic number `head` starts with, if any.
    pub fn detect(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            // A zstd frame, or a skippable frame (magic 0x184D2A5?), which
            // may come first: `pzstd` starts its output with one.
            [0x28, 0xb5, 0x2f, 0xfd, ..] | [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// `gzip` or `zstd`.
    pub fn name(&self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The first four bytes of `file` at `at`, of the `len` there (zero past
/// them), without moving its position: enough for [`Compression::detect`],
/// which tells gzip from its first two.
pub(crate) fn peek(file: &File, at: u64, len: u64) -> Option<[u8; 4]> {
    let mut buf = [0u8; 4];
    let head = &mut buf[..len.min(4) as usize];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(head, at).ok()?;
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut f = file;
        let here = f.stream_position().ok()?;
        f.seek(io::SeekFrom::Start(at)).ok()?;
        let got = f.read_exact(head);
        f.seek(io::SeekFrom::Start(here)).ok()?;
        got.ok()?;
    }
    Some(buf)
}

/// Decompressed bytes: a map of an unlinked temporary file, or memory.
#[derive(Debug)]
pub(crate) enum Inflated {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// A decoder of `kind` over `input` (of the input `name`, which warnings
/// name), reading it in 1 MiB pieces.
pub(crate) fn decoder<'a>(
    kind: Compression,
    input: impl Read + Send + 'a,
    name: &str,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let input = io::BufReader::with_capacity(1 << 20, input);
    Ok(match kind {
        Compression::Gzip => {
            let input: Box<dyn io::BufRead + Send + 'a> = Box::new(input);
            let member = flate2::bufread::GzDecoder::new(Peek::new(input));
            Box::new(GzMembers { member, name: name.to_string(), done: false })
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
    })
}

/// Read all of `reader` into memory, `hint` bytes reserved first. Memory
/// that cannot be had is an error (`OutOfMemory`: a file larger than the
/// memory it may use, read with `--mmap never` or after a failed map),
/// never the abort of a failed `Vec` growth.
pub(crate) fn read_all(reader: &mut dyn Read, hint: usize) -> io::Result<Vec<u8>> {
    fn reserve(bytes: &mut Vec<u8>, more: usize) -> io::Result<()> {
        bytes.try_reserve_exact(more).map_err(|_| {
            let want = bytes.len().saturating_add(more);
            io::Error::new(io::ErrorKind::OutOfMemory, format!("out of memory for {want} bytes"))
        })
    }
    let mut bytes = Vec::new();
    // One byte past the hint, so reading as many as it says ends without
    // growing the buffer to find the end.
    reserve(&mut bytes, hint.saturating_add(1).max(1 << 13))?;
    loop {
        if bytes.len() == bytes.capacity() {
            // Double, as a growing `Vec` would.
            let more = bytes.capacity();
            reserve(&mut bytes, more)?;
        }
        // Only into the capacity reserved: `take` keeps `read_to_end` from
        // growing the buffer itself.
        let spare = bytes.capacity() - bytes.len();
        if reader.take(spare as u64).read_to_end(&mut bytes)? == 0 {
            return Ok(bytes);
        }
    }
}

/// A gzip decoder over every member of its input, as `gzip -d` reads a
/// file: bytes after the last member that do not start another (zero
/// padding, garbage) end the data with a warning naming the input, where a
/// multi-member decoder took them for a damaged member ("invalid gzip
/// header", "unexpected end of file"). One decoder is reset for each
/// member (a new one per member made a file of one small member per line,
/// as `gzip >>` appends write, half again as slow).
struct GzMembers<'a> {
    member: flate2::bufread::GzDecoder<Peek<Box<dyn io::BufRead + Send + 'a>>>,
    name: String,
    done: bool,
}

impl<'a> Read for GzMembers<'a> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.done {
                return Ok(0);
            }
            let n = self.member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: another, the end, or bytes that are not gzip.
            let input = self.member.get_mut();
            match input.peek(2)? {
                [] => {
                    self.done = true;
                    return Ok(0);
                }
                // A lone 0x1f at the very end is a member cut short (an
                // error, as for gzip -d).
                [0x1f, 0x8b] | [0x1f] => {
                    // One reset, handing the same input back (a reset
                    // clears the inflate state: once per member).
                    let placeholder: Box<dyn io::BufRead + Send + 'a> = Box::new(io::empty());
                    let input = std::mem::replace(self.member.get_mut(), Peek::new(placeholder));
                    self.member.reset(input);
                }
                _ => {
                    let mut trailing = 0u64;
                    loop {
                        let n = input.fill_buf()?.len();
                        if n == 0 {
                            break;
                        }
                        input.consume(n);
                        trailing += n as u64;
                    }
                    warn_trailing(&self.name, trailing);
                    self.done = true;
                    return Ok(0);
                }
            }
        }
    }
}

/// Warn once per input (a head probe and the run decode it twice) that
/// `trailing` bytes after its last gzip member were ignored.
fn warn_trailing(name: &str, trailing: u64) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.iter().any(|n| n == name) {
        warned.push(name.to_string());
        log::warn!(
            "{name}: {trailing} bytes after the last gzip member are not gzip data: ignored, as gzip -d ignores them"
        );
    }
}

/// A reader that can look a few bytes ahead across its inner reader's
/// buffer refills (a `BufRead` shows only what its buffer holds: one byte,
/// at a refill boundary).
struct Peek<R> {
    inner: R,
    /// Bytes taken from `inner` by `peek`, not yet consumed.
    ahead: Vec<u8>,
}

impl<R: io::BufRead> Peek<R> {
    fn new(inner: R) -> Peek<R> {
        Peek { inner, ahead: Vec::new() }
    }

    /// The next `n` bytes (fewer at the end), not consumed.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.ahead.is_empty() && self.inner.fill_buf()?.len() >= n {
            return Ok(&self.inner.fill_buf()?[..n]);
        }
        while self.ahead.len() < n {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = (n - self.ahead.len()).min(buf.len());
            self.ahead.extend_from_slice(&buf[..take]);
            self.inner.consume(take);
        }
        Ok(&self.ahead[..self.ahead.len().min(n)])
    }
}

impl<R: io::BufRead> Read for Peek<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: io::BufRead> io::BufRead for Peek<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.ahead.is_empty() { self.inner.fill_buf() } else { Ok(&self.ahead) }
    }

    fn consume(&mut self, n: usize) {
        if self.ahead.is_empty() {
            self.inner.consume(n);
        } else {
            self.ahead.drain(..n.min(self.ahead.len()));
        }
    }
}

/// Decompress all of `input` as `kind`.
pub(crate) fn inflate(kind: Compression, input: impl Read + Send, name: &str) -> io::Result<Inflated> {
    let mut decoder = decoder(kind, input, name)?;
    match temporary_file() {
        Ok(file) => {
            let mut out = BufWriter::with_capacity(1 << 20, Spill(file));
            io::copy(&mut decoder, &mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?.0;
            if file.metadata()?.len() == 0 {
                return Ok(Inflated::Owned(Vec::new()));
            }
            // SAFETY: the file was created by this process with `create_new`
            // and unlinked before anything was written; no other process can
            // open, modify or truncate it, and this code never writes to it
            // again, so the map's contents stay fixed for its lifetime.
            let map = unsafe { MmapOptions::new().map(&file)? };
            Ok(Inflated::Mapped(map))
        }
        Err(e) => {
            log::debug!("no temporary file for decompression ({e}); decompressing into memory");
            Ok(Inflated::Owned(read_all(&mut decoder, 0)?))
        }
    }
}

/// The temporary file being filled, whose write errors say where it is: a
/// full temporary directory is not the input's fault.
struct Spill(File);

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(spill_error)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(spill_error)
    }
}

fn spill_error(e: io::Error) -> io::Error {
    let dir = std::env::temp_dir();
    io::Error::new(e.kind(), format!("writing the decompressed copy in {} (TMPDIR): {e}", dir.display()))
}

/// A new, already unlinked, read-write file in the temporary directory.
fn temporary_file() -> io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path: PathBuf = dir.join(format!(".pagemill-inflate-{}-{n}-{nanos}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        // Readable by this user only, for the moment it has a name: it
        // holds the decompressed data of an input others may not read.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                // Unlinked at once: the space is freed when the map and the
                // file are gone, even if the process is killed.
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no unused temporary file name"))
}

impl AsRef<[u8]> for Inflated {
    fn as_ref(&self) -> &[u8] {
        match self {
            Inflated::Mapped(m) => m,
            Inflated::Owned(v) => v,
        }
    }
}

/// A reader over an input opened with
/// [`OpenOptions::stream`](crate::OpenOptions::stream), from
/// [`Source::stream`](crate::Source::stream): it yields the input's
/// (decompressed) bytes from the first on. For a compressed file each stream
/// decodes the file independently (positional reads, no shared file
/// cursor), so the source can be streamed again, or by several threads at
/// once; a pipe or stdin can be streamed once.
pub struct Stream<'a> {
    decoder: Box<dyn Read + Send + 'a>,
    consumed: Arc<AtomicU64>,
    name: &'a str,
    kind: Option<Compression>,
}

impl fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("compressed_read", &self.compressed_read())
            .finish_non_exhaustive()
    }
}

impl<'a> Stream<'a> {
    /// A stream decoding `file` from byte `start` on.
    #[cfg(unix)]
    pub(crate) fn new(name: &'a str, kind: Compression, file: &'a File, start: u64) -> io::Result<Stream<'a>> {
        let consumed = Arc::new(AtomicU64::new(0));
        let at = Counting { inner: At { file, pos: start }, consumed: consumed.clone() };
        Ok(Stream { decoder: decoder(kind, at, name)?, consumed, name, kind: Some(kind) })
    }

    /// A stream over a pipe: `reader` (already decoding, for `kind`), whose
    /// raw bytes read so far `consumed` counts.
    pub(crate) fn pipe(
        name: &'a str,
        kind: Option<Compression>,
        reader: Box<dyn Read + Send + 'a>,
        consumed: Arc<AtomicU64>,
    ) -> Stream<'a> {
        Stream { decoder: reader, consumed, name, kind }
    }

    /// Bytes read from the file or pipe so far, before decompression (for
    /// progress: the decompressed size is not known until the end).
    pub fn compressed_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// The compression format being decoded, if any.
    pub fn compression(&self) -> Option<Compression> {
        self.kind
    }

    /// The input's name, for messages.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Read until `buf` holds `want` bytes or the data ends; returns whether
    /// it ended. A decoding failure becomes [`Error::Decompress`], a read
    /// failure [`Error::Read`], naming the input.
    pub fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<bool, Error> {
        fill(&mut self.decoder, buf, want).map_err(|source| read_error(self.name, self.kind, source))
    }
}

/// Read from `reader` until `buf` holds `want` bytes or the data ends;
/// returns whether it ended. On an error `buf` keeps what was read.
pub(crate) fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    if buf.len() >= want {
        return Ok(false);
    }
    // Read into the spare capacity, reserved exactly: no zero-filling of a
    // large target, and no growth past it (a doubling `Vec` held the old
    // and the new buffer, three times a long record, while it grew).
    let more = want - buf.len();
    buf.reserve_exact(more);
    let got = reader.take(more as u64).read_to_end(buf)?;
    Ok(got < more)
}

/// The error for a failed read of input `name`: a decoding failure if it is
/// compressed.
pub(crate) fn read_error(name: &str, kind: Option<Compression>, source: io::Error) -> Error {
    let name = name.to_string();
    match kind {
        Some(kind) => Error::Decompress { name, format: kind.name(), source },
        None => Error::Read { name, source },
    }
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf)
    }
}

/// Positional reads of a file from `pos` on (no shared file cursor).
#[cfg(unix)]
struct At<'a> {
    file: &'a File,
    pos: u64,
}

#[cfg(unix)]
impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A reader that counts the bytes it reads.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_reads_every_member_and_ignores_bytes_after_the_last() {
        let gz = |text: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text).unwrap();
            e.finish().unwrap()
        };
        // Through the 1 MiB buffer, and through tiny ones, whose refills
        // split member starts (`1f 8b`) and ends everywhere.
        let decode = |bytes: &[u8]| {
            let mut out = Vec::new();
            let whole = decoder(Compression::Gzip, bytes, "t.gz").unwrap().read_to_end(&mut out).map(|_| out);
            for cap in [1, 2, 3, 5, 8] {
                let input: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(cap, bytes));
                let member = flate2::bufread::GzDecoder::new(Peek::new(input));
                let mut small = GzMembers { member, name: "t.gz".to_string(), done: false };
                let mut out = Vec::new();
                let got = small.read_to_end(&mut out).map(|_| out);
                assert_eq!(got.as_ref().ok(), whole.as_ref().ok(), "buffer of {cap}");
            }
            whole
        };
        let (a, b) = (gz(b"a\n"), gz(b"b\n"));
        assert_eq!(decode(&[&a[..], &b].concat()).unwrap(), b"a\nb\n");
        // Zero padding and garbage after the last member: the data, as
        // gzip -d gives it (it used to be "invalid gzip header").
        assert_eq!(decode(&[&a[..], &b, &[0; 1000]].concat()).unwrap(), b"a\nb\n");
        assert_eq!(decode(&[&a[..], b"garbage\n"].concat()).unwrap(), b"a\n");
        // Garbage starting with 0x1f (but not 1f 8b) is garbage too.
        assert_eq!(decode(&[&a[..], b"\x1f\x00garbage"].concat()).unwrap(), b"a\n");
        // Empty members, and many members.
        let empty = gz(b"");
        assert_eq!(decode(&[&empty[..], &a, &empty, &b, &empty].concat()).unwrap(), b"a\nb\n");
        let many: Vec<u8> = (0..50).flat_map(|_| a.clone()).collect();
        assert_eq!(decode(&many).unwrap(), b"a\n".repeat(50));
        // A member cut short, first or later, is still an error.
        assert!(decode(&a[..a.len() - 3]).is_err());
        assert!(decode(&[&a[..], &b[..b.len() - 3]].concat()).is_err());
        assert!(decode(&[&a[..], &b[..1]].concat()).is_err());
    }

    #[test]
    fn read_all_reads_everything_and_fails_cleanly_without_memory() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for hint in [0, 1, 99_999, 100_000, 100_001, 1 << 20] {
            let bytes = read_all(&mut &data[..], hint).unwrap();
            assert_eq!(bytes, data, "hint {hint}");
            if hint == data.len() {
                assert!(bytes.capacity() <= data.len() + (1 << 13), "no doubling to find the end");
            }
        }
        // More than any allocator gives: an error, not an abort.
        let e = read_all(&mut &data[..], usize::MAX / 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        assert!(e.to_string().contains("out of memory"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn temporary_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let file = temporary_file().unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_temporary_directory_is_named_in_the_error() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let err = Spill(full).write(b"x").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("writing the decompressed copy in ") && text.contains("(TMPDIR)"), "{text}");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{text}");
    }

    #[test]
    fn fill_reads_up_to_the_target_and_tells_the_end() {
        let mut buf = b"ab".to_vec();
        let mut input = &b"cdefgh"[..];
        assert!(!fill(&mut input, &mut buf, 5).unwrap());
        assert_eq!(buf, b"abcde");
        assert!(fill(&mut input, &mut buf, 100).unwrap());
        assert_eq!(buf, b"abcdefgh");
        assert!(!fill(&mut input, &mut buf, 3).unwrap(), "already past the target");
    }
}
