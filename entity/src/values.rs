//! The typed values of string columns. Each is stored as the text shown in its
//! `string_value` (the schema is unchanged: the columns stay text on SQLite and
//! PostgreSQL, and rows written before these types existed read back as they were); a
//! stored text that is none of them fails the read with an error naming it, never
//! becomes a default.

use sea_orm::entity::prelude::*;

/// Which side of the call a stream or a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    #[sea_orm(string_value = "customer")]
    Customer,
    #[sea_orm(string_value = "agent")]
    Agent,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Customer, Role::Agent];

    /// The wire and column name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
        }
    }
}

/// Whether a conversation is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ConversationState {
    #[sea_orm(string_value = "streaming")]
    Streaming,
    #[sea_orm(string_value = "stopped")]
    Stopped,
}

/// Which text a conversation's messages carry: redacted, as spoken, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RedactionOutput {
    #[default]
    #[sea_orm(string_value = "redacted")]
    Redacted,
    #[sea_orm(string_value = "unredacted")]
    Unredacted,
    #[sea_orm(string_value = "redacted_and_unredacted")]
    RedactedAndUnredacted,
}

/// Where in the KVS stream a start reads from, as the start request named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StartSelectorType {
    #[default]
    #[sea_orm(string_value = "NOW")]
    Now,
    #[sea_orm(string_value = "EARLIEST")]
    Earliest,
    #[sea_orm(string_value = "FRAGMENT_NUMBER")]
    FragmentNumber,
    #[sea_orm(string_value = "SERVER_TIMESTAMP")]
    ServerTimestamp,
    #[sea_orm(string_value = "PRODUCER_TIMESTAMP")]
    ProducerTimestamp,
}

/// Where a tenant's export of one day stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum FeedExportState {
    /// A run holds the claim (and renews its heartbeat).
    #[sea_orm(string_value = "running")]
    Running,
    /// A run published the day's files.
    #[sea_orm(string_value = "complete")]
    Complete,
}
