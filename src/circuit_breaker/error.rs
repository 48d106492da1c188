use std::fmt;

/// The error of a call refused because its model's circuit is open: it
/// was configured to fail fast, or its [`Deadline`](crate::extensions::Deadline)
/// would pass before the circuit could close. Nothing was sent.
///
/// The typed client reports it as an [`Error`] whose `is_circuit_open()`
/// is true.
///
#[cfg_attr(feature = "client", doc = "[`Error`]: crate::Error")]
#[cfg_attr(
    not(feature = "client"),
    doc = "[`Error`]: https://docs.rs/tower-together/latest/tower_together/struct.Error.html"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    model: Option<String>,
}

impl CircuitOpen {
    pub(crate) fn new(model: Option<&str>) -> Self {
        CircuitOpen {
            model: model.map(str::to_owned),
        }
    }

    /// The model whose circuit is open, when the request named one.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.model {
            Some(model) => write!(f, "circuit open for model {model}: request not sent"),
            None => f.write_str("circuit open: request not sent"),
        }
    }
}

impl std::error::Error for CircuitOpen {}
