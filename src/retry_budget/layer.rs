use tower_layer::Layer;

use super::{RetryBudget, RetryBudgeted};

/// Puts a shared [`RetryBudget`] on every request, for the retry layers
/// below to draw from; see the [module docs](super).
///
/// Holds the budget's handle: every service it makes, and every clone of
/// those, draws from the one budget.
#[derive(Clone, Debug, Default)]
pub struct RetryBudgetLayer {
    budget: RetryBudget,
}

impl RetryBudgetLayer {
    /// A layer over `budget` (clone the handle to share it further).
    pub fn new(budget: RetryBudget) -> Self {
        RetryBudgetLayer { budget }
    }

    /// The budget this layer hands out.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }
}

impl<S> Layer<S> for RetryBudgetLayer {
    type Service = RetryBudgeted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryBudgeted {
            inner,
            budget: self.budget.clone(),
        }
    }
}
