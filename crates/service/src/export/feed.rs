//! The utterances feed, version 1, JSONL: what one line holds, how files are named, and
//! the writer that cuts a day's rows into one gzip file per UTC hour.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, SecondsFormat, Timelike};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::feed::{FeedRow, PublishedFile};

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

/// One line of the feed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    /// The Connect ContactId (`guid`).
    conversation_id: &'a str,
    message_id: &'a str,
    stream_id: &'a str,
    /// Transcription order within the conversation, from 1 (past 1,000 too).
    sequence: i32,
    sender: Sender<'a>,
    start: i64,
    end: i64,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<&'a RawValue>,
    created_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sender<'a> {
    role: &'a str,
    external_id: &'a str,
}

/// Appends `row` as one JSON line.
pub fn write_line(out: &mut impl Write, row: &FeedRow) -> io::Result<()> {
    let tokens = row
        .tokens
        .as_deref()
        .and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
    let line = Line {
        conversation_id: &row.external_conversation_id,
        message_id: &row.id,
        stream_id: &row.stream_id,
        sequence: row.seq,
        sender: Sender {
            role: &row.role,
            external_id: &row.sender_external_id,
        },
        start: row.start_ms,
        end: row.end_ms,
        text: &row.text,
        tokens,
        created_timestamp: row.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    serde_json::to_writer(&mut *out, &line)?;
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
    use chrono::{TimeZone, Utc};
    use std::io::Read;

    fn row(id: &str, hour: u32, tokens: Option<&str>) -> FeedRow {
        FeedRow {
            id: id.into(),
            external_conversation_id: "contact-1".into(),
            stream_id: "s1".into(),
            role: "agent".into(),
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
