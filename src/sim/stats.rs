//! What the simulator saw and did, for tests to assert on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use tokio::time::Instant;

use super::faults::FaultKind;

/// One request, as the simulator saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestRecord {
    /// When it arrived, on tokio's clock.
    pub arrival: Instant,
    /// Its method.
    pub method: Method,
    /// Its path, without the query.
    pub path: String,
    /// The accepted API key it carried; `None` for a missing or wrong key
    /// (a wrong key is never recorded).
    pub key: Option<Arc<str>>,
    /// The model (or, for endpoints without one, the endpoint's scope label
    /// such as `files`), once the request was understood.
    pub model: Option<Arc<str>>,
    /// The status sent; `None` while the answer is not decided.
    pub status: Option<StatusCode>,
    /// Whether the rate limiter admitted it (and so charged it).
    pub admitted: bool,
    /// The tokens its admission charged to the token budget (0 when not
    /// admitted).
    pub tokens: u64,
    /// The fault injected into its answer, if any.
    pub fault: Option<FaultKind>,
    /// Whether it took an entry of the script.
    pub scripted: bool,
}

/// A snapshot of the simulator's counters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_together::sim::Simulator;
///
/// let service = Simulator::builder().service();
/// let stats = service.stats();
/// assert_eq!(stats.total_requests(), 0);
/// assert_eq!(stats.rate_limited(), 0);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Stats {
    pub(crate) started: Instant,
    /// How many records were forgotten by a reset: a request's number minus
    /// this is its index.
    forgotten: usize,
    pub(crate) requests: Vec<RequestRecord>,
    pub(crate) rate_limited: u64,
    pub(crate) faults: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub(crate) fn new(started: Instant) -> Self {
        Stats {
            started,
            forgotten: 0,
            requests: Vec::new(),
            rate_limited: 0,
            faults: BTreeMap::new(),
        }
    }

    /// Records a request; returns its number.
    pub(crate) fn arrive(&mut self, record: RequestRecord) -> usize {
        self.requests.push(record);
        self.forgotten + self.requests.len() - 1
    }

    /// The record of request number `number`, unless a reset forgot it.
    pub(crate) fn record(&mut self, number: usize) -> Option<&mut RequestRecord> {
        let index = number.checked_sub(self.forgotten)?;
        self.requests.get_mut(index)
    }

    /// Forgets every record and count; request numbers keep counting.
    pub(crate) fn reset(&mut self) {
        self.forgotten += self.requests.len();
        self.requests.clear();
        self.rate_limited = 0;
        self.faults.clear();
    }

    /// When the simulator was built: second 0 of [`Stats::admitted_per_second`].
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Every request, in arrival order.
    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    /// How many requests arrived.
    pub fn total_requests(&self) -> usize {
        self.requests.len()
    }

    /// How many 429s were sent (by the limiter or the script).
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited
    }

    /// How many faults were injected, of every kind.
    pub fn faults_injected(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Faults injected, by [`FaultKind::name`].
    pub fn faults(&self) -> &BTreeMap<&'static str, u64> {
        &self.faults
    }

    /// The arrival times of the requests carrying `key` for `model`.
    pub fn arrivals(&self, key: &str, model: &str) -> Vec<Instant> {
        self.scope(key, model).map(|r| r.arrival).collect()
    }

    /// The requests admitted for `key` and `model` in each whole second since
    /// [`Stats::started`]: entry `i` counts `[started + i s, started + (i+1) s)`.
    pub fn admitted_per_second(&self, key: &str, model: &str) -> Vec<u64> {
        self.per_second(self.scope(key, model).filter(|r| r.admitted))
    }

    /// The tokens admitted for `key` and `model` in each whole second since
    /// [`Stats::started`] (as [`Stats::admitted_per_second`] counts requests).
    pub fn tokens_per_second(&self, key: &str, model: &str) -> Vec<u64> {
        let mut tokens = Vec::new();
        for record in self.scope(key, model).filter(|r| r.admitted) {
            let second = (record.arrival - self.started).as_secs() as usize;
            if tokens.len() <= second {
                tokens.resize(second + 1, 0);
            }
            tokens[second] += record.tokens;
        }
        tokens
    }

    /// Like [`Stats::admitted_per_second`], but counting every request that
    /// arrived, refused ones included.
    pub fn requests_per_second(&self, key: &str, model: &str) -> Vec<u64> {
        self.per_second(self.scope(key, model))
    }

    fn per_second<'a>(&self, records: impl Iterator<Item = &'a RequestRecord>) -> Vec<u64> {
        let mut counts = Vec::new();
        for record in records {
            let second = (record.arrival - self.started).as_secs() as usize;
            if counts.len() <= second {
                counts.resize(second + 1, 0);
            }
            counts[second] += 1;
        }
        counts
    }

    /// The most requests admitted for `key` and `model` in any window
    /// `[t, t + window)`, wherever it starts.
    pub fn max_admitted_in_window(&self, key: &str, model: &str, window: Duration) -> usize {
        let times: Vec<Instant> = self
            .scope(key, model)
            .filter(|r| r.admitted)
            .map(|r| r.arrival)
            .collect();
        // Arrivals are in order, so a window starting at each arrival covers
        // every busiest window.
        let mut best = 0;
        let mut end = 0;
        for (start, &at) in times.iter().enumerate() {
            while end < times.len() && times[end] < at + window {
                end += 1;
            }
            best = best.max(end - start);
        }
        best
    }

    fn scope<'a>(
        &'a self,
        key: &'a str,
        model: &'a str,
    ) -> impl Iterator<Item = &'a RequestRecord> + 'a {
        self.requests
            .iter()
            .filter(move |r| r.key.as_deref() == Some(key) && r.model.as_deref() == Some(model))
    }
}
