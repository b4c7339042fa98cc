//! A tenant's own choice of speech engine for its English conversations (the admin API's
//! `/tenants/{id}/engine`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    /// `engine.model`'s name, e.g. `whisper-base`; NULL = the replica's default.
    EngineModel,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(string_null(Tenants::EngineModel))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::EngineModel)
                .take(),
        )
        .await
    }
}
