//! A tenant's real-time webhook target. Secret parts of the auth settings are sealed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_targets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub url: String,
    /// none | secret | customCa | mtls | oauth2
    pub auth_mode: String,
    /// JSON of the auth settings that are not secret (header name, token URL, CA bundle...).
    pub auth_public: String,
    /// Encrypted JSON of the secret settings (token, client secret, private key).
    pub auth_sealed: Option<String>,
    pub timeout_ms: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
