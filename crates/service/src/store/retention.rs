//! Purging what is past its retention, one small batch per statement so writers from
//! the API and the sessions are never locked out for long.

use chrono::{DateTime, Utc};
use entity::{audit_record, conversation, delivery, message};
use sea_orm::sea_query::{ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Store;
use entity::ConversationState;

impl Store {
    /// Deletes up to `limit` messages created before `cutoff`; returns how many.
    pub async fn purge_messages(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        self.delete_batch(
            message::Entity,
            message::Column::Id,
            message::Column::CreatedAt.lt(cutoff),
            limit,
        )
        .await
    }

    /// Deletes up to `limit` delivery-log rows written before `cutoff`.
    pub async fn purge_deliveries(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        self.delete_batch(
            delivery::Entity,
            delivery::Column::Id,
            delivery::Column::At.lt(cutoff),
            limit,
        )
        .await
    }

    /// Deletes up to `limit` audit records written before `cutoff`.
    pub async fn purge_audit(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        self.delete_batch(
            audit_record::Entity,
            audit_record::Column::Id,
            audit_record::Column::At.lt(cutoff),
            limit,
        )
        .await
    }

    /// Deletes up to `limit` stopped conversations last changed before `cutoff`, with
    /// their streams (and any message left, by the foreign keys' cascade). A conversation
    /// still streaming is never purged.
    pub async fn purge_conversations(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        self.delete_batch(
            conversation::Entity,
            conversation::Column::Id,
            conversation::Column::State
                .eq(ConversationState::Stopped)
                .and(conversation::Column::UpdatedAt.lt(cutoff)),
            limit,
        )
        .await
    }

    /// `DELETE FROM t WHERE id IN (SELECT id FROM t WHERE old LIMIT n)`: a bounded batch
    /// on both SQLite and PostgreSQL (neither portable `DELETE ... LIMIT` exists).
    async fn delete_batch<E: EntityTrait>(
        &self,
        entity: E,
        id: E::Column,
        old: SimpleExpr,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        let oldest = Query::select()
            .column(id)
            .from(entity.table_ref())
            .and_where(old)
            .limit(limit)
            .to_owned();
        let done = E::delete_many()
            .filter(id.in_subquery(oldest))
            .exec(self.db())
            .await?;
        Ok(done.rows_affected)
    }
}
