//! One tenant's day exported: claim the day, stream its utterances from the database
//! in batches into hourly gzip files on a blocking thread, store the files under a key
//! of their own run, then switch the served set to them in one UPDATE and delete the
//! previous run's files. A crash at any point leaves the previous set served and an
//! unfinished run that the next run cleans up, so a day is never half-exported, skipped
//! or doubled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;

use super::feed::{DayWriter, StagedFile};
use super::storage::FeedStorage;
use crate::ids::TenantId;
use crate::metrics::ExportMetrics;
use crate::store::Store;
use crate::store::feed::{ClaimLost, ContactIds, ExportClaim, FeedCursor, FeedRow, PublishedFile};

/// Rows read per query.
const BATCH_ROWS: u64 = 5000;
/// How often a run renews its claim.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A claim not renewed for this long belongs to a run that died; the day is taken over.
pub const CLAIM_STALE: Duration = Duration::from_secs(60);

/// Why an export did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("feed storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error(transparent)]
    Lost(#[from] ClaimLost),
    #[error("the file writer stopped: {0}")]
    Writer(String),
}

/// What one run exported.
#[derive(Debug, Clone)]
pub struct DayExport {
    pub tenant_id: TenantId,
    pub date: NaiveDate,
    pub files: Vec<PublishedFile>,
    pub rows: u64,
    pub elapsed: Duration,
}

/// Exports days; shared by the scheduler, the CLI and tests.
#[derive(Clone)]
pub struct Exporter {
    store: Store,
    storage: Arc<dyn FeedStorage>,
    staging: PathBuf,
    metrics: ExportMetrics,
}

/// A run's staging directory, removed when the run ends however it ends (an aborted
/// task drops it too).
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The storage key of a run's directory for a day.
pub fn run_prefix(tenant: &TenantId, date: NaiveDate, run: &str) -> String {
    format!("{}/{run}", day_prefix(tenant, date))
}

/// The storage key of a tenant's day.
pub fn day_prefix(tenant: &TenantId, date: NaiveDate) -> String {
    format!("{tenant}/{}", date.format("%Y-%m-%d"))
}

/// `[00:00, 24:00)` of `date`, UTC.
pub fn day_bounds(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = date.and_time(chrono::NaiveTime::MIN).and_utc();
    (start, start + chrono::Duration::days(1))
}

impl Exporter {
    pub fn new(
        store: Store,
        storage: Arc<dyn FeedStorage>,
        staging: PathBuf,
        metrics: ExportMetrics,
    ) -> Exporter {
        Exporter {
            store,
            storage,
            staging,
            metrics,
        }
    }

    pub fn storage(&self) -> &Arc<dyn FeedStorage> {
        &self.storage
    }

    /// Exports `date` for `tenant`. Without `force`, a day already exported (or being
    /// exported by a live run) is skipped and `None` returned; with it the day is
    /// exported again and its files replaced.
    pub async fn export_day(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        force: bool,
    ) -> Result<Option<DayExport>, ExportError> {
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        let stale_before = Utc::now() - chrono::Duration::from_std(CLAIM_STALE).unwrap_or_default();
        let Some(claim) = self
            .store
            .claim_export(tenant, date, &run_id, force, stale_before)
            .await?
        else {
            return Ok(None);
        };
        let started = Instant::now();
        let staging = StagingDir(self.staging.join(&run_id));
        let outcome = match self.run(&claim, &staging.0).await {
            Ok(files) => self.publish(&claim, files).await,
            Err(e) => Err(e),
        };
        drop(staging);
        let result = outcome.map(|files| DayExport {
            tenant_id: tenant.clone(),
            date,
            rows: files.iter().map(|f| f.rows).sum(),
            files,
            elapsed: started.elapsed(),
        });
        match &result {
            Ok(done) => {
                self.metrics.runs.with_label_values(&["complete"]).inc();
                self.metrics.rows.inc_by(done.rows);
                tracing::info!(tenant = %tenant, %date, rows = done.rows, files = done.files.len(), ms = done.elapsed.as_millis() as u64, "feed exported");
            }
            Err(e) => {
                self.metrics.runs.with_label_values(&["failed"]).inc();
                tracing::error!(tenant = %tenant, %date, error = %e, "feed export failed");
            }
        }
        result.map(Some)
    }

    /// Reads the day's rows and writes the staged files.
    async fn run(
        &self,
        claim: &ExportClaim,
        staging: &std::path::Path,
    ) -> Result<Vec<StagedFile>, ExportError> {
        let (from, to) = day_bounds(claim.date);
        // Two batches in flight: the database read of the next overlaps the compression
        // of this one, and memory stays at a few batches whatever the day's size.
        let (tx, mut rx) = mpsc::channel::<Vec<FeedRow>>(2);
        let mut writer = DayWriter::new(staging, claim.date)?;
        let writing = tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                for row in &batch {
                    writer.write(row)?;
                }
            }
            writer.finish()
        });
        let reading = async {
            let mut cursor: Option<FeedCursor> = None;
            let mut contacts = ContactIds::default();
            let mut renewed = Instant::now();
            loop {
                let batch = self
                    .store
                    .feed_rows(
                        &claim.tenant_id,
                        from,
                        to,
                        cursor.as_ref(),
                        BATCH_ROWS,
                        &mut contacts,
                    )
                    .await?;
                let Some(last) = batch.last() else {
                    return Ok(());
                };
                cursor = Some(FeedCursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                });
                let full = batch.len() as u64 == BATCH_ROWS;
                if tx.send(batch).await.is_err() {
                    return Ok(()); // the writer failed; its error is reported below
                }
                if renewed.elapsed() >= HEARTBEAT {
                    if !self.store.renew_export_claim(claim).await? {
                        return Err(ExportError::Lost(ClaimLost));
                    }
                    renewed = Instant::now();
                }
                if !full {
                    return Ok(());
                }
            }
        };
        let read: Result<(), ExportError> = reading.await;
        drop(tx);
        let written = writing
            .await
            .map_err(|e| ExportError::Writer(e.to_string()))?;
        read?;
        Ok(written?)
    }

    /// Stores the staged files under the run's key, makes them the served set, and
    /// deletes every other run of the day (the previous set, and any crashed run's).
    async fn publish(
        &self,
        claim: &ExportClaim,
        staged: Vec<StagedFile>,
    ) -> Result<Vec<PublishedFile>, ExportError> {
        let prefix = run_prefix(&claim.tenant_id, claim.date, &claim.run_id);
        for file in &staged {
            self.storage
                .put(&file.path, &format!("{prefix}/{}", file.file.name))
                .await?;
            // Uploads to a remote store can take a while: keep the claim alive.
            if !self.store.renew_export_claim(claim).await? {
                self.storage.delete_prefix(&prefix).await?;
                return Err(ClaimLost.into());
            }
        }
        let files: Vec<PublishedFile> = staged.into_iter().map(|s| s.file).collect();
        if let Err(lost) = self.store.complete_export(claim, &files).await? {
            self.storage.delete_prefix(&prefix).await?;
            return Err(lost.into());
        }
        self.delete_other_runs(&claim.tenant_id, claim.date, &claim.run_id)
            .await?;
        Ok(files)
    }

    async fn delete_other_runs(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        keep: &str,
    ) -> Result<(), ExportError> {
        let day = day_prefix(tenant, date);
        for run in self.storage.list(&day).await? {
            if run != keep {
                self.storage.delete_prefix(&format!("{day}/{run}")).await?;
            }
        }
        Ok(())
    }

    /// Deletes staging directories left by runs that died more than `age` ago (a run
    /// that is cancelled cleans up after itself; a killed process cannot).
    pub async fn clean_staging(&self, age: Duration) -> std::io::Result<()> {
        let mut entries = match tokio::fs::read_dir(&self.staging).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            let modified = entry.metadata().await?.modified()?;
            if modified.elapsed().unwrap_or_default() > age {
                tokio::fs::remove_dir_all(entry.path()).await?;
            }
        }
        Ok(())
    }

    /// Deletes a day's files and its record (feed retention).
    pub async fn forget_day(&self, tenant: &TenantId, date: NaiveDate) -> Result<(), ExportError> {
        self.storage
            .delete_prefix(&day_prefix(tenant, date))
            .await?;
        self.store.delete_export(tenant, date).await?;
        Ok(())
    }
}
