//! What an answer teaches its scope: a 429 pauses it; with adaptation on,
//! the stated limits set its rates, the stated remainders hold it back, a
//! 429 cuts its rates and a success lets them recover.

use http::{Response, StatusCode};
use tokio::time::Instant;

use super::headers::{self, Stated};
use super::registry::ScopeRef;
use crate::wait_hint;

/// Feeds an answer back into the scope it was granted in (or that scope's
/// successor, if it was swept away as idle while the request was out).
#[inline]
pub(crate) fn learn<B>(scope: &ScopeRef, response: &Response<B>) {
    let feedback = scope.feedback;
    let status = response.status();
    let stated = if feedback.adaptive {
        headers::stated(response.headers())
    } else {
        Stated::default()
    };
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    let recovering = feedback.adaptive && status.is_success();
    if stated.is_empty() && !throttled && !recovering {
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
    if let Some(limit) = stated.request_limit {
        target.learn_limit(limit);
    }
    if let Some(limit) = stated.token_limit {
        target.learn_token_limit(limit);
    }
    if stated.remaining.is_some() || stated.remaining_tokens.is_some() {
        let reset = wait_hint::ratelimit_reset(response.headers())
            .map(|wait| crate::time::later(Instant::now(), wait.min(feedback.max_pause)));
        target.hold_back(stated.remaining, reset, stated.remaining_tokens);
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
