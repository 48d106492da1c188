//! `POST /chat/completions`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{FinishReason, Usage};
use super::lenient::null_as_default;

lenient_enum! {
    /// Who wrote a message.
    pub enum Role {
        /// Instructions for the model.
        System => "system",
        /// The user.
        User => "user",
        /// The model.
        Assistant => "assistant",
        /// A tool's result.
        Tool => "tool",
        /// A function's result (legacy).
        Function => "function",
    }
}

/// One message of a conversation.
///
/// `content` is a `String`: Together may send `null` (for example beside
/// `tool_calls`), which reads as an empty string, so `message.content` can be
/// used directly. A user message may instead carry an array of parts (text,
/// images, video, audio): those are in `parts`, and `content` then holds
/// the text parts joined, so reading the text works either way. When `parts`
/// is not empty it is what is sent as `content`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireMessage", into = "WireMessage")]
#[non_exhaustive]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text (empty when the server sent `null`).
    pub content: String,
    /// The content parts of a multimodal user message; empty for plain text.
    pub parts: Vec<ContentPart>,
    /// An optional name for the author.
    pub name: Option<String>,
    /// Tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message, the call it answers.
    pub tool_call_id: Option<String>,
    /// Reasoning text of reasoning models (the spec's `reasoning`), when sent.
    pub reasoning: Option<String>,
    /// Reasoning text under the name some servers and SDKs use
    /// (`reasoning_content`), when sent.
    pub reasoning_content: Option<String>,
    /// The deprecated single function call (`{"name", "arguments"}`), when sent.
    pub function_call: Option<Value>,
    /// Fields this crate does not type, sent and kept as they are.
    pub extra: Map<String, Value>,
}

/// The message as it is on the wire: `content` is a string, `null`, or an
/// array of parts.
#[derive(Serialize, Deserialize)]
struct WireMessage {
    role: Role,
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function_call: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl From<WireMessage> for Message {
    fn from(wire: WireMessage) -> Self {
        let (content, parts) = match wire.content {
            None => (String::new(), Vec::new()),
            Some(WireContent::Text(text)) => (text, Vec::new()),
            Some(WireContent::Parts(parts)) => {
                let text = parts
                    .iter()
                    .filter_map(|part| match part {
                        ContentPart::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                (text, parts)
            }
        };
        Message {
            role: wire.role,
            content,
            parts,
            name: wire.name,
            tool_calls: wire.tool_calls,
            tool_call_id: wire.tool_call_id,
            reasoning: wire.reasoning,
            reasoning_content: wire.reasoning_content,
            function_call: wire.function_call,
            extra: wire.extra,
        }
    }
}

impl From<Message> for WireMessage {
    fn from(message: Message) -> Self {
        let content = if message.parts.is_empty() {
            WireContent::Text(message.content)
        } else {
            WireContent::Parts(message.parts)
        };
        WireMessage {
            role: message.role,
            content: Some(content),
            name: message.name,
            tool_calls: message.tool_calls,
            tool_call_id: message.tool_call_id,
            reasoning: message.reasoning,
            reasoning_content: message.reasoning_content,
            function_call: message.function_call,
            extra: message.extra,
        }
    }
}

impl Default for Message {
    /// An empty assistant message: what a choice reads as when the server
    /// leaves `message` out (the spec makes it optional).
    fn default() -> Self {
        Message::new(Role::Assistant, "")
    }
}

impl Message {
    /// A message with a role and a text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            parts: Vec::new(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning: None,
            reasoning_content: None,
            function_call: None,
            extra: Map::new(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::new(Role::User, content)
    }

    /// A user message made of parts (text, images, video, audio).
    ///
    /// ```
    /// use tower_together::types::{ContentPart, Message};
    ///
    /// let message = Message::user_parts(vec![
    ///     ContentPart::text("What is in this picture?"),
    ///     ContentPart::image_url("https://example.com/cat.png"),
    /// ]);
    /// let json = serde_json::to_value(&message).unwrap();
    /// assert_eq!(json["content"][1]["image_url"]["url"], "https://example.com/cat.png");
    /// assert_eq!(message.content, "What is in this picture?");
    /// ```
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Message::from(WireMessage {
            role: Role::User,
            content: Some(WireContent::Parts(parts)),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning: None,
            reasoning_content: None,
            function_call: None,
            extra: Map::new(),
        })
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new(Role::Assistant, content)
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        let mut message = Message::new(Role::Tool, content);
        message.tool_call_id = Some(tool_call_id.into());
        message
    }
}

/// A URL, as the image, video and audio parts carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaUrl {
    /// The URL (or a `data:` URL).
    pub url: String,
}

/// Base64 audio inline in a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputAudio {
    /// The audio, base64.
    pub data: String,
    /// Its format (`wav`).
    pub format: String,
}

/// One part of a multimodal user message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL.
    ImageUrl {
        /// Where it is.
        image_url: MediaUrl,
    },
    /// A video by URL.
    VideoUrl {
        /// Where it is.
        video_url: MediaUrl,
    },
    /// Audio by URL.
    AudioUrl {
        /// Where it is.
        audio_url: MediaUrl,
    },
    /// Audio inline.
    InputAudio {
        /// The audio.
        input_audio: InputAudio,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text { text: text.into() }
    }

    /// An image part.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl {
            image_url: MediaUrl { url: url.into() },
        }
    }

    /// A video part.
    pub fn video_url(url: impl Into<String>) -> Self {
        ContentPart::VideoUrl {
            video_url: MediaUrl { url: url.into() },
        }
    }

    /// An audio part, by URL.
    pub fn audio_url(url: impl Into<String>) -> Self {
        ContentPart::AudioUrl {
            audio_url: MediaUrl { url: url.into() },
        }
    }

    /// An inline audio part: base64 `data` in `format` (`wav`).
    pub fn input_audio(data: impl Into<String>, format: impl Into<String>) -> Self {
        ContentPart::InputAudio {
            input_audio: InputAudio {
                data: data.into(),
                format: format.into(),
            },
        }
    }
}

/// A tool call made by the model, kept as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// Its position among the message's calls; in a stream, which call a
    /// fragment belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The call id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Usually `"function"`.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: String,
    /// The function name and arguments (`{"name", "arguments"}`).
    #[serde(default)]
    pub function: Value,
}

/// Log probabilities of generated (or echoed) tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Logprobs {
    /// The token ids.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_ids: Vec<f64>,
    /// The tokens.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tokens: Vec<String>,
    /// Each token's log probability.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_logprobs: Vec<Option<f64>>,
    /// The most likely alternatives, kept as sent (the spec says a map of
    /// token to log probability; servers also send one map per token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<Value>,
}

/// One part of an echoed prompt (`echo: true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptPart {
    /// The prompt text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Its log probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
}

/// A warning the server attached to an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Warning {
    /// What it says.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
}

/// A chat completion request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model id.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to stream; set by [`Together::chat_stream`](crate::Together::chat_stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Any other field of the API (`tools`, `response_format`, `top_k`, ...),
    /// sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` to continue `messages`.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            max_tokens: None,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            seed: None,
            stream: None,
            extra: Map::new(),
        }
    }

    /// Sets `max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `temperature`.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }

    /// Sets `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// A chat completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The completion id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answered. With fallback models configured, this is the
    /// one that actually served the request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// Unix time of creation.
    #[serde(default)]
    pub created: Option<u64>,
    /// The choices (one unless `n` was set).
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<ChatChoice>,
    /// Token counts, when sent.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `chat.completion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The echoed prompt, with `echo: true`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub prompt: Vec<PromptPart>,
    /// Warnings about the request.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub warnings: Vec<Warning>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One choice of a chat completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatChoice {
    /// Its position.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    /// The generated message. The spec makes it optional: when the server
    /// leaves it out (or sends `null`) it reads as an empty assistant message,
    /// so `message.content` is always there to read.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: Message,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// The most likely alternatives, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<Value>,
    /// The seed the answer was sampled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The raw generated text, when the server sends it beside `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chunk of a streamed chat completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatChunk {
    /// The completion id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// Unix time of creation.
    #[serde(default)]
    pub created: Option<u64>,
    /// The choices' increments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<ChatChunkChoice>,
    /// Token counts, usually on the last chunk only.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `chat.completion.chunk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The backend configuration, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Warnings about the request.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub warnings: Vec<Warning>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The increment of one choice in a chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatChunkChoice {
    /// Which choice.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    /// The new text.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// The new token's log probability, when asked for (the spec says a
    /// number; kept as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// The most likely alternatives, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<Value>,
    /// The seed, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// New text of a streamed message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delta {
    /// The role, on the first chunk.
    #[serde(default)]
    pub role: Option<Role>,
    /// The new text (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: String,
    /// New reasoning text, for reasoning models.
    #[serde(default)]
    pub reasoning: Option<String>,
    /// New reasoning text under the other name servers use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool call fragments; `index` says which call each belongs to.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// The deprecated function call fragment, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
    /// The new token's id, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<u64>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
