//! Audio: `POST /v1/audio/speech` (JSON in, audio bytes out) and
//! `POST /v1/audio/transcriptions` / `translations` (a multipart form in,
//! `{text}` or the verbose form out), in the spec's shapes.
//!
//! Deterministic and round-tripping: speech is a WAV whose samples are the
//! input's UTF-8 bytes, and transcribing such a WAV gives the text back;
//! any other audio is transcribed as a note of its size.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{optional_str, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::multipart;

/// The speech models the spec names.
const SPEECH_MODELS: &[&str] = &[
    "cartesia/sonic",
    "hexgrad/Kokoro-82M",
    "canopylabs/orpheus-3b-0.1-ft",
];

/// The transcription model the spec names (also its default).
const WHISPER: &str = "openai/whisper-large-v3";

const SAMPLE_RATE: u32 = 44_100;

/// A WAV (8-bit mono PCM) whose samples are `data`.
fn wav(data: &[u8]) -> Vec<u8> {
    let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&size.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // byte rate, 8-bit mono
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// The samples of a WAV this module made, if `audio` is one.
fn samples(audio: &[u8]) -> Option<&[u8]> {
    if audio.len() < 44
        || &audio[..4] != b"RIFF"
        || &audio[8..12] != b"WAVE"
        || &audio[36..40] != b"data"
    {
        return None;
    }
    let size = u32::from_le_bytes(audio[40..44].try_into().ok()?) as usize;
    audio.get(44..44usize.checked_add(size)?)
}

/// `POST /v1/audio/speech`.
pub(crate) fn speech(map: &Map<String, Value>) -> Result<Reply, ApiError> {
    let model = required_str(map, "model")?;
    if !SPEECH_MODELS.contains(&model) {
        return Err(ApiError::model_not_found(model));
    }
    let input = required_str(map, "input")?;
    required_str(map, "voice")?;
    if map.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid_field(
            "stream",
            "the simulator does not stream speech",
        ));
    }
    let audio = wav(input.as_bytes());
    let (content_type, body) = match optional_str(map, "response_format")?.unwrap_or("wav") {
        "wav" => ("audio/wav", audio),
        // The simulator has no MP3 encoder: the same samples, labelled as
        // the spec labels each format.
        "mp3" => ("audio/mpeg", audio),
        "raw" => ("application/octet-stream", input.as_bytes().to_vec()),
        _ => {
            return Err(ApiError::invalid_field(
                "response_format",
                "`response_format` must be one of mp3, wav, raw",
            ))
        }
    };
    Ok(Reply::raw(StatusCode::OK, content_type, Bytes::from(body)))
}

/// `POST /v1/audio/transcriptions` (`translate` false) and
/// `/v1/audio/translations` (true).
pub(crate) fn transcribe(
    content_type: Option<&str>,
    body: &Bytes,
    translate: bool,
) -> Result<Reply, ApiError> {
    let boundary = content_type
        .and_then(multipart::boundary)
        .ok_or_else(|| ApiError::invalid("Expected a multipart/form-data body with a boundary"))?;
    let parts = multipart::parse(body, boundary)
        .ok_or_else(|| ApiError::invalid("The multipart/form-data body is malformed"))?;
    let mut fields = Map::new();
    let mut audio = None;
    for part in parts {
        if part.name == "file" && part.filename.is_some() {
            audio = Some(part.content);
        } else {
            let text = String::from_utf8_lossy(&part.content).into_owned();
            fields.insert(part.name, Value::String(text));
        }
    }
    let text = match (audio, fields.get("file").and_then(Value::as_str)) {
        (Some(audio), _) => match samples(&audio).map(std::str::from_utf8) {
            Some(Ok(text)) => text.to_owned(),
            _ => format!("[{} bytes of audio]", audio.len()),
        },
        (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            format!("[audio at {url}]")
        }
        _ => {
            return Err(ApiError::invalid_field(
                "file",
                "`file` is required: audio bytes or a URL",
            ))
        }
    };
    let model = optional_str(&fields, "model")?.unwrap_or(WHISPER);
    if model != WHISPER {
        return Err(ApiError::model_not_found(model));
    }
    if let Some(t) = fields.get("temperature").and_then(Value::as_str) {
        if !t.parse::<f64>().is_ok_and(|t| (0.0..=1.0).contains(&t)) {
            return Err(ApiError::invalid_field(
                "temperature",
                "`temperature` must be a number from 0 to 1",
            ));
        }
    }
    let language = optional_str(&fields, "language")?.unwrap_or("en");
    let words: Vec<&str> = text.split_whitespace().collect();
    // One word a second: the simulator's idea of speech.
    #[allow(clippy::cast_precision_loss)]
    let duration = words.len() as f64;
    match optional_str(&fields, "response_format")?.unwrap_or("json") {
        "json" => Ok(Reply::ok(&json!({ "text": text }))),
        "verbose_json" => {
            let word_list: Vec<Value> = words
                .iter()
                .enumerate()
                .map(|(i, w)| json!({ "word": w, "start": i, "end": i + 1 }))
                .collect();
            Ok(Reply::ok(&json!({
                "task": if translate { "translate" } else { "transcribe" },
                "language": if translate { "en" } else { language },
                "duration": duration,
                "text": text,
                "segments": [{ "id": 0, "start": 0.0, "end": duration, "text": text }],
                "words": word_list,
            })))
        }
        _ => Err(ApiError::invalid_field(
            "response_format",
            "`response_format` must be json or verbose_json",
        )),
    }
}
