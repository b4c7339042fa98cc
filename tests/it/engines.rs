//! Which engine transcribes what: the tenant's choice through the admin API, Spanish
//! always on Whisper base (with the real model: its text, and numbers masked by the
//! conservative Spanish rule), and clear errors for unknown engines.

use std::time::Duration;

use callscribe_devtools::emulator::{Faults, stream_arn};
use reqwest::Method;
use serde_json::{Value, json};

use callscribe::audio::resample::upsample;
use callscribe::transcribe::language::Route;

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_moonshine_app, start_body};
use crate::kvs_emulator::{spawn_emulator, stream_of};
use crate::transcription::fixture;

/// Decodes the app's pool made with `model`.
fn decodes(app: &TestApp, model: &str) -> u64 {
    app.state
        .metrics
        .engine
        .decodes
        .with_label_values(&[model])
        .get()
}

/// A call of `customer` and `agent` (8 kHz speech) in `language` for the tenant, to the
/// end; its messages.
async fn call(
    app: &TestApp,
    tenant: &str,
    key: &str,
    language: &str,
    customer: Vec<i16>,
    agent: Vec<i16>,
) -> Vec<Value> {
    let guid = uuid::Uuid::new_v4().to_string();
    let mut stream = stream_of("call", customer, agent, Faults::default());
    stream.media.contact_id = guid.clone();
    let kvs = spawn_emulator(vec![stream], 8.0);
    app.point_tenant_at(tenant, &kvs.url).await;
    let mut b = start_body(&guid);
    b["autotranscribeParams"]["language"] = json!(language);
    b["amazonConnectParams"] =
        json!({"streamArn": stream_arn("call"), "startSelectorType": "EARLIEST"});
    let res = app.start(key, &b).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.streams_ended(Duration::from_secs(180)).await;
    body(app.stop(key, &guid).await).await;
    app.message_items(key, &guid).await
}

#[tokio::test]
async fn a_tenant_chooses_its_engine_and_spanish_always_goes_to_whisper_base() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let path = format!("/tenants/{tenant}/engine");
    let shown = body(app.admin(Method::GET, &path, None).await).await;
    assert_eq!(
        shown,
        json!({"model": "moonshine-base-en", "chosen": false})
    );

    let choice = json!({"model": "whisper-tiny-en"});
    let shown = body(app.admin(Method::PUT, &path, Some(choice)).await).await;
    assert_eq!(shown, json!({"model": "whisper-tiny-en", "chosen": true}));
    let said = fixture("allison-auth-thankyou.wav");
    let items = call(
        &app,
        &tenant,
        &key,
        "en-US",
        said.clone(),
        vec![0; said.len()],
    )
    .await;
    assert!(!items.is_empty());
    assert!(decodes(&app, "whisper-tiny-en") > 0);
    assert_eq!(decodes(&app, "moonshine-base-en"), 0);

    // Spanish goes to Whisper base whatever the tenant chose.
    let items = call(
        &app,
        &tenant,
        &key,
        "es-US",
        said.clone(),
        vec![0; said.len()],
    )
    .await;
    assert!(!items.is_empty());
    assert!(decodes(&app, "whisper-base") > 0);

    // Back to the server's default.
    let res = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(res.status(), 204);
    let shown = body(app.admin(Method::GET, &path, None).await).await;
    assert_eq!(shown["chosen"], false);
    call(
        &app,
        &tenant,
        &key,
        "en-GB",
        said.clone(),
        vec![0; said.len()],
    )
    .await;
    assert!(decodes(&app, "moonshine-base-en") > 0);
}

#[tokio::test]
async fn an_unknown_engine_or_tenant_is_a_clear_error() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/engine");
    let message = assert_error(
        app.admin(Method::PUT, &path, Some(json!({"model": "whisper-large"})))
            .await,
        400,
        "400-01",
    )
    .await;
    assert!(message.contains("model"), "{message}");
    assert_error(
        app.admin(Method::GET, "/tenants/nobody/engine", None).await,
        404,
        "404-01",
    )
    .await;
    assert_error(
        app.admin(Method::DELETE, "/tenants/nobody/engine", None)
            .await,
        404,
        "404-01",
    )
    .await;
}

/// Real Spanish speech (Allison Smith's Mexican Spanish Asterisk prompts): the agent's
/// prompt is transcribed in Spanish by Whisper base, and the customer's digits, the new
/// location's number the prompt asks for, are judged by Spanish cue words: no personal
/// number was asked for, so they stay (a card, CVV, PIN or SSN cue would mask them; the
/// redaction unit tests and `scripts/redact-eval` cover those).
#[tokio::test]
async fn a_spanish_call_is_transcribed_by_whisper_base_and_judged_by_spanish_cues() {
    let app = spawn_moonshine_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    // The agent asks, the customer answers a second after.
    let mut agent = fixture("es/es-agent-newlocation.wav");
    let mut customer = vec![0; agent.len() + 8_000];
    customer.extend(fixture("es/es-digits.wav"));
    agent.resize(customer.len(), 0);
    let items = call(&app, &tenant, &key, "es-US", customer, agent).await;
    let text = |role: &str| {
        items
            .iter()
            .filter(|m| m["sender"]["role"] == role)
            .map(|m| m["text"].as_str().unwrap().to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let agent_said = text("agent");
    for w in ["ingrese", "nueva", "tecla"] {
        assert!(agent_said.contains(w), "{w:?} missing from {agent_said:?}");
    }
    let customer_said = text("customer");
    assert!(
        customer_said.chars().filter(char::is_ascii_digit).count() >= 3,
        "a location number is no personal information: {customer_said:?}"
    );
    assert!(!customer_said.contains('#'), "{customer_said:?}");
    assert!(decodes(&app, "whisper-base") >= 2);
    assert_eq!(decodes(&app, "moonshine-base-en"), 0);
}

/// Moonshine base-en returns nothing for Allison's bare "tenth" (0.6 s cut tight; in a
/// call the endpointer's padding usually spares it this), a clearly voiced word: the
/// pool decodes it again with Whisper tiny.en, which hears it, and counts the fallback.
#[tokio::test]
async fn what_moonshine_misses_is_decoded_again_by_whisper_tiny() {
    let app = spawn_moonshine_app().await;
    let pool = app.state.engine.clone().expect("the engine pool");
    let clip: Vec<f32> = fixture("allison-tenth.wav")
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let decoded = pool
        .transcribe(upsample(&clip), Route::DEFAULT)
        .await
        .unwrap();
    let said = decoded.transcript;
    assert!(said.fallback, "{said:?}");
    assert!(said.text.to_lowercase().contains("10th"), "{said:?}");
    assert_eq!(app.state.metrics.engine.fallbacks.get(), 1);
    assert_eq!(decodes(&app, "moonshine-base-en"), 1);
}
