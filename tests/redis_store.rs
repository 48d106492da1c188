#![cfg(all(feature = "redis", feature = "sim"))]
//! The Redis store against a real `redis-server` (started per test on a free
//! loopback port, killed at the end) and the simulator as the server: one
//! quota kept by many limiters, as by many processes; pauses and learned
//! rates shared; no API key in Redis; an outage survived. Real time,
//! bounded.
//!
//! Each "worker" is a layer of its own (its own limiter, queue and Redis
//! connection), as a process would have; `examples/shared_quota.rs` runs
//! real processes.

#[path = "redis_support/mod.rs"]
mod redis_support;
#[path = "sim_support/mod.rs"]
mod sim_support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use redis_support::RedisServer;
use sim_support::{chat, post, CHAT_MODEL, KEY};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_together::extensions::{Model, TokenCost};
use tower_together::rate_limit::store::{RedisStore, Store, StoreUnavailable};
use tower_together::rate_limit::{RateLimitBuilder, TokenReservation};
use tower_together::sim::{Limits, SimService, Simulator};
use tower_together::{Quota, RetryAfterLayer};

const RATE: u32 = 20;

/// One test at a time: they measure real time on a shared machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn chat_request() -> Request<Full<Bytes>> {
    let mut request = post("/v1/chat/completions", chat(CHAT_MODEL, "hi"));
    request.extensions_mut().insert(Model::new(CHAT_MODEL));
    request
}

fn redis_store(server: &RedisServer, workers: u32) -> Store {
    RedisStore::new(&server.url())
        .expect("url")
        .secret("test secret")
        .workers(workers)
        .into()
}

/// A store whose Redis never answers: nothing listens on its port.
fn store_with_nothing_listening(workers: u32) -> RedisStore {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    RedisStore::new(&format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .workers(workers)
}

/// What a run of `workers` limiters over one simulator saw.
#[derive(Debug)]
struct Run {
    makespan: Duration,
    /// Per worker: when each of its requests completed, from the start.
    completions: Vec<Vec<Duration>>,
    failed: usize,
}

impl Run {
    /// Coefficient of variation of requests completed per worker by `at`.
    fn share_cv(&self, at: Duration) -> f64 {
        let counts: Vec<f64> = self
            .completions
            .iter()
            .map(|c| c.iter().filter(|t| **t <= at).count() as f64)
            .collect();
        let mean = counts.iter().sum::<f64>() / counts.len() as f64;
        let variance = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / counts.len() as f64;
        variance.sqrt() / mean
    }
}

/// `workers` layers, each built from `store()`, send `requests` chat
/// requests between them (each its share, all at once) through a 429 retry
/// layer, to `sim`.
async fn run(sim: &SimService, workers: usize, requests: usize, store: impl Fn() -> Store) -> Run {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let layer = RateLimitBuilder::new(Quota::per_second(RATE))
            .store(store())
            .build();
        let service = ServiceBuilder::new()
            .layer(RetryAfterLayer::new())
            .layer(layer)
            .service(sim.clone());
        let share = requests / workers + usize::from(worker < requests % workers);
        tasks.push(tokio::spawn(async move {
            let sends = (0..share).map(|_| {
                let service = service.clone();
                async move {
                    let answer = service.oneshot(chat_request()).await;
                    (answer.map(|r| r.status()), start.elapsed())
                }
            });
            futures_util::future::join_all(sends).await
        }));
    }
    let mut completions = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let done = task.await.expect("worker task");
        failed += done
            .iter()
            .filter(|(status, _)| !matches!(status, Ok(StatusCode::OK)))
            .count();
        completions.push(done.into_iter().map(|(_, at)| at).collect());
    }
    Run {
        makespan: start.elapsed(),
        completions,
        failed,
    }
}

fn simulator() -> SimService {
    Simulator::builder()
        .limits(Limits::per_second(RATE).burst(RATE))
        .service()
}

/// 8 limiters, one key, quota = the server's limit (20/s, burst 20), 400
/// requests (the 4 000 of BENCHMARKS.md, cut to keep CI short): the server
/// never sees more than limit + burst in a second, sends at most two 429s
/// (the goal is none), the run takes at most 5 % longer than the ideal plus
/// the pauses those 429s asked for, the workers progress evenly, and
/// Redis runs about one script per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_limiters_share_one_quota() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("eight_limiters_share_one_quota").await else {
        return;
    };
    let sim = simulator();
    let requests = 400;
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        run(&sim, 8, requests, || redis_store(&server, 8)),
    )
    .await
    .expect("the run finishes");
    let stats = sim.stats();
    let window = stats.max_admitted_in_window(KEY, CHAT_MODEL, Duration::from_secs(1));
    let ideal = Duration::from_secs_f64((requests as f64 - f64::from(RATE)) / f64::from(RATE));
    let scripts = server.command_calls("evalsha").await + server.command_calls("eval").await;
    let cv = run.share_cv(run.makespan / 2);
    eprintln!(
        "redis, 8 limiters: makespan {:?} (ideal {ideal:?}), max in 1 s {window}, 429s {}, \
         scripts/request {:.3}, share CV at half time {cv:.3}",
        run.makespan,
        stats.rate_limited(),
        scripts as f64 / requests as f64
    );
    assert_eq!(run.failed, 0);
    // The target is no 429 at all, and BENCHMARKS.md records that it is
    // missed: at a quota exactly equal to the limit the server's bucket runs
    // empty, so scheduling jitter between Redis's decision and the arrival
    // (worst on a loaded machine) can bring two admissions a hair too close.
    // Two in 400 is the bound this test holds; more would be a regression.
    assert!(
        stats.rate_limited() <= 2,
        "{} 429s from the server",
        stats.rate_limited()
    );
    assert!(window <= 2 * RATE as usize, "{window} in one second");
    // Each of those 429s carries `Retry-After: 1` (whole seconds: the
    // header cannot say less), which pauses the scope everywhere for that
    // second, as the server asked. The 5 % is the limiter's own pacing;
    // the server's pauses are added on top, or a run with its one allowed
    // 429 would fail on its makespan (seen: 20.6 s against 19 s, 1 429).
    let paused_by_server = Duration::from_secs(stats.rate_limited());
    assert!(
        run.makespan.as_secs_f64() <= 1.05 * ideal.as_secs_f64() + paused_by_server.as_secs_f64(),
        "makespan {:?}, ideal {ideal:?}, {} 429s",
        run.makespan,
        stats.rate_limited()
    );
    assert!(cv <= 0.1, "per-worker share CV {cv}");
    assert!(
        (scripts as f64) <= 1.1 * requests as f64,
        "{scripts} scripts for {requests} requests"
    );
}

/// Key names hold a fingerprint, never the API key, and every key expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_hold_no_api_key_and_expire() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("keys_hold_no_api_key_and_expire").await else {
        return;
    };
    let sim = simulator();
    run(&sim, 2, 10, || redis_store(&server, 2)).await;
    let mut connection = server.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one scope: {keys:?}");
    let key = &keys[0];
    assert!(!key.contains(KEY), "{key}");
    assert!(key.starts_with("tower-together:"), "{key}");
    assert!(
        key.ends_with(&format!(":/chat/completions:{CHAT_MODEL}")),
        "{key}"
    );
    let values: Vec<String> = redis::cmd("HVALS")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(values.iter().all(|v| !v.contains(KEY)));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 70_000, "PTTL {ttl}");
}

/// A 429 seen through one limiter pauses the scope in another (another
/// process, in real use), which shares only Redis with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_in_one_worker_pauses_all() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("a_429_in_one_worker_pauses_all").await else {
        return;
    };
    let throttled = service_fn(|_: Request<Full<Bytes>>| async {
        let response = Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after-ms", "1500")
            .body(Full::new(Bytes::new()))
            .unwrap();
        Ok::<_, std::convert::Infallible>(response)
    });
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let quota = Quota::per_second(100);
    let first = RateLimitBuilder::new(quota)
        .store(redis_store(&server, 2))
        .build()
        .layer(throttled);
    let second = RateLimitBuilder::new(quota)
        .store(redis_store(&server, 2))
        .build()
        .layer(ok);
    let answer = first.oneshot(chat_request()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    // The pause is written in the background: give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    second.oneshot(chat_request()).await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_millis(2500),
        "the other worker waited {waited:?}"
    );
}

/// A limit one worker learns from `x-ratelimit-limit` paces the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learned_limit_paces_every_worker() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("a_learned_limit_paces_every_worker").await else {
        return;
    };
    let teaching = service_fn(|_: Request<Full<Bytes>>| async {
        let response = Response::builder()
            .header("x-ratelimit-limit", "4")
            .body(Full::new(Bytes::new()))
            .unwrap();
        Ok::<_, std::convert::Infallible>(response)
    });
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let quota = Quota::per_second(100).burst(1);
    let first = RateLimitBuilder::new(quota)
        .store(redis_store(&server, 2))
        .build()
        .layer(teaching);
    let second = RateLimitBuilder::new(quota)
        .store(redis_store(&server, 2))
        .build()
        .layer(ok);
    first.oneshot(chat_request()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for _ in 0..4 {
        second.clone().oneshot(chat_request()).await.unwrap();
    }
    // At 4/s with a burst of 1, the last of 4 goes at least 0.75 s after the
    // first (at the quota's 100/s it would take 30 ms).
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(700), "took {took:?}");
}

/// Redis killed in the middle of a run and restarted 5 s later on the same
/// port: the run finishes, every request gets its answer, and while Redis
/// is away the server sees no more than each worker's fallback share
/// (quota / workers, burst / workers) allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_falls_back_and_recovers() {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = RedisServer::start("an_outage_falls_back_and_recovers").await else {
        return;
    };
    let sim = simulator();
    let store = {
        let url = server.url();
        move || -> Store {
            RedisStore::new(&url)
                .expect("url")
                .workers(4)
                .timeout(Duration::from_millis(50))
                .into()
        }
    };
    let sim_run = sim.clone();
    let running = tokio::spawn(async move { run(&sim_run, 4, 240, store).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.restart().await;
    let restarted = Instant::now();
    let run = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the run finishes")
        .expect("no panic");
    assert_eq!(run.failed, 0, "every request answered 200");
    let stats = sim.stats();
    // Admitted by the server during the outage (plus a second after it):
    // 4 workers at 20/4 a second each with a burst of 5 each.
    let outage: Vec<Instant> = stats
        .requests()
        .iter()
        .filter(|r| r.admitted && r.arrival >= killed && r.arrival < restarted)
        .map(|r| r.arrival)
        .collect();
    let seconds = restarted.duration_since(killed).as_secs_f64();
    let allowed = f64::from(RATE) * seconds + f64::from(RATE);
    eprintln!(
        "outage {seconds:.1} s: {} admitted (fallback allows {allowed:.0}), 429s {}, makespan {:?}",
        outage.len(),
        stats.rate_limited(),
        run.makespan
    );
    assert!(
        outage.len() as f64 <= allowed,
        "{} admitted in a {seconds:.1} s outage",
        outage.len()
    );
    // It was not idle: the fallback kept sending at its share.
    assert!(outage.len() as f64 >= 0.5 * f64::from(RATE) * seconds);
}

/// Loopback latency a Redis admission adds (p50, p99) over an in-memory
/// one, one request at a time through one limiter with room to spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_latency_on_loopback() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("admission_latency_on_loopback").await else {
        return;
    };
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let quota = Quota::per_second(1_000_000).burst(1_000_000);
    let measure = |store: Store| {
        let service = RateLimitBuilder::new(quota).store(store).build().layer(ok);
        async move {
            let mut took = Vec::new();
            for _ in 0..2_000 {
                let start = std::time::Instant::now();
                service.clone().oneshot(chat_request()).await.unwrap();
                took.push(start.elapsed());
            }
            took.sort();
            (took[took.len() / 2], took[took.len() * 99 / 100])
        }
    };
    let (memory_p50, memory_p99) = measure(Store::Memory).await;
    let (redis_p50, redis_p99) = measure(redis_store(&server, 1)).await;
    let added_p50 = redis_p50.saturating_sub(memory_p50);
    let added_p99 = redis_p99.saturating_sub(memory_p99);
    eprintln!("added per admission: p50 {added_p50:?}, p99 {added_p99:?}");
    // The goal is 1 ms at p99 (met on a quiet machine, see BENCHMARKS.md);
    // a busy shared CI box gets a bound that still catches a timer tick or
    // a timeout per admission.
    assert!(added_p50 <= Duration::from_millis(2), "p50 {added_p50:?}");
    assert!(added_p99 <= Duration::from_millis(20), "p99 {added_p99:?}");
}

/// A key of the wrong type (the script errors) is a Redis failure like any
/// other: the request still goes, at the fallback share, and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_of_the_wrong_shape_falls_back() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("a_reply_of_the_wrong_shape_falls_back").await else {
        return;
    };
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = RateLimitBuilder::new(Quota::per_second(10))
        .store(redis_store(&server, 2))
        .build()
        .layer(ok);
    service.clone().oneshot(chat_request()).await.unwrap();
    let mut connection = server.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    // Overwrite the scope's hash with a string: HMGET now fails in the script.
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg("not a hash")
        .query_async(&mut connection)
        .await
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            service.clone().oneshot(chat_request()),
        )
        .await
        .expect("no hang");
        assert_eq!(answer.unwrap().status(), StatusCode::OK);
    }
    // Fallback share: 10/s over 2 workers, burst 5: three go at once.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Still a string: the store never wrote through a broken key.
    let kind: String = redis::cmd("TYPE")
        .arg(&keys[0])
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(kind, "string");
}

/// No Redis at all (nothing listens on the port): requests still go, at
/// this process's share of the quota, and none waits for a connection that
/// never comes. Needs no redis-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_redis_at_all_paces_at_the_fallback_share() {
    let _serial = SERIAL.lock().await;
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let store = store_with_nothing_listening(2);
    let service = RateLimitBuilder::new(Quota::per_second(20).burst(2))
        .store(store)
        .build()
        .layer(ok);
    let start = Instant::now();
    let sends = (0..6).map(|_| service.clone().oneshot(chat_request()));
    let answers = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::future::join_all(sends),
    )
    .await
    .expect("no hang");
    assert!(answers
        .iter()
        .all(|a| a.as_ref().unwrap().status() == StatusCode::OK));
    // The share is 10/s with a burst of 1: six take 0.5 s, not 0.2 s.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

/// Fail-closed: while Redis is down every request is refused at once with
/// `StoreUnavailable` (the first after the store's timeout, the rest with
/// no Redis call), nothing reaches the server, waiters queued behind the
/// refused head are refused too; once Redis is back, requests go again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_redis_is_down() {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = RedisServer::start("fail_closed_refuses_while_redis_is_down").await
    else {
        return;
    };
    let sim = simulator();
    let store = RedisStore::new(&server.url())
        .expect("url")
        .timeout(Duration::from_millis(50));
    let layer = RateLimitBuilder::new(Quota::per_second(RATE))
        .store(store)
        .fail_closed()
        .build();
    let to_sim = sim.clone();
    let server_side = service_fn(move |request: Request<Full<Bytes>>| {
        let sim = to_sim.clone();
        async move { sim.oneshot(request).await.map_err(tower::BoxError::from) }
    });
    let service = layer.layer(server_side);

    let answer = service.clone().oneshot(chat_request()).await;
    assert_eq!(answer.expect("Redis is up: sent").status(), StatusCode::OK);

    server.kill();
    let before = sim.stats().requests().len();
    let started = Instant::now();
    let answers =
        futures_util::future::join_all((0..30).map(|_| service.clone().oneshot(chat_request())))
            .await;
    let took = started.elapsed();
    for answer in &answers {
        let error = answer.as_ref().expect_err("refused while Redis is down");
        assert!(
            error.is::<StoreUnavailable>(),
            "a typed refusal, not {error}"
        );
    }
    assert_eq!(sim.stats().requests().len(), before, "nothing was sent");
    assert!(
        took < Duration::from_millis(500),
        "30 refusals took {took:?}: at once, not after 30 timeouts"
    );
    let message = answers[0].as_ref().unwrap_err().to_string();
    assert!(
        !message.contains("127.0.0.1") && !message.contains(KEY),
        "{message}"
    );

    server.restart().await;
    // Redis is asked again a second after the failure at most.
    let back = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match service.clone().oneshot(chat_request()).await {
                Ok(response) => break response,
                Err(error) => {
                    assert!(error.is::<StoreUnavailable>(), "{error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
    .await
    .expect("requests go again once Redis answers");
    assert_eq!(back.status(), StatusCode::OK);
}

/// Settled usage reaches every process: one limiter spends the whole token
/// burst, its answer's usage gives almost all of it back, and another
/// limiter on the same Redis sends a request of the same size at once,
/// not a second later when the tokens would have come back on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_usage_is_given_back_in_every_process() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("settled_usage_is_given_back_in_every_process").await
    else {
        return;
    };
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let quota = Quota::per_second(100).tokens_per_second(1_000);
    let worker = || {
        RateLimitBuilder::new(quota)
            .store(redis_store(&server, 2))
            .build()
            .layer(ok)
    };
    let (first, second) = (worker(), worker());
    let with_tokens = |tokens: u32| {
        let mut request = chat_request();
        request.extensions_mut().insert(TokenCost::new(tokens));
        request
    };

    let answer = first.oneshot(with_tokens(1_000)).await.unwrap();
    let reservation = answer
        .extensions()
        .get::<TokenReservation>()
        .expect("the answer carries its reservation")
        .clone();
    assert_eq!(reservation.charged(), 1_000);
    reservation.settle(10);
    // The settlement is a background write to Redis.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    second.oneshot(with_tokens(900)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(300),
        "the other limiter waited {waited:?}: the give-back did not reach Redis"
    );
}

/// While Redis is down, tokens are taken from this process's fallback
/// share; an answer's usage then settles them there. One request spends
/// the whole token share and gives 990 back: a second request for 900
/// tokens goes at once (it would otherwise wait about 900 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_usage_is_given_back_to_the_fallback_share_while_redis_is_down() {
    let _serial = SERIAL.lock().await;
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    // Redis is down from the start.
    let store = store_with_nothing_listening(1);
    let service = RateLimitBuilder::new(Quota::per_second(100).tokens_per_second(1_000))
        .store(store)
        .build()
        .layer(ok);
    let with_tokens = |tokens: u32| {
        let mut request = chat_request();
        request.extensions_mut().insert(TokenCost::new(tokens));
        request
    };

    let answer = service.clone().oneshot(with_tokens(1_000)).await.unwrap();
    let reservation = answer
        .extensions()
        .get::<TokenReservation>()
        .expect("the answer carries its reservation")
        .clone();
    reservation.settle(10);

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), service.oneshot(with_tokens(900)))
        .await
        .expect("no hang")
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(300),
        "waited {waited:?}: the give-back did not reach the fallback share"
    );
}

/// When each request reached a [`counting`] service.
type SendTimes = std::sync::Arc<std::sync::Mutex<Vec<Instant>>>;

/// A counting service: answers 200 and records when each request came.
fn counting() -> (
    impl tower::Service<
            Request<Full<Bytes>>,
            Response = Response<Full<Bytes>>,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone
        + Send
        + 'static,
    SendTimes,
) {
    let sent = SendTimes::default();
    let log = sent.clone();
    let service = service_fn(move |_request: Request<Full<Bytes>>| {
        log.lock().unwrap().push(Instant::now());
        async { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new()))) }
    });
    (service, sent)
}

/// Issue 19, bug 1: with a burst tolerance longer than the idle TTL (60
/// per minute, burst 120: 119 s of tolerance), the admission script set a
/// negative TTL, the key vanished after every grant, and every request saw
/// a full bucket: the quota was unlimited (130 of 130 went at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_longer_than_the_idle_ttl_still_limits() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("a_burst_longer_than_the_idle_ttl_still_limits").await
    else {
        return;
    };
    let (service, sent) = counting();
    let layer = RateLimitBuilder::new(Quota::per_minute(60).burst(120))
        .store(redis_store(&server, 1))
        .build();
    let service = layer.layer(service);
    let sends = (0..130).map(|_| {
        let service = service.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_millis(1_500),
                service.oneshot(chat_request()),
            )
            .await;
        })
    });
    for send in futures_util::future::join_all(sends).await {
        send.unwrap();
    }
    let count = sent.lock().unwrap().len();
    // The burst of 120, then one a second: 121 (122 with a slow machine's
    // timing at the edge) in 1.5 s.
    assert!((120..=122).contains(&count), "{count} sent in 1.5 s");
}

/// Issue 19, bug 3: intervals went to Redis rounded down to whole µs, so
/// 600 000 tokens a second (1.67 µs a token) were paced as 1 000 000.
/// Rounded toward slow, 1.2 M tokens (a burst of 600 000, then 600 000
/// more) take at least the second the quota says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_never_paces_faster_than_the_quota() {
    let _serial = SERIAL.lock().await;
    let Some(server) = RedisServer::start("redis_never_paces_faster_than_the_quota").await else {
        return;
    };
    let (service, sent) = counting();
    let layer = RateLimitBuilder::new(Quota::per_second(1_000).tokens_per_second(600_000))
        .store(redis_store(&server, 1))
        .build();
    let service = layer.layer(service);
    let start = Instant::now();
    for _ in 0..12 {
        let mut request = chat_request();
        request.extensions_mut().insert(TokenCost::new(100_000));
        service.clone().oneshot(request).await.unwrap();
    }
    let last = *sent.lock().unwrap().last().unwrap() - start;
    // At 600 000 a second the last 100 000 of 1.2 M go at 1.0 s; at the
    // old 1 000 000 a second, at 0.6 s. (µs rounding makes it 1.2 s.)
    assert!(
        last >= Duration::from_millis(950) && last <= Duration::from_millis(1_500),
        "last sent at {last:?}"
    );
}

/// Issue 19, bug 4: a queue head that left with a slot reserved for one
/// unit handed it to the next head, which cost five: five went for the
/// price of one, and the request after it went 400 ms early. The budget is
/// now charged for the request that goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_head_hands_on_no_grant_of_another_cost() {
    let _serial = SERIAL.lock().await;
    let Some(server) =
        RedisServer::start("a_cancelled_head_hands_on_no_grant_of_another_cost").await
    else {
        return;
    };
    let (service, sent) = counting();
    let layer = RateLimitBuilder::new(Quota::per_second(10).burst(1))
        .store(redis_store(&server, 1))
        .build();
    let service = layer.layer(service);
    let start = Instant::now();
    service.clone().oneshot(chat_request()).await.unwrap(); // the burst of 1
                                                            // A (cost 1) reserves the slot 100 ms on; B (cost 5) and C (cost 1)
                                                            // queue behind it.
    let head = tokio::spawn(service.clone().oneshot(chat_request()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut five = chat_request();
    five.extensions_mut()
        .insert(tower_together::extensions::Cost::new(5));
    let costly = tokio::spawn(service.clone().oneshot(five));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let last = tokio::spawn(service.clone().oneshot(chat_request()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    head.abort();
    costly.await.unwrap().unwrap();
    last.await.unwrap().unwrap();
    let times = sent.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "the first, B and C");
    // B's five units end 600 ms in (one unit at 0, A's slot at 100 given
    // back, B from 100 or 200): C cannot go before about 600 ms.
    let c = times[2] - start;
    assert!(c >= Duration::from_millis(550), "C went at {c:?}");
}
