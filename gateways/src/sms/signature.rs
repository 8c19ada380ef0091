//! Twilio webhook signatures (`X-Twilio-Signature`), so that only Twilio can post inbound texts
//! and delivery statuses into a room.
//!
//! Twilio signs each webhook with HMAC-SHA1, keyed by the account's auth token, over the webhook's
//! full public URL as configured in Twilio (scheme, host, port if any, path and query) followed by
//! every POST form parameter, sorted by name, each written as its name immediately followed by its
//! value with no separators; the header carries the MAC in standard base64 with padding.
//!
//! The URL must be the one Twilio was told to call, not the one this server sees behind a proxy or
//! load balancer (`http://10.0.0.5:8080/...`): the caller passes it from configuration. The
//! parameters are the decoded form fields (`+1555…`, not `%2B1555…`), exactly as Twilio sent them;
//! dropping one the gateway does not use breaks the signature, since Twilio adds fields over time.
//!
//! A name that appears more than once (`Digits=5678&Digits=1234`) contributes one `name value` per
//! distinct value, sorted by value after name, and an exact repeat of a pair counts once: that is
//! what Twilio's own helper libraries sign (twilio-python's `compute_signature` walks
//! `sorted(set(values))`), and the test vector below for repeated names comes from there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The request header that carries the signature (HTTP header names are case-insensitive).
pub const HEADER: &str = "X-Twilio-Signature";

/// Why a webhook was refused. The messages name no secret and no expected value, so they can be
/// logged and returned as a 403 body as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or an empty one: Twilio always signs, so this is not Twilio.
    #[error("no X-Twilio-Signature header")]
    Missing,
    /// The header is not standard base64 of a 20-byte HMAC-SHA1. Kept apart from [`Mismatch`]
    /// because it points at a client that is not Twilio at all (or a proxy mangling headers)
    /// rather than a wrong URL or auth token, and telling them apart reveals nothing secret.
    ///
    /// [`Mismatch`]: SignatureError::Mismatch
    #[error("X-Twilio-Signature is not a base64 HMAC-SHA1")]
    Malformed,
    /// Well formed but not the signature of this URL and these parameters under this auth token:
    /// forged or tampered, or the configured public URL or auth token is wrong.
    #[error("X-Twilio-Signature does not match this request")]
    Mismatch,
}

/// Length of an HMAC-SHA1 tag.
const MAC_LEN: usize = 20;

/// The signature Twilio would send for this request, base64-encoded as in the header. Useful to
/// sign requests in tests and tools; to check a request, use [`validate`].
pub fn expected_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params))
}

/// Checks the `X-Twilio-Signature` header of a webhook (`header` is its value, `None` when the
/// request had none) against the configured public `url` and the decoded form `params`.
///
/// Surrounding whitespace in the header is ignored (some proxies add it), and a blank header counts
/// as [`SignatureError::Missing`]. The decoded header is compared with the expected MAC in constant
/// time, so response timing does not tell a forger how many leading bytes were right.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    // Comparing bytes rather than base64 text means a non-canonical encoding of the right MAC
    // cannot slip through, and the base64 engine already refuses non-canonical padding and bits.
    let given = STANDARD.decode(header).map_err(|_| SignatureError::Malformed)?;
    if given.len() != MAC_LEN {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(auth_token, url, params);
    if bool::from(expected.as_slice().ct_eq(&given)) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// HMAC-SHA1 over the URL and the sorted `name value` pairs, fed to the MAC piece by piece so the
/// signed string is never built in memory.
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> [u8; MAC_LEN] {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    // `str` orders by bytes, which for UTF-8 is code-point order, as Twilio's helpers sort; tuples
    // order by name, then value, which is the rule for repeated names.
    pairs.sort_unstable();
    pairs.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// The worked example of Twilio's webhook security page, which shows `0/KCTR6DLpKmkAf8muzZqo1nDgQ=`.
    /// (Twilio's helper-library test suites use the same URL and token with `+14158675309` as Caller
    /// and From, which gives `RSOYDt4T1cUTdK1PDd93/VVr8B8=`; see the next test.) Both values were
    /// also recomputed independently with Python's `hmac`, `hashlib.sha1` and `base64`.
    fn docs_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn twilios_published_example_gives_the_published_signature() {
        assert_eq!(expected_signature(TOKEN, URL, &docs_params()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")), Ok(()));
    }

    #[test]
    fn the_helper_libraries_vector_with_other_phone_numbers_also_validates() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(validate(TOKEN, URL, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")), Ok(()));
    }

    #[test]
    fn repeated_names_sign_each_distinct_value_in_order_once() {
        // twilio-python's repeated-parameter vector: signed as `…Digits1234Digits5678SidCA123SidAccountAC123`.
        let params = pairs(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
        assert_eq!(expected_signature(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let deduplicated = pairs(&[("Digits", "1234"), ("Sid", "CA123"), ("Digits", "5678"), ("SidAccount", "AC123")]);
        assert_eq!(expected_signature(TOKEN, URL, &deduplicated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn a_request_without_parameters_signs_the_url_alone() {
        // Python: base64(hmac_sha1(b"12345", URL)).
        assert_eq!(expected_signature(TOKEN, URL, &[]), "zYQTYrRWXE7LtzbG4PfP7/bkkGo=");
    }

    #[test]
    fn unicode_values_and_an_explicit_port_are_signed_as_utf8_bytes() {
        let url = "https://sms.example.net:8443/sms/inbound";
        let params = pairs(&[("To", "+15559870002"), ("Body", "Ça va? 👋"), ("From", "+15551230001")]);
        // Python: the same string, `.encode("utf-8")`, keyed by b"s3cret".
        assert_eq!(expected_signature("s3cret", url, &params), "Q8JhNV4YwIENntT9mOgfMnhXJcQ=");
        assert_eq!(
            validate("s3cret", "https://sms.example.net/sms/inbound", &params, Some("Q8JhNV4YwIENntT9mOgfMnhXJcQ=")),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_order_parameters_arrive_in_does_not_matter() {
        let mut shuffled = docs_params();
        shuffled.reverse();
        shuffled.swap(0, 2);
        assert_eq!(expected_signature(TOKEN, URL, &shuffled), expected_signature(TOKEN, URL, &docs_params()));
        assert_eq!(validate(TOKEN, URL, &shuffled, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")), Ok(()));
    }

    #[test]
    fn a_missing_or_blank_header_is_missing() {
        assert_eq!(validate(TOKEN, URL, &docs_params(), None), Err(SignatureError::Missing));
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some("")), Err(SignatureError::Missing));
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some("  ")), Err(SignatureError::Missing));
    }

    #[test]
    fn surrounding_whitespace_in_the_header_is_ignored() {
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some(" 0/KCTR6DLpKmkAf8muzZqo1nDgQ=\t")), Ok(()));
    }

    #[test]
    fn a_well_formed_but_wrong_signature_is_a_mismatch() {
        let wrong = STANDARD.encode([0u8; MAC_LEN]);
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some(&wrong)), Err(SignatureError::Mismatch));
        // One bit off in the last byte.
        let mut almost = STANDARD.decode("0/KCTR6DLpKmkAf8muzZqo1nDgQ=").unwrap();
        almost[MAC_LEN - 1] ^= 1;
        assert_eq!(validate(TOKEN, URL, &docs_params(), Some(&STANDARD.encode(almost))), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_tampered_parameter_an_added_one_or_a_dropped_one_is_a_mismatch() {
        let signature = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        let mut tampered = docs_params();
        tampered[2].1 = "9999".into();
        assert_eq!(validate(TOKEN, URL, &tampered, signature), Err(SignatureError::Mismatch));
        let mut added = docs_params();
        added.push(("Body".into(), "hi".into()));
        assert_eq!(validate(TOKEN, URL, &added, signature), Err(SignatureError::Mismatch));
        let dropped = &docs_params()[1..];
        assert_eq!(validate(TOKEN, URL, dropped, signature), Err(SignatureError::Mismatch));
    }

    #[test]
    fn another_url_or_auth_token_is_a_mismatch() {
        let signature = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(validate(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &docs_params(), signature), Err(SignatureError::Mismatch));
        assert_eq!(validate(TOKEN, "https://mycompany.com/myapp.php", &docs_params(), signature), Err(SignatureError::Mismatch));
        assert_eq!(validate("54321", URL, &docs_params(), signature), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_header_that_is_not_base64_of_twenty_bytes_is_malformed() {
        for garbage in
            ["not base64!", "0/KCTR6DLpKmkAf8muzZqo1nDgQ", "0_KCTR6DLpKmkAf8muzZqo1nDgQ=", "AAAA", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=AAAA"]
        {
            assert_eq!(validate(TOKEN, URL, &docs_params(), Some(garbage)), Err(SignatureError::Malformed), "{garbage}");
        }
    }

    #[test]
    fn error_messages_are_short_and_reveal_nothing_secret() {
        for error in [SignatureError::Missing, SignatureError::Malformed, SignatureError::Mismatch] {
            let message = error.to_string();
            assert!(message.len() <= 60 && message.contains("X-Twilio-Signature"), "{message}");
        }
    }
}
