//! Start/stop rules for a conversation: the KVS stream must be readable, one start at a
//! time, stop is idempotent, a restart after a stop resumes the same conversation with
//! new streams.

use std::time::Duration;

use chrono::Utc;
use entity::{StartSelectorType, stream};

use super::control::STOP_WAIT;
use super::session::{self, SessionPlan};
use crate::error::{ApiError, ErrorCode};
use crate::ids::{ConversationId, Role, StreamId, TenantId};
use crate::kvs::arn::StreamArn;
use crate::kvs::client::{KvsTarget, data_endpoint};
use crate::kvs::reader::{ReaderSettings, Selector};
use crate::redact::Redaction;
use crate::state::AppState;
use crate::store::conversations::{StartOutcome, StartSettings, StreamSummary};
use crate::store::keys::AuthedKey;
use crate::store::leases::{LeaseToken, ResumePoint};
use crate::store::tenants::AwsSettings;

/// Languages the English Whisper model transcribes.
pub const LANGUAGES: &[&str] = &[
    "en-US", "en-GB", "en-AU", "en-IN", "en-IE", "en-NZ", "en-ZA", "en-CA",
];

/// Summary figures reported by stop-streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total_audio_bytes: i64,
    pub audio_duration_ms: i64,
    pub streaming_seconds: i64,
    pub transcripts: i32,
}

/// One participant's stream as the API reports it.
#[derive(Debug, Clone)]
pub struct Participant {
    pub stream_id: StreamId,
    pub status_code: i32,
    pub status_description: String,
    pub summary: Option<Summary>,
}

impl Participant {
    fn from_row(s: &stream::Model, with_summary: bool) -> Participant {
        Participant {
            stream_id: StreamId(s.id.clone()),
            status_code: s.status_code,
            status_description: s.status_description.clone(),
            summary: with_summary.then_some(Summary {
                total_audio_bytes: s.total_audio_bytes,
                audio_duration_ms: s.audio_duration_ms,
                streaming_seconds: s.streaming_seconds,
                transcripts: s.transcripts,
            }),
        }
    }
}

/// Splits a generation's streams into (customer, agent).
pub(super) fn by_role(
    streams: &[stream::Model],
    with_summary: bool,
) -> Result<(Participant, Participant), ApiError> {
    let find = |role: Role| {
        streams
            .iter()
            .find(|s| s.role == role)
            .map(|s| Participant::from_row(s, with_summary))
            .ok_or_else(|| {
                ApiError::internal(format!("conversation has no {} stream", role.as_str()))
            })
    };
    Ok((find(Role::Customer)?, find(Role::Agent)?))
}

/// Registers (or resumes) the conversation and its two streams, after checking that
/// the KVS stream can be read with the tenant's settings, and starts reading it here
/// under this replica's lease.
pub async fn start(
    state: &AppState,
    key: &AuthedKey,
    external_id: &str,
    mut settings: StartSettings,
) -> Result<(Participant, Participant), ApiError> {
    if state.is_draining() {
        return Err(ApiError::new(
            ErrorCode::NotReady,
            "the service is shutting down; retry on another replica",
        )
        .with_retry_after(1));
    }
    let limit = state.max_conversations();
    if state.sessions.active() >= limit {
        return Err(ApiError::new(
            ErrorCode::NotReady,
            format!(
                "this replica already transcribes its limit of {limit} conversations \
                 (cluster.max_conversations); retry on another replica or later"
            ),
        )
        .with_retry_after(1));
    }
    let tenant = state
        .store
        .tenant(&key.tenant_id)
        .await?
        .ok_or_else(|| ApiError::internal("the key's tenant is gone"))?;
    let target = kvs_target(&tenant, &settings.stream_arn);
    let sdk = state.sdk_configs.get(&target).await;
    let endpoint = check_stream(&sdk, &target, &settings.stream_arn.arn).await?;
    if settings.redaction_entities.is_none() {
        let defaults = crate::redact::tenant_defaults(tenant.redaction_entities.as_deref());
        settings.redaction_entities = Some(defaults);
    }
    let outcome = state
        .store
        .start_conversation(&key.tenant_id, external_id, &settings, Some(&state.holder))
        .await?;
    let StartOutcome::Started {
        conversation,
        streams,
        lease,
    } = outcome
    else {
        return Err(ApiError::new(
            ErrorCode::AlreadyStreaming,
            format!("conversation {external_id} is already streaming; stop it first"),
        ));
    };
    let (customer, agent) = by_role(&streams, false)?;
    let lease = lease.ok_or_else(|| ApiError::internal("the start made no lease"))?;
    let mut plan = session_plan(state, &tenant, &conversation, (&customer, &agent), lease).await?;
    plan.reader.data_endpoint = Some(endpoint);
    state.sessions.spawn(state.session_deps(), plan);
    Ok((customer, agent))
}

/// How a conversation's stored settings are read, on a fresh start or a takeover.
pub(super) async fn session_plan(
    state: &AppState,
    tenant: &entity::tenant::Model,
    conversation: &entity::conversation::Model,
    (customer, agent): (&Participant, &Participant),
    lease: LeaseToken,
) -> Result<SessionPlan, ApiError> {
    let entities = conversation
        .redaction_entities
        .as_deref()
        .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
        .unwrap_or_else(|| crate::redact::tenant_defaults(tenant.redaction_entities.as_deref()));
    let arn = StreamArn::parse(&conversation.stream_arn).ok_or_else(|| {
        ApiError::internal(format!(
            "stored stream ARN {} is invalid",
            conversation.stream_arn
        ))
    })?;
    let target = kvs_target(tenant, &arn);
    let sdk = state.sdk_configs.get(&target).await;
    Ok(SessionPlan {
        conversation: ConversationId(conversation.id.clone()),
        tenant_id: TenantId(conversation.tenant_id.clone()),
        external_id: conversation.external_id.clone(),
        customer: session::Participant::new(
            customer.stream_id.clone(),
            conversation.customer_id.clone(),
        ),
        agent: session::Participant::new(agent.stream_id.clone(), conversation.agent_id.clone()),
        detailed_token: conversation.detailed_token,
        redaction: Redaction::from_settings(conversation.redaction_output, &entities),
        target,
        sdk,
        reader: ReaderSettings::new(
            conversation.stream_arn.clone(),
            conversation.external_id.clone(),
            stored_selector(conversation),
        ),
        lease,
    })
}

/// The start selector the conversation was started with.
fn stored_selector(c: &entity::conversation::Model) -> Selector {
    let after = c.after_fragment_number.clone().unwrap_or_default();
    let epoch_ms = c.start_timestamp_ms.unwrap_or_default();
    match c.start_selector_type {
        StartSelectorType::Now => Selector::Now,
        StartSelectorType::Earliest => Selector::Earliest,
        StartSelectorType::FragmentNumber => Selector::FragmentNumber(after),
        StartSelectorType::ServerTimestamp => Selector::ServerTimestamp { epoch_ms },
        StartSelectorType::ProducerTimestamp => Selector::ProducerTimestamp { epoch_ms },
    }
}

/// Where and as whom this tenant's stream is read.
fn kvs_target(tenant: &entity::tenant::Model, arn: &StreamArn) -> KvsTarget {
    let session_name = format!("callscribe-{}", tenant.id);
    KvsTarget::new(&AwsSettings::from(tenant), arn, &session_name)
}

/// How long start-streaming waits for KVS to confirm the stream.
const STREAM_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves the stream's GetMedia endpoint (the reader reuses it): proves the stream
/// exists and the tenant's credentials may read it. Failures are 422-01 naming the KVS
/// error.
async fn check_stream(
    config: &aws_config::SdkConfig,
    target: &KvsTarget,
    arn: &str,
) -> Result<String, ApiError> {
    let unusable = |why: String| {
        ApiError::new(
            ErrorCode::StreamNotUsable,
            format!("KVS stream not usable: {why}"),
        )
    };
    match tokio::time::timeout(STREAM_CHECK_TIMEOUT, data_endpoint(config, target, arn)).await {
        Ok(Ok(endpoint)) => Ok(endpoint),
        Ok(Err(e)) => Err(unusable(e.message)),
        Err(_) => Err(unusable(format!(
            "no answer from KVS within {STREAM_CHECK_TIMEOUT:?}"
        ))),
    }
}

/// Stops the conversation's streams and reports their measured summaries; idempotent.
/// Any replica may be asked: when another one reads the conversation, it sees the stop
/// through the database, finishes the streams and ends its lease, and this replica
/// reports what it wrote.
pub async fn stop(
    state: &AppState,
    key: &AuthedKey,
    external_id: &str,
) -> Result<(Participant, Participant), ApiError> {
    let not_found = || ApiError::not_found(format!("conversation {external_id} not found"));
    let conversation = state
        .store
        .conversation_by_external_id(&key.tenant_id, external_id)
        .await?
        .ok_or_else(not_found)?;
    let id = ConversationId(conversation.id.clone());
    if state.store.mark_stopped(&id).await? && !owner_finished(state, &id).await? {
        finish_stopped(state, &conversation).await?;
    }
    let streams = state.store.latest_streams(&conversation).await?;
    by_role(&streams, true)
}

/// How often a stop waits for another replica to finish the conversation.
const OWNER_POLL: Duration = Duration::from_millis(50);

/// When another live replica holds the lease, waits until it has finished the streams
/// and ended the lease; `false` when this replica has to finish them (the reader is
/// here, the stream already ended, or the owner is gone).
async fn owner_finished(state: &AppState, id: &ConversationId) -> Result<bool, ApiError> {
    if state.sessions.is_here(id) {
        return Ok(false);
    }
    let give_up = tokio::time::Instant::now() + STOP_WAIT + Duration::from_secs(5);
    loop {
        let Some(lease) = state.store.lease(id).await? else {
            // Ended by its owner once finished, or by the stream's own end.
            return streams_finished(state, id).await;
        };
        let live_elsewhere = lease.expires_at > Utc::now()
            && lease
                .owner
                .as_ref()
                .is_some_and(|o| *o != state.holder.replica_id);
        if !live_elsewhere {
            return Ok(false);
        }
        if tokio::time::Instant::now() >= give_up {
            tracing::warn!(conversation = %id, "the owning replica did not finish the stop in time");
            return Ok(false);
        }
        tokio::time::sleep(OWNER_POLL).await;
    }
}

async fn streams_finished(state: &AppState, id: &ConversationId) -> Result<bool, ApiError> {
    let Some(conversation) = state.store.conversation(id).await? else {
        return Ok(true);
    };
    let streams = state.store.latest_streams(&conversation).await?;
    Ok(streams.iter().all(|s| s.stopped_at.is_some()))
}

/// Ends a stopped conversation's session if it runs here, writes both streams'
/// summaries (measured by the session, else as recorded) and ends the lease.
pub async fn finish_stopped(
    state: &AppState,
    conversation: &entity::conversation::Model,
) -> Result<(), ApiError> {
    let id = ConversationId(conversation.id.clone());
    let streams = state.store.latest_streams(conversation).await?;
    let measured = state.sessions.stop(&id).await;
    if measured.is_none() && state.sessions.is_stopping(&id) {
        // Another task of this replica is finishing it: wait for its summary.
        let give_up = tokio::time::Instant::now() + STOP_WAIT;
        while state.sessions.is_stopping(&id) && tokio::time::Instant::now() < give_up {
            tokio::time::sleep(OWNER_POLL).await;
        }
        return Ok(());
    }
    let resume = state
        .store
        .lease(&id)
        .await?
        .map(|l| ResumePoint::from_lease(&l));
    let stopped_at = Utc::now();
    for s in &streams {
        let role = s.role;
        let stream = StreamId(s.id.clone());
        let summary = match &measured {
            Some(result) => result.of(role).summary(),
            None => recorded_summary(state, &id, s, resume.as_ref(), role).await?,
        };
        state
            .store
            .finish_stream(&stream, &summary, stopped_at)
            .await?;
    }
    state.store.end_lease(&id, None).await?;
    Ok(())
}

/// A stream's summary when no session measured it here: what its session recorded
/// when the stream ended, or, if its replica died, the lease's committed position.
async fn recorded_summary(
    state: &AppState,
    conversation: &ConversationId,
    s: &stream::Model,
    resume: Option<&ResumePoint>,
    role: Role,
) -> Result<StreamSummary, ApiError> {
    let (stored, _) = state
        .store
        .stream_messages(conversation, &StreamId(s.id.clone()))
        .await?;
    let committed = resume.and_then(|r| r.of(role)).map_or(0, |p| p.audio_bytes);
    let total_audio_bytes = s.total_audio_bytes.max(committed);
    Ok(StreamSummary {
        status_code: s.status_code,
        status_description: s.status_description.clone(),
        total_audio_bytes,
        audio_duration_ms: crate::audio::telephone_pcm_ms(total_audio_bytes),
        transcripts: stored,
    })
}
