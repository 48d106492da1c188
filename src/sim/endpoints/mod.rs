//! The endpoints: each parses its request and builds its answer.

pub(crate) mod audio;
pub(crate) mod batches;
pub(crate) mod chat;
mod chat_schema;
pub(crate) mod completions;
pub(crate) mod embeddings;
pub(crate) mod files;
pub(crate) mod fine_tune_info;
pub(crate) mod fine_tunes;
pub(crate) mod images;
pub(crate) mod models;
pub(crate) mod rerank;
pub(crate) mod videos;

use serde_json::{Map, Value};

use super::errors::ApiError;
use super::models::{ModelKind, SimModel};
use super::state::Config;

pub(crate) use super::reply::Reply;

/// Parses a JSON object body.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("Request body must be a JSON object")),
        // serde_json's message names a line and column, never the input.
        Err(error) => Err(ApiError::invalid(format!(
            "Invalid JSON in request body: {error}"
        ))),
    }
}

/// A required string field.
pub(crate) fn required_str<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, ApiError> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid_field(
            field,
            format!("`{field}` is required"),
        )),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("`{field}` must be a string"),
        )),
    }
}

/// An optional string field.
pub(crate) fn optional_str<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("`{field}` must be a string"),
        )),
    }
}

/// An optional non-negative integer field.
pub(crate) fn optional_u64(map: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            ApiError::invalid_field(field, format!("`{field}` must be a non-negative integer"))
        }),
    }
}

/// An optional boolean field.
pub(crate) fn optional_bool(
    map: &Map<String, Value>,
    field: &str,
) -> Result<Option<bool>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("`{field}` must be a boolean"),
        )),
    }
}

/// Checks that optional number fields, when present, are numbers.
pub(crate) fn check_numbers(map: &Map<String, Value>, fields: &[&str]) -> Result<(), ApiError> {
    for field in fields {
        match map.get(*field) {
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(_) => {
                return Err(ApiError::invalid_field(
                    *field,
                    format!("`{field}` must be a number"),
                ))
            }
        }
    }
    Ok(())
}

/// Looks up a model for an endpoint: 404 when unknown, 400
/// `model_not_available` when it needs a dedicated endpoint, 400 when it
/// does something else.
pub(crate) fn serve_model<'a>(
    config: &'a Config,
    id: &str,
    kinds: &[ModelKind],
) -> Result<&'a SimModel, ApiError> {
    let model = config
        .model(id)
        .ok_or_else(|| ApiError::model_not_found(id))?;
    if !model.serverless {
        return Err(ApiError::model_not_available(id));
    }
    if !kinds.contains(&model.kind) {
        return Err(ApiError::invalid_field(
            "model",
            format!(
                "Model {id} is a {} model and does not serve this endpoint",
                model.kind.as_str()
            ),
        ));
    }
    Ok(model)
}

/// A stable per-answer seed, as Together reports in `choices[].seed`.
pub(crate) fn answer_seed(seed: u64, text: &str) -> u64 {
    let mut state = seed ^ super::text::fnv1a(text.as_bytes());
    super::text::splitmix64(&mut state) >> 1
}
