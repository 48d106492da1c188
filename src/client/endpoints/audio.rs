//! `/audio`: speech (JSON in, audio bytes out), transcriptions and
//! translations (a multipart form in, `Transcription` out). Rate limited in
//! the `Other` endpoint class, scoped by model.

use std::borrow::Cow;

use bytes::Bytes;
use http::Method;

use super::json;
use crate::client::types::{AudioFile, SpeechRequest, Transcription, TranscriptionRequest};
use crate::client::{ApiRequest, Error, RequestBody, Together};
use crate::extensions::Idempotency;

/// The transcription model the spec names as the default, for scoping a
/// request that names none.
const DEFAULT_TRANSCRIPTION_MODEL: &str = "openai/whisper-large-v3";

impl ApiRequest for SpeechRequest {
    type Response = Bytes;

    fn method(&self) -> Method {
        Method::POST
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/audio/speech")
    }

    fn body(&self) -> Result<RequestBody, Error> {
        RequestBody::json(self)
    }

    fn decode(&self, body: Bytes) -> Result<Bytes, serde_json::Error> {
        Ok(body)
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn set_model(&mut self, model: &str) -> bool {
        model.clone_into(&mut self.model);
        true
    }

    fn token_estimate(&self) -> u32 {
        super::tokens_of(&self.input)
    }

    /// Speech is inference: a second send makes a second answer, no resource.
    fn idempotency(&self) -> Option<Idempotency> {
        Some(Idempotency::Idempotent)
    }
}

/// A transcription or a translation: the same form, two paths.
#[derive(Clone, Debug)]
struct AudioText {
    request: TranscriptionRequest,
    path: &'static str,
}

impl ApiRequest for AudioText {
    type Response = Transcription;

    fn method(&self) -> Method {
        Method::POST
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.path)
    }

    fn body(&self) -> Result<RequestBody, Error> {
        let fields = self.request.fields();
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let file = match &self.request.file {
            AudioFile::Bytes { name, bytes } => Some((name.as_str(), bytes.clone())),
            AudioFile::Url(_) => None,
        };
        Ok(RequestBody::form_data(&fields, file))
    }

    fn decode(&self, body: Bytes) -> Result<Transcription, serde_json::Error> {
        json(body)
    }

    fn model(&self) -> Option<&str> {
        Some(
            self.request
                .model
                .as_deref()
                .unwrap_or(DEFAULT_TRANSCRIPTION_MODEL),
        )
    }

    /// Inference, as speech.
    fn idempotency(&self) -> Option<Idempotency> {
        Some(Idempotency::Idempotent)
    }
}

impl Together {
    /// Text to speech: the audio's bytes, in the requested format.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn speech(&self, request: SpeechRequest) -> Result<Bytes, Error> {
        self.send(request).await
    }

    /// Speech to text, in the audio's language.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn transcribe(&self, request: TranscriptionRequest) -> Result<Transcription, Error> {
        self.send(AudioText {
            request,
            path: "/audio/transcriptions",
        })
        .await
    }

    /// Speech to English text.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn translate(&self, request: TranscriptionRequest) -> Result<Transcription, Error> {
        self.send(AudioText {
            request,
            path: "/audio/translations",
        })
        .await
    }
}
