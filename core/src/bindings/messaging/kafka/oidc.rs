//! Kafka's `authType: oidc` and `oidc_private_key_jwt`: an OAuth 2 access token from the
//! identity provider's token endpoint, presented to the brokers with SASL/OAUTHBEARER.
//!
//! librdkafka fetches such tokens itself only when built with libcurl (a second HTTP and TLS
//! stack), so bindery fetches them with the workspace's reqwest (rustls) and hands them to
//! librdkafka from its token refresh callback, which librdkafka calls before the first login
//! and again at 80% of each token's lifetime. The requests are Dapr's:
//!
//! - `oidc` (client credentials, as Go's `golang.org/x/oauth2/clientcredentials` sends them):
//!   `grant_type=client_credentials` and `scope` (the `oidcScopes`, comma-separated in the
//!   component, space-separated in the request, `openid` when none is given), with the client
//!   ID and secret as HTTP Basic authentication (each query-escaped); when the endpoint refuses
//!   that, once more with `client_id` and `client_secret` in the form, as Go's client
//!   auto-detects, and the way that worked is kept.
//! - `oidc_private_key_jwt` (RFC 7523 client assertion, as Dapr builds it): an RS256-signed JWT
//!   with `iss` and `sub` the client ID, `aud` `oidcAudience` or else the token endpoint, `iat`,
//!   `nbf`, `exp` one minute later, a random `jti`, and `kid` in its header when `oidcKid` is
//!   given; sent with `client_id`, `client_assertion_type`, `client_assertion`, `scope`, and
//!   `audience`/`resource` when given. The signature is ring's (RSA PKCS#1 v1.5, SHA-256),
//!   already in the build for rustls.
//!
//! The endpoint is reached over TLS checked against the system's roots and `caCert`, or not
//! checked with `skipVerify`, as Dapr's client does. An error names the endpoint and its answer
//! (status, and the OAuth `error` and `error_description` it gave), never the client secret or
//! the key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::RsaKeyPair;

use crate::bindings::common::gotext;
use crate::bindings::common::tls::rustls::pki_types::pem::PemObject;
use crate::bindings::common::tls::rustls::pki_types::PrivateKeyDer;

/// How long one token request may take (Dapr's).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A cached token is used while it has at least this much life left (Go's oauth2 `expiryDelta`)
/// and a quarter of its lifetime: librdkafka asks again at 80% of a token's life, and then
/// gets a new one.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);
/// The lifetime librdkafka is told for a token whose endpoint gave no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// How the client proves who it is.
pub(super) enum Credentials {
    /// `oidc`: a client secret.
    Secret(String),
    /// `oidc_private_key_jwt`: a signed client assertion.
    Assertion {
        key: Box<RsaKeyPair>,
        audience: Option<String>,
        resource: Option<String>,
        kid: Option<String>,
    },
}

/// A token source for one component; its producer and consumer share it (and its cache).
pub(super) struct TokenSource {
    pub(super) endpoint: String,
    pub(super) client_id: String,
    pub(super) credentials: Credentials,
    pub(super) scopes: Vec<String>,
    pub(super) ca_pem: Option<Vec<u8>>,
    pub(super) skip_verify: bool,
    cache: Mutex<Option<Token>>,
    /// The endpoint refused HTTP Basic authentication and took the credentials in the form.
    secret_in_form: AtomicBool,
}

/// An access token and when it expires.
#[derive(Clone)]
pub(super) struct Token {
    pub(super) value: String,
    pub(super) expires: SystemTime,
    lifetime: Duration,
}

impl Token {
    /// Milliseconds since the Unix epoch at which the token expires (librdkafka's lifetime).
    pub(super) fn lifetime_ms(&self) -> i64 {
        self.expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// Read an RSA private key from PEM (PKCS#8 or PKCS#1), as Dapr requires it.
pub(super) fn rsa_key(pem: &[u8]) -> Result<RsaKeyPair, String> {
    let der = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("oidcClientAssertionKey is not a PEM private key: {e}"))?;
    let key = match &der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => {
            return Err(
                "oidcClientAssertionKey must be an RSA private key (the assertion is signed RS256, as Dapr signs it)"
                    .into(),
            )
        }
    };
    key.map_err(|e| format!("oidcClientAssertionKey is not a usable RSA private key: {e}"))
}

/// Dapr's `oidcExtensions`: a JSON object of strings, with at least one entry.
pub(super) fn extensions(text: &str) -> Result<Vec<(String, String)>, String> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|e| format!("oidcExtensions is not a JSON object of strings: {e}"))?;
    if map.is_empty() {
        return Err("oidcExtensions is an empty JSON object".into());
    }
    Ok(map.into_iter().collect())
}

impl TokenSource {
    pub(super) fn new(
        endpoint: String,
        client_id: String,
        credentials: Credentials,
        scopes: Vec<String>,
        ca_pem: Option<Vec<u8>>,
        skip_verify: bool,
    ) -> Self {
        TokenSource {
            endpoint,
            client_id,
            credentials,
            scopes,
            ca_pem,
            skip_verify,
            cache: Mutex::new(None),
            secret_in_form: AtomicBool::new(false),
        }
    }

    fn cached(&self) -> Option<Token> {
        let cache = self.cache.lock().ok()?;
        cache
            .as_ref()
            .filter(|t| t.expires > SystemTime::now() + EXPIRY_DELTA.max(t.lifetime / 4))
            .cloned()
    }

    /// A valid token: the cached one, or a new one from the endpoint.
    pub(super) async fn token(&self) -> Result<Token, String> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let t = self.fetch().await?;
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(t.clone());
        }
        Ok(t)
    }

    /// A valid token, from a thread that may not wait on tokio (librdkafka's callback, which
    /// runs on librdkafka's own threads or inside a consumer's poll): the request runs on a
    /// thread of its own with a small runtime.
    pub(super) fn token_blocking(&self) -> Result<Token, String> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| {
                            format!("cannot start a runtime for the token request: {e}")
                        })?;
                    rt.block_on(self.token())
                })
                .join()
                .unwrap_or_else(|_| Err("the token request panicked".into()))
        })
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.ca_pem {
            for c in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("caCert does not read as PEM certificates: {e}"))?
            {
                b = b.add_root_certificate(c);
            }
        }
        if self.skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        b.build()
            .map_err(|e| format!("cannot set up the HTTP client for the token endpoint: {e}"))
    }

    fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }

    async fn fetch(&self) -> Result<Token, String> {
        let client = self.client()?;
        match &self.credentials {
            Credentials::Secret(secret) => {
                let mut form = vec![("grant_type", "client_credentials".to_string())];
                if let Some(s) = self.scope() {
                    form.push(("scope", s));
                }
                if !self.secret_in_form.load(Ordering::Relaxed) {
                    let req = client.post(&self.endpoint).form(&form).basic_auth(
                        gotext::query_escape(&self.client_id),
                        Some(gotext::query_escape(secret)),
                    );
                    match self.send(req).await {
                        Err(Refused::Answer(first)) => {
                            // Go's client tries the form next, and keeps what worked.
                            let got = self.send(self.in_form(&client, form, secret)).await;
                            if got.is_ok() {
                                self.secret_in_form.store(true, Ordering::Relaxed);
                            }
                            return got.map_err(|e| match e {
                                Refused::Answer(second) => format!(
                                    "{second} (with the client ID and secret as HTTP Basic authentication: {first})"
                                ),
                                Refused::Other(e) => e,
                            });
                        }
                        other => return other.map_err(Refused::text),
                    }
                }
                self.send(self.in_form(&client, form, secret))
                    .await
                    .map_err(Refused::text)
            }
            Credentials::Assertion {
                key,
                audience,
                resource,
                kid,
            } => {
                let assertion = self.assertion(key, audience.as_deref(), kid.as_deref())?;
                let mut form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", self.client_id.clone()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                    ),
                    ("client_assertion", assertion),
                ];
                if let Some(a) = audience {
                    form.push(("audience", a.clone()));
                }
                if let Some(r) = resource {
                    form.push(("resource", r.clone()));
                }
                if let Some(s) = self.scope() {
                    form.push(("scope", s));
                }
                self.send(client.post(&self.endpoint).form(&form))
                    .await
                    .map_err(Refused::text)
            }
        }
    }

    fn in_form(
        &self,
        client: &reqwest::Client,
        mut form: Vec<(&'static str, String)>,
        secret: &str,
    ) -> reqwest::RequestBuilder {
        form.push(("client_id", self.client_id.clone()));
        form.push(("client_secret", secret.to_string()));
        client.post(&self.endpoint).form(&form)
    }

    /// The signed client assertion of `oidc_private_key_jwt`.
    fn assertion(
        &self,
        key: &RsaKeyPair,
        audience: Option<&str>,
        kid: Option<&str>,
    ) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience.unwrap_or(&self.endpoint),
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .map_err(|_| "cannot sign the client assertion with oidcClientAssertionKey".to_string())?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Token, Refused> {
        let at = &crate::redact::url(&self.endpoint);
        let resp = req.send().await.map_err(|e| {
            // reqwest's error names the URL; the endpoint is named once, here.
            Refused::Other(format!(
                "cannot reach the OIDC token endpoint {at}: {}",
                e.without_url()
            ))
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            Refused::Other(format!(
                "the OIDC token endpoint {at} answered {status} with a body that did not arrive: {}",
                e.without_url()
            ))
        })?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        if !status.is_success() {
            let mut why = String::new();
            if let Some(e) = field("error") {
                why.push_str(&format!(": {e}"));
            }
            if let Some(d) = field("error_description") {
                why.push_str(&format!(" ({d})"));
            }
            return Err(Refused::Answer(format!(
                "the OIDC token endpoint {at} answered {status}{why} (check oidcClientID and the client's credentials, oidcScopes, and that the client may use the client credentials grant)"
            )));
        }
        let Some(value) = field("access_token").filter(|t| !t.is_empty()) else {
            return Err(Refused::Other(format!(
                "the OIDC token endpoint {at} answered {status} without an access_token"
            )));
        };
        // expires_in is a number of seconds, sometimes written as a string.
        let expires_in = json
            .as_ref()
            .and_then(|j| j.get("expires_in"))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
            .filter(|s| *s > 0)
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok(Token {
            value,
            expires: SystemTime::now() + expires_in,
            lifetime: expires_in,
        })
    }
}

/// Why a token request failed: the endpoint's answer (another way of authenticating may work),
/// or anything else.
enum Refused {
    Answer(String),
    Other(String),
}

impl Refused {
    fn text(self) -> String {
        match self {
            Refused::Answer(t) | Refused::Other(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_as_dapr_reads_them() {
        assert_eq!(
            extensions(r#"{"cluster":"kafka","poolid":"p"}"#).unwrap(),
            [
                ("cluster".into(), "kafka".into()),
                ("poolid".into(), "p".into())
            ]
        );
        assert!(extensions("{}").is_err());
        assert!(extensions(r#"{"n": 1}"#).is_err());
        assert!(extensions("cluster=kafka").is_err());
    }

    #[test]
    fn an_ec_key_is_refused_for_the_assertion() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let e = rsa_key(key.serialize_pem().as_bytes()).err().unwrap();
        assert!(e.contains("RSA"), "{e}");
    }
}
