//! The File Exporter's side of the database: the utterances of a tenant's day read in
//! batches, and the `feed_exports` records that say which days are exported and which
//! run's files are served.
//!
//! A day's export is claimed by one run at a time; the run renews a heartbeat while it
//! works and a run whose heartbeat went stale (a crash) is taken over. Completing the
//! run switches the served files to its own in one UPDATE, so a reader sees the old set
//! or the new one, never a mix.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{FeedExportState, conversation, feed_export, message};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::{Store, is_unique_violation};
use crate::ids::{Role, TenantId};

/// One utterance as the feed carries it.
#[derive(Debug, Clone)]
pub struct FeedRow {
    pub id: String,
    /// The Connect ContactId (`guid`) of its conversation.
    pub external_conversation_id: String,
    pub stream_id: String,
    pub role: Role,
    pub sender_external_id: String,
    pub seq: i32,
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    pub tokens: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Conversation id → Connect ContactId, filled as a run meets new conversations (a day
/// has far fewer conversations than utterances).
#[derive(Debug, Default)]
pub struct ContactIds(HashMap<String, String>);

/// The message columns the feed reads.
#[derive(FromQueryResult)]
struct FeedMessage {
    id: String,
    conversation_id: String,
    stream_id: String,
    role: Role,
    sender_external_id: String,
    seq: i32,
    start_ms: i64,
    end_ms: i64,
    text: String,
    tokens: Option<String>,
    created_at: DateTime<Utc>,
}

/// Where the previous batch ended: rows are read in (created_at, id) order.
#[derive(Debug, Clone)]
pub struct FeedCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// A claim on one tenant's day, held by one run.
#[derive(Debug, Clone)]
pub struct ExportClaim {
    pub tenant_id: TenantId,
    pub date: NaiveDate,
    pub run_id: String,
}

/// The files a completed run published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedFile {
    /// `hr=HH`
    pub interval: String,
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// A day whose files are served.
#[derive(Debug, Clone)]
pub struct PublishedDay {
    pub date: NaiveDate,
    pub run_id: String,
    pub files: Vec<PublishedFile>,
}

fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn published_day(row: feed_export::Model) -> Option<PublishedDay> {
    Some(PublishedDay {
        date: NaiveDate::parse_from_str(&row.feed_date, "%Y-%m-%d").ok()?,
        run_id: row.published_run?,
        files: serde_json::from_str(&row.files).unwrap_or_default(),
    })
}

impl Store {
    /// Up to `limit` utterances of `tenant` created in `[from, to)`, after `cursor`: one
    /// range of the `messages_by_tenant_time` index, then the batch's conversations by key.
    pub async fn feed_rows(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<&FeedCursor>,
        limit: u64,
        contacts: &mut ContactIds,
    ) -> Result<Vec<FeedRow>, sea_orm::DbErr> {
        use message::Column as M;
        let mut query = message::Entity::find()
            .select_only()
            .columns([
                M::Id,
                M::ConversationId,
                M::StreamId,
                M::Role,
                M::SenderExternalId,
                M::Seq,
                M::StartMs,
                M::EndMs,
                M::Text,
                M::Tokens,
                M::CreatedAt,
            ])
            .filter(M::TenantId.eq(tenant.as_str()))
            // One lower bound only: given two, SQLite seeks the index with the first,
            // and every batch would rescan the day from its start.
            .filter(M::CreatedAt.gte(cursor.map_or(from, |c| Ord::max(c.created_at, from))))
            .filter(M::CreatedAt.lt(to));
        if let Some(after) = cursor {
            // Ties on the cursor's instant are settled by id.
            query = query.filter(
                Condition::any()
                    .add(M::CreatedAt.gt(after.created_at))
                    .add(M::Id.gt(after.id.as_str())),
            );
        }
        let batch = query
            .order_by_asc(M::CreatedAt)
            .order_by_asc(M::Id)
            .limit(limit)
            .into_model::<FeedMessage>()
            .all(self.db())
            .await?;
        let mut missing: Vec<&str> = batch
            .iter()
            .map(|m| m.conversation_id.as_str())
            .filter(|id| !contacts.0.contains_key(*id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let found = conversation::Entity::find()
                .select_only()
                .columns([conversation::Column::Id, conversation::Column::ExternalId])
                .filter(conversation::Column::Id.is_in(missing))
                .into_tuple::<(String, String)>()
                .all(self.db())
                .await?;
            contacts.0.extend(found);
        }
        Ok(batch
            .into_iter()
            .map(|m| FeedRow {
                external_conversation_id: contacts
                    .0
                    .get(&m.conversation_id)
                    .cloned()
                    .unwrap_or_default(),
                id: m.id,
                stream_id: m.stream_id,
                role: m.role,
                sender_external_id: m.sender_external_id,
                seq: m.seq,
                start_ms: m.start_ms,
                end_ms: m.end_ms,
                text: m.text,
                tokens: m.tokens,
                created_at: m.created_at,
            })
            .collect())
    }

    /// When the oldest stored utterance was created.
    pub async fn oldest_message_at(&self) -> Result<Option<DateTime<Utc>>, sea_orm::DbErr> {
        Ok(message::Entity::find()
            .order_by_asc(message::Column::CreatedAt)
            .one(self.db())
            .await?
            .map(|m| m.created_at))
    }

    /// Claims `date` of `tenant` for `run_id`. Without `force`, a day already exported
    /// or being exported by a live run is left alone (`None`); a run whose heartbeat is
    /// older than `stale_before` is taken over.
    pub async fn claim_export(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        run_id: &str,
        force: bool,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<ExportClaim>, sea_orm::DbErr> {
        let key = (tenant.0.clone(), date_key(date));
        let claim = ExportClaim {
            tenant_id: tenant.clone(),
            date,
            run_id: run_id.to_owned(),
        };
        let now = Utc::now();
        let Some(existing) = feed_export::Entity::find_by_id(key.clone())
            .one(self.db())
            .await?
        else {
            let inserted = feed_export::ActiveModel {
                tenant_id: Set(key.0),
                feed_date: Set(key.1),
                state: Set(FeedExportState::Running),
                run_id: Set(run_id.into()),
                heartbeat_at: Set(now),
                published_run: Set(None),
                files: Set("[]".into()),
                rows: Set(0),
                completed_at: Set(None),
            }
            .insert(self.db())
            .await;
            return match inserted {
                Ok(_) => Ok(Some(claim)),
                Err(e) if is_unique_violation(&e) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let busy =
            existing.state == FeedExportState::Running && existing.heartbeat_at >= stale_before;
        if !force && (existing.state == FeedExportState::Complete || busy) {
            return Ok(None);
        }
        // Only from the state just read: of two racing claimants exactly one wins.
        let taken = feed_export::Entity::update_many()
            .col_expr(
                feed_export::Column::State,
                Expr::value(FeedExportState::Running),
            )
            .col_expr(feed_export::Column::RunId, Expr::value(run_id))
            .col_expr(feed_export::Column::HeartbeatAt, Expr::value(now))
            .filter(this_day(tenant, date))
            .filter(feed_export::Column::RunId.eq(existing.run_id))
            .exec(self.db())
            .await?;
        Ok((taken.rows_affected == 1).then_some(claim))
    }

    /// Renews the claim; `false` when another run has taken it over.
    pub async fn renew_export_claim(&self, claim: &ExportClaim) -> Result<bool, sea_orm::DbErr> {
        let renewed = feed_export::Entity::update_many()
            .col_expr(feed_export::Column::HeartbeatAt, Expr::value(Utc::now()))
            .filter(held_by(claim))
            .exec(self.db())
            .await?;
        Ok(renewed.rows_affected == 1)
    }

    /// Serves `files` from now on (replacing the previous run's), if the claim is still
    /// held. Returns the run whose files were served before, or `Err` when the claim was
    /// lost.
    pub async fn complete_export(
        &self,
        claim: &ExportClaim,
        files: &[PublishedFile],
    ) -> Result<Result<Option<String>, ClaimLost>, sea_orm::DbErr> {
        let txn = self.begin_write().await?;
        let previous =
            feed_export::Entity::find_by_id((claim.tenant_id.0.clone(), date_key(claim.date)))
                .one(&txn)
                .await?
                .and_then(|row| row.published_run);
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        let done = feed_export::Entity::update_many()
            .col_expr(
                feed_export::Column::State,
                Expr::value(FeedExportState::Complete),
            )
            .col_expr(
                feed_export::Column::PublishedRun,
                Expr::value(&claim.run_id),
            )
            .col_expr(
                feed_export::Column::Files,
                Expr::value(serde_json::to_string(files).unwrap_or_else(|_| "[]".into())),
            )
            .col_expr(
                feed_export::Column::Rows,
                Expr::value(i64::try_from(rows).unwrap_or(i64::MAX)),
            )
            .col_expr(feed_export::Column::CompletedAt, Expr::value(Utc::now()))
            .filter(held_by(claim))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Err(ClaimLost));
        }
        txn.commit().await?;
        Ok(Ok(previous))
    }

    /// The days of `tenant` whose files are served, oldest first.
    pub async fn published_days(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<PublishedDay>, sea_orm::DbErr> {
        Ok(feed_export::Entity::find()
            .filter(feed_export::Column::TenantId.eq(tenant.as_str()))
            .filter(feed_export::Column::PublishedRun.is_not_null())
            .order_by_asc(feed_export::Column::FeedDate)
            .all(self.db())
            .await?
            .into_iter()
            .filter_map(published_day)
            .collect())
    }

    /// One served day of `tenant`.
    pub async fn published_day(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Option<PublishedDay>, sea_orm::DbErr> {
        Ok(
            feed_export::Entity::find_by_id((tenant.0.clone(), date_key(date)))
                .one(self.db())
                .await?
                .and_then(published_day),
        )
    }

    /// The tenants whose export of `date` is complete.
    pub async fn exported_tenants(&self, date: NaiveDate) -> Result<Vec<TenantId>, sea_orm::DbErr> {
        Ok(feed_export::Entity::find()
            .filter(feed_export::Column::FeedDate.eq(date_key(date)))
            .filter(feed_export::Column::State.eq(FeedExportState::Complete))
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| TenantId(row.tenant_id))
            .collect())
    }

    /// Every export record of a day before `date`: (tenant, day), for the feed purge.
    pub async fn exports_before(
        &self,
        date: NaiveDate,
        limit: u64,
    ) -> Result<Vec<(TenantId, NaiveDate)>, sea_orm::DbErr> {
        Ok(feed_export::Entity::find()
            .filter(feed_export::Column::FeedDate.lt(date_key(date)))
            .order_by_asc(feed_export::Column::FeedDate)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .filter_map(|row| {
                let day = NaiveDate::parse_from_str(&row.feed_date, "%Y-%m-%d").ok()?;
                Some((TenantId(row.tenant_id), day))
            })
            .collect())
    }

    /// Forgets one day's export (after its files were deleted).
    pub async fn delete_export(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<(), sea_orm::DbErr> {
        feed_export::Entity::delete_many()
            .filter(this_day(tenant, date))
            .exec(self.db())
            .await
            .map(|_| ())
    }
}

/// Another run took the claim over; this run's files must not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another run took over this export")]
pub struct ClaimLost;

fn this_day(tenant: &TenantId, date: NaiveDate) -> Condition {
    feed_export::Column::TenantId
        .eq(tenant.as_str())
        .and(feed_export::Column::FeedDate.eq(date_key(date)))
        .into_condition()
}

fn held_by(claim: &ExportClaim) -> Condition {
    this_day(&claim.tenant_id, claim.date).add(feed_export::Column::RunId.eq(&claim.run_id))
}
