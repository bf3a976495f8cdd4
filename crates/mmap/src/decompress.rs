//! Transparent decompression of gzip and zstd inputs.
//!
//! A compressed input is recognised by its first bytes, not its name, and
//! decompressed once, as a stream, into an unlinked temporary file (in
//! `$TMPDIR`) that is then memory-mapped like any other input: memory stays
//! bounded by the page cache, not by the decompressed size. Where no
//! temporary file can be made the data is decompressed into memory instead.
//! Byte offsets and line numbers in reports refer to the decompressed data.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

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
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
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

/// The first four bytes of `file` at `at`, without moving its position.
pub(crate) fn peek(file: &File, at: u64) -> Option<[u8; 4]> {
    let mut head = [0u8; 4];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut head, at).ok()?;
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut f = file;
        let here = f.stream_position().ok()?;
        f.seek(io::SeekFrom::Start(at)).ok()?;
        let got = f.read_exact(&mut head);
        f.seek(io::SeekFrom::Start(here)).ok()?;
        got.ok()?;
    }
    Some(head)
}

/// Decompressed bytes: a map of an unlinked temporary file, or memory.
#[derive(Debug)]
pub(crate) enum Inflated {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// Decompress all of `input` as `kind`.
pub(crate) fn inflate(kind: Compression, input: impl Read) -> io::Result<Inflated> {
    let mut decoder: Box<dyn Read> = match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 20, input))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
    };
    match temporary_file() {
        Ok(file) => {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            io::copy(&mut decoder, &mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
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
            let mut bytes = Vec::new();
            decoder.read_to_end(&mut bytes)?;
            Ok(Inflated::Owned(bytes))
        }
    }
}

/// A new, already unlinked, read-write file in the temporary directory.
fn temporary_file() -> io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path: PathBuf = dir.join(format!(".pagemill-inflate-{}-{n}-{nanos}", std::process::id()));
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
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
