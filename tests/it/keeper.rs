//! The lease keeper between two replicas in one process, on one database, transcribing
//! with the scripted engine: another replica claims an expired lease and resumes the
//! call where its tracks were committed, and the replica that held it stops reading at
//! its next renewal.

use std::time::Duration;

use callscribe::config::{Config, Secret};
use callscribe::ids::{ConversationId, TenantId};
use callscribe::service::keeper::{self, Finishing};
use entity::lease;

use crate::helpers::{TestApp, assert_said_once, body, spans, spawn_app_with};
use crate::kvs_emulator::CONTACT;
use crate::transcription::{CALL_END_WAIT, fixture, start_call_as};

/// Leases of a second, renewed and claimed every 100 ms.
fn quick_leases(config: &mut Config) {
    config.cluster.lease_seconds = 1;
    config.cluster.tick_ms = 100;
}

/// Polls `read` until it gives a value, for at most `within`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut read: impl FnMut() -> F,
) -> T {
    let give_up = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = read().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn lease_of(app: &TestApp, id: &ConversationId) -> lease::Model {
    app.state
        .store
        .lease(id)
        .await
        .expect("read lease")
        .expect("a lease")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_stops_keeping_its_lease_loses_the_call_to_another_with_nothing_said_twice()
{
    let first = spawn_app_with(quick_leases).await;
    let shared = first.state.config.database_url();
    let second = spawn_app_with(|config| {
        quick_leases(config);
        config.database_url = Some(Secret::new(shared));
    })
    .await;
    let (tenant, key) = first.tenant_with_key().await;
    let jfk = fixture("jfk-8k.wav");
    let _kvs = start_call_as(&first, &tenant, &key, jfk.clone(), jfk, 1.0, false).await;
    let conversation = first
        .state
        .store
        .conversation_by_external_id(&TenantId(tenant.clone()), CONTACT)
        .await
        .expect("read")
        .expect("started");
    let id = ConversationId(conversation.id.clone());
    let committed = eventually(Duration::from_secs(30), "committed positions", || async {
        let held = lease_of(&first, &id).await;
        (held.customer_fragment.is_some() && held.agent_fragment.is_some()).then_some(held)
    })
    .await;
    assert_eq!(
        committed.contact_id.as_deref(),
        Some(CONTACT),
        "the reading's ContactId lock is stored with its positions"
    );

    // The first replica's keeper ends (as a drain begins) while its session reads on: a
    // replica cut off from the database's clock. Its lease expires within a second.
    first.state.shutdown.cancel();
    let claimed = eventually(Duration::from_secs(10), "a claim", || async {
        let held = lease_of(&second, &id).await;
        (held.token != committed.token).then_some(held)
    })
    .await;
    assert_ne!(
        claimed.owner, committed.owner,
        "the second replica claimed it"
    );
    eventually(Duration::from_secs(5), "the resumed session", || async {
        second.state.calls.sessions().is_here(&id).then_some(())
    })
    .await;
    // The first replica's next renewal finds the lease gone and stops reading.
    assert!(first.state.calls.sessions().is_here(&id));
    keeper::renew(&first.state.calls, &Finishing::default())
        .await
        .expect("renew");
    assert!(!first.state.calls.sessions().is_here(&id));

    second.streams_ended(CALL_END_WAIT).await;
    let stopped = body(second.stop(&key, CONTACT).await).await;
    let items = second.message_items(&key, CONTACT).await;
    for role in ["customer", "agent"] {
        let said = spans(&items, role);
        assert_said_once(&items, role, "after the takeover");
        // JFK speaks until about 10.5 s; the resumed reading reached the end.
        assert!(
            said.last().is_some_and(|last| last.1 > 9_000),
            "{role}: {said:?}"
        );
        let summary = &stopped["autotranscribeResponse"][role]["summary"];
        assert_eq!(summary["transcripts"], said.len(), "{stopped}");
        assert!(
            summary["totalAudioBytes"].as_i64().unwrap() >= 10 * 16_000,
            "{stopped}"
        );
    }
}
