//! `POST /v1/images/generations`, and the image URLs it hands out.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{optional_str, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::router::IMAGE_PREFIX;
use crate::sim::state::State;
use crate::sim::text::{base64, count_tokens};

/// A 1×1 PNG: every image the simulator draws.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A parsed image request.
#[derive(Debug)]
pub(crate) struct ImageRequest {
    pub(crate) model: String,
    prompt: String,
    n: u64,
    url: bool,
}

impl ImageRequest {
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = required_str(map, "model")?.to_owned();
        let prompt = required_str(map, "prompt")?.to_owned();
        let n = optional_u64(map, "n")?.unwrap_or(1);
        if !(1..=4).contains(&n) {
            return Err(ApiError::invalid_field("n", "`n` must be between 1 and 4"));
        }
        for field in ["width", "height", "steps"] {
            optional_u64(map, field)?;
        }
        let url = match optional_str(map, "response_format")? {
            None | Some("base64") | Some("b64_json") => false,
            Some("url") => true,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "response_format",
                    "`response_format` must be \"base64\" or \"url\"",
                ))
            }
        };
        Ok(ImageRequest {
            model,
            prompt,
            n,
            url,
        })
    }

    pub(crate) fn tokens(&self) -> u64 {
        count_tokens(&self.prompt)
    }

    pub(crate) fn answer(&self, state: &mut State, origin: &str) -> Reply {
        let data: Vec<Value> = (0..self.n)
            .map(|index| {
                if self.url {
                    let id = state.id("img-");
                    json!({ "index": index, "type": "url", "url": format!("{origin}{IMAGE_PREFIX}{id}") })
                } else {
                    json!({ "index": index, "type": "b64_json", "b64_json": base64(PNG) })
                }
            })
            .collect();
        let id = state.id("");
        Reply::ok(&json!({ "id": id, "model": self.model, "object": "list", "data": data }))
    }
}

/// `GET /sim-images/{id}`: the PNG.
pub(crate) fn serve() -> Reply {
    Reply::raw(StatusCode::OK, "image/png", Bytes::from_static(PNG))
}
