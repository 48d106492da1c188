//! Types shared by several endpoints.

use serde::{Deserialize, Serialize};

use super::lenient::null_as_default;

/// Token counts of a request, as the server reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default, deserialize_with = "null_as_default")]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default, deserialize_with = "null_as_default")]
    pub completion_tokens: u64,
    /// Both together.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_tokens: u64,
}

lenient_enum! {
    /// Why generation stopped.
    pub enum FinishReason {
        /// A stop sequence was produced.
        Stop => "stop",
        /// The model produced its end-of-sequence token (Together's own value).
        Eos => "eos",
        /// `max_tokens` or the context length was reached.
        Length => "length",
        /// The model called tools.
        ToolCalls => "tool_calls",
        /// The model called a function (legacy).
        FunctionCall => "function_call",
    }
}
