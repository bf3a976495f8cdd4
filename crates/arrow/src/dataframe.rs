//! Results as a polars `DataFrame` (feature `polars`), through an in-memory
//! Arrow IPC file: no `unsafe`, and no dependence on how polars lays out its
//! own Arrow arrays.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Schema};
use polars::prelude::{DataFrame, IpcReader, PolarsError, SerReader};

use crate::error::Error;
use crate::format::OutputFormat;
use crate::write::{WriteOptions, write_to};

/// Convert result batches into one polars [`DataFrame`].
///
/// The batches are written to an in-memory Arrow IPC file (as
/// [`OutputFormat::Ipc`] writes it: one dictionary per column) and read back
/// with polars' IPC reader, so the data is copied once. Every column type
/// jobs produce comes through with its values: `Utf8` as `String`,
/// dictionary-encoded `Utf8` as `Categorical`, `UInt16`, `UInt64`, `Int64`
/// and `Float64` (nulls and NaN kept apart) as themselves, `Timestamp` in
/// `UTC` as `Datetime` with the same unit and time zone (polars has no
/// seconds unit: `Timestamp(Second)` becomes milliseconds). The schema's
/// metadata ([`RunMetadata`](crate::RunMetadata)) is not carried over.
///
/// All batches must have the first one's columns (names and types, in
/// order). Batches with no rows give a DataFrame with no rows and the
/// columns.
///
/// # Errors
///
/// [`Error::NoBatches`] for an empty slice (there is no schema to give the
/// DataFrame), [`Error::Schema`] for a batch whose columns differ from the
/// first batch's, [`Error::Arrow`] if the IPC encoding fails and
/// [`Error::Polars`] if polars cannot read it, or for a column type that this
/// minimal build of polars does not have (`Int8`, `Int16`, `UInt8`, `Float16`,
/// decimals, structs, maps, fixed-size lists and binaries: polars would
/// panic on them).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use pagemill_arrow::arrow_array::{Float64Array, RecordBatch, StringArray, UInt64Array};
/// use pagemill_arrow::to_polars;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let batch = RecordBatch::try_from_iter([
///     ("key", Arc::new(StringArray::from(vec!["a.log", "b.log", "c.log"])) as _),
///     ("records", Arc::new(UInt64Array::from(vec![3u64, 0, 12])) as _),
///     ("mean", Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.25)])) as _),
/// ])?;
/// let df = to_polars(&[batch])?;
/// assert_eq!(df.shape(), (3, 3));
/// let names: Vec<&str> = df.get_column_names().iter().map(|name| name.as_str()).collect();
/// assert_eq!(names, ["key", "records", "mean"]);
/// assert_eq!(df.column("key")?.str()?.get(1), Some("b.log"));
/// assert_eq!(df.column("records")?.u64()?.get(2), Some(12));
/// assert_eq!(df.column("mean")?.f64()?.get(1), None);
/// # Ok(())
/// # }
/// ```
pub fn to_polars(batches: &[RecordBatch]) -> Result<DataFrame, Error> {
    let schema = batches.first().ok_or(Error::NoBatches)?.schema();
    for (i, batch) in batches.iter().enumerate().skip(1) {
        let other = batch.schema();
        let same = other.fields().len() == schema.fields().len()
            && other
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            let message = format!("columns ({}) differ from batch 0's ({})", columns(&other), columns(&schema));
            return Err(Error::Schema { batch: i, source: ArrowError::SchemaError(message) });
        }
    }
    if let Some(field) = schema.fields().iter().find(|f| !readable(f.data_type())) {
        let message = format!(
            "column '{}' has type {}, which pagemill-arrow's minimal build of polars cannot hold",
            field.name(),
            field.data_type()
        );
        return Err(Error::Polars(PolarsError::ComputeError(message.into())));
    }
    let mut ipc = Vec::new();
    write_to(&mut ipc, &schema, batches, OutputFormat::Ipc, &WriteOptions::new()).map_err(|e| match e {
        Error::Arrow { source, .. } => Error::Arrow { target: "<polars DataFrame>".to_string(), source },
        e => e,
    })?;
    IpcReader::new(Cursor::new(ipc)).finish().map_err(Error::Polars)
}

/// Whether the polars features pagemill-arrow enables cover this type
/// (polars panics on the others).
fn readable(data_type: &DataType) -> bool {
    match data_type {
        DataType::Null
        | DataType::Boolean
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(..)
        | DataType::Duration(_)
        | DataType::Time32(_)
        | DataType::Time64(_) => true,
        DataType::List(field) | DataType::LargeList(field) => readable(field.data_type()),
        DataType::Dictionary(key, value) => key.is_dictionary_key_type() && readable(value),
        _ => false,
    }
}

/// `name: type, ...` for an error message.
fn columns(schema: &Schema) -> String {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
    columns.join(", ")
}
