//! Start/stop rules for a conversation: the KVS stream must be readable, one start at a
//! time, stop is idempotent, a restart after a stop resumes the same conversation with
//! new streams. [`Calls`] is the service, built once at start-up with what it drives: the
//! store, this replica's sessions, the KVS clients and its lease holder. The lease keeper
//! (`super::keeper`) works on the same service.

use std::time::Duration;

use chrono::Utc;
use entity::{StartSelectorType, stream};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::control::STOP_WAIT;
use super::error::{Doing, ServiceError, ServiceResult};
use super::events::ConversationEvent;
use super::session::{self, SessionDeps, SessionPlan};
use super::sessions::Sessions;
use crate::config::EngineModel;
use crate::ids::{ConversationId, PerRole, Role, StreamId, TenantId};
use crate::kvs::arn::StreamArn;
use crate::kvs::client::{KvsTarget, SdkConfigs, data_endpoint};
use crate::kvs::reader::{ReaderSettings, Selector};
use crate::redact::Redaction;
use crate::store::Store;
use crate::store::conversations::{StartOutcome, StartSettings, StreamSummary};
use crate::store::keys::AuthedKey;
use crate::store::leases::{LeaseHolder, LeaseToken, ResumePoint};
use crate::store::tenants::AwsSettings;
use crate::transcribe::language::{self, Route};

/// One participant's stream as the API reports it.
#[derive(Debug, Clone)]
pub struct Participant {
    pub stream_id: StreamId,
    /// Its status; the figures are reported by stop-streaming only.
    pub summary: StreamSummary,
    /// Wall-clock seconds from start to stop: `Some` once the stream is stopped and
    /// the answer is stop-streaming's.
    pub streaming_seconds: Option<i64>,
}

/// A generation's streams by participant; `stopped` when the answer reports the figures.
pub(super) fn by_role(
    streams: &[stream::Model],
    stopped: bool,
) -> ServiceResult<PerRole<Participant>> {
    let find = |role: Role| {
        let row = streams.iter().find(|s| s.role == role).ok_or_else(|| {
            ServiceError::Inconsistent(format!("conversation has no {} stream", role.as_str()))
        })?;
        Ok(Participant {
            stream_id: StreamId(row.id.clone()),
            summary: StreamSummary::recorded(row).doing("reading a stream's status")?,
            streaming_seconds: stopped.then_some(row.streaming_seconds),
        })
    };
    Ok(PerRole {
        customer: find(Role::Customer)?,
        agent: find(Role::Agent)?,
    })
}

/// Starting, stopping and resuming calls on this replica.
pub struct Calls {
    pub(super) store: Store,
    /// The conversations read here.
    pub(super) sessions: Sessions,
    /// AWS SDK configurations by KVS target, shared by every conversation.
    sdk_configs: SdkConfigs,
    /// What each new session is given.
    session_deps: SessionDeps,
    /// This replica as the owner of conversation leases.
    pub(super) holder: LeaseHolder,
    /// Conversations this replica transcribes at once.
    pub(super) limit: usize,
    /// Cancelled when shutdown begins: new starts are refused.
    pub(super) shutdown: CancellationToken,
}

impl Calls {
    pub fn new(
        store: Store,
        session_deps: SessionDeps,
        holder: LeaseHolder,
        limit: usize,
        shutdown: CancellationToken,
    ) -> Calls {
        Calls {
            store,
            sessions: Sessions::default(),
            sdk_configs: SdkConfigs::default(),
            session_deps,
            holder,
            limit,
            shutdown,
        }
    }

    /// The sessions running here (shutdown hands them back).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(super) fn spawn(&self, plan: SessionPlan) {
        self.sessions.spawn(self.session_deps.clone(), plan);
    }

    /// The live events of `conversation`, from now on, while this replica reads it;
    /// `None` when it is not read here.
    pub fn live_events(
        &self,
        conversation: &ConversationId,
    ) -> Option<broadcast::Receiver<ConversationEvent>> {
        self.sessions.subscribe(conversation)
    }

    /// Shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Refuses new work while shutting down or at the replica's limit.
    fn check_room(&self) -> ServiceResult<()> {
        let busy = |reason: String| ServiceError::NotReady {
            reason,
            retry_after_s: 1,
        };
        if self.is_draining() {
            return Err(busy(
                "the service is shutting down; retry on another replica".into(),
            ));
        }
        if self.sessions.active() >= self.limit {
            return Err(busy(format!(
                "this replica already transcribes its limit of {} conversations \
                 (cluster.max_conversations); retry on another replica or later",
                self.limit
            )));
        }
        Ok(())
    }

    /// Registers (or resumes) the conversation and its two streams, after checking that
    /// the KVS stream can be read with the tenant's settings, and starts reading it here
    /// under this replica's lease.
    pub async fn start(
        &self,
        key: &AuthedKey,
        external_id: &str,
        mut settings: StartSettings,
    ) -> ServiceResult<PerRole<Participant>> {
        self.check_room()?;
        let tenant = self
            .store
            .tenant(&key.tenant_id)
            .await
            .doing("reading the key's tenant")?
            .ok_or_else(|| ServiceError::Inconsistent("the key's tenant is gone".into()))?;
        let target = kvs_target(&tenant, &settings.stream_arn);
        let sdk = self.sdk_configs.get(&target).await;
        let endpoint = check_stream(&sdk, &target, &settings.stream_arn.arn).await?;
        if settings.redaction_entities.is_none() {
            let defaults = crate::redact::tenant_defaults(tenant.redaction_entities.as_deref());
            settings.redaction_entities = Some(defaults);
        }
        let outcome = self
            .store
            .start_conversation(&key.tenant_id, external_id, &settings, Some(&self.holder))
            .await
            .doing("registering the conversation")?;
        let StartOutcome::Started {
            conversation,
            streams,
            lease,
        } = outcome
        else {
            return Err(ServiceError::AlreadyStreaming(external_id.to_owned()));
        };
        let participants = by_role(&streams, false)?;
        let lease =
            lease.ok_or_else(|| ServiceError::Inconsistent("the start made no lease".into()))?;
        let mut plan = self
            .session_plan(&tenant, &conversation, &participants, lease)
            .await?;
        plan.reader.data_endpoint = Some(endpoint);
        self.spawn(plan);
        Ok(participants)
    }

    /// How a conversation's stored settings are read, on a fresh start or a takeover.
    pub(super) async fn session_plan(
        &self,
        tenant: &entity::tenant::Model,
        conversation: &entity::conversation::Model,
        streams: &PerRole<Participant>,
        lease: LeaseToken,
    ) -> ServiceResult<SessionPlan> {
        let entities = conversation
            .redaction_entities
            .as_deref()
            .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
            .unwrap_or_else(|| {
                crate::redact::tenant_defaults(tenant.redaction_entities.as_deref())
            });
        let arn = StreamArn::parse(&conversation.stream_arn).ok_or_else(|| {
            ServiceError::Inconsistent(format!(
                "stored stream ARN {} is invalid",
                conversation.stream_arn
            ))
        })?;
        let language = language::lookup(&conversation.language).unwrap_or(language::ENGLISH);
        let tenant_engine = tenant.engine_model.as_deref().and_then(EngineModel::parse);
        let target = kvs_target(tenant, &arn);
        let sdk = self.sdk_configs.get(&target).await;
        Ok(SessionPlan {
            conversation: ConversationId(conversation.id.clone()),
            tenant_id: TenantId(conversation.tenant_id.clone()),
            external_id: conversation.external_id.clone(),
            participants: streams.map_ref(|role, stream| {
                let external_id = match role {
                    Role::Customer => &conversation.customer_id,
                    Role::Agent => &conversation.agent_id,
                };
                session::Participant::new(stream.stream_id.clone(), external_id.clone())
            }),
            detailed_token: conversation.detailed_token,
            redaction: Redaction::from_settings(
                conversation.redaction_output,
                &entities,
                language.whisper,
            )
            .keeping_card_last_four(tenant.card_keep_last_four),
            route: Route::choose(language, tenant_engine),
            target,
            sdk,
            reader: ReaderSettings::new(
                conversation.stream_arn.clone(),
                stored_selector(conversation),
            ),
            lease,
        })
    }

    /// Stops the conversation's streams and reports their measured summaries; idempotent.
    /// Any replica may be asked: when another one reads the conversation, it sees the stop
    /// through the database, finishes the streams and ends its lease, and this replica
    /// reports what it wrote.
    pub async fn stop(
        &self,
        key: &AuthedKey,
        external_id: &str,
    ) -> ServiceResult<PerRole<Participant>> {
        let conversation = self
            .store
            .conversation_by_external_id(&key.tenant_id, external_id)
            .await
            .doing("looking up the conversation")?
            .ok_or_else(|| ServiceError::NotFound(format!("conversation {external_id}")))?;
        let id = ConversationId(conversation.id.clone());
        let stopped_now = self
            .store
            .mark_stopped(&id)
            .await
            .doing("marking the conversation stopped")?;
        if stopped_now && !self.owner_finished(&id).await? {
            self.finish_stopped(&conversation).await?;
        }
        let streams = self.latest_streams(&conversation).await?;
        by_role(&streams, true)
    }

    /// When another live replica holds the lease, waits until it has finished the streams
    /// and ended the lease; `false` when this replica has to finish them (the reader is
    /// here, the stream already ended, or the owner is gone).
    async fn owner_finished(&self, id: &ConversationId) -> ServiceResult<bool> {
        if self.sessions.is_here(id) {
            return Ok(false);
        }
        let give_up = tokio::time::Instant::now() + STOP_WAIT + Duration::from_secs(5);
        loop {
            let Some(lease) = self.store.lease(id).await.doing("reading the lease")? else {
                // Ended by its owner once finished, or by the stream's own end.
                return self.streams_finished(id).await;
            };
            let live_elsewhere = lease.expires_at > Utc::now()
                && lease
                    .owner
                    .as_ref()
                    .is_some_and(|o| *o != self.holder.replica_id);
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

    async fn streams_finished(&self, id: &ConversationId) -> ServiceResult<bool> {
        let conversation = self
            .store
            .conversation(id)
            .await
            .doing("reading the conversation")?;
        let Some(conversation) = conversation else {
            return Ok(true);
        };
        let streams = self.latest_streams(&conversation).await?;
        Ok(streams.iter().all(|s| s.stopped_at.is_some()))
    }

    pub(super) async fn latest_streams(
        &self,
        conversation: &entity::conversation::Model,
    ) -> ServiceResult<Vec<stream::Model>> {
        self.store
            .latest_streams(conversation)
            .await
            .doing("reading the conversation's streams")
    }

    /// Ends a stopped conversation's session if it runs here, writes both streams'
    /// summaries (measured by the session, else as recorded) and ends the lease.
    pub(super) async fn finish_stopped(
        &self,
        conversation: &entity::conversation::Model,
    ) -> ServiceResult<()> {
        let id = ConversationId(conversation.id.clone());
        let streams = self.latest_streams(conversation).await?;
        let measured = self.sessions.stop(&id).await;
        if measured.is_none() && self.sessions.is_stopping(&id) {
            // Another task of this replica is finishing it: wait for its summary.
            let give_up = tokio::time::Instant::now() + STOP_WAIT;
            while self.sessions.is_stopping(&id) && tokio::time::Instant::now() < give_up {
                tokio::time::sleep(OWNER_POLL).await;
            }
            return Ok(());
        }
        let lease = self.store.lease(&id).await.doing("reading the lease")?;
        let resume = lease.map(|l| ResumePoint::from_lease(&l));
        let stopped_at = Utc::now();
        for s in &streams {
            let summary = match &measured {
                Some(result) => result.of(s.role).clone(),
                None => self.recorded_summary(&id, s, resume.as_ref()).await?,
            };
            self.store
                .finish_stream(&StreamId(s.id.clone()), &summary, stopped_at)
                .await
                .doing("writing a stream's summary")?;
        }
        self.store
            .end_lease(&id, None)
            .await
            .doing("ending the lease")?;
        Ok(())
    }

    /// A stream's summary when no session measured it here: what its session recorded
    /// when the stream ended, or, if its replica died, the lease's committed position.
    async fn recorded_summary(
        &self,
        conversation: &ConversationId,
        s: &stream::Model,
        resume: Option<&ResumePoint>,
    ) -> ServiceResult<StreamSummary> {
        let (stored, _) = self
            .store
            .stream_messages(conversation, &StreamId(s.id.clone()))
            .await
            .doing("counting the stream's messages")?;
        let committed = resume
            .and_then(|r| r.of(s.role).as_ref())
            .map_or(0, |p| p.audio_bytes);
        let recorded = StreamSummary::recorded(s).doing("reading a stream's status")?;
        Ok(StreamSummary {
            total_audio_bytes: recorded.total_audio_bytes.max(committed),
            transcripts: stored,
            ..recorded
        })
    }
}

/// How often a stop waits for another replica to finish the conversation.
const OWNER_POLL: Duration = Duration::from_millis(50);

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
) -> ServiceResult<String> {
    let unusable = ServiceError::StreamNotUsable;
    match tokio::time::timeout(STREAM_CHECK_TIMEOUT, data_endpoint(config, target, arn)).await {
        Ok(Ok(endpoint)) => Ok(endpoint),
        Ok(Err(e)) => Err(unusable(e.message)),
        Err(_) => Err(unusable(format!(
            "no answer from KVS within {STREAM_CHECK_TIMEOUT:?}"
        ))),
    }
}
