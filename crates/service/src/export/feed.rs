//! The utterances feed, version 1, JSONL: what one line holds, how files are named, and
//! the writer that cuts a day's rows into one gzip file per UTC hour.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, SecondsFormat, Timelike};
use flate2::Compression;
use flate2::write::GzEncoder;
use poem_openapi::Object;
use serde::Serialize;

use crate::store::feed::{FeedRow, PublishedFile};
use crate::wire::{ParticipantRole, Sender, Token, stored_tokens};

pub const FEED: &str = "utterances";
pub const VERSION: &str = "1";
pub const FORMAT: &str = "jsonl";

/// `hr=07` for 07:00–07:59 UTC.
pub fn interval_name(hour: u32) -> String {
    format!("hr={hour:02}")
}

/// `utterances-2026-11-23-hr07.jsonl.gz`: unique within a day, so a file name alone
/// identifies the file (`getfeedfile` does not require the interval).
pub fn file_name(date: NaiveDate, hour: u32) -> String {
    format!("{FEED}-{}-hr{hour:02}.{FORMAT}.gz", date.format("%Y-%m-%d"))
}

/// One line of the utterances feed (version 1): one stored utterance.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase")]
pub struct FeedLine {
    /// The Connect ContactId (`guid`).
    pub conversation_id: String,
    /// The utterance's id (the webhook's `webhook-id`).
    pub message_id: String,
    /// The participant's `streamId` from start-streaming.
    pub stream_id: String,
    /// Transcription order within the conversation, from 1 (past 1,000 too).
    pub sequence: i32,
    pub sender: Sender,
    /// Milliseconds from the start of the participant's stream.
    pub start: i64,
    /// Milliseconds from the start of the participant's stream.
    pub end: i64,
    /// The redacted text.
    pub text: String,
    /// Word timings; present when start-streaming asked for `detailedToken`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<Token>>,
    /// When the utterance was transcribed (RFC 3339, UTC, milliseconds).
    pub created_timestamp: String,
}

impl poem_openapi::types::Example for FeedLine {
    fn example() -> Self {
        FeedLine {
            conversation_id: "8c259fea-8764-4a92-adc4-73572e9cf016".into(),
            message_id: "0193a3f5-0c2b-7d10-8b7a-1f4e2d3c4b5a".into(),
            stream_id: "0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d21".into(),
            sequence: 1,
            sender: Sender {
                external_id: "TT9833237".into(),
                role: ParticipantRole::Customer,
            },
            start: 400,
            end: 3968,
            text: "I need help upgrading my streaming package and my PIN number is ####".into(),
            tokens: None,
            created_timestamp: "2026-11-23T10:00:03.968Z".into(),
        }
    }
}

impl FeedLine {
    pub fn of(row: &FeedRow) -> FeedLine {
        FeedLine {
            conversation_id: row.external_conversation_id.clone(),
            message_id: row.id.clone(),
            stream_id: row.stream_id.clone(),
            sequence: row.seq,
            sender: Sender {
                external_id: row.sender_external_id.clone(),
                role: row.role.into(),
            },
            start: row.start_ms,
            end: row.end_ms,
            text: row.text.clone(),
            tokens: stored_tokens(row.tokens.as_deref()),
            created_timestamp: row.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Appends `row` as one JSON line.
pub fn write_line(out: &mut impl Write, row: &FeedRow) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &FeedLine::of(row))?;
    out.write_all(b"\n")
}

/// A finished file waiting to be stored.
#[derive(Debug)]
pub struct StagedFile {
    pub path: PathBuf,
    pub file: PublishedFile,
}

/// Writes one day's rows, in time order, into one gzip file per hour under a staging
/// directory. Synchronous: it runs on a blocking thread, fed batch by batch.
pub struct DayWriter {
    dir: PathBuf,
    date: NaiveDate,
    open: Option<OpenFile>,
    finished: Vec<StagedFile>,
}

struct OpenFile {
    hour: u32,
    path: PathBuf,
    rows: u64,
    gz: GzEncoder<BufWriter<File>>,
}

impl DayWriter {
    pub fn new(dir: &Path, date: NaiveDate) -> io::Result<DayWriter> {
        std::fs::create_dir_all(dir)?;
        Ok(DayWriter {
            dir: dir.to_path_buf(),
            date,
            open: None,
            finished: Vec::new(),
        })
    }

    pub fn write(&mut self, row: &FeedRow) -> io::Result<()> {
        let hour = row.created_at.hour();
        if self.open.as_ref().is_some_and(|f| f.hour != hour) {
            self.close_file()?;
        }
        let open = match &mut self.open {
            Some(open) => open,
            None => self.open.insert(self.create(hour)?),
        };
        write_line(&mut open.gz, row)?;
        open.rows += 1;
        Ok(())
    }

    /// Closes the last file; returns every file written, in hour order.
    pub fn finish(mut self) -> io::Result<Vec<StagedFile>> {
        self.close_file()?;
        Ok(self.finished)
    }

    fn create(&self, hour: u32) -> io::Result<OpenFile> {
        let path = self.dir.join(file_name(self.date, hour));
        let out = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
        Ok(OpenFile {
            hour,
            path,
            rows: 0,
            gz: GzEncoder::new(out, Compression::default()),
        })
    }

    /// Finishes the gzip stream and makes the file durable before it can be published.
    fn close_file(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let file = open.gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        self.finished.push(StagedFile {
            file: PublishedFile {
                interval: interval_name(open.hour),
                name: file_name(self.date, open.hour),
                rows: open.rows,
                bytes,
            },
            path: open.path,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Role;
    use chrono::{TimeZone, Utc};
    use std::io::Read;

    fn row(id: &str, hour: u32, tokens: Option<&str>) -> FeedRow {
        FeedRow {
            id: id.into(),
            external_conversation_id: "contact-1".into(),
            stream_id: "s1".into(),
            role: Role::Agent,
            sender_external_id: "agent-7".into(),
            seq: 3,
            start_ms: 400,
            end_ms: 3968,
            text: "say \"hi\"".into(),
            tokens: tokens.map(str::to_owned),
            created_at: Utc.with_ymd_and_hms(2026, 11, 23, hour, 5, 0).unwrap(),
        }
    }

    #[test]
    fn a_line_is_the_documented_object() {
        let mut out = Vec::new();
        write_line(
            &mut out,
            &row(
                "m1",
                7,
                Some(r#"[{"content":"say","start":400,"end":600}]"#),
            ),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "conversationId": "contact-1", "messageId": "m1", "streamId": "s1",
                "sequence": 3, "sender": {"role": "agent", "externalId": "agent-7"},
                "start": 400, "end": 3968, "text": "say \"hi\"",
                "tokens": [{"content": "say", "start": 400, "end": 600}],
                "createdTimestamp": "2026-11-23T07:05:00.000Z"
            })
        );
    }

    /// The line serde writes is the `FeedLine` the spec describes (same names).
    #[test]
    fn a_line_is_what_the_spec_describes() {
        use poem_openapi::types::{ParseFromJSON, ToJSON};
        let tokens = r#"[{"content":"say","start":400,"end":600}]"#;
        for tokens in [None, Some(tokens)] {
            let mut out = Vec::new();
            write_line(&mut out, &row("m1", 7, tokens)).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let described = FeedLine::parse_from_json(Some(sent.clone())).unwrap();
            assert_eq!(described.to_json(), Some(sent));
        }
    }

    #[test]
    fn rows_are_cut_into_hourly_gzip_files() {
        let dir = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let mut writer = DayWriter::new(dir.path(), date).unwrap();
        for (id, hour) in [("a", 0), ("b", 0), ("c", 7), ("d", 23)] {
            writer.write(&row(id, hour, None)).unwrap();
        }
        let files = writer.finish().unwrap();
        let summary: Vec<(&str, &str, u64)> = files
            .iter()
            .map(|f| (f.file.interval.as_str(), f.file.name.as_str(), f.file.rows))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("hr=00", "utterances-2026-11-23-hr00.jsonl.gz", 2),
                ("hr=07", "utterances-2026-11-23-hr07.jsonl.gz", 1),
                ("hr=23", "utterances-2026-11-23-hr23.jsonl.gz", 1),
            ]
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&files[0].path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["messageId"].to_string())
            .collect();
        assert_eq!(ids, vec!["\"a\"", "\"b\""]);
        assert_eq!(
            files[0].file.bytes,
            std::fs::metadata(&files[0].path).unwrap().len()
        );
    }
}
