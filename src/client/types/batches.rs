//! `/batches`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

lenient_enum! {
    /// Where a batch job is (Together spells these in capitals).
    pub enum BatchStatus {
        /// Checking the input file.
        Validating => "VALIDATING",
        /// Running.
        InProgress => "IN_PROGRESS",
        /// Done; results are in the output file.
        Completed => "COMPLETED",
        /// Failed.
        Failed => "FAILED",
        /// Did not finish within its window.
        Expired => "EXPIRED",
        /// Cancelled.
        Cancelled => "CANCELLED",
    }
}

impl BatchStatus {
    /// Whether the job has stopped for good.
    pub fn is_terminal(&self) -> bool {
        match self {
            BatchStatus::Completed
            | BatchStatus::Failed
            | BatchStatus::Expired
            | BatchStatus::Cancelled => true,
            BatchStatus::Other(other) => matches!(
                other.to_ascii_uppercase().as_str(),
                "COMPLETED" | "FAILED" | "EXPIRED" | "CANCELLED" | "CANCELED"
            ),
            _ => false,
        }
    }

    /// Whether the job completed (in any spelling).
    pub fn is_completed(&self) -> bool {
        match self {
            BatchStatus::Completed => true,
            BatchStatus::Other(other) => other.eq_ignore_ascii_case("completed"),
            _ => false,
        }
    }
}

/// A request to start a batch job over an uploaded JSONL file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateBatchRequest {
    /// The endpoint every line goes to, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    /// The id of the uploaded input file (purpose `batch-api`).
    pub input_file_id: String,
    /// The completion window (Together only accepts `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_window: Option<String>,
    /// The model, when all lines use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The job's priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Any other field of the API, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CreateBatchRequest {
    /// A batch of requests to `endpoint` read from the file `input_file_id`.
    pub fn new(endpoint: impl Into<String>, input_file_id: impl Into<String>) -> Self {
        CreateBatchRequest {
            endpoint: endpoint.into(),
            input_file_id: input_file_id.into(),
            completion_window: None,
            model_id: None,
            priority: None,
            extra: Map::new(),
        }
    }

    /// Names the model all lines use.
    pub fn model_id(mut self, model: impl Into<String>) -> Self {
        self.model_id = Some(model.into());
        self
    }

    /// Sets `priority`.
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// The answer to creating a batch job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateBatchResponse {
    /// The job.
    pub job: BatchJob,
    /// A warning from the server, if any.
    #[serde(default)]
    pub warning: Option<String>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A batch job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchJob {
    /// The job id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Where it is.
    #[serde(default = "unknown_status")]
    pub status: BatchStatus,
    /// The endpoint its lines go to.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The input file id.
    #[serde(default)]
    pub input_file_id: Option<String>,
    /// The output file id, once there are results.
    #[serde(default)]
    pub output_file_id: Option<String>,
    /// The error file id, once some lines failed.
    #[serde(default)]
    pub error_file_id: Option<String>,
    /// Progress in percent (0 to 100).
    #[serde(default)]
    pub progress: Option<f64>,
    /// What went wrong, for a failed job.
    #[serde(default)]
    pub error: Option<Value>,
    /// The model, when one was named.
    #[serde(default)]
    pub model_id: Option<String>,
    /// When it was created, as sent.
    #[serde(default)]
    pub created_at: Option<Value>,
    /// When it completed, as sent.
    #[serde(default)]
    pub completed_at: Option<Value>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Size of the input file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_bytes: Option<u64>,
    /// When the job expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_deadline: Option<String>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unknown_status() -> BatchStatus {
    BatchStatus::Other(String::new())
}
