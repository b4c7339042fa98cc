//! The File Exporter end to end: utterances stored as the pipeline stores them, exported
//! by the same functions the daily task runs, listed and fetched through the API with
//! real keys, downloaded through the signed link and un-gzipped; plus crash recovery and
//! retention. The scheduler is off in these apps so each test drives the passes itself.

use std::io::Read;

use callscribe::export::job::{CLAIM_STALE, day_prefix};
use callscribe::export::schedule::{export_due, last_due_day, purge};
use callscribe::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use callscribe::kvs::arn::StreamArn;
use callscribe::store::conversations::{StartOutcome, StartSettings};
use callscribe::store::messages::NewMessage;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app_with};

async fn export_app() -> TestApp {
    spawn_app_with(|c| {
        c.export.scheduled = false;
        c.retention.batch_rows = 2;
    })
    .await
}

/// A stopped conversation of `tenant`, registered without a session.
async fn conversation(app: &TestApp, tenant: &str, guid: &str) -> (ConversationId, [StreamId; 2]) {
    let settings = StartSettings {
        customer_id: "TT9833237".into(),
        agent_id: "RE223444211993".into(),
        language: "en-US".into(),
        detailed_token: false,
        redaction_output: entity::RedactionOutput::Redacted,
        redaction_entities: None,
        stream_arn: StreamArn::parse("arn:aws:kinesisvideo:us-east-1:000000000000:stream/x/0")
            .expect("arn"),
        start_selector_type: entity::StartSelectorType::Now,
        after_fragment_number: None,
        start_timestamp_ms: None,
    };
    let store = &app.state.store;
    let StartOutcome::Started {
        conversation,
        streams,
        ..
    } = store
        .start_conversation(&TenantId(tenant.into()), guid, &settings, None)
        .await
        .unwrap()
    else {
        panic!("conversation {guid} already streaming");
    };
    let id = ConversationId(conversation.id);
    store.mark_stopped(&id).await.unwrap();
    let [customer, agent] = [&streams[0], &streams[1]].map(|s| StreamId(s.id.clone()));
    (id, [customer, agent])
}

/// Stores one utterance of `conversation` created at `at`.
async fn say(
    app: &TestApp,
    (conversation, streams): &(ConversationId, [StreamId; 2]),
    text: &str,
    at: DateTime<Utc>,
) -> NewMessage {
    let message = NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation.clone(),
        stream_id: streams[0].clone(),
        role: Role::Customer,
        sender_external_id: "TT9833237".into(),
        start_ms: 400,
        end_ms: 1400,
        text: text.into(),
        unredacted_text: None,
        tokens: None,
        created_at: at,
    };
    app.state.store.append_message(&message).await.unwrap();
    message
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_milli_opt(h, m, s, ms).unwrap())
        .and_utc()
}

fn days_ago(n: u64) -> NaiveDate {
    Utc::now().date_naive() - Days::new(n)
}

/// POSTs a File Exporter operation.
async fn feed(app: &TestApp, key: &str, op: &str, request: Value) -> reqwest::Response {
    app.post(&format!("/fileexporter/v1/static/{op}"), key, &request)
        .await
}

fn day_request(day: NaiveDate) -> Value {
    json!({"feed": "utterances", "version": "1", "format": "jsonl",
           "date": day.format("%Y-%m-%d").to_string()})
}

/// The files of each interval of a day, as the API lists them.
async fn listed(app: &TestApp, key: &str, day: NaiveDate) -> Vec<(String, Vec<String>)> {
    let intervals = body(feed(app, key, "listfeedintervals", day_request(day)).await).await;
    let mut out = Vec::new();
    for interval in intervals["intervals"].as_array().unwrap() {
        let mut request = day_request(day);
        request["interval"] = interval.clone();
        let files = body(feed(app, key, "listfeedfiles", request).await).await;
        let names = files["files"].as_array().unwrap();
        out.push((
            interval.as_str().unwrap().to_owned(),
            names
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect(),
        ));
    }
    out
}

/// A link to `file` of `day`, from `getfeedfile`.
async fn link(app: &TestApp, key: &str, day: NaiveDate, file: &str) -> reqwest::Response {
    let mut request = day_request(day);
    request["fileName"] = json!(file);
    feed(app, key, "getfeedfile", request).await
}

/// Downloads a link without any credential and returns its JSON lines.
async fn download(app: &TestApp, url: &str) -> Vec<Value> {
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    assert_eq!(res.headers()["content-type"], "application/gzip");
    let length: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = res.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every line of a day's feed, file by file, in the API's order.
async fn whole_day(app: &TestApp, key: &str, day: NaiveDate) -> Vec<Value> {
    let mut lines = Vec::new();
    for (_, files) in listed(app, key, day).await {
        for file in files {
            let url = body(link(app, key, day, &file).await).await["url"]
                .as_str()
                .unwrap()
                .to_owned();
            lines.extend(download(app, &url).await);
        }
    }
    lines
}

fn texts(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["text"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_day_is_exported_per_tenant_and_hour_with_every_utterance() {
    let app = export_app().await;
    let (a, key_a) = app.tenant_with_key().await;
    let (b, key_b) = app.tenant_with_key().await;
    let day = days_ago(3);
    let a1 = conversation(&app, &a, "contact-a1").await;
    let a2 = conversation(&app, &a, "contact-a2").await;
    let b1 = conversation(&app, &b, "contact-b1").await;
    let before = say(
        &app,
        &a1,
        "the day before",
        at(day.pred_opt().unwrap(), 23, 59, 59, 999),
    )
    .await;
    say(&app, &a1, "a1 midnight", at(day, 0, 0, 0, 0)).await;
    say(&app, &a1, "a1 ten past", at(day, 0, 10, 0, 0)).await;
    say(&app, &a2, "a2 morning", at(day, 7, 45, 0, 0)).await;
    say(&app, &a1, "a1 morning", at(day, 7, 30, 0, 0)).await;
    say(&app, &a1, "a1 last", at(day, 23, 59, 59, 999)).await;
    say(
        &app,
        &a1,
        "the day after",
        at(day.succ_opt().unwrap(), 0, 0, 0, 0),
    )
    .await;
    say(&app, &b1, "b1 noon", at(day, 12, 0, 0, 0)).await;
    say(&app, &b1, "b1 noon again", at(day, 12, 30, 0, 0)).await;

    let pass = export_due(&app.state.maintenance(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pass.failed, Vec::<String>::new());
    let rows: u64 = pass.exported.iter().map(|e| e.rows).sum();
    assert_eq!(rows, 9, "every utterance exported once");
    assert!(
        export_due(&app.state.maintenance(), Utc::now())
            .await
            .unwrap()
            .exported
            .is_empty(),
        "a second pass finds nothing left to do"
    );

    let dates = body(feed(&app, &key_a, "listfeeddates", day_request(day)).await).await;
    // From the oldest utterance's day to the last day due (yesterday after 02:00).
    let last_due = last_due_day(Utc::now(), app.state.config.export.daily_at.0);
    let expected: Vec<String> = day
        .pred_opt()
        .unwrap()
        .iter_days()
        .take_while(|d| *d <= last_due)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    assert_eq!(dates["dates"], json!(expected));
    let d = day.format("%Y-%m-%d");
    assert_eq!(
        listed(&app, &key_a, day).await,
        vec![
            (
                "hr=00".into(),
                vec![format!("utterances-{d}-hr00.jsonl.gz")]
            ),
            (
                "hr=07".into(),
                vec![format!("utterances-{d}-hr07.jsonl.gz")]
            ),
            (
                "hr=23".into(),
                vec![format!("utterances-{d}-hr23.jsonl.gz")]
            ),
        ]
    );
    let lines = whole_day(&app, &key_a, day).await;
    assert_eq!(
        texts(&lines),
        vec![
            "a1 midnight",
            "a1 ten past",
            "a1 morning",
            "a2 morning",
            "a1 last"
        ],
        "tenant A's day, in time order, without the neighbouring days"
    );
    assert_eq!(lines[3]["conversationId"], "contact-a2");
    assert_eq!(lines[4]["createdTimestamp"], format!("{d}T23:59:59.999Z"));
    assert_eq!(
        lines[0]["sender"],
        json!({"role": "customer", "externalId": "TT9833237"})
    );
    let earlier = whole_day(&app, &key_a, day.pred_opt().unwrap()).await;
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0]["messageId"], before.id.0.as_str());

    assert_eq!(
        texts(&whole_day(&app, &key_b, day).await),
        vec!["b1 noon", "b1 noon again"]
    );
    // Tenant A's files do not exist for tenant B.
    assert_error(
        link(&app, &key_b, day, &format!("utterances-{d}-hr07.jsonl.gz")).await,
        404,
        "404-01",
    )
    .await;
    let mut request = day_request(day);
    request["interval"] = json!("hr=07");
    assert_error(
        feed(&app, &key_b, "listfeedfiles", request).await,
        404,
        "404-01",
    )
    .await;
}

#[tokio::test]
async fn the_listing_narrows_one_parameter_at_a_time_and_refuses_unknown_ones() {
    let app = export_app().await;
    let (_, key) = app.tenant_with_key().await;
    assert_eq!(
        body(feed(&app, &key, "listfeeds", json!({})).await).await,
        json!({"feeds": ["utterances"]})
    );
    assert_eq!(
        body(
            feed(
                &app,
                &key,
                "listfeedversions",
                json!({"feed": "utterances"})
            )
            .await
        )
        .await,
        json!({"versions": ["1"]})
    );
    assert_eq!(
        body(
            feed(
                &app,
                &key,
                "listfeedformats",
                json!({"feed": "utterances", "version": "1"})
            )
            .await
        )
        .await,
        json!({"formats": ["jsonl"]})
    );
    assert_eq!(
        body(feed(&app, &key, "listfeeddates", day_request(days_ago(1))).await).await,
        json!({"dates": []})
    );
    let message = assert_error(
        feed(&app, &key, "listfeedversions", json!({"feed": "calls"})).await,
        404,
        "404-01",
    )
    .await;
    assert!(message.contains("utterances"), "{message}");
    assert_error(
        feed(
            &app,
            &key,
            "listfeedformats",
            json!({"feed": "utterances", "version": "2"}),
        )
        .await,
        404,
        "404-01",
    )
    .await;
    let mut bad_date = day_request(days_ago(1));
    bad_date["date"] = json!("23/11/2026");
    let message = assert_error(
        feed(&app, &key, "listfeedintervals", bad_date).await,
        400,
        "400-01",
    )
    .await;
    assert!(message.contains("date"), "{message}");
    assert_error(
        feed(&app, &key, "listfeedintervals", day_request(days_ago(1))).await,
        404,
        "404-01",
    )
    .await;
    assert_error(
        feed(&app, &key, "listfeedversions", json!({})).await,
        400,
        "400-01",
    )
    .await;
    assert_error(
        feed(&app, "not-a-key", "listfeeds", json!({})).await,
        401,
        "401-01",
    )
    .await;
}

#[tokio::test]
async fn a_conversation_of_1200_utterances_is_whole_in_the_feed_and_capped_in_the_api() {
    let app = export_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let day = days_ago(2);
    let long = conversation(&app, &tenant, "contact-long").await;
    for i in 0..1200 {
        say(
            &app,
            &long,
            &format!("utterance {i}"),
            at(day, 9, 0, i / 1000, i % 1000),
        )
        .await;
    }
    callscribe::export::schedule::export_due(&app.state.maintenance(), Utc::now())
        .await
        .unwrap();
    let lines = whole_day(&app, &key, day).await;
    assert_eq!(lines.len(), 1200);
    let sequences: Vec<i64> = lines
        .iter()
        .map(|l| l["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=1200).collect::<Vec<_>>());
    assert_eq!(lines[1199]["text"], "utterance 1199");
    let served = body(app.messages(&key, "contact-long").await).await;
    assert_eq!(served["items"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn expired_altered_and_forged_links_are_refused_alike() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = export_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (other, _) = app.tenant_with_key().await;
    let day = days_ago(2);
    let c = conversation(&app, &tenant, "contact-link").await;
    say(&app, &c, "hello", at(day, 8, 0, 0, 0)).await;
    export_due(&app.state.maintenance(), Utc::now())
        .await
        .unwrap();
    let file = format!("utterances-{}-hr08.jsonl.gz", day.format("%Y-%m-%d"));
    let answer = body(link(&app, &key, day, &file).await).await;
    let url = answer["url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.url("/fileexporter/v1/files/")),
        "{url}"
    );
    let expires = DateTime::parse_from_rfc3339(answer["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires.timestamp() - Utc::now().timestamp();
    assert!((890..=900).contains(&ttl), "15 minutes by default: {ttl}");
    assert_eq!(download(&app, url).await.len(), 1, "the genuine link works");

    let token = url.rsplit('/').next().unwrap();
    let (payload, tag) = token.split_once('.').unwrap();
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let forged_payload = URL_SAFE_NO_PAD.encode(decoded.replace(&tenant, &other));
    let expired = app.state.links.sign(&callscribe::export::link::FileGrant {
        tenant_id: TenantId(tenant.clone()),
        date: day,
        file_name: file.clone(),
        expires: Utc::now() - chrono::Duration::seconds(1),
    });
    let mut flipped = token.to_owned().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    for bad in [
        format!("{forged_payload}.{tag}"),
        String::from_utf8(flipped).unwrap(),
        expired,
        "nothing-here".into(),
    ] {
        let res = app.get(&format!("/fileexporter/v1/files/{bad}")).await;
        assert_error(res, 403, "403-01").await;
    }
    // A genuine link to a file that is not (or no longer) there is 404.
    let missing = app.state.links.sign(&callscribe::export::link::FileGrant {
        tenant_id: TenantId(tenant.clone()),
        date: day,
        file_name: "utterances-none.jsonl.gz".into(),
        expires: Utc::now() + chrono::Duration::seconds(60),
    });
    assert_error(
        app.get(&format!("/fileexporter/v1/files/{missing}")).await,
        404,
        "404-01",
    )
    .await;
}

/// Stores `count` utterances of one conversation spread over three hours of `day`, in
/// multi-row inserts (the pipeline's one-by-one path is too slow for this many).
async fn bulk(app: &TestApp, tenant: &str, day: NaiveDate, count: usize) {
    use entity::message;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let (conv, streams) = conversation(app, tenant, "contact-bulk").await;
    let rows: Vec<message::ActiveModel> = (0..count)
        .map(|i| message::ActiveModel {
            id: Set(MessageId::generate().0),
            conversation_id: Set(conv.0.clone()),
            tenant_id: Set(tenant.to_owned()),
            stream_id: Set(streams[i % 2].0.clone()),
            role: Set(if i % 2 == 0 {
                Role::Customer
            } else {
                Role::Agent
            }),
            sender_external_id: Set("TT9833237".into()),
            seq: Set(i as i32 + 1),
            start_ms: Set(i as i64 * 1000),
            end_ms: Set(i as i64 * 1000 + 800),
            text: Set(format!("bulk utterance number {i} with some words in it")),
            unredacted_text: Set(None),
            tokens: Set(None),
            created_at: Set(at(day, 10 + (i * 3 / count) as u32, 0, 0, 0)
                + chrono::Duration::milliseconds(i as i64)),
        })
        .collect();
    for chunk in rows.chunks(500) {
        message::Entity::insert_many(chunk.to_vec())
            .exec(app.state.store.db())
            .await
            .unwrap();
    }
}

/// The run directories of a tenant's day in the export directory.
fn run_dirs(app: &TestApp, tenant: &str, day: NaiveDate) -> Vec<String> {
    let dir = app
        .state
        .config
        .export_dir()
        .join(day_prefix(&TenantId(tenant.into()), day));
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs
}

/// Makes every export claim look abandoned for longer than a crashed run's.
async fn age_claims(app: &TestApp) {
    let long_ago = Utc::now() - CLAIM_STALE - chrono::Duration::seconds(5);
    entity::feed_export::Entity::update_many()
        .col_expr(
            entity::feed_export::Column::HeartbeatAt,
            Expr::value(long_ago),
        )
        .exec(app.state.store.db())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_export_aborted_midway_and_run_again_leaves_exactly_one_complete_set() {
    const ROWS: usize = 30_000;
    let app = export_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let tid = TenantId(tenant.clone());
    let day = days_ago(2);
    bulk(&app, &tenant, day, ROWS).await;
    let first = app
        .state
        .exporter
        .export_day(&tid, day, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.rows, ROWS as u64);
    let published = listed(&app, &key, day).await;
    assert_eq!(published.len(), 3);

    // A forced re-run, killed while it writes.
    let staging = app.state.config.export_dir().join(".staging");
    let exporter = app.state.exporter.clone();
    let rerun = tokio::spawn(async move { exporter.export_day(&tid, day, true).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_dir(&staging).is_ok_and(|mut d| {
        d.next()
            .and_then(|run| std::fs::read_dir(run.ok()?.path()).ok()?.next())
            .is_some()
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the re-run never started writing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    rerun.abort();
    assert!(
        rerun.await.unwrap_err().is_cancelled(),
        "aborted mid-export"
    );
    // Files of a run that crashed after storing some files but before completing.
    let orphan = app.state.config.export_dir().join(format!(
        "{}/0-crashed",
        day_prefix(&TenantId(tenant.clone()), day)
    ));
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("utterances-partial.jsonl.gz"), b"partial").unwrap();

    // Meanwhile the previous set is still served, whole.
    assert_eq!(listed(&app, &key, day).await, published);
    assert_eq!(whole_day(&app, &key, day).await.len(), ROWS);

    // The restarted service's pass finishes the day once the dead run's claim is stale.
    let of_the_day = |pass: callscribe::export::schedule::ExportPass| -> Vec<u64> {
        pass.exported
            .iter()
            .filter(|e| e.date == day)
            .map(|e| e.rows)
            .collect()
    };
    let pass = export_due(&app.state.maintenance(), Utc::now())
        .await
        .unwrap();
    assert!(
        of_the_day(pass).is_empty(),
        "a live-looking claim is left alone"
    );
    age_claims(&app).await;
    let pass = export_due(&app.state.maintenance(), Utc::now())
        .await
        .unwrap();
    assert_eq!(of_the_day(pass), vec![ROWS as u64]);
    let runs = run_dirs(&app, &tenant, day);
    assert_eq!(runs.len(), 1, "one set of files: {runs:?}");
    let lines = whole_day(&app, &key, day).await;
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["messageId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ROWS, "every utterance exactly once");
    assert_eq!(listed(&app, &key, day).await, published, "the same files");
    assert!(
        std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0) == 0,
        "no staging left"
    );
}

#[tokio::test]
async fn the_export_command_replaces_a_day_and_refuses_one_not_over() {
    let app = export_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let day = days_ago(1);
    let c = conversation(&app, &tenant, "contact-cli").await;
    say(&app, &c, "first", at(day, 1, 0, 0, 0)).await;
    let config = app.state.config.clone();
    let export = |date: NaiveDate| export_command(&config, &tenant, date);
    let done = export(day);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(texts(&whole_day(&app, &key, day).await), vec!["first"]);
    say(&app, &c, "second", at(day, 1, 30, 0, 0)).await;
    assert!(export(day).status.success());
    assert_eq!(
        texts(&whole_day(&app, &key, day).await),
        vec!["first", "second"]
    );
    assert_eq!(run_dirs(&app, &tenant, day).len(), 1);
    let refused = export(Utc::now().date_naive());
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not over yet"), "{said}");
}

/// `callscribe export --date DATE --tenant TENANT` on the app's database and data dir.
fn export_command(
    config: &callscribe::config::Config,
    tenant: &str,
    date: NaiveDate,
) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_callscribe"));
    command
        .args(["export", "--date", &date.to_string(), "--tenant", tenant])
        .env("CALLSCRIBE_DATA_DIR", &config.data_dir)
        .env("CALLSCRIBE_LOG_LEVEL", "warn");
    if let Some(key) = &config.secret_key {
        command.env("CALLSCRIBE_SECRET_KEY", key.expose());
    }
    if let Some(url) = &config.database_url {
        command.env("CALLSCRIBE_DATABASE_URL", url.expose());
    }
    command.output().expect("run callscribe export")
}

async fn count<E: EntityTrait>(app: &TestApp) -> u64
where
    E::Model: Sync,
{
    E::find().count(app.state.store.db()).await.unwrap()
}

#[tokio::test]
async fn retention_purges_exactly_what_is_old_and_never_an_unexported_day() {
    use entity::{conversation as conv_entity, delivery, feed_export, message};
    let app = export_app().await;
    let (tenant, _) = app.tenant_with_key().await;
    let tid = TenantId(tenant.clone());
    let now = Utc::now();
    let ago = |days: i64| now - chrono::Duration::days(days);
    let old = conversation(&app, &tenant, "contact-old").await;
    say(&app, &old, "31 days", ago(31)).await;
    say(&app, &old, "8 days", ago(8)).await;
    say(&app, &old, "8 days too", ago(8)).await;
    let mixed = conversation(&app, &tenant, "contact-mixed").await;
    say(&app, &mixed, "8 days", ago(8)).await;
    say(&app, &mixed, "6 days", ago(6)).await;
    say(&app, &mixed, "6 days too", ago(6)).await;
    let fresh = conversation(&app, &tenant, "contact-fresh").await;
    say(&app, &fresh, "an hour", now - chrono::Duration::hours(1)).await;
    let db = app.state.store.db();
    let last_changed = |id: &ConversationId, when: DateTime<Utc>| {
        conv_entity::Entity::update_many()
            .col_expr(conv_entity::Column::UpdatedAt, Expr::value(when))
            .filter(conv_entity::Column::Id.eq(id.0.as_str()))
            .exec(db)
    };
    last_changed(&old.0, ago(8)).await.unwrap();
    last_changed(&mixed.0, ago(6)).await.unwrap();
    for (days, outcome) in [(8, "failed"), (8, "timeout"), (6, "dropped")] {
        app.state
            .store
            .record_delivery_failure(&callscribe::store::deliveries::DeliveryFailure {
                tenant_id: tid.clone(),
                message_id: MessageId::generate(),
                at: ago(days),
                outcome,
                http_status: None,
                error: None,
                latency_ms: None,
            })
            .await
            .unwrap();
    }

    // A day past feed retention (30 days) that was exported once.
    let day_31 = ago(31).date_naive();
    app.state
        .exporter
        .export_day(&tid, day_31, true)
        .await
        .unwrap();
    assert_eq!(run_dirs(&app, &tenant, day_31).len(), 1);

    // Nothing in the feed window is exported yet: those messages stay whatever their age.
    let early = purge(&app.state.maintenance(), now).await.unwrap();
    assert_eq!(early.messages, 1, "only the one older than the feed window");
    assert_eq!(early.conversations, 0);
    assert_eq!(
        early.deliveries, 2,
        "the delivery log does not wait for exports"
    );
    assert_eq!(early.feed_days, 1, "the day past 30 days");
    assert!(
        run_dirs(&app, &tenant, day_31).is_empty(),
        "its files are gone"
    );
    assert_eq!(count::<message::Entity>(&app).await, 6);

    export_due(&app.state.maintenance(), now).await.unwrap();
    let purged = purge(&app.state.maintenance(), now).await.unwrap();
    assert_eq!(purged.messages, 3, "8 days ×3");
    assert_eq!(purged.conversations, 1, "the old stopped conversation");
    assert_eq!((purged.deliveries, purged.feed_days), (0, 0));
    let left: Vec<String> = message::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    let mut left: Vec<&str> = left.iter().map(String::as_str).collect();
    left.sort_unstable();
    assert_eq!(left, vec!["6 days", "6 days too", "an hour"]);
    assert_eq!(count::<conv_entity::Entity>(&app).await, 2);
    assert_eq!(count::<delivery::Entity>(&app).await, 1);
    let records = feed_export::Entity::find()
        .filter(
            feed_export::Column::FeedDate.lt(day_31
                .succ_opt()
                .unwrap()
                .format("%Y-%m-%d")
                .to_string()),
        )
        .count(db)
        .await
        .unwrap();
    assert_eq!(records, 0, "and its record");
    assert_eq!(
        purge(&app.state.maintenance(), now).await.unwrap(),
        Default::default(),
        "a second purge finds nothing"
    );
}

#[tokio::test]
async fn the_service_task_exports_missed_days_on_start_and_ends_on_shutdown() {
    let app = export_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let day = days_ago(2);
    let c = conversation(&app, &tenant, "contact-task").await;
    say(&app, &c, "while the service was down", at(day, 5, 0, 0, 0)).await;
    let task = tokio::spawn(callscribe::export::schedule::run(app.state.maintenance()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let wanted = json!(day.format("%Y-%m-%d").to_string());
    loop {
        let dates = body(feed(&app, &key, "listfeeddates", day_request(day)).await).await;
        if dates["dates"].as_array().unwrap().contains(&wanted) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the day was never exported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        texts(&whole_day(&app, &key, day).await),
        vec!["while the service was down"]
    );
    app.state.shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the task ends when shutdown begins")
        .unwrap();
}
