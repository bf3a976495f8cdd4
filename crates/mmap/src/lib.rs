//! The bytes of an input, memory-mapped where that serves and read into memory
//! where it does not.
//!
//! [`Source`] is the one type every pagemill job reads from. It is opened with
//! [`OpenOptions`], which decide two things:
//!
//! * **whether to map** ([`MmapChoice`]): `auto` maps regular files of at least
//!   [`OpenOptions::min_map_len`] bytes and reads everything else (pipes, stdin
//!   from a pipe, `/proc` files, tiny files) into memory; `always` maps whatever
//!   can be mapped; `never` always reads. A map that fails falls back to reading,
//!   with the reason logged at debug level through the [`log`] facade.
//! * **how to map** ([`Access`]): read-only (the analytics default), read-write
//!   (changes reach the file; [`Source::flush`], [`Source::flush_range`],
//!   [`Source::flush_async`]) or copy-on-write (changes stay private to this
//!   process and never reach the disk). [`Source::split_mut`] cuts a writable
//!   source into disjoint [`ChunkMut`] pieces that threads edit at once, each
//!   written back on its own ([`ChunkMut::flush`]) as soon as it is done.
//!
//! Inputs that start with a gzip or zstd magic number are decompressed on open
//! (read-only access only; [`OpenOptions::decompress`] turns it off): the
//! stream is inflated once into an unlinked temporary file, which is then
//! mapped, so memory stays bounded however large the decompressed data is
//! ([`Source::compression`] tells which format it was). With
//! [`OpenOptions::stream`] such a file is instead decoded on
//! demand, block by block, through [`Source::stream`] ([`Stream`]), and
//! nothing is written to disk.
//!
//! A mapped source can be advised ([`Source::advise_sequential`],
//! [`Source::will_need`], [`Source::populate`]) and can give back ranges it has finished with
//! ([`Source::release`]) so that resident memory stays bounded on inputs larger
//! than RAM. [`Source::check_unchanged`] tells whether the file's size or
//! modification time moved since it was opened.
//!
//! [`SharedRegion`] (module [`shared`]) is memory several processes map at
//! once (`memfd`, `MAP_SHARED`): pagemill's process workers hand their
//! partial results back through it.
//!
//! This is the only pagemill crate that contains `unsafe` code.
//!
//! # Safety contract of a mapping
//!
//! A memory map exposes the file's pages directly. If any process modifies the
//! file while it is mapped, the bytes a job sees may change under it (in Rust
//! terms: undefined behaviour, since `&[u8]` promises immutability). If the file
//! is **truncated** while mapped, touching a page past the new end raises
//! `SIGBUS` and the process dies. pagemill cannot prevent either; it detects
//! size and modification-time changes after a run ([`Source::check_unchanged`])
//! and reports them as errors instead of results, and [`sigbus::install`] turns
//! the fault into one error line naming the file and an exit status of 1. Users who cannot rule out
//! concurrent writers should open with [`MmapChoice::never`], which reads the
//! file into memory and is immune to both.
//!
//! # Example
//!
//! ```
//! use pagemill_mmap::{MmapChoice, OpenOptions};
//!
//! # fn main() -> Result<(), pagemill_mmap::Error> {
//! let dir = std::env::temp_dir().join(format!("pagemill-mmap-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("lines.txt");
//! std::fs::write(&path, b"a\nb\nc\n").unwrap();
//!
//! let source = OpenOptions::new().mmap(MmapChoice::always()).open(&path)?;
//! assert!(source.is_mapped());
//! assert_eq!(source.bytes().iter().filter(|&&b| b == b'\n').count(), 3);
//! source.check_unchanged()?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod decompress;
mod error;
mod limits;
mod options;
mod prefetch;
#[cfg(unix)]
pub mod shared;
pub mod sigbus;
mod source;

pub use crate::decompress::{Compression, Stream};
pub use crate::error::Error;
pub use crate::limits::raise_open_file_limit;
pub use crate::options::{Access, MmapChoice, OpenOptions};
pub use crate::prefetch::prefetch;
#[cfg(unix)]
pub use crate::shared::SharedRegion;
pub use crate::source::{ChunkMut, FileId, Source};
