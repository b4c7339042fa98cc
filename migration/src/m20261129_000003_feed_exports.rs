//! The File Exporter's record of each tenant's exported days.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FeedExports {
    Table,
    TenantId,
    /// `YYYY-MM-DD` (UTC).
    FeedDate,
    /// `running` | `complete`
    State,
    /// The run that holds the claim (the latest one started).
    RunId,
    /// Renewed while the run works; a running claim whose heartbeat is stale is taken over.
    HeartbeatAt,
    /// The run whose files are served, NULL until the first run completes.
    PublishedRun,
    /// JSON array of the published files: `{interval, name, rows, bytes}`.
    Files,
    Rows,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FeedExports::Table)
                .col(string(FeedExports::TenantId))
                .col(string(FeedExports::FeedDate))
                .col(string(FeedExports::State))
                .col(string(FeedExports::RunId))
                .col(timestamp_with_time_zone(FeedExports::HeartbeatAt))
                .col(string_null(FeedExports::PublishedRun))
                .col(text(FeedExports::Files))
                .col(big_integer(FeedExports::Rows))
                .col(timestamp_with_time_zone_null(FeedExports::CompletedAt))
                .primary_key(
                    Index::create()
                        .col(FeedExports::TenantId)
                        .col(FeedExports::FeedDate),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(FeedExports::Table, FeedExports::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(FeedExports::Table).take())
            .await
    }
}
