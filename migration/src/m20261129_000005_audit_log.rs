//! The audit log: one row per mutating admin call and per API-key request. Personal
//! identifiers (ContactIds) and key ids are stored only as keyed hashes; no foreign keys,
//! so the record outlives what it names.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    /// `admin` | `apiKey`
    Kind,
    /// Keyed hash of the admin token or of the key id.
    Actor,
    /// The API's operation id.
    Operation,
    TenantId,
    /// What the call acted on (ids; key ids hashed).
    Target,
    /// Keyed hash of the conversation's ContactId.
    Subject,
    Status,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(string(AuditLog::Kind))
                .col(string(AuditLog::Actor))
                .col(string(AuditLog::Operation))
                .col(string_null(AuditLog::TenantId))
                .col(string_null(AuditLog::Target))
                .col(string_null(AuditLog::Subject))
                .col(integer(AuditLog::Status))
                .col(string(AuditLog::RequestId))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_log_by_time")
                .table(AuditLog::Table)
                .col(AuditLog::At)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditLog::Table).take())
            .await
    }
}
