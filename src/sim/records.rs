//! What the simulator keeps between requests: files, fine-tune jobs and batch
//! jobs. Plain data, so `state` can hold them without depending on the
//! endpoints that read and answer with them (those depend on `state`).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use tokio::time::Instant;

/// A file: announced by `POST /files`, filled by the upload.
#[derive(Clone, Debug)]
pub(crate) struct StoredFile {
    pub(crate) id: String,
    pub(crate) filename: String,
    pub(crate) purpose: String,
    pub(crate) file_type: String,
    pub(crate) created: SystemTime,
    pub(crate) content: Option<Bytes>,
}

/// One fine-tuning job.
#[derive(Clone, Debug)]
pub(crate) struct FineTuneJob {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) training_file: String,
    pub(crate) validation_file: Option<String>,
    pub(crate) suffix: Option<String>,
    pub(crate) n_epochs: u64,
    pub(crate) learning_rate: f64,
    /// Always a number: `"max"` in a request is resolved at creation, so
    /// answers have one form (the truncated job's schema allows only an
    /// integer).
    pub(crate) batch_size: u64,
    /// `{type: Full}` or `{type: Lora, lora_r, lora_alpha, ...}`, complete.
    pub(crate) training_type: Value,
    /// `{method: sft, train_on_inputs}` or `{method: dpo, ...}`, complete.
    pub(crate) training_method: Value,
    pub(crate) created: Instant,
    pub(crate) pending: Duration,
    pub(crate) running: Duration,
    pub(crate) cancelled: Option<Instant>,
}

/// One batch job.
#[derive(Clone, Debug)]
pub(crate) struct BatchJob {
    pub(crate) id: String,
    pub(crate) input_file_id: String,
    pub(crate) input: Bytes,
    pub(crate) endpoint: String,
    pub(crate) model_id: Option<String>,
    pub(crate) created: Instant,
    pub(crate) validating: Duration,
    pub(crate) running: Duration,
    pub(crate) cancelled: Option<Instant>,
    pub(crate) output_file_id: Option<String>,
    pub(crate) error_file_id: Option<String>,
}

/// One video job.
#[derive(Clone, Debug)]
pub(crate) struct VideoJob {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) size: String,
    pub(crate) seconds: String,
    pub(crate) created: Instant,
}
