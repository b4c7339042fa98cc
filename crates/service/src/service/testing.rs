//! What the service's unit tests start from: a conversation started on a fresh SQLite
//! database, under a lease of replica "replica-a".

use entity::{conversation, stream};

use crate::ids::{Role, TenantId};
use crate::kvs::arn::StreamArn;
use crate::store::Store;
use crate::store::conversations::{StartOutcome, StartSettings};
use crate::store::leases::{LeaseHolder, LeaseToken};

pub struct Started {
    pub store: Store,
    pub tenant: TenantId,
    pub conversation: conversation::Model,
    pub streams: Vec<stream::Model>,
    pub lease: LeaseToken,
    _dir: tempfile::TempDir,
}

impl Started {
    pub fn stream(&self, role: Role) -> &stream::Model {
        self.streams
            .iter()
            .find(|s| s.role == role)
            .expect("stream")
    }
}

pub const STREAM_ARN: &str = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/s/0";

/// Conversation `guid-1`, redacting card numbers, with word tokens.
pub async fn started_conversation() -> Started {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let store = Store::connect(&url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let tenant = TenantId(store.create_tenant("Acme").await.expect("tenant").id);
    let holder = LeaseHolder {
        replica_id: "replica-a".into(),
        ttl: chrono::Duration::seconds(30),
    };
    let settings = StartSettings {
        customer_id: "TT9833237".into(),
        agent_id: "RE223444211993".into(),
        language: "en-US".into(),
        detailed_token: true,
        redaction_output: entity::RedactionOutput::Redacted,
        redaction_entities: Some(vec!["CREDIT_CARD_NUMBER".into()]),
        stream_arn: StreamArn::parse(STREAM_ARN).expect("arn"),
        start_selector_type: entity::StartSelectorType::Now,
        after_fragment_number: None,
        start_timestamp_ms: None,
    };
    let outcome = store
        .start_conversation(&tenant, "guid-1", &settings, Some(&holder))
        .await
        .expect("start");
    let StartOutcome::Started {
        conversation,
        streams,
        lease,
    } = outcome
    else {
        panic!("not started");
    };
    Started {
        store,
        tenant,
        conversation: *conversation,
        streams,
        lease: lease.expect("lease"),
        _dir: dir,
    }
}
