//! The default transport reads `HTTP_PROXY` / `http_proxy` / `NO_PROXY`
//! from the environment when the client is built, and goes through a real
//! `tinyproxy` to the simulator. One test in a binary of its own: it sets
//! process-wide variables, which no other test may race. (Precedence and
//! `NO_PROXY` matching are unit-tested on tables, in the crate.)
#![cfg(all(feature = "client", feature = "sim"))]

#[path = "proxy_support/mod.rs"]
mod proxy_support;
#[path = "sim_support/mod.rs"]
mod sim_support;

use proxy_support::TinyProxy;
use sim_support::chat_statuses;
use tower_together::sim::Simulator;
use tower_together::{ChatRequest, Message, Together};

const KEY: &str = "proxy-env-test-key";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Sets exactly `vars` of the proxy variables (the others unset), builds
/// a client, sends one chat.
async fn chat_with(sim: &Simulator, vars: &[(&str, &str)]) {
    for name in VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    let client = Together::builder()
        .api_key(KEY)
        .base_url(sim.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    for name in VARS {
        std::env::remove_var(name);
    }
    let request = ChatRequest::new(CHAT, vec![Message::user("env")]).max_tokens(4);
    let response = client.chat(request).await.unwrap();
    assert_eq!(response.choices[0].message.content, "Echo: env");
}

#[tokio::test]
async fn proxy_variables_are_read_in_either_case_and_no_proxy_bypasses() {
    let Some(proxy) = TinyProxy::start("proxy_env", None).await else {
        return;
    };
    let sim = Simulator::builder().api_key(KEY).start().await.unwrap();
    let through = format!("POST {}/chat/completions HTTP/1.1", sim.base_url());

    chat_with(&sim, &[("HTTP_PROXY", &proxy.url())]).await;
    assert_eq!(proxy.wait_for_requests(1).await, [through]);

    chat_with(&sim, &[("http_proxy", &proxy.url())]).await;
    assert_eq!(proxy.wait_for_requests(2).await.len(), 2);

    // HTTPS_PROXY is for https:// destinations: this one goes direct.
    chat_with(&sim, &[("HTTPS_PROXY", &proxy.url())]).await;
    chat_with(
        &sim,
        &[("HTTP_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1")],
    )
    .await;
    chat_with(
        &sim,
        &[
            ("http_proxy", &proxy.url()),
            ("no_proxy", "localhost,127.0.0.0/8"),
        ],
    )
    .await;
    assert_eq!(
        proxy.wait_for_requests(3).await.len(),
        2,
        "three went direct"
    );

    assert_eq!(chat_statuses(&sim), [200; 5]);
}
