//! The KVS emulator through the real `aws-sdk-kinesisvideo` and
//! `aws-sdk-kinesisvideomedia` clients: every selector, the audio delivered exactly,
//! and the faults it injects.

use std::time::Duration;

use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use callscribe::kvs::client::{KvsTarget, media_client, sdk_config};
use callscribe::kvs::fragment::{AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER, Fragment, FragmentReader};
use callscribe_devtools::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Faults, KvsFailure, Pacing, StreamMedia, StreamSpec,
};

pub const CONTACT: &str = "d111f871-5fe7-40b1-b5f7-6b67060de0c2";

/// Deterministic, distinguishable audio for each participant.
pub fn test_audio(seconds: usize) -> (Vec<i16>, Vec<i16>) {
    let n = seconds * 8000;
    let customer = (0..n)
        .map(|i| ((i * 7919) % 20_000) as i16 - 10_000)
        .collect();
    let agent = (0..n)
        .map(|i| ((i * 104_729) % 16_000) as i16 - 8_000)
        .collect();
    (customer, agent)
}

pub fn stream(name: &str, seconds: usize, faults: Faults) -> StreamSpec {
    let (customer, agent) = test_audio(seconds);
    stream_of(name, customer, agent, faults)
}

/// A stream of the call `CONTACT` carrying these two tracks.
pub fn stream_of(name: &str, customer: Vec<i16>, agent: Vec<i16>, faults: Faults) -> StreamSpec {
    StreamSpec {
        name: name.into(),
        media: StreamMedia {
            customer,
            agent: Some(agent),
            contact_id: CONTACT.into(),
            switch_contact_at_ms: None,
            next_contact_id: "00000000-0000-0000-0000-000000000003".into(),
            start_epoch_ms: 1_764_000_000_000,
        },
        faults,
    }
}

pub fn spawn_emulator(streams: Vec<StreamSpec>, speed: f64) -> EmulatorHandle {
    spawn_paced_emulator(streams, speed, Pacing::Fragment)
}

pub fn spawn_paced_emulator(
    streams: Vec<StreamSpec>,
    speed: f64,
    pacing: Pacing,
) -> EmulatorHandle {
    let config = EmulatorConfig {
        streams,
        speed,
        idle_end: Duration::from_millis(300),
        pacing,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    Emulator::new(config)
        .spawn(listener)
        .expect("emulator starts")
}

fn target(emulator: &EmulatorHandle) -> KvsTarget {
    KvsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(emulator.url.clone()),
        role_arn: None,
        external_id: None,
        session_name: "test".into(),
    }
}

/// One GetMedia session read to its end: the fragments, and how the body ended.
async fn get_media(
    emulator: &EmulatorHandle,
    name: &str,
    selector: StartSelector,
) -> Result<(Vec<Fragment>, Result<(), String>), String> {
    let target = target(emulator);
    let config = sdk_config(&target).await;
    let arn = callscribe_devtools::emulator::stream_arn(name);
    let client = media_client(&config, &target, &arn)
        .await
        .map_err(|e| e.code.unwrap_or(e.message))?;
    let out = client
        .get_media()
        .stream_arn(&arn)
        .start_selector(selector)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_kinesisvideomedia::error::ProvideErrorMetadata;
            e.code().unwrap_or("no code").to_owned()
        })?;
    let mut body = out.payload;
    let mut reader = FragmentReader::new();
    let mut fragments = Vec::new();
    let ended = loop {
        match body.next().await {
            Some(Ok(bytes)) => {
                if let Err(e) = reader.feed(&bytes, &mut fragments) {
                    break Err(e.to_string());
                }
            }
            Some(Err(e)) => break Err(e.to_string()),
            None => break reader.finish(&mut fragments).map_err(|e| e.to_string()),
        }
    };
    Ok((fragments, ended))
}

fn selector(
    kind: StartSelectorType,
) -> aws_sdk_kinesisvideomedia::types::builders::StartSelectorBuilder {
    StartSelector::builder().start_selector_type(kind)
}

fn earliest() -> StartSelector {
    selector(StartSelectorType::Earliest).build().unwrap()
}

pub fn samples_of(fragments: &[Fragment], track_name: &str) -> Vec<i16> {
    fragments
        .iter()
        .flat_map(|f| {
            let track = f.track_named(track_name);
            f.frames.iter().filter(move |fr| Some(fr.track) == track)
        })
        .flat_map(|fr| {
            fr.data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
        })
        .collect()
}

#[tokio::test]
async fn earliest_delivers_both_tracks_exactly() {
    let spec = stream("call", 4, Faults::default());
    let (customer, agent) = (
        spec.media.customer.clone(),
        spec.media.agent.clone().unwrap(),
    );
    let emulator = spawn_emulator(vec![spec], 50.0);
    let (fragments, ended) = get_media(&emulator, "call", earliest()).await.unwrap();
    assert_eq!(ended, Ok(()), "clean end after the idle period");
    assert_eq!(fragments.len(), 4);
    assert_eq!(samples_of(&fragments, AUDIO_FROM_CUSTOMER), customer);
    assert_eq!(samples_of(&fragments, AUDIO_TO_CUSTOMER), agent);
    assert!(
        fragments
            .iter()
            .all(|f| f.contact_id.as_deref() == Some(CONTACT))
    );
    assert!(fragments.iter().all(|f| f.continuation_token == f.number));
}

#[tokio::test]
async fn fragment_number_and_continuation_token_start_after_the_named_fragment() {
    let emulator = spawn_emulator(vec![stream("call", 5, Faults::default())], 50.0);
    let second = StreamMedia::fragment_number(1);
    let s = selector(StartSelectorType::FragmentNumber)
        .after_fragment_number(&second)
        .build()
        .unwrap();
    let (fragments, _) = get_media(&emulator, "call", s).await.unwrap();
    assert_eq!(
        fragments[0].number,
        Some(StreamMedia::fragment_number(2)),
        "exclusive selector"
    );
    assert_eq!(fragments.len(), 3);
    let s = selector(StartSelectorType::ContinuationToken)
        .continuation_token(&second)
        .build()
        .unwrap();
    let (fragments, _) = get_media(&emulator, "call", s).await.unwrap();
    assert_eq!(fragments[0].number, Some(StreamMedia::fragment_number(2)));
}

#[tokio::test]
async fn timestamp_selectors_start_at_the_fragment_holding_the_time() {
    let spec = stream("call", 5, Faults::default());
    let producer_ms = spec.media.producer_timestamp_ms(3) + 100;
    let server_ms = spec.media.server_timestamp_ms(2) + 10;
    let emulator = spawn_emulator(vec![spec], 50.0);
    let at = |ms: i64| aws_sdk_kinesisvideomedia::primitives::DateTime::from_millis(ms);
    let s = selector(StartSelectorType::ProducerTimestamp)
        .start_timestamp(at(producer_ms))
        .build()
        .unwrap();
    let (fragments, _) = get_media(&emulator, "call", s).await.unwrap();
    assert_eq!(fragments[0].number, Some(StreamMedia::fragment_number(3)));
    let s = selector(StartSelectorType::ServerTimestamp)
        .start_timestamp(at(server_ms))
        .build()
        .unwrap();
    let (fragments, _) = get_media(&emulator, "call", s).await.unwrap();
    assert_eq!(fragments[0].number, Some(StreamMedia::fragment_number(2)));
}

#[tokio::test]
async fn now_starts_with_the_fragment_being_produced() {
    let emulator = spawn_emulator(vec![stream("call", 30, Faults::default())], 10.0);
    tokio::time::sleep(Duration::from_millis(350)).await; // ~3.5 media seconds
    let (fragments, _) = get_media(
        &emulator,
        "call",
        selector(StartSelectorType::Now).build().unwrap(),
    )
    .await
    .unwrap();
    let first = StreamMedia::fragment_index(fragments[0].number.as_deref().unwrap()).unwrap();
    // Near the live edge, not from the start; the upper bound leaves room for a busy
    // machine (the emulator runs at 10x, so 100 ms of scheduling delay is one fragment).
    assert!((3..=10).contains(&first), "first fragment {first}");
    assert_eq!(
        StreamMedia::fragment_index(fragments.last().unwrap().number.as_deref().unwrap()),
        Some(29)
    );
}

#[tokio::test]
async fn unknown_fragment_number_is_an_error_chunk() {
    let emulator = spawn_emulator(vec![stream("call", 2, Faults::default())], 50.0);
    let s = selector(StartSelectorType::FragmentNumber)
        .after_fragment_number("12345")
        .build()
        .unwrap();
    let (fragments, ended) = get_media(&emulator, "call", s).await.unwrap();
    assert_eq!(ended, Ok(()));
    assert_eq!(fragments.len(), 1);
    assert_eq!(
        fragments[0].error.as_ref().map(|e| e.code.as_str()),
        Some("FRAGMENT_NOT_FOUND")
    );
}

#[tokio::test]
async fn errors_reach_the_sdk_as_typed_kvs_errors() {
    let faults = Faults {
        get_media_failures: vec![KvsFailure::NotAuthorized, KvsFailure::ClientLimit],
        ..Faults::default()
    };
    let emulator = spawn_emulator(vec![stream("call", 2, faults)], 50.0);
    assert_eq!(
        get_media(&emulator, "nope", earliest()).await.unwrap_err(),
        "ResourceNotFoundException"
    );
    assert_eq!(
        get_media(&emulator, "call", earliest()).await.unwrap_err(),
        "NotAuthorizedException"
    );
    assert_eq!(
        get_media(&emulator, "call", earliest()).await.unwrap_err(),
        "ClientLimitExceededException"
    );
    assert!(
        get_media(&emulator, "call", earliest()).await.is_ok(),
        "then it recovers"
    );
}

#[tokio::test]
async fn session_limit_ends_the_response_cleanly() {
    let faults = Faults {
        session_limit: Some(Duration::from_millis(150)),
        ..Faults::default()
    };
    let emulator = spawn_emulator(vec![stream("call", 20, faults)], 20.0);
    let (fragments, ended) = get_media(&emulator, "call", earliest()).await.unwrap();
    assert_eq!(ended, Ok(()));
    assert!(
        !fragments.is_empty() && fragments.len() < 20,
        "{} fragments",
        fragments.len()
    );
}

#[tokio::test]
async fn dropped_connection_is_seen_by_the_client_once() {
    let faults = Faults {
        drop_once_in_fragment: Some(2),
        ..Faults::default()
    };
    let emulator = spawn_emulator(vec![stream("call", 4, faults)], 50.0);
    let (fragments, ended) = get_media(&emulator, "call", earliest()).await.unwrap();
    assert!(ended.is_err(), "the body fails");
    assert_eq!(fragments.len(), 2, "two whole fragments before the cut");
    let (fragments, ended) = get_media(&emulator, "call", earliest()).await.unwrap();
    assert_eq!((fragments.len(), ended), (4, Ok(())), "fires once");
}

#[tokio::test]
async fn garbage_is_a_parse_error_for_the_consumer() {
    let faults = Faults {
        garbage_once_at_fragment: Some(1),
        ..Faults::default()
    };
    let emulator = spawn_emulator(vec![stream("call", 3, faults)], 50.0);
    let (fragments, ended) = get_media(&emulator, "call", earliest()).await.unwrap();
    assert_eq!(fragments.len(), 1, "{ended:?}");
    assert!(
        ended.unwrap_err().contains("invalid"),
        "parser refuses the garbage"
    );
}

#[tokio::test]
async fn fourth_concurrent_session_is_refused() {
    let emulator = spawn_emulator(vec![stream("call", 60, Faults::default())], 1.0);
    let target = target(&emulator);
    let config = sdk_config(&target).await;
    let arn = callscribe_devtools::emulator::stream_arn("call");
    let client = media_client(&config, &target, &arn).await.unwrap();
    let open = || {
        client
            .get_media()
            .stream_arn(&arn)
            .start_selector(selector(StartSelectorType::Now).build().unwrap())
            .send()
    };
    let (a, b, c) = (
        open().await.unwrap(),
        open().await.unwrap(),
        open().await.unwrap(),
    );
    let fourth = open().await.map(|_| ()).map_err(|e| {
        use aws_sdk_kinesisvideomedia::error::ProvideErrorMetadata;
        e.code().map(str::to_owned)
    });
    assert_eq!(fourth, Err(Some("ConnectionLimitExceededException".into())));
    drop((a, b, c));
    emulator.stop().await;
}
