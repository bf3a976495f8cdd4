use std::fmt;

use crate::job::Chunk;

/// Malformed records seen by a job: a count per kind and the first few
/// samples of each kind, in input order.
///
/// A job's [`map`](crate::Job::map) reports each bad record with
/// [`Malformed::report`]; the runner merges the per-chunk accounts in chunk
/// order, so the samples kept are the first ones in the input, whatever the
/// thread count, and fills in each sample's input name and line number at the
/// end of the run.
#[derive(Clone, Debug)]
pub struct Malformed {
    /// Count per kind, kept sorted by kind.
    counts: Vec<(&'static str, u64)>,
    samples: Vec<Sample>,
    max_samples: usize,
    input: usize,
    base: u64,
}

/// One malformed record, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// What is wrong, as a short stable kind name (`"bad-number"`).
    pub kind: &'static str,
    /// Index of the input.
    pub input: usize,
    /// The input's name (filled in by the runner at the end of a run).
    pub source: String,
    /// Byte offset of the record's start in its input.
    pub offset: u64,
    /// 1-based line number of the record's start in its input (filled in by
    /// the runner at the end of a run; 0 until then, and for records of a
    /// format without lines, such as fixed-width binary records).
    pub line: u64,
    /// The record's text: at most [`Sample::MAX_TEXT`] bytes, invalid UTF-8
    /// replaced, control characters escaped.
    pub text: String,
}

impl Sample {
    /// How many bytes of a record a sample keeps.
    pub const MAX_TEXT: usize = 160;
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {} at byte {}: {}", self.source, self.kind, self.offset, self.text)
        } else {
            write!(f, "{}:{}: {} at byte {}: {}", self.source, self.line, self.kind, self.offset, self.text)
        }
    }
}

/// How many samples of each kind are kept by default.
pub(crate) const DEFAULT_SAMPLES: usize = 5;

impl Default for Malformed {
    fn default() -> Malformed {
        Malformed::new(DEFAULT_SAMPLES)
    }
}

impl Malformed {
    /// An empty account that keeps up to `max_samples` samples per kind.
    pub fn new(max_samples: usize) -> Malformed {
        Malformed { counts: Vec::new(), samples: Vec::new(), max_samples, input: 0, base: 0 }
    }

    /// An account rebuilt from its parts, for example those another process
    /// sent ([`counts`](Malformed::counts) and [`samples`](Malformed::samples),
    /// in input order): kinds with a zero count are dropped, and at most
    /// `max_samples` samples of each kind are kept.
    pub fn from_parts(
        max_samples: usize,
        counts: impl IntoIterator<Item = (&'static str, u64)>,
        samples: impl IntoIterator<Item = Sample>,
    ) -> Malformed {
        // Samples first: `merge` keeps the first few of each kind.
        let mut malformed = Malformed::new(max_samples);
        let mut later = Malformed::new(max_samples);
        later.samples = samples.into_iter().collect();
        malformed.merge(later);
        for (kind, n) in counts {
            if n > 0 {
                let count = malformed.count_mut(kind);
                *count = count.saturating_add(n);
            }
        }
        // A sample of a kind without a count would make the summary lie.
        let counts = std::mem::take(&mut malformed.counts);
        malformed.samples.retain(|s| counts.iter().any(|(k, _)| *k == s.kind));
        malformed.counts = counts;
        malformed
    }

    /// How many samples of each kind this account keeps.
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// An empty account for records of `chunk`: [`report`](Malformed::report)
    /// takes offsets relative to the chunk, samples keep the chunk's input
    /// and absolute byte offset. (The runner makes one for every chunk it
    /// maps; callers that map chunks themselves, like table scans, use this.)
    pub fn for_chunk(chunk: &Chunk<'_>, max_samples: usize) -> Malformed {
        Malformed { input: chunk.input, base: chunk.offset as u64, ..Malformed::new(max_samples) }
    }

    fn count_mut(&mut self, kind: &'static str) -> &mut u64 {
        let i = match self.counts.binary_search_by(|(k, _)| k.cmp(&kind)) {
            Ok(i) => i,
            Err(i) => {
                self.counts.insert(i, (kind, 0));
                i
            }
        };
        &mut self.counts[i].1
    }

    /// Report a malformed record of `kind` that starts `offset` bytes into the
    /// current chunk and reads `text`.
    pub fn report(&mut self, kind: &'static str, offset: usize, text: &[u8]) {
        let count = self.count_mut(kind);
        *count += 1;
        if *count <= self.max_samples as u64 {
            self.samples.push(Sample {
                kind,
                input: self.input,
                source: String::new(),
                offset: self.base + offset as u64,
                line: 0,
                text: sample_text(text),
            });
        }
    }

    /// The total number of malformed records.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// Whether no malformed record was reported.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The count of each kind, sorted by kind.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().copied()
    }

    /// The count of one kind.
    pub fn count(&self, kind: &str) -> u64 {
        self.counts.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
    }

    /// The samples kept: the first few of each kind, in input order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub(crate) fn samples_mut(&mut self) -> &mut [Sample] {
        &mut self.samples
    }

    /// Merge the account of later records into this one.
    pub fn merge(&mut self, later: Malformed) {
        let mut kept: Vec<(&'static str, u64)> =
            self.counts.iter().map(|&(k, n)| (k, n.min(self.max_samples as u64))).collect();
        for sample in later.samples {
            let kept_of_kind = match kept.iter_mut().find(|(k, _)| *k == sample.kind) {
                Some(entry) => entry,
                None => {
                    kept.push((sample.kind, 0));
                    kept.last_mut().expect("just pushed")
                }
            };
            if kept_of_kind.1 < self.max_samples as u64 {
                kept_of_kind.1 += 1;
                self.samples.push(sample);
            }
        }
        for (kind, n) in later.counts {
            *self.count_mut(kind) += n;
        }
    }
}

impl fmt::Display for Malformed {
    /// A summary for stderr: one line of counts, then one line per sample.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed records: {}", self.total())?;
        let kinds: Vec<String> = self.counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        if !kinds.is_empty() {
            write!(f, " ({})", kinds.join(", "))?;
        }
        for sample in &self.samples {
            write!(f, "\n  {sample}")?;
        }
        Ok(())
    }
}

/// The printable text of a record: its first bytes, lossily decoded, with
/// what Rust's debug escaping escapes (control characters, line and
/// paragraph separators, bidirectional overrides, backslashes) escaped so
/// a sample stays on one line and reads as what it is. Quotes stay as they
/// are: log and CSV records are full of them.
fn sample_text(bytes: &[u8]) -> String {
    let cut = bytes.len().min(Sample::MAX_TEXT);
    let mut text = String::with_capacity(cut);
    for c in String::from_utf8_lossy(&bytes[..cut]).chars() {
        if c == '"' || c == '\'' {
            text.push(c);
        } else {
            text.extend(c.escape_debug());
        }
    }
    if cut < bytes.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(input: usize, offset: usize) -> Chunk<'static> {
        Chunk { input, index: 0, offset, bytes: b"" }
    }

    #[test]
    fn merge_keeps_first_samples_per_kind_and_sums_counts() {
        let mut a = Malformed::for_chunk(&chunk(0, 0), 2);
        a.report("x", 1, b"a1");
        a.report("x", 2, b"a2");
        a.report("x", 3, b"a3");
        let mut b = Malformed::for_chunk(&chunk(0, 100), 2);
        b.report("x", 1, b"b1");
        b.report("y", 2, b"b2");
        a.merge(b);
        assert_eq!(a.count("x"), 4);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.total(), 5);
        let texts: Vec<_> = a.samples().iter().map(|s| (s.text.as_str(), s.offset)).collect();
        assert_eq!(texts, [("a1", 1), ("a2", 2), ("b2", 102)]);
    }

    #[test]
    fn from_parts_rebuilds_an_account() {
        let mut a = Malformed::for_chunk(&chunk(1, 10), 2);
        a.report("x", 1, b"a1");
        a.report("y", 2, b"a2");
        a.report("x", 3, b"a3");
        a.report("x", 4, b"a4");
        let counts: Vec<_> = a.counts().collect();
        let mut samples = a.samples().to_vec();
        let back = Malformed::from_parts(2, counts.clone(), samples.clone());
        assert_eq!(back.counts().collect::<Vec<_>>(), counts);
        assert_eq!(back.samples(), a.samples());
        // Too many samples of a kind, and samples of a kind never counted,
        // are dropped.
        samples.push(Sample { kind: "z", ..samples[0].clone() });
        let back = Malformed::from_parts(1, counts, samples);
        let kinds: Vec<_> = back.samples().iter().map(|s| (s.kind, s.offset)).collect();
        assert_eq!(kinds, [("x", 11), ("y", 12)]);
    }

    #[test]
    fn sample_text_is_one_line_and_bounded() {
        let long = vec![b'z'; 1000];
        assert_eq!(sample_text(b"a\nb\0\xff"), "a\\nb\\0\u{fffd}");
        assert_eq!(sample_text(br#"{"a":"x\"y'"}"#), r#"{"a":"x\\"y'"}"#);
        assert_eq!(sample_text("a\u{2028}b\u{202e}c".as_bytes()), "a\\u{2028}b\\u{202e}c");
        assert_eq!(sample_text(&long).chars().count(), Sample::MAX_TEXT + 1);
    }
}
