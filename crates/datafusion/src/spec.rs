//! What a table is made of, and the byte form that rebuilds a table (and,
//! with `crate::source`, a scan) in another process: the payload of DataFusion's and Ballista's
//! extension codecs (`pagemill-ballista`).
//!
//! The form names the inputs by path and records their lengths, the
//! resolved options (a delimited table's schema as inferred, so every
//! process reads the same columns) and the chunk plan itself, so a process
//! that rebuilds a scan neither re-infers nor re-plans: it opens the same
//! files, checks that they have the lengths the plan was made for, and
//! parses the chunks it is given.

use std::ops::Range;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pagemill_features::{BinaryField, Dialect, Layout};
use pagemill_logs::{FormatParts, JsonTarget, LogFormat, TimeUnit};
use pagemill_mmap::{OpenOptions, Source};

use crate::decode::{Decoder, Shape};
use crate::delimited::DelimitedOptions;
use crate::error::Error;
use crate::table::{MAX_CHUNK, PagemillTable};

/// The options a table was built from, resolved.
#[derive(Clone, Debug)]
pub(crate) enum Spec {
    Logs(LogFormat),
    /// The schema is `Some` once assembled.
    Delimited(DelimitedOptions),
    Brc,
    Binary(Layout),
}

/// A table's parts, made from its [`Spec`].
pub(crate) struct Assembled {
    pub(crate) kind: &'static str,
    pub(crate) shape: Shape,
    pub(crate) decoder: Arc<dyn Decoder>,
    pub(crate) spec: Spec,
}

impl Spec {
    /// The parts of a table of this spec over `sources` (a delimited table
    /// infers its schema from the first input unless it has one).
    pub(crate) fn assemble(self, sources: &[Source]) -> Result<Assembled, Error> {
        Ok(match self {
            Spec::Logs(format) => {
                let (shape, decoder) = crate::logs::assemble(format.clone());
                Assembled { kind: "logs", shape, decoder, spec: Spec::Logs(format) }
            }
            Spec::Delimited(options) => {
                let (shape, decoder, options) = crate::delimited::assemble(options, sources)?;
                Assembled { kind: "delimited", shape, decoder, spec: Spec::Delimited(options) }
            }
            Spec::Brc => {
                let (shape, decoder) = crate::records::assemble_brc();
                Assembled { kind: "1brc", shape, decoder, spec: Spec::Brc }
            }
            Spec::Binary(layout) => {
                let (shape, decoder) = crate::records::assemble_binary(layout.clone());
                Assembled { kind: "binary", shape, decoder, spec: Spec::Binary(layout) }
            }
        })
    }
}

const TABLE_MAGIC: &[u8; 4] = b"PMT1";

impl PagemillTable {
    /// This table in a byte form that [`from_bytes`](PagemillTable::from_bytes)
    /// rebuilds in another process: the input paths and lengths, the
    /// resolved options (a delimited table's schema included) and the chunk
    /// plan. Extension codecs (`pagemill-ballista`) send it to a
    /// scheduler. Fails for inputs without a path (standard input, bytes
    /// in memory), which another process cannot open.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::default();
        w.raw(TABLE_MAGIC);
        write_table(self, &mut w)?;
        Ok(w.buf)
    }

    /// Rebuild a table from [`to_bytes`](PagemillTable::to_bytes): open the
    /// same paths (memory-mapped; compressed inputs decompressed) and check
    /// that each has the length it had when the plan was made. The chunk
    /// plan is taken as given, not re-made.
    pub fn from_bytes(bytes: &[u8]) -> Result<PagemillTable, Error> {
        let mut r = Reader::new(bytes);
        r.magic(TABLE_MAGIC, "table")?;
        let table = read_table(&mut r)?;
        r.end()?;
        Ok(table)
    }
}

pub(crate) fn write_table(table: &PagemillTable, w: &mut Writer) -> Result<(), Error> {
    let core = table.core();
    match &core.spec {
        Spec::Logs(format) => {
            w.u8(0);
            let FormatParts { name, syntax, json_fields } = format.to_parts();
            w.str(&name);
            w.str(&syntax);
            w.len(json_fields.len());
            for (target, path, unit) in json_fields {
                w.str(target.name());
                w.u8(match unit {
                    TimeUnit::Seconds => 0,
                    TimeUnit::Millis => 1,
                    TimeUnit::Micros => 2,
                    TimeUnit::Nanos => 3,
                    other => return Err(Error::NotPortable(format!("the time unit {other:?}"))),
                });
                w.str(&path);
            }
        }
        Spec::Delimited(options) => {
            w.u8(1);
            let d = &options.dialect;
            w.u8(d.get_delimiter());
            match d.get_quote() {
                Some(q) => {
                    w.u8(1);
                    w.u8(q);
                }
                None => w.u8(0),
            }
            w.u8(u8::from(d.has_header()));
            w.len(options.nulls.len());
            for n in &options.nulls {
                w.bytes(n);
            }
            let schema = options.schema.as_ref().unwrap_or(&core.shape.schema);
            w.len(schema.fields().len());
            for f in schema.fields() {
                w.str(f.name());
                w.u8(match f.data_type() {
                    DataType::Int64 => 0,
                    DataType::Float64 => 1,
                    _ => 2,
                });
                w.u8(u8::from(f.is_nullable()));
            }
        }
        Spec::Brc => w.u8(2),
        Spec::Binary(layout) => {
            w.u8(3);
            w.len(layout.record_size());
            w.len(layout.fields().len());
            for f in layout.fields() {
                w.str(&f.to_string());
            }
        }
    }
    w.len(core.sources.len());
    for s in core.sources.iter() {
        // Absolute, so a process started elsewhere opens the same file.
        let path = s.path().and_then(|p| std::path::absolute(p).ok());
        let path = path.as_deref().and_then(|p| p.to_str()).ok_or_else(|| {
            Error::NotPortable(format!("input {} has no UTF-8 path another process could open", s.name()))
        })?;
        w.str(path);
        w.u64(s.len() as u64);
    }
    w.len(core.chunk_size);
    w.len(core.chunks.len());
    for (input, range) in &core.chunks {
        w.len(*input);
        w.len(range.start);
        w.len(range.end - range.start);
    }
    Ok(())
}

pub(crate) fn read_table(r: &mut Reader<'_>) -> Result<PagemillTable, Error> {
    let spec = match r.u8()? {
        0 => {
            let name = r.str()?.to_string();
            let syntax = r.str()?.to_string();
            let n = r.len()?;
            let mut json_fields = Vec::new();
            for _ in 0..n {
                let target = r.str()?;
                let target = JsonTarget::from_name(target).ok_or_else(|| r.bad(format!("JSON target {target:?}")))?;
                let unit = match r.u8()? {
                    0 => TimeUnit::Seconds,
                    1 => TimeUnit::Millis,
                    2 => TimeUnit::Micros,
                    3 => TimeUnit::Nanos,
                    u => return Err(r.bad(format!("time unit {u}"))),
                };
                json_fields.push((target, r.str()?.to_string(), unit));
            }
            Spec::Logs(LogFormat::from_parts(&FormatParts { name, syntax, json_fields })?)
        }
        1 => {
            let delimiter = r.u8()?;
            let quote = match r.u8()? {
                0 => None,
                1 => Some(r.u8()?),
                t => return Err(r.bad(format!("quote tag {t}"))),
            };
            let header = r.u8()? != 0;
            let n = r.len()?;
            let mut nulls = Vec::new();
            for _ in 0..n {
                nulls.push(r.bytes()?.to_vec());
            }
            let n = r.len()?;
            let mut fields = Vec::new();
            for _ in 0..n {
                let name = r.str()?.to_string();
                let t = match r.u8()? {
                    0 => DataType::Int64,
                    1 => DataType::Float64,
                    2 => DataType::Utf8View,
                    t => return Err(r.bad(format!("column type {t}"))),
                };
                fields.push(Field::new(name, t, r.u8()? != 0));
            }
            let schema: SchemaRef = Arc::new(Schema::new(fields));
            let dialect = Dialect::csv().delimiter(delimiter).quote(quote).header(header);
            Spec::Delimited(DelimitedOptions::new(dialect).nulls(nulls).schema(schema))
        }
        2 => Spec::Brc,
        3 => {
            let size = r.len()?;
            let n = r.len()?;
            let mut fields = Vec::new();
            for _ in 0..n {
                fields.push(r.str()?.parse::<BinaryField>()?);
            }
            Spec::Binary(Layout::new(size, fields)?)
        }
        t => return Err(r.bad(format!("table kind {t}"))),
    };
    let n = r.len()?;
    let mut sources = Vec::new();
    for _ in 0..n {
        let path = r.str()?.to_string();
        let len = r.u64()?;
        let source = OpenOptions::new().open(&path).map_err(Error::Open)?;
        if source.len() as u64 != len {
            return Err(Error::Changed(format!(
                "{path} has {} bytes here but had {len} where the plan was made; every process must read the same \
                 files",
                source.len()
            )));
        }
        sources.push(source);
    }
    let chunk_size = r.len()?.clamp(1, MAX_CHUNK);
    let n = r.len()?;
    let mut chunks: Vec<(usize, Range<usize>)> = Vec::new();
    for _ in 0..n {
        let (input, start, len) = (r.len()?, r.len()?, r.len()?);
        let end = start.checked_add(len);
        match (sources.get(input), end) {
            (Some(s), Some(end)) if end <= s.len() => chunks.push((input, start..end)),
            _ => return Err(r.bad(format!("chunk {start}+{len} of input {input}"))),
        }
    }
    PagemillTable::build(spec, sources, Some((chunk_size, chunks)))
}

/// Appends the byte form: LEB128 lengths, little-endian fixed-width numbers,
/// length-prefixed byte strings.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }

    pub(crate) fn i128(&mut self, v: i128) {
        self.raw(&v.to_le_bytes());
    }

    /// A length or index, as LEB128.
    pub(crate) fn len(&mut self, v: usize) {
        let mut v = v as u64;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.raw(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Reads what [`Writer`] wrote; anything else is [`Error::BadPlan`].
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::BadPlan(format!("{what} at byte {}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| self.bad("truncated"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    pub(crate) fn magic(&mut self, magic: &[u8; 4], what: &str) -> Result<(), Error> {
        if self.take(4).ok() != Some(&magic[..]) {
            return Err(Error::BadPlan(format!("not a pagemill {what} (or one from another version)")));
        }
        Ok(())
    }

    pub(crate) fn end(&self) -> Result<(), Error> {
        if self.pos == self.buf.len() { Ok(()) } else { Err(self.bad("trailing bytes")) }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub(crate) fn i128(&mut self) -> Result<i128, Error> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }

    pub(crate) fn len(&mut self) -> Result<usize, Error> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return usize::try_from(v).map_err(|_| self.bad("length out of range"));
            }
        }
        Err(self.bad("length out of range"))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.len()?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, Error> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.bad("text that is not UTF-8"))
    }
}
