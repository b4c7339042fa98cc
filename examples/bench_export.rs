//! Data for `scripts/bench-export`: N utterances of one tenant's day, spread over 24 hours
//! and C conversations, written straight into the database the way the pipeline stores
//! them (multi-row inserts, so generating a million takes seconds, not an hour).
//!
//!   bench_export --database-url URL --date YYYY-MM-DD [--rows N] [--conversations C]

use std::time::Instant;

use anyhow::Context;
use callscribe::ids::{MessageId, TenantId};
use callscribe::store::Store;
use callscribe::store::conversations::{StartOutcome, StartSettings};
use chrono::{NaiveDate, NaiveTime};
use entity::message;
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// Sentences of a support call, varied so the compression ratio is not flattering.
const WORDS: &[&str] = &[
    "I",
    "need",
    "help",
    "with",
    "my",
    "account",
    "the",
    "last",
    "bill",
    "was",
    "higher",
    "than",
    "usual",
    "could",
    "you",
    "check",
    "what",
    "happened",
    "in",
    "October",
    "sure",
    "let",
    "me",
    "look",
    "that",
    "up",
    "for",
    "you",
    "one",
    "moment",
    "please",
    "thank",
    "streaming",
    "package",
    "upgrade",
    "card",
    "payment",
    "address",
    "changed",
    "yesterday",
];

fn sentence(i: usize) -> String {
    let len = 8 + i % 12;
    (0..len)
        .map(|w| WORDS[(i * 7 + w * 13 + w * w) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = arg("--database-url").context("--database-url is required")?;
    let date: NaiveDate = arg("--date").context("--date is required")?.parse()?;
    let rows: usize = arg("--rows").map_or(Ok(1_000_000), |v| v.parse())?;
    let conversations: usize = arg("--conversations").map_or(Ok(2_000), |v| v.parse())?;
    callscribe::install_crypto_provider();
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let tenant = store.create_tenant("bench-export").await?;
    let tenant_id = TenantId(tenant.id.clone());
    let started = Instant::now();
    let mut calls = Vec::with_capacity(conversations);
    for c in 0..conversations {
        let settings = StartSettings {
            customer_id: format!("customer-{c}"),
            agent_id: format!("agent-{}", c % 50),
            language: "en-US".into(),
            detailed_token: false,
            redaction_output: entity::RedactionOutput::Redacted,
            redaction_entities: None,
            stream_arn: callscribe::kvs::arn::StreamArn::parse(&format!(
                "arn:aws:kinesisvideo:us-east-1:000000000000:stream/c{c}/0"
            ))
            .context("stream arn")?,
            start_selector_type: entity::StartSelectorType::Now,
            after_fragment_number: None,
            start_timestamp_ms: None,
        };
        let StartOutcome::Started {
            conversation,
            streams,
            ..
        } = store
            .start_conversation(&tenant_id, &format!("contact-{c:06}"), &settings, None)
            .await?
        else {
            anyhow::bail!("conversation {c} exists");
        };
        calls.push((
            conversation.id,
            [streams[0].id.clone(), streams[1].id.clone()],
        ));
    }
    let day_start = date.and_time(NaiveTime::MIN).and_utc();
    let step_us = 86_400_000_000 / rows.max(1) as i64;
    let mut seq = vec![0i32; conversations];
    let mut written = 0;
    while written < rows {
        let txn = store.db().begin().await?;
        for _ in 0..20 {
            let chunk: Vec<message::ActiveModel> = (written..(written + 500).min(rows))
                .map(|i| {
                    let c = i % conversations;
                    seq[c] += 1;
                    let (conversation, streams) = &calls[c];
                    let agent = i % 2 == 1;
                    message::ActiveModel {
                        id: Set(MessageId::generate().0),
                        conversation_id: Set(conversation.clone()),
                        tenant_id: Set(tenant.id.clone()),
                        stream_id: Set(streams[usize::from(agent)].clone()),
                        role: Set(if agent {
                            entity::Role::Agent
                        } else {
                            entity::Role::Customer
                        }),
                        sender_external_id: Set(if agent {
                            format!("agent-{}", c % 50)
                        } else {
                            format!("customer-{c}")
                        }),
                        seq: Set(seq[c]),
                        start_ms: Set(i64::from(seq[c]) * 4_000),
                        end_ms: Set(i64::from(seq[c]) * 4_000 + 3_200),
                        text: Set(sentence(i)),
                        unredacted_text: Set(None),
                        tokens: Set(None),
                        created_at: Set(
                            day_start + chrono::Duration::microseconds(step_us * i as i64)
                        ),
                    }
                })
                .collect();
            if chunk.is_empty() {
                break;
            }
            written += chunk.len();
            message::Entity::insert_many(chunk).exec(&txn).await?;
        }
        txn.commit().await?;
    }
    println!(
        "generated {rows} utterances of {date} in {conversations} conversations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}
