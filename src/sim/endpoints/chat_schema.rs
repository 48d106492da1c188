//! The spec's rules for a chat request's messages, tools and response
//! format: every shape the spec allows passes, anything else is a 400 that
//! names the field.

use serde_json::{Map, Value};

use crate::sim::errors::ApiError;

/// The roles the spec's message params have.
const ROLES: &[&str] = &["system", "user", "assistant", "tool", "function"];

/// The content part types of a user message, each with the object key that
/// holds its payload.
const PARTS: &[(&str, &str)] = &[
    ("text", "text"),
    ("image_url", "image_url"),
    ("video_url", "video_url"),
    ("audio_url", "audio_url"),
    ("input_audio", "input_audio"),
];

fn bad(field: &str, why: &str) -> ApiError {
    ApiError::invalid_field(field, format!("`{field}` {why}"))
}

fn string_at<'a>(map: &'a Map<String, Value>, field: &str, key: &str) -> Result<&'a str, ApiError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad(&format!("{field}.{key}"), "must be a string")),
        None => Err(bad(&format!("{field}.{key}"), "is required")),
    }
}

fn optional_string(map: &Map<String, Value>, field: &str, key: &str) -> Result<(), ApiError> {
    match map.get(key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(bad(&format!("{field}.{key}"), "must be a string")),
    }
}

/// Checks one message against its role's schema and returns its text (the
/// text parts of a multimodal user message, joined).
pub(crate) fn message_text(message: &Value, field: &str) -> Result<String, ApiError> {
    let message = message
        .as_object()
        .ok_or_else(|| bad(field, "must be an object"))?;
    let role = string_at(message, field, "role")?;
    if !ROLES.contains(&role) {
        return Err(bad(
            &format!("{field}.role"),
            &format!("must be one of {}", ROLES.join(", ")),
        ));
    }
    optional_string(message, field, "name")?;
    let content = format!("{field}.content");
    match role {
        "user" => match message.get("content") {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(Value::Array(parts)) => parts_text(parts, &content),
            Some(_) => Err(bad(
                &content,
                "must be a string or an array of content parts",
            )),
            None => Err(bad(&content, "is required")),
        },
        "assistant" => {
            if let Some(calls) = message.get("tool_calls") {
                tool_calls(calls, &format!("{field}.tool_calls"))?;
            }
            match message.get("content") {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(text)) => Ok(text.clone()),
                Some(_) => Err(bad(&content, "must be a string or null")),
            }
        }
        "tool" => {
            string_at(message, field, "tool_call_id")?;
            Ok(string_at(message, field, "content")?.to_owned())
        }
        "function" => {
            string_at(message, field, "name")?;
            Ok(string_at(message, field, "content")?.to_owned())
        }
        _ => Ok(string_at(message, field, "content")?.to_owned()),
    }
}

fn parts_text(parts: &[Value], field: &str) -> Result<String, ApiError> {
    let mut text = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let part = part
            .as_object()
            .ok_or_else(|| bad(&at, "must be an object"))?;
        let kind = string_at(part, &at, "type")?;
        let Some(&(_, key)) = PARTS.iter().find(|(name, _)| *name == kind) else {
            let names: Vec<&str> = PARTS.iter().map(|(name, _)| *name).collect();
            return Err(bad(
                &format!("{at}.type"),
                &format!("must be one of {}", names.join(", ")),
            ));
        };
        match kind {
            "text" => text.push(string_at(part, &at, "text")?),
            "input_audio" => {
                let audio = object_at(part, &at, key)?;
                let inner = format!("{at}.{key}");
                string_at(audio, &inner, "data")?;
                if string_at(audio, &inner, "format")? != "wav" {
                    return Err(bad(&format!("{inner}.format"), "must be wav"));
                }
            }
            _ => {
                let media = object_at(part, &at, key)?;
                string_at(media, &format!("{at}.{key}"), "url")?;
            }
        }
    }
    Ok(text.join(" "))
}

fn object_at<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    match map.get(key) {
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(bad(&format!("{field}.{key}"), "must be an object")),
        None => Err(bad(&format!("{field}.{key}"), "is required")),
    }
}

/// An assistant message's `tool_calls`: `{id, type: function, function:
/// {name, arguments}}` each.
fn tool_calls(calls: &Value, field: &str) -> Result<(), ApiError> {
    let calls = calls
        .as_array()
        .ok_or_else(|| bad(field, "must be an array"))?;
    for (i, call) in calls.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let call = call
            .as_object()
            .ok_or_else(|| bad(&at, "must be an object"))?;
        string_at(call, &at, "id")?;
        if string_at(call, &at, "type")? != "function" {
            return Err(bad(&format!("{at}.type"), "must be function"));
        }
        let function = object_at(call, &at, "function")?;
        string_at(function, &format!("{at}.function"), "name")?;
        string_at(function, &format!("{at}.function"), "arguments")?;
    }
    Ok(())
}

/// `tools`: `{type: function, function: {name, description?, parameters?}}`.
pub(crate) fn tools(map: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(tools) = map.get("tools") else {
        return Ok(());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| bad("tools", "must be an array"))?;
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        let tool = tool
            .as_object()
            .ok_or_else(|| bad(&at, "must be an object"))?;
        if string_at(tool, &at, "type")? != "function" {
            return Err(bad(&format!("{at}.type"), "must be function"));
        }
        let function = object_at(tool, &at, "function")?;
        let inner = format!("{at}.function");
        string_at(function, &inner, "name")?;
        optional_string(function, &inner, "description")?;
        if function.get("parameters").is_some_and(|p| !p.is_object()) {
            return Err(bad(&format!("{inner}.parameters"), "must be an object"));
        }
    }
    Ok(())
}

/// `response_format`: `{type: text}`, `{type: json_object}` or
/// `{type: json_schema, json_schema: {name, schema?, strict?}}`.
pub(crate) fn response_format(map: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(format) = map.get("response_format") else {
        return Ok(());
    };
    let field = "response_format";
    let format = format
        .as_object()
        .ok_or_else(|| bad(field, "must be an object"))?;
    match string_at(format, field, "type")? {
        "text" | "json_object" => Ok(()),
        "json_schema" => {
            let schema = object_at(format, field, "json_schema")?;
            let inner = "response_format.json_schema";
            string_at(schema, inner, "name")?;
            if schema.get("schema").is_some_and(|s| !s.is_object()) {
                return Err(bad(&format!("{inner}.schema"), "must be an object"));
            }
            match schema.get("strict") {
                None | Some(Value::Null | Value::Bool(_)) => Ok(()),
                Some(_) => Err(bad(&format!("{inner}.strict"), "must be a boolean or null")),
            }
        }
        _ => Err(bad(
            "response_format.type",
            "must be one of text, json_object, json_schema",
        )),
    }
}
