//! One audited call: a mutating admin call or a request made with an API key.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// admin | apiKey
    pub kind: String,
    /// `admin:<hash>` or `key:<hash>`: keyed hashes, never the token or the key.
    pub actor: String,
    /// The API's operation id (`createTenant`, `startStreaming`, ...).
    pub operation: String,
    pub tenant_id: Option<String>,
    /// What an admin call acted on (`key:<hash>`, `app:<name>`, `tenant:<id>`).
    pub target: Option<String>,
    /// Keyed hash of the conversation's ContactId (guid).
    pub subject: Option<String>,
    /// The HTTP status answered.
    pub status: i32,
    pub request_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
