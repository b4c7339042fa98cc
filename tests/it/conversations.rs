//! After-call retrieval: messages written by the store function the pipeline calls,
//! read back in order; the API serves the first 1,000.

use callscribe::ids::{ConversationId, MessageId, Role, StreamId};
use callscribe::store::messages::{Appended, MESSAGE_CAP, NewMessage};
use chrono::Utc;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, body, spawn_app, start_body};

/// Starts `guid` and returns the conversation id and the customer and agent stream ids.
async fn started(
    app: &TestApp,
    key: &str,
    tenant: &str,
    guid: &str,
) -> (ConversationId, StreamId, StreamId) {
    let b = body(app.start(key, &start_body(guid)).await).await;
    let stream = |who: &str| {
        StreamId(
            b["autotranscribeResponse"][who]["streamId"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let tenant = callscribe::ids::TenantId(tenant.to_owned());
    let conv = app
        .state
        .store
        .conversation_by_external_id(&tenant, guid)
        .await
        .unwrap()
        .unwrap();
    (ConversationId(conv.id), stream("customer"), stream("agent"))
}

fn utterance(conversation: &ConversationId, stream: &StreamId, role: Role, i: i64) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation.clone(),
        stream_id: stream.clone(),
        role,
        sender_external_id: if role == Role::Customer {
            "TT9833237"
        } else {
            "RE223444211993"
        }
        .into(),
        start_ms: i * 1000,
        end_ms: i * 1000 + 800,
        text: format!("utterance {i}"),
        unredacted_text: None,
        tokens: None,
        created_at: Utc::now(),
    }
}

#[tokio::test]
async fn messages_come_back_in_transcription_order_with_the_contract_shape() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (conv, customer, agent) = started(&app, &key, &tenant, "c-msgs").await;
    let mut m = utterance(&conv, &customer, Role::Customer, 0);
    m.text = "my PIN number is ####".into();
    m.unredacted_text = Some("my PIN number is 1234".into());
    m.tokens = Some(r#"[{"content":"my","start":400,"end":520}]"#.into());
    app.state.store.append_message(&m).await.unwrap();
    app.state
        .store
        .append_message(&utterance(&conv, &agent, Role::Agent, 1))
        .await
        .unwrap();

    let res = app.messages(&key, "c-msgs").await;
    assert_eq!(res.status(), 200);
    let items = body(res).await["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let first = &items[0];
    assert_eq!(first["messageId"], m.id.0.as_str());
    assert_eq!(first["streamId"], customer.0.as_str());
    assert_eq!(first["text"], "my PIN number is ####");
    assert_eq!(first["unredactedText"], "my PIN number is 1234");
    assert_eq!(
        first["tokens"],
        json!([{"content": "my", "start": 400, "end": 520}])
    );
    assert_eq!(
        first["sender"],
        json!({"role": "customer", "externalId": "TT9833237"})
    );
    assert_eq!(
        (first["start"].as_i64(), first["end"].as_i64()),
        (Some(0), Some(800))
    );
    let ts = first["createdTimestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "{ts}"
    );
    assert_eq!(items[1]["sender"]["role"], "agent");
    assert!(items[1].get("unredactedText").is_none() && items[1].get("tokens").is_none());
}

#[tokio::test]
async fn the_api_serves_the_first_thousand_messages_and_the_store_keeps_all() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (conv, customer, _) = started(&app, &key, &tenant, "c-cap").await;
    let store = &app.state.store;
    for i in 0..i64::from(MESSAGE_CAP) {
        let outcome = store
            .append_message(&utterance(&conv, &customer, Role::Customer, i))
            .await
            .unwrap();
        assert_eq!(outcome, Appended { seq: i as i32 + 1 });
        assert!(outcome.retrievable());
    }
    let over = store
        .append_message(&utterance(&conv, &customer, Role::Customer, 1000))
        .await
        .unwrap();
    assert_eq!(over, Appended { seq: 1001 });
    assert!(!over.retrievable());
    let items = body(app.messages(&key, "c-cap").await).await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1000);
    assert_eq!(items[0]["text"], "utterance 0");
    assert_eq!(items[999]["text"], "utterance 999");
    assert_eq!(
        stored_seqs(&app, &conv).await,
        (1..=1001).collect::<Vec<_>>()
    );
}

/// Every stored sequence number of a conversation, in order (past the cap too).
async fn stored_seqs(app: &TestApp, conv: &ConversationId) -> Vec<i32> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    entity::message::Entity::find()
        .filter(entity::message::Column::ConversationId.eq(conv.0.as_str()))
        .order_by_asc(entity::message::Column::Seq)
        .all(app.state.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.seq)
        .collect()
}

#[tokio::test]
async fn concurrent_writers_never_reuse_a_sequence_number() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (conv, customer, agent) = started(&app, &key, &tenant, "c-race-cap").await;
    let store = app.state.store.clone();
    for i in 0..990 {
        store
            .append_message(&utterance(&conv, &customer, Role::Customer, i))
            .await
            .unwrap();
    }
    let writers = (0..4).map(|w| {
        let (store, conv, stream) = (
            store.clone(),
            conv.clone(),
            if w % 2 == 0 {
                customer.clone()
            } else {
                agent.clone()
            },
        );
        tokio::spawn(async move {
            let mut retrievable = 0;
            for i in 0..10 {
                let m = utterance(&conv, &stream, Role::Agent, 2000 + w * 100 + i);
                if store
                    .append_message(&m)
                    .await
                    .expect("append")
                    .retrievable()
                {
                    retrievable += 1;
                }
            }
            retrievable
        })
    });
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 10, "exactly the 10 places under the cap were served");
    assert_eq!(store.messages(&conv).await.unwrap().len(), 1000);
    assert_eq!(
        stored_seqs(&app, &conv).await,
        (1..=1030).collect::<Vec<_>>(),
        "no sequence number reused or skipped"
    );
}

#[tokio::test]
async fn messages_of_unknown_conversation_are_404() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    assert_error(app.messages(&key, "nobody").await, 404, "404-01").await;
}

#[tokio::test]
async fn started_conversation_without_utterances_has_no_items() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    app.start(&key, &start_body("c-empty")).await;
    assert_eq!(
        body(app.messages(&key, "c-empty").await).await,
        json!({"items": []})
    );
}

#[tokio::test]
async fn a_message_stored_after_a_read_appears_in_the_next_read() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (conv, customer, _) = started(&app, &key, &tenant, "c-fresh").await;
    let store = &app.state.store;
    store
        .append_message(&utterance(&conv, &customer, Role::Customer, 0))
        .await
        .unwrap();
    let first = body(app.messages(&key, "c-fresh").await).await;
    assert_eq!(
        first,
        body(app.messages(&key, "c-fresh").await).await,
        "repeated read is identical"
    );
    store
        .append_message(&utterance(&conv, &customer, Role::Customer, 1))
        .await
        .unwrap();
    let second = body(app.messages(&key, "c-fresh").await).await;
    assert_eq!(
        second["items"].as_array().unwrap().len(),
        2,
        "the rendered list is not served stale"
    );
}

#[tokio::test]
async fn a_stored_value_outside_its_column_type_fails_the_read_instead_of_becoming_a_default() {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (conversation, _, _) = started(&app, &key, &tenant, "typed-columns").await;
    let db = app.state.store.db();
    let row = entity::conversation::Entity::find_by_id(conversation.0.clone())
        .one(db)
        .await
        .expect("the row as written reads back")
        .expect("row");
    assert_eq!(row.state, entity::ConversationState::Streaming);
    assert_eq!(row.start_selector_type, entity::StartSelectorType::Now);

    db.execute_unprepared("UPDATE streams SET role = 'moderator'")
        .await
        .unwrap();
    let err = entity::stream::Entity::find()
        .all(db)
        .await
        .expect_err("an unknown role is an error");
    assert!(err.to_string().contains("moderator"), "{err}");
    db.execute_unprepared("UPDATE conversations SET start_selector_type = 'LATEST'")
        .await
        .unwrap();
    let err = app
        .state
        .store
        .conversation(&conversation)
        .await
        .expect_err("an unknown selector is an error");
    assert!(err.to_string().contains("LATEST"), "{err}");
}
