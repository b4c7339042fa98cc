//! start-streaming and stop-streaming: the contract's answers and state rules.

use serde_json::{Value, json};

use crate::helpers::{assert_error, body, spawn_app, spawn_app_with, start_body};

fn stream_ids(b: &Value) -> (String, String) {
    let r = &b["autotranscribeResponse"];
    (
        r["customer"]["streamId"].as_str().unwrap().to_owned(),
        r["agent"]["streamId"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn start_streaming_registers_the_conversation_and_two_streams() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let res = app
        .start(&key, &start_body("8c259fea-8764-4a92-adc4-73572e9cf016"))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let b = body(res).await;
    assert_eq!(b["isOk"], true);
    for who in ["customer", "agent"] {
        let p = &b["autotranscribeResponse"][who];
        assert_eq!(p["status"], json!({"code": 1000, "description": "OK"}));
        assert!(uuid::Uuid::parse_str(p["streamId"].as_str().unwrap()).is_ok());
        assert!(p.get("summary").is_none(), "no summary on start");
    }
    let (customer, agent) = stream_ids(&b);
    assert_ne!(customer, agent);
    use sea_orm::{EntityTrait, PaginatorTrait};
    let streams = entity::stream::Entity::find()
        .all(app.state.store.db())
        .await
        .unwrap();
    let mut stored: Vec<_> = streams.iter().map(|s| s.id.clone()).collect();
    stored.sort();
    let mut expected = vec![customer, agent];
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(
        entity::conversation::Entity::find()
            .count(app.state.store.db())
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn starting_a_streaming_conversation_again_is_409() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    assert_eq!(app.start(&key, &start_body("c-409")).await.status(), 200);
    assert_error(app.start(&key, &start_body("c-409")).await, 409, "409-01").await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::stream::Entity::find()
            .count(app.state.store.db())
            .await
            .unwrap(),
        2,
        "no extra streams"
    );
}

#[tokio::test]
async fn concurrent_double_start_admits_exactly_one() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let body = start_body("c-race");
    let (a, b) = tokio::join!(app.start(&key, &body), app.start(&key, &body));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(app.conversation_count().await, 1);
}

#[tokio::test]
async fn stop_returns_summaries_and_is_idempotent() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let started = body(app.start(&key, &start_body("c-stop")).await).await;
    let res = app.stop(&key, "c-stop").await;
    assert_eq!(res.status(), 200);
    let first = body(res).await;
    assert_eq!(
        stream_ids(&first),
        stream_ids(&started),
        "stop answers for the started streams"
    );
    for who in ["customer", "agent"] {
        let s = &first["autotranscribeResponse"][who]["summary"];
        for field in [
            "totalAudioBytes",
            "audioDurationMs",
            "streamingSeconds",
            "transcripts",
        ] {
            assert!(s[field].is_i64(), "{who}.summary.{field} in {first}");
        }
        assert!(
            s["streamingSeconds"].as_i64().unwrap() >= 1,
            "wall-clock seconds are rounded up"
        );
    }
    let again = body(app.stop(&key, "c-stop").await).await;
    assert_eq!(
        again, first,
        "stopping a stopped conversation returns the last summary"
    );
}

#[tokio::test]
async fn stop_of_unknown_guid_is_404() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let msg = assert_error(app.stop(&key, "never-started").await, 404, "404-01").await;
    assert!(msg.contains("never-started"), "{msg}");
}

#[tokio::test]
async fn restart_after_stop_resumes_the_same_conversation_with_new_streams() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let first = body(app.start(&key, &start_body("c-hold")).await).await;
    assert_eq!(app.stop(&key, "c-hold").await.status(), 200);
    let res = app.start(&key, &start_body("c-hold")).await;
    assert_eq!(res.status(), 200);
    let second = body(res).await;
    let (c1, a1) = stream_ids(&first);
    let (c2, a2) = stream_ids(&second);
    assert!(c1 != c2 && a1 != a2, "new streamIds after a hold");
    assert_eq!(app.conversation_count().await, 1, "same conversation");
    let stopped = body(app.stop(&key, "c-hold").await).await;
    assert_eq!(
        stream_ids(&stopped),
        (c2, a2),
        "stop reports the current streams"
    );
}

#[tokio::test]
async fn selectors_from_the_connect_event_are_accepted() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let mut b = start_body("c-frag");
    b["amazonConnectParams"] = json!({
        "streamArn": crate::helpers::STREAM_ARN,
        "startSelectorType": "FRAGMENT_NUMBER",
        "afterFragmentNumber": "91343852333181432392682062607743920146264440096"
    });
    assert_eq!(app.start(&key, &b).await.status(), 200);
    let mut b = start_body("c-ts");
    b["amazonConnectParams"] = json!({
        "streamArn": crate::helpers::STREAM_ARN,
        "startSelectorType": "SERVER_TIMESTAMP",
        "startTimestamp": 1_764_000_000_000_i64
    });
    assert_eq!(app.start(&key, &b).await.status(), 200);
    let minimal = json!({"namespace": "amazonconnect", "guid": "c-min", "customerId": "c", "agentId": "a",
        "amazonConnectParams": {"streamArn": crate::helpers::STREAM_ARN}});
    assert_eq!(
        app.start(&key, &minimal).await.status(),
        200,
        "defaults fill the optional fields"
    );
}

#[tokio::test]
async fn draining_service_refuses_new_starts_with_503() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    app.state.shutdown.cancel();
    let res = app.start(&key, &start_body("c-drain")).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, "503-01").await;
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn a_start_beyond_the_replicas_limit_is_503_and_the_running_call_is_untouched() {
    let app = spawn_app_with(|c| c.cluster.max_conversations = 1).await;
    let (_, key) = app.tenant_with_key().await;
    assert_eq!(app.start(&key, &start_body("c-first")).await.status(), 200);
    let res = app.start(&key, &start_body("c-second")).await;
    assert!(res.headers().contains_key("retry-after"));
    let msg = assert_error(res, 503, "503-01").await;
    assert!(msg.contains("limit of 1 conversations"), "{msg}");
    assert_eq!(
        app.conversation_count().await,
        1,
        "the refused call left nothing"
    );
    let stopped = body(app.stop(&key, "c-first").await).await;
    let customer = &stopped["autotranscribeResponse"]["customer"];
    assert_eq!(customer["status"]["code"], 1000, "{stopped}");
    assert_eq!(
        app.start(&key, &start_body("c-second")).await.status(),
        200,
        "room again once the first call stopped"
    );
}

#[tokio::test]
async fn start_on_a_stream_kvs_does_not_know_is_422() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let mut b = start_body("c-422");
    b["amazonConnectParams"]["streamArn"] =
        json!("arn:aws:kinesisvideo:us-east-1:000000000000:stream/no-such/0");
    let msg = assert_error(app.start(&key, &b).await, 422, "422-01").await;
    assert!(msg.contains("ResourceNotFoundException"), "{msg}");
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn start_when_kvs_denies_access_is_422() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let mut b = start_body("c-denied");
    b["amazonConnectParams"]["streamArn"] = json!(crate::helpers::DENIED_STREAM_ARN);
    let msg = assert_error(app.start(&key, &b).await, 422, "422-01").await;
    assert!(msg.contains("NotAuthorizedException"), "{msg}");
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn stop_reports_the_audio_measured_from_kvs() {
    use crate::kvs_emulator::{CONTACT, spawn_emulator, stream};
    let app = spawn_app().await;
    let fast = spawn_emulator(vec![stream("short-call", 3, Default::default())], 20.0);
    let (tenant, key) = app.tenant_with_key().await;
    app.point_tenant_at(&tenant, &fast.url).await;
    let mut b = start_body(CONTACT);
    b["amazonConnectParams"] = json!({"streamArn": callscribe_devtools::emulator::stream_arn("short-call"), "startSelectorType": "EARLIEST"});
    assert_eq!(app.start(&key, &b).await.status(), 200);
    assert_eq!(app.state.metrics.sessions.active.get(), 1, "reading");
    let ended = app.streams_ended(std::time::Duration::from_secs(10)).await;
    assert!(
        ended.iter().all(|r| r.status_code == 1008),
        "the call's audio ended at its source"
    );
    let stopped = body(app.stop(&key, CONTACT).await).await;
    for who in ["customer", "agent"] {
        let p = &stopped["autotranscribeResponse"][who];
        assert_eq!(p["status"]["code"], 1008);
        assert_eq!(
            p["summary"]["totalAudioBytes"],
            3 * 8000 * 2,
            "{who}: every sample of 3 s"
        );
        assert_eq!(p["summary"]["audioDurationMs"], 3000);
    }
    assert_eq!(app.state.metrics.sessions.active.get(), 0, "over");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"callscribe_stream_ends_total{status="ended_by_source"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("callscribe_active_conversations 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn stop_mid_call_ends_reading_and_reports_ok() {
    use crate::kvs_emulator::CONTACT;
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let mut b = start_body(CONTACT);
    b["amazonConnectParams"]["startSelectorType"] = json!("EARLIEST");
    assert_eq!(app.start(&key, &b).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("callscribe_active_conversations 1"),
        "{metrics}"
    );
    let stopped = body(app.stop(&key, CONTACT).await).await;
    let sessions = &app.state.metrics.sessions;
    assert_eq!(sessions.active.get(), 0, "stopped");
    assert_eq!(sessions.stream_ends.with_label_values(&["ok"]).get(), 2);
    let customer = &stopped["autotranscribeResponse"]["customer"];
    assert_eq!(customer["status"]["code"], 1000, "{stopped}");
    let bytes = customer["summary"]["totalAudioBytes"].as_i64().unwrap();
    assert!(bytes >= 16384, "at least one fragment read: {bytes}");
    assert_eq!(
        customer["summary"]["audioDurationMs"].as_i64().unwrap(),
        bytes / 16
    );
    // The emulator notices the closed connection when it next writes (a fragment a second).
    let mut open = 1;
    for _ in 0..100 {
        open = app.kvs.counters("connect-contact-1").active_sessions;
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "GetMedia closed after stop");
}

/// The guide's Lambdas may send `InitialContactId` or `PreviousContactId` as the guid,
/// while a transferred call's stream carries its current ContactId: such a start reads
/// and transcribes the whole call, and ends with its source, not with a contact change.
#[tokio::test]
async fn a_guid_that_is_not_the_streams_contact_id_is_read_and_transcribed() {
    use crate::kvs_emulator::{spawn_emulator, stream_of};
    use crate::transcription::fixture;
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let speech = fixture("jfk-8k.wav");
    let silence = vec![0; speech.len()];
    let mut call = stream_of("transferred", speech.clone(), silence, Default::default());
    call.media.contact_id = "contact-after-the-transfer".into();
    let kvs = spawn_emulator(vec![call], 8.0);
    app.point_tenant_at(&tenant, &kvs.url).await;
    let guid = "initial-contact-id-from-the-lambda";
    let mut b = start_body(guid);
    b["amazonConnectParams"] = json!({"streamArn": callscribe_devtools::emulator::stream_arn("transferred"), "startSelectorType": "EARLIEST"});
    assert_eq!(app.start(&key, &b).await.status(), 200);
    app.streams_ended(std::time::Duration::from_secs(60)).await;
    let stopped = body(app.stop(&key, guid).await).await;
    let customer = &stopped["autotranscribeResponse"]["customer"];
    assert_eq!(customer["status"]["code"], 1008, "{customer}");
    let why = customer["status"]["description"].as_str().unwrap();
    assert!(!why.contains("another contact"), "{why}");
    assert_eq!(customer["summary"]["totalAudioBytes"], speech.len() * 2);
    assert!(!app.message_items(&key, guid).await.is_empty());
}
