//! Which replica reads a streaming conversation, until when, and where each
//! participant's track resumes if another replica has to take over.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: String,
    /// The start (generation) of the conversation being read.
    pub generation: i32,
    /// Replica id; `None` when handed back or not yet claimed.
    pub owner: Option<String>,
    /// Minted by every start and claim: writes fenced by the lease name it, so an
    /// earlier holder (even on the same replica) cannot write after a takeover.
    pub token: String,
    pub expires_at: DateTimeUtc,
    /// The last fragment after which everything the customer said is stored.
    pub customer_fragment: Option<String>,
    pub customer_token: Option<String>,
    /// The customer track's audio bytes up to `customer_fragment`.
    pub customer_audio_bytes: i64,
    pub agent_fragment: Option<String>,
    pub agent_token: Option<String>,
    pub agent_audio_bytes: i64,
    pub updated_at: DateTimeUtc,
    /// The ContactId the reading locked onto; `None` until it read a tagged fragment.
    pub contact_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
