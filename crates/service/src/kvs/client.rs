//! AWS SDK clients for one tenant's KVS streams: credentials, region and endpoint.
//!
//! - A tenant role is assumed through STS (role ARN, external id, a session name);
//!   the SDK caches the temporary credentials and refreshes them before they expire.
//! - Without a role, the server's default credential chain is used.
//! - An endpoint override without a role (the emulator) signs with placeholder
//!   credentials, which the emulator ignores.
//!
//! The region is the stream ARN's unless the tenant sets one.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesisvideo::types::ApiName;
use aws_sdk_kinesisvideomedia::config::StalledStreamProtectionConfig;

use crate::kvs::arn::StreamArn;
use crate::store::tenants::AwsSettings;

/// Where and as whom to read one stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvsTarget {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// STS session name, so CloudTrail shows which tenant read the stream.
    pub session_name: String,
}

impl KvsTarget {
    pub fn new(aws: &AwsSettings, arn: &StreamArn, session_name: &str) -> KvsTarget {
        KvsTarget {
            region: aws.region.clone().unwrap_or_else(|| arn.region.clone()),
            endpoint_url: aws.endpoint_url.clone(),
            role_arn: aws.role_arn.clone(),
            external_id: aws.external_id.clone(),
            session_name: session_name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "=,.@-".contains(*c))
                .take(64)
                .collect(),
        }
    }
}

/// Shared SDK configuration for `target`.
pub async fn sdk_config(target: &KvsTarget) -> SdkConfig {
    let region = Region::new(target.region.clone());
    let base = || aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
    match (&target.role_arn, &target.endpoint_url) {
        (Some(role), _) => {
            let chain = base().load().await;
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(if target.session_name.is_empty() {
                    "callscribe"
                } else {
                    &target.session_name
                })
                .region(region.clone())
                .configure(&chain);
            if let Some(external_id) = &target.external_id {
                provider = provider.external_id(external_id);
            }
            base()
                .credentials_provider(provider.build().await)
                .load()
                .await
        }
        (None, Some(_)) => {
            let placeholder = aws_sdk_kinesisvideo::config::Credentials::new(
                "callscribe",
                "emulator",
                None,
                None,
                "callscribe",
            );
            base().credentials_provider(placeholder).load().await
        }
        (None, None) => base().load().await,
    }
}

/// SDK configurations by target, built once: building one loads credentials and the
/// TLS roots and starts a connection pool, far too costly for every start-streaming.
/// Entries are few (one per tenant setting) and never expire; a changed setting is a
/// new key.
#[derive(Default)]
pub struct SdkConfigs {
    by_target: std::sync::Mutex<std::collections::HashMap<KvsTarget, SdkConfig>>,
}

impl SdkConfigs {
    pub async fn get(&self, target: &KvsTarget) -> SdkConfig {
        let cached = self.lock().get(target).cloned();
        if let Some(config) = cached {
            return config;
        }
        let config = sdk_config(target).await;
        self.lock().entry(target.clone()).or_insert(config).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<KvsTarget, SdkConfig>> {
        self.by_target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The control-plane client (GetDataEndpoint).
pub fn control_client(config: &SdkConfig, target: &KvsTarget) -> aws_sdk_kinesisvideo::Client {
    let mut builder = aws_sdk_kinesisvideo::config::Builder::from(config);
    if let Some(url) = &target.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_kinesisvideo::Client::from_conf(builder.build())
}

/// A KVS call failed; `code` is the service's error code when there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct KvsCallError {
    pub code: Option<String>,
    pub message: String,
}

impl KvsCallError {
    pub fn from_sdk<E, R>(err: aws_sdk_kinesisvideo::error::SdkError<E, R>) -> KvsCallError
    where
        E: aws_sdk_kinesisvideo::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_kinesisvideo::error::ProvideErrorMetadata;
        let code = err.code().map(str::to_owned);
        let message = match (err.code(), err.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_owned(),
            _ => format!("{}", aws_sdk_kinesisvideo::error::DisplayErrorContext(&err)),
        };
        KvsCallError { code, message }
    }
}

/// Resolves the stream's GetMedia endpoint and builds the media client for it. The
/// SDK's stalled-stream protection is off: GetMedia bodies idle legitimately, and the
/// reader runs its own idle watchdog.
pub async fn media_client(
    config: &SdkConfig,
    target: &KvsTarget,
    stream_arn: &str,
) -> Result<aws_sdk_kinesisvideomedia::Client, KvsCallError> {
    let endpoint = data_endpoint(config, target, stream_arn).await?;
    Ok(media_client_for(config, &endpoint))
}

/// The stream's GetMedia endpoint (GetDataEndpoint): also proves the stream exists and
/// the credentials may read it.
pub async fn data_endpoint(
    config: &SdkConfig,
    target: &KvsTarget,
    stream_arn: &str,
) -> Result<String, KvsCallError> {
    control_client(config, target)
        .get_data_endpoint()
        .api_name(ApiName::GetMedia)
        .stream_arn(stream_arn)
        .send()
        .await
        .map_err(KvsCallError::from_sdk)?
        .data_endpoint
        .ok_or_else(|| KvsCallError {
            code: None,
            message: "GetDataEndpoint returned no endpoint".into(),
        })
}

/// The media client for a known data endpoint.
pub fn media_client_for(config: &SdkConfig, endpoint: &str) -> aws_sdk_kinesisvideomedia::Client {
    let media = aws_sdk_kinesisvideomedia::config::Builder::from(config)
        .endpoint_url(endpoint)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    aws_sdk_kinesisvideomedia::Client::from_conf(media)
}
