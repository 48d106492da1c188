//! Deterministic content: token counts, answers, embeddings, ids, dates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Counts tokens the way the simulator does: one token per
/// whitespace-separated word. Usage counts and token limits use it.
///
/// ```
/// assert_eq!(tower_together::sim::count_tokens("Hello there,  world"), 3);
/// ```
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The answer the simulator gives to `prompt` (the last user message, or the
/// completion prompt): `"Echo: "` then the prompt, cut to `max_tokens` words
/// when given. Returns the text and whether it was cut.
///
/// ```
/// use tower_together::sim::reply_for;
///
/// assert_eq!(reply_for("Hello there", None), ("Echo: Hello there".to_string(), false));
/// assert_eq!(reply_for("Hello there", Some(2)), ("Echo: Hello".to_string(), true));
/// ```
pub fn reply_for(prompt: &str, max_tokens: Option<u64>) -> (String, bool) {
    let words = std::iter::once("Echo:").chain(prompt.split_whitespace());
    let limit = max_tokens.unwrap_or(u64::MAX);
    let total = 1 + count_tokens(prompt);
    let taken: Vec<&str> = words
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    (taken.join(" "), total > limit)
}

/// The embedding the simulator returns for `text`: a unit vector of `dim`
/// components derived from a fixed hash of the text, so equal texts get equal
/// vectors and a test can check the order of an answer.
///
/// ```
/// use tower_together::sim::embedding_for;
///
/// let v = embedding_for("hello", 8);
/// assert_eq!(v.len(), 8);
/// assert_eq!(v, embedding_for("hello", 8));
/// assert_ne!(v, embedding_for("world", 8));
/// let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-4);
/// ```
pub fn embedding_for(text: &str, dim: usize) -> Vec<f32> {
    let mut state = fnv1a(text.as_bytes());
    let mut vector: Vec<f32> = (0..dim)
        .map(|_| {
            let bits = splitmix64(&mut state);
            // The top 24 bits as a fraction in [0, 1), then moved to [-1, 1).
            ((bits >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// FNV-1a: a fixed hash, unlike std's randomly seeded one.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Unix seconds of a wall-clock time.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// RFC 3339 in UTC, to the second, as Together's date-time fields.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }
}
