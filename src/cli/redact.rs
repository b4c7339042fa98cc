//! `callscribe redact [--entities A,B] [--jsonl]`: redacts text lines from stdin with the
//! pipeline's rules, one line out per line in, in order (each line on its own: no
//! previous-utterance context).

use std::io::{BufRead, Write};

use anyhow::Context;

use callscribe::redact::{Entity, Redactor};

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
    let redactor = Redactor::new(entities);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read stdin")?;
        let (redacted, found) = redactor.redact(&line, None);
        if args.jsonl {
            let chars = |byte: usize| line[..byte].chars().count();
            let found: Vec<serde_json::Value> = found
                .iter()
                .map(|f| {
                    serde_json::json!({"entity": f.entity.as_str(),
                        "start": chars(f.span.start), "end": chars(f.span.end)})
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"text": redacted, "found": found})
            )?;
        } else {
            writeln!(out, "{redacted}")?;
        }
    }
    Ok(())
}
