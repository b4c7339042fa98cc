//! How the demo talks to the person running it: headings, aligned facts and one coloured
//! line per transcript. Colour only on a terminal, and never with `NO_COLOR` set.

use std::io::{IsTerminal, Write};
use std::time::Duration;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    colour: bool,
}

const BOLD: &str = "1";
const DIM: &str = "2";
const CUSTOMER: &str = "36"; // cyan
const AGENT: &str = "33"; // yellow
const FAILED: &str = "31"; // red

impl Console {
    pub fn new(no_colour: bool) -> Console {
        let colour =
            !no_colour && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Console { colour }
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn heading(&self, text: &str) {
        say(format_args!("\n{}", self.paint(BOLD, text)));
    }

    /// `  label      value`, the label padded so values line up.
    pub fn fact(&self, label: &str, value: &str) {
        say(format_args!(
            "  {}  {value}",
            self.paint(DIM, &format!("{label:<9}"))
        ));
    }

    pub fn note(&self, text: &str) {
        say(format_args!("  {}", self.paint(DIM, text)));
    }

    pub fn failure(&self, text: &str) {
        say(format_args!("  {}", self.paint(FAILED, text)));
    }

    /// `  00:05.1–00:15.9  customer  text   +0.74 s`
    pub fn utterance(&self, role: &str, start_ms: i64, end_ms: i64, text: &str, extra: &str) {
        let style = if role == "customer" { CUSTOMER } else { AGENT };
        say(format_args!(
            "  {}  {}  {}  {}",
            self.paint(DIM, &format!("{}–{}", clock(start_ms), clock(end_ms))),
            self.paint(&format!("{BOLD};{style}"), &format!("{role:<8}")),
            self.paint(style, text),
            self.paint(DIM, extra),
        ));
    }
}

/// One line to stdout. A reader that went away (`callscribe demo | head`) must not stop the
/// demo half-way with its services running, so a failed write is dropped, not a panic.
fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `mm:ss.t` of a call-relative time.
pub fn clock(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:02}:{:02}.{}", ms / 60_000, ms / 1000 % 60, ms / 100 % 10)
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_minutes_seconds_and_tenths() {
        assert_eq!(clock(0), "00:00.0");
        assert_eq!(clock(65_432), "01:05.4");
        assert_eq!(clock(-5), "00:00.0");
    }

    #[test]
    fn without_colour_nothing_is_escaped() {
        let console = Console { colour: false };
        assert_eq!(console.paint(BOLD, "x"), "x");
        let console = Console { colour: true };
        assert_eq!(console.paint(BOLD, "x"), "\x1b[1mx\x1b[0m");
    }
}
