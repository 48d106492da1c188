//! One call to the real Together API. Ignored by default: run it with
//! `TOGETHER_API_KEY=... cargo test --test client_live -- --ignored`.
#![cfg(feature = "client")]

use tower_together::{ChatRequest, Message, Together};

#[tokio::test]
#[ignore = "calls the real API: set TOGETHER_API_KEY and pass --ignored"]
async fn the_real_api_answers_a_chat() {
    let key =
        std::env::var("TOGETHER_API_KEY").expect("TOGETHER_API_KEY must be set for this test");
    let client = Together::from_env().expect("a client from the environment");

    let models = client.models().await.expect("GET /models");
    assert!(models.iter().any(|m| !m.id.is_empty()));

    let response = client
        .chat(
            ChatRequest::new(
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                vec![Message::user("Reply with one word: pong")],
            )
            .max_tokens(5)
            .temperature(0.0),
        )
        .await
        .expect("a chat completion");
    assert!(!response.choices.is_empty());
    assert!(!response.choices[0].message.content.is_empty());
    assert!(!format!("{client:?}").contains(&key));
}
