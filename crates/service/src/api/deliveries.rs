//! What callscribe sends rather than serves, described for the spec: the webhook POST (the
//! document's `x-webhooks`, with its headers and body as named schemas) and the
//! utterances feed's line, which no operation returns (the feed's files are gzip), so it
//! is added to the components from its Rust type (see [`written_schemas`]).

use super::json_body::JsonBody;
use poem_openapi::param::Header;
use poem_openapi::registry::{MetaSchema, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Webhook};

use crate::export::feed::FeedLine;
use crate::webhook::body::TranscriptEvent;

/// What a receiver answers.
#[derive(ApiResponse)]
pub enum ReceiverAnswer {
    /// Delivered: any 2xx counts, and the body is ignored. Any other status, a network
    /// error or no answer within the target's `timeoutMs` is recorded in the delivery log
    /// (`GET /admin/v1/tenants/{id}/deliveries`) and the message is not sent
    /// again: the after-call messages and the feed still hold it.
    #[oai(status = 200)]
    Delivered,
}

/// The webhook deliveries, as receivers see them.
#[Webhook]
pub trait Deliveries {
    /// An utterance was transcribed
    ///
    /// callscribe POSTs each utterance of each participant to the tenant's webhook target
    /// within a few hundred milliseconds of the end of speech, in order per conversation.
    /// The target's auth mode adds its own header or query parameter. Every delivery is
    /// signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`), so a receiver verifies it with an existing library; the
    /// `x-callscribe-*` headers carry the older signature of our own and are kept until at
    /// least 2027-12-31. A `signingSecret` starting `whsec_` is used as the standard
    /// defines; any other string is the key's raw bytes, which a Standard Webhooks
    /// library takes as `whsec_` followed by their base64.
    #[oai(
        name = "transcript",
        method = "post",
        operation_id = "transcriptWebhook"
    )]
    #[allow(clippy::too_many_arguments)] // one per header a delivery carries
    fn transcript(
        &self,
        body: JsonBody<TranscriptEvent>,
        /// The utterance's `messageId` (as after-call retrieval and the feed name it).
        #[oai(name = "webhook-id")]
        webhook_id: Header<String>,
        /// Unix seconds when this attempt was signed; receivers refuse stale ones (the
        /// libraries allow 5 minutes).
        #[oai(name = "webhook-timestamp")]
        webhook_timestamp: Header<i64>,
        /// `v1,` followed by the base64 HMAC-SHA256, under the key, of
        /// `{webhook-id}.{webhook-timestamp}.{body}`.
        #[oai(name = "webhook-signature")]
        webhook_signature: Header<String>,
        /// Same as `webhook-id` (the older scheme).
        #[oai(name = "x-callscribe-message-id", deprecated)]
        message_id: Header<String>,
        /// Same as `webhook-timestamp` (the older scheme).
        #[oai(name = "x-callscribe-timestamp", deprecated)]
        timestamp: Header<i64>,
        /// `v1=` followed by the hex HMAC-SHA256, under `signingSecret`, of
        /// `{timestamp}.{body}` (the older scheme).
        #[oai(name = "x-callscribe-signature", deprecated)]
        signature: Header<String>,
    ) -> ReceiverAnswer;
}

/// The named schemas of what callscribe writes but no operation or webhook carries: the
/// utterances feed's line (`FeedLine`), and whatever it refers to.
pub fn written_schemas() -> Vec<(String, MetaSchema)> {
    let mut registry = Registry::new();
    FeedLine::register(&mut registry);
    registry.schemas.into_iter().collect()
}
