//! The typed client's token estimator against a real BPE tokenizer
//! (cl100k_base, close to Llama 3's) on English prose: within ±20 % on every
//! paragraph, and within ±10 % over the whole text.

use tower_together::client::estimate_tokens;

#[test]
fn the_estimate_is_close_to_a_real_tokenizer_on_english() {
    let bpe = tiktoken_rs::cl100k_base().unwrap();
    let text = include_str!("fixtures/english.txt");
    let (mut real_total, mut estimated_total) = (0u64, 0u64);
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let real = bpe.encode_with_special_tokens(paragraph).len() as f64;
        let estimated = f64::from(estimate_tokens(paragraph));
        let ratio = estimated / real;
        assert!(
            (0.8..=1.2).contains(&ratio),
            "{ratio:.2} ({estimated} for {real}): {paragraph}"
        );
        real_total += real as u64;
        estimated_total += estimated as u64;
    }
    let ratio = estimated_total as f64 / real_total as f64;
    assert!((0.9..=1.1).contains(&ratio), "overall {ratio:.3}");
}

#[test]
fn odd_text_neither_panics_nor_overflows() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("   \n\t"), 0);
    assert!(estimate_tokens("🙂🙂🙂 ∑∫ ﷽") > 0);
    let huge = "a".repeat(1 << 20);
    assert_eq!(estimate_tokens(&huge), 1 + ((1 << 20) - 1) / 8);
    assert_eq!(estimate_tokens("12345678"), 3);
}
