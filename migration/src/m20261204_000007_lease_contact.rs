//! The ContactId a conversation's reading locked onto (the first tagged fragment it read),
//! kept with the resume positions so a takeover keeps the same lock.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leases {
    Table,
    /// NULL until the reading has read a tagged fragment.
    ContactId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Leases::Table)
                .add_column(string_null(Leases::ContactId))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Leases::Table)
                .drop_column(Leases::ContactId)
                .take(),
        )
        .await
    }
}
