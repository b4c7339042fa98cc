//! The transcription pipeline end to end, with the real model on real recorded speech
//! (tests/fixtures/speech): KVS emulator → reader → endpointing → whisper.cpp →
//! stored and published messages.

use std::path::PathBuf;
use std::time::Duration;

use callscribe::ids::Role;
use callscribe::service::events::ConversationEvent;
use callscribe::store::messages::NewMessage;
use callscribe::webhook::publish::Published;
use callscribe_devtools::emulator::{EmulatorHandle, Faults, Pacing, StreamSpec, stream_arn, wav};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::helpers::{TestApp, body, spawn_app, spawn_moonshine_app, spawn_speech_app, start_body};
use crate::kvs_emulator::{CONTACT, spawn_paced_emulator, stream_of};

const RATE: usize = 8000;

/// A speech fixture's (first) track.
pub fn fixture(name: &str) -> Vec<i16> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/speech")
        .join(name);
    wav::read_tracks(&path).expect("fixture").0
}

/// Puts `clip` into `track` at `at_ms`, growing the track as needed.
fn place(track: &mut Vec<i16>, at_ms: usize, clip: &[i16]) {
    let at = at_ms * RATE / 1000;
    if track.len() < at + clip.len() {
        track.resize(at + clip.len(), 0);
    }
    track[at..at + clip.len()].copy_from_slice(clip);
}

/// One turn of the scripted call: who speaks, when, the clip and what was said.
struct Turn {
    agent: bool,
    at_ms: usize,
    clip: &'static str,
    words: &'static [&'static str],
}

/// A two-party call: the agent's prompts and the customer's answers, with JFK as the
/// customer (three utterances: he pauses for a second twice).
const CALL: &[Turn] = &[
    Turn {
        agent: true,
        at_ms: 500,
        clip: "allison-privacy-prompt.wav",
        words: &["phone", "number", "area", "code"],
    },
    Turn {
        agent: false,
        at_ms: 5000,
        clip: "jfk-8k.wav",
        words: &["fellow", "americans"],
    },
    Turn {
        agent: true,
        at_ms: 17_500,
        clip: "allison-queue-youarenext.wav",
        words: &["call", "first", "line", "next", "available"],
    },
    Turn {
        agent: false,
        at_ms: 24_000,
        clip: "allison-auth-thankyou.wav",
        words: &["thank", "you"],
    },
    Turn {
        agent: true,
        at_ms: 26_000,
        clip: "allison-vm-sorry.wav",
        words: &["sorry", "understand", "response"],
    },
];
const CALL_MS: usize = 31_000;
/// Generous: decodes on a busy 2-core machine.
pub const CALL_END_WAIT: Duration = Duration::from_secs(120);

pub fn two_party_call() -> (Vec<i16>, Vec<i16>) {
    let (mut customer, mut agent) = (Vec::new(), Vec::new());
    for turn in CALL {
        let track = if turn.agent {
            &mut agent
        } else {
            &mut customer
        };
        place(track, turn.at_ms, &fixture(turn.clip));
    }
    for track in [&mut customer, &mut agent] {
        track.resize(CALL_MS * RATE / 1000, 0);
    }
    (customer, agent)
}

/// Starts streaming `customer`/`agent` for the call `CONTACT` from a fresh emulator at
/// `speed`; returns the key and the emulator (keep it alive).
async fn start_call(
    app: &TestApp,
    customer: Vec<i16>,
    agent: Vec<i16>,
    speed: f64,
    detailed_token: bool,
) -> (String, EmulatorHandle) {
    let (tenant, key) = app.tenant_with_key().await;
    let kvs = start_call_as(app, &tenant, &key, customer, agent, speed, detailed_token).await;
    (key, kvs)
}

/// [`start_call`] for an existing tenant and key.
pub async fn start_call_as(
    app: &TestApp,
    tenant: &str,
    key: &str,
    customer: Vec<i16>,
    agent: Vec<i16>,
    speed: f64,
    detailed_token: bool,
) -> EmulatorHandle {
    let spec = stream_of("speech", customer, agent, Faults::default());
    let kvs = spawn_paced_emulator(vec![spec], speed, Pacing::Fragment);
    start_stream_as(app, tenant, key, &kvs, detailed_token).await;
    kvs
}

/// Starts streaming `kvs`'s stream "speech" (the call `CONTACT`) for `tenant`.
async fn start_stream_as(
    app: &TestApp,
    tenant: &str,
    key: &str,
    kvs: &EmulatorHandle,
    detailed_token: bool,
) {
    app.point_tenant_at(tenant, &kvs.url).await;
    let mut b = start_body(CONTACT);
    b["autotranscribeParams"]["detailedToken"] = json!(detailed_token);
    b["amazonConnectParams"] =
        json!({"streamArn": stream_arn("speech"), "startSelectorType": "EARLIEST"});
    let res = app.start(key, &b).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Waits until `n` messages were published (or panics after a generous while: decodes
/// in a debug build on a busy 2-core machine).
async fn published(
    rx: &mut broadcast::Receiver<std::sync::Arc<Published>>,
    n: usize,
) -> Vec<std::sync::Arc<Published>> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
            Ok(Ok(m)) => got.push(m),
            other => panic!("only {} of {n} messages published: {other:?}", got.len()),
        }
    }
    got
}

/// Lower-case words without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hypothesis` against `reference`.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(rw != hw)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

fn texts(items: &[Value], role: &str) -> Vec<String> {
    items
        .iter()
        .filter(|m| m["sender"]["role"] == role)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_two_party_call_becomes_each_participants_utterances_in_order() {
    two_party_call_in_order(spawn_speech_app().await).await;
}

#[tokio::test]
async fn moonshine_transcribes_a_two_party_call_in_order() {
    two_party_call_in_order(spawn_moonshine_app().await).await;
}

/// The two-party call through `app`'s engine: each participant's utterances, in order,
/// with their turns' words, inside their turns, published as stored.
async fn two_party_call_in_order(app: TestApp) {
    let mut rx = app.state.publisher.subscribe();
    let (customer, agent) = two_party_call();
    let (key, _kvs) = start_call(&app, customer, agent, 8.0, true).await;
    app.streams_ended(CALL_END_WAIT).await;
    let stopped = body(app.stop(&key, CONTACT).await).await;
    let summary =
        |who: &str| stopped["autotranscribeResponse"][who]["summary"]["transcripts"].as_i64();
    assert_eq!(
        summary("customer"),
        Some(4),
        "JFK's three utterances and a thank-you: {stopped}"
    );
    assert_eq!(summary("agent"), Some(3), "{stopped}");

    let items = body(app.messages(&key, CONTACT).await).await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 7, "{items:#?}");

    // In order per participant, each with its turn's words.
    let agent_texts = texts(&items, "agent");
    let agent_turns: Vec<&Turn> = CALL.iter().filter(|t| t.agent).collect();
    for (text, turn) in agent_texts.iter().zip(&agent_turns) {
        let said = words(text);
        for w in turn.words {
            assert!(
                said.iter().any(|s| s == w),
                "{w:?} missing from agent's {text:?}"
            );
        }
    }
    let customer_texts = texts(&items, "customer");
    let jfk = customer_texts[..3].join(" ");
    let reference = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert!(wer(reference, &jfk) <= 0.15, "JFK came out as {jfk:?}");
    assert_eq!(words(&customer_texts[3]), ["thank", "you"]);

    // Timings: milliseconds from the start of each participant's stream, inside the
    // turn that produced them; word tokens inside their utterance.
    for m in &items {
        let (start, end) = (m["start"].as_i64().unwrap(), m["end"].as_i64().unwrap());
        assert!(start < end, "{m}");
        let agent = m["sender"]["role"] == "agent";
        let turn = CALL.iter().filter(|t| t.agent == agent).find(|t| {
            let len_ms = (fixture(t.clip).len() * 1000 / RATE) as i64;
            start >= t.at_ms as i64 && end <= t.at_ms as i64 + len_ms + 50
        });
        assert!(turn.is_some(), "message outside every turn: {m}");
        let tokens = m["tokens"].as_array().expect("detailedToken asked for");
        assert!(!tokens.is_empty());
        for t in tokens {
            let (ts, te) = (t["start"].as_i64().unwrap(), t["end"].as_i64().unwrap());
            assert!(
                ts <= te && ts >= start - 500 && te <= end + 500,
                "token {t} of {m}"
            );
        }
        assert_eq!(
            m["sender"]["externalId"],
            if agent { "RE223444211993" } else { "TT9833237" }
        );
    }

    // The same seven went to the publisher, with the stored ids.
    let sent = published(&mut rx, 7).await;
    let mut sent_ids: Vec<String> = sent.iter().map(|p| p.message.id.0.clone()).collect();
    let mut stored_ids: Vec<String> = items
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect();
    sent_ids.sort();
    stored_ids.sort();
    assert_eq!(sent_ids, stored_ids);
    assert!(sent.iter().all(|p| p.external_conversation_id == CONTACT));
    assert!(
        sent.iter().all(|p| p.speech_ended_at.is_some()),
        "each message knows when its speech ended"
    );
    // The tenant has no webhook: nothing was sent, so no end-to-end latency.
    assert_eq!(
        app.state
            .metrics
            .webhook
            .end_to_end_seconds
            .get_sample_count(),
        0
    );
}

/// Plays `spec` for a new tenant with this pacing and waits for the stream's end: the
/// stored messages' texts per role (customer, agent) and the stop's answer.
async fn play_to_the_end(
    app: &TestApp,
    spec: StreamSpec,
    pacing: Pacing,
) -> ((Vec<String>, Vec<String>), Value) {
    let (tenant, key) = app.tenant_with_key().await;
    let kvs = spawn_paced_emulator(vec![spec], 8.0, pacing);
    start_stream_as(app, &tenant, &key, &kvs, false).await;
    app.streams_ended(CALL_END_WAIT).await;
    let stopped = body(app.stop(&key, CONTACT).await).await;
    let items = body(app.messages(&key, CONTACT).await).await["items"]
        .as_array()
        .unwrap()
        .clone();
    ((texts(&items, "customer"), texts(&items, "agent")), stopped)
}

/// Blocks handed to the endpointer one by one, as a live producer streams them, make the
/// same transcript as whole fragments.
#[tokio::test]
async fn block_paced_and_fragment_paced_streams_make_the_same_transcript() {
    let app = spawn_moonshine_app().await;
    let (customer, agent) = two_party_call();
    let spec = stream_of("speech", customer, agent, Faults::default());
    let (by_fragment, _) = play_to_the_end(&app, spec.clone(), Pacing::Fragment).await;
    let (by_block, _) = play_to_the_end(&app, spec, Pacing::Block).await;
    assert_eq!(by_fragment.0.len(), 4, "{by_fragment:?}");
    assert_eq!(by_fragment.1.len(), 3, "{by_fragment:?}");
    for (role, fragment, block) in [
        ("customer", &by_fragment.0, &by_block.0),
        ("agent", &by_fragment.1, &by_block.1),
    ] {
        assert_eq!(
            words(&fragment.join(" ")),
            words(&block.join(" ")),
            "{role}: {fragment:?} vs {block:?}"
        );
    }
}

/// The stream is reused by the next contact while the customer speaks: the reading ends
/// with 1008 and nothing said after the switch is published, though its blocks were
/// read (and decoded) before the fragment's tags named the other contact.
#[tokio::test]
async fn nothing_of_the_next_contact_is_published() {
    let app = spawn_moonshine_app().await;
    let mut rx = app.state.publisher.subscribe();
    let switch_ms = 6 * 1024;
    let mut customer = Vec::new();
    place(&mut customer, 500, &fixture("allison-auth-thankyou.wav"));
    // The next contact speaks from the first block of its first fragment on.
    place(&mut customer, switch_ms + 64, &fixture("jfk-8k.wav"));
    customer.resize((switch_ms + 8_000) * RATE / 1000, 0);
    let agent = vec![0; customer.len()];
    let mut spec = stream_of("speech", customer, agent, Faults::default());
    spec.media.switch_contact_at_ms = Some(switch_ms as i64);
    let ((customer_texts, agent_texts), stopped) = play_to_the_end(&app, spec, Pacing::Block).await;
    assert_eq!(
        stopped["autotranscribeResponse"]["customer"]["status"]["code"], 1008,
        "{stopped}"
    );
    assert_eq!(customer_texts.len(), 1, "{customer_texts:?}");
    assert_eq!(words(&customer_texts[0]), ["thank", "you"]);
    assert!(agent_texts.is_empty());
    let sent = published(&mut rx, 1).await;
    assert_eq!(words(&sent[0].message.text), ["thank", "you"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.try_recv().is_err(), "nothing else was published");
    let utterances = &app.state.metrics.engine.utterances;
    assert_eq!(
        utterances.with_label_values(&["unconfirmed"]).get(),
        1,
        "the next contact's utterance was heard, decoded and dropped"
    );
}

/// A call's live events: partial hypotheses while each participant speaks, each
/// utterance's final (the stored message), the participants' statuses, then `Stopped`.
#[tokio::test]
async fn partial_hypotheses_come_before_each_final_which_is_the_stored_message() {
    let app = spawn_moonshine_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (customer, agent) = two_party_call();
    let spec = stream_of("speech", customer, agent, Faults::default());
    let kvs = spawn_paced_emulator(vec![spec], 2.0, Pacing::Block);
    start_stream_as(&app, &tenant, &key, &kvs, false).await;
    let conversation = app
        .state
        .store
        .conversation_by_external_id(&callscribe::ids::TenantId(tenant.clone()), CONTACT)
        .await
        .unwrap()
        .expect("started");
    let mut events = app
        .state
        .calls
        .live_events(&callscribe::ids::ConversationId(conversation.id))
        .expect("the call is read here");
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(CALL_END_WAIT, events.recv()).await {
            Ok(Ok(ConversationEvent::Stopped)) => break,
            Ok(Ok(event)) => seen.push(event),
            other => panic!("events ended without Stopped: {other:?}"),
        }
    }
    let finals: Vec<&NewMessage> = seen
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::Final { published, .. } => Some(&published.message),
            _ => None,
        })
        .collect();
    let stored = app.message_items(&key, CONTACT).await;
    let stored_ids: Vec<&str> = stored
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    let final_ids: Vec<&str> = finals.iter().map(|m| m.id.0.as_str()).collect();
    assert!(final_ids.len() >= 7, "{seen:#?}");
    let mut sorted = (stored_ids.clone(), final_ids.clone());
    sorted.0.sort();
    sorted.1.sort();
    assert_eq!(sorted.0, sorted.1, "the finals are the stored messages");
    for f in &finals {
        let m = stored.iter().find(|m| m["messageId"] == f.id.0).unwrap();
        assert_eq!(m["text"], f.text.as_str());
    }
    // Partials of an utterance come before its final, never after.
    let mut with_partials = 0;
    for (at, event) in seen.iter().enumerate() {
        let ConversationEvent::Final { published: p, .. } = event else {
            continue;
        };
        let m = &p.message;
        let of_it = |e: &ConversationEvent| {
            matches!(e, ConversationEvent::Partial { role, start_ms, .. }
                if *role == m.role && *start_ms == m.start_ms)
        };
        assert!(
            !seen[at..].iter().any(of_it),
            "a partial after the final {m:?}"
        );
        with_partials += usize::from(seen[..at].iter().any(of_it));
    }
    assert!(
        with_partials >= 5,
        "{with_partials} of 7 utterances had partials: {seen:#?}"
    );
    let ended: Vec<(Role, i32)> = seen
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::Status {
                role,
                streaming: false,
                status,
            } => Some((*role, status.code.code())),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(Role::Customer, 1008), (Role::Agent, 1008)]);
}

#[tokio::test]
async fn stop_flushes_the_utterance_in_progress() {
    let app = spawn_speech_app().await;
    // The customer talks for 10 s without a pause; stop comes 4 s in.
    let customer = fixture("allison-basic-pbx-ivr-main.wav");
    let agent = vec![0; customer.len()];
    let (key, _kvs) = start_call(&app, customer, agent, 1.0, false).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stopped = body(app.stop(&key, CONTACT).await).await;
    let customer_summary = &stopped["autotranscribeResponse"]["customer"]["summary"];
    assert_eq!(customer_summary["transcripts"], 1, "{stopped}");
    let heard_ms = customer_summary["audioDurationMs"].as_i64().unwrap();
    let items = body(app.messages(&key, CONTACT).await).await["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    let m = &items[0];
    let said = words(m["text"].as_str().unwrap());
    assert_eq!(said[..3], ["thank", "you", "for"], "{m}");
    assert!(
        m["end"].as_i64().unwrap() <= heard_ms,
        "{m} after {heard_ms} ms of audio"
    );
}

/// Deterministic white noise at `level` (peak) in 16-bit samples.
fn noise(ms: usize, level: f32) -> Vec<i16> {
    let mut x: u32 = 7;
    (0..ms * RATE / 1000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (((x >> 16) as f32 / 65536.0 - 0.5) * 2.0 * level * 32767.0) as i16
        })
        .collect()
}

/// Hold-music-like: a melody of notes with harmonics, 400 ms each.
fn melody(ms: usize) -> Vec<i16> {
    let notes = [262.0, 294.0, 330.0, 349.0, 392.0, 440.0, 494.0, 523.0];
    (0..ms * RATE / 1000)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let f = notes[(t / 0.4) as usize % notes.len()];
            let w = |k: f32| (2.0 * std::f32::consts::PI * k * f * t).sin();
            (6000.0 * (w(1.0) + 0.5 * w(2.0) + 0.3 * w(3.0)) / 1.8) as i16
        })
        .collect()
}

/// Ring-back style tone: 440+480 Hz, 2 s on, 4 s off.
fn ringback(ms: usize) -> Vec<i16> {
    (0..ms * RATE / 1000)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            if t % 6.0 < 2.0 {
                let w = |f: f32| (2.0 * std::f32::consts::PI * f * t).sin();
                (5000.0 * (w(440.0) + w(480.0))) as i16
            } else {
                0
            }
        })
        .collect()
}

#[tokio::test]
async fn silence_noise_and_hold_music_make_no_messages() {
    no_messages_from_non_speech(spawn_speech_app().await).await;
}

#[tokio::test]
async fn moonshine_makes_no_messages_from_silence_noise_and_hold_music() {
    no_messages_from_non_speech(spawn_moonshine_app().await).await;
}

async fn no_messages_from_non_speech(app: TestApp) {
    let mut customer = noise(10_000, 0.3);
    customer.extend(vec![0; 5 * RATE]);
    customer.extend(noise(5_000, 0.02));
    let mut agent = melody(12_000);
    agent.extend(ringback(8_000));
    customer.resize(agent.len().max(customer.len()), 0);
    agent.resize(customer.len(), 0);
    let (key, _kvs) = start_call(&app, customer, agent, 8.0, false).await;
    app.streams_ended(CALL_END_WAIT).await;
    let stopped = body(app.stop(&key, CONTACT).await).await;
    for who in ["customer", "agent"] {
        assert_eq!(
            stopped["autotranscribeResponse"][who]["summary"]["transcripts"], 0,
            "{stopped}"
        );
    }
    let items = body(app.messages(&key, CONTACT).await).await["items"].clone();
    assert_eq!(items, json!([]));
}

#[tokio::test]
async fn past_the_cap_messages_are_published_and_kept_for_the_feed_but_not_served() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let mut rx = app.state.publisher.subscribe();
    let (customer, agent) = two_party_call();
    let (key, _kvs) = start_call(&app, customer, agent, 8.0, false).await;
    // The conversation already holds 998 messages: room for two more.
    let db = app.state.store.db();
    db.execute_unprepared("UPDATE conversations SET message_count = 998")
        .await
        .unwrap();
    let sent = published(&mut rx, 7).await;
    let stopped = body(app.stop(&key, CONTACT).await).await;
    let total: i64 = ["customer", "agent"]
        .iter()
        .map(|who| {
            stopped["autotranscribeResponse"][who]["summary"]["transcripts"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 7);
    let items = body(app.messages(&key, CONTACT).await).await["items"].clone();
    let stored: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), 2, "{items}");
    let first_two: Vec<&str> = sent[..2].iter().map(|p| p.message.id.0.as_str()).collect();
    for id in stored {
        assert!(
            first_two.contains(&id),
            "the first two transcribed were served"
        );
    }
    use sea_orm::EntityTrait;
    let kept = entity::message::Entity::find().all(db).await.unwrap();
    assert_eq!(kept.len(), 7, "all seven are stored for the feed");
}

#[tokio::test]
async fn a_missing_model_stops_start_up_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = callscribe::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let err = callscribe::build_state(config, None)
        .await
        .err()
        .expect("no model, no service");
    let shown = format!("{err:#}");
    assert!(shown.contains("scripts/fetch-model"), "{shown}");
    assert!(shown.contains("models/moonshine-base-en/"), "{shown}");
}

#[test]
fn the_transcribe_command_prints_utterances_with_timings() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscribe"))
        .args(["transcribe", "--jsonl"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech/jfk-8k.wav"))
        .env("CALLSCRIBE_MODEL", crate::helpers::model_path())
        .output()
        .expect("run callscribe transcribe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // JFK pauses ~1 s after "Americans" and "ask not", ~0.5 s after "for you".
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let text: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    let reference = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    assert!(wer(reference, &text.join(" ")) <= 0.15, "{text:?}");
    let starts: Vec<i64> = lines.iter().map(|l| l["start"].as_i64().unwrap()).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1])
            && starts[0] < 1000
            && *starts.last().unwrap() > 4000
    );

    // Without --jsonl: the contract's `<role-or-channel> <startMs> <endMs> <text>`.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscribe"))
        .arg("transcribe")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech/jfk-8k.wav"))
        .env("CALLSCRIBE_MODEL", crate::helpers::model_path())
        .output()
        .expect("run callscribe transcribe");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let plain: Vec<Vec<&str>> = stdout.lines().map(|l| l.splitn(4, ' ').collect()).collect();
    assert_eq!(plain.len(), 4, "{stdout}");
    for (fields, line) in plain.iter().zip(&lines) {
        assert_eq!(fields[0], "mono");
        assert_eq!(fields[1], line["start"].to_string());
        assert_eq!(fields[2], line["end"].to_string());
        assert_eq!(fields[3], line["text"].as_str().unwrap());
    }
}
