//! The delimited-field splitter against a byte-by-byte reader, and the
//! general features job's record accounting.

use arrow_array::{Array, UInt64Array};
use pagemill_engine::Runner;
use pagemill_features::{Dialect, FeatureSpec, FieldError, split_fields};
use pagemill_mmap::Source;
use pagemill_split::{Csv, Lines, RecordFormat};

use crate::Data;

/// RFC 4180 fields byte by byte: a field that starts with the quote runs to
/// the next single quote (doubled quotes are one quote of content) and must
/// be followed by the delimiter or the end; a quote anywhere else is an
/// error. Without a quote byte, only delimiters matter.
pub fn reference_fields(record: &[u8], delimiter: u8, quote: Option<u8>) -> Result<Vec<Vec<u8>>, FieldError> {
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = Vec::new();
        if quote.is_some() && record.get(i) == quote.as_ref() {
            i += 1;
            loop {
                match record.get(i) {
                    None => return Err(FieldError::UnclosedQuote),
                    Some(&c) if Some(c) == quote && record.get(i + 1) == Some(&c) => {
                        field.push(c);
                        i += 2;
                    }
                    Some(&c) if Some(c) == quote => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            match record.get(i) {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(&c) if c == delimiter => i += 1,
                Some(_) => return Err(FieldError::BadQuote),
            }
        } else {
            loop {
                match record.get(i) {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(&c) if c == delimiter => {
                        i += 1;
                        break;
                    }
                    Some(&c) if Some(c) == quote => return Err(FieldError::BadQuote),
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// The fields `split_fields` finds in `record`, unescaped; panics unless each
/// is a subslice of the record and nothing is escaped without quoting.
pub fn library_fields(record: &[u8], delimiter: u8, quote: Option<u8>) -> Result<Vec<Vec<u8>>, FieldError> {
    let mut out = Vec::new();
    split_fields(record, delimiter, quote, &mut out)?;
    let mut scratch = Vec::new();
    for f in &out {
        let inside = f.bytes.as_ptr_range();
        let whole = record.as_ptr_range();
        assert!(whole.start <= inside.start && inside.end <= whole.end, "a field is a subslice of its record");
        assert!(quote.is_some() || !f.escaped, "nothing is escaped without quoting");
    }
    Ok(out.iter().map(|f| f.value(quote.unwrap_or(0), &mut scratch).to_vec()).collect())
}

/// How many lines a reader that takes a quote inside an unquoted field for
/// text (Python's `csv`) cuts `record` into; a record that ends inside a
/// quoted field is cut into the lines before the line that opens it plus
/// one piece for the rest, and is `None` when its first line opens it.
pub fn reference_lines(record: &[u8], delimiter: u8, q: u8) -> Option<usize> {
    let (mut newlines, mut in_quotes, mut at_start) = (0, false, true);
    let mut i = 0;
    while i < record.len() {
        let c = record[i];
        if in_quotes {
            if c == q {
                if record.get(i + 1) == Some(&q) {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if c == q && at_start {
            in_quotes = true;
            at_start = false;
        } else if c == delimiter || c == b'\n' {
            newlines += usize::from(c == b'\n');
            at_start = true;
        } else {
            at_start = false;
        }
        i += 1;
    }
    // A line end that ends the record (the input's last, taken in by an
    // unclosed quote) starts no line.
    if in_quotes {
        return (newlines > 0).then_some(newlines + 1);
    }
    let tail = usize::from(newlines == 0 || record.last() != Some(&b'\n'));
    Some(newlines + tail)
}

/// Rows of the features job's output plus its malformed records.
fn accounted(dialect: Dialect, input: &[u8], threads: usize, chunk: usize) -> (u64, Vec<(&'static str, u64)>) {
    let inputs = [Source::from_bytes("fuzz.csv", input.to_vec())];
    let mut spec = FeatureSpec::delimited(dialect);
    spec.key("0").value("1").distinct("2");
    // The width comes from the first record: narrower inputs get key 0 only.
    let job = spec.build(&inputs).or_else(|_| {
        let mut spec = FeatureSpec::delimited(dialect);
        spec.key("0");
        spec.build(&inputs)
    });
    let job = job.expect("column 0 always exists without a header");
    let mut runner = Runner::new();
    runner.threads(threads).chunk_size(chunk);
    let outcome = runner.run(&job, &inputs).expect("a lenient features run does not fail");
    let rows = outcome.output.column_by_name("rows").expect("a rows column");
    let rows = rows.as_any().downcast_ref::<UInt64Array>().expect("rows are UInt64");
    assert_eq!(rows.null_count(), 0);
    (rows.values().iter().sum(), outcome.malformed.counts().collect())
}

/// Byte 0 picks the delimiter (`,` `;` tab `|`) and whether `"` quotes;
/// byte 1 a chunk size. The rest is the input: each record is split by
/// `split_fields` and by the reference, then the whole input runs through
/// the features job (key column 0, value 1, distinct 2, no header).
pub fn csv_fields(data: &[u8]) {
    let mut d = Data(data);
    let (sel, chunk) = (d.byte(), usize::from(d.byte()) + 1);
    let input = d.rest();
    let delimiter = [b',', b';', b'\t', b'|'][usize::from(sel % 4)];
    let quote = if sel & 4 == 0 { Some(b'"') } else { None };
    let csv = Csv::new().with_quote(quote.unwrap_or(b'"'));
    let records: Vec<&[u8]> = match quote {
        Some(_) => csv.records(input).map(|r| r.bytes).collect(),
        None => Lines.records(input).map(|r| r.bytes).collect(),
    };
    for record in &records {
        assert_eq!(
            library_fields(record, delimiter, quote),
            reference_fields(record, delimiter, quote),
            "fields of {:?}",
            String::from_utf8_lossy(record)
        );
    }

    // A record that does not split and holds newlines was joined by a
    // stray quote: the job reads each of its lines as a record.
    let expected: usize = records
        .iter()
        .map(|r| match quote {
            Some(q) if reference_fields(r, delimiter, quote).is_err() => {
                reference_lines(r, delimiter, q).map_or(1, |n| n)
            }
            _ => 1,
        })
        .sum();
    let dialect = Dialect::csv().delimiter(delimiter).quote(quote).header(false);
    let (rows, bad) = accounted(dialect, input, 1, chunk);
    let malformed: u64 = bad.iter().map(|(_, n)| n).sum();
    assert_eq!(rows + malformed, expected as u64, "every record is a row or malformed: {bad:?}");
    assert_eq!(accounted(dialect, input, 2, chunk * 5 + 3), (rows, bad), "2 threads, other chunks");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_reads_rfc_4180() {
        let v = |f: &[&str]| Ok(f.iter().map(|s| s.as_bytes().to_vec()).collect());
        assert_eq!(reference_fields(b"a,\"b,\"\"c\",", b',', Some(b'"')), v(&["a", "b,\"c", ""]));
        assert_eq!(reference_fields(b"a,\"b", b',', Some(b'"')), Err(FieldError::UnclosedQuote));
        assert_eq!(reference_fields(b"a\"b", b',', Some(b'"')), Err(FieldError::BadQuote));
        assert_eq!(reference_fields(b"a\"b;c", b';', None), v(&["a\"b", "c"]));
    }
}
