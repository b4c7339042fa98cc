//! `callscribe demo`, run as a newcomer runs it: the binary, no configuration, the bundled
//! call. It always uses its own SQLite database, so it runs in the SQLite pass only.

use crate::helpers::{model_path, postgres_selected};

#[tokio::test]
async fn the_demo_prints_every_utterance_live_and_after_the_call_and_leaves_nothing_behind() {
    if postgres_selected() {
        return;
    }
    let cwd = tempfile::tempdir().expect("temp dir");
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_callscribe"))
        .args(["demo", "--no-color"])
        .current_dir(cwd.path())
        .env("CALLSCRIBE_MODEL", model_path())
        .env("TMPDIR", tmp.path())
        .output()
        .await
        .expect("run callscribe demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let live = section(
        &stdout,
        "Live transcripts",
        "POST /mg-autotranscribe/v1/stop-streaming",
    );
    let after = section(
        &stdout,
        "GET /conversation/v1/conversation/messages",
        "Done in",
    );
    let lines = |s: &str| {
        s.lines()
            .filter(|l| l.contains("customer  ") || l.contains("agent  "))
            .count()
    };
    assert!(lines(live) >= 6, "too few live transcripts:\n{stdout}");
    assert_eq!(
        lines(live),
        lines(after),
        "live and after-call differ:\n{stdout}"
    );
    for said in [
        "area code",
        "what you can do for your country",
        "first in line",
    ] {
        assert!(
            live.to_lowercase().contains(said),
            "`{said}` not transcribed:\n{stdout}"
        );
    }
    // Every live line carries its latency; the test card number is redacted everywhere.
    assert!(
        live.lines()
            .skip(1)
            .all(|l| l.trim().is_empty() || l.ends_with(" s")),
        "{live}"
    );
    assert!(
        !stdout.contains("4539") && !stdout.contains("6467"),
        "{stdout}"
    );
    assert!(stdout.contains("Nothing is left running."), "{stdout}");
    // The console link signs in by itself: the key rides in the URL fragment.
    assert!(stdout.contains("/console#key=cs_"), "{stdout}");
    // ONNX Runtime's telemetry client writes its session id to `$TMPDIR/.ses` when the
    // runtime starts, though its events are disabled (docs/development.md, "Moonshine base-en").
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".ses")
        .collect();
    assert!(
        left.is_empty(),
        "the demo left files in its temporary directory: {left:?}"
    );
}

/// The text between the line starting with `from` and the next line starting with `to`.
fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in\n{text}"));
    let rest = &text[start..];
    let end = rest
        .find(to)
        .unwrap_or_else(|| panic!("no `{to}` after `{from}` in\n{text}"));
    &rest[..end]
}
