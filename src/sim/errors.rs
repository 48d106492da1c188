//! Together's error answers.

use http::StatusCode;
use serde_json::{json, Value};

/// An error answer, before it is rendered in the endpoint's shape.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    pub(crate) fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 for a request that does not parse or validate.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 naming the field at fault.
    pub(crate) fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::invalid(message).param(field)
    }

    /// 401: the message never repeats the key.
    pub(crate) fn unauthorized(missing: bool) -> Self {
        let message = if missing {
            "No API key provided. Send it as `Authorization: Bearer <key>`."
        } else {
            "Invalid API key provided. You can find your API key at https://api.together.ai/settings/api-keys."
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
            .code("invalid_api_key")
    }

    pub(crate) fn model_not_found(model: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Unable to access model {model}. Please visit https://api.together.ai/models to view the list of supported models."),
        )
        .param("model")
        .code("model_not_found")
    }

    pub(crate) fn model_not_available(model: &str) -> Self {
        ApiError::invalid(format!(
            "Unable to access non-serverless model {model}. Please visit https://api.together.ai/models/{model} to create and start a new dedicated endpoint for the model."
        ))
        .code("model_not_available")
    }

    pub(crate) fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("{what} not found"),
        )
        .code("not_found")
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("Request body is larger than {limit} bytes"),
        )
        .code("request_too_large")
    }

    pub(crate) fn overloaded() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The server is overloaded or not ready yet.",
        )
        .code("service_unavailable")
    }

    pub(crate) fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error while processing your request. Please try again.",
        )
    }

    /// The nested body every endpoint but the batch ones sends.
    pub(crate) fn body(&self, request_id: &str) -> Value {
        json!({
            "id": request_id,
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    /// The batch endpoints' body, `{"error": "<message>"}`.
    pub(crate) fn batch_body(&self) -> Value {
        json!({ "error": self.message })
    }
}

/// The HTML page a proxy sends for a 502.
pub(crate) const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

/// Cloudflare's 524 page, shortened.
pub(crate) const CLOUDFLARE_TIMEOUT_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>api.together.ai | 524: A timeout occurred</title></head>\n<body><h1>A timeout occurred <span>Error code 524</span></h1><p>The origin web server timed out responding to this request.</p><p>Cloudflare was able to connect to the origin server, but it took too long to respond.</p></body>\n</html>\n";
