//! The daily work of a running service: export every day that is due and not yet
//! exported (catching up after downtime), then purge what is past retention. Messages
//! are never purged before their day is exported, whatever the retention says.

use std::ops::RangeInclusive;
use std::time::Duration;

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::job::{ExportError, Exporter, day_bounds};
use crate::config::{ExportConfig, RetentionConfig};
use crate::metrics::ExportMetrics;
use crate::service::transcript_cache::TranscriptCache;
use crate::store::Store;

/// What the daily work needs: built once at start-up from the app's parts.
#[derive(Clone)]
pub struct Maintenance {
    pub store: Store,
    pub exporter: Exporter,
    /// Cleared when a purge removed messages, so no removed message is served again.
    pub transcripts: Arc<TranscriptCache>,
    pub metrics: ExportMetrics,
    pub export: ExportConfig,
    pub retention: RetentionConfig,
    /// Cancelled when shutdown begins: a purge stops between batches.
    pub shutdown: CancellationToken,
}

impl Maintenance {
    fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// The last day whose export is due at `now`: yesterday once `daily_at` has passed
/// today, else the day before.
pub fn last_due_day(now: DateTime<Utc>, daily_at: chrono::NaiveTime) -> NaiveDate {
    let today = now.date_naive();
    let back = if now.time() >= daily_at { 1 } else { 2 };
    today - Days::new(back)
}

/// The next time the daily export runs after `now`.
pub fn next_daily_run(now: DateTime<Utc>, daily_at: chrono::NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(daily_at).and_utc();
    if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

/// The days the export looks at: from the oldest stored utterance (but no further back
/// than feed retention keeps files) to the last due day.
async fn export_window(
    work: &Maintenance,
    now: DateTime<Utc>,
) -> Result<RangeInclusive<NaiveDate>, sea_orm::DbErr> {
    let last = last_due_day(now, work.export.daily_at.0);
    let floor = now.date_naive() - Days::new(u64::from(work.retention.feed_days));
    let first = match work.store.oldest_message_at().await? {
        Some(oldest) => oldest.date_naive().max(floor),
        None => last + Days::new(1),
    };
    Ok(first..=last)
}

/// What one pass of the export did.
#[derive(Debug, Default, Clone)]
pub struct ExportPass {
    pub exported: Vec<super::job::DayExport>,
    /// `tenant date: error` of each export that failed (retried on the next pass).
    pub failed: Vec<String>,
}

/// Exports every (tenant, day) in the window that is not exported yet.
pub async fn export_due(work: &Maintenance, now: DateTime<Utc>) -> Result<ExportPass, ExportError> {
    let window = export_window(work, now).await?;
    let tenants = work.store.list_tenants().await?;
    let mut pass = ExportPass::default();
    for day in window.start().iter_days().take_while(|d| d <= window.end()) {
        let done = work.store.exported_tenants(day).await?;
        for tenant in &tenants {
            let id = crate::ids::TenantId(tenant.id.clone());
            if done.contains(&id) {
                continue;
            }
            match work.exporter.export_day(&id, day, false).await {
                Ok(Some(export)) => pass.exported.push(export),
                Ok(None) => {}
                Err(e) => pass.failed.push(format!("{id} {day}: {e}")),
            }
        }
    }
    Ok(pass)
}

/// The first day in the window that some tenant has not exported: messages from it on
/// must stay.
async fn first_unexported_day(
    work: &Maintenance,
    now: DateTime<Utc>,
) -> Result<NaiveDate, sea_orm::DbErr> {
    let window = export_window(work, now).await?;
    let tenants = work.store.list_tenants().await?.len();
    for day in window.start().iter_days().take_while(|d| d <= window.end()) {
        if work.store.exported_tenants(day).await?.len() < tenants {
            return Ok(day);
        }
    }
    Ok(*window.end() + Days::new(1))
}

/// What one purge removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub deliveries: u64,
    pub conversations: u64,
    pub feed_days: u64,
    pub audit: u64,
}

/// A staging directory this old belongs to a process that died.
const STAGING_MAX_AGE: Duration = Duration::from_secs(3600);

/// Pause between purge batches, so API writers get the database in between.
const BATCH_PAUSE: Duration = Duration::from_millis(10);

/// Purges what is past retention at `now`, in batches; stops early on shutdown.
pub async fn purge(work: &Maintenance, now: DateTime<Utc>) -> Result<Purged, ExportError> {
    let retention = &work.retention;
    let batch = retention.batch_rows.max(1);
    let kept_from = now - chrono::Duration::days(i64::from(retention.messages_days));
    let unexported = day_bounds(first_unexported_day(work, now).await?).0;
    let message_cutoff = kept_from.min(unexported);
    let audit_cutoff = now - chrono::Duration::days(i64::from(retention.audit_days));
    let store = &work.store;
    let mut purged = Purged {
        messages: in_batches(work, batch, || store.purge_messages(message_cutoff, batch)).await?,
        deliveries: in_batches(work, batch, || store.purge_deliveries(kept_from, batch)).await?,
        conversations: in_batches(work, batch, || {
            store.purge_conversations(message_cutoff, batch)
        })
        .await?,
        feed_days: 0,
        audit: in_batches(work, batch, || store.purge_audit(audit_cutoff, batch)).await?,
    };
    let feed_floor = now.date_naive() - Days::new(u64::from(retention.feed_days));
    loop {
        let old = store.exports_before(feed_floor, batch).await?;
        if old.is_empty() || work.is_draining() {
            break;
        }
        for (tenant, day) in old {
            work.exporter.forget_day(&tenant, day).await?;
            purged.feed_days += 1;
        }
    }
    work.exporter.clean_staging(STAGING_MAX_AGE).await?;
    if purged.messages + purged.conversations > 0 {
        work.transcripts.clear();
    }
    let counter = &work.metrics.purged;
    counter
        .with_label_values(&["messages"])
        .inc_by(purged.messages);
    counter
        .with_label_values(&["deliveries"])
        .inc_by(purged.deliveries);
    counter
        .with_label_values(&["conversations"])
        .inc_by(purged.conversations);
    counter
        .with_label_values(&["feed_days"])
        .inc_by(purged.feed_days);
    counter.with_label_values(&["audit"]).inc_by(purged.audit);
    Ok(purged)
}

/// Runs `delete` until it deletes less than a full batch; returns the total.
async fn in_batches<F, Fut>(
    work: &Maintenance,
    batch: u64,
    mut delete: F,
) -> Result<u64, ExportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, sea_orm::DbErr>>,
{
    let mut total = 0;
    loop {
        let n = delete().await?;
        total += n;
        if n < batch || work.is_draining() {
            return Ok(total);
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
}

/// The service's maintenance task: on start and daily at `export.daily_at`, export what
/// is due; every `retention.purge_interval_seconds` (and after each export), purge.
/// Ends when shutdown begins; an export cut short is finished by the next pass.
pub async fn run(work: Maintenance) {
    let daily_at = work.export.daily_at.0;
    let interval = Duration::from_secs(work.retention.purge_interval_seconds.max(1));
    let mut next_export = Utc::now();
    let mut next_purge = Utc::now();
    loop {
        let now = Utc::now();
        let pass = async {
            if now >= next_export {
                if let Err(e) = export_due(&work, now).await {
                    tracing::error!(error = %e, "daily export pass failed");
                }
                next_export = next_daily_run(now, daily_at);
                next_purge = now;
            }
            if now >= next_purge {
                match purge(&work, now).await {
                    Ok(p) => tracing::info!(?p, "retention purge done"),
                    Err(e) => tracing::error!(error = %e, "retention purge failed"),
                }
                next_purge = now + interval;
            }
        };
        tokio::select! {
            _ = pass => {}
            _ = work.shutdown.cancelled() => return,
        }
        // Wake at least every 5 minutes, so a changed wall clock is noticed.
        let wake = next_export.min(next_purge);
        let nap = (wake - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(Duration::from_secs(300));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = work.shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    #[test]
    fn a_day_is_due_once_daily_at_has_passed() {
        let two = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(last_due_day(at(1, 59), two), day(22));
        assert_eq!(last_due_day(at(2, 0), two), day(23));
        assert_eq!(next_daily_run(at(1, 59), two), at(2, 0));
        assert_eq!(
            next_daily_run(at(2, 0), two),
            Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap()
        );
    }
}
