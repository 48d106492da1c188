//! `POST /v1/chat/completions`, plain and streamed.

use serde_json::{json, Map, Value};

use super::{chat_schema, check_numbers, optional_bool, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::state::State;
use crate::sim::text::{count_tokens, reply_for, unix_seconds};
use tokio::time::Instant;

/// A parsed chat request.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) stream: bool,
    prompt: String,
    prompt_tokens: u64,
    max_tokens: Option<u64>,
    n: u64,
}

impl ChatRequest {
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = required_str(map, "model")?.to_owned();
        let messages = match map.get("messages") {
            Some(Value::Array(messages)) if !messages.is_empty() => messages,
            Some(Value::Array(_)) => {
                return Err(ApiError::invalid_field(
                    "messages",
                    "`messages` must not be empty",
                ))
            }
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_field(
                    "messages",
                    "`messages` is required",
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "messages",
                    "`messages` must be an array",
                ))
            }
        };
        let mut prompt = String::new();
        let mut prompt_tokens = 0;
        for (i, message) in messages.iter().enumerate() {
            let content = chat_schema::message_text(message, &format!("messages[{i}]"))?;
            prompt_tokens += count_tokens(&content);
            if message.get("role").and_then(Value::as_str) == Some("user") {
                prompt = content;
            }
        }
        chat_schema::tools(map)?;
        chat_schema::response_format(map)?;
        let max_tokens = optional_u64(map, "max_tokens")?;
        let stream = optional_bool(map, "stream")?.unwrap_or(false);
        let n = optional_u64(map, "n")?.unwrap_or(1);
        if !(1..=128).contains(&n) {
            return Err(ApiError::invalid_field(
                "n",
                "`n` must be between 1 and 128",
            ));
        }
        check_numbers(
            map,
            &[
                "temperature",
                "top_p",
                "top_k",
                "repetition_penalty",
                "min_p",
                "presence_penalty",
                "frequency_penalty",
                "seed",
            ],
        )?;
        Ok(ChatRequest {
            model,
            stream,
            prompt,
            prompt_tokens,
            max_tokens,
            n,
        })
    }

    /// What the token limiter charges: the prompt plus the most the answer
    /// may cost.
    pub(crate) fn tokens(&self) -> u64 {
        let answer = self
            .max_tokens
            .unwrap_or_else(|| 1 + count_tokens(&self.prompt));
        self.prompt_tokens
            .saturating_add(answer.saturating_mul(self.n))
    }

    pub(crate) fn check_context(&self, context_length: u32) -> Result<(), ApiError> {
        let wanted = self
            .prompt_tokens
            .saturating_add(self.max_tokens.unwrap_or(0));
        if wanted > u64::from(context_length) {
            return Err(ApiError::invalid_field(
                "max_tokens",
                format!("Input validation error: `inputs` tokens + `max_new_tokens` must be <= {context_length}. Given: {} `inputs` tokens and {} `max_new_tokens`", self.prompt_tokens, self.max_tokens.unwrap_or(0)),
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

    /// The whole `chat.completion` object (also a batch line's body).
    pub(crate) fn body(&self, state: &mut State, now: Instant) -> Value {
        let (text, cut) = reply_for(&self.prompt, self.max_tokens);
        let completion_tokens = count_tokens(&text) * self.n;
        let seed = super::answer_seed(state.config.seed, &self.prompt);
        let choices: Vec<Value> = (0..self.n)
            .map(|index| {
                json!({
                    "index": index,
                    "message": { "role": "assistant", "content": text, "tool_calls": [] },
                    "finish_reason": if cut { "length" } else { "stop" },
                    "logprobs": null,
                    "seed": seed,
                })
            })
            .collect();
        json!({
            "id": state.id(""),
            "object": "chat.completion",
            "created": unix_seconds(state.wall(now)),
            "model": self.model,
            "prompt": [],
            "choices": choices,
            "usage": self.usage(completion_tokens),
        })
    }

    fn usage(&self, completion_tokens: u64) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }

    /// One chunk per word, then one carrying `finish_reason` and `usage`.
    fn chunks(&self, state: &mut State, now: Instant) -> Vec<Value> {
        let (text, cut) = reply_for(&self.prompt, self.max_tokens);
        let words: Vec<&str> = text.split_whitespace().collect();
        let id = state.id("");
        let created = unix_seconds(state.wall(now));
        let seed = super::answer_seed(state.config.seed, &self.prompt);
        let chunk = |index: u64, delta: Value, finish: Value, usage: Value| {
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{ "index": index, "delta": delta, "finish_reason": finish, "logprobs": null, "seed": if finish.is_null() { Value::Null } else { json!(seed) } }],
                "usage": usage,
            })
        };
        let mut events = Vec::new();
        for index in 0..self.n {
            for (i, word) in words.iter().enumerate() {
                let content = if i == 0 {
                    (*word).to_owned()
                } else {
                    format!(" {word}")
                };
                // The spec requires `delta.role` on every chunk, not only the first.
                let delta = json!({ "role": "assistant", "content": content });
                events.push(chunk(index, delta, Value::Null, Value::Null));
            }
        }
        let completion_tokens = words.len() as u64 * self.n;
        for index in 0..self.n {
            let last = index + 1 == self.n;
            let usage = if last {
                self.usage(completion_tokens)
            } else {
                Value::Null
            };
            let finish = if cut { "length" } else { "stop" };
            events.push(chunk(
                index,
                json!({ "role": "assistant", "content": "" }),
                json!(finish),
                usage,
            ));
        }
        events
    }
}
