//! What an answer teaches its scope: a 429 pauses it; with adaptation on,
//! `x-ratelimit-limit` sets its rate, a 429 cuts it, a success lets it
//! recover.

use http::{Response, StatusCode};
use tokio::time::Instant;

use super::registry::ScopeRef;
use crate::wait_hint;

/// Feeds an answer back into the scope it was granted in (or that scope's
/// successor, if it was swept away as idle while the request was out).
#[inline]
pub(crate) fn learn<B>(scope: &ScopeRef, response: &Response<B>) {
    let feedback = scope.feedback;
    let status = response.status();
    let limit = if feedback.adaptive {
        wait_hint::ratelimit_limit(response.headers())
    } else {
        None
    };
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    let recovering = feedback.adaptive && status.is_success();
    if limit.is_none() && !throttled && !recovering {
        return;
    }
    let live;
    let target = if scope.scope.is_retired() {
        match scope.live() {
            Some(successor) => {
                live = successor;
                &*live
            }
            None => return,
        }
    } else {
        &*scope.scope
    };
    if let Some(limit) = limit {
        target.learn_limit(limit);
    }
    if throttled {
        let wait = wait_hint::server_wait(response.headers())
            .unwrap_or(feedback.default_pause)
            .min(feedback.max_pause);
        tracing::debug!(?wait, "429: pausing the scope");
        target.pause_until(crate::time::later(Instant::now(), wait), feedback.adaptive);
    } else if recovering {
        target.succeeded();
    }
}
