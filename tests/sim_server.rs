#![cfg(all(feature = "sim", feature = "client"))]
//! The simulator over real loopback HTTP: start, serve, misbehave, stop.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower_together::sim::{Fault, Limits, Simulator};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(method: &str, url: String, body: Option<Value>) -> Request<Full<Bytes>> {
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", "Bearer sim-key")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap()
}

fn chat(text: &str, stream: bool) -> Value {
    json!({ "model": MODEL, "stream": stream, "messages": [{ "role": "user", "content": text }] })
}

async fn fetch(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    let response = client.request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    (
        parts,
        body.collect().await.expect("a whole body").to_bytes(),
    )
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    // The accept loop stops soon after the signal; give it a moment.
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn several_simulators_run_at_once_and_stop_cleanly() {
    let a = Simulator::builder().start().await.unwrap();
    let b = Simulator::builder().start().await.unwrap();
    let c = Simulator::builder().start().await.unwrap();
    assert_ne!(a.base_url(), b.base_url());
    assert!(a.base_url().starts_with("http://127.0.0.1:") && a.base_url().ends_with("/v1"));
    let client = client();
    for sim in [&a, &b, &c] {
        let (parts, body) = fetch(
            &client,
            request("GET", format!("{}/models", sim.base_url()), None),
        )
        .await;
        assert_eq!(parts.status, StatusCode::OK);
        assert!(serde_json::from_slice::<Value>(&body).unwrap().is_array());
    }
    fetch(
        &client,
        request("GET", format!("{}/models", a.base_url()), None),
    )
    .await;
    assert_eq!(a.stats().total_requests(), 2);
    assert_eq!(b.stats().total_requests(), 1);

    let (a_addr, b_addr) = (a.addr(), b.addr());
    a.shutdown().await;
    assert!(
        refuses_connections(a_addr).await,
        "shut down simulator still accepts"
    );
    drop(b);
    assert!(
        refuses_connections(b_addr).await,
        "dropped simulator still accepts"
    );
    let (parts, _) = fetch(
        &client,
        request("GET", format!("{}/models", c.base_url()), None),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
}

#[tokio::test]
async fn chat_and_stream_over_http() {
    let sim = Simulator::builder().start().await.unwrap();
    let client = client();
    let before = Instant::now();
    let url = format!("{}/chat/completions", sim.base_url());
    let (parts, body) = fetch(
        &client,
        request("POST", url.clone(), Some(chat("hello", false))),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    for name in [
        "date",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-tokenlimit-limit",
        "x-tokenlimit-remaining",
    ] {
        assert!(parts.headers.contains_key(name), "{name}");
    }
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "Echo: hello");

    let (parts, body) = fetch(
        &client,
        request("POST", url, Some(chat("hello again", true))),
    )
    .await;
    assert_eq!(parts.headers["content-type"], "text/event-stream");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(text.contains("\"usage\":{"));

    let after = Instant::now();
    let stats = sim.stats();
    assert_eq!(stats.total_requests(), 2);
    for record in stats.requests() {
        assert!(record.arrival >= before && record.arrival <= after);
        assert_eq!(record.path, "/v1/chat/completions");
        assert_eq!(record.status, Some(StatusCode::OK));
        assert_eq!(record.model.as_deref(), Some(MODEL));
    }
}

#[tokio::test]
async fn upload_redirect_points_back_at_the_simulator() {
    let sim = Simulator::builder().start().await.unwrap();
    let client = client();
    let create = Request::post(format!(
        "{}/files?file_name=data.jsonl&purpose=fine-tune",
        sim.base_url()
    ))
    .header("authorization", "Bearer sim-key")
    .header("content-type", "application/x-www-form-urlencoded")
    .body(Full::new(Bytes::from_static(
        b"file_name=data.jsonl&purpose=fine-tune",
    )))
    .unwrap();
    let (parts, _) = fetch(&client, create).await;
    assert_eq!(parts.status, StatusCode::FOUND);
    let location = parts.headers["location"].to_str().unwrap().to_owned();
    let id = parts.headers["x-together-file-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with(&format!("http://{}/", sim.addr())),
        "{location}"
    );
    let put = Request::put(location)
        .body(Full::new(Bytes::from_static(b"{\"text\":\"x\"}\n")))
        .unwrap();
    assert_eq!(fetch(&client, put).await.0.status, StatusCode::OK);
    let (_, body) = fetch(
        &client,
        request("GET", format!("{}/files/{id}", sim.base_url()), None),
    )
    .await;
    let file: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(file["Processed"], true);
    assert_eq!(file["bytes"], 13);
}

#[tokio::test]
async fn disconnect_closes_the_connection_mid_response() {
    let sim = Simulator::builder()
        .fault(Fault::disconnect(1.0))
        .start()
        .await
        .unwrap();
    let response = client()
        .request(request(
            "POST",
            format!("{}/chat/completions", sim.base_url()),
            Some(chat("hello world", true)),
        ))
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.into_body().collect().await.is_err(),
        "the body must break off"
    );
    assert_eq!(sim.stats().faults()["disconnect"], 1);
}

#[tokio::test]
async fn oversized_body_is_413_over_http() {
    let sim = Simulator::builder()
        .max_body_bytes(1024)
        .start()
        .await
        .unwrap();
    let big = chat(&"word ".repeat(1000), false);
    let (parts, body) = fetch(
        &client(),
        request(
            "POST",
            format!("{}/chat/completions", sim.base_url()),
            Some(big),
        ),
    )
    .await;
    assert_eq!(parts.status, StatusCode::PAYLOAD_TOO_LARGE);
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert!(json["error"]["message"].is_string());
}

#[tokio::test]
async fn limits_hold_over_http() {
    let sim = Simulator::builder()
        .limits(Limits::per_second(5).burst(5))
        .start()
        .await
        .unwrap();
    let client = client();
    let url = format!("{}/chat/completions", sim.base_url());
    let mut ok = 0;
    for _ in 0..20 {
        let (parts, _) = fetch(
            &client,
            request("POST", url.clone(), Some(chat("x", false))),
        )
        .await;
        match parts.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => assert!(parts.headers.contains_key("retry-after")),
            other => panic!("unexpected {other}"),
        }
    }
    let stats = sim.stats();
    assert!(ok >= 5, "the burst is admitted");
    assert_eq!(stats.rate_limited(), 20 - ok);
    // Burst plus rate, less one, in any second (see `Limits`).
    assert!(stats.max_admitted_in_window("sim-key", MODEL, Duration::from_secs(1)) <= 9);
}
