//! Leases on streaming conversations: the one replica that reads each of them, and
//! where each participant's track resumes. PostgreSQL is the coordinator: every
//! ownership change is a conditional UPDATE, expired leases are claimed with
//! `FOR UPDATE SKIP LOCKED` (replicas never wait on each other's claims), and a
//! message is only stored while its writer still owns the lease (a fence, in the same
//! transaction).

use chrono::{DateTime, Utc};
use entity::{conversation, lease};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};

use super::Store;
use crate::ids::{ConversationId, PerRole, Role};
use entity::ConversationState;

/// The replica holding leases, and how long a lease lasts without renewal.
#[derive(Debug, Clone)]
pub struct LeaseHolder {
    pub replica_id: String,
    pub ttl: chrono::Duration,
}

impl LeaseHolder {
    fn expiry(&self) -> DateTime<Utc> {
        Utc::now() + self.ttl
    }
}

/// One hold of a lease: starts and claims mint a new one, and every write fenced by
/// the lease names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub String);

impl LeaseToken {
    fn mint() -> LeaseToken {
        LeaseToken(uuid::Uuid::new_v4().to_string())
    }
}

/// Where one participant's track can resume: everything the participant said before
/// the end of `fragment` is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackPosition {
    pub fragment: String,
    pub continuation_token: Option<String>,
    /// The track's audio bytes up to the end of `fragment` (its timeline offset).
    pub audio_bytes: i64,
    /// The ContactId the reading is locked to (the same for both tracks).
    pub contact_id: Option<String>,
}

/// Both tracks' committed positions, as a claimed lease records them.
pub type ResumePoint = PerRole<Option<TrackPosition>>;

impl ResumePoint {
    pub fn from_lease(l: &lease::Model) -> ResumePoint {
        let track = |fragment: &Option<String>, token: &Option<String>, bytes: i64| {
            fragment.as_ref().map(|f| TrackPosition {
                fragment: f.clone(),
                continuation_token: token.clone(),
                audio_bytes: bytes,
                contact_id: l.contact_id.clone(),
            })
        };
        ResumePoint {
            customer: track(
                &l.customer_fragment,
                &l.customer_token,
                l.customer_audio_bytes,
            ),
            agent: track(&l.agent_fragment, &l.agent_token, l.agent_audio_bytes),
        }
    }
}

/// A lease another replica gave up (or never renewed), now ours.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub conversation: ConversationId,
    pub token: LeaseToken,
    pub generation: i32,
    pub resume: ResumePoint,
}

/// What this replica owns, as the database sees it after a renewal.
#[derive(Debug, Default)]
pub struct Owned {
    /// Conversations whose lease is ours, with the hold that owns it.
    pub conversations: Vec<(ConversationId, LeaseToken)>,
    /// Those of them that were stopped (through any replica): finish them.
    pub stopped: Vec<ConversationId>,
}

/// The lease's position columns of a role.
fn position_columns(role: Role) -> [lease::Column; 3] {
    match role {
        Role::Customer => [
            lease::Column::CustomerFragment,
            lease::Column::CustomerToken,
            lease::Column::CustomerAudioBytes,
        ],
        Role::Agent => [
            lease::Column::AgentFragment,
            lease::Column::AgentToken,
            lease::Column::AgentAudioBytes,
        ],
    }
}

/// An UPDATE of the lease `conversation` that only applies while `token` holds it.
pub(super) fn fenced_update(
    conversation: &ConversationId,
    token: &LeaseToken,
) -> sea_orm::UpdateMany<lease::Entity> {
    lease::Entity::update_many()
        .col_expr(lease::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(lease::Column::ConversationId.eq(conversation.0.as_str()))
        .filter(lease::Column::Token.eq(token.0.as_str()))
}

/// Adds a track's position to a lease UPDATE.
pub(super) fn set_position(
    update: sea_orm::UpdateMany<lease::Entity>,
    role: Role,
    position: &TrackPosition,
) -> sea_orm::UpdateMany<lease::Entity> {
    let [fragment, token, bytes] = position_columns(role);
    let update = update
        .col_expr(fragment, Expr::value(position.fragment.clone()))
        .col_expr(token, Expr::value(position.continuation_token.clone()))
        .col_expr(bytes, Expr::value(position.audio_bytes));
    match &position.contact_id {
        Some(id) => update.col_expr(lease::Column::ContactId, Expr::value(id.clone())),
        None => update,
    }
}

/// A new lease row for a conversation's generation, and its token.
pub(super) fn new_lease(
    conversation: &str,
    generation: i32,
    holder: &LeaseHolder,
) -> (lease::ActiveModel, LeaseToken) {
    use sea_orm::Set;
    let now = Utc::now();
    let token = LeaseToken::mint();
    let row = lease::ActiveModel {
        conversation_id: Set(conversation.to_owned()),
        generation: Set(generation),
        owner: Set(Some(holder.replica_id.clone())),
        token: Set(token.0.clone()),
        expires_at: Set(holder.expiry()),
        customer_fragment: Set(None),
        customer_token: Set(None),
        customer_audio_bytes: Set(0),
        agent_fragment: Set(None),
        agent_token: Set(None),
        agent_audio_bytes: Set(0),
        updated_at: Set(now),
        contact_id: Set(None),
    };
    (row, token)
}

impl Store {
    /// Extends every lease `holder` owns and reports which of them are still ours and
    /// which were stopped meanwhile.
    pub async fn renew_leases(&self, holder: &LeaseHolder) -> Result<Owned, sea_orm::DbErr> {
        lease::Entity::update_many()
            .col_expr(lease::Column::ExpiresAt, Expr::value(holder.expiry()))
            .filter(lease::Column::Owner.eq(holder.replica_id.as_str()))
            .exec(self.db())
            .await?;
        let held: Vec<(String, String)> = lease::Entity::find()
            .select_only()
            .column(lease::Column::ConversationId)
            .column(lease::Column::Token)
            .filter(lease::Column::Owner.eq(holder.replica_id.as_str()))
            .into_tuple()
            .all(self.db())
            .await?;
        let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
        let stopped: Vec<String> = if ids.is_empty() {
            Vec::new()
        } else {
            conversation::Entity::find()
                .select_only()
                .column(conversation::Column::Id)
                .filter(conversation::Column::Id.is_in(ids))
                .filter(conversation::Column::State.eq(ConversationState::Stopped))
                .into_tuple()
                .all(self.db())
                .await?
        };
        Ok(Owned {
            conversations: held
                .into_iter()
                .map(|(id, token)| (ConversationId(id), LeaseToken(token)))
                .collect(),
            stopped: stopped.into_iter().map(ConversationId).collect(),
        })
    }

    /// Records how far the conversation's tracks are committed; `false` when the lease
    /// is no longer held with `token`.
    pub async fn record_positions(
        &self,
        conversation: &ConversationId,
        token: &LeaseToken,
        positions: &ResumePoint,
    ) -> Result<bool, sea_orm::DbErr> {
        let mut update = fenced_update(conversation, token);
        for role in Role::BOTH {
            if let Some(p) = positions.of(role) {
                update = set_position(update, role, p);
            }
        }
        Ok(update.exec(self.db()).await?.rows_affected == 1)
    }

    /// Claims up to `limit` expired leases of streaming conversations, oldest first.
    pub async fn claim_expired(
        &self,
        holder: &LeaseHolder,
        limit: u64,
    ) -> Result<Vec<Claimed>, sea_orm::DbErr> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claimed = match self.db().get_database_backend() {
            DbBackend::Postgres => self.claim_skip_locked(holder, limit).await?,
            _ => self.claim_one_by_one(holder, limit).await?,
        };
        Ok(claimed
            .iter()
            .map(|l| Claimed {
                conversation: ConversationId(l.conversation_id.clone()),
                token: LeaseToken(l.token.clone()),
                generation: l.generation,
                resume: ResumePoint::from_lease(l),
            })
            .collect())
    }

    /// PostgreSQL: one statement; rows another replica is claiming are skipped, not
    /// waited for.
    async fn claim_skip_locked(
        &self,
        holder: &LeaseHolder,
        limit: u64,
    ) -> Result<Vec<lease::Model>, sea_orm::DbErr> {
        let sql = "UPDATE leases SET owner = $1, expires_at = $2, updated_at = $3, \
                   token = gen_random_uuid()::text \
                   WHERE conversation_id IN ( \
                     SELECT l.conversation_id FROM leases l \
                     JOIN conversations c ON c.id = l.conversation_id \
                     WHERE l.expires_at < $3 AND c.state = 'streaming' \
                     ORDER BY l.expires_at LIMIT $4 \
                     FOR UPDATE OF l SKIP LOCKED) \
                   RETURNING *";
        let now = Utc::now();
        let values: Vec<Value> = vec![
            holder.replica_id.clone().into(),
            holder.expiry().into(),
            now.into(),
            (limit as i64).into(),
        ];
        lease::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .all(self.db())
            .await
    }

    /// SQLite (one node): candidates first, then a compare-and-set per lease.
    async fn claim_one_by_one(
        &self,
        holder: &LeaseHolder,
        limit: u64,
    ) -> Result<Vec<lease::Model>, sea_orm::DbErr> {
        let now = Utc::now();
        let candidates = lease::Entity::find()
            .filter(lease::Column::ExpiresAt.lt(now))
            .order_by_asc(lease::Column::ExpiresAt)
            .limit(limit)
            .all(self.db())
            .await?;
        let mut claimed = Vec::new();
        for l in candidates {
            let streaming = conversation::Entity::find_by_id(l.conversation_id.clone())
                .filter(conversation::Column::State.ne(ConversationState::Stopped))
                .one(self.db())
                .await?
                .is_some();
            if !streaming {
                continue;
            }
            let token = LeaseToken::mint();
            let won = lease::Entity::update_many()
                .col_expr(lease::Column::Owner, Expr::value(holder.replica_id.clone()))
                .col_expr(lease::Column::Token, Expr::value(token.0.clone()))
                .col_expr(lease::Column::ExpiresAt, Expr::value(holder.expiry()))
                .col_expr(lease::Column::UpdatedAt, Expr::value(now))
                .filter(lease::Column::ConversationId.eq(l.conversation_id.as_str()))
                .filter(lease::Column::ExpiresAt.eq(l.expires_at))
                .exec(self.db())
                .await?
                .rows_affected
                == 1;
            if won {
                claimed.push(lease::Model {
                    token: token.0,
                    ..l
                });
            }
        }
        Ok(claimed)
    }

    /// Hands the lease back (graceful shutdown): expired at once, so another replica
    /// claims it on its next round.
    pub async fn release_lease(
        &self,
        conversation: &ConversationId,
        token: &LeaseToken,
    ) -> Result<(), sea_orm::DbErr> {
        fenced_update(conversation, token)
            .col_expr(lease::Column::Owner, Expr::value(Option::<String>::None))
            .col_expr(
                lease::Column::ExpiresAt,
                Expr::value(Utc::now() - chrono::Duration::seconds(1)),
            )
            .exec(self.db())
            .await
            .map(|_| ())
    }

    /// Ends the lease: the conversation was stopped or its stream ended. With a token,
    /// only if the lease is still held with it.
    pub async fn end_lease(
        &self,
        conversation: &ConversationId,
        token: Option<&LeaseToken>,
    ) -> Result<(), sea_orm::DbErr> {
        let mut delete = lease::Entity::delete_many()
            .filter(lease::Column::ConversationId.eq(conversation.0.as_str()));
        if let Some(token) = token {
            delete = delete.filter(lease::Column::Token.eq(token.0.as_str()));
        }
        delete.exec(self.db()).await.map(|_| ())
    }

    /// The conversation's lease, if it has one.
    pub async fn lease(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<lease::Model>, sea_orm::DbErr> {
        lease::Entity::find_by_id(conversation.0.clone())
            .one(self.db())
            .await
    }
}
