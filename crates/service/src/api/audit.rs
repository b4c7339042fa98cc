//! The audit layer of the request stack (it records mutating admin calls and every
//! request made with an API key) and `GET /admin/v1/audit`, the read-only view of what it
//! recorded. What is recorded and why is in `crate::audit`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::http::{Method, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::param::Query;
use poem_openapi::{Enum, Object, OpenApi, OperationId};

use super::auth::AdminAuth;
use super::responses::Success;
use crate::audit::{self, AuditLog, Entry, Kind, Note};
use crate::error::{Failure, current_request_id, error_list};
use crate::state::SharedState;
use crate::store::audit::AuditQuery;

/// Ids taken from the path are kept to this many characters.
const MAX_ID: usize = 128;

/// Records the call once it has been answered (see `crate::audit`). Outside error
/// rendering, so the status is the one the caller got; inside the request id.
pub async fn record<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let Some(log) = req.data::<AuditLog>().cloned() else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let admin = is_admin_mutation(req.method(), req.uri().path()).then(|| {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        (log.hasher().admin_actor(token), path_ids(req.uri().path()))
    });
    let (result, note) = audit::scope(next.call(req)).await;
    let resp = result?.into_response();
    let operation = resp.data::<OperationId>().map(|op| op.0).unwrap_or("other");
    let entry = match admin {
        Some((actor, (tenant, target))) => admin_entry(&log, actor, tenant, target, &note),
        None => match key_entry(&log, &note) {
            Some(entry) => entry,
            None => return Ok(resp),
        },
    };
    log.record(Entry {
        operation: operation.to_owned(),
        status: resp.status().as_u16(),
        ..entry
    });
    Ok(resp)
}

fn is_admin_mutation(method: &Method, path: &str) -> bool {
    path.starts_with("/admin/v1/")
        && *method != Method::GET
        && *method != Method::HEAD
        && *method != Method::OPTIONS
}

/// `/admin/v1/tenants/{id}[/{what}[/{name}]]` → the tenant, and what in it was acted on.
fn path_ids(path: &str) -> (Option<String>, Option<(&'static str, String)>) {
    let segments: Vec<String> = path
        .trim_start_matches("/admin/v1/")
        .split('/')
        .map(|s| s.chars().take(MAX_ID).collect())
        .collect();
    match segments.as_slice() {
        [t, id, what, name, ..] if t == "tenants" => {
            let kind = match what.as_str() {
                "keys" => "key",
                "apps" => "app",
                _ => "item",
            };
            (Some(id.clone()), Some((kind, name.clone())))
        }
        [t, id, what] if t == "tenants" => (Some(id.clone()), Some(("setting", what.clone()))),
        [t, id] if t == "tenants" => (Some(id.clone()), None),
        _ => (None, None),
    }
}

/// Key ids are hashed wherever they appear; other targets are kept as `kind:id`.
fn target_text(log: &AuditLog, (kind, id): &(&'static str, String)) -> String {
    match *kind {
        "key" => log.hasher().key(id),
        _ => format!("{kind}:{id}"),
    }
}

fn admin_entry(
    log: &AuditLog,
    actor: String,
    tenant: Option<String>,
    target: Option<(&'static str, String)>,
    note: &Note,
) -> Entry {
    // What the handler noted (a created tenant or key) is more precise than the path.
    let target = note.target.as_ref().or(target.as_ref());
    let tenant = match note.target.as_ref() {
        Some(("tenant", id)) => Some(id.clone()),
        _ => tenant,
    };
    Entry {
        at: Utc::now(),
        kind: Kind::Admin,
        actor,
        operation: String::new(),
        tenant_id: tenant,
        target: target.map(|t| target_text(log, t)),
        subject: None,
        status: 0,
        request_id: current_request_id(),
    }
}

/// A request that an API key authenticated (whatever its outcome); `None` otherwise:
/// requests with no valid key are not attributable, and recording them would let anyone
/// fill the table.
fn key_entry(log: &AuditLog, note: &Note) -> Option<Entry> {
    let (key_id, tenant) = note.key.as_ref()?;
    Some(Entry {
        at: Utc::now(),
        kind: Kind::ApiKey,
        actor: log.hasher().key(key_id),
        operation: String::new(),
        tenant_id: Some(tenant.clone()),
        target: None,
        subject: note.subject.as_deref().map(|g| log.hasher().contact(g)),
        status: 0,
        request_id: current_request_id(),
    })
}

/// One audited call. Identifiers that could name a person or authenticate are keyed
/// hashes: `actor` is `admin:<hash of the token>` or `key:<hash of the key id>`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Cursor: pass the last one as `after` for the next page.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    pub actor: String,
    /// The operation id, e.g. `createApiKey`, `startStreaming`.
    pub operation: String,
    #[oai(skip_serializing_if_is_none)]
    pub tenant_id: Option<String>,
    /// What an admin call acted on: `tenant:<id>`, `key:<hash>`, `app:<name>`,
    /// `setting:<webhook|aws|redaction|keys>`.
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<String>,
    /// Keyed hash of the conversation's ContactId (find one with `contactId`).
    #[oai(skip_serializing_if_is_none)]
    pub subject: Option<String>,
    /// The HTTP status answered.
    pub status: i32,
    pub request_id: String,
}

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "camelCase")]
pub enum AuditKind {
    /// A mutating admin call.
    Admin,
    /// A request made with an API key.
    ApiKey,
}

impl AuditKind {
    /// The stored spelling (`audit::Kind::as_str`).
    fn from_stored(kind: &str) -> Self {
        if kind == audit::Kind::Admin.as_str() {
            Self::Admin
        } else {
            Self::ApiKey
        }
    }
}

/// One page of the audit log.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// Present when the page is full: pass it as `after` to read on.
    #[oai(skip_serializing_if_is_none)]
    pub next_after: Option<i64>,
}

error_list!(AuditErrors: 400, 401, 413, 500, 503);

pub struct AuditApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "super::admin::AdminTag::Admin")]
impl AuditApi {
    /// Read the audit log
    ///
    /// Mutating admin calls and requests made with API keys, oldest first, in pages.
    /// Records are kept for `retention.audit_days` (90).
    #[oai(path = "/audit", method = "get", operation_id = "listAudit")]
    async fn list(
        &self,
        _auth: AdminAuth,
        /// Only records at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only records after this id (`nextAfter` of the previous page).
        after: Query<Option<i64>>,
        /// Only records about the conversation with this ContactId (guid); it is hashed
        /// the way the log stores it.
        #[oai(name = "contactId", validator(max_length = 128))]
        contact_id: Query<Option<String>>,
        /// At most this many records (1–1000, default 100).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u64>,
    ) -> Result<Success<AuditPage>, Failure<AuditErrors>> {
        let subject = contact_id
            .0
            .as_deref()
            .map(|g| audit::AuditHasher::new(&self.state.sealer).contact(g));
        let query = AuditQuery {
            since: since.0,
            after: after.0,
            subject,
            limit: limit.0,
        };
        let rows = self.state.store.audit_page(&query).await?;
        let next_after = (rows.len() as u64 == limit.0)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        let items = rows
            .into_iter()
            .map(|r| AuditRecord {
                id: r.id,
                at: r.at,
                kind: AuditKind::from_stored(&r.kind),
                actor: r.actor,
                operation: r.operation,
                tenant_id: r.tenant_id,
                target: r.target,
                subject: r.subject,
                status: r.status,
                request_id: r.request_id,
            })
            .collect();
        Ok(Success::json(AuditPage { items, next_after }))
    }
}

fn default_limit() -> u64 {
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths_name_the_tenant_and_the_object() {
        assert_eq!(path_ids("/admin/v1/tenants"), (None, None));
        assert_eq!(path_ids("/admin/v1/tenants/t1"), (Some("t1".into()), None));
        assert_eq!(
            path_ids("/admin/v1/tenants/t1/webhook"),
            (Some("t1".into()), Some(("setting", "webhook".into())))
        );
        assert_eq!(
            path_ids("/admin/v1/tenants/t1/keys/0123abcd"),
            (Some("t1".into()), Some(("key", "0123abcd".into())))
        );
        assert_eq!(
            path_ids("/admin/v1/tenants/t1/apps/lambda"),
            (Some("t1".into()), Some(("app", "lambda".into())))
        );
    }

    #[test]
    fn only_mutating_admin_calls_are_admin_records() {
        assert!(is_admin_mutation(&Method::POST, "/admin/v1/tenants"));
        assert!(is_admin_mutation(
            &Method::DELETE,
            "/admin/v1/tenants/t/keys/k"
        ));
        assert!(!is_admin_mutation(&Method::GET, "/admin/v1/audit"));
        assert!(!is_admin_mutation(
            &Method::POST,
            "/mg-autotranscribe/v1/start-streaming"
        ));
    }
}
