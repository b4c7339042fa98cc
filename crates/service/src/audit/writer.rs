//! The audit log's writer: records arrive on a bounded channel and one task inserts them
//! in batches, so an audited request never waits for the database. At shutdown the
//! writer drains what is queued before the store closes.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{AuditHasher, Entry};
use crate::secrets::Sealer;
use crate::store::Store;

/// Records waiting for the database before new ones only reach the log output.
const BACKLOG: usize = 10_000;
/// Rows per INSERT.
const BATCH: usize = 500;

/// Handle to the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Entry>,
    hasher: AuditHasher,
    closing: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl AuditLog {
    /// Starts the writer task.
    pub fn start(store: Store, sealer: &Sealer) -> AuditLog {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let closing = CancellationToken::new();
        let task = tokio::spawn(write(store, rx, closing.clone()));
        AuditLog {
            inner: Arc::new(Inner {
                tx,
                hasher: AuditHasher::new(sealer),
                closing,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    pub fn hasher(&self) -> &AuditHasher {
        &self.inner.hasher
    }

    /// Emits the record as a log event and queues it for the database. Never waits: if
    /// the writer is far behind, the record survives in the log output only.
    pub fn record(&self, entry: Entry) {
        entry.emit();
        if self.inner.tx.try_send(entry).is_err() {
            tracing::error!(target: "audit", "audit backlog full: a record was not stored");
        }
    }

    /// Writes what is queued and stops the writer (at shutdown, before the store closes).
    pub async fn close(&self) {
        self.inner.closing.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn write(store: Store, mut rx: mpsc::Receiver<Entry>, closing: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Some(entry) => batch.push(entry),
                None => break,
            },
            _ = closing.cancelled() => {
                rx.close();
                while let Some(entry) = rx.recv().await {
                    batch.push(entry);
                    if batch.len() >= BATCH {
                        insert(&store, &mut batch).await;
                    }
                }
                break;
            }
        }
        while batch.len() < BATCH
            && let Ok(entry) = rx.try_recv()
        {
            batch.push(entry);
        }
        insert(&store, &mut batch).await;
    }
    insert(&store, &mut batch).await;
}

async fn insert(store: &Store, batch: &mut Vec<Entry>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.record_audit(batch).await {
        tracing::error!(target: "audit", error = %e, rows = batch.len(), "cannot write the audit log");
    }
    batch.clear();
}
