//! `callscribe redact [--entities A,B] [--jsonl | --conversations]`: redacts text from
//! stdin with the pipeline's rules, one line out per line in, in order. A plain line is
//! judged on its own; with `--conversations` each line is a conversation's turns, judged
//! as the service judges a call's utterances (see [`ConversationContext`]).

use std::io::{BufRead, Write};

use anyhow::Context as _;
use serde::Deserialize;

use callscribe::redact::{Context, ConversationContext, Entity, Found, Language, Redactor};

#[derive(Debug, clap::Args)]
pub struct RedactArgs {
    /// Entities to redact, comma-separated (default: CREDIT_CARD_NUMBER, CVV, PIN, SSN,
    /// PASSWORD; also EMAIL, PHONE_NUMBER, DOB, PROFANITY).
    #[arg(long, value_delimiter = ',')]
    pub entities: Option<Vec<String>>,
    /// Print `{"text", "found": [{"entity", "start", "end"}]}` per line, with character
    /// offsets into the input line, instead of the redacted line.
    #[arg(long)]
    pub jsonl: bool,
    /// Each input line is `{"lang", "turns": [{"speaker", "text"}, …]}`, one conversation's
    /// utterances in the order they ended; each output line is `{"turns": [{"text",
    /// "found"}, …]}`. Turns are judged with the conversation's earlier turns, and a
    /// turn that ends inside a number is judged with the same speaker's next turn, as
    /// the service holds its message for it.
    #[arg(long, conflicts_with = "jsonl")]
    pub conversations: bool,
    /// Keep a card number's last four digits (the tenant setting `cardKeepLastFour`).
    #[arg(long)]
    pub card_keep_last_four: bool,
}

#[derive(Deserialize)]
struct Conversation {
    /// `en` (the default) or `es`: the number and cue words to judge by.
    #[serde(default)]
    lang: Option<String>,
    turns: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    speaker: String,
    text: String,
}

pub fn run(args: &RedactArgs) -> anyhow::Result<()> {
    let entities: Vec<Entity> = match &args.entities {
        None => Entity::DEFAULTS.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Entity::parse(n.trim()).with_context(|| {
                    let known: Vec<&str> = Entity::ALL.iter().map(|e| e.as_str()).collect();
                    format!("unknown entity {n:?}; known: {}", known.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let redactor = Redactor::new(entities).keeping_card_last_four(args.card_keep_last_four);
    let mut out = std::io::stdout().lock();
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if args.conversations {
            let conversation: Conversation = serde_json::from_str(&line)
                .with_context(|| format!("line {}: not a conversation", number + 1))?;
            let language = match conversation.lang.as_deref() {
                Some("es") => Language::Spanish,
                _ => Language::English,
            };
            let redactor = redactor.clone().in_language(language);
            let turns = redact_conversation(&redactor, &conversation.turns);
            writeln!(out, "{}", serde_json::json!({ "turns": turns }))?;
            continue;
        }
        let (redacted, found) = redactor.redact(&line, &Context::default());
        if args.jsonl {
            writeln!(out, "{}", turn_json(&line, &redacted, &found))?;
        } else {
            writeln!(out, "{redacted}")?;
        }
    }
    Ok(())
}

/// Each turn redacted in order, as the service does: with what both speakers said
/// before, the speaker's previous turn, and the next one when the turn ends open.
fn redact_conversation(redactor: &Redactor, turns: &[Turn]) -> Vec<serde_json::Value> {
    let mut said = ConversationContext::default();
    turns
        .iter()
        .enumerate()
        .map(|(i, turn)| {
            let mut context = said.before(&turn.speaker, None);
            if redactor.ends_open(&turn.text, &context) {
                context.next = turns[i + 1..]
                    .iter()
                    .find(|t| t.speaker == turn.speaker)
                    .map(|t| t.text.as_str());
            }
            let (redacted, found) = redactor.redact(&turn.text, &context);
            said.heard(&turn.speaker, &turn.text, None);
            turn_json(&turn.text, &redacted, &found)
        })
        .collect()
}

/// `{"text", "found"}` with character offsets into `original`.
fn turn_json(original: &str, redacted: &str, found: &[Found]) -> serde_json::Value {
    let chars = |byte: usize| original[..byte].chars().count();
    let found: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            serde_json::json!({"entity": f.entity.as_str(),
                "start": chars(f.span.start), "end": chars(f.span.end)})
        })
        .collect();
    serde_json::json!({"text": redacted, "found": found})
}
