//! The default transport's trust: a TLS server on loopback with a
//! certificate from a CA the test makes (rcgen), in front of the
//! simulator. The client refuses it with the default (webpki) roots, and
//! accepts it once that CA is added, as PEM or DER, beside or instead of
//! the public roots, or beside the platform's (feature `native-roots`).
#![cfg(all(feature = "client", feature = "sim"))]

#[path = "tls_support/mod.rs"]
mod tls_support;

use std::error::Error as _;

use tls_support::{PrivateCa, TlsFront};
use tower_together::client::{ErrorKind, TlsRoots};
use tower_together::sim::Simulator;
use tower_together::{ChatRequest, Message, Together, TogetherBuilder};

const KEY: &str = "tls-test-key";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

struct Bed {
    _sim: Simulator,
    ca: PrivateCa,
    front: TlsFront,
}

async fn bed() -> Bed {
    let sim = Simulator::builder().api_key(KEY).start().await.unwrap();
    let ca = PrivateCa::new();
    let front = TlsFront::start(&ca, sim.addr()).await;
    Bed {
        _sim: sim,
        ca,
        front,
    }
}

fn builder(bed: &Bed) -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url(bed.front.base_url())
        .max_retries(0)
        .proxy(None)
}

async fn hello(client: &Together) -> Result<String, tower_together::Error> {
    let request = ChatRequest::new(CHAT, vec![Message::user("over TLS")]).max_tokens(8);
    Ok(client.chat(request).await?.choices[0]
        .message
        .content
        .clone())
}

#[tokio::test]
async fn a_private_ca_is_refused_by_default_with_a_tls_error() {
    let bed = bed().await;
    let error = hello(&builder(&bed).build().unwrap()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
    // rustls's own error is in the chain, for code that asks.
    let mut cause = error.source();
    let mut found = false;
    while let Some(e) = cause {
        found |= e.to_string().contains("UnknownIssuer");
        cause = e.source();
    }
    assert!(found);
}

#[tokio::test]
async fn the_ca_added_as_pem_beside_the_webpki_roots_is_trusted() {
    let bed = bed().await;
    let roots = TlsRoots::webpki().pem(&bed.ca.ca_pem).unwrap();
    let client = builder(&bed).tls_roots(roots).build().unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: over TLS");
}

#[tokio::test]
async fn the_ca_alone_as_der_is_trusted_and_another_ca_is_not() {
    let bed = bed().await;
    let only = TlsRoots::empty().der(bed.ca.ca_der.clone());
    let client = builder(&bed).tls_roots(only).build().unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: over TLS");

    let stranger = PrivateCa::new();
    let wrong = TlsRoots::empty().der(stranger.ca_der.clone());
    let error = hello(&builder(&bed).tls_roots(wrong).build().unwrap())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
}

#[cfg(feature = "native-roots")]
#[tokio::test]
async fn the_platform_roots_load_and_the_ca_still_adds_to_them() {
    let bed = bed().await;
    let roots = TlsRoots::empty().native().pem(&bed.ca.ca_pem).unwrap();
    let client = builder(&bed).tls_roots(roots).build().unwrap();
    assert_eq!(hello(&client).await.unwrap(), "Echo: over TLS");
    // Without the CA, the platform's roots do not trust it either.
    let error = hello(
        &builder(&bed)
            .tls_roots(TlsRoots::empty().native())
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn tls_roots_with_a_transport_of_your_own_is_refused() {
    let fake = tower::service_fn(
        |_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::new(),
            )))
        },
    );
    let error = Together::builder()
        .api_key(KEY)
        .tls_roots(TlsRoots::webpki())
        .build_with_transport(fake)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("tls_roots"), "{error}");
}
