//! `POST /images/generations`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

/// An image generation request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageRequest {
    /// The model id.
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// Number of images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Diffusion steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// Random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `"url"` or `"base64"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
    /// Any other field of the API, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageRequest {
    /// A request for `model` to draw `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        ImageRequest {
            model: model.into(),
            prompt: prompt.into(),
            n: None,
            width: None,
            height: None,
            steps: None,
            seed: None,
            response_format: None,
            extra: Map::new(),
        }
    }

    /// Sets the number of images.
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// Sets width and height.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Sets the number of steps.
    pub fn steps(mut self, steps: u32) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Sets `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets `response_format` (`"url"` or `"base64"`).
    pub fn response_format(mut self, format: impl Into<String>) -> Self {
        self.response_format = Some(format.into());
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// Generated images.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageResponse {
    /// The request id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// The images.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<ImageData>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One generated image: a URL or base64 data, whichever was asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageData {
    /// Its position.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    /// `"url"` or `"b64_json"`, as sent.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Where to fetch it, for `"url"`.
    #[serde(default)]
    pub url: Option<String>,
    /// The image, base64, for `"b64_json"`.
    #[serde(default)]
    pub b64_json: Option<String>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
