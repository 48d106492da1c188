//! The Redis store: one atomic server-side script per admission, on the
//! server's clock, so many processes pace one quota together.

use std::fmt;
use std::future::Future;
use std::hash::Hasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use siphasher::sip128::{Hasher128, SipHasher13};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::super::gcra::Pacing;
use super::super::pace::{STATED_FOR, UNLIMITED};
use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// What every script starts with: the server's clock (µs), `keep`, which
/// makes the key outlive the state it holds, and `rate`, which picks a
/// learned rate over the caller's while it holds.
///
/// A key must live until its fullest budget is full again plus the idle
/// time (`keep(full_at)`), never less than 1 ms: a TTL computed from the
/// state alone went negative once the burst tolerance passed the idle time
/// (`per_minute(60).burst(120)`: 119 s of tolerance), the key vanished, and
/// every process saw a full bucket, so the quota was unlimited.
const PRELUDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function keep(full_at, idle_ms)
  local want = math.max(1, math.ceil((full_at - now) / 1000)) + idle_ms
  if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
end
local function rate(learned_i, learned_b, learned_until, i, b)
  if tonumber(learned_until) and tonumber(learned_until) > now and tonumber(learned_i) then
    return tonumber(learned_i), tonumber(learned_b)
  end
  return i, b
end
";

/// The admission script. KEYS[1]: the scope's hash. ARGV: request interval
/// (µs), request burst, cost, token interval (µs, 0: no token budget), token
/// burst, tokens, idle TTL (ms), reservation horizon (µs).
///
/// Fields: `r`/`t` the request and token budgets' GCRA states (µs on the
/// server's clock: the earliest time the next unit may go), `p` no grant
/// before this (a 429), `ri`/`rb`/`ru` and `ti`/`tb`/`tu` rates learned
/// from the server and until when they hold, which win over the caller's
/// until then. Replies `{1, 0}` go now, `{2, W}` go in W µs (the slot is
/// reserved), `{0, W}` ask again in W µs (nothing taken). Numbers are
/// written with `%d`: Lua's default formatting keeps 14 digits.
const ADMIT: &str = r"
local h = redis.call('HMGET', KEYS[1], 'r', 't', 'p', 'ri', 'rb', 'ru', 'ti', 'tb', 'tu')
local ri, rb = rate(h[4], h[5], h[6], tonumber(ARGV[1]), tonumber(ARGV[2]))
local ti, tb = rate(h[7], h[8], h[9], tonumber(ARGV[4]), tonumber(ARGV[5]))
local cost = tonumber(ARGV[3])
local tokens = tonumber(ARGV[6])
local paused = tonumber(h[3]) or 0
if paused > now then return {0, paused - now} end
local function slot(state, interval, burst, n)
  local full = now - interval * (burst - 1)
  local s = math.max(tonumber(state) or full, full)
  return s + interval * (math.min(n, burst) - 1), s + interval * n
end
local go, r_next = slot(h[1], ri, rb, cost)
local t_next = nil
if tokens > 0 and ti > 0 then
  local t_go
  t_go, t_next = slot(h[2], ti, tb, tokens)
  go = math.max(go, t_go)
end
if go - now > tonumber(ARGV[8]) then return {0, go - now} end
local full_at = r_next + ri * (rb - 1)
if t_next then
  redis.call('HSET', KEYS[1], 'r', string.format('%d', r_next), 't', string.format('%d', t_next))
  full_at = math.max(full_at, t_next + ti * (tb - 1))
else
  redis.call('HSET', KEYS[1], 'r', string.format('%d', r_next))
end
keep(full_at, tonumber(ARGV[7]))
if go > now then return {2, go - now} end
return {1, 0}
";

/// A 429 pauses the scope in every process. ARGV: the pause (µs), idle TTL
/// (ms), the caller's request interval (µs) and burst. Resumes paced, not
/// with a burst (as the in-memory scope does).
const PAUSE: &str = r"
local h = redis.call('HMGET', KEYS[1], 'p', 'r', 'ri', 'rb', 'ru')
local ri, rb = rate(h[3], h[4], h[5], tonumber(ARGV[3]), tonumber(ARGV[4]))
local p = now + tonumber(ARGV[1])
if p > (tonumber(h[1]) or 0) then
  redis.call('HSET', KEYS[1], 'p', string.format('%d', p))
end
local r = tonumber(h[2]) or 0
if p > r then
  redis.call('HSET', KEYS[1], 'r', string.format('%d', p))
  r = p
end
keep(r + ri * (rb - 1), tonumber(ARGV[2]))
return 1
";

/// Moves one budget's state by `delta` units in every process: an answer's
/// usage settling its token reservation, or a grant never sent given back.
/// Less than charged moves it back, never past a full bucket; more, forward.
/// ARGV: the budget (`r` requests, `t` tokens), delta (units), the caller's
/// interval (µs) and burst (learned ones win), idle TTL (ms). A scope whose
/// state expired has nothing to settle.
const SETTLE: &str = r"
local f = ARGV[1]
local h = redis.call('HMGET', KEYS[1], f, f .. 'i', f .. 'b', f .. 'u')
local state = tonumber(h[1])
if not state then return 0 end
local i, b = rate(h[2], h[3], h[4], tonumber(ARGV[3]), tonumber(ARGV[4]))
local delta = tonumber(ARGV[2])
local next = state + i * delta
if delta < 0 then next = math.min(state, math.max(next, now - i * (b - 1))) end
redis.call('HSET', KEYS[1], f, string.format('%d', next))
keep(next + i * (b - 1), tonumber(ARGV[5]))
return 1
";

/// A rate learned from the server is used by every process until it
/// expires (the key lives that long at least: past it, the rate is
/// ignored). ARGV: the budget (`r`, `t`), interval (µs), burst, how long it
/// holds (µs).
const LEARN: &str = r"
local f = ARGV[1]
local held = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], f .. 'i', ARGV[2], f .. 'b', ARGV[3], f .. 'u', string.format('%d', now + held))
keep(now + held, 0)
return 1
";

/// Prefix of the keys, unless configured.
const DEFAULT_PREFIX: &str = "tower-together";
/// The fingerprint secret, unless configured. Public: set your own (see
/// [`RedisStore::secret`]).
const DEFAULT_SECRET: &[u8] = b"tower-together default secret";
/// How long a Redis call may take before the process decides alone.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// While Redis is down, ask it again at most this often.
const RETRY_DOWN: Duration = Duration::from_secs(1);
/// A scope's key lives this long after its state stops mattering.
const IDLE_TTL_MS: u64 = 60_000;
/// The farthest ahead a process may reserve a slot.
const HORIZON: Duration = Duration::from_secs(1);

/// Scopes kept in Redis, shared by every process that uses the same server,
/// key prefix and fingerprint secret.
///
/// # How it decides
///
/// The head of a scope's queue in each process runs one Lua script per
/// admission. The script reads the server's clock (`TIME`), so the workers'
/// clocks do not matter, decides for every budget of the scope at once
/// (requests and, when paced, tokens), and either grants now, reserves the
/// next free slot up to one second ahead (the process sleeps until it, then
/// sends), or says when to ask again. Within a process, waiters stay first
/// come, first served and only the head talks to Redis; across processes,
/// each head holds at most one reservation at a time, so slots go round the
/// processes and none starves.
///
/// A 429 seen by one process pauses the scope in all of them, and a rate
/// one process learns from `x-ratelimit-limit` / `x-tokenlimit-limit` is
/// stored with the scope and used by all. What stays in each process: the
/// reconciliation of token estimates with the answer's `usage`, and the
/// hold-back on `x-ratelimit-remaining` (both adjust this process's own
/// view only), and the rate cut after a 429 (it paces this process's own
/// asks, and only while no learned rate is stored; the shared pause is what
/// stops every process).
///
/// # Keys
///
/// `{prefix}:{fingerprint}:{endpoint}:{model}`, a hash with a TTL that
/// vanishes a minute after the scope goes idle. The fingerprint is a keyed
/// 128-bit SipHash of the request's `Authorization` value; the key
/// ([`secret`](Self::secret)) must be the same in every process that should
/// share quotas. The API key itself is never written anywhere. Requests
/// without an `Authorization` header share one scope per endpoint and model.
///
/// # When Redis fails
///
/// Every call has a timeout (default 50 ms). When Redis is down, slow,
/// restarted or flushed, nothing panics, hangs or is lost: the process falls
/// back to an in-process budget of `quota / workers` (see
/// [`workers`](Self::workers)), says so once with `tracing::warn!`, asks
/// Redis again at most once a second, and uses it again as soon as it
/// answers (fail-open). A flushed or restarted server starts every scope
/// with a full bucket.
///
/// Built with [`RateLimitBuilder::fail_closed`](crate::rate_limit::RateLimitBuilder::fail_closed),
/// the layer refuses instead: each request gets a
/// [`StoreUnavailable`](super::StoreUnavailable) at once (the first after
/// the timeout) and nothing is sent until Redis answers again.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use tower_together::rate_limit::{store::RedisStore, RateLimitBuilder};
/// use tower_together::Quota;
///
/// let store = RedisStore::new("redis://127.0.0.1:6379/")
///     .expect("a valid Redis URL")
///     .secret(std::env::var("QUOTA_SECRET").unwrap_or_default())
///     .workers(8)
///     .timeout(Duration::from_millis(50));
/// let layer = RateLimitBuilder::new(Quota::per_second(20)).store(store).build();
/// # drop(layer);
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    prefix: Arc<str>,
    keys: (u64, u64),
    timeout: Duration,
    workers: u32,
}

impl fmt::Debug for RedisStore {
    // Neither the URL (it may hold a password) nor the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://host:port/db`). Only
    /// parses the URL: the connection is made on first use, and a server
    /// that is not there yet is a fallback, not an error.
    pub fn new(url: &str) -> Result<RedisStore, redis::RedisError> {
        Ok(RedisStore {
            client: redis::Client::open(url)?,
            prefix: DEFAULT_PREFIX.into(),
            keys: keys_of(DEFAULT_SECRET),
            timeout: DEFAULT_TIMEOUT,
            workers: 1,
        })
    }

    /// The prefix of every key (default `tower-together`).
    pub fn prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The secret that keys the fingerprint of API keys in key names. Every
    /// process that shares quotas must use the same one. The default is
    /// public, so anyone who knows an API key can compute its key name; a
    /// secret of your own also keeps key names of two deployments apart.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.keys = keys_of(secret.as_ref());
        self
    }

    /// How long one Redis call may take (default 50 ms) before the process
    /// decides alone.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many processes are expected to share each quota (default 1).
    /// While Redis is unreachable each process paces by `quota / workers`
    /// (and a burst of `burst / workers`, at least 1).
    pub fn workers(mut self, workers: u32) -> Self {
        self.workers = workers.max(1);
        self
    }
}

/// The SipHash key derived from a secret of any length.
fn keys_of(secret: &[u8]) -> (u64, u64) {
    let mut hasher = SipHasher13::new_with_keys(0, 0);
    hasher.write(b"tower-together redis key names");
    hasher.write(secret);
    let hash = hasher.finish128();
    (hash.h1, hash.h2)
}

/// What the store said about an admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Go now.
    Go,
    /// Go after this wait: the slot is taken.
    GoIn(Duration),
    /// Nothing taken: ask again after this wait.
    AskIn(Duration),
}

/// A Redis call in flight (boxed: it lives in the scope across polls).
pub(crate) type Asking = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>>;

/// The store as one limiter uses it: a connection shared by its scopes.
pub(crate) struct Shared {
    store: RedisStore,
    connection: OnceCell<ConnectionManager>,
    admit: redis::Script,
    pause: redis::Script,
    learn: redis::Script,
    settle: redis::Script,
    health: Mutex<Health>,
    /// Refuse while Redis is down, instead of deciding alone.
    fail_closed: bool,
}

#[derive(Debug, Default)]
struct Health {
    /// Redis failed: decide alone until then.
    down_until: Option<Instant>,
    /// The outage was reported.
    warned: bool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(store: RedisStore, fail_closed: bool) -> Arc<Shared> {
        Arc::new(Shared {
            store,
            connection: OnceCell::new(),
            admit: script(ADMIT),
            pause: script(PAUSE),
            learn: script(LEARN),
            settle: script(SETTLE),
            health: Mutex::default(),
            fail_closed,
        })
    }

    /// The handle of one scope, named from the request's `Authorization`
    /// value (in the canonical form every fingerprint of a key takes), else
    /// from its in-process fingerprint `api_key` (0: none), and its
    /// endpoint class and model.
    pub(crate) fn remote(
        self: &Arc<Self>,
        authorization: Option<&[u8]>,
        api_key: u64,
        endpoint: Endpoint,
        model: Option<&Model>,
    ) -> Remote {
        let (k0, k1) = self.store.keys;
        let mut hasher = SipHasher13::new_with_keys(k0, k1);
        match authorization {
            Some(value) => crate::fingerprint::feed(&mut hasher, value),
            // Only this process can tell such fingerprints apart; 0 is the
            // scope of requests with no key at all.
            None if api_key != 0 => {
                hasher.write(b"fingerprint ");
                hasher.write_u64(api_key);
            }
            None => {}
        }
        let fingerprint = hasher.finish128().as_u128();
        let key = format!(
            "{}:{fingerprint:032x}:{}:{}",
            self.store.prefix,
            endpoint.as_str(),
            model.map_or("", Model::as_str)
        );
        Remote {
            shared: self.clone(),
            key: key.into(),
        }
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let timeout = self.store.timeout;
        let connection = self
            .connection
            .get_or_try_init(|| {
                // The manager reconnects in the background; each call here
                // is bounded by our own timeout anyway.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout)
                    .set_number_of_retries(1)
                    .set_max_delay(1_000);
                ConnectionManager::new_with_config(self.store.client.clone(), config)
            })
            .await?;
        Ok(connection.clone())
    }

    /// Whether Redis failed recently: decide alone for now.
    fn is_down(&self, now: Instant) -> bool {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until.is_some_and(|until| now < until)
    }

    fn failed(&self, error: &str) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until = Some(crate::time::later(Instant::now(), RETRY_DOWN));
        if !health.warned {
            health.warned = true;
            if self.fail_closed {
                tracing::warn!(
                    error,
                    "Redis rate-limit store unavailable: refusing requests (fail-closed) until it answers"
                );
            } else {
                tracing::warn!(
                    error,
                    workers = self.store.workers,
                    "Redis rate-limit store unavailable: pacing each scope at quota / workers in this process until it answers"
                );
            }
        }
    }

    fn answered(&self) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until = None;
        if health.warned {
            health.warned = false;
            tracing::info!("Redis rate-limit store answering again");
        }
    }
}

/// One scope's place in Redis.
#[derive(Clone, Debug)]
pub(crate) struct Remote {
    shared: Arc<Shared>,
    /// `{prefix}:{fingerprint}:{endpoint}:{model}`: no API key in it.
    key: Arc<str>,
}

/// A script with the prelude every script shares.
fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

/// Microseconds, at least 1 (the scripts' unit), rounded up: toward slow,
/// as `Quota` rounds, so no process paces faster than asked (rounded down,
/// 600 000 tokens a second paced as 1 000 000).
fn micros(nanos: u64) -> u64 {
    nanos.div_ceil(1_000).max(1)
}

fn micros_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Remote {
    /// Whether to decide alone now (Redis failed less than a second ago).
    pub(crate) fn is_down(&self, now: Instant) -> bool {
        self.shared.is_down(now)
    }

    /// Whether to refuse, rather than decide alone, while Redis is down.
    pub(crate) fn fails_closed(&self) -> bool {
        self.shared.fail_closed
    }

    /// Asks Redis for `cost` requests at `requests` and, when `tokens` is
    /// given, that many tokens at its pace. Never takes longer than the
    /// store's timeout; every failure is an `Err` (with no API key in it).
    pub(crate) fn ask(&self, requests: Pacing, cost: u32, tokens: Option<(Pacing, u32)>) -> Asking {
        let shared = self.shared.clone();
        let key = self.key.clone();
        let (token_interval, token_burst, tokens) = match tokens {
            Some((pacing, n)) if pacing.interval != UNLIMITED && n > 0 => {
                (micros(pacing.interval), pacing.burst, n)
            }
            _ => (0, 1, 0),
        };
        Box::pin(async move {
            let call = async {
                let mut connection = shared.connection().await?;
                shared
                    .admit
                    .key(&*key)
                    .arg(micros(requests.interval))
                    .arg(requests.burst.max(1))
                    .arg(cost.max(1))
                    .arg(token_interval)
                    .arg(token_burst.max(1))
                    .arg(tokens)
                    .arg(IDLE_TTL_MS)
                    .arg(micros_of(HORIZON))
                    .invoke_async::<Vec<i64>>(&mut connection)
                    .await
            };
            let reply = match tokio::time::timeout(shared.store.timeout, call).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(error)) => return Err(shared.fail(&error.to_string())),
                Err(_) => return Err(shared.fail("timed out")),
            };
            let wait = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
            let answer = match reply.as_slice() {
                [1, _] => Answer::Go,
                [2, us] => Answer::GoIn(wait(*us)),
                [0, us] => Answer::AskIn(wait(*us)),
                _ => return Err(shared.fail("unexpected reply from the admission script")),
            };
            shared.answered();
            Ok(answer)
        })
    }

    /// A 429 pauses this scope in every process for `wait`; `requests` is
    /// the request budget's pacing here (for the key's lifetime).
    pub(crate) fn share_pause(&self, wait: Duration, requests: Pacing) {
        let args = vec![
            micros_of(wait).to_string(),
            IDLE_TTL_MS.to_string(),
            micros(requests.interval).to_string(),
            requests.burst.max(1).to_string(),
        ];
        self.send(|shared| &shared.pause, args);
    }

    /// Settles `delta` tokens of this scope's token budget in every process
    /// (negative: given back), paced at `pacing` unless a learned rate is
    /// stored.
    pub(crate) fn share_tokens(&self, delta: i64, pacing: Pacing) {
        self.settle("t", delta, pacing);
    }

    /// Moves this scope's request budget by `delta` units in every process
    /// (negative: a grant never sent, given back).
    pub(crate) fn share_requests(&self, delta: i64, pacing: Pacing) {
        self.settle("r", delta, pacing);
    }

    fn settle(&self, budget: &str, delta: i64, pacing: Pacing) {
        if delta == 0 || pacing.interval == UNLIMITED {
            return;
        }
        let args = vec![
            budget.to_owned(),
            delta.to_string(),
            micros(pacing.interval).to_string(),
            pacing.burst.max(1).to_string(),
            IDLE_TTL_MS.to_string(),
        ];
        self.send(|shared| &shared.settle, args);
    }

    /// A rate learned from the server is used by every process while it
    /// holds (`STATED_FOR`). `tokens`: the token budget's, else the
    /// requests'.
    pub(crate) fn share_rate(&self, tokens: bool, pacing: Pacing) {
        let args = vec![
            if tokens { "t" } else { "r" }.to_owned(),
            micros(pacing.interval).to_string(),
            pacing.burst.max(1).to_string(),
            micros(STATED_FOR).to_string(),
        ];
        self.send(|shared| &shared.learn, args);
    }

    /// Runs a write in the background, bounded by the timeout. Its failure
    /// is logged, not taken for an outage: only admission decides health
    /// (a slow write marking the store down made a fail-closed layer refuse
    /// every request for a second). What it would have shared is lost, as
    /// it would be to a restarted server; each process still paces itself.
    fn send(&self, script: fn(&Shared) -> &redis::Script, args: Vec<String>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.shared.clone();
        let key = self.key.clone();
        runtime.spawn(async move {
            let call = async {
                let mut connection = shared.connection().await?;
                let mut invocation = script(&shared).prepare_invoke();
                invocation.key(&*key);
                for arg in &args {
                    invocation.arg(arg);
                }
                invocation.invoke_async::<i64>(&mut connection).await
            };
            match tokio::time::timeout(shared.store.timeout, call).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "Redis rate-limit store: a shared write failed");
                }
                Err(_) => tracing::debug!("Redis rate-limit store: a shared write timed out"),
            }
        });
    }

    /// The in-process budget while Redis is down: this process's share.
    pub(crate) fn fallback(&self, pacing: Pacing) -> Pacing {
        if pacing.interval == UNLIMITED {
            return pacing;
        }
        let workers = self.shared.store.workers;
        Pacing {
            interval: pacing.interval.saturating_mul(u64::from(workers)),
            burst: (pacing.burst / workers).max(1),
        }
    }
}

impl Shared {
    /// Records a failure; returns its description for the caller.
    fn fail(&self, error: &str) -> String {
        self.failed(error);
        error.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(store: RedisStore, authorization: &[u8]) -> Arc<str> {
        let model = Model::new("m/x");
        Shared::new(store, false)
            .remote(
                Some(authorization),
                0,
                Endpoint::ChatCompletions,
                Some(&model),
            )
            .key
    }

    #[test]
    fn key_names_agree_across_stores_and_hide_the_key() {
        let store = || RedisStore::new("redis://127.0.0.1/").unwrap().secret("s");
        let one = name(store(), b"Bearer sk-secret-key");
        // Another `Shared` (another process) names the scope the same.
        assert_eq!(one, name(store(), b"Bearer sk-secret-key"));
        assert!(!one.contains("sk-secret-key"));
        assert!(one.starts_with("tower-together:"));
        assert!(one.ends_with(":/chat/completions:m/x"));
        // Another key, or another secret: another name.
        assert_ne!(one, name(store(), b"Bearer sk-other-key"));
        // One key however its header is spelled, as in memory.
        assert_eq!(one, name(store(), b"bearer  sk-secret-key "));
        let other = RedisStore::new("redis://127.0.0.1/").unwrap().secret("t");
        assert_ne!(one, name(other, b"Bearer sk-secret-key"));
    }

    #[test]
    fn debug_shows_no_url_or_secret() {
        let store = RedisStore::new("redis://:hunter2@127.0.0.1/")
            .unwrap()
            .secret("s3cret");
        let debug = format!("{store:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cret"),
            "{debug}"
        );
    }

    /// Issue 19, bug 5: a background write (pause, settle, learn) that
    /// failed marked the store down, so a fail-closed layer refused every
    /// request for a second. Only admission decides health now.
    #[tokio::test]
    async fn a_failed_background_write_does_not_mark_the_store_down() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/")).unwrap();
        let remote = Shared::new(store, true).remote(None, 0, Endpoint::ChatCompletions, None);
        let pacing = Pacing {
            interval: 1_000_000,
            burst: 1,
        };
        remote.share_pause(Duration::from_secs(1), pacing);
        remote.share_tokens(-10, pacing);
        remote.share_rate(false, pacing);
        // Nothing listens: each write fails within the 50 ms timeout.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!remote.is_down(Instant::now()));
        // An admission that fails still does.
        assert!(remote.ask(pacing, 1, None).await.is_err());
        assert!(remote.is_down(Instant::now()));
    }

    #[test]
    fn intervals_go_to_redis_rounded_toward_slow() {
        assert_eq!(
            micros(1_666),
            2,
            "600 000 a second is not paced as 1 000 000"
        );
        assert_eq!(micros(2_000), 2);
        assert_eq!(micros(1), 1);
        assert_eq!(micros(0), 1);
    }

    #[test]
    fn fallback_is_this_process_share() {
        let store = RedisStore::new("redis://127.0.0.1/").unwrap().workers(8);
        let remote = Shared::new(store, false).remote(None, 0, Endpoint::ChatCompletions, None);
        let share = remote.fallback(Pacing {
            interval: 50_000_000,
            burst: 20,
        });
        assert_eq!(
            share,
            Pacing {
                interval: 400_000_000,
                burst: 2
            }
        );
    }
}
