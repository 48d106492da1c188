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
                // `user_error` is what Together reports for a job that failed
                // on its input; the others are spellings seen elsewhere.
                let other = other.to_ascii_lowercase();
                matches!(other.as_str(), "failed" | "canceled" | "user_error")
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
    /// Full training or LoRA (`{"type": "Lora", "lora_r", "lora_alpha", ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_type: Option<TrainingType>,
    /// Any other field of the API (`batch_size`, `training_method`, `n_checkpoints`, ...).
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
            training_type: None,
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

    /// Trains a LoRA adapter of rank `lora_r` and scale `lora_alpha`
    /// (the other LoRA settings keep the server's defaults).
    pub fn lora(mut self, lora_r: u32, lora_alpha: u32) -> Self {
        self.training_type = Some(TrainingType::lora(lora_r, lora_alpha));
        self
    }

    /// Sets the training type (full or LoRA).
    pub fn training_type(mut self, training_type: TrainingType) -> Self {
        self.training_type = Some(training_type);
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// Full training, or a LoRA adapter, as `training_type` carries it.
///
/// ```
/// use tower_together::types::FineTuneRequest;
///
/// let request = FineTuneRequest::new("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "file-1")
///     .lora(8, 16);
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["training_type"]["type"], "Lora");
/// assert_eq!(json["training_type"]["lora_r"], 8);
/// assert!(json.get("lora").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum TrainingType {
    /// Every weight is trained.
    Full,
    /// A low-rank adapter.
    Lora {
        /// The rank.
        lora_r: u32,
        /// The scale.
        lora_alpha: u32,
        /// Dropout (server default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lora_dropout: Option<f64>,
        /// Which modules (server default `all-linear`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lora_trainable_modules: Option<String>,
    },
}

impl TrainingType {
    /// LoRA of rank `lora_r` and scale `lora_alpha`.
    pub fn lora(lora_r: u32, lora_alpha: u32) -> Self {
        TrainingType::Lora {
            lora_r,
            lora_alpha,
            lora_dropout: None,
            lora_trainable_modules: None,
        }
    }
}

/// A fine-tune job.
///
/// Only `id` and `status` are required by the spec; a job with no status
/// reads as `FineTuneStatus::Other("")`, which is not terminal (see the
/// fine-tune cap for how such jobs are bounded).
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
    /// The name of the resulting model (the wire's `model_output_name`).
    #[serde(rename = "model_output_name", default)]
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
    /// The user who created the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The validation file id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_file: Option<String>,
    /// Epochs to train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_epochs: Option<u64>,
    /// Epochs done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_completed: Option<u64>,
    /// The batch size: a number or `"max"`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Value>,
    /// The learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Full training or LoRA, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_type: Option<Value>,
    /// SFT or DPO, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_method: Option<Value>,
    /// The job's events, when included.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub events: Vec<FineTuneEvent>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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
    /// Fields this crate does not type (`step`, `checkpoint_path`, ...),
    /// kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A fine-tune job's events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneEventList {
    /// The events, oldest first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<FineTuneEvent>,
}

/// A saved checkpoint of a fine-tune job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneCheckpoint {
    /// The training step it was saved at.
    #[serde(default, deserialize_with = "null_as_default")]
    pub step: u64,
    /// Where it is (usable as `from_checkpoint`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub path: String,
    /// When it was saved, as sent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub created_at: String,
    /// Its kind, as sent (`Final`, `Intermediate`...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub checkpoint_type: String,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A fine-tune job's checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneCheckpointList {
    /// The checkpoints.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<FineTuneCheckpoint>,
}

/// The answer to deleting a fine-tune job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FineTuneDeleted {
    /// What the server said.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
