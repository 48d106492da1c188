//! The default transport through a real forward proxy (Debian's
//! `tinyproxy`, started per test on a free loopback port): `http://`
//! requests as absolute-form requests to the proxy, `https://` ones
//! through a CONNECT tunnel to a TLS server with a private CA, `no_proxy`
//! going around it, basic auth to a proxy that asks for it, and the error
//! a proxy that is not there gives. The settings are the builder's
//! (explicit); `tests/proxy_env.rs` reads them from the environment.
#![cfg(all(feature = "client", feature = "sim"))]

#[path = "proxy_support/mod.rs"]
mod proxy_support;
#[path = "sim_support/mod.rs"]
mod sim_support;
#[path = "tls_support/mod.rs"]
mod tls_support;

use std::error::Error as _;

use http::StatusCode;
use proxy_support::TinyProxy;
use sim_support::{chat_statuses, closed_port};
use tls_support::{PrivateCa, TlsFront};
use tower_together::client::{ErrorKind, ProxyError, TlsRoots};
use tower_together::sim::Simulator;
use tower_together::{ChatRequest, Message, Together, TogetherBuilder};

const KEY: &str = "proxy-test-key-do-not-print";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

async fn sim() -> Simulator {
    Simulator::builder().api_key(KEY).start().await.unwrap()
}

fn builder(base_url: &str) -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url(base_url)
        .max_retries(0)
}

async fn hello(client: &Together) -> Result<String, tower_together::Error> {
    let request = ChatRequest::new(CHAT, vec![Message::user("via proxy")]).max_tokens(8);
    Ok(client.chat(request).await?.choices[0]
        .message
        .content
        .clone())
}

/// The simulator's chat requests, counted on its side.
fn chats(sim: &Simulator) -> usize {
    chat_statuses(sim).len()
}

#[tokio::test]
async fn an_http_request_goes_through_the_proxy_to_the_simulator() {
    let Some(proxy) = TinyProxy::start("proxy: through", None).await else {
        return;
    };
    let sim = sim().await;
    let client = builder(&sim.base_url())
        .proxy(proxy.url().as_str())
        .build()
        .unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: via proxy");
    assert_eq!(chats(&sim), 1);
    let requests = proxy.wait_for_requests(1).await;
    let expected = format!("POST {}/chat/completions HTTP/1.1", sim.base_url());
    assert_eq!(requests, [expected], "absolute-form, through the proxy");
}

#[tokio::test]
async fn no_proxy_goes_around_the_proxy() {
    let Some(proxy) = TinyProxy::start("proxy: no_proxy", None).await else {
        return;
    };
    let sim = sim().await;
    let client = builder(&sim.base_url())
        .proxy(proxy.url().as_str())
        .no_proxy("localhost, 127.0.0.0/8")
        .build()
        .unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: via proxy");
    assert_eq!(chats(&sim), 1, "the simulator was reached");
    assert_eq!(proxy.wait_for_requests(1).await, Vec::<String>::new());
}

#[tokio::test]
async fn basic_auth_from_the_url_satisfies_a_proxy_that_asks_for_it() {
    let Some(proxy) = TinyProxy::start("proxy: basic auth", Some(("tt-user", "hunter2"))).await
    else {
        return;
    };
    let sim = sim().await;

    let with = builder(&sim.base_url())
        .proxy(proxy.url_with("tt-user", "hunter2").as_str())
        .build()
        .unwrap();
    assert_eq!(hello(&with).await.unwrap(), "Echo: via proxy");
    assert!(!format!("{with:?}").contains("hunter2"));

    // No credentials: 407. A wrong password: tinyproxy answers 401.
    for (url, status) in [
        (proxy.url(), StatusCode::PROXY_AUTHENTICATION_REQUIRED),
        (
            proxy.url_with("tt-user", "wrong-password"),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let without = builder(&sim.base_url())
            .proxy(url.as_str())
            .build()
            .unwrap();
        let error = hello(&without).await.unwrap_err();
        assert_eq!(error.status(), Some(status), "{error}");
        assert!(!format!("{error} {error:?}").contains("wrong-password"));
    }
    assert_eq!(
        chats(&sim),
        1,
        "only the request with credentials got through"
    );
    assert_eq!(proxy.wait_for_requests(3).await.len(), 3);
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_with_credentials_and_tls_end_to_end() {
    let Some(proxy) = TinyProxy::start("proxy: CONNECT", Some(("tt-user", "hunter2"))).await else {
        return;
    };
    let sim = sim().await;
    let ca = PrivateCa::new();
    let front = TlsFront::start(&ca, sim.addr()).await;
    let roots = TlsRoots::empty().pem(&ca.ca_pem).unwrap();
    let client = builder(&front.base_url())
        .proxy(proxy.url_with("tt-user", "hunter2").as_str())
        .tls_roots(roots.clone())
        .build()
        .unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: via proxy");
    let connect = format!("CONNECT localhost:{} HTTP/1.1", front.addr().port());
    assert_eq!(proxy.wait_for_requests(1).await, [connect]);

    // Without credentials the tunnel is refused, and the error says so.
    let refused = builder(&front.base_url())
        .proxy(proxy.url().as_str())
        .tls_roots(roots)
        .build()
        .unwrap();
    let error = hello(&refused).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    let text = error.to_string();
    assert!(
        text.contains(&format!("through the proxy {}", proxy.url()))
            && text.contains("proxy authorization required"),
        "{text}"
    );
    assert_eq!(chats(&sim), 1);
}

#[tokio::test]
async fn a_proxy_that_is_not_there_is_named_in_a_transport_error() {
    let sim = sim().await;
    let port = closed_port();
    let proxy = format!("http://tt-user:hunter2@127.0.0.1:{port}");
    let client = builder(&sim.base_url())
        .proxy(proxy.as_str())
        .build()
        .unwrap();
    let error = hello(&client).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    let text = error.to_string();
    assert!(
        text.contains(&format!("through the proxy http://127.0.0.1:{port}"))
            && text.contains("onnection refused"),
        "{text}"
    );
    assert!(!format!("{text} {error:?}").contains("hunter2"), "{text}");
    let mut cause = error.source();
    let mut proxy_error = None;
    while let Some(e) = cause {
        proxy_error = proxy_error.or(e.downcast_ref::<ProxyError>());
        cause = e.source();
    }
    assert_eq!(
        proxy_error.expect("a ProxyError in the chain").proxy(),
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(chats(&sim), 0);
}

#[tokio::test]
async fn a_bad_proxy_url_fails_the_build_and_proxy_none_is_direct() {
    let error = builder("http://127.0.0.1:9/v1")
        .proxy("socks5://tt-user:hunter2@127.0.0.1:1080")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("socks5"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");

    let sim = sim().await;
    let client = builder(&sim.base_url()).proxy(None).build().unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: via proxy");
}
