use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::Error;
use crate::source::Source;

/// Whether to memory-map an input.
///
/// A newtype over a private enum so that policies can be added without
/// breaking callers. Parse one from `"auto"`, `"always"` or `"never"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapChoice(Policy);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    Auto,
    Always,
    Never,
}

impl MmapChoice {
    /// Map regular files of at least [`OpenOptions::min_map_len`] bytes; read
    /// pipes, special files and small files. The default.
    pub fn auto() -> MmapChoice {
        MmapChoice(Policy::Auto)
    }

    /// Map every input that can be mapped (regular files, including stdin
    /// redirected from one), falling back to reading only where mapping fails.
    pub fn always() -> MmapChoice {
        MmapChoice(Policy::Always)
    }

    /// Never map: read every input into memory. Immune to files that are
    /// truncated or rewritten while pagemill runs, at the cost of memory.
    pub fn never() -> MmapChoice {
        MmapChoice(Policy::Never)
    }

    pub(crate) fn policy(self) -> Policy {
        self.0
    }
}

impl Default for MmapChoice {
    fn default() -> MmapChoice {
        MmapChoice::auto()
    }
}

impl fmt::Display for MmapChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Policy::Auto => "auto",
            Policy::Always => "always",
            Policy::Never => "never",
        })
    }
}

impl FromStr for MmapChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<MmapChoice, String> {
        match s {
            "auto" => Ok(MmapChoice::auto()),
            "always" => Ok(MmapChoice::always()),
            "never" => Ok(MmapChoice::never()),
            other => Err(format!("unknown mmap policy '{other}' (expected auto, always or never)")),
        }
    }
}

/// How a mapped input may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Access {
    /// Read only. The analytics default; nothing can be written.
    #[default]
    ReadOnly,
    /// Shared read-write map: writes through [`Source::bytes_mut`] reach the
    /// file (durably after [`Source::flush`]). Needs a regular file opened for
    /// writing; there is no read fallback.
    ReadWrite,
    /// Private copy-on-write map: writes are visible to this process only and
    /// never reach the file. Falls back to an in-memory copy where mapping is
    /// not possible.
    CopyOnWrite,
}

/// Options for opening a [`Source`]: a builder in the style of
/// [`std::fs::OpenOptions`].
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub(crate) mmap: MmapChoice,
    pub(crate) access: Access,
    pub(crate) min_map_len: u64,
    pub(crate) sequential: bool,
    pub(crate) decompress: bool,
    pub(crate) stream: bool,
}

/// Inputs below this size are read rather than mapped under
/// [`MmapChoice::auto`]: setting up and tearing down a map costs more than
/// copying a few pages.
pub(crate) const DEFAULT_MIN_MAP_LEN: u64 = 64 * 1024;

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Read-only, `auto` mapping, sequential advice on, gzip and zstd inputs
    /// decompressed.
    pub fn new() -> OpenOptions {
        OpenOptions {
            mmap: MmapChoice::auto(),
            access: Access::ReadOnly,
            min_map_len: DEFAULT_MIN_MAP_LEN,
            sequential: true,
            decompress: true,
            stream: false,
        }
    }

    /// Set the mapping policy.
    pub fn mmap(&mut self, choice: MmapChoice) -> &mut OpenOptions {
        self.mmap = choice;
        self
    }

    /// Set the access mode.
    pub fn access(&mut self, access: Access) -> &mut OpenOptions {
        self.access = access;
        self
    }

    /// Under [`MmapChoice::auto`], files shorter than this are read instead of
    /// mapped. Default: 64 KiB.
    pub fn min_map_len(&mut self, bytes: u64) -> &mut OpenOptions {
        self.min_map_len = bytes;
        self
    }

    /// Whether to advise the kernel that a new map will be read sequentially
    /// (more read-ahead). Default: on.
    pub fn sequential(&mut self, yes: bool) -> &mut OpenOptions {
        self.sequential = yes;
        self
    }

    /// Whether read-only inputs that start with a gzip or zstd magic number
    /// are decompressed (into an unlinked temporary file that is then mapped;
    /// see [`Compression`](crate::Compression)). Default: on. Read-write and
    /// copy-on-write opens never decompress.
    pub fn decompress(&mut self, yes: bool) -> &mut OpenOptions {
        self.decompress = yes;
        self
    }

    /// Whether inputs that cannot be mapped as they are get streamed
    /// instead of held whole: a compressed regular file (read-only, with
    /// [`decompress`](OpenOptions::decompress) on) is not decompressed on
    /// open, and stdin, pipes, FIFOs and other files that are not regular
    /// are not read to their end (compressed or not). The [`Source`] then
    /// holds no bytes and hands out readers ([`Source::stream`]: a new
    /// decoder of a compressed file each time, the one pass over a pipe), so
    /// no temporary file is written and memory does not grow with the input.
    /// pagemill's runner reads such sources block by block while it maps
    /// earlier blocks. Code that needs the bytes at random
    /// ([`Source::bytes`]) must leave it off. Compressed files are streamed
    /// on Unix only (elsewhere they are decompressed on open). Default: off.
    pub fn stream(&mut self, yes: bool) -> &mut OpenOptions {
        self.stream = yes;
        self
    }

    /// Open the file at `path`. The path `-` is *not* special here; use
    /// [`OpenOptions::stdin`].
    pub fn open<P: AsRef<Path>>(&self, path: P) -> Result<Source, Error> {
        Source::open(self, path.as_ref())
    }

    /// A [streamed](Source::is_streamed) source named `name` over any
    /// reader (a socket, a child process's output, an object-store
    /// download), read once, as a job runs, never held whole in memory. Its
    /// first bytes are read now: a gzip or zstd magic number makes it decoded
    /// (unless [`decompress`](OpenOptions::decompress) is off). Whatever
    /// [`stream`](OpenOptions::stream) says, this source is streamed.
    pub fn reader(
        &self,
        name: impl Into<String>,
        reader: impl std::io::Read + Send + 'static,
    ) -> Result<Source, Error> {
        Source::piped(self, name.into(), Box::new(reader))
    }

    /// Open standard input. When stdin is redirected from a regular file it is
    /// mapped like that file would be; otherwise it is read to its end, or
    /// with [`stream`](OpenOptions::stream) streamed.
    pub fn stdin(&self) -> Result<Source, Error> {
        Source::stdin(self)
    }
}
