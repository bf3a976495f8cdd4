//! The terminal table: aligned columns, numbers right-aligned, floats rounded
//! to a readable number of decimals per column.

use std::borrow::Cow;
use std::io::{self, Write};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type, Float64Type};
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType, Schema};

/// Decimals shown at most for a float column in a table; the machine formats
/// keep every digit.
const MAX_DECIMALS: usize = 6;

/// Floats of this magnitude or more, or non-zero and below
/// [`SMALL`], are shown in scientific notation.
const LARGE: f64 = 1e15;
const SMALL: f64 = 1e-4;

/// How a column is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Write `batches` under `schema` as an aligned text table: a header line,
/// then one line per row, columns two spaces apart. Nulls show as `null`;
/// control characters in text are escaped so that every row stays on one line.
pub(crate) fn write_table(out: &mut dyn Write, schema: &Schema, batches: &[RecordBatch]) -> io::Result<()> {
    let columns = render(schema, batches).map_err(io::Error::other)?;
    let rows = columns.first().map_or(0, |c| c.cells.len());
    let widths: Vec<usize> =
        columns.iter().map(|c| c.cells.iter().chain([&c.name]).map(|s| width(s)).max().unwrap_or(0)).collect();
    let mut line = String::new();
    let mut emit = |out: &mut dyn Write, cell: &dyn Fn(&Column) -> &str| -> io::Result<()> {
        line.clear();
        for (i, (col, &w)) in columns.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let text = cell(col);
            let pad = w - width(text);
            if col.align == Align::Right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(text);
            } else {
                line.push_str(text);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    emit(out, &|c| &c.name)?;
    for row in 0..rows {
        emit(out, &|c| &c.cells[row])?;
    }
    Ok(())
}

/// A readable description of `schema`: one line per field (name, type,
/// nullability), then the metadata, one `key  value` line each, sorted by key.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
///
/// let schema = Schema::new(vec![Field::new("file", DataType::Utf8, false), Field::new("mean", DataType::Float64, true)]);
/// assert_eq!(pagemill_arrow::describe_schema(&schema), "file  Utf8     not null\nmean  Float64  nullable\n");
/// ```
pub fn describe_schema(schema: &Schema) -> String {
    let mut lines: Vec<[String; 3]> = schema
        .fields()
        .iter()
        .map(|f| {
            [
                one_line(f.name()),
                f.data_type().to_string(),
                if f.is_nullable() { "nullable" } else { "not null" }.into(),
            ]
        })
        .collect();
    let name_width = lines.iter().map(|l| width(&l[0])).max().unwrap_or(0);
    let type_width = lines.iter().map(|l| width(&l[1])).max().unwrap_or(0);
    let mut out = String::new();
    for [name, data_type, nullable] in lines.drain(..) {
        let (n, t) = (name_width - width(&name), type_width - width(&data_type));
        out.push_str(&format!("{name}{:n$}  {data_type}{:t$}  {nullable}\n", "", ""));
    }
    let mut metadata: Vec<(&String, &String)> = schema.metadata().iter().collect();
    metadata.sort();
    if !metadata.is_empty() {
        let key_width = metadata.iter().map(|(k, _)| width(&one_line(k))).max().unwrap_or(0);
        out.push_str("\nmetadata:\n");
        for (key, value) in metadata {
            let key = one_line(key);
            out.push_str(&format!("  {key}{:pad$}  {}\n", "", one_line(value), pad = key_width - width(&key)));
        }
    }
    out
}

struct Column {
    name: String,
    align: Align,
    cells: Vec<String>,
}

/// Format every cell of every column.
fn render(schema: &Schema, batches: &[RecordBatch]) -> Result<Vec<Column>, ArrowError> {
    let options = FormatOptions::new().with_null("null").with_display_error(true);
    let mut columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column { name: one_line(f.name()), align: align_of(f.data_type()), cells: Vec::new() })
        .collect();
    for batch in batches {
        for (column, array) in columns.iter_mut().zip(batch.columns()) {
            if let Some(values) = float_values(array.as_ref()) {
                column.cells.extend(values);
                continue;
            }
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            column.cells.extend((0..array.len()).map(|i| one_line(&formatter.value(i).to_string())));
        }
    }
    // Floats get one number of decimals per column, across batches, so that
    // the decimal points line up.
    for (column, field) in columns.iter_mut().zip(schema.fields()) {
        if is_float(field.data_type()) {
            round_column(&mut column.cells);
        }
    }
    Ok(columns)
}

fn align_of(data_type: &DataType) -> Align {
    match data_type {
        DataType::Dictionary(_, value) => align_of(value),
        t if t.is_numeric() => Align::Right,
        _ => Align::Left,
    }
}

fn is_float(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// The shortest exact text of each float (`None` for other types); rounded
/// per column afterwards by [`round_column`].
fn float_values(array: &dyn Array) -> Option<Vec<String>> {
    fn text<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "null".to_string(), |v| v.to_string())
    }
    Some(match array.data_type() {
        DataType::Float16 => array.as_primitive::<Float16Type>().iter().map(|v| text(v.map(f32::from))).collect(),
        DataType::Float32 => array.as_primitive::<Float32Type>().iter().map(text).collect(),
        DataType::Float64 => array.as_primitive::<Float64Type>().iter().map(text).collect(),
        _ => return None,
    })
}

/// Rewrite a float column's shortest texts with one number of decimals: as
/// many as the most precise value needs, at most [`MAX_DECIMALS`]. Very large
/// and very small magnitudes use scientific notation.
fn round_column(cells: &mut [String]) {
    let decimals = cells
        .iter()
        .filter_map(|s| {
            s.parse::<f64>().ok().filter(|v| v.is_finite() && !scientific(*v))?;
            Some(s.split_once('.').map_or(0, |(_, frac)| frac.len()))
        })
        .max()
        .unwrap_or(0)
        .min(MAX_DECIMALS);
    for cell in cells {
        let Ok(v) = cell.parse::<f64>() else { continue };
        *cell = if !v.is_finite() {
            continue;
        } else if scientific(v) {
            format!("{v:.3e}")
        } else {
            format!("{v:.decimals$}")
        };
    }
}

fn scientific(v: f64) -> bool {
    let a = v.abs();
    a >= LARGE || (a != 0.0 && a < SMALL)
}

/// Escape control characters so a cell stays on one line.
fn one_line(s: &str) -> String {
    terminal_safe(s).into_owned()
}

/// `s` made safe to print to a terminal, on one line: control characters
/// (escape sequences, newlines, carriage returns) and invisible formatting
/// characters (bidirectional overrides, zero-width spaces, which can make
/// text display as other text) are written as Rust escapes (`\u{1b}`,
/// `\n`, `\u{202e}`). Everything else, backslashes included, is kept.
///
/// ```
/// assert_eq!(pagemill_arrow::terminal_safe("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
/// assert_eq!(pagemill_arrow::terminal_safe("Zürich"), "Zürich");
/// ```
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    fn hidden(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                // Soft hyphen, combining grapheme joiner, Arabic letter mark,
                // Hangul fillers, Mongolian vowel separator.
                '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{3164}' | '\u{ffa0}'
                // Zero-width spaces and joiners, direction marks, line and
                // paragraph separators, bidirectional embeddings and
                // overrides, word joiner and invisible operators, isolates.
                | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
                // Byte order mark, interlinear annotations, tag characters.
                | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}'
            )
    }
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The columns `s` takes on a terminal: two for most CJK characters and
/// emoji, none for combining marks.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{DictionaryArray, Float64Array, StringArray, UInt64Array, types::Int32Type};
    use arrow_schema::Field;

    use super::*;

    fn render_text(batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        write_table(&mut out, &batch.schema(), std::slice::from_ref(batch)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wide_characters_align_and_invisible_ones_show() {
        let batch = RecordBatch::try_from_iter([
            ("file", Arc::new(StringArray::from(vec!["日本語.txt", "ab.txt", "a\u{202e}b\u{200b}"])) as _),
            ("records", Arc::new(UInt64Array::from(vec![1, 2, 3])) as _),
        ])
        .unwrap();
        assert_eq!(
            render_text(&batch),
            "file                records\n日本語.txt                1\nab.txt                    2\na\\u{202e}b\\u{200b}        3\n"
        );
        assert_eq!(terminal_safe("x\u{1b}]0;pwned\u{7}"), "x\\u{1b}]0;pwned\\u{7}");
        assert_eq!(terminal_safe("a\u{2028}b\u{e0041}\u{ad}"), "a\\u{2028}b\\u{e0041}\\u{ad}");
        assert!(matches!(terminal_safe("plain \\ text"), Cow::Borrowed("plain \\ text")));
    }

    #[test]
    fn aligns_numbers_right_and_text_left() {
        let batch = RecordBatch::try_from_iter([
            ("file", Arc::new(StringArray::from(vec!["a.log", "much-longer.log"])) as _),
            ("records", Arc::new(UInt64Array::from(vec![3, 12345])) as _),
        ])
        .unwrap();
        assert_eq!(
            render_text(&batch),
            "file             records\na.log                  3\nmuch-longer.log    12345\n"
        );
    }

    #[test]
    fn floats_share_decimals_per_column_and_nulls_show() {
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Float64Array::from(vec![Some(1.5), Some(-12.25), None, Some(3.0)])) as _),
            ("sum", Arc::new(Float64Array::from(vec![0.1 + 0.2, 1.0, 2.5, 10.0])) as _),
            ("big", Arc::new(Float64Array::from(vec![1e20, 2.0, f64::NAN, 1e-9])) as _),
        ])
        .unwrap();
        assert_eq!(
            render_text(&batch),
            concat!(
                "     x        sum       big\n",
                "  1.50   0.300000  1.000e20\n",
                "-12.25   1.000000         2\n",
                "  null   2.500000       NaN\n",
                "  3.00  10.000000  1.000e-9\n",
            )
        );
    }

    #[test]
    fn control_characters_are_escaped_and_dictionaries_decoded() {
        let keys: DictionaryArray<Int32Type> = vec!["a\nb", "x", "a\nb"].into_iter().collect();
        let schema = Schema::new(vec![Field::new("k", keys.data_type().clone(), false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(keys)]).unwrap();
        assert_eq!(render_text(&batch), "k\na\\nb\nx\na\\nb\n");
    }
}
