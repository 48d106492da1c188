//! `/files`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

lenient_enum! {
    /// What a file is for.
    pub enum FilePurpose {
        /// Training data for a fine-tune job.
        FineTune => "fine-tune",
        /// Input of a batch job.
        BatchApi => "batch-api",
        /// Output of a batch job.
        BatchGenerated => "batch-generated",
        /// Evaluation data.
        Eval => "eval",
        /// Evaluation samples.
        EvalSample => "eval-sample",
        /// Evaluation output.
        EvalOutput => "eval-output",
        /// Evaluation summary.
        EvalSummary => "eval-summary",
    }
}

/// A stored file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileObject {
    /// The file id (`file-...`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filename: String,
    /// Its size in bytes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub bytes: u64,
    /// What it is for.
    #[serde(default)]
    pub purpose: Option<FilePurpose>,
    /// Unix time of upload.
    #[serde(default)]
    pub created_at: Option<u64>,
    /// `jsonl`, `csv` or `parquet` (Together capitalises this key).
    #[serde(rename = "FileType", default)]
    pub file_type: Option<String>,
    /// Whether Together has processed it.
    #[serde(rename = "Processed", default)]
    pub processed: Option<bool>,
    /// Number of lines, when known.
    #[serde(rename = "LineCount", default, skip_serializing_if = "Option::is_none")]
    pub line_count: Option<u64>,
    /// `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Fields this crate does not type, kept as sent (one key per spelling:
    /// only the spec's `FileType` and `Processed` fill the typed fields).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A list of files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileList {
    /// The files.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<FileObject>,
}

/// The answer to deleting a file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileDeleted {
    /// The file id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Whether it was deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted: bool,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
