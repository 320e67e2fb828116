//! Authentication of push webhooks: does a request carry proof that it comes from whoever
//! holds the shared secret?
//!
//! What it owns: the two schemes Git hosts use, checked in constant time.
//! - GitHub (and Gitea, Forgejo): `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
//!   the raw body keyed with the secret
//!   (<https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>).
//! - GitLab: `X-Gitlab-Token: <secret>`, the secret itself
//!   (<https://docs.gitlab.com/user/project/integrations/webhooks/#custom-headers>).
//!
//! A request carrying both headers is refused: no host sends both, so one that does was not
//! sent by a host, and accepting it on either proof would let the weaker scheme vouch for
//! a request shaped as the other.
//!
//! What it must not do: I/O, or read the payload. A valid request only asks for a fetch: the
//! reconcile reads Git itself, so nothing a webhook says (branch, commit) is trusted. Nothing
//! here logs or displays the secret or what a request offered as proof; rejections name the
//! reason only.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// GitHub's signature header.
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// GitLab's token header.
pub const GITLAB_TOKEN: &str = "x-gitlab-token";

type HmacSha256 = Hmac<Sha256>;

/// The shared webhook secret, and the checks made with it.
#[derive(Clone)]
pub struct WebhookAuth {
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuth")
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Which scheme a request proved itself with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
        }
    }
}

/// Why a request was refused. Every reason is an HTTP 401; the reason is for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("no X-Hub-Signature-256 or X-Gitlab-Token header")]
    Unsigned,
    #[error("both X-Hub-Signature-256 and X-Gitlab-Token headers")]
    BothSchemes,
    #[error("more than one {0} header")]
    Repeated(&'static str),
    #[error("X-Hub-Signature-256 is not `sha256=` and 64 hex digits")]
    MalformedSignature,
    #[error("X-Hub-Signature-256 does not match the body")]
    BadSignature,
    #[error("X-Gitlab-Token does not match")]
    BadToken,
}

/// The shortest secret accepted: shorter ones can be guessed (GitHub's documentation asks
/// for a random string with high entropy).
pub const MIN_SECRET_BYTES: usize = 16;

/// The secret is too short: every check would be made with a key that can be guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is shorter than {MIN_SECRET_BYTES} bytes; use a long random string")]
pub struct WeakSecret;

impl WebhookAuth {
    /// Checks made with `secret`, used byte for byte (strip a secret file's trailing newline
    /// before).
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<WebhookAuth, WeakSecret> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret);
        }
        Ok(WebhookAuth { secret })
    }

    /// Whether `headers` prove that `body` was sent by a holder of the secret, and by which
    /// scheme.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Provider, WebhookRejection> {
        match (
            single(headers, GITHUB_SIGNATURE)?,
            single(headers, GITLAB_TOKEN)?,
        ) {
            (Some(_), Some(_)) => Err(WebhookRejection::BothSchemes),
            (Some(signature), None) => self.verify_github(signature, body),
            (None, Some(token)) => self.verify_gitlab(token),
            (None, None) => Err(WebhookRejection::Unsigned),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length")
    }

    fn verify_github(&self, signature: &[u8], body: &[u8]) -> Result<Provider, WebhookRejection> {
        let digest = signature
            .strip_prefix(b"sha256=")
            .and_then(|h| hex::decode(h).ok())
            .filter(|d| d.len() == 32)
            .ok_or(WebhookRejection::MalformedSignature)?;
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(&digest)
            .map(|()| Provider::GitHub)
            .map_err(|_| WebhookRejection::BadSignature)
    }

    /// The token is compared through HMACs keyed with the secret: `verify_slice` compares the
    /// two 32-byte tags in constant time, so the time taken depends on the token's length
    /// (the caller's own input, hashed) and on nothing about the secret.
    fn verify_gitlab(&self, token: &[u8]) -> Result<Provider, WebhookRejection> {
        let mut expected = self.mac();
        expected.update(&self.secret);
        let expected = expected.finalize().into_bytes();
        let mut offered = self.mac();
        offered.update(token);
        offered
            .verify_slice(&expected)
            .map(|()| Provider::GitLab)
            .map_err(|_| WebhookRejection::BadToken)
    }
}

/// The value of a header that must appear at most once.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h [u8]>, WebhookRejection> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        (Some(_), Some(_)) => Err(WebhookRejection::Repeated(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    /// GitHub's own example: this secret and body give this signature.
    const GITHUB_EXAMPLE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn auth() -> WebhookAuth {
        WebhookAuth::new(SECRET).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn githubs_documented_example_verifies() {
        assert_eq!(sign(SECRET.as_bytes(), BODY), GITHUB_EXAMPLE);
        let h = headers(&[(GITHUB_SIGNATURE, GITHUB_EXAMPLE)]);
        assert_eq!(auth().verify(&h, BODY), Ok(Provider::GitHub));
    }

    #[test]
    fn hex_digits_may_be_upper_case() {
        let upper = format!("sha256={}", GITHUB_EXAMPLE[7..].to_ascii_uppercase());
        let h = headers(&[(GITHUB_SIGNATURE, &upper)]);
        assert_eq!(auth().verify(&h, BODY), Ok(Provider::GitHub));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let h = headers(&[(GITHUB_SIGNATURE, &sign(b"another secret", BODY))]);
        assert_eq!(auth().verify(&h, BODY), Err(WebhookRejection::BadSignature));
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let h = headers(&[(GITHUB_SIGNATURE, GITHUB_EXAMPLE)]);
        assert_eq!(
            auth().verify(&h, b"Hello, World?"),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(auth().verify(&h, b""), Err(WebhookRejection::BadSignature));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let digits = &GITHUB_EXAMPLE[7..];
        for signature in [
            format!("sha1={digits}"),
            format!("SHA256={digits}"),
            format!("sha256:{digits}"),
            digits.to_owned(),
            format!("sha256={}", &digits[..62]),
            format!("sha256={digits}00"),
            format!("sha256={}zz", &digits[..62]),
            "sha256=".to_owned(),
            format!(" sha256={digits}x"),
        ] {
            let h = headers(&[(GITHUB_SIGNATURE, &signature)]);
            assert_eq!(
                auth().verify(&h, BODY),
                Err(WebhookRejection::MalformedSignature),
                "{signature}"
            );
        }
    }

    #[test]
    fn the_gitlab_token_must_be_the_secret() {
        let good = headers(&[(GITLAB_TOKEN, SECRET)]);
        assert_eq!(auth().verify(&good, BODY), Ok(Provider::GitLab));
        assert_eq!(
            auth().verify(&good, b"any body"),
            Ok(Provider::GitLab),
            "GitLab does not sign the body"
        );
        for token in [
            "It's a Secret to Everybod",
            "It's a Secret to Everybodyy",
            "it's a secret to everybody",
            "x",
        ] {
            let h = headers(&[(GITLAB_TOKEN, token)]);
            assert_eq!(
                auth().verify(&h, BODY),
                Err(WebhookRejection::BadToken),
                "{token}"
            );
        }
    }

    #[test]
    fn an_empty_gitlab_token_is_refused() {
        let h = headers(&[(GITLAB_TOKEN, "")]);
        assert_eq!(auth().verify(&h, BODY), Err(WebhookRejection::BadToken));
    }

    #[test]
    fn a_request_without_either_header_is_refused() {
        let h = headers(&[("x-github-event", "push"), ("x-gitlab-event", "Push Hook")]);
        assert_eq!(auth().verify(&h, BODY), Err(WebhookRejection::Unsigned));
        assert_eq!(
            auth().verify(&HeaderMap::new(), BODY),
            Err(WebhookRejection::Unsigned)
        );
    }

    #[test]
    fn both_headers_are_refused_even_when_both_are_right() {
        let h = headers(&[(GITHUB_SIGNATURE, GITHUB_EXAMPLE), (GITLAB_TOKEN, SECRET)]);
        assert_eq!(auth().verify(&h, BODY), Err(WebhookRejection::BothSchemes));
    }

    #[test]
    fn a_repeated_header_is_refused() {
        let h = headers(&[
            (GITHUB_SIGNATURE, GITHUB_EXAMPLE),
            (GITHUB_SIGNATURE, "sha256=00"),
        ]);
        assert_eq!(
            auth().verify(&h, BODY),
            Err(WebhookRejection::Repeated(GITHUB_SIGNATURE))
        );
        let h = headers(&[(GITLAB_TOKEN, SECRET), (GITLAB_TOKEN, SECRET)]);
        assert_eq!(
            auth().verify(&h, BODY),
            Err(WebhookRejection::Repeated(GITLAB_TOKEN))
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            "X-Hub-Signature-256",
            HeaderValue::from_static(GITHUB_EXAMPLE),
        );
        assert_eq!(auth().verify(&h, BODY), Ok(Provider::GitHub));
    }

    #[test]
    fn an_empty_or_short_secret_is_refused() {
        assert_eq!(WebhookAuth::new(Vec::new()).unwrap_err(), WeakSecret);
        assert_eq!(WebhookAuth::new("x").unwrap_err(), WeakSecret);
        assert!(WebhookAuth::new("0123456789abcdef").is_ok());
    }

    #[test]
    fn neither_debug_nor_rejections_show_the_secret() {
        let shown = format!("{:?}", auth());
        assert!(!shown.contains(SECRET), "{shown}");
        let h = headers(&[(GITLAB_TOKEN, "my guess at the secret")]);
        let rejection = auth().verify(&h, BODY).unwrap_err();
        for text in [rejection.to_string(), format!("{rejection:?}")] {
            assert!(!text.contains("guess"), "{text}");
        }
    }
}
