//! The sessions running in this process, by conversation, and how each is told to end:
//! stop-streaming (flush and report), shutdown (hand the lease back) or a lost lease
//! (stop without writing).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ids::ConversationId;
use crate::metrics::ActiveConversation;
use crate::service::checkpoint::Checkpoints;
use crate::service::control::{Ending, STOP_WAIT, SessionControl};
use crate::service::events::{ConversationEvent, ConversationEvents};
use crate::service::session::{SessionDeps, SessionPlan, SessionResult, run};
use crate::store::leases::{LeaseToken, ResumePoint};

struct Running {
    lease: LeaseToken,
    control: Arc<SessionControl>,
    checkpoints: Arc<Checkpoints>,
    events: ConversationEvents,
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
        let events = ConversationEvents::default();
        // Counted from now until the task ends, however it ends.
        let active = ActiveConversation::new(&deps.metrics.active);
        let session = run(
            deps,
            plan,
            control.clone(),
            checkpoints.clone(),
            events.clone(),
        );
        let task = tokio::spawn(async move {
            let _active = active;
            session.await
        });
        let running = Running {
            lease,
            control,
            checkpoints,
            events,
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

    /// The live events of a conversation read here, from now on; `None` when no session
    /// reads it in this process.
    pub fn subscribe(
        &self,
        conversation: &ConversationId,
    ) -> Option<tokio::sync::broadcast::Receiver<ConversationEvent>> {
        lock(&self.running)
            .get(conversation)
            .filter(|r| !r.task.is_finished())
            .map(|r| r.events.subscribe())
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

    /// The lease `lease` is someone else's now: end the session reading under it without
    /// writing. A session under a newer lease of this replica (a claim made since the
    /// caller looked) is left alone.
    pub fn abandon(&self, conversation: &ConversationId, lease: &LeaseToken) {
        let mut running = lock(&self.running);
        let finished_or_newer =
            |r: &Running| r.control.ending() == Some(Ending::Finished) || r.lease != *lease;
        if running.get(conversation).is_some_and(finished_or_newer) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::endpoint::EndpointSettings;
    use crate::ids::{PerRole, StreamId};
    use crate::kvs::client::{KvsTarget, sdk_config};
    use crate::kvs::reader::{ReaderSettings, Selector};
    use crate::redact::Redaction;
    use crate::service::session::Participant;
    use crate::service::testing::{STREAM_ARN, Started, started_conversation};
    use crate::transcribe::language::Route;

    /// A session of the started conversation whose KVS refuses every connection: its
    /// reader keeps retrying until the session is told to end.
    async fn unreachable_session(started: &Started) -> (SessionDeps, SessionPlan) {
        let target = KvsTarget {
            region: "us-east-1".into(),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            role_arn: None,
            external_id: None,
            session_name: "test".into(),
        };
        let sdk = sdk_config(&target).await;
        let mut reader = ReaderSettings::new(STREAM_ARN.into(), Selector::Now);
        reader.max_attempts = u32::MAX;
        reader.backoff = Duration::from_millis(20);
        let plan = SessionPlan {
            conversation: ConversationId(started.conversation.id.clone()),
            tenant_id: started.tenant.clone(),
            external_id: "guid-1".into(),
            participants: PerRole::from_fn(|role| {
                Participant::new(StreamId(started.stream(role).id.clone()), "x".into())
            }),
            detailed_token: false,
            redaction: Redaction::from_settings(Default::default(), &[], "en"),
            route: Route::DEFAULT,
            target,
            sdk,
            reader,
            lease: started.lease.clone(),
        };
        let deps = SessionDeps {
            store: started.store.clone(),
            transcribing: None,
            endpointing: EndpointSettings::default(),
            metrics: crate::metrics::Metrics::new().sessions,
        };
        (deps, plan)
    }

    #[tokio::test]
    async fn a_stopped_session_hands_over_its_figures_once_and_leaves_the_registry() {
        let started = started_conversation().await;
        let id = ConversationId(started.conversation.id.clone());
        let sessions = Sessions::default();
        let (deps, plan) = unreachable_session(&started).await;
        let gauge = deps.metrics.active.clone();
        sessions.spawn(deps, plan);
        assert_eq!(sessions.active(), 1);
        assert_eq!(gauge.get(), 1, "counted from its start");
        assert!(sessions.is_here(&id));
        assert_eq!(
            sessions.conversations(),
            [(id.clone(), started.lease.clone())]
        );

        let result = sessions.stop(&id).await.expect("the session's figures");
        assert!(result.customer.status.is_ok() && result.agent.status.is_ok());
        assert_eq!(result.customer.total_audio_bytes, 0);
        assert!(!sessions.is_here(&id) && !sessions.is_stopping(&id));
        assert_eq!(sessions.active(), 0);
        assert_eq!(gauge.get(), 0, "no longer counted once stopped");
        assert!(
            sessions.stop(&id).await.is_none(),
            "a second stop finds nothing"
        );
    }

    #[tokio::test]
    async fn a_lost_lease_ends_the_session_without_writing_and_shutdown_hands_a_lease_back() {
        let started = started_conversation().await;
        let id = ConversationId(started.conversation.id.clone());
        let sessions = Sessions::default();
        let (deps, plan) = unreachable_session(&started).await;
        let gauge = deps.metrics.active.clone();
        sessions.spawn(deps, plan);
        let newer = LeaseToken("a-later-claim".into());
        sessions.abandon(&id, &newer);
        assert!(sessions.is_here(&id), "a session under another lease stays");
        sessions.abandon(&id, &started.lease);
        assert!(!sessions.is_here(&id));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(gauge.get(), 0, "a lost session is no longer counted");
        let lease = started.store.lease(&id).await.unwrap().expect("untouched");
        assert_eq!(
            lease.owner.as_deref(),
            Some("replica-a"),
            "a lost session writes nothing"
        );

        let (deps, plan) = unreachable_session(&started).await;
        let gauge = deps.metrics.active.clone();
        sessions.spawn(deps, plan);
        assert_eq!(gauge.get(), 1);
        sessions.hand_back_all(Duration::from_secs(5)).await;
        assert_eq!(sessions.active(), 0);
        assert_eq!(gauge.get(), 0, "a session handed back is no longer counted");
        let lease = started.store.lease(&id).await.unwrap().expect("lease row");
        assert_eq!(
            lease.owner, None,
            "handed back for another replica to claim"
        );
    }
}
