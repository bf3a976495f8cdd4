//! Cheap filters evaluated while a scan parses, before a row is built.
//!
//! A table reports the filters it can translate as
//! [`Inexact`](datafusion::logical_expr::TableProviderFilterPushDown::Inexact):
//! DataFusion still applies them on top of the scan, so a pre-filter only
//! has to keep every row that may match; it may keep more. Supported:
//! comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`) of a column with a literal
//! (either side), `col LIKE 'prefix%'`, `col IN (literals)` and `BETWEEN`.

use std::cmp::Ordering;

use arrow_schema::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};

use crate::error::Error;
use crate::spec::{Reader, Writer};

/// A parsed value of one field of the row being built.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a [u8]),
}

impl Value<'_> {
    /// `self` compared with `lit`; None when they do not compare (null,
    /// NaN, a number against text): such rows are kept for DataFusion to
    /// decide.
    fn cmp(&self, lit: &Lit) -> Option<Ordering> {
        match (self, lit) {
            (Value::Int(a), Lit::Int(b)) => Some(i128::from(*a).cmp(b)),
            (Value::UInt(a), Lit::Int(b)) => Some(i128::from(*a).cmp(b)),
            (Value::Int(a), Lit::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::UInt(a), Lit::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Lit::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Float(a), Lit::Float(b)) => a.partial_cmp(b),
            (Value::Str(a), Lit::Str(b)) => Some((*a).cmp(b.as_slice())),
            _ => None,
        }
    }
}

/// A literal of a pushed-down filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    Cmp(Operator, Lit),
    Prefix(Vec<u8>),
    In(Vec<Lit>),
    Between(Lit, Lit),
}

/// One pushed-down filter on one column of the table's schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Predicate {
    pub(crate) column: usize,
    test: Test,
}

impl Predicate {
    /// Whether a row whose column holds `value` may match. Null never
    /// matches (SQL comparisons with null are not true); incomparable
    /// values are kept, and so is text that is not UTF-8: the column shows
    /// it repaired (U+FFFD), which the raw bytes cannot be compared as.
    #[inline]
    pub(crate) fn keep(&self, value: Value<'_>) -> bool {
        if let Value::Null = value {
            return false;
        }
        self.test_keeps(value) || matches!(value, Value::Str(s) if !s.is_ascii() && std::str::from_utf8(s).is_err())
    }

    #[inline]
    fn test_keeps(&self, value: Value<'_>) -> bool {
        match &self.test {
            Test::Cmp(op, lit) => match value.cmp(lit) {
                None => true,
                Some(o) => match op {
                    Operator::Eq => o == Ordering::Equal,
                    Operator::NotEq => o != Ordering::Equal,
                    Operator::Lt => o == Ordering::Less,
                    Operator::LtEq => o != Ordering::Greater,
                    Operator::Gt => o == Ordering::Greater,
                    Operator::GtEq => o != Ordering::Less,
                    _ => true,
                },
            },
            Test::Prefix(p) => match value {
                Value::Str(s) => s.starts_with(p),
                _ => true,
            },
            Test::In(lits) => lits.iter().any(|l| value.cmp(l).is_none_or(|o| o == Ordering::Equal)),
            Test::Between(lo, hi) => {
                value.cmp(lo).is_none_or(|o| o != Ordering::Less)
                    && value.cmp(hi).is_none_or(|o| o != Ordering::Greater)
            }
        }
    }

    /// The predicate `expr` stands for over `schema`, when it is one this
    /// module evaluates.
    pub(crate) fn from_expr(expr: &Expr, schema: &Schema) -> Option<Predicate> {
        let column = |e: &Expr| -> Option<usize> {
            match e {
                Expr::Column(c) => schema.index_of(&c.name).ok(),
                _ => None,
            }
        };
        let literal = |e: &Expr, col: usize| -> Option<Lit> {
            match e {
                Expr::Literal(v, _) => lit_of(v, schema.field(col).data_type()),
                _ => None,
            }
        };
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, lit, op) = if let Some(c) = column(left) {
                    (c, literal(right, c)?, *op)
                } else {
                    let c = column(right)?;
                    (c, literal(left, c)?, op.swap()?)
                };
                match op {
                    Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                        Some(Predicate { column: col, test: Test::Cmp(op, lit) })
                    }
                    _ => None,
                }
            }
            Expr::Like(Like { negated: false, expr, pattern, escape_char: None, case_insensitive: false }) => {
                let col = column(expr)?;
                let Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)), _) = pattern.as_ref()
                else {
                    return None;
                };
                let prefix = p.strip_suffix('%')?;
                if prefix.contains(['%', '_', '\\']) || !is_text(schema.field(col).data_type()) {
                    return None;
                }
                Some(Predicate { column: col, test: Test::Prefix(prefix.as_bytes().to_vec()) })
            }
            Expr::InList(list) if !list.negated => {
                let col = column(&list.expr)?;
                let lits = list.list.iter().map(|e| literal(e, col)).collect::<Option<Vec<_>>>()?;
                Some(Predicate { column: col, test: Test::In(lits) })
            }
            Expr::Between(Between { expr, negated: false, low, high }) => {
                let col = column(expr)?;
                Some(Predicate { column: col, test: Test::Between(literal(low, col)?, literal(high, col)?) })
            }
            _ => None,
        }
    }
}

impl Lit {
    fn write(&self, w: &mut Writer) {
        match self {
            Lit::Int(v) => {
                w.u8(0);
                w.i128(*v);
            }
            Lit::Float(v) => {
                w.u8(1);
                w.u64(v.to_bits());
            }
            Lit::Str(b) => {
                w.u8(2);
                w.bytes(b);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Lit, Error> {
        Ok(match r.u8()? {
            0 => Lit::Int(r.i128()?),
            1 => Lit::Float(f64::from_bits(r.u64()?)),
            2 => Lit::Str(r.bytes()?.to_vec()),
            t => return Err(r.bad(format!("literal tag {t}"))),
        })
    }
}

/// The comparison operators a pre-filter evaluates, by their byte in the
/// portable form.
const OPERATORS: [Operator; 6] =
    [Operator::Eq, Operator::NotEq, Operator::Lt, Operator::LtEq, Operator::Gt, Operator::GtEq];

impl Predicate {
    /// Append the portable form (see `crate::spec`).
    pub(crate) fn write(&self, w: &mut Writer) {
        w.len(self.column);
        match &self.test {
            Test::Cmp(op, lit) => {
                w.u8(0);
                // from_expr only makes comparisons of OPERATORS.
                w.u8(OPERATORS.iter().position(|o| o == op).unwrap_or(0) as u8);
                lit.write(w);
            }
            Test::Prefix(p) => {
                w.u8(1);
                w.bytes(p);
            }
            Test::In(lits) => {
                w.u8(2);
                w.len(lits.len());
                for l in lits {
                    l.write(w);
                }
            }
            Test::Between(lo, hi) => {
                w.u8(3);
                lo.write(w);
                hi.write(w);
            }
        }
    }

    /// Read what [`write`](Predicate::write) wrote.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Predicate, Error> {
        let column = r.len()?;
        let test = match r.u8()? {
            0 => {
                let op = r.u8()?;
                let op = *OPERATORS.get(usize::from(op)).ok_or_else(|| r.bad(format!("operator {op}")))?;
                Test::Cmp(op, Lit::read(r)?)
            }
            1 => Test::Prefix(r.bytes()?.to_vec()),
            2 => {
                let n = r.len()?;
                let mut lits = Vec::new();
                for _ in 0..n {
                    lits.push(Lit::read(r)?);
                }
                Test::In(lits)
            }
            3 => Test::Between(Lit::read(r)?, Lit::read(r)?),
            t => return Err(r.bad(format!("filter tag {t}"))),
        };
        Ok(Predicate { column, test })
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// A literal compared with a column of type `column`, when its type fits:
/// numbers with numeric columns (timestamps as microseconds), text with text.
fn lit_of(v: &ScalarValue, column: &DataType) -> Option<Lit> {
    use arrow_schema::TimeUnit;
    match (v, column) {
        (ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)), c)
            if is_text(c) =>
        {
            Some(Lit::Str(s.as_bytes().to_vec()))
        }
        (ScalarValue::TimestampMicrosecond(Some(t), _), DataType::Timestamp(TimeUnit::Microsecond, _)) => {
            Some(Lit::Int(i128::from(*t)))
        }
        (_, c) if c.is_integer() || c.is_floating() => match v {
            ScalarValue::Int8(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::Int16(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::Int32(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::Int64(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::UInt8(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::UInt16(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::UInt32(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::UInt64(Some(x)) => Some(Lit::Int(i128::from(*x))),
            ScalarValue::Float32(Some(x)) if x.is_finite() => Some(Lit::Float(f64::from(*x))),
            ScalarValue::Float64(Some(x)) if x.is_finite() => Some(Lit::Float(*x)),
            _ => None,
        },
        _ => None,
    }
}

/// The pre-filter of one scan: every predicate must keep a row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prefilter {
    /// Per schema column, the predicates on it.
    by_column: Vec<Vec<Predicate>>,
}

impl Prefilter {
    pub(crate) fn new(predicates: Vec<Predicate>, width: usize) -> Prefilter {
        let mut by_column = vec![Vec::new(); width];
        for p in predicates {
            by_column[p.column].push(p);
        }
        Prefilter { by_column }
    }

    /// Every predicate, column by column.
    pub(crate) fn predicates(&self) -> impl Iterator<Item = &Predicate> {
        self.by_column.iter().flatten()
    }

    /// Whether no predicate is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_column.iter().all(Vec::is_empty)
    }

    /// Whether a row whose schema column `column` holds `value` may match.
    #[inline]
    pub(crate) fn keep(&self, column: usize, value: Value<'_>) -> bool {
        match self.by_column.get(column) {
            Some(ps) => ps.iter().all(|p| p.keep(value)),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("status", DataType::UInt16, true),
            Field::new("path", DataType::Utf8View, true),
            Field::new("latency", DataType::Float64, true),
        ])
    }

    #[test]
    fn translates_and_keeps() {
        let s = schema();
        let p = Predicate::from_expr(&col("status").gt_eq(lit(500u16)), &s).unwrap();
        assert!(p.keep(Value::UInt(503)) && p.keep(Value::UInt(500)) && !p.keep(Value::UInt(404)));
        assert!(!p.keep(Value::Null));
        // Literal on the left: 500 <= status.
        let p = Predicate::from_expr(&lit(500i64).lt_eq(col("status")), &s).unwrap();
        assert!(p.keep(Value::UInt(500)) && !p.keep(Value::UInt(499)));
        let p = Predicate::from_expr(&col("path").like(lit("/api/%")), &s).unwrap();
        assert!(p.keep(Value::Str(b"/api/x")) && !p.keep(Value::Str(b"/apx")));
        // Not UTF-8: shown repaired (U+FFFD), so never dropped here.
        assert!(p.keep(Value::Str(b"/ap\xe9")));
        let p = Predicate::from_expr(&col("path").eq(lit("/caf\u{fffd}")), &s).unwrap();
        assert!(p.keep(Value::Str(b"/caf\xe9")) && !p.keep(Value::Str(b"/cafe")));
        assert!(Predicate::from_expr(&col("path").like(lit("%/api")), &s).is_none());
        assert!(Predicate::from_expr(&col("path").like(lit("/a_b%")), &s).is_none());
        let p = Predicate::from_expr(&col("latency").between(lit(0.5), lit(1.0)), &s).unwrap();
        assert!(p.keep(Value::Float(0.5)) && p.keep(Value::Float(1.0)) && !p.keep(Value::Float(1.5)));
        // NaN does not compare: kept for DataFusion to decide.
        assert!(p.keep(Value::Float(f64::NAN)));
        let p = Predicate::from_expr(&col("status").in_list(vec![lit(200u16), lit(304u16)], false), &s).unwrap();
        assert!(p.keep(Value::UInt(304)) && !p.keep(Value::UInt(404)));
        // Text literals never filter numbers, and unknown columns are not pushed.
        assert!(Predicate::from_expr(&col("status").eq(lit("200")), &s).is_none());
        assert!(Predicate::from_expr(&col("nope").eq(lit(1)), &s).is_none());
        assert!(Predicate::from_expr(&col("status").in_list(vec![lit(1)], true), &s).is_none());
    }
}
