//! Purging what is past its retention, one small batch per statement so writers from
//! the API and the sessions are never locked out for long.

use chrono::{DateTime, Utc};
use entity::{conversation, delivery, message};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityName, EntityTrait, QueryFilter};

use super::Store;
use super::conversations::STOPPED;

impl Store {
    /// Deletes up to `limit` messages created before `cutoff`; returns how many.
    pub async fn purge_messages(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        let oldest = Query::select()
            .column(message::Column::Id)
            .from(message::Entity.table_ref())
            .and_where(message::Column::CreatedAt.lt(cutoff))
            .limit(limit)
            .to_owned();
        let done = message::Entity::delete_many()
            .filter(message::Column::Id.in_subquery(oldest))
            .exec(self.db())
            .await?;
        Ok(done.rows_affected)
    }

    /// Deletes up to `limit` delivery-log rows written before `cutoff`.
    pub async fn purge_deliveries(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        let oldest = Query::select()
            .column(delivery::Column::Id)
            .from(delivery::Entity.table_ref())
            .and_where(delivery::Column::At.lt(cutoff))
            .limit(limit)
            .to_owned();
        let done = delivery::Entity::delete_many()
            .filter(delivery::Column::Id.in_subquery(oldest))
            .exec(self.db())
            .await?;
        Ok(done.rows_affected)
    }

    /// Deletes up to `limit` stopped conversations last changed before `cutoff`, with
    /// their streams (and any message left, by the foreign keys' cascade). A conversation
    /// still streaming is never purged.
    pub async fn purge_conversations(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, sea_orm::DbErr> {
        let oldest = Query::select()
            .column(conversation::Column::Id)
            .from(conversation::Entity.table_ref())
            .and_where(conversation::Column::State.eq(STOPPED))
            .and_where(conversation::Column::UpdatedAt.lt(cutoff))
            .limit(limit)
            .to_owned();
        let done = conversation::Entity::delete_many()
            .filter(conversation::Column::Id.in_subquery(oldest))
            .exec(self.db())
            .await?;
        Ok(done.rows_affected)
    }
}
