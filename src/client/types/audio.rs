//! `POST /audio/speech`, `/audio/transcriptions`, `/audio/translations`.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

/// Text to speech; the answer is the audio's bytes.
///
/// ```
/// use tower_together::types::SpeechRequest;
///
/// let request = SpeechRequest::new("cartesia/sonic", "Hello!", "laidback woman").response_format("mp3");
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["voice"], "laidback woman");
/// assert_eq!(json["response_format"], "mp3");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpeechRequest {
    /// The model id.
    pub model: String,
    /// The text to speak.
    pub input: String,
    /// The voice.
    pub voice: String,
    /// `wav` (the default), `mp3` or `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
    /// The language (default `en`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Any other field of the API (`sample_rate`, `response_encoding`...),
    /// sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SpeechRequest {
    /// `model` speaking `input` in `voice`.
    pub fn new(
        model: impl Into<String>,
        input: impl Into<String>,
        voice: impl Into<String>,
    ) -> Self {
        SpeechRequest {
            model: model.into(),
            input: input.into(),
            voice: voice.into(),
            response_format: None,
            language: None,
            extra: Map::new(),
        }
    }

    /// Sets `response_format` (`wav`, `mp3`, `raw`).
    pub fn response_format(mut self, format: impl Into<String>) -> Self {
        self.response_format = Some(format.into());
        self
    }

    /// Sets `language`.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// The audio to transcribe: its bytes (with a file name), or a URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioFile {
    /// Audio sent in the request.
    Bytes {
        /// A name for it (`speech.wav`).
        name: String,
        /// The audio.
        bytes: Bytes,
    },
    /// Audio the server fetches.
    Url(String),
}

impl fmt::Debug for AudioFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioFile::Bytes { name, bytes } => f
                .debug_struct("Bytes")
                .field("name", name)
                .field("bytes", &bytes.len())
                .finish(),
            AudioFile::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// Speech to text, in the audio's language (`/audio/transcriptions`) or in
/// English (`/audio/translations`): a multipart form.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TranscriptionRequest {
    /// The audio.
    pub file: AudioFile,
    /// The model (default `openai/whisper-large-v3`).
    pub model: Option<String>,
    /// The audio's language.
    pub language: Option<String>,
    /// Text to guide the style.
    pub prompt: Option<String>,
    /// `json` (the default: `{text}`) or `verbose_json` (with segments).
    pub response_format: Option<String>,
    /// Sampling temperature, 0 to 1.
    pub temperature: Option<f32>,
    /// Any other form field (`timestamp_granularities`, `diarize`...),
    /// sent as text.
    pub extra: Vec<(String, String)>,
}

impl TranscriptionRequest {
    /// A request for `file`, everything else at the server's defaults.
    pub fn new(file: AudioFile) -> Self {
        TranscriptionRequest {
            file,
            model: None,
            language: None,
            prompt: None,
            response_format: None,
            temperature: None,
            extra: Vec::new(),
        }
    }

    /// Audio bytes named `name`.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        TranscriptionRequest::new(AudioFile::Bytes {
            name: name.into(),
            bytes: bytes.into(),
        })
    }

    /// Audio at `url`.
    pub fn url(url: impl Into<String>) -> Self {
        TranscriptionRequest::new(AudioFile::Url(url.into()))
    }

    /// Sets `model`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets `language`.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets `prompt`.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets `response_format` (`json` or `verbose_json`).
    pub fn response_format(mut self, format: impl Into<String>) -> Self {
        self.response_format = Some(format.into());
        self
    }

    /// Sets `temperature`.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Adds any other form field.
    pub fn extra(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((field.into(), value.into()));
        self
    }

    /// The form's text fields (the file part aside).
    pub(crate) fn fields(&self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        if let AudioFile::Url(url) = &self.file {
            fields.push(("file".to_owned(), url.clone()));
        }
        let optional = [
            ("model", self.model.clone()),
            ("language", self.language.clone()),
            ("prompt", self.prompt.clone()),
            ("response_format", self.response_format.clone()),
            ("temperature", self.temperature.map(|t| t.to_string())),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                fields.push((name.to_owned(), value));
            }
        }
        fields.extend(self.extra.iter().cloned());
        fields
    }
}

/// A transcription or translation: `text` always; the rest with
/// `response_format: "verbose_json"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transcription {
    /// The text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// `transcribe` or `translate` (verbose only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The language (verbose only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The audio's length in seconds (verbose only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Segments `{id, start, end, text}`, as sent (verbose only).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segments: Vec<Value>,
    /// Words `{word, start, end}`, as sent (verbose, with word timestamps).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub words: Vec<Value>,
    /// Fields this crate does not type (`speaker_segments`...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
