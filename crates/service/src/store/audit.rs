//! The audit log's rows: written in batches by the audit writer, read back in id order
//! (a keyset cursor, so a page never skips or repeats a row while new ones arrive).

use chrono::{DateTime, Utc};
use entity::audit_record;
use sea_orm::{ColumnTrait, EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, Set};

use super::Store;
use crate::audit::Entry;

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records after this id (the last id of the previous page).
    pub after: Option<i64>,
    /// Only records about this conversation (its keyed hash).
    pub subject: Option<String>,
    pub limit: u64,
}

impl Store {
    pub async fn record_audit(&self, entries: &[Entry]) -> Result<(), sea_orm::DbErr> {
        let rows = entries.iter().map(|e| audit_record::ActiveModel {
            id: NotSet,
            at: Set(e.at),
            kind: Set(e.kind.as_str().to_owned()),
            actor: Set(e.actor.clone()),
            operation: Set(e.operation.clone()),
            tenant_id: Set(e.tenant_id.clone()),
            target: Set(e.target.clone()),
            subject: Set(e.subject.clone()),
            status: Set(i32::from(e.status)),
            request_id: Set(e.request_id.clone()),
        });
        audit_record::Entity::insert_many(rows)
            .exec_without_returning(self.db())
            .await
            .map(|_| ())
    }

    /// One page of the audit log, oldest first.
    pub async fn audit_page(
        &self,
        q: &AuditQuery,
    ) -> Result<Vec<audit_record::Model>, sea_orm::DbErr> {
        let mut select = audit_record::Entity::find();
        if let Some(since) = q.since {
            select = select.filter(audit_record::Column::At.gte(since));
        }
        if let Some(after) = q.after {
            select = select.filter(audit_record::Column::Id.gt(after));
        }
        if let Some(subject) = &q.subject {
            select = select.filter(audit_record::Column::Subject.eq(subject.as_str()));
        }
        select
            .order_by_asc(audit_record::Column::Id)
            .limit(q.limit)
            .all(self.db())
            .await
    }
}
