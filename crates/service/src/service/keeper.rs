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

use super::calls::{Calls, by_role};
use super::error::{Doing, ServiceError, ServiceResult};
use crate::ids::{ConversationId, Role, TenantId};
use crate::kvs::reader::{Selector, is_after};
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

/// How often the keeper works.
#[derive(Debug, Clone, Copy)]
pub struct KeeperSettings {
    /// `cluster.tick_ms`: how often positions are recorded and expired leases claimed.
    pub tick: Duration,
    /// `cluster.lease_seconds`: a lease not renewed for this long may be claimed.
    pub lease: Duration,
}

/// Runs until shutdown begins (shutdown then hands the sessions back): renewals on
/// their own loop, so a slow round of claims never lets this replica's leases expire.
pub async fn run(calls: Arc<Calls>, settings: KeeperSettings) {
    let finishing = Finishing::default();
    let every = settings.tick.max(Duration::from_millis(50));
    let renew_every = every.min(settings.lease.max(Duration::from_secs(1)) / 3);
    let renewals = repeat(&calls, renew_every, || renew(&calls, &finishing));
    let rounds = repeat(&calls, every, || round(&calls));
    tokio::join!(renewals, rounds);
}

/// Calls `step` every `every` until shutdown, logging its failures.
async fn repeat<F>(calls: &Calls, every: Duration, mut step: impl FnMut() -> F)
where
    F: std::future::Future<Output = ServiceResult<()>>,
{
    loop {
        if let Err(e) = step().await {
            tracing::warn!(error = %e, "lease keeping failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = calls.shutdown.cancelled() => return,
        }
    }
}

/// Extends this replica's leases, ends the sessions whose lease another replica took,
/// and finishes conversations stopped through other replicas.
pub async fn renew(calls: &Arc<Calls>, finishing: &Finishing) -> ServiceResult<()> {
    // Listed before renewing: a session started meanwhile is not taken for a lost one.
    let here = calls.sessions.conversations();
    let owned = calls
        .store
        .renew_leases(&calls.holder)
        .await
        .doing("renewing the leases")?;
    let ours: HashSet<&(ConversationId, LeaseToken)> = owned.conversations.iter().collect();
    for held in here.iter().filter(|held| !ours.contains(held)) {
        calls.sessions.abandon(&held.0, &held.1);
    }
    for id in owned.stopped {
        if finishing.begin(&id) {
            let (calls, finishing) = (calls.clone(), finishing.clone());
            tokio::spawn(async move {
                if let Err(e) = finish_remote_stop(&calls, &id).await {
                    tracing::error!(conversation = %id, error = %e, "cannot finish a stopped conversation");
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
pub async fn round(calls: &Calls) -> ServiceResult<()> {
    for (id, lease, point) in calls.sessions.unwritten_positions() {
        let recorded = calls
            .store
            .record_positions(&id, &lease, &point)
            .await
            .doing("recording track positions")?;
        if !recorded {
            calls.sessions.abandon(&id, &lease);
        }
    }
    calls.sessions.prune_finished();
    if calls.is_draining() {
        return Ok(());
    }
    let room = calls
        .limit
        .saturating_sub(calls.sessions.active())
        .min(CLAIMS_PER_ROUND);
    let claimed = calls
        .store
        .claim_expired(&calls.holder, room as u64)
        .await
        .doing("claiming expired leases")?;
    for claimed in claimed {
        let id = claimed.conversation.clone();
        let token = claimed.token.clone();
        if let Err(e) = take_over(calls, claimed).await {
            tracing::error!(conversation = %id, error = %e, "cannot resume a claimed conversation; handing it back");
            calls
                .store
                .release_lease(&id, &token)
                .await
                .doing("handing back a lease")?;
        }
    }
    Ok(())
}

/// A stop made through another replica reached us, the owner.
async fn finish_remote_stop(calls: &Calls, id: &ConversationId) -> ServiceResult<()> {
    match calls
        .store
        .conversation(id)
        .await
        .doing("reading a stopped conversation")?
    {
        Some(conversation) => calls.finish_stopped(&conversation).await,
        None => Ok(()),
    }
}

/// Resumes a claimed conversation: each track from its committed position, skipping
/// what its speaker already said.
async fn take_over(calls: &Calls, claimed: Claimed) -> ServiceResult<()> {
    let id = &claimed.conversation;
    let conversation = calls
        .store
        .conversation(id)
        .await
        .doing("reading a claimed conversation")?;
    let Some(conversation) = conversation else {
        return calls
            .store
            .end_lease(id, None)
            .await
            .doing("ending the lease of a conversation that is gone");
    };
    let tenant = calls
        .store
        .tenant(&TenantId(conversation.tenant_id.clone()))
        .await
        .doing("reading the conversation's tenant")?
        .ok_or_else(|| ServiceError::Inconsistent("the conversation's tenant is gone".into()))?;
    let streams = calls.latest_streams(&conversation).await?;
    let streams_by_role = by_role(&streams, false)?;
    let lease = claimed.token.clone();
    let mut plan = calls
        .session_plan(&tenant, &conversation, &streams_by_role, lease)
        .await?;
    for role in Role::BOTH {
        let participant = plan.participants.of_mut(role);
        let (stored, said_until_ms) = calls
            .store
            .stream_messages(id, &participant.stream_id)
            .await
            .doing("reading what the track already said")?;
        participant.resume = claimed.resume.of(role).clone();
        participant.stored = stored;
        participant.said_until_ms = said_until_ms;
    }
    let positions = &claimed.resume;
    // The reading keeps the ContactId the previous holder locked onto.
    plan.reader.contact_id = Role::BOTH
        .iter()
        .find_map(|&role| positions.of(role).as_ref()?.contact_id.clone());
    plan.reader.skip_through = positions.map_ref(|_, p| p.as_ref().map(|p| p.fragment.clone()));
    match (&positions.customer, &positions.agent) {
        (Some(c), Some(a)) => {
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
    tracing::info!(conversation = %id, customer = ?positions.customer, agent = ?positions.agent, "resuming a conversation another replica held");
    calls.spawn(plan);
    Ok(())
}
