//! A customer organisation: owns apps, keys, conversations, its webhook and AWS settings.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// IAM role assumed to read the tenant's KVS streams (default credential chain if unset).
    pub aws_role_arn: Option<String>,
    pub aws_external_id: Option<String>,
    pub aws_region: Option<String>,
    /// KVS endpoint override, e.g. the local emulator.
    pub aws_endpoint_url: Option<String>,
    /// Default redaction entities, a JSON array of names; NULL = the built-in defaults.
    pub redaction_entities: Option<String>,
    /// The speech engine of its English conversations (`engine.model`'s names); NULL =
    /// the replica's default.
    pub engine_model: Option<String>,
    /// Redacted text keeps a card number's last four digits.
    pub card_keep_last_four: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
