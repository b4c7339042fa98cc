//! `/mg-autotranscribe/v1`: start-streaming and stop-streaming, with the guide's
//! exact JSON shapes.

use poem_openapi::{Enum, Object, OpenApi, Tags};

use super::auth::ApiKeyAuth;
use super::json_body::JsonBody;
use super::language::Language;
use super::responses::Success;
use crate::error::{ApiError, ErrorCode, Failure, error_list};
use crate::ids::PerRole;
use crate::service::calls::Participant;
use crate::state::SharedState;
use crate::store::conversations::StartSettings;

#[derive(Tags)]
enum StreamingTag {
    /// Start and stop real-time transcription of an Amazon Connect contact.
    Streaming,
}

/// The integration a request speaks: only Amazon Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Namespace {
    Amazonconnect,
}

/// Transcription settings fixed at start; every later read reflects them.
#[derive(Debug, Clone, Object, Default)]
#[oai(rename_all = "camelCase")]
pub struct AutotranscribeParams {
    #[oai(skip_serializing_if_is_none)]
    pub language: Option<Language>,
    /// When true, each utterance carries word tokens with start/end milliseconds.
    #[oai(skip_serializing_if_is_none)]
    pub detailed_token: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub redaction_output: Option<RedactionOutput>,
    /// Entities to redact, replacing the tenant's default set.
    #[oai(validator(max_items = 16), skip_serializing_if_is_none)]
    pub redaction_entities: Option<Vec<RedactionEntity>>,
}

/// Which text to produce (default `redacted`): redacted, unredacted, or both
/// (`text` redacted and `unredactedText` as spoken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "snake_case")]
pub enum RedactionOutput {
    #[default]
    Redacted,
    Unredacted,
    RedactedAndUnredacted,
}

/// A kind of personal information the redactor can mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedactionEntity {
    CreditCardNumber,
    Cvv,
    Pin,
    Ssn,
    Password,
    Email,
    PhoneNumber,
    Dob,
    Profanity,
}

/// Where in the KVS stream to start reading (default `NOW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartSelectorType {
    /// The most recent audio.
    #[default]
    Now,
    /// The fragment after `afterFragmentNumber` (Connect's `StartFragmentNumber`).
    FragmentNumber,
    /// The oldest retained audio.
    Earliest,
    /// The fragment holding `startTimestamp` (server clock).
    ServerTimestamp,
    /// The fragment holding `startTimestamp` (producer clock; Connect's `StartTimestamp`).
    ProducerTimestamp,
}

impl From<RedactionOutput> for entity::RedactionOutput {
    fn from(output: RedactionOutput) -> Self {
        match output {
            RedactionOutput::Redacted => entity::RedactionOutput::Redacted,
            RedactionOutput::Unredacted => entity::RedactionOutput::Unredacted,
            RedactionOutput::RedactedAndUnredacted => {
                entity::RedactionOutput::RedactedAndUnredacted
            }
        }
    }
}

impl From<StartSelectorType> for entity::StartSelectorType {
    fn from(selector: StartSelectorType) -> Self {
        match selector {
            StartSelectorType::Now => entity::StartSelectorType::Now,
            StartSelectorType::FragmentNumber => entity::StartSelectorType::FragmentNumber,
            StartSelectorType::Earliest => entity::StartSelectorType::Earliest,
            StartSelectorType::ServerTimestamp => entity::StartSelectorType::ServerTimestamp,
            StartSelectorType::ProducerTimestamp => entity::StartSelectorType::ProducerTimestamp,
        }
    }
}

/// The KVS stream Connect writes the contact's audio to.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AmazonConnectParams {
    /// `$.MediaStreams.Customer.Audio.StreamARN` of the contact-flow event.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub stream_arn: String,
    #[oai(skip_serializing_if_is_none)]
    pub start_selector_type: Option<StartSelectorType>,
    /// Required with `FRAGMENT_NUMBER`: `$.MediaStreams.Customer.Audio.StartFragmentNumber`.
    #[oai(skip_serializing_if_is_none)]
    pub after_fragment_number: Option<String>,
    /// Required with `SERVER_TIMESTAMP`/`PRODUCER_TIMESTAMP`: epoch milliseconds.
    #[oai(skip_serializing_if_is_none)]
    pub start_timestamp: Option<i64>,
}

/// Start transcribing a contact.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct StartStreamingRequest {
    pub namespace: Namespace,
    /// The Connect ContactId (`$.ContactId`): 1–128 characters of `[A-Za-z0-9._:-]`.
    #[oai(validator(pattern = "^[A-Za-z0-9._:-]{1,128}$"))]
    pub guid: String,
    /// Your identifier of the customer, 1–128 characters.
    pub customer_id: String,
    /// Your identifier of the agent, 1–128 characters.
    pub agent_id: String,
    pub autotranscribe_params: Option<AutotranscribeParams>,
    pub amazon_connect_params: AmazonConnectParams,
}

impl poem_openapi::types::Example for StartStreamingRequest {
    fn example() -> Self {
        StartStreamingRequest {
            namespace: Namespace::Amazonconnect,
            guid: "8c259fea-8764-4a92-adc4-73572e9cf016".into(),
            customer_id: "TT9833237".into(),
            agent_id: "RE223444211993".into(),
            autotranscribe_params: Some(AutotranscribeParams {
                language: Some(Language("en-US".into())),
                detailed_token: Some(false),
                redaction_output: Some(RedactionOutput::Redacted),
                redaction_entities: None,
            }),
            amazon_connect_params: AmazonConnectParams {
                stream_arn: "arn:aws:kinesisvideo:us-east-1:145051540001:stream/streamtest-connect-asappconnect-contact-cccaa6b8-12e4-44a6-90d5-829c4fdf68e4/1696422764859".into(),
                start_selector_type: Some(StartSelectorType::Now),
                after_fragment_number: None,
                start_timestamp: None,
            },
        }
    }
}

/// Stop transcribing a contact (hold, transfer, end of call).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct StopStreamingRequest {
    pub namespace: Namespace,
    /// The ContactId given to start-streaming.
    #[oai(validator(pattern = "^[A-Za-z0-9._:-]{1,128}$"))]
    pub guid: String,
}

impl poem_openapi::types::Example for StopStreamingRequest {
    fn example() -> Self {
        StopStreamingRequest {
            namespace: Namespace::Amazonconnect,
            guid: "8c259fea-8764-4a92-adc4-73572e9cf016".into(),
        }
    }
}

/// A participant stream's state.
#[derive(Debug, Clone, Object)]
pub struct StreamStatus {
    /// 1000 OK; 1008 ended by source; 4040 track not found; 4041 KVS stream not found;
    /// 4043 access denied; 5000 internal; 5001 engine unavailable; 5002 KVS unavailable
    /// after retries.
    pub code: i32,
    /// The code in words, e.g. `OK`.
    pub description: String,
}

/// Measured figures of a stopped stream, present in stop-streaming answers.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StreamSummary {
    /// PCM bytes received from KVS.
    pub total_audio_bytes: i64,
    /// Duration of that audio.
    pub audio_duration_ms: i64,
    /// Wall-clock seconds from start to stop, rounded up.
    pub streaming_seconds: i64,
    /// Utterances transcribed.
    pub transcripts: i32,
}

/// One participant's stream.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ParticipantStream {
    /// Identifies this participant's stream in webhook messages.
    pub stream_id: String,
    pub status: StreamStatus,
    #[oai(skip_serializing_if_is_none)]
    pub summary: Option<StreamSummary>,
}

/// Both participants' streams.
#[derive(Debug, Clone, Object)]
pub struct AutotranscribeResponse {
    pub customer: ParticipantStream,
    pub agent: ParticipantStream,
}

/// Answer to start-streaming and stop-streaming.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct StreamingResponse {
    /// Always true in a 200 answer (errors answer `ErrorBody`).
    pub is_ok: bool,
    pub autotranscribe_response: AutotranscribeResponse,
}

impl poem_openapi::types::Example for StreamingResponse {
    fn example() -> Self {
        let p = |id: &str| ParticipantStream {
            stream_id: id.into(),
            status: StreamStatus {
                code: 1000,
                description: "OK".into(),
            },
            summary: None,
        };
        StreamingResponse {
            is_ok: true,
            autotranscribe_response: AutotranscribeResponse {
                customer: p("0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d21"),
                agent: p("0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d22"),
            },
        }
    }
}

impl StreamingResponse {
    fn from_participants(participants: PerRole<Participant>) -> Self {
        let wire = |p: Participant| ParticipantStream {
            stream_id: p.stream_id.0,
            summary: p.streaming_seconds.map(|streaming_seconds| StreamSummary {
                total_audio_bytes: p.summary.total_audio_bytes,
                audio_duration_ms: p.summary.audio_duration_ms(),
                streaming_seconds,
                transcripts: p.summary.transcripts,
            }),
            status: StreamStatus {
                code: p.summary.status.code.code(),
                description: p.summary.status.description,
            },
        };
        StreamingResponse {
            is_ok: true,
            autotranscribe_response: AutotranscribeResponse {
                customer: wire(participants.customer),
                agent: wire(participants.agent),
            },
        }
    }
}

error_list!(StartErrors: 400, 401, 409, 413, 415, 422, 429, 500, 503);
error_list!(StopErrors: 400, 401, 404, 413, 415, 429, 500, 503);

pub struct StreamingApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/mg-autotranscribe/v1", tag = "StreamingTag::Streaming")]
impl StreamingApi {
    /// Start transcribing a contact
    ///
    /// Call it from the contact flow's Lambda right after "Start media streaming". The
    /// service checks the KVS stream, registers the conversation and one stream per
    /// participant, and returns at once; transcripts then arrive at your webhook.
    /// Starting again after a stop resumes the same conversation with new `streamId`s.
    #[oai(
        path = "/start-streaming",
        method = "post",
        operation_id = "startStreaming"
    )]
    async fn start_streaming(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<StartStreamingRequest>,
    ) -> Result<Success<StreamingResponse>, Failure<StartErrors>> {
        crate::audit::note_subject(&body.guid);
        let (guid, settings) = validate_start(body.0)?;
        let participants = self.state.calls.start(&auth.0, &guid, settings).await?;
        Ok(Success::json(StreamingResponse::from_participants(
            participants,
        )))
    }

    /// Stop transcribing a contact
    ///
    /// Call it right before "Stop media streaming". The utterance in progress is
    /// transcribed and delivered; the answer carries each stream's measured summary.
    /// Stopping a stopped conversation returns the last summary again.
    #[oai(
        path = "/stop-streaming",
        method = "post",
        operation_id = "stopStreaming"
    )]
    async fn stop_streaming(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<StopStreamingRequest>,
    ) -> Result<Success<StreamingResponse>, Failure<StopErrors>> {
        crate::audit::note_subject(&body.guid);
        let participants = self.state.calls.stop(&auth.0, &body.guid).await?;
        Ok(Success::json(StreamingResponse::from_participants(
            participants,
        )))
    }
}

fn check_identifier(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > 128 || value.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field(
            field,
            "must be 1-128 characters with no control characters",
        ));
    }
    Ok(())
}

/// Checks a start request: the conversation's guid and the settings it fixes.
fn validate_start(req: StartStreamingRequest) -> Result<(String, StartSettings), ApiError> {
    check_identifier("customerId", &req.customer_id)?;
    check_identifier("agentId", &req.agent_id)?;
    let params = req.autotranscribe_params.unwrap_or_default();
    let language = params.language.map_or_else(|| "en-US".into(), |l| l.0);
    if crate::transcribe::language::lookup(&language).is_none() {
        return Err(ApiError::new(
            ErrorCode::UnsupportedLanguage,
            format!(
                "unsupported language `{}`; supported: {}",
                super::echo(&language),
                crate::transcribe::language::supported_codes()
            ),
        ));
    }
    let connect = req.amazon_connect_params;
    let arn = crate::kvs::arn::StreamArn::parse(&connect.stream_arn).ok_or_else(|| {
        ApiError::invalid_field(
            "amazonConnectParams.streamArn",
            "must be a Kinesis Video stream ARN: arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-time>",
        )
    })?;
    let selector = connect.start_selector_type.unwrap_or_default();
    let after_fragment_number = match selector {
        StartSelectorType::FragmentNumber => match connect.after_fragment_number {
            Some(n) if !n.is_empty() && n.len() <= 128 && n.bytes().all(|b| b.is_ascii_digit()) => {
                Some(n)
            }
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "amazonConnectParams.afterFragmentNumber",
                    "must be 1-128 decimal digits",
                ));
            }
            None => {
                return Err(ApiError::invalid_field(
                    "amazonConnectParams.afterFragmentNumber",
                    "is required when startSelectorType is FRAGMENT_NUMBER",
                ));
            }
        },
        _ => None,
    };
    let start_timestamp_ms = match selector {
        StartSelectorType::ServerTimestamp | StartSelectorType::ProducerTimestamp => {
            match connect.start_timestamp {
                Some(ts) if ts > 0 => Some(ts),
                _ => {
                    return Err(ApiError::invalid_field(
                        "amazonConnectParams.startTimestamp",
                        "is required (epoch milliseconds) when startSelectorType is SERVER_TIMESTAMP or PRODUCER_TIMESTAMP",
                    ));
                }
            }
        }
        _ => None,
    };
    let entities = params.redaction_entities.map(|list| {
        let mut names: Vec<String> = list.iter().map(super::wire_name).collect();
        names.sort();
        names.dedup();
        names
    });
    let settings = StartSettings {
        customer_id: req.customer_id,
        agent_id: req.agent_id,
        language,
        detailed_token: params.detailed_token.unwrap_or(false),
        redaction_output: params.redaction_output.unwrap_or_default().into(),
        redaction_entities: entities,
        stream_arn: arn,
        start_selector_type: selector.into(),
        after_fragment_number,
        start_timestamp_ms,
    };
    Ok((req.guid, settings))
}
