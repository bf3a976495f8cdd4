use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::Error;

/// A result format pagemill can write.
///
/// Parse one from its name with [`FromStr`] (`"parquet".parse()`), print its
/// canonical name with `Display`, or let [`choose_format`] pick one from a flag
/// and an output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputFormat {
    /// Aligned text columns for a terminal: numbers right-aligned, floats
    /// rounded to a readable number of decimals. Name: `table`.
    Table,
    /// Comma-separated values with a header row (RFC 4180 quoting). Name: `csv`.
    Csv,
    /// Tab-separated values with a header row. Name: `tsv`.
    Tsv,
    /// One JSON object per row and line. Names: `ndjson`, `jsonl`, `json`.
    Ndjson,
    /// Arrow IPC file (Feather v2), with a footer for random access;
    /// uncompressed by default so readers can memory-map it. Names: `arrow`,
    /// `ipc`.
    Ipc,
    /// Arrow IPC stream: no footer, suited to pipes. Names: `arrow-stream`,
    /// `ipc-stream`.
    IpcStream,
    /// Parquet, zstd-compressed, with column statistics. Name: `parquet`.
    Parquet,
}

impl OutputFormat {
    /// Every format, in the order of this enum.
    pub const ALL: &'static [OutputFormat] = &[
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Tsv,
        OutputFormat::Ndjson,
        OutputFormat::Ipc,
        OutputFormat::IpcStream,
        OutputFormat::Parquet,
    ];

    /// The canonical name, as accepted by [`FromStr`] and printed by
    /// `Display`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Ipc => "arrow",
            OutputFormat::IpcStream => "arrow-stream",
            OutputFormat::Parquet => "parquet",
        }
    }

    /// Whether the format is binary (and so should not go to a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Ipc | OutputFormat::IpcStream | OutputFormat::Parquet)
    }

    /// The format a file extension stands for (without the dot, any case):
    /// `csv`, `tsv`/`tab`, `ndjson`/`jsonl`/`json`, `arrow`/`ipc`/`feather`,
    /// `arrows`, `parquet`/`pq`.
    pub fn from_extension(ext: &str) -> Option<OutputFormat> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "csv" => OutputFormat::Csv,
            "tsv" | "tab" => OutputFormat::Tsv,
            "ndjson" | "jsonl" | "json" => OutputFormat::Ndjson,
            "arrow" | "ipc" | "feather" => OutputFormat::Ipc,
            "arrows" => OutputFormat::IpcStream,
            "parquet" | "pq" => OutputFormat::Parquet,
            _ => return None,
        })
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = Error;

    /// Parse a format name, ignoring case: `table`, `csv`, `tsv`,
    /// `ndjson`/`jsonl`/`json`, `arrow`/`ipc`, `arrow-stream`/`ipc-stream`,
    /// `parquet`.
    fn from_str(s: &str) -> Result<OutputFormat, Error> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "table" => OutputFormat::Table,
            "csv" => OutputFormat::Csv,
            "tsv" => OutputFormat::Tsv,
            "ndjson" | "jsonl" | "json" => OutputFormat::Ndjson,
            "arrow" | "ipc" => OutputFormat::Ipc,
            "arrow-stream" | "ipc-stream" => OutputFormat::IpcStream,
            "parquet" => OutputFormat::Parquet,
            _ => return Err(Error::UnknownFormat { name: s.to_string() }),
        })
    }
}

/// The format to write: the explicit `flag` if given, else the one the output
/// path's extension names, else [`OutputFormat::Table`].
///
/// A path of `-` (stdout) with no flag means [`OutputFormat::IpcStream`], so
/// that `pagemill ... -o - | consumer` pipes Arrow. A path with an unknown
/// extension, or no path, gives a table.
///
/// ```
/// use std::path::Path;
/// use pagemill_arrow::{OutputFormat, choose_format};
///
/// assert_eq!(choose_format(None, Some(Path::new("out.parquet"))), OutputFormat::Parquet);
/// assert_eq!(choose_format(None, Some(Path::new("-"))), OutputFormat::IpcStream);
/// assert_eq!(choose_format(Some(OutputFormat::Csv), Some(Path::new("out.arrow"))), OutputFormat::Csv);
/// assert_eq!(choose_format(None, None), OutputFormat::Table);
/// ```
pub fn choose_format(flag: Option<OutputFormat>, path: Option<&Path>) -> OutputFormat {
    if let Some(format) = flag {
        return format;
    }
    match path {
        Some(p) if p.as_os_str() == "-" => OutputFormat::IpcStream,
        Some(p) => {
            p.extension().and_then(|e| e.to_str()).and_then(OutputFormat::from_extension).unwrap_or(OutputFormat::Table)
        }
        None => OutputFormat::Table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for &format in OutputFormat::ALL {
            assert_eq!(format.to_string().parse::<OutputFormat>().unwrap(), format);
        }
        for (name, format) in [
            ("JSONL", OutputFormat::Ndjson),
            ("json", OutputFormat::Ndjson),
            ("ipc", OutputFormat::Ipc),
            ("ipc-stream", OutputFormat::IpcStream),
            (" Parquet ", OutputFormat::Parquet),
        ] {
            assert_eq!(name.parse::<OutputFormat>().unwrap(), format, "{name}");
        }
        let err = "xlsx".parse::<OutputFormat>().unwrap_err();
        assert!(err.to_string().contains("unknown output format 'xlsx'"), "{err}");
    }

    #[test]
    fn format_from_flag_then_extension_then_table() {
        let p = |s: &'static str| Some(Path::new(s));
        assert_eq!(choose_format(None, p("x.CSV")), OutputFormat::Csv);
        assert_eq!(choose_format(None, p("x.tsv")), OutputFormat::Tsv);
        assert_eq!(choose_format(None, p("x.jsonl")), OutputFormat::Ndjson);
        assert_eq!(choose_format(None, p("x.json")), OutputFormat::Ndjson);
        assert_eq!(choose_format(None, p("dir.v2/x.feather")), OutputFormat::Ipc);
        assert_eq!(choose_format(None, p("x.ipc")), OutputFormat::Ipc);
        assert_eq!(choose_format(None, p("x.arrows")), OutputFormat::IpcStream);
        assert_eq!(choose_format(None, p("x.parquet")), OutputFormat::Parquet);
        assert_eq!(choose_format(None, p("x")), OutputFormat::Table);
        assert_eq!(choose_format(None, p("x.txt")), OutputFormat::Table);
        assert_eq!(choose_format(None, p("-")), OutputFormat::IpcStream);
        assert_eq!(choose_format(Some(OutputFormat::Csv), p("-")), OutputFormat::Csv);
        assert_eq!(choose_format(Some(OutputFormat::Tsv), p("x.csv")), OutputFormat::Tsv);
        assert_eq!(choose_format(None, None), OutputFormat::Table);
    }
}
