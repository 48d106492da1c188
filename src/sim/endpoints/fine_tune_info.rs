//! What Together's SDKs ask before starting a fine-tune: a model's limits
//! (`GET /v1/fine-tunes/models/limits?model_name=`) and a price estimate
//! (`POST /v1/fine-tunes/estimate-price`), in the spec's shapes.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{optional_str, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::models::ModelKind;
use crate::sim::state::State;
use crate::sim::text::count_tokens;

/// Dollars per training token (the simulator's own figure).
const PRICE_PER_TOKEN: f64 = 0.000_000_48;

/// What an account may spend on one job before `allowed_to_proceed` is false.
const USER_LIMIT: f64 = 100.0;

fn can_fine_tune(state: &State, model: &str) -> bool {
    state
        .config
        .model(model)
        .is_some_and(|m| matches!(m.kind, ModelKind::Chat | ModelKind::Language))
}

/// `GET /v1/fine-tunes/models/limits`: the spec's `FineTuneModelLimits`, or
/// its 404 shape (`{message}`, not the usual error object).
pub(crate) fn limits(state: &State, query: Option<&str>) -> Result<Reply, ApiError> {
    let model = super::files::form_pairs(query.unwrap_or(""))
        .find(|(name, _)| name == "model_name")
        .map(|(_, value)| value)
        .ok_or_else(|| ApiError::invalid_field("model_name", "`model_name` is required"))?;
    if !can_fine_tune(state, &model) {
        return Ok(Reply::json(
            StatusCode::NOT_FOUND,
            &json!({ "message": format!("Model {model} is not available for fine-tuning") }),
        ));
    }
    Ok(Reply::ok(&json!({
        "model_name": model,
        "full_training": { "max_batch_size": 32, "max_batch_size_dpo": 16, "min_batch_size": 8 },
        "lora_training": {
            "max_batch_size": 32,
            "max_batch_size_dpo": 16,
            "min_batch_size": 8,
            "max_rank": 64,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        },
        "max_num_epochs": 20,
        "max_num_evals": 100,
        "max_learning_rate": 1.0,
        "min_learning_rate": 0.000_000_01,
        "supports_vision": false,
        "supports_tools": true,
        "supports_reasoning": false,
        "merge_output_lora": false,
    })))
}

/// `POST /v1/fine-tunes/estimate-price`: tokens of the uploaded files times
/// the epochs (and evaluations), at the simulator's price.
pub(crate) fn estimate_price(state: &State, map: &Map<String, Value>) -> Result<Reply, ApiError> {
    let tokens_of = |field: &str, id: &str| -> Result<u64, ApiError> {
        let content = state
            .file(id)
            .and_then(|f| f.content.as_ref())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    field,
                    format!("File {id} does not exist or has not been uploaded"),
                )
            })?;
        Ok(count_tokens(&String::from_utf8_lossy(content)))
    };
    let train = tokens_of("training_file", required_str(map, "training_file")?)?;
    let eval = match optional_str(map, "validation_file")? {
        Some(id) => tokens_of("validation_file", id)?,
        None => 0,
    };
    if let Some(model) = optional_str(map, "model")? {
        if !can_fine_tune(state, model) {
            return Err(ApiError::model_not_found(model));
        }
    }
    let epochs = optional_u64(map, "n_epochs")?.unwrap_or(1).max(1);
    let evals = optional_u64(map, "n_evals")?.unwrap_or(0);
    let train_tokens = train.saturating_mul(epochs);
    let eval_tokens = eval.saturating_mul(evals);
    // Token counts are far below 2^52, so the conversions are exact.
    #[allow(clippy::cast_precision_loss)]
    let price = (train_tokens + eval_tokens) as f64 * PRICE_PER_TOKEN;
    #[allow(clippy::cast_precision_loss)]
    let answer = json!({
        "estimated_total_price": price,
        "allowed_to_proceed": price <= USER_LIMIT,
        "user_limit": USER_LIMIT,
        "estimated_train_token_count": train_tokens as f64,
        "estimated_eval_token_count": eval_tokens as f64,
    });
    Ok(Reply::ok(&answer))
}
