//! OAuth2 client_credentials for a webhook target: the `oauth2` crate speaks the
//! protocol over our own reqwest client (so the target's TLS settings and timeouts
//! apply to the token endpoint too). The token is cached until shortly before it
//! expires; one refresh runs at a time and the others wait for its result.

use std::pin::Pin;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, Scope, TokenResponse, TokenUrl,
};
use tokio::sync::Mutex;

/// Refresh this long before the token endpoint's stated expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime assumed when the token endpoint states none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Hands out a valid access token for one target.
pub struct TokenSource {
    client: Client,
    scopes: Vec<String>,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Why no token could be obtained (the text goes to the delivery log; it never holds
/// the client secret).
#[derive(Debug, thiserror::Error)]
#[error("OAuth2 token request failed: {0}")]
pub struct TokenError(String);

impl TokenSource {
    pub fn new(
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scopes: Vec<String>,
        http: reqwest::Client,
    ) -> Result<TokenSource, TokenError> {
        let token_url =
            TokenUrl::new(token_url.to_owned()).map_err(|e| TokenError(e.to_string()))?;
        // client_credentials never visits the authorization endpoint; the crate's type
        // only needs one to be set.
        let unused_auth_url = AuthUrl::from_url(token_url.url().clone());
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.to_owned()))
            .set_auth_uri(unused_auth_url)
            .set_token_uri(token_url);
        Ok(TokenSource {
            client,
            scopes,
            http,
            cached: Mutex::new(None),
        })
    }

    /// A token valid for at least [`EXPIRY_MARGIN`], fetched if needed.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let response = self
            .client
            .exchange_client_credentials()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .request_async(&Http(&self.http))
            .await
            .map_err(|e| TokenError(super::error_chain(&e)))?;
        let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let token = response.access_token().secret().clone();
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        });
        Ok(token)
    }

    /// Forgets the cached token (the target answered 401), so the next message fetches
    /// a new one.
    pub async fn invalidate(&self) {
        self.cached.lock().await.take();
    }
}

/// The `oauth2` crate's HTTP seam, over reqwest 0.13 (the crate's own integration is
/// for 0.12).
struct Http<'a>(&'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http<'_> {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            // Status and headers come from a valid response, so the builder cannot fail.
            Ok(builder.body(body).unwrap_or_default())
        })
    }
}
