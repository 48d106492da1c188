//! `/fine-tunes`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

lenient_enum! {
    /// Where a fine-tune job is.
    pub enum FineTuneStatus {
        /// Accepted, not yet queued.
        Pending => "pending",
        /// Waiting for hardware.
        Queued => "queued",
        /// Training.
        Running => "running",
        /// Compressing the result.
        Compressing => "compressing",
        /// Uploading the result.
        Uploading => "uploading",
        /// Cancellation asked, not yet done.
        CancelRequested => "cancel_requested",
        /// Cancelled.
        Cancelled => "cancelled",
        /// Failed.
        Error => "error",
        /// Done.
        Completed => "completed",
    }
}

impl FineTuneStatus {
    /// Whether the job has stopped for good (`completed`, `cancelled`,
    /// `error`, or an unknown value that says failed).
    pub fn is_terminal(&self) -> bool {
        match self {
            FineTuneStatus::Cancelled | FineTuneStatus::Error | FineTuneStatus::Completed => true,
            FineTuneStatus::Other(other) => {
                let other = other.to_ascii_lowercase();
                other == "failed" || other == "canceled"
            }
            _ => false,
        }
    }
}

/// A request to start a fine-tune job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneRequest {
    /// The base model.
    pub model: String,
    /// The id of the uploaded training file.
    pub training_file: String,
    /// The id of an uploaded validation file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_file: Option<String>,
    /// Number of epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_epochs: Option<u32>,
    /// Learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Suffix of the resulting model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Any other field of the API (`lora`, `batch_size`, `training_method`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FineTuneRequest {
    /// Fine-tunes `model` on the uploaded file `training_file`.
    pub fn new(model: impl Into<String>, training_file: impl Into<String>) -> Self {
        FineTuneRequest {
            model: model.into(),
            training_file: training_file.into(),
            validation_file: None,
            n_epochs: None,
            learning_rate: None,
            suffix: None,
            extra: Map::new(),
        }
    }

    /// Sets the validation file.
    pub fn validation_file(mut self, file_id: impl Into<String>) -> Self {
        self.validation_file = Some(file_id.into());
        self
    }

    /// Sets the number of epochs.
    pub fn n_epochs(mut self, n_epochs: u32) -> Self {
        self.n_epochs = Some(n_epochs);
        self
    }

    /// Sets the learning rate.
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = Some(learning_rate);
        self
    }

    /// Sets the suffix of the resulting model's name.
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// A fine-tune job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTune {
    /// The job id (`ft-...`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Where it is.
    #[serde(default = "unknown_status")]
    pub status: FineTuneStatus,
    /// The base model.
    #[serde(default)]
    pub model: Option<String>,
    /// The name of the resulting model.
    #[serde(default)]
    pub output_name: Option<String>,
    /// The training file id.
    #[serde(default)]
    pub training_file: Option<String>,
    /// When it was created, as sent.
    #[serde(default)]
    pub created_at: Option<Value>,
    /// When it last changed, as sent.
    #[serde(default)]
    pub updated_at: Option<Value>,
}

fn unknown_status() -> FineTuneStatus {
    FineTuneStatus::Other(String::new())
}

/// A list of fine-tune jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneList {
    /// The jobs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<FineTune>,
}

/// One event in a fine-tune job's log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneEvent {
    /// What happened.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    /// The event type, as sent.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `info`, `warning`, `error`..., as sent.
    #[serde(default)]
    pub level: Option<String>,
    /// When, as sent.
    #[serde(default)]
    pub created_at: Option<Value>,
}

/// A fine-tune job's events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneEventList {
    /// The events, oldest first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<FineTuneEvent>,
}
