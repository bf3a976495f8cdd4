//! Checking an IPC schema before arrow-ipc converts it: its conversion
//! (`fb_to_schema`) panics on type descriptions it does not support, and a
//! damaged or hostile file must be an error instead.

use arrow_ipc::{DateUnit, Endianness, Field, IntervalUnit, Precision, Schema, TimeUnit, Type, UnionMode};

/// `Ok` when every field of `schema` describes a type that arrow-ipc's
/// conversion accepts without panicking; otherwise what is wrong.
pub(crate) fn check_schema(schema: Schema<'_>) -> Result<(), String> {
    let fields = schema.fields().ok_or("schema has no field list")?;
    for field in fields {
        if field.type_type() == Type::Decimal && schema.endianness() == Endianness::Big {
            return Err("big-endian decimals are not supported".into());
        }
        check_field(field)?;
    }
    Ok(())
}

fn check_field(field: Field<'_>) -> Result<(), String> {
    let name = field.name().unwrap_or_default();
    let bad = |what: &str| format!("field '{name}': {what}");
    if let Some(dictionary) = field.dictionary() {
        let index = dictionary.indexType().ok_or_else(|| bad("dictionary without index type"))?;
        if ![8, 16, 32, 64].contains(&index.bitWidth()) {
            return Err(bad(&format!("dictionary index of {} bits", index.bitWidth())));
        }
    }
    let children = field.children().map_or(0, |c| c.len());
    let missing = || bad(&format!("{:?} type without its parameters", field.type_type()));
    match field.type_type() {
        Type::Null
        | Type::Bool
        | Type::Binary
        | Type::BinaryView
        | Type::LargeBinary
        | Type::Utf8
        | Type::Utf8View
        | Type::LargeUtf8
        | Type::Struct_ => {}
        Type::FixedSizeBinary => {
            field.type_as_fixed_size_binary().ok_or_else(missing)?;
        }
        Type::Int => {
            let int = field.type_as_int().ok_or_else(missing)?;
            if ![8, 16, 32, 64].contains(&int.bitWidth()) {
                return Err(bad(&format!("integer of {} bits", int.bitWidth())));
            }
        }
        Type::FloatingPoint => {
            let precision = field.type_as_floating_point().ok_or_else(missing)?.precision();
            if ![Precision::HALF, Precision::SINGLE, Precision::DOUBLE].contains(&precision) {
                return Err(bad("unknown float precision"));
            }
        }
        Type::Date => {
            let unit = field.type_as_date().ok_or_else(missing)?.unit();
            if ![DateUnit::DAY, DateUnit::MILLISECOND].contains(&unit) {
                return Err(bad("unknown date unit"));
            }
        }
        Type::Time => {
            let time = field.type_as_time().ok_or_else(missing)?;
            let ok = match time.bitWidth() {
                32 => [TimeUnit::SECOND, TimeUnit::MILLISECOND].contains(&time.unit()),
                64 => [TimeUnit::MICROSECOND, TimeUnit::NANOSECOND].contains(&time.unit()),
                _ => false,
            };
            if !ok {
                return Err(bad("unsupported time width and unit"));
            }
        }
        Type::Timestamp => check_unit(field.type_as_timestamp().ok_or_else(missing)?.unit()).map_err(&bad)?,
        Type::Duration => check_unit(field.type_as_duration().ok_or_else(missing)?.unit()).map_err(&bad)?,
        Type::Interval => {
            let unit = field.type_as_interval().ok_or_else(missing)?.unit();
            if ![IntervalUnit::YEAR_MONTH, IntervalUnit::DAY_TIME, IntervalUnit::MONTH_DAY_NANO].contains(&unit) {
                return Err(bad("unknown interval unit"));
            }
        }
        Type::List | Type::LargeList | Type::ListView | Type::LargeListView => {
            if children != 1 {
                return Err(bad("a list needs exactly one child"));
            }
        }
        Type::FixedSizeList => {
            field.type_as_fixed_size_list().ok_or_else(missing)?;
            if children != 1 {
                return Err(bad("a list needs exactly one child"));
            }
        }
        Type::Map => {
            field.type_as_map().ok_or_else(missing)?;
            if children != 1 {
                return Err(bad("a map needs exactly one child"));
            }
        }
        Type::RunEndEncoded => {
            if children != 2 {
                return Err(bad("run-end encoding needs exactly two children"));
            }
        }
        Type::Decimal => {
            let decimal = field.type_as_decimal().ok_or_else(missing)?;
            if u8::try_from(decimal.precision()).is_err() || i8::try_from(decimal.scale()).is_err() {
                return Err(bad("decimal precision or scale out of range"));
            }
            if ![32, 64, 128, 256].contains(&decimal.bitWidth()) {
                return Err(bad(&format!("decimal of {} bits", decimal.bitWidth())));
            }
        }
        Type::Union => {
            let union = field.type_as_union().ok_or_else(missing)?;
            if ![UnionMode::Dense, UnionMode::Sparse].contains(&union.mode()) {
                return Err(bad("unknown union mode"));
            }
            match union.typeIds() {
                None if children > 128 => return Err(bad("a union of more than 128 children")),
                None => {}
                Some(ids) => {
                    let mut seen = 0u128;
                    for id in ids {
                        // arrow-ipc narrows the ids with `as i8`.
                        let id = id as i8;
                        if id < 0 || seen & (1 << id) != 0 {
                            return Err(bad("invalid union type ids"));
                        }
                        seen |= 1 << id;
                    }
                    if ids.len() != children {
                        return Err(bad("union type ids do not match its children"));
                    }
                }
            }
        }
        other => return Err(bad(&format!("unsupported type {other:?}"))),
    }
    for child in field.children().into_iter().flatten() {
        check_field(child)?;
    }
    Ok(())
}

fn check_unit(unit: TimeUnit) -> Result<(), &'static str> {
    if [TimeUnit::SECOND, TimeUnit::MILLISECOND, TimeUnit::MICROSECOND, TimeUnit::NANOSECOND].contains(&unit) {
        Ok(())
    } else {
        Err("unknown time unit")
    }
}
