//! A webhook target's settings as stored: the public part as JSON, the secret part
//! sealed. The admin API converts its wire types to these and back (without secrets).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Where a shared secret travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretLocation {
    Header,
    Query,
}

/// The non-secret auth settings (safe to return through the admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "camelCase")]
pub enum AuthPublic {
    None,
    #[serde(rename_all = "camelCase")]
    Secret {
        name: String,
        location: SecretLocation,
    },
    #[serde(rename_all = "camelCase")]
    CustomCa {
        ca_pem: String,
    },
    #[serde(rename_all = "camelCase")]
    Mtls {
        client_cert_pem: String,
        ca_pem: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Oauth2 {
        token_url: String,
        client_id: String,
        scopes: Vec<String>,
    },
}

impl AuthPublic {
    pub fn mode(&self) -> &'static str {
        match self {
            AuthPublic::None => "none",
            AuthPublic::Secret { .. } => "secret",
            AuthPublic::CustomCa { .. } => "customCa",
            AuthPublic::Mtls { .. } => "mtls",
            AuthPublic::Oauth2 { .. } => "oauth2",
        }
    }
}

/// The secret auth settings: sealed at rest, never returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecret {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Key of the `x-callscribe-signature` HMAC on every delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl AuthSecret {
    pub fn is_empty(&self) -> bool {
        self.token.is_none()
            && self.client_key_pem.is_none()
            && self.client_secret.is_none()
            && self.signing_secret.is_none()
    }
}

/// Why a PEM value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PemError {
    #[error("holds no PEM certificate")]
    NoCertificate,
    #[error("is not a PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey,
}

/// Checks that a PEM bundle holds at least one certificate.
pub fn check_certificates(pem: &str) -> Result<usize, PemError> {
    let count = CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter(Result::is_ok)
        .count();
    if count == 0 {
        Err(PemError::NoCertificate)
    } else {
        Ok(count)
    }
}

/// Checks that a PEM value is a private key.
pub fn check_private_key(pem: &str) -> Result<(), PemError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map(|_| ())
        .map_err(|_| PemError::NoKey)
}
