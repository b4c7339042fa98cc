//! The live stream of a conversation (`GET /conversation/v1/conversation/live`): a real
//! call through the KVS emulator and the real model, read as Server-Sent Events over
//! HTTP the way a browser's `fetch()` reads them.

use callscribe_devtools::emulator::{Faults, Pacing, stream_arn};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_moonshine_app, start_body};
use crate::kvs_emulator::{CONTACT, spawn_paced_emulator, stream_of};
use crate::transcription::{CALL_END_WAIT, two_party_call};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Frame {
    event: String,
    id: String,
    data: Value,
}

/// A `text/event-stream` response, read frame by frame (comments are heartbeats).
struct Sse {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
}

impl Sse {
    async fn open(app: &TestApp, key: &str, guid: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = app
            .http
            .get(app.url("/conversation/v1/conversation/live"))
            .query(&[("externalId", guid)])
            .header("x-api-key", key);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        Sse::of(req).await
    }

    async fn open_path(app: &TestApp, key: &str, path: &str) -> Sse {
        Sse::of(app.http.get(app.url(path)).header("x-api-key", key)).await
    }

    async fn of(req: reqwest::RequestBuilder) -> Sse {
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        Sse {
            body: res.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            buffer: Vec::new(),
        }
    }

    /// The next event, or `None` when the response ended.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.into();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue; // a heartbeat comment
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(Frame { event, id, data });
            }
            let chunk = tokio::time::timeout(CALL_END_WAIT, self.body.next())
                .await
                .expect("the stream went quiet")?;
            self.buffer.extend(chunk.expect("body"));
        }
    }

    /// A wall's events until the next `conversation` event that stops a call, and that.
    async fn until_stopped(&mut self) -> (Vec<Frame>, Frame) {
        let mut events = Vec::new();
        loop {
            let frame = self.next().await.expect("the wall ended");
            if frame.event == "conversation" && frame.data["state"] == "stopped" {
                return (events, frame);
            }
            events.push(frame);
        }
    }

    /// Every event until the response ends.
    async fn rest(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }
}

/// Starts the two-party call at twice real time and returns the tenant's key.
async fn start_call(
    app: &TestApp,
) -> (
    String,
    String,
    callscribe_devtools::emulator::EmulatorHandle,
) {
    let (tenant, key) = app.tenant_with_key().await;
    let kvs = start_call_for(app, &tenant, &key).await;
    (tenant, key, kvs)
}

/// Starts the two-party call at twice real time for `tenant`.
async fn start_call_for(
    app: &TestApp,
    tenant: &str,
    key: &str,
) -> callscribe_devtools::emulator::EmulatorHandle {
    let (customer, agent) = two_party_call();
    let spec = stream_of("speech", customer, agent, Faults::default());
    let kvs = spawn_paced_emulator(vec![spec], 2.0, Pacing::Block);
    app.point_tenant_at(tenant, &kvs.url).await;
    let mut body = start_body(CONTACT);
    body["amazonConnectParams"] =
        json!({"streamArn": stream_arn("speech"), "startSelectorType": "EARLIEST"});
    let res = app.start(key, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    kvs
}

#[tokio::test]
async fn a_call_streams_partials_then_the_stored_utterances_then_stopped_and_resumes() {
    let app = spawn_moonshine_app().await;
    let (_tenant, key, _kvs) = start_call(&app).await;
    let live = Sse::open(&app, &key, CONTACT, None).await.rest().await;

    // The end, once, last; the participants' statuses first and at the end.
    assert_eq!(live.last().unwrap().event, "stopped", "{live:#?}");
    assert_eq!(live.iter().filter(|f| f.event == "stopped").count(), 1);
    let statuses: Vec<(&str, bool)> = live
        .iter()
        .filter(|f| f.event == "status")
        .map(|f| {
            (
                f.data["role"].as_str().unwrap(),
                f.data["streaming"] == true,
            )
        })
        .collect();
    for role in ["customer", "agent"] {
        assert!(statuses.contains(&(role, true)), "{statuses:?}");
        assert!(statuses.contains(&(role, false)), "{statuses:?}");
    }

    // The utterances are the stored messages, in order, with ids 1, 2, 3...
    let utterances: Vec<&Frame> = live.iter().filter(|f| f.event == "utterance").collect();
    let stored = app.message_items(&key, CONTACT).await;
    assert!(stored.len() >= 7, "{stored:#?}");
    assert_eq!(
        utterances.iter().map(|f| &f.data).collect::<Vec<_>>(),
        stored.iter().collect::<Vec<_>>()
    );
    let ids: Vec<&str> = utterances.iter().map(|f| f.id.as_str()).collect();
    let expected: Vec<String> = (1..=stored.len()).map(|n| n.to_string()).collect();
    assert_eq!(ids, expected);

    // Partials come before their utterance, never after it.
    let mut with_partials = 0;
    for (at, frame) in live.iter().enumerate() {
        if frame.event != "utterance" {
            continue;
        }
        let of_it = |f: &Frame| {
            f.event == "partial"
                && f.data["role"] == frame.data["sender"]["role"]
                && f.data["start"] == frame.data["start"]
        };
        assert!(!live[at..].iter().any(of_it), "a partial after its final");
        if live[..at].iter().any(of_it) {
            with_partials += 1;
        }
    }
    assert!(with_partials >= 3, "{live:#?}");
    // Every event has an id; the others count from the last utterance.
    for f in &live {
        let seq = f.id.split('.').next().unwrap();
        assert!(seq.parse::<u32>().is_ok(), "{f:?}");
    }

    // After the call: a replay of everything, then stopped.
    let replay = Sse::open(&app, &key, CONTACT, None).await.rest().await;
    let replayed: Vec<&Value> = replay
        .iter()
        .filter(|f| f.event == "utterance")
        .map(|f| &f.data)
        .collect();
    assert_eq!(replayed, stored.iter().collect::<Vec<_>>());
    assert_eq!(replay.last().unwrap().event, "stopped");
    assert!(replay.iter().all(|f| f.event != "partial"));

    // Resuming after utterance 2 (from any later event id) gives 3 onwards, none twice.
    let resumed = Sse::open(&app, &key, CONTACT, Some("2.5"))
        .await
        .rest()
        .await;
    let resumed_ids: Vec<&str> = resumed
        .iter()
        .filter(|f| f.event == "utterance")
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        resumed_ids,
        expected[2..].iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn another_tenant_sees_nothing_and_a_key_in_the_url_is_refused() {
    let app = spawn_moonshine_app().await;
    let (_tenant, key, _kvs) = start_call(&app).await;
    let (_, other) = app.tenant_with_key().await;
    let url = app.url("/conversation/v1/conversation/live");
    let res = app
        .http
        .get(&url)
        .query(&[("externalId", CONTACT)])
        .header("x-api-key", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "404-01"
    );
    // The key only in the URL (EventStream-style) does not authenticate.
    for name in ["x-api-key", "apiKey", "key"] {
        let res = app
            .http
            .get(&url)
            .query(&[("externalId", CONTACT), (name, other.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}");
    }
    // A resume point that is not an event id of the stream is a clear 400.
    let res = app
        .http
        .get(&url)
        .query(&[("externalId", CONTACT)])
        .header("x-api-key", &key)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let message = res.json::<Value>().await.unwrap()["error"]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("Last-Event-ID"),
        "{message}"
    );
}

/// The wall: the tenant's calls as they start and stop, another tenant's never.
#[tokio::test]
async fn the_wall_shows_a_call_from_start_to_stop_to_its_tenant_only() {
    let app = spawn_moonshine_app().await;
    let (_, other) = app.tenant_with_key().await;
    let mut others = Sse::open_path(&app, &other, "/conversation/v1/live").await;
    let (_tenant, key, _kvs) = start_call(&app).await;
    let mut wall = Sse::open_path(&app, &key, "/conversation/v1/live").await;
    let mut started = wall.next().await.unwrap();
    if started.event == "synced" {
        // The call was not read yet when the wall opened.
        assert_eq!(started.data["calls"], 0);
        started = wall.next().await.unwrap();
    } else {
        let synced = wall.next().await.unwrap();
        assert_eq!(
            (synced.event.as_str(), &synced.data),
            ("synced", &json!({"calls": 1}))
        );
    }
    assert_eq!(started.event, "conversation");
    assert_eq!(started.data["externalId"], CONTACT);
    assert_eq!(started.data["state"], "streaming");
    assert_eq!(started.data["customerId"], "TT9833237");
    assert!(started.data["startedAt"].as_str().unwrap().ends_with('Z'));
    // Its events while it is read, each naming it: partials, and the stored utterances
    // from the one after the wall listed it; then, as the call ends by itself (its
    // streams end), it leaves the wall.
    let (events, stopped) = wall.until_stopped().await;
    assert_eq!(stopped.data["externalId"], CONTACT);
    assert!(
        events.iter().all(|f| f.data["externalId"] == CONTACT),
        "{events:#?}"
    );
    assert!(events.iter().any(|f| f.event == "partial"), "{events:#?}");
    assert!(events.iter().any(|f| f.event == "status"), "{events:#?}");
    assert_ends_with_stored(&app, &key, &events).await;
    // The other tenant's wall stayed empty (only heartbeats, which next() skips).
    let synced = others.next().await.unwrap();
    assert_eq!(
        (synced.event.as_str(), &synced.data),
        ("synced", &json!({"calls": 0}))
    );
    let quiet = tokio::time::timeout(std::time::Duration::from_secs(2), others.next()).await;
    assert!(quiet.is_err(), "another tenant saw {quiet:?}");
}

#[tokio::test]
async fn the_console_is_served_under_a_strict_content_security_policy() {
    let app = crate::helpers::spawn_app().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let page = app.get("/console").await.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "inline code"
    );
}

/// One key holds at most 20 live streams open; the 21st is 429-01 until one closes.
#[tokio::test]
async fn a_key_holds_at_most_twenty_live_streams() {
    let app = crate::helpers::spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(Sse::open_path(&app, &key, "/conversation/v1/live").await);
    }
    let one_more = || {
        app.http
            .get(app.url("/conversation/v1/live"))
            .header("x-api-key", &key)
            .send()
    };
    let refused = one_more().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "429-01"
    );
    // Closing one gives its permit back once the server notices the client is gone: a
    // write to the closed connection fails, at the latest at the second 15 s heartbeat
    // after it went (the first one only draws the peer's reset).
    drop(open.pop());
    let mut again = None;
    for _ in 0..450 {
        let res = one_more().await.unwrap();
        if res.status() == 200 {
            again = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the permit came back");
}

/// A replica that does not read the call streams it from the shared database: the same
/// utterances as the store, in order, no partials, then stopped; and its wall lists it.
#[tokio::test(flavor = "multi_thread")]
async fn another_replica_streams_the_call_from_the_database() {
    use callscribe::config::Secret;
    let reading = crate::helpers::spawn_app().await;
    let shared = reading.state.config.database_url();
    let other = crate::helpers::spawn_app_with(|config| {
        config.database_url = Some(Secret::new(shared));
    })
    .await;
    let (tenant, key) = reading.tenant_with_key().await;
    let jfk = crate::transcription::fixture("jfk-8k.wav");
    let _kvs =
        crate::transcription::start_call_as(&reading, &tenant, &key, jfk.clone(), jfk, 2.0, false)
            .await;
    let mut wall = Sse::open_path(&other, &key, "/conversation/v1/live").await;
    let live = Sse::open(&other, &key, CONTACT, None).await.rest().await;
    let stored = reading.message_items(&key, CONTACT).await;
    assert!(!stored.is_empty());
    let utterances: Vec<&Value> = live
        .iter()
        .filter(|f| f.event == "utterance")
        .map(|f| &f.data)
        .collect();
    assert_eq!(utterances, stored.iter().collect::<Vec<_>>());
    assert!(live.iter().all(|f| f.event != "partial"), "{live:#?}");
    assert_eq!(live.last().unwrap().event, "stopped");
    let first = wall.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), &first.data["externalId"]),
        ("conversation", &json!(CONTACT))
    );
    // Its utterances from the database, no partials, then its stop.
    let (events, _) = wall.until_stopped().await;
    assert!(
        events
            .iter()
            .all(|f| f.event == "utterance" || f.event == "synced"),
        "{events:#?}"
    );
    assert_ends_with_stored(&reading, &key, &events).await;
}

/// The wall's utterances are the last of the stored messages, in order, none twice.
async fn assert_ends_with_stored(app: &TestApp, key: &str, events: &[Frame]) {
    let utterances: Vec<&Value> = events
        .iter()
        .filter(|f| f.event == "utterance")
        .map(|f| &f.data["utterance"])
        .collect();
    let stored = app.message_items(key, CONTACT).await;
    assert!(!utterances.is_empty() && utterances.len() <= stored.len());
    let tail: Vec<&Value> = stored[stored.len() - utterances.len()..].iter().collect();
    assert_eq!(utterances, tail);
}

/// A client that stops reading never slows the call. The conversation has a long
/// history (900 stored messages of 9.5 KB, more than the socket buffers hold: Linux
/// grows a loopback send buffer up to 4 MiB) when a
/// client with a 1 KiB receive window asks for it and reads nothing: its stream is cut
/// 15 s after its queue filled, while a reading client and the webhook get every
/// utterance of the call; its place among the key's streams comes back while it still
/// holds the connection, and when it reads again it finds `closed` and the reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_client_is_cut_off_and_the_webhook_keeps_its_pace() {
    use callscribe::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
    use callscribe::store::messages::NewMessage;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_moonshine_app().await;
    let mut sink = crate::webhook::spawn_sink(None, crate::webhook::signed());
    let (tenant, key) = app.tenant_with_key().await;
    crate::webhook::set_target(&app, &tenant, crate::webhook::plain(&sink.url)).await;
    let kvs = start_call_for(&app, &tenant, &key).await;
    let conversation = app
        .state
        .store
        .conversation_by_external_id(&TenantId(tenant.clone()), CONTACT)
        .await
        .unwrap()
        .unwrap();
    // Room left below the 1,000 a conversation serves, for the call's own.
    const HISTORY: usize = 900;
    for n in 0..HISTORY {
        let earlier = NewMessage {
            id: MessageId(format!("earlier-{n}")),
            conversation_id: ConversationId(conversation.id.clone()),
            stream_id: StreamId("earlier".into()),
            role: Role::Customer,
            sender_external_id: "TT9833237".into(),
            start_ms: 0,
            end_ms: 0,
            text: "earlier words ".repeat(680),
            unredacted_text: None,
            tokens: None,
            created_at: chrono::Utc::now(),
        };
        app.state.store.append_message(&earlier).await.unwrap();
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let mut stalled = socket.connect(app.addr).await.unwrap();
    let request = format!(
        "GET /conversation/v1/conversation/live?externalId={CONTACT} HTTP/1.1\r\n\
         host: {}\r\nx-api-key: {key}\r\n\r\n",
        app.addr
    );
    stalled.write_all(request.as_bytes()).await.unwrap();

    let live = Sse::open(&app, &key, CONTACT, None).await.rest().await;
    assert_eq!(live.last().unwrap().event, "stopped");
    let call: Vec<Value> = app
        .message_items(&key, CONTACT)
        .await
        .into_iter()
        .filter(|m| m["streamId"] != "earlier")
        .collect();
    let said: Vec<&Value> = live
        .iter()
        .filter(|f| f.event == "utterance" && f.data["streamId"] != "earlier")
        .map(|f| &f.data)
        .collect();
    assert!(!call.is_empty());
    assert_eq!(said, call.iter().collect::<Vec<_>>());
    // The webhook got every utterance of the call (a delivery's id is its message's).
    let delivered = sink.take(call.len()).await;
    let mut webhook_ids: Vec<&str> = delivered
        .iter()
        .map(|r| r.message_id.as_deref().unwrap())
        .collect();
    webhook_ids.sort();
    let mut call_ids: Vec<&str> = call
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    call_ids.sort();
    assert_eq!(webhook_ids, call_ids);
    // Its pace, for the record: from the fragment holding an utterance's end to the POST.
    let mut lag_ms: Vec<u128> = delivered
        .iter()
        .filter_map(|r| {
            let end = r.body["autotranscribeResponse"]["end"].as_i64()?;
            let sent = kvs.sent_at(end.max(1) - 1);
            Some(r.received_instant.checked_duration_since(sent)?.as_millis())
        })
        .collect();
    lag_ms.sort_unstable();
    eprintln!("webhook delivery after the utterance's end, with a stalled viewer (ms): {lag_ms:?}");

    // Past the stall limit the stalled stream lets go of its place, though its client
    // still holds the connection: the key opens its 20 streams.
    let mut walls = Vec::new();
    for _ in 0..600 {
        let res = app
            .http
            .get(app.url("/conversation/v1/live"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            walls.push(res);
            if walls.len() == 20 {
                break;
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert_eq!(walls.len(), 20, "the stalled stream kept its place");
    // The stalled client reads again: what was queued for it, then the reason.
    let mut left = Vec::new();
    tokio::time::timeout(CALL_END_WAIT, stalled.read_to_end(&mut left))
        .await
        .expect("the cut stream ends")
        .unwrap();
    let left = String::from_utf8_lossy(&left);
    let tail = &left[left.len().saturating_sub(300)..];
    assert!(
        tail.contains("event: closed") && tail.contains("read nothing for 15 s"),
        "{tail}"
    );
    assert!(!left.contains("event: stopped"), "{tail}");
}
