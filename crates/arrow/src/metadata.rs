//! Run metadata stored in a result's schema: which pagemill, which job with
//! which options, over which inputs, and how many records were malformed.

use std::collections::HashMap;
use std::time::SystemTime;

use arrow_schema::Schema;
use pagemill_engine::Malformed;
use pagemill_mmap::Source;
use serde_json::{Value, json};

/// Schema metadata key: the pagemill version that wrote the result.
pub const KEY_VERSION: &str = "pagemill.version";
/// Schema metadata key: the job's name (`count`, `logs`, ...).
pub const KEY_JOB: &str = "pagemill.job";
/// Schema metadata key: the job's options, as the job spells them.
pub const KEY_OPTIONS: &str = "pagemill.options";
/// Schema metadata key: a JSON array of the inputs, each
/// `{"path": …, "size": bytes, "modified": RFC 3339 UTC or null}`.
pub const KEY_INPUTS: &str = "pagemill.inputs";
/// Schema metadata key: a JSON object `{"total": n, "by_kind": {kind: n}}`.
pub const KEY_MALFORMED: &str = "pagemill.malformed";

/// What a result was computed from, as stored in its schema's metadata
/// (under the `pagemill.` keys) so that any Arrow or Parquet reader can tell.
///
/// Build one with [`RunMetadata::new`] at the end of a run, put it into the
/// result schema with [`RunMetadata::apply`] (or [`attach_metadata`] in one
/// step), and read it back from a result file's schema with
/// [`RunMetadata::from_schema`].
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use pagemill_arrow::{RunMetadata, attach_metadata};
/// use pagemill_engine::Malformed;
/// use pagemill_mmap::Source;
///
/// let inputs = [Source::from_bytes("inline", b"a\nb\n".to_vec())];
/// let schema = Schema::new(vec![Field::new("records", DataType::UInt64, false)]);
/// let schema = attach_metadata(schema, "count", "records=lines", &inputs, &Malformed::default());
/// assert_eq!(schema.metadata()["pagemill.job"], "count");
///
/// let back = RunMetadata::from_schema(&schema).unwrap();
/// assert_eq!(back.inputs[0].path, "inline");
/// assert_eq!(back.inputs[0].size, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunMetadata {
    /// The pagemill version that computed the result.
    pub version: String,
    /// The job's name.
    pub job: String,
    /// The job's options, in the job's own words (`records=csv`).
    pub options: String,
    /// The inputs, in the order the job read them.
    pub inputs: Vec<InputMetadata>,
    /// Malformed records per kind, sorted by kind.
    pub malformed: Vec<(String, u64)>,
}

/// One input of a run, as recorded in [`RunMetadata`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputMetadata {
    /// The input's path, or its name (`<stdin>`) if it has none.
    pub path: String,
    /// The number of bytes read: decompressed bytes for an input that was
    /// decompressed before the run; for one streamed through it
    /// (`OpenOptions::stream`), bytes on disk, or bytes received from a pipe.
    pub size: u64,
    /// The file's modification time, RFC 3339 in UTC, if it is a file.
    pub modified: Option<String>,
}

impl RunMetadata {
    /// The metadata of a run of `job` with `options` over `inputs`, with the
    /// malformed-record counts of `malformed`. Sizes are the bytes each
    /// source holds; modification times are read from each input's path.
    pub fn new(job: &str, options: &str, inputs: &[Source], malformed: &Malformed) -> RunMetadata {
        RunMetadata {
            version: env!("CARGO_PKG_VERSION").to_string(),
            job: job.to_string(),
            options: options.to_string(),
            inputs: inputs.iter().map(InputMetadata::of).collect(),
            malformed: malformed.counts().map(|(kind, n)| (kind.to_string(), n)).collect(),
        }
    }

    /// The total number of malformed records.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().map(|(_, n)| n).sum()
    }

    /// The metadata as schema key-value pairs.
    pub fn to_map(&self) -> HashMap<String, String> {
        let inputs: Vec<Value> =
            self.inputs.iter().map(|i| json!({"path": i.path, "size": i.size, "modified": i.modified})).collect();
        let by_kind: serde_json::Map<String, Value> =
            self.malformed.iter().map(|(k, n)| (k.clone(), Value::from(*n))).collect();
        HashMap::from([
            (KEY_VERSION.to_string(), self.version.clone()),
            (KEY_JOB.to_string(), self.job.clone()),
            (KEY_OPTIONS.to_string(), self.options.clone()),
            (KEY_INPUTS.to_string(), Value::Array(inputs).to_string()),
            (
                KEY_MALFORMED.to_string(),
                json!({"total": self.malformed_total(), "by_kind": Value::Object(by_kind)}).to_string(),
            ),
        ])
    }

    /// `schema` with this metadata added; its other metadata is kept, older
    /// `pagemill.` entries are replaced.
    pub fn apply(&self, schema: Schema) -> Schema {
        let mut metadata = schema.metadata().clone();
        metadata.extend(self.to_map());
        schema.with_metadata(metadata)
    }

    /// The run metadata stored in `schema`, if it has a complete and
    /// well-formed set of `pagemill.` entries.
    pub fn from_schema(schema: &Schema) -> Option<RunMetadata> {
        let m = schema.metadata();
        let inputs: Value = serde_json::from_str(m.get(KEY_INPUTS)?).ok()?;
        let inputs = inputs
            .as_array()?
            .iter()
            .map(|i| {
                Some(InputMetadata {
                    path: i.get("path")?.as_str()?.to_string(),
                    size: i.get("size")?.as_u64()?,
                    modified: i.get("modified").and_then(Value::as_str).map(str::to_string),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let malformed: Value = serde_json::from_str(m.get(KEY_MALFORMED)?).ok()?;
        let malformed = malformed
            .get("by_kind")?
            .as_object()?
            .iter()
            .map(|(k, n)| Some((k.clone(), n.as_u64()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(RunMetadata {
            version: m.get(KEY_VERSION)?.clone(),
            job: m.get(KEY_JOB)?.clone(),
            options: m.get(KEY_OPTIONS)?.clone(),
            inputs,
            malformed,
        })
    }
}

impl RunMetadata {
    /// The metadata of a result merged from results with these metadata
    /// (`pagemill merge`): the first one's job and options, every input in
    /// order, malformed counts added up per kind, this pagemill's version.
    /// `None` without any.
    pub fn merged(parts: &[RunMetadata]) -> Option<RunMetadata> {
        let first = parts.first()?;
        let mut malformed: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for (kind, n) in parts.iter().flat_map(|p| &p.malformed) {
            *malformed.entry(kind.clone()).or_default() += n;
        }
        Some(RunMetadata {
            version: env!("CARGO_PKG_VERSION").to_string(),
            job: first.job.clone(),
            options: first.options.clone(),
            inputs: parts.iter().flat_map(|p| p.inputs.iter().cloned()).collect(),
            malformed: malformed.into_iter().collect(),
        })
    }
}

impl InputMetadata {
    fn of(source: &Source) -> InputMetadata {
        let path = source.path().map_or_else(|| source.name().to_string(), |p| p.display().to_string());
        let modified = source.path().and_then(|p| std::fs::metadata(p).ok()).and_then(|m| m.modified().ok());
        // A streamed input's decompressed size is not known before the
        // run: its size on disk, or the bytes received from a pipe, stand in.
        let size = source.stored_len().or(source.received()).unwrap_or(0);
        InputMetadata { path, size, modified: modified.map(rfc3339) }
    }
}

/// A time as RFC 3339 in UTC with nanoseconds, the precision file systems
/// keep.
fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `schema` with the [`RunMetadata`] of a run of `job` with `options` over
/// `inputs` attached: the function each job calls on its result schema.
pub fn attach_metadata(schema: Schema, job: &str, options: &str, inputs: &[Source], malformed: &Malformed) -> Schema {
    RunMetadata::new(job, options, inputs, malformed).apply(schema)
}

#[cfg(test)]
mod tests {
    use arrow_schema::{DataType, Field};

    use super::*;

    #[test]
    fn metadata_round_trips_with_files_and_malformed_counts() {
        let dir = std::env::temp_dir().join(format!("pagemill-arrow-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in \"quoted\".txt");
        std::fs::write(&path, b"1\n2\n3\n").unwrap();
        let inputs =
            [pagemill_mmap::OpenOptions::new().open(&path).unwrap(), Source::from_bytes("<stdin>", vec![0; 9])];
        let malformed = pagemill_engine::Runner::new()
            .run(&pagemill_engine::CountRecords::new(pagemill_split::Fixed::new(2)).expect_record_size(2), &inputs)
            .unwrap()
            .malformed;
        assert_eq!(malformed.count("short-record"), 1);

        let schema = Schema::new(vec![Field::new("n", DataType::UInt64, false)])
            .with_metadata(HashMap::from([("other".to_string(), "kept".to_string())]));
        let schema = attach_metadata(schema, "count", "records=fixed:2", &inputs, &malformed);
        assert_eq!(schema.metadata()["other"], "kept");
        assert_eq!(schema.metadata()[KEY_MALFORMED], r#"{"by_kind":{"short-record":1},"total":1}"#);

        let back = RunMetadata::from_schema(&schema).unwrap();
        assert_eq!(back.version, env!("CARGO_PKG_VERSION"));
        assert_eq!((back.job.as_str(), back.options.as_str()), ("count", "records=fixed:2"));
        assert_eq!(back.malformed, [("short-record".to_string(), 1)]);
        assert_eq!(back.inputs.len(), 2);
        assert_eq!(back.inputs[0].path, path.display().to_string());
        assert_eq!(back.inputs[0].size, 6);
        let modified = back.inputs[0].modified.as_deref().unwrap();
        let expected = rfc3339(std::fs::metadata(&path).unwrap().modified().unwrap());
        assert_eq!(modified, expected);
        assert!(modified.ends_with('Z') && modified.len() > 20, "{modified}");
        assert_eq!(back.inputs[1], InputMetadata { path: "<stdin>".into(), size: 9, modified: None });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merged_metadata_lists_every_input_and_adds_malformed_counts() {
        let input = |path: &str, size| InputMetadata { path: path.into(), size, modified: None };
        let a = RunMetadata {
            version: "0.0.1".into(),
            job: "logs".into(),
            options: "group-by=[Path]".into(),
            inputs: vec![input("mon.log", 10)],
            malformed: vec![("bad-status".into(), 2), ("truncated".into(), 1)],
        };
        let b = RunMetadata {
            inputs: vec![input("tue.log", 20), input("wed.log", 5)],
            malformed: vec![("bad-status".into(), 3)],
            ..a.clone()
        };
        let m = RunMetadata::merged(&[a, b]).unwrap();
        assert_eq!(m.inputs.iter().map(|i| i.path.as_str()).collect::<Vec<_>>(), ["mon.log", "tue.log", "wed.log"]);
        assert_eq!(m.malformed, [("bad-status".to_string(), 5), ("truncated".to_string(), 1)]);
        assert_eq!((m.job.as_str(), m.version.as_str()), ("logs", env!("CARGO_PKG_VERSION")));
        assert_eq!(RunMetadata::merged(&[]), None);
    }

    #[test]
    fn incomplete_metadata_is_none() {
        let schema = Schema::new(vec![Field::new("n", DataType::UInt64, false)]);
        assert_eq!(RunMetadata::from_schema(&schema), None);
        let broken = schema.with_metadata(HashMap::from([(KEY_INPUTS.to_string(), "not json".to_string())]));
        assert_eq!(RunMetadata::from_schema(&broken), None);
    }
}
