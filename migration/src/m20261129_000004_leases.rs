//! Leases: which replica reads each streaming conversation, until when, and where each
//! participant's track can resume. A replica that dies stops renewing; another claims
//! the expired lease and resumes GetMedia from the committed positions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leases {
    Table,
    ConversationId,
    /// The start (generation) of the conversation being read.
    Generation,
    /// Replica id; NULL when handed back or not yet claimed.
    Owner,
    /// Minted by every start and claim; writes fenced by the lease name it.
    Token,
    ExpiresAt,
    /// Per track: the last fragment after which everything the track said is stored,
    /// its continuation token, and the track's audio bytes up to that fragment.
    CustomerFragment,
    CustomerToken,
    CustomerAudioBytes,
    AgentFragment,
    AgentToken,
    AgentAudioBytes,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Leases::Table)
                .col(string(Leases::ConversationId).primary_key())
                .col(integer(Leases::Generation))
                .col(string_null(Leases::Owner))
                .col(string(Leases::Token).default(""))
                .col(timestamp_with_time_zone(Leases::ExpiresAt))
                .col(string_null(Leases::CustomerFragment))
                .col(string_null(Leases::CustomerToken))
                .col(big_integer(Leases::CustomerAudioBytes).default(0))
                .col(string_null(Leases::AgentFragment))
                .col(string_null(Leases::AgentToken))
                .col(big_integer(Leases::AgentAudioBytes).default(0))
                .col(timestamp_with_time_zone(Leases::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Leases::Table, Leases::ConversationId)
                        .to(Conversations::Table, Conversations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("leases_by_expiry")
                .table(Leases::Table)
                .col(Leases::ExpiresAt)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("leases_by_owner")
                .table(Leases::Table)
                .col(Leases::Owner)
                .take(),
        )
        .await?;
        // Conversations streaming when an earlier version stopped get an expired lease, so
        // the upgraded service resumes them.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO leases (conversation_id, generation, owner, expires_at, \
                 customer_audio_bytes, agent_audio_bytes, updated_at) \
                 SELECT id, generation, NULL, updated_at, 0, 0, updated_at \
                 FROM conversations WHERE state = 'streaming'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Leases::Table).take())
            .await
    }
}
