//! `POST /v1/completions`, plain and streamed.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{check_numbers, optional_bool, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::state::State;
use crate::sim::text::{count_tokens, reply_for, unix_seconds};

/// A parsed completion request.
#[derive(Debug)]
pub(crate) struct CompletionRequest {
    pub(crate) model: String,
    pub(crate) stream: bool,
    prompt: String,
    max_tokens: Option<u64>,
}

impl CompletionRequest {
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = required_str(map, "model")?.to_owned();
        let prompt = required_str(map, "prompt")?.to_owned();
        let max_tokens = optional_u64(map, "max_tokens")?;
        let stream = optional_bool(map, "stream")?.unwrap_or(false);
        check_numbers(
            map,
            &[
                "temperature",
                "top_p",
                "top_k",
                "repetition_penalty",
                "seed",
            ],
        )?;
        Ok(CompletionRequest {
            model,
            stream,
            prompt,
            max_tokens,
        })
    }

    pub(crate) fn tokens(&self) -> u64 {
        count_tokens(&self.prompt)
            + self
                .max_tokens
                .unwrap_or_else(|| 1 + count_tokens(&self.prompt))
    }

    /// 400 when the prompt and `max_tokens` do not fit the context.
    pub(crate) fn check_context(&self, context_length: u32) -> Result<(), ApiError> {
        let prompt = count_tokens(&self.prompt);
        let wanted = prompt.saturating_add(self.max_tokens.unwrap_or(0));
        if wanted > u64::from(context_length) {
            return Err(ApiError::invalid_field(
                "max_tokens",
                format!("Input validation error: `inputs` tokens + `max_new_tokens` must be <= {context_length}. Given: {prompt} `inputs` tokens and {} `max_new_tokens`", self.max_tokens.unwrap_or(0)),
            ));
        }
        Ok(())
    }

    pub(crate) fn answer(&self, state: &mut State, now: Instant) -> Reply {
        if self.stream {
            Reply::events(self.chunks(state, now))
        } else {
            Reply::ok(&self.body(state, now))
        }
    }

    fn usage(&self, text: &str) -> Value {
        let prompt_tokens = count_tokens(&self.prompt);
        let completion_tokens = count_tokens(text);
        json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        })
    }

    /// The whole `text.completion` object (also a batch line's body).
    pub(crate) fn body(&self, state: &mut State, now: Instant) -> Value {
        let (text, cut) = reply_for(&self.prompt, self.max_tokens);
        let seed = super::answer_seed(state.config.seed, &self.prompt);
        json!({
            "id": state.id(""),
            "object": "text.completion",
            "created": unix_seconds(state.wall(now)),
            "model": self.model,
            "prompt": [],
            // The spec's choice has no `index`, and `logprobs` is an object
            // or absent (never `null`): absent, as no logprobs were asked for.
            "choices": [{ "text": text, "finish_reason": if cut { "length" } else { "stop" }, "seed": seed }],
            "usage": self.usage(&text),
        })
    }

    /// One chunk per word, then one carrying `finish_reason` and `usage`.
    fn chunks(&self, state: &mut State, now: Instant) -> Vec<Value> {
        let (text, cut) = reply_for(&self.prompt, self.max_tokens);
        let finish = if cut { "length" } else { "stop" };
        let seed = super::answer_seed(state.config.seed, &self.prompt);
        let id = state.id("");
        let created = unix_seconds(state.wall(now));
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut events: Vec<Value> = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let piece = if i == 0 {
                    (*word).to_owned()
                } else {
                    format!(" {word}")
                };
                json!({
                    "id": id,
                    "object": "completion.chunk",
                    "created": created,
                    "model": self.model,
                    "token": { "id": i, "text": piece, "logprob": 0, "special": false },
                    "choices": [{ "index": 0, "text": piece }],
                    "finish_reason": null,
                    "usage": null,
                })
            })
            .collect();
        events.push(json!({
            "id": id,
            "object": "completion.chunk",
            "created": created,
            "model": self.model,
            "token": { "id": words.len(), "text": "", "logprob": 0, "special": true },
            // `finish_reason` and `seed` sit at the chunk's top level, where
            // the spec puts them, and only there.
            "choices": [{ "index": 0, "text": "" }],
            "finish_reason": finish,
            "seed": seed,
            "usage": self.usage(&text),
        }));
        events
    }
}
