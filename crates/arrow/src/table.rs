//! The terminal table: aligned columns, numbers right-aligned, floats rounded
//! to a readable number of decimals per column.

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
        columns.iter().map(|c| c.cells.iter().chain([&c.name]).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut line = String::new();
    let mut emit = |out: &mut dyn Write, cell: &dyn Fn(&Column) -> &str| -> io::Result<()> {
        line.clear();
        for (i, (col, &w)) in columns.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let text = cell(col);
            let pad = w - text.chars().count();
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
    if s.chars().any(char::is_control) {
        s.chars().flat_map(|c| if c.is_control() { c.escape_debug().collect::<Vec<_>>() } else { vec![c] }).collect()
    } else {
        s.to_string()
    }
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
