//! Redaction end to end: a customer reads a card number digit by digit (real recorded
//! speech); the message is stored and published masked, and the digits are nowhere in
//! the database unless the conversation asked for the unredacted text too.

use std::time::Duration;

use callscribe_devtools::emulator::{Faults, stream_arn};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_app, spawn_speech_app, start_body};
use crate::kvs_emulator::{CONTACT, spawn_emulator, stream_of};

const CARD: &str = "4539148803436467";

async fn read_card_number(app: &TestApp, output: &str, keep_last_four: bool) -> Vec<Value> {
    let customer = crate::transcription::fixture("allison-card-digits.wav");
    let agent = vec![0i16; customer.len()];
    let _kvs = spawn_emulator(
        vec![stream_of("card", customer, agent, Faults::default())],
        8.0,
    );
    let (tenant, key) = app.tenant_with_key().await;
    app.point_tenant_at(&tenant, &_kvs.url).await;
    if keep_last_four {
        let keep = json!({"entities": ["CREDIT_CARD_NUMBER"], "cardKeepLastFour": true});
        let path = format!("/tenants/{tenant}/redaction");
        let res = app.admin(reqwest::Method::PUT, &path, Some(keep)).await;
        assert_eq!(res.status(), 200);
    }
    let mut b = start_body(CONTACT);
    b["autotranscribeParams"] = json!({"detailedToken": true, "redactionOutput": output});
    b["amazonConnectParams"] =
        json!({"streamArn": stream_arn("card"), "startSelectorType": "EARLIEST"});
    let res = app.start(&key, &b).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.streams_ended(Duration::from_secs(120)).await;
    body(app.stop(&key, CONTACT).await).await;
    body(app.messages(&key, CONTACT).await).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every text column of the messages table, as one string.
async fn stored_text(app: &TestApp) -> String {
    let db = app.state.store.db();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "select text, coalesce(unredacted_text, ''), coalesce(tokens, '') from messages",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (0..3)
                .map(|i| r.try_get_by_index::<String>(i).unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn a_spoken_card_number_is_masked_everywhere() {
    let app = spawn_speech_app().await;
    let mut published = app.state.publisher.subscribe();
    let items = read_card_number(&app, "redacted", false).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    let text = items[0]["text"].as_str().unwrap();
    assert_eq!(text.matches('#').count(), 16, "{text}");
    assert_eq!(digits(text), "");
    for token in items[0]["tokens"].as_array().unwrap() {
        assert_eq!(digits(token["content"].as_str().unwrap()), "", "{token}");
    }
    assert!(items[0].get("unredactedText").is_none());
    let sent = published.try_recv().expect("published");
    assert_eq!(sent.message.text, text);
    assert_eq!(sent.message.unredacted_text, None);
    let stored = stored_text(&app).await;
    assert!(!digits(&stored).contains(&CARD[..4]), "{stored}");

    // Asked for both: the unredacted text is kept beside the masked one.
    let app = spawn_speech_app().await;
    let items = read_card_number(&app, "redacted_and_unredacted", false).await;
    assert_eq!(digits(items[0]["text"].as_str().unwrap()), "");
    assert_eq!(digits(items[0]["unredactedText"].as_str().unwrap()), CARD);

    // The tenant keeps a card's last four: only they are left.
    let app = spawn_speech_app().await;
    let items = read_card_number(&app, "redacted", true).await;
    let text = items[0]["text"].as_str().unwrap();
    assert_eq!(digits(text), CARD[12..], "{text}");
}

#[tokio::test]
async fn the_tenant_sets_default_entities_and_a_start_may_override_them() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    app.point_tenant_at(&tenant, &app.kvs.url).await;
    let path = format!("/tenants/{tenant}/redaction");
    let shown = body(app.admin(Method::GET, &path, None).await).await;
    assert_eq!(
        shown,
        json!({"entities": ["CREDIT_CARD_NUMBER", "CVV", "PIN", "SSN", "PASSWORD"],
            "cardKeepLastFour": false})
    );
    let set = json!({"entities": ["EMAIL", "PIN", "EMAIL"], "cardKeepLastFour": true});
    let shown = body(app.admin(Method::PUT, &path, Some(set)).await).await;
    assert_eq!(
        shown,
        json!({"entities": ["EMAIL", "PIN"], "cardKeepLastFour": true})
    );
    let set = json!({"entities": ["EMAIL", "PIN"]});
    let shown = body(app.admin(Method::PUT, &path, Some(set)).await).await;
    assert_eq!(
        shown["cardKeepLastFour"],
        json!(false),
        "off unless it is asked for"
    );
    crate::helpers::assert_error(
        app.admin(Method::PUT, &path, Some(json!({"entities": ["SHOE_SIZE"]})))
            .await,
        400,
        "400-01",
    )
    .await;

    let applied = |guid: &'static str| {
        let app = &app;
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            entity::conversation::Entity::find()
                .filter(entity::conversation::Column::ExternalId.eq(guid))
                .one(app.state.store.db())
                .await
                .unwrap()
                .unwrap()
                .redaction_entities
        }
    };
    let res = app
        .start(&key, &start_body("11111111-1111-4111-8111-111111111111"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        applied("11111111-1111-4111-8111-111111111111")
            .await
            .as_deref(),
        Some(r#"["EMAIL","PIN"]"#),
        "the tenant's defaults"
    );
    let mut b = start_body("22222222-2222-4222-8222-222222222222");
    b["autotranscribeParams"]["redactionEntities"] = json!(["SSN"]);
    assert_eq!(app.start(&key, &b).await.status(), 200);
    assert_eq!(
        applied("22222222-2222-4222-8222-222222222222")
            .await
            .as_deref(),
        Some(r#"["SSN"]"#),
        "the request's own"
    );
}
