//! `POST /videos`, `GET /videos/{id}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

lenient_enum! {
    /// Where a video job is.
    pub enum VideoStatus {
        /// Still rendering.
        InProgress => "in_progress",
        /// Done: see `outputs`.
        Completed => "completed",
        /// Failed: see `error`.
        Failed => "failed",
    }
}

impl VideoStatus {
    /// Whether the job has ended (completed or failed, or a status this
    /// crate does not know that says so).
    pub fn is_terminal(&self) -> bool {
        match self {
            VideoStatus::Completed | VideoStatus::Failed => true,
            VideoStatus::Other(other) => matches!(
                other.to_ascii_lowercase().as_str(),
                "cancelled" | "canceled" | "error"
            ),
            VideoStatus::InProgress => false,
        }
    }
}

/// A request to generate a video.
///
/// ```
/// use tower_together::types::VideoRequest;
///
/// let request = VideoRequest::new("google/veo-3.0").prompt("A cat surfing").size(1280, 720);
/// assert_eq!(serde_json::to_value(&request).unwrap()["width"], 1280);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoRequest {
    /// The model id.
    pub model: String,
    /// What to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Length, in seconds, as a string (as the spec has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<String>,
    /// Any other field of the API (`fps`, `media`, `output_format`...),
    /// sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VideoRequest {
    /// A request for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        VideoRequest {
            model: model.into(),
            prompt: None,
            width: None,
            height: None,
            seconds: None,
            extra: Map::new(),
        }
    }

    /// Sets `prompt`.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets `width` and `height`.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Sets `seconds`.
    pub fn seconds(mut self, seconds: u32) -> Self {
        self.seconds = Some(seconds.to_string());
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// A video job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoJob {
    /// The job id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// Where it is.
    #[serde(default = "unknown_status")]
    pub status: VideoStatus,
    /// Unix time of creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<f64>,
    /// Unix time of completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<f64>,
    /// `WIDTHxHEIGHT`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub size: String,
    /// Length in seconds, as sent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub seconds: String,
    /// Why it failed (`{code, message}`), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The result, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<VideoOutputs>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unknown_status() -> VideoStatus {
    VideoStatus::Other(String::new())
}

/// A finished video.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoOutputs {
    /// What it cost.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cost: i64,
    /// Where to fetch it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub video_url: String,
}
