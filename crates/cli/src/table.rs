//! Writing small result tables as text, CSV, TSV or NDJSON.

use std::io::{self, Write};
use std::path::Path;

use crate::args::OutputFormat;

/// One value of a result table.
#[derive(Clone, Debug)]
pub enum Cell {
    Text(String),
    Int(u64),
}

/// A result table: named columns, rows of cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// The format to write: the explicit flag, else the output file's extension,
/// else a table.
pub fn choose_format(flag: Option<OutputFormat>, path: Option<&Path>) -> OutputFormat {
    flag.or_else(|| {
        let ext = path?.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(OutputFormat::Csv),
            "tsv" | "tab" => Some(OutputFormat::Tsv),
            "ndjson" | "jsonl" | "json" => Some(OutputFormat::Ndjson),
            _ => None,
        }
    })
    .unwrap_or(OutputFormat::Table)
}

impl Table {
    pub fn write(&self, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
        match format {
            OutputFormat::Table => self.write_text(out),
            OutputFormat::Csv => self.write_delimited(out, b','),
            OutputFormat::Tsv => self.write_delimited(out, b'\t'),
            OutputFormat::Ndjson => self.write_ndjson(out),
        }
    }

    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let text = |c: &Cell| match c {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
        };
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(text(c).chars().count());
            }
        }
        let header: Vec<String> = self.columns.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", header.join("  ").trim_end())?;
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| match c {
                    Cell::Int(_) => format!("{:>w$}", text(c)),
                    Cell::Text(_) => format!("{:<w$}", text(c)),
                })
                .collect();
            writeln!(out, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }

    fn write_delimited(&self, out: &mut dyn Write, delim: u8) -> io::Result<()> {
        let sep = [delim];
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.write_all(&sep)?;
            }
            write_field(out, c, delim)?;
        }
        out.write_all(b"\n")?;
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if i > 0 {
                    out.write_all(&sep)?;
                }
                match c {
                    Cell::Text(s) => write_field(out, s, delim)?,
                    Cell::Int(n) => write!(out, "{n}")?,
                }
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()> {
        for row in &self.rows {
            out.write_all(b"{")?;
            for (i, (name, c)) in self.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_json_string(out, name)?;
                out.write_all(b":")?;
                match c {
                    Cell::Text(s) => write_json_string(out, s)?,
                    Cell::Int(n) => write!(out, "{n}")?,
                }
            }
            out.write_all(b"}\n")?;
        }
        Ok(())
    }
}

/// A CSV/TSV field, quoted (RFC 4180) when it holds the delimiter, a quote or
/// a line break.
fn write_field(out: &mut dyn Write, s: &str, delim: u8) -> io::Result<()> {
    if s.bytes().any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r') {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

fn write_json_string(out: &mut dyn Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    for c in s.chars() {
        match c {
            '"' => out.write_all(b"\\\"")?,
            '\\' => out.write_all(b"\\\\")?,
            '\n' => out.write_all(b"\\n")?,
            '\r' => out.write_all(b"\\r")?,
            '\t' => out.write_all(b"\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "{c}")?,
        }
    }
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            columns: vec!["file", "records"],
            rows: vec![vec![Cell::Text("a,\"b\"".into()), Cell::Int(3)], vec![Cell::Text("c\n".into()), Cell::Int(10)]],
        }
    }

    fn render(format: OutputFormat) -> String {
        let mut v = Vec::new();
        sample().write(format, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(render(OutputFormat::Csv), "file,records\n\"a,\"\"b\"\"\",3\n\"c\n\",10\n");
        assert_eq!(
            render(OutputFormat::Ndjson),
            "{\"file\":\"a,\\\"b\\\"\",\"records\":3}\n{\"file\":\"c\\n\",\"records\":10}\n"
        );
        assert_eq!(render(OutputFormat::Table), "file   records\na,\"b\"        3\nc\n          10\n");
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(choose_format(None, Some(Path::new("x.CSV"))), OutputFormat::Csv);
        assert_eq!(choose_format(None, Some(Path::new("x.jsonl"))), OutputFormat::Ndjson);
        assert_eq!(choose_format(None, Some(Path::new("x"))), OutputFormat::Table);
        assert_eq!(choose_format(Some(OutputFormat::Tsv), Some(Path::new("x.csv"))), OutputFormat::Tsv);
    }
}
