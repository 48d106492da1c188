//! `GET /v1/models`: a bare array, unlike OpenAI's list object.

use serde_json::{json, Value};

use super::Reply;
use crate::sim::models::{ModelKind, SimModel};

pub(crate) fn list(models: &[SimModel]) -> Reply {
    let list: Vec<Value> = models.iter().map(describe).collect();
    Reply::ok(&Value::Array(list))
}

fn describe(model: &SimModel) -> Value {
    // Prices per million tokens, in dollars; images are priced per image.
    let (input, output) = match model.kind {
        ModelKind::Chat | ModelKind::Language => (0.18, 0.18),
        ModelKind::Embedding => (0.008, 0.0),
        ModelKind::Image => (0.0027, 0.0),
        ModelKind::Rerank => (0.1, 0.0),
    };
    json!({
        "id": &*model.id,
        "object": "model",
        "created": model.created,
        "type": model.kind.as_str(),
        "display_name": model.display_name(),
        "organization": model.organization(),
        "link": format!("https://huggingface.co/{}", model.id),
        "license": "",
        "context_length": model.context_length,
        "pricing": { "hourly": 0, "input": input, "output": output, "base": 0, "finetune": 0 },
    })
}
