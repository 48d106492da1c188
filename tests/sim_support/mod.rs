//! Helpers shared by the simulator's tests.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_together::sim::SimService;

pub const KEY: &str = "sim-key";
pub const CHAT_MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
pub const EMBED_MODEL: &str = "BAAI/bge-base-en-v1.5";

/// A request with the default key and, if given, a JSON body.
pub fn request(method: Method, path: &str, body: Option<Value>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://sim.test{path}"))
        .header("authorization", format!("Bearer {KEY}"));
    let bytes = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).unwrap()
}

pub fn post(path: &str, body: Value) -> Request<Full<Bytes>> {
    request(Method::POST, path, Some(body))
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    request(Method::GET, path, None)
}

pub fn chat(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(service: &SimService, request: Request<Full<Bytes>>) -> Answer {
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Asserts Together's nested error body and returns `error`.
pub fn error_of(answer: &Answer) -> Value {
    let json = answer.json();
    let error = json["error"].clone();
    assert!(error["message"].is_string(), "no message in {json}");
    assert!(error["type"].is_string(), "no type in {json}");
    assert!(error.get("param").is_some(), "no param in {json}");
    assert!(error.get("code").is_some(), "no code in {json}");
    error
}

/// Uploads `content` through the 302 flow and returns the file id.
pub async fn upload(service: &SimService, name: &str, purpose: &str, content: &str) -> String {
    let create = Request::post(format!(
        "http://sim.test/v1/files?file_name={name}&purpose={purpose}"
    ))
    .header("authorization", format!("Bearer {KEY}"))
    .header("content-type", "application/x-www-form-urlencoded")
    .body(Full::new(Bytes::from(format!(
        "file_name={name}&purpose={purpose}"
    ))))
    .unwrap();
    let answer = send(service, create).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    let id = answer.header("x-together-file-id").unwrap().to_owned();
    let location = answer.header("location").unwrap().to_owned();
    let put = Request::put(location)
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(content.to_owned())))
        .unwrap();
    let answer = send(service, put).await;
    assert_eq!(answer.status, StatusCode::OK);
    id
}

/// The statuses of the chat requests a served simulator answered, in order.
pub fn chat_statuses(sim: &tower_together::sim::Simulator) -> Vec<u16> {
    sim.stats()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .filter_map(|r| r.status.map(|s| s.as_u16()))
        .collect()
}

/// A loopback port nothing listens on (bound, then closed again).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
