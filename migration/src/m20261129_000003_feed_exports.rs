//! The File Exporter's record of each tenant's exported days, and the tenant on each
//! message so a tenant's day is one index range (the feed reads it in keyset order).

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
enum Messages {
    Table,
    TenantId,
    ConversationId,
    CreatedAt,
    Id,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    TenantId,
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
        .await?;
        m.alter_table(
            Table::alter()
                .table(Messages::Table)
                .add_column(string(Messages::TenantId).default(""))
                .take(),
        )
        .await?;
        let owner = Query::select()
            .column((Conversations::Table, Conversations::TenantId))
            .from(Conversations::Table)
            .and_where(
                Expr::col((Conversations::Table, Conversations::Id))
                    .equals((Messages::Table, Messages::ConversationId)),
            )
            .take();
        m.exec_stmt(
            Query::update()
                .table(Messages::Table)
                .value(
                    Messages::TenantId,
                    SimpleExpr::SubQuery(None, Box::new(owner.into_sub_query_statement())),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("messages_by_tenant_time")
                .table(Messages::Table)
                .col(Messages::TenantId)
                .col(Messages::CreatedAt)
                .col(Messages::Id)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("messages_by_tenant_time")
                .table(Messages::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Messages::Table)
                .drop_column(Messages::TenantId)
                .take(),
        )
        .await?;
        m.drop_table(Table::drop().table(FeedExports::Table).take())
            .await
    }
}
