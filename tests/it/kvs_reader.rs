//! The GetMedia reader through the real AWS SDK against the emulator: every fault the
//! emulator injects, checked by comparing the audio received with the source samples
//! (no gap, no duplicate).

use std::time::Duration;

use callscribe::ids::Role;
use callscribe::kvs::client::{KvsTarget, sdk_config};
use callscribe::kvs::reader::{ReaderEvent, ReaderOutcome, ReaderSettings, Selector, read_stream};
use callscribe::status::StreamStatus;
use callscribe_devtools::emulator::{
    EmulatorHandle, Faults, KvsFailure, Pacing, StreamMedia, stream_arn,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kvs_emulator::{CONTACT, spawn_emulator, spawn_paced_emulator, stream};

/// Audio as a session keeps it: a fragment's blocks arrive as they are parsed and
/// count once the fragment's position confirms them.
#[derive(Default)]
struct Kept {
    customer: Vec<i16>,
    agent: Vec<i16>,
    /// Blocks of fragments not confirmed (yet): (fragment, role, samples).
    pending: Vec<(u64, Role, Vec<i16>)>,
}

impl Kept {
    fn audio(&mut self, role: Role, pcm: &[u8], fragment: u64) {
        let samples = pcm
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        self.pending.push((fragment, role, samples));
    }

    fn confirm_through(&mut self, fragment: u64) {
        let (confirmed, pending) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(f, _, _)| *f <= fragment);
        self.pending = pending;
        for (_, role, samples) in confirmed {
            match role {
                Role::Customer => self.customer.extend(samples),
                Role::Agent => self.agent.extend(samples),
            }
        }
    }

    fn unconfirmed_samples(&self) -> usize {
        self.pending.iter().map(|(_, _, s)| s.len()).sum()
    }
}

/// What one reader run produced.
struct Run {
    outcome: ReaderOutcome,
    /// Confirmed audio.
    customer: Vec<i16>,
    agent: Vec<i16>,
    /// Audio handed over whose fragment was never confirmed.
    unconfirmed_samples: usize,
    track_ends: Vec<(Role, i32)>,
    positions: Vec<String>,
    /// The ContactId each position says the reading is locked to.
    locks: Vec<Option<String>>,
    /// GetMedia reconnects the reader counted.
    reconnects: u64,
}

async fn read(
    emulator: &EmulatorHandle,
    name: &str,
    selector: Selector,
    stop: CancellationToken,
) -> Run {
    read_locked(emulator, name, selector, stop, None).await
}

/// [`read`] with the reading already locked to `contact_id` (as a resumed one is).
async fn read_locked(
    emulator: &EmulatorHandle,
    name: &str,
    selector: Selector,
    stop: CancellationToken,
    contact_id: Option<String>,
) -> Run {
    read_from(&emulator.url, name, selector, stop, contact_id).await
}

/// Reads stream `name` of the emulator at `url` until the reader ends.
async fn read_from(
    url: &str,
    name: &str,
    selector: Selector,
    stop: CancellationToken,
    contact_id: Option<String>,
) -> Run {
    let target = KvsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(url.to_owned()),
        role_arn: None,
        external_id: None,
        session_name: "test".into(),
    };
    let config = sdk_config(&target).await;
    let mut settings = ReaderSettings::new(stream_arn(name), selector);
    settings.contact_id = contact_id;
    settings.idle_timeout = Duration::from_millis(700);
    settings.backoff = Duration::from_millis(20);
    let reconnects = callscribe::metrics::Metrics::new().sessions.kvs_reconnects;
    settings.reconnects = Some(reconnects.clone());
    let (tx, mut rx) = mpsc::channel(64);
    let reader =
        tokio::spawn(async move { read_stream(&config, &target, &settings, tx, stop).await });
    let mut run = Run {
        outcome: ReaderOutcome {
            customer: StreamStatus::ok(),
            agent: StreamStatus::ok(),
        },
        customer: vec![],
        agent: vec![],
        unconfirmed_samples: 0,
        track_ends: vec![],
        positions: vec![],
        locks: vec![],
        reconnects: 0,
    };
    let mut kept = Kept::default();
    while let Some(event) = rx.recv().await {
        match event {
            ReaderEvent::Audio {
                role,
                pcm,
                fragment,
                ..
            } => kept.audio(role, &pcm, fragment),
            ReaderEvent::Position {
                fragment,
                fragment_number,
                contact_id,
                ..
            } => {
                kept.confirm_through(fragment);
                run.positions.push(fragment_number);
                run.locks.push(contact_id);
            }
            ReaderEvent::TrackEnded { role, status } => {
                run.track_ends.push((role, status.code.code()))
            }
        }
    }
    run.unconfirmed_samples = kept.unconfirmed_samples();
    run.customer = kept.customer;
    run.agent = kept.agent;
    run.outcome = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("reader ends")
        .unwrap();
    run.reconnects = reconnects.get();
    run
}

async fn read_all(
    faults: Faults,
    seconds: usize,
    speed: f64,
) -> (Run, Vec<i16>, Vec<i16>, EmulatorHandle) {
    read_all_paced(faults, seconds, speed, Pacing::Fragment).await
}

/// A stream of `seconds` of test audio with `faults`, read from the start to its end.
async fn read_all_paced(
    faults: Faults,
    seconds: usize,
    speed: f64,
    pacing: Pacing,
) -> (Run, Vec<i16>, Vec<i16>, EmulatorHandle) {
    let spec = stream("call", seconds, faults);
    let (customer, agent) = (
        spec.media.customer.clone(),
        spec.media.agent.clone().unwrap(),
    );
    let emulator = spawn_paced_emulator(vec![spec], speed, pacing);
    let run = read(
        &emulator,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
    )
    .await;
    (run, customer, agent, emulator)
}

/// The whole call arrived exactly once, and the reader ended when the source did.
fn assert_exact(run: &Run, customer: &[i16], agent: &[i16]) {
    assert_eq!(run.customer.len(), customer.len(), "customer sample count");
    assert!(run.customer == customer, "customer audio identical");
    assert_eq!(run.agent.len(), agent.len(), "agent sample count");
    assert!(run.agent == agent, "agent audio identical");
    let mut unique = run.positions.clone();
    unique.dedup();
    assert_eq!(unique, run.positions, "no fragment delivered twice");
    assert_eq!(run.outcome.customer.code.code(), 1008, "{:?}", run.outcome);
}

#[tokio::test]
async fn reads_a_whole_call_and_ends_with_the_source() {
    let (run, customer, agent, _e) = read_all(Faults::default(), 4, 50.0).await;
    assert_exact(&run, &customer, &agent);
}

#[tokio::test]
async fn resumes_after_the_session_limit_without_gap_or_duplicate() {
    let faults = Faults {
        session_limit: Some(Duration::from_millis(120)),
        ..Faults::default()
    };
    let (run, customer, agent, emulator) = read_all(faults, 8, 25.0).await;
    assert_exact(&run, &customer, &agent);
    assert!(
        emulator.counters("call").get_media_calls >= 4,
        "several sessions were needed"
    );
}

#[tokio::test]
async fn resumes_after_a_dropped_connection_mid_fragment() {
    let faults = Faults {
        drop_once_in_fragment: Some(2),
        ..Faults::default()
    };
    let (run, customer, agent, emulator) = read_all(faults, 5, 50.0).await;
    assert_exact(&run, &customer, &agent);
    let counters = emulator.counters("call");
    assert_eq!(counters.fired, ["drop"]);
    assert_eq!(
        run.reconnects,
        counters.get_media_calls as u64 - 1,
        "every GetMedia after the first is a reconnect"
    );
}

/// Block by block, as a live producer streams: sessions that end in the middle of a
/// fragment, after handing some of its blocks over, resume without gap or duplicate.
#[tokio::test]
async fn a_block_paced_stream_resumes_mid_fragment_without_gap_or_duplicate() {
    let faults = Faults {
        session_limit: Some(Duration::from_millis(150)),
        drop_once_in_fragment: Some(3),
        ..Faults::default()
    };
    let (run, customer, agent, emulator) = read_all_paced(faults, 6, 10.0, Pacing::Block).await;
    assert_exact(&run, &customer, &agent);
    let counters = emulator.counters("call");
    assert!(counters.get_media_calls >= 4, "{counters:?}");
    assert_eq!(counters.fired, ["drop"]);
}

#[tokio::test]
async fn resumes_after_a_truncated_fragment_garbage_and_an_error_tag() {
    let faults = Faults {
        truncate_once_at_fragment: Some(1),
        garbage_once_at_fragment: Some(2),
        error_once_at_fragment: Some(3),
        ..Faults::default()
    };
    let (run, customer, agent, emulator) = read_all(faults, 5, 50.0).await;
    assert_exact(&run, &customer, &agent);
    assert_eq!(emulator.counters("call").fired.len(), 3);
}

#[tokio::test]
async fn a_stalled_stream_is_abandoned_and_resumed() {
    let faults = Faults {
        stall_once_at_fragment: Some(2),
        stall: Some(Duration::from_secs(5)),
        ..Faults::default()
    };
    let (run, customer, agent, _e) = read_all(faults, 4, 50.0).await;
    assert_exact(&run, &customer, &agent);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    let faults = Faults {
        get_media_failures: vec![KvsFailure::ClientLimit, KvsFailure::ConnectionLimit],
        ..Faults::default()
    };
    let (run, customer, agent, _e) = read_all(faults, 3, 50.0).await;
    assert_exact(&run, &customer, &agent);
}

#[tokio::test]
async fn persistent_throttling_gives_up_with_5002() {
    let faults = Faults {
        get_media_failures: vec![KvsFailure::ClientLimit; 20],
        ..Faults::default()
    };
    let (run, _, _, _e) = read_all(faults, 3, 50.0).await;
    assert_eq!(run.outcome.customer.code.code(), 5002);
    assert!(run.customer.is_empty());
}

#[tokio::test]
async fn missing_stream_and_access_denied_are_terminal() {
    let faults = Faults {
        data_endpoint_failures: vec![KvsFailure::NotAuthorized],
        ..Faults::default()
    };
    let emulator = spawn_emulator(vec![stream("call", 3, faults)], 50.0);
    let run = read(
        &emulator,
        "nope",
        Selector::Earliest,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        (
            run.outcome.customer.code.code(),
            run.outcome.agent.code.code()
        ),
        (4041, 4041)
    );
    let run = read(
        &emulator,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.customer.code.code(), 4043, "{:?}", run.outcome);
}

#[tokio::test]
async fn a_new_contact_on_the_stream_ends_reading_with_1008() {
    let mut spec = stream("call", 5, Faults::default());
    spec.media.switch_contact_at_ms = Some(2048);
    let customer = spec.media.customer.clone();
    let emulator = spawn_emulator(vec![spec], 50.0);
    let run = read(
        &emulator,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.customer.code.code(), 1008);
    assert!(run.outcome.customer.description.contains("another contact"));
    assert_eq!(
        run.customer,
        customer[..2 * 8192],
        "only this contact's two fragments"
    );
    assert_eq!(
        run.unconfirmed_samples,
        2 * 8192,
        "the next contact's first fragment was handed over block by block, never confirmed"
    );
}

/// Whatever guid the start sent, the reading locks onto the first fragment's ContactId
/// and says so with every position (which is stored with it).
#[tokio::test]
async fn the_reading_locks_onto_the_first_fragments_contact() {
    let (run, customer, agent, _e) = read_all(Faults::default(), 3, 50.0).await;
    assert_exact(&run, &customer, &agent);
    assert!(!run.locks.is_empty());
    assert!(
        run.locks.iter().all(|l| l.as_deref() == Some(CONTACT)),
        "{:?}",
        run.locks
    );
}

/// A resumed reading keeps the lock it was given: a stream carrying another contact ends
/// it with 1008 before any audio.
#[tokio::test]
async fn a_resumed_reading_keeps_its_lock() {
    let emulator = spawn_emulator(vec![stream("call", 3, Faults::default())], 50.0);
    let locked = Some("the-contact-read-before".to_owned());
    let run = read_locked(
        &emulator,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
        locked,
    )
    .await;
    assert_eq!(run.outcome.customer.code.code(), 1008);
    assert!(run.customer.is_empty() && run.agent.is_empty());
}

#[tokio::test]
async fn a_single_track_stream_reports_the_missing_participant() {
    let mut spec = stream("call", 3, Faults::default());
    spec.media.agent = None;
    let customer = spec.media.customer.clone();
    let emulator = spawn_emulator(vec![spec], 50.0);
    let run = read(
        &emulator,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.track_ends, [(Role::Agent, 4040)]);
    assert!(run.customer == customer && run.agent.is_empty());
}

#[tokio::test]
async fn fragment_number_selector_starts_after_the_given_fragment() {
    let spec = stream("call", 4, Faults::default());
    let customer = spec.media.customer.clone();
    let emulator = spawn_emulator(vec![spec], 50.0);
    let after = Selector::FragmentNumber(StreamMedia::fragment_number(0));
    let run = read(&emulator, "call", after, CancellationToken::new()).await;
    assert!(
        run.customer == customer[8192..],
        "from the second fragment on"
    );
}

#[tokio::test]
async fn stopping_ends_the_reader_with_ok() {
    let emulator = spawn_emulator(vec![stream("call", 60, Faults::default())], 1.0);
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stopper.cancel();
    });
    let run = read(&emulator, "call", Selector::Earliest, stop).await;
    assert_eq!(
        run.outcome,
        ReaderOutcome {
            customer: StreamStatus::ok(),
            agent: StreamStatus::ok()
        }
    );
    assert!(!run.customer.is_empty(), "audio arrived before the stop");
}

#[tokio::test]
async fn emulator_command_plays_a_wav_with_faults_from_toml() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (customer, agent) = crate::kvs_emulator::test_audio(4);
    let wav = dir.path().join("call.wav");
    callscribe_devtools::emulator::wav::write(&wav, &customer, Some(&agent)).unwrap();
    let faults = dir.path().join("faults.toml");
    std::fs::write(&faults, "[faults.call]\nswitch_contact_at_ms = 2048\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callscribe"))
        .args([
            "kvs-emulator",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "50",
            "--contact-id",
            CONTACT,
        ])
        .arg("--stream")
        .arg(format!("call={}", wav.display()))
        .arg("--faults")
        .arg(&faults)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("KVS emulator on ")
                .map(|r| r.split(' ').next().unwrap().to_owned())
        })
        .expect("the emulator prints its URL");
    let run = read_from(
        &url,
        "call",
        Selector::Earliest,
        CancellationToken::new(),
        None,
    )
    .await;
    let (outcome, received) = (run.outcome, run.customer);
    child.kill().ok();
    child.wait().ok();
    assert_eq!(
        outcome.customer.code.code(),
        1008,
        "the contact switch from the TOML file ended reading"
    );
    assert!(
        received == customer[..2 * 8192],
        "the WAV's first two fragments, exactly"
    );
}
