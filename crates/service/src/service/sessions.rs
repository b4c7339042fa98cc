//! The sessions running in this process, by conversation, and how each is told to end:
//! stop-streaming (flush and report), shutdown (hand the lease back) or a lost lease
//! (stop without writing).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ids::ConversationId;
use crate::service::checkpoint::Checkpoints;
use crate::service::control::{Ending, STOP_WAIT, SessionControl};
use crate::service::session::{SessionDeps, SessionPlan, SessionResult, run};
use crate::store::leases::{LeaseToken, ResumePoint};

struct Running {
    lease: LeaseToken,
    control: Arc<SessionControl>,
    checkpoints: Arc<Checkpoints>,
    task: JoinHandle<SessionResult>,
}

/// The sessions running in this process, by conversation.
#[derive(Default)]
pub struct Sessions {
    running: Mutex<HashMap<ConversationId, Running>>,
    /// Being stopped right now (their summaries are on the way).
    stopping: Mutex<HashSet<ConversationId>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    /// Starts reading in the background.
    pub fn spawn(&self, deps: SessionDeps, plan: SessionPlan) {
        let control = Arc::new(SessionControl::default());
        let checkpoints = Arc::new(Checkpoints::new(&plan.resume_point()));
        let conversation = plan.conversation.clone();
        let lease = plan.lease.clone();
        let task = tokio::spawn(run(deps, plan, control.clone(), checkpoints.clone()));
        let running = Running {
            lease,
            control,
            checkpoints,
            task,
        };
        if let Some(previous) = lock(&self.running).insert(conversation, running) {
            previous.control.end(Ending::Lost);
        }
    }

    /// Sessions still reading (those that ended by themselves do not count).
    pub fn active(&self) -> usize {
        lock(&self.running)
            .values()
            .filter(|r| !r.task.is_finished())
            .count()
    }

    /// Whether this process reads the conversation or is finishing its stop.
    pub fn is_here(&self, conversation: &ConversationId) -> bool {
        let running = lock(&self.running);
        running.contains_key(conversation) || lock(&self.stopping).contains(conversation)
    }

    pub fn is_stopping(&self, conversation: &ConversationId) -> bool {
        lock(&self.stopping).contains(conversation)
    }

    /// Stops the conversation's session and returns its measurements; `None` when no
    /// session runs here (it ended by itself, or runs on another replica).
    pub async fn stop(&self, conversation: &ConversationId) -> Option<SessionResult> {
        let running = {
            let mut running = lock(&self.running);
            let removed = running.remove(conversation)?;
            // Marked while the registry is still locked, so no moment shows it nowhere.
            lock(&self.stopping).insert(conversation.clone());
            removed
        };
        running.control.end(Ending::Stop);
        let result = match tokio::time::timeout(STOP_WAIT, running.task).await {
            Ok(Ok(result)) => Some(result),
            Ok(Err(e)) => {
                tracing::error!(conversation = %conversation, error = %e, "session task failed");
                None
            }
            Err(_) => {
                tracing::error!(conversation = %conversation, "session did not stop in time");
                None
            }
        };
        lock(&self.stopping).remove(conversation);
        result
    }

    /// The lease is someone else's now: end the session without writing.
    pub fn abandon(&self, conversation: &ConversationId) {
        let mut running = lock(&self.running);
        let finished = |r: &Running| r.control.ending() == Some(Ending::Finished);
        if running.get(conversation).is_some_and(finished) {
            return;
        }
        if let Some(running) = running.remove(conversation) {
            tracing::warn!(conversation = %conversation, "lease lost to another replica; reading stops here");
            running.control.end(Ending::Lost);
        }
    }

    /// Forgets sessions that ended by themselves (their figures are recorded).
    pub fn prune_finished(&self) {
        lock(&self.running).retain(|_, r| !r.task.is_finished());
    }

    /// The conversations read here, with the lease each is read under.
    pub fn conversations(&self) -> Vec<(ConversationId, LeaseToken)> {
        lock(&self.running)
            .iter()
            .map(|(id, r)| (id.clone(), r.lease.clone()))
            .collect()
    }

    /// Positions that moved since they were last written, by conversation and lease.
    pub fn unwritten_positions(&self) -> Vec<(ConversationId, LeaseToken, ResumePoint)> {
        lock(&self.running)
            .iter()
            .filter_map(|(id, r)| {
                let point = r.checkpoints.take_unwritten()?;
                Some((id.clone(), r.lease.clone(), point))
            })
            .collect()
    }

    /// Shutdown: every session finishes the utterances it closed, records where its
    /// tracks resume and hands its lease back; waits at most `within`.
    pub async fn hand_back_all(&self, within: Duration) {
        let running: Vec<Running> = lock(&self.running).drain().map(|(_, r)| r).collect();
        for r in &running {
            r.control.end(Ending::HandBack);
        }
        let all = futures_util::future::join_all(running.into_iter().map(|r| r.task));
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("sessions still finishing when the shutdown grace ran out");
        }
    }
}
