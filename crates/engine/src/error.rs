use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::malformed::Sample;

/// Why a run produced no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An input could not be opened, read, or changed during the run.
    Input(pagemill_mmap::Error),
    /// [`Runner::strict`](crate::Runner::strict) is on and a record is malformed.
    Strict(Box<Sample>),
    /// The thread pool could not be built.
    ThreadPool(String),
    /// Writing an output file failed.
    Output {
        /// The file being written.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The output file is one of the inputs.
    OutputIsInput {
        /// The file.
        path: PathBuf,
    },
    /// [`Runner::run_partial_chunks`](crate::Runner::run_partial_chunks)
    /// was asked for chunks that are not in the plan (the inputs changed
    /// since the plan was shared, or the chunk size differs).
    ChunkRange {
        /// The chunks asked for.
        range: std::ops::Range<usize>,
        /// The number of chunks in the plan.
        chunks: usize,
    },
    /// A streamed input (compressed, or a pipe) holds a record longer than
    /// [`Runner::stream_record_limit`](crate::Runner::stream_record_limit).
    RecordTooLong {
        /// The input.
        name: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The job's state outgrew [`Runner::max_groups`](crate::Runner::max_groups):
    /// stopped before the memory ran out.
    TooManyGroups {
        /// The limit.
        limit: usize,
        /// Groups held when the run stopped (a lower bound of the total).
        seen: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => e.fmt(f),
            Error::Strict(sample) => write!(f, "malformed record (strict mode): {sample}"),
            Error::ThreadPool(e) => write!(f, "cannot start worker threads: {e}"),
            Error::Output { path, .. } => write!(f, "cannot write output {}", path.display()),
            Error::OutputIsInput { path } => {
                write!(f, "{}: refusing to write output onto an input file", path.display())
            }
            Error::ChunkRange { range, chunks } => write!(
                f,
                "chunks {}..{} asked for, but the inputs cut into {chunks} chunks (did they change?)",
                range.start, range.end
            ),
            Error::RecordTooLong { name, limit } => {
                let limit =
                    if limit % (1 << 20) == 0 { format!("{} MiB", limit >> 20) } else { format!("{limit} bytes") };
                write!(
                    f,
                    "{name}: a record longer than {limit}; records of compressed and piped inputs are held \
                     in memory whole (decompress it to a file, which is read in place, for longer records)"
                )
            }
            Error::TooManyGroups { limit, seen } => write!(
                f,
                "more than {limit} groups (at least {seen} seen); stopped before memory ran out: \
                 raise --max-groups (0: no limit) or group by fewer or coarser fields"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: `Display` is the input error's own.
            Error::Input(e) => e.source(),
            Error::Output { source, .. } => Some(source),
            Error::Strict(_)
            | Error::ThreadPool(_)
            | Error::OutputIsInput { .. }
            | Error::TooManyGroups { .. }
            | Error::RecordTooLong { .. }
            | Error::ChunkRange { .. } => None,
        }
    }
}

impl From<pagemill_mmap::Error> for Error {
    fn from(e: pagemill_mmap::Error) -> Error {
        Error::Input(e)
    }
}
