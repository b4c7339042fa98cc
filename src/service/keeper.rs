//! The lease keeper: this replica's side of scale-out, as two loops. Renewals (every
//! `min(cluster.tick_ms, cluster.lease_seconds / 3)`) extend every lease the replica
//! holds, end the sessions whose lease another replica took, and finish conversations
//! stopped through other replicas. Rounds (every `cluster.tick_ms`) record how far each
//! track is committed and, below `cluster.max_conversations`, claim expired leases (a
//! crashed replica's, or handed back at shutdown) and resume those calls where their
//! tracks were committed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiError;
use crate::ids::{ConversationId, Role, TenantId};
use crate::kvs::reader::{Selector, is_after};
use crate::service::calls::{by_role, finish_stopped, session_plan};
use crate::state::{AppState, SharedState};
use crate::store::leases::{Claimed, LeaseToken};

/// Conversations whose stop this replica is finishing (so a round does not start a
/// second finish while the first waits for the session's last decodes).
#[derive(Clone, Default)]
pub struct Finishing(Arc<Mutex<HashSet<ConversationId>>>);

impl Finishing {
    fn begin(&self, id: &ConversationId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone())
    }

    fn end(&self, id: &ConversationId) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }
}

/// Runs until shutdown begins (shutdown then hands the sessions back): renewals on
/// their own loop, so a slow round of claims never lets this replica's leases expire.
pub async fn run(state: SharedState) {
    let finishing = Finishing::default();
    let every = Duration::from_millis(state.config.cluster.tick_ms.max(50));
    let renew_every = every.min(Duration::from_secs(state.config.cluster.lease_seconds.max(1)) / 3);
    let renewals = repeat(&state, renew_every, || renew(&state, &finishing));
    let rounds = repeat(&state, every, || round(&state));
    tokio::join!(renewals, rounds);
}

/// Calls `step` every `every` until shutdown, logging its failures.
async fn repeat<F>(state: &SharedState, every: Duration, mut step: impl FnMut() -> F)
where
    F: std::future::Future<Output = Result<(), ApiError>>,
{
    loop {
        if let Err(e) = step().await {
            tracing::warn!(error = %e.message, "lease keeping failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}

/// Extends this replica's leases, ends the sessions whose lease another replica took,
/// and finishes conversations stopped through other replicas.
pub async fn renew(state: &SharedState, finishing: &Finishing) -> Result<(), ApiError> {
    // Listed before renewing: a session started meanwhile is not taken for a lost one.
    let here = state.sessions.conversations();
    let owned = state.store.renew_leases(&state.holder).await?;
    let ours: HashSet<&(ConversationId, LeaseToken)> = owned.conversations.iter().collect();
    for held in here.iter().filter(|held| !ours.contains(held)) {
        state.sessions.abandon(&held.0);
    }
    for id in owned.stopped {
        if finishing.begin(&id) {
            let (state, finishing) = (state.clone(), finishing.clone());
            tokio::spawn(async move {
                if let Err(e) = finish_remote_stop(&state, &id).await {
                    tracing::error!(conversation = %id, error = %e.message, "cannot finish a stopped conversation");
                }
                finishing.end(&id);
            });
        }
    }
    Ok(())
}

/// At most this many conversations are taken over per round, so a round stays short
/// and a crashed replica's calls spread over the survivors.
const CLAIMS_PER_ROUND: usize = 5;

/// Records how far each track is committed and, below the limit, claims expired
/// leases and resumes their calls.
pub async fn round(state: &SharedState) -> Result<(), ApiError> {
    for (id, lease, point) in state.sessions.unwritten_positions() {
        if !state.store.record_positions(&id, &lease, &point).await? {
            state.sessions.abandon(&id);
        }
    }
    state.sessions.prune_finished();
    if state.is_draining() {
        return Ok(());
    }
    let room = state
        .max_conversations()
        .saturating_sub(state.sessions.active())
        .min(CLAIMS_PER_ROUND);
    for claimed in state
        .store
        .claim_expired(&state.holder, room as u64)
        .await?
    {
        let id = claimed.conversation.clone();
        let token = claimed.token.clone();
        if let Err(e) = take_over(state, claimed).await {
            tracing::error!(conversation = %id, error = %e.message, "cannot resume a claimed conversation; handing it back");
            state.store.release_lease(&id, &token).await?;
        }
    }
    Ok(())
}

/// A stop made through another replica reached us, the owner.
async fn finish_remote_stop(state: &AppState, id: &ConversationId) -> Result<(), ApiError> {
    match state.store.conversation(id).await? {
        Some(conversation) => finish_stopped(state, &conversation).await,
        None => Ok(()),
    }
}

/// Resumes a claimed conversation: each track from its committed position, skipping
/// what its speaker already said.
async fn take_over(state: &AppState, claimed: Claimed) -> Result<(), ApiError> {
    let id = &claimed.conversation;
    let Some(conversation) = state.store.conversation(id).await? else {
        return Ok(state.store.end_lease(id, None).await?);
    };
    let tenant = state
        .store
        .tenant(&TenantId(conversation.tenant_id.clone()))
        .await?
        .ok_or_else(|| ApiError::internal("the conversation's tenant is gone"))?;
    let streams = state.store.latest_streams(&conversation).await?;
    let (customer, agent) = by_role(&streams, false)?;
    let lease = claimed.token.clone();
    let mut plan = session_plan(state, &tenant, &conversation, (&customer, &agent), lease).await?;
    for role in Role::BOTH {
        let participant = plan.participant_mut(role);
        let (stored, said_until_ms) = state
            .store
            .stream_messages(id, &participant.stream_id)
            .await?;
        participant.resume = claimed.resume.of(role).cloned();
        participant.stored = stored;
        participant.said_until_ms = said_until_ms;
    }
    let positions = [&plan.customer.resume, &plan.agent.resume];
    plan.reader.skip_through = positions.map(|p| p.as_ref().map(|p| p.fragment.clone()));
    match positions {
        [Some(c), Some(a)] => {
            let earliest = if is_after(&a.fragment, &c.fragment) {
                c
            } else {
                a
            };
            plan.reader.resume_after = Some((
                earliest.fragment.clone(),
                earliest.continuation_token.clone(),
            ));
        }
        // A track without a committed position starts over from the start's selector;
        // "now" means when the conversation started, not now.
        _ if plan.reader.selector == Selector::Now => {
            let started = streams.first().map(|s| s.started_at.timestamp_millis());
            plan.reader.selector = Selector::ServerTimestamp {
                epoch_ms: started.unwrap_or_default(),
            };
        }
        _ => {}
    }
    tracing::info!(conversation = %id, customer = ?plan.customer.resume, agent = ?plan.agent.resume, "resuming a conversation another replica held");
    state.sessions.spawn(state.session_deps(), plan);
    Ok(())
}
