//! API keys: `cs_<keyId>_<secret>`. Only the SHA-256 of the secret is stored; the
//! secret is shown once, when the key is created.

use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{api_key, app};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Store;
use super::tenants::RateLimit;
use crate::ids::{AppId, KeyId, TenantId};

/// A key as handed to its owner, once.
pub struct IssuedKey {
    pub key_id: KeyId,
    /// The full `cs_<keyId>_<secret>` string.
    pub key: String,
}

/// What a valid key authorises.
#[derive(Debug, Clone)]
pub struct AuthedKey {
    pub key_id: KeyId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub limit: RateLimit,
}

/// A key as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub key_id: KeyId,
    pub app: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `cs_<keyId>_<secret>`; `None` for anything else.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("cs"), Some(id), Some(secret))
            if id.len() == 16
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && !secret.is_empty() =>
        {
            Some((id, secret))
        }
        _ => None,
    }
}

impl Store {
    /// Issues a new key for `app` (created if needed) of `tenant`.
    pub async fn create_key(
        &self,
        tenant: &TenantId,
        app_name: &str,
    ) -> Result<IssuedKey, sea_orm::DbErr> {
        let app = self.ensure_app(tenant, app_name).await?;
        let mut id_bytes = [0u8; 8];
        let mut secret_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut id_bytes);
        rand::rng().fill_bytes(&mut secret_bytes);
        let key_id = hex::encode(id_bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
        api_key::ActiveModel {
            id: Set(key_id.clone()),
            tenant_id: Set(tenant.0.clone()),
            app_id: Set(app.id),
            secret_sha256: Set(sha256_hex(&secret)),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
        }
        .insert(self.db())
        .await?;
        Ok(IssuedKey {
            key: format!("cs_{key_id}_{secret}"),
            key_id: KeyId(key_id),
        })
    }

    /// The key's grant if it exists, is not revoked and the secret matches.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<AuthedKey>, sea_orm::DbErr> {
        let Some((id, secret)) = parse_key(presented) else {
            return Ok(None);
        };
        let Some(key) = api_key::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        // Both sides are 64 hex characters, so the comparison's time depends on neither
        // the stored hash nor the presented secret. The key id is looked up first; it
        // is an identifier, not a secret.
        let matches: bool = sha256_hex(secret)
            .as_bytes()
            .ct_eq(key.secret_sha256.as_bytes())
            .into();
        if !matches || key.revoked_at.is_some() {
            return Ok(None);
        }
        let app = app::Entity::find_by_id(key.app_id.clone())
            .one(self.db())
            .await?;
        let limit = app
            .map(|a| RateLimit {
                per_second: a.rate_per_second.and_then(|v| u32::try_from(v).ok()),
                burst: a.rate_burst.and_then(|v| u32::try_from(v).ok()),
            })
            .unwrap_or_default();
        Ok(Some(AuthedKey {
            key_id: KeyId(key.id),
            tenant_id: TenantId(key.tenant_id),
            app_id: AppId(key.app_id),
            limit,
        }))
    }

    pub async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<KeyInfo>, sea_orm::DbErr> {
        let apps = self.list_apps(tenant).await?;
        let keys = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant.0.as_str()))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.db())
            .await?;
        Ok(keys
            .into_iter()
            .map(|k| KeyInfo {
                app: apps
                    .iter()
                    .find(|a| a.id == k.app_id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                key_id: KeyId(k.id),
                created_at: k.created_at,
                revoked_at: k.revoked_at,
            })
            .collect())
    }

    /// Revokes a tenant's key; `false` when the tenant has no such key. Revoking twice is
    /// harmless and keeps the first revocation time.
    pub async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<bool, sea_orm::DbErr> {
        let key = api_key::Entity::find_by_id(key_id.to_owned())
            .filter(api_key::Column::TenantId.eq(tenant.0.as_str()))
            .one(self.db())
            .await?;
        let Some(key) = key else { return Ok(false) };
        if key.revoked_at.is_none() {
            let mut am: api_key::ActiveModel = key.into();
            am.revoked_at = Set(Some(Utc::now()));
            am.update(self.db()).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn parses_only_well_formed_keys() {
        assert_eq!(
            parse_key("cs_0123456789abcdef_s3cr_et"),
            Some(("0123456789abcdef", "s3cr_et"))
        );
        assert_eq!(parse_key("cs_0123456789abcdef_"), None);
        assert_eq!(parse_key("cs_short_secret"), None);
        assert_eq!(parse_key("xx_0123456789abcdef_secret"), None);
        assert_eq!(parse_key(""), None);
    }
}
