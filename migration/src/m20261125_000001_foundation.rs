//! Tenants, apps, keys, webhook targets, deliveries, conversations, streams, messages.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    AwsRoleArn,
    AwsExternalId,
    AwsRegion,
    AwsEndpointUrl,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    TenantId,
    Name,
    RatePerSecond,
    RateBurst,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    AppId,
    SecretSha256,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum WebhookTargets {
    Table,
    TenantId,
    Url,
    AuthMode,
    AuthPublic,
    AuthSealed,
    TimeoutMs,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    TenantId,
    MessageId,
    At,
    Outcome,
    HttpStatus,
    Error,
    LatencyMs,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    TenantId,
    ExternalId,
    CustomerId,
    AgentId,
    Language,
    DetailedToken,
    RedactionOutput,
    RedactionEntities,
    StreamArn,
    StartSelectorType,
    AfterFragmentNumber,
    StartTimestampMs,
    State,
    Generation,
    MessageCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Streams {
    Table,
    Id,
    ConversationId,
    Role,
    Generation,
    StatusCode,
    StatusDescription,
    StartedAt,
    StoppedAt,
    TotalAudioBytes,
    AudioDurationMs,
    StreamingSeconds,
    Transcripts,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    StreamId,
    Role,
    SenderExternalId,
    Seq,
    StartMs,
    EndMs,
    Text,
    UnredactedText,
    Tokens,
    CreatedAt,
}

fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .col(string(Tenants::Id).primary_key())
                .col(string(Tenants::Name))
                .col(string_null(Tenants::AwsRoleArn))
                .col(string_null(Tenants::AwsExternalId))
                .col(string_null(Tenants::AwsRegion))
                .col(string_null(Tenants::AwsEndpointUrl))
                .col(timestamp_with_time_zone(Tenants::CreatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Apps::Table)
                .col(string(Apps::Id).primary_key())
                .col(string(Apps::TenantId))
                .col(string(Apps::Name))
                .col(integer_null(Apps::RatePerSecond))
                .col(integer_null(Apps::RateBurst))
                .col(timestamp_with_time_zone(Apps::CreatedAt))
                .foreign_key(&mut fk(
                    (Apps::Table, Apps::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .index(Index::create().unique().col(Apps::TenantId).col(Apps::Name))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(string(ApiKeys::Id).primary_key())
                .col(string(ApiKeys::TenantId))
                .col(string(ApiKeys::AppId))
                .col(string(ApiKeys::SecretSha256))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .foreign_key(&mut fk(
                    (ApiKeys::Table, ApiKeys::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .foreign_key(&mut fk(
                    (ApiKeys::Table, ApiKeys::AppId),
                    (Apps::Table, Apps::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("api_keys_by_tenant")
                .table(ApiKeys::Table)
                .col(ApiKeys::TenantId)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookTargets::Table)
                .col(string(WebhookTargets::TenantId).primary_key())
                .col(text(WebhookTargets::Url))
                .col(string(WebhookTargets::AuthMode))
                .col(text(WebhookTargets::AuthPublic))
                .col(text_null(WebhookTargets::AuthSealed))
                .col(integer(WebhookTargets::TimeoutMs))
                .col(timestamp_with_time_zone(WebhookTargets::UpdatedAt))
                .foreign_key(&mut fk(
                    (WebhookTargets::Table, WebhookTargets::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(big_pk_auto(Deliveries::Id))
                .col(string(Deliveries::TenantId))
                .col(string(Deliveries::MessageId))
                .col(timestamp_with_time_zone(Deliveries::At))
                .col(string(Deliveries::Outcome))
                .col(integer_null(Deliveries::HttpStatus))
                .col(text_null(Deliveries::Error))
                .col(big_integer_null(Deliveries::LatencyMs))
                .foreign_key(&mut fk(
                    (Deliveries::Table, Deliveries::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("deliveries_by_tenant_time")
                .table(Deliveries::Table)
                .col(Deliveries::TenantId)
                .col(Deliveries::At)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Conversations::Table)
                .col(string(Conversations::Id).primary_key())
                .col(string(Conversations::TenantId))
                .col(string(Conversations::ExternalId))
                .col(string(Conversations::CustomerId))
                .col(string(Conversations::AgentId))
                .col(string(Conversations::Language))
                .col(boolean(Conversations::DetailedToken))
                .col(string(Conversations::RedactionOutput))
                .col(text_null(Conversations::RedactionEntities))
                .col(text(Conversations::StreamArn))
                .col(string(Conversations::StartSelectorType))
                .col(string_null(Conversations::AfterFragmentNumber))
                .col(big_integer_null(Conversations::StartTimestampMs))
                .col(string(Conversations::State))
                .col(integer(Conversations::Generation))
                .col(integer(Conversations::MessageCount))
                .col(timestamp_with_time_zone(Conversations::CreatedAt))
                .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                .foreign_key(&mut fk(
                    (Conversations::Table, Conversations::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .index(
                    Index::create()
                        .name("conversations_by_external_id")
                        .unique()
                        .col(Conversations::TenantId)
                        .col(Conversations::ExternalId),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Streams::Table)
                .col(string(Streams::Id).primary_key())
                .col(string(Streams::ConversationId))
                .col(string(Streams::Role))
                .col(integer(Streams::Generation))
                .col(integer(Streams::StatusCode))
                .col(string(Streams::StatusDescription))
                .col(timestamp_with_time_zone(Streams::StartedAt))
                .col(timestamp_with_time_zone_null(Streams::StoppedAt))
                .col(big_integer(Streams::TotalAudioBytes))
                .col(big_integer(Streams::AudioDurationMs))
                .col(big_integer(Streams::StreamingSeconds))
                .col(integer(Streams::Transcripts))
                .foreign_key(&mut fk(
                    (Streams::Table, Streams::ConversationId),
                    (Conversations::Table, Conversations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("streams_by_conversation")
                .table(Streams::Table)
                .col(Streams::ConversationId)
                .col(Streams::Generation)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(string(Messages::Id).primary_key())
                .col(string(Messages::ConversationId))
                .col(string(Messages::StreamId))
                .col(string(Messages::Role))
                .col(string(Messages::SenderExternalId))
                .col(integer(Messages::Seq))
                .col(big_integer(Messages::StartMs))
                .col(big_integer(Messages::EndMs))
                .col(text(Messages::Text))
                .col(text_null(Messages::UnredactedText))
                .col(text_null(Messages::Tokens))
                .col(timestamp_with_time_zone(Messages::CreatedAt))
                .foreign_key(&mut fk(
                    (Messages::Table, Messages::ConversationId),
                    (Conversations::Table, Conversations::Id),
                ))
                .index(
                    Index::create()
                        .name("messages_in_order")
                        .unique()
                        .col(Messages::ConversationId)
                        .col(Messages::Seq),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("messages_by_age")
                .table(Messages::Table)
                .col(Messages::CreatedAt)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Messages::Table.into_iden(),
            Streams::Table.into_iden(),
            Conversations::Table.into_iden(),
            Deliveries::Table.into_iden(),
            WebhookTargets::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Apps::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
