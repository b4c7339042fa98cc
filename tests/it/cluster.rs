//! Scale-out with real processes: three `callscribe serve` replicas on one PostgreSQL,
//! thirty calls of real speech from the KVS emulator, one replica killed with SIGKILL in
//! the middle of the calls. PostgreSQL only (`CALLSCRIBE_TEST_BACKEND=postgres`); on
//! SQLite, which is one node by design, the test returns at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use callscribe_devtools::emulator::{Faults, StreamMedia, StreamSpec, stream_arn};
use reqwest::StatusCode;
use sea_orm::{Database, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, assert_said_once, body, fresh_postgres_url, model_path, postgres_selected, spans,
    start_body,
};
use crate::kvs_emulator::{CONTACT, spawn_emulator};
use crate::transcription::{CALL_END_WAIT, start_call_as, two_party_call, wer};

/// Calls in the run (`CLUSTER_TEST_CALLS` overrides, to debug with fewer).
fn calls() -> usize {
    std::env::var("CLUSTER_TEST_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30)
}
const REPLICAS: usize = 3;

/// One `callscribe serve` process; killed (SIGKILL) when dropped.
struct Replica {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Replica {
    fn spawn(index: usize, database_url: &str, dir: &Path) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let data_dir = dir.join(format!("replica-{index}"));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let log = dir.join(format!("replica-{index}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_callscribe"))
            .arg("serve")
            .env("CALLSCRIBE_LISTEN", format!("127.0.0.1:{port}"))
            .env("CALLSCRIBE_DATA_DIR", &data_dir)
            .env("CALLSCRIBE_DATABASE_URL", database_url)
            .env("CALLSCRIBE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("CALLSCRIBE_SECRET_KEY", "11".repeat(32))
            .env("CALLSCRIBE_MODEL", model_path())
            .env("CALLSCRIBE_ENGINE__WORKERS", "1")
            .env("CALLSCRIBE_EXPORT__SCHEDULED", "false")
            .env("CALLSCRIBE_CLUSTER__MAX_CONVERSATIONS", "30")
            .env(
                "CALLSCRIBE_LOG_LEVEL",
                std::env::var("CLUSTER_TEST_LOG")
                    .unwrap_or_else(|_| "warn,callscribe::service=info".into()),
            )
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start callscribe serve");
        Replica {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        for _ in 0..600 {
            if let Ok(res) = http.get(format!("{}/health/ready", self.url)).send().await
                && res.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("replica {} never became ready:\n{log}", self.url);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The call's message texts by role, in order.
type Said = HashMap<String, Vec<String>>;

fn said(items: &[Value]) -> Said {
    let mut by_role = Said::new();
    for m in items {
        by_role
            .entry(m["sender"]["role"].as_str().unwrap().to_owned())
            .or_default()
            .push(m["text"].as_str().unwrap().to_owned());
    }
    by_role
}

fn joined(said: &Said, role: &str) -> String {
    said.get(role).map(|v| v.join(" ")).unwrap_or_default()
}

/// The reference: the same call on one in-process replica, nothing killed.
async fn single_replica_run() -> Said {
    let app = crate::helpers::spawn_speech_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (customer, agent) = two_party_call();
    let _kvs = start_call_as(&app, &tenant, &key, customer, agent, 1.0, false).await;
    app.streams_ended(CALL_END_WAIT).await;
    assert_eq!(app.stop(&key, CONTACT).await.status(), 200);
    let items = app.message_items(&key, CONTACT).await;
    app.shutdown().await;
    said(&items)
}

fn call_streams() -> (Vec<String>, Vec<StreamSpec>) {
    let (customer, agent) = two_party_call();
    let guids: Vec<String> = (0..calls())
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let streams = guids
        .iter()
        .enumerate()
        .map(|(i, guid)| StreamSpec {
            name: format!("call-{i}"),
            media: StreamMedia {
                customer: customer.clone(),
                agent: Some(agent.clone()),
                contact_id: guid.clone(),
                switch_contact_at_ms: None,
                next_contact_id: uuid::Uuid::new_v4().to_string(),
                start_epoch_ms: 1_764_000_000_000,
            },
            faults: Faults::default(),
        })
        .collect();
    (guids, streams)
}

/// Waits until every stream reported its end and no lease is left.
async fn all_calls_over(db: &DatabaseConnection, within: Duration, replicas: &[Replica]) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let streams = entity::stream::Entity::find()
            .all(db)
            .await
            .expect("streams");
        let leases = entity::lease::Entity::find().all(db).await.expect("leases");
        if streams.len() == 2 * calls()
            && streams.iter().all(|s| s.status_code != 1000)
            && leases.is_empty()
        {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            for r in replicas {
                let log = std::fs::read_to_string(&r.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!(
                    "--- {} (last lines, newest first)\n{}",
                    r.url,
                    tail.join("\n")
                );
            }
            panic!(
                "calls still running after {within:?}: {} of {} streams ended, {} leases left",
                streams.iter().filter(|s| s.status_code != 1000).count(),
                streams.len(),
                leases.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn admin(http: &reqwest::Client, url: &str, path: &str, payload: Value) -> Value {
    let res = http
        .request(
            if path.ends_with("/aws") {
                reqwest::Method::PUT
            } else {
                reqwest::Method::POST
            },
            format!("{url}/admin/v1{path}"),
        )
        .bearer_auth(ADMIN_TOKEN)
        .json(&payload)
        .send()
        .await
        .expect("admin request");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    body(res).await
}

#[tokio::test]
async fn a_killed_replicas_calls_resume_on_the_others_with_nothing_lost_or_said_twice() {
    if !postgres_selected() {
        eprintln!("scale-out runs on PostgreSQL only: skipped on SQLite");
        return;
    }
    let reference = single_replica_run().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_postgres_url().await;
    let http = reqwest::Client::new();
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|i| Replica::spawn(i, &database_url, dir.path()))
        .collect();
    for r in &replicas {
        r.wait_ready(&http).await;
    }
    let (guids, streams) = call_streams();
    let kvs = spawn_emulator(streams, 1.0);
    let first = replicas[0].url.clone();
    let tenant = admin(&http, &first, "/tenants", json!({"name": "cluster"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin(
        &http,
        &first,
        &format!("/tenants/{tenant}/aws"),
        json!({"endpointUrl": kvs.url}),
    )
    .await;
    let key = admin(
        &http,
        &first,
        &format!("/tenants/{tenant}/keys"),
        json!({"app": "lambda"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Call i starts through replica i % 3, which reads it.
    let started = tokio::time::Instant::now();
    for (i, guid) in guids.iter().enumerate() {
        let mut b = start_body(guid);
        b["amazonConnectParams"] =
            json!({"streamArn": stream_arn(&format!("call-{i}")), "startSelectorType": "EARLIEST"});
        // A 503 ("try again", as when three replicas load their models at once) is
        // retried, as the Connect Lambdas do.
        let mut attempts = 0;
        let res = loop {
            attempts += 1;
            let res = http
                .post(format!(
                    "{}/mg-autotranscribe/v1/start-streaming",
                    replicas[i % REPLICAS].url
                ))
                .header("x-api-key", &key)
                .json(&b)
                .send()
                .await
                .expect("start");
            if res.status() != 503 || attempts == 3 {
                break res;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    // Mid-call (the calls last 31 s): SIGKILL the first replica.
    let db = Database::connect(&database_url).await.expect("connect");
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(started.elapsed())).await;
    let victim = owner_of(&db, &guids[0]).await;
    let victim_owned: HashSet<String> = entity::lease::Entity::find()
        .all(&db)
        .await
        .expect("leases")
        .into_iter()
        .filter(|l| l.owner.as_deref() == Some(victim.as_str()))
        .map(|l| l.conversation_id)
        .collect();
    replicas[0].kill();
    let killed_at = tokio::time::Instant::now();
    assert_eq!(
        victim_owned.len(),
        calls().div_ceil(REPLICAS),
        "the killed replica read its third"
    );
    taken_over(&db, &victim, Duration::from_secs(120)).await;
    let resumed_after = killed_at.elapsed();

    all_calls_over(&db, Duration::from_secs(300), &replicas).await;
    let mut stored = 0;

    for (i, guid) in guids.iter().enumerate() {
        // Stopped through a replica that does not read it, where possible.
        let via = &replicas[1 + i % 2].url;
        let res = http
            .post(format!("{via}/mg-autotranscribe/v1/stop-streaming"))
            .header("x-api-key", &key)
            .json(&json!({"namespace": "amazonconnect", "guid": guid}))
            .send()
            .await
            .expect("stop");
        assert_eq!(res.status(), 200);
        let stopped = body(res).await;
        let items = body(
            http.get(format!("{via}/conversation/v1/conversation/messages"))
                .query(&[("externalId", guid)])
                .header("x-api-key", &key)
                .send()
                .await
                .expect("messages"),
        )
        .await["items"]
            .as_array()
            .unwrap()
            .clone();
        let got = said(&items);
        stored += items.len();
        for role in ["customer", "agent"] {
            assert_said_once(&items, role, &format!("call {i}"));
            let spans = spans(&items, role);
            let summary = &stopped["autotranscribeResponse"][role]["summary"];
            assert_eq!(
                summary["transcripts"],
                spans.len(),
                "call {i} {role}: {stopped}"
            );
            let expected = reference.get(role).map_or(0, Vec::len);
            assert!(
                spans.len() + 1 >= expected,
                "call {i} {role}: {} utterances against {expected} in the single-replica run",
                spans.len()
            );
            let error = wer(&joined(&reference, role), &joined(&got, role));
            assert!(
                error <= 0.1,
                "call {i} {role}: WER {error:.2} against the single-replica run\n  got: {}\n  ref: {}",
                joined(&got, role),
                joined(&reference, role)
            );
        }
    }
    let per_call: usize = reference.values().map(Vec::len).sum();
    eprintln!(
        "{} calls on {REPLICAS} replicas; the killed one held {}; all were reading again {:.1} s \
         after the kill; {stored} messages stored ({} per call in the single-replica run)",
        calls(),
        victim_owned.len(),
        resumed_after.as_secs_f64(),
        per_call
    );
    drop(kvs);
}

/// Waits until no lease is held by the killed replica any more (each was claimed by a
/// survivor, or its call has ended).
async fn taken_over(db: &DatabaseConnection, victim: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let held = entity::lease::Entity::find()
            .all(db)
            .await
            .expect("leases")
            .iter()
            .filter(|l| l.owner.as_deref() == Some(victim))
            .count();
        if held == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} leases still held by the killed replica after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The replica that holds the lease of the call `guid`.
async fn owner_of(db: &DatabaseConnection, guid: &str) -> String {
    use sea_orm::{ColumnTrait, QueryFilter};
    let conversation = entity::conversation::Entity::find()
        .filter(entity::conversation::Column::ExternalId.eq(guid))
        .one(db)
        .await
        .expect("conversation")
        .expect("conversation exists");
    entity::lease::Entity::find_by_id(conversation.id)
        .one(db)
        .await
        .expect("lease")
        .and_then(|l| l.owner)
        .expect("the call has an owner")
}
