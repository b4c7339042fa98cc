//! Redaction of Spanish conversations, until Spanish cue rules exist: a conservative
//! default that masks every run of three or more digits or Spanish number words ("4111
//! 1111", "cuatro uno uno uno", "treinta y dos cuarenta"), whatever the context, when any
//! number entity is enabled. It also masks amounts, times and long dates; that is the
//! price of not knowing which numbers are sensitive.

use std::ops::Range;

use super::words::Word;
use super::{Entity, Found, Mask};

/// A run of number tokens shorter than this (digits or number words) is left alone.
const MIN_RUN: usize = 3;

/// How many digits a Spanish number word stands for (an estimate for the mask's length:
/// "mil" adds three zeros, "y" joins "treinta y dos"); `None` for other words.
fn spoken_digits(key: &str) -> Option<usize> {
    Some(match key {
        "cero" | "uno" | "una" | "un" | "dos" | "tres" | "cuatro" | "cinco" | "seis" | "siete"
        | "ocho" | "nueve" => 1,
        "diez" | "once" | "doce" | "trece" | "catorce" | "quince" | "dieciséis" | "dieciseis"
        | "diecisiete" | "dieciocho" | "diecinueve" | "veinte" | "veintiuno" | "veintiún"
        | "veintidós" | "veintidos" | "veintitrés" | "veintitres" | "veinticuatro"
        | "veinticinco" | "veintiséis" | "veintiseis" | "veintisiete" | "veintiocho"
        | "veintinueve" | "treinta" | "cuarenta" | "cincuenta" | "sesenta" | "setenta"
        | "ochenta" | "noventa" => 2,
        "cien" | "ciento" | "doscientos" | "doscientas" | "trescientos" | "trescientas"
        | "cuatrocientos" | "cuatrocientas" | "quinientos" | "quinientas" | "seiscientos"
        | "seiscientas" | "setecientos" | "setecientas" | "ochocientos" | "ochocientas"
        | "novecientos" | "novecientas" | "mil" => 3,
        _ => return None,
    })
}

/// A word written with digits ("4111", "555-0100", "(212)").
fn is_written(raw: &str) -> bool {
    raw.chars().any(|c| c.is_ascii_digit())
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || "-.,()/+$#:".contains(c))
}

/// One number token of a run: a written word's digits, or spoken words' span.
enum Piece {
    Written(Range<usize>),
    Spoken { span: Range<usize>, digits: usize },
}

/// Every run of at least [`MIN_RUN`] digits or number words, masked.
pub(super) fn number_runs(text: &str, words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut run: Vec<Piece> = Vec::new();
    let mut tokens = 0;
    for (i, w) in words.iter().enumerate() {
        let raw = &text[w.span.clone()];
        let next_is_number = words
            .get(i + 1)
            .is_some_and(|n| is_written(&text[n.span.clone()]) || spoken_digits(&n.key).is_some());
        if is_written(raw) {
            tokens += raw.chars().filter(char::is_ascii_digit).count();
            run.push(Piece::Written(w.span.clone()));
        } else if let Some(digits) = spoken_digits(&w.key) {
            tokens += 1;
            match run.last_mut() {
                Some(Piece::Spoken { span, digits: d }) => {
                    span.end = w.span.end;
                    *d += digits;
                }
                _ => run.push(Piece::Spoken {
                    span: w.span.clone(),
                    digits,
                }),
            }
        } else if w.key == "y" && !run.is_empty() && next_is_number {
            // "treinta y dos": the joining word is masked with the number.
            if let Some(Piece::Spoken { span, .. }) = run.last_mut() {
                span.end = w.span.end;
            }
            continue;
        } else {
            close(text, &mut run, &mut tokens, &mut found);
            continue;
        }
        if w.ends_sentence {
            close(text, &mut run, &mut tokens, &mut found);
        }
    }
    close(text, &mut run, &mut tokens, &mut found);
    found
}

/// Ends the current run, keeping it if it is long enough.
fn close(text: &str, run: &mut Vec<Piece>, tokens: &mut usize, found: &mut Vec<Found>) {
    let pieces = std::mem::take(run);
    let long_enough = *tokens >= MIN_RUN;
    *tokens = 0;
    if !long_enough {
        return;
    }
    let mut masks = Vec::new();
    let mut digits = 0;
    for piece in pieces {
        match piece {
            Piece::Written(span) => {
                for (at, c) in text[span.clone()].char_indices() {
                    if c.is_ascii_digit() {
                        let pos = span.start + at;
                        masks.push((pos..pos + 1, Mask::Hashes(1)));
                        digits += 1;
                    }
                }
            }
            Piece::Spoken { span, digits: d } => {
                masks.push((span, Mask::Hashes(d)));
                digits += d;
            }
        }
    }
    let (Some(first), Some(last)) = (masks.first(), masks.last()) else {
        return;
    };
    found.push(Found {
        entity: likely_entity(digits),
        span: first.0.start..last.0.end,
        masks,
    });
}

/// What a run of this many digits most likely is (for the record only: every run is
/// masked whatever it is).
fn likely_entity(digits: usize) -> Entity {
    match digits {
        12..=19 => Entity::CreditCardNumber,
        9 => Entity::Ssn,
        7 | 10 | 11 => Entity::PhoneNumber,
        3 => Entity::Cvv,
        _ => Entity::Pin,
    }
}
