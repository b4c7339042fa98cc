//! A tenant's target ready to post to: the URL, an HTTP client carrying the target's TLS
//! settings (custom CA, client certificate, TLS 1.2 or newer), the auth to add to each
//! request and the signing secret. Built from the stored target whenever it changes.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Certificate, Identity, Url};

use super::guard::{AddressPolicy, GuardError};
use super::oauth::TokenSource;
use super::signing;
use super::target::{AuthPublic, AuthSecret, SecretLocation};
use crate::secrets::Sealer;

/// How each request proves itself beyond the TLS layer.
pub enum RequestAuth {
    None,
    Header { name: String, value: String },
    Query { name: String, value: String },
    Bearer(Arc<TokenSource>),
}

pub struct Connection {
    pub url: Url,
    pub http: reqwest::Client,
    pub auth: RequestAuth,
    pub timeout: Duration,
    signing_secret: Vec<u8>,
    /// The Standard Webhooks key made from it.
    standard_key: Vec<u8>,
}

/// Why a stored target cannot be used (logged with each message it drops).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("the stored webhook secrets cannot be decrypted with the configured secret_key")]
    Sealed,
    #[error("the stored webhook target is invalid: {0}")]
    Invalid(String),
    #[error("the webhook {field} is refused: {reason}")]
    Refused {
        field: &'static str,
        reason: GuardError,
    },
}

/// Timeouts for the TCP and TLS handshake, before the per-request timeout applies.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Connection {
    /// Builds the target's client. URLs whose host is an IP literal are checked against
    /// `policy` here (they never reach the resolver); names are checked each time the
    /// client resolves them.
    pub fn from_stored(
        target: &entity::webhook_target::Model,
        sealer: &Sealer,
        policy: &AddressPolicy,
    ) -> Result<Connection, ConnectionError> {
        let invalid = |e: &dyn std::fmt::Display| ConnectionError::Invalid(e.to_string());
        let public: AuthPublic =
            serde_json::from_str(&target.auth_public).map_err(|e| invalid(&e))?;
        let secret: AuthSecret = match &target.auth_sealed {
            Some(sealed) => {
                let json = sealer.open(sealed).map_err(|_| ConnectionError::Sealed)?;
                serde_json::from_str(&json).map_err(|e| invalid(&e))?
            }
            None => AuthSecret::default(),
        };
        let url = Url::parse(&target.url).map_err(|e| invalid(&e))?;
        let refused = |field| move |reason| ConnectionError::Refused { field, reason };
        policy.check_url(&url).map_err(refused("url"))?;
        if let AuthPublic::Oauth2 { token_url, .. } = &public {
            let token_url = Url::parse(token_url).map_err(|e| invalid(&e))?;
            policy.check_url(&token_url).map_err(refused("token URL"))?;
        }
        let timeout = Duration::from_millis(u64::try_from(target.timeout_ms).unwrap_or(2000));

        let mut builder = reqwest::Client::builder()
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, out of the guard's sight.
            .no_proxy()
            .dns_resolver(policy.resolver())
            .pool_idle_timeout(Duration::from_secs(60));
        let ca_pem = match &public {
            AuthPublic::CustomCa { ca_pem } => Some(ca_pem),
            AuthPublic::Mtls { ca_pem, .. } => ca_pem.as_ref(),
            _ => None,
        };
        if let Some(pem) = ca_pem {
            let certs = Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| invalid(&e))?;
            builder = builder.tls_certs_only(certs);
        }
        if let AuthPublic::Mtls {
            client_cert_pem, ..
        } = &public
        {
            let key = secret
                .client_key_pem
                .as_deref()
                .ok_or_else(|| invalid(&"the mTLS client key is missing"))?;
            let identity = Identity::from_pem(format!("{client_cert_pem}\n{key}").as_bytes())
                .map_err(|e| invalid(&e))?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(|e| invalid(&e))?;

        let auth = match public {
            AuthPublic::Secret { name, location } => {
                let value = secret
                    .token
                    .ok_or_else(|| invalid(&"the shared secret is missing"))?;
                match location {
                    SecretLocation::Header => RequestAuth::Header { name, value },
                    SecretLocation::Query => RequestAuth::Query { name, value },
                }
            }
            AuthPublic::Oauth2 {
                token_url,
                client_id,
                scopes,
            } => {
                let client_secret = secret
                    .client_secret
                    .as_deref()
                    .ok_or_else(|| invalid(&"the OAuth2 client secret is missing"))?;
                let source =
                    TokenSource::new(&token_url, &client_id, client_secret, scopes, http.clone())
                        .map_err(|e| invalid(&e))?;
                RequestAuth::Bearer(Arc::new(source))
            }
            AuthPublic::None | AuthPublic::CustomCa { .. } | AuthPublic::Mtls { .. } => {
                RequestAuth::None
            }
        };
        let signing_secret = secret.signing_secret.unwrap_or_default().into_bytes();
        Ok(Connection {
            url,
            http,
            auth,
            timeout,
            standard_key: signing::standard_key(&signing_secret),
            signing_secret,
        })
    }

    /// The signed request for one body, with the auth of the target's mode.
    pub async fn request(
        &self,
        message_id: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Request, String> {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signing::sign(&self.signing_secret, timestamp, &body);
        let standard =
            signing::standard_signature(&self.standard_key, message_id, timestamp, &body);
        let mut url = self.url.clone();
        if let RequestAuth::Query { name, value } = &self.auth {
            url.query_pairs_mut().append_pair(name, value);
        }
        let mut builder = self.http.post(url);
        match &self.auth {
            RequestAuth::Header { name, value } => builder = builder.header(name, value),
            RequestAuth::Bearer(source) => {
                let token = source.token().await.map_err(|e| e.to_string())?;
                builder = builder.bearer_auth(token);
            }
            RequestAuth::None | RequestAuth::Query { .. } => {}
        }
        builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signing::MESSAGE_ID_HEADER, message_id)
            .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signing::SIGNATURE_HEADER, signature)
            .header(signing::STANDARD_ID_HEADER, message_id)
            .header(signing::STANDARD_TIMESTAMP_HEADER, timestamp.to_string())
            .header(signing::STANDARD_SIGNATURE_HEADER, standard)
            .body(body)
            .build()
            .map_err(|e| e.to_string())
    }
}
