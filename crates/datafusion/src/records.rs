//! 1BRC lines and fixed-width binary records as tables.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pagemill_engine::Malformed;
use pagemill_features::{FieldType, FieldValue, Layout, parse_tenths};
use pagemill_mmap::Source;
use pagemill_split::{AnyFormat, Fixed, Lines, Record};

use crate::decode::{Cell, Decoder, Scratch, Shape};
use crate::error::Error;
use crate::filter::Value;
use crate::spec::Spec;
use crate::table::PagemillTable;

static BRC_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("station", DataType::Utf8View, false),
        Field::new("measurement", DataType::Float64, false),
    ]))
});

#[derive(Debug)]
struct BrcDecoder;

impl Decoder for BrcDecoder {
    fn parse<'a>(
        &'a self,
        r: Record<'a>,
        projection: &[usize],
        row: &mut Vec<Cell<'a>>,
        _scratch: &mut Scratch<'a>,
        malformed: &mut Malformed,
    ) -> bool {
        // The same checks, in the same order, as `pagemill features --preset 1brc`.
        let Some(semi) = memchr::memchr(b';', r.bytes) else {
            malformed.report("missing-separator", r.offset, r.bytes);
            return false;
        };
        let name = &r.bytes[..semi];
        if name.is_empty() {
            malformed.report("empty-name", r.offset, r.bytes);
            return false;
        }
        let Some(tenths) = parse_tenths(&r.bytes[semi + 1..]) else {
            malformed.report("bad-number", r.offset, r.bytes);
            return false;
        };
        if std::str::from_utf8(name).is_err() {
            malformed.report("invalid-utf8", r.offset, r.bytes);
            return false;
        }
        for &c in projection {
            row.push(Cell::Val(if c == 0 { Value::Str(name) } else { Value::Float(f64::from(tenths) / 10.0) }));
        }
        true
    }
}

#[derive(Debug)]
struct BinaryDecoder {
    layout: Layout,
}

impl Decoder for BinaryDecoder {
    fn parse<'a>(
        &'a self,
        r: Record<'a>,
        projection: &[usize],
        row: &mut Vec<Cell<'a>>,
        _scratch: &mut Scratch<'a>,
        malformed: &mut Malformed,
    ) -> bool {
        if r.bytes.len() < self.layout.record_size() {
            malformed.report("short-record", r.offset, r.bytes);
            return false;
        }
        for &c in projection {
            let v = match self.layout.fields()[c].value_in(r.bytes) {
                FieldValue::Signed(x) => Value::Int(x),
                FieldValue::Unsigned(x) => Value::UInt(x),
                FieldValue::Float(x) => Value::Float(x),
                FieldValue::Bytes(b) => Value::Str(b),
                _ => Value::Null,
            };
            row.push(Cell::Val(v));
        }
        true
    }
}

impl PagemillTable {
    /// 1BRC lines `station;temperature` as a table of `station` (Utf8View) and
    /// `measurement` (Float64, one decimal). Lines are checked as
    /// `pagemill features --preset 1brc` checks them: `missing-separator`,
    /// `empty-name`, `bad-number` and `invalid-utf8` lines are malformed.
    pub fn brc(sources: Vec<Source>) -> Result<PagemillTable, Error> {
        PagemillTable::build(Spec::Brc, sources, None)
    }

    /// Fixed-width binary records of `layout` as a table: one column per
    /// field, named after it, decoded little-endian straight from the
    /// mapping (`i8`..`i64` as Int8..Int64, `u8`..`u64` as UInt8..UInt64,
    /// `f32`/`f64` as Float32/Float64, `bytesN` as text without its
    /// trailing NUL padding). A final record shorter than the layout is
    /// malformed (`short-record`).
    pub fn binary(sources: Vec<Source>, layout: Layout) -> Result<PagemillTable, Error> {
        PagemillTable::build(Spec::Binary(layout), sources, None)
    }
}

/// The shape and decoder of a 1BRC table.
pub(crate) fn assemble_brc() -> (Shape, Arc<dyn Decoder>) {
    let shape = Shape { schema: Arc::clone(&BRC_SCHEMA), format: AnyFormat::Lines(Lines), header: false };
    (shape, Arc::new(BrcDecoder))
}

/// The shape and decoder of a binary table of `layout`.
pub(crate) fn assemble_binary(layout: Layout) -> (Shape, Arc<dyn Decoder>) {
    let fields: Vec<Field> = layout
        .fields()
        .iter()
        .map(|f| {
            let t = match f.ty {
                FieldType::I8 => DataType::Int8,
                FieldType::I16 => DataType::Int16,
                FieldType::I32 => DataType::Int32,
                FieldType::I64 => DataType::Int64,
                FieldType::U8 => DataType::UInt8,
                FieldType::U16 => DataType::UInt16,
                FieldType::U32 => DataType::UInt32,
                FieldType::U64 => DataType::UInt64,
                FieldType::F32 => DataType::Float32,
                FieldType::F64 => DataType::Float64,
                _ => DataType::Utf8View,
            };
            Field::new(&f.name, t, false)
        })
        .collect();
    let shape = Shape {
        schema: Arc::new(Schema::new(fields)),
        format: AnyFormat::Fixed(Fixed::new(layout.record_size())),
        header: false,
    };
    (shape, Arc::new(BinaryDecoder { layout }))
}
