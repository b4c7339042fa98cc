//! PII redaction that works on what a speech recogniser writes: numbers as digits or as
//! words ("four one one one", "oh", "double five"), e-mail addresses spelled out ("john
//! dot smith at gmail dot com"), and numbers split across two utterances. Detection runs
//! on the digit view of the text (`words.rs`) with context words; masking turns each
//! written digit or character into `#` (so written numbers keep their length) and each
//! spoken span into one `#` per digit it stood for.

mod conversation;
mod cues;
mod spanish;
mod spanish_cues;
pub mod words;

use std::collections::BTreeSet;
use std::ops::Range;

pub use conversation::ConversationContext;
use cues::Kind;
use words::{DigitRun, Source, Word, digit_runs, words};

/// What can be redacted, by the names of the API's `redactionEntities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
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

impl Entity {
    pub const ALL: [Entity; 9] = [
        Entity::CreditCardNumber,
        Entity::Cvv,
        Entity::Pin,
        Entity::Ssn,
        Entity::Password,
        Entity::Email,
        Entity::PhoneNumber,
        Entity::Dob,
        Entity::Profanity,
    ];
    /// On unless a tenant or a start request says otherwise.
    pub const DEFAULTS: [Entity; 5] = [
        Entity::CreditCardNumber,
        Entity::Cvv,
        Entity::Pin,
        Entity::Ssn,
        Entity::Password,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::CreditCardNumber => "CREDIT_CARD_NUMBER",
            Entity::Cvv => "CVV",
            Entity::Pin => "PIN",
            Entity::Ssn => "SSN",
            Entity::Password => "PASSWORD",
            Entity::Email => "EMAIL",
            Entity::PhoneNumber => "PHONE_NUMBER",
            Entity::Dob => "DOB",
            Entity::Profanity => "PROFANITY",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One detected entity: where it is in the text and how to mask it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub entity: Entity,
    /// Byte range of the whole entity in the text.
    pub span: Range<usize>,
    masks: Vec<(Range<usize>, Mask)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Mask {
    /// This many `#` in place of the range (a spoken span, or one written digit).
    Hashes(usize),
    /// Every letter and digit of the range becomes `#`; punctuation stays.
    Characters,
}

/// Redacts a chosen set of entities.
#[derive(Debug, Clone)]
pub struct Redactor {
    entities: BTreeSet<Entity>,
    /// Which words say what a number is, and how numbers are said.
    language: Language,
    /// A card number's last four digits stay (the tenant's `cardKeepLastFour`).
    keep_card_last_four: bool,
}

/// A conversation's language, for its number and cue words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Spanish,
}

impl Language {
    fn lexicon(self) -> &'static cues::Lexicon {
        match self {
            Language::English => &cues::ENGLISH,
            Language::Spanish => &spanish_cues::SPANISH,
        }
    }
}

/// Which text a conversation asked for (`redactionOutput`).
pub use entity::RedactionOutput as Output;

/// A conversation's redaction settings, as given at start.
#[derive(Debug, Clone)]
pub struct Redaction {
    pub output: Output,
    pub redactor: Redactor,
}

/// One utterance's text as the conversation asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Redacted unless the conversation asked for `unredacted` only.
    pub text: String,
    /// Only with `redacted_and_unredacted`: never kept otherwise.
    pub unredacted_text: Option<String>,
    /// What was masked, as byte ranges of the unredacted text.
    pub found: Vec<Found>,
}

impl Redaction {
    /// From the wire names a conversation was started with (`redacted`,
    /// `CREDIT_CARD_NUMBER`, …; see [`tenant_defaults`] for the default set) and its
    /// language (Whisper's code: `en`, `es`).
    pub fn from_settings(output: Output, entities: &[String], language: &str) -> Redaction {
        let language = if language == "es" {
            Language::Spanish
        } else {
            Language::English
        };
        let redactor =
            Redactor::new(entities.iter().filter_map(|n| Entity::parse(n))).in_language(language);
        Redaction { output, redactor }
    }

    /// Redacts `text` as asked, judged with what was said around it (unredacted).
    pub fn apply(&self, text: &str, context: &Context) -> Applied {
        let (redacted, found) = if self.is_off() {
            (text.to_owned(), Vec::new())
        } else {
            self.redactor.redact(text, context)
        };
        Applied {
            text: redacted,
            // Present whenever it was asked for, even when no entity is redacted.
            unredacted_text: (self.output == Output::RedactedAndUnredacted)
                .then(|| text.to_owned()),
            found,
        }
    }

    /// Nothing is redacted: unredacted output, or no entity chosen.
    pub fn is_off(&self) -> bool {
        self.output == Output::Unredacted || self.redactor.is_empty()
    }

    /// Leaves a card number's last four digits unmasked (the tenant's
    /// `cardKeepLastFour`).
    pub fn keeping_card_last_four(mut self, keep: bool) -> Redaction {
        self.redactor = self.redactor.keeping_card_last_four(keep);
        self
    }

    /// Whether the utterance ends in the middle of a number to redact: its message
    /// waits (briefly) for the rest, so both are judged whole.
    pub fn ends_open(&self, text: &str, context: &Context) -> bool {
        !self.is_off() && self.redactor.ends_open(text, context)
    }
}

/// A tenant's stored default entities (a JSON array of names), or the built-in
/// defaults when it has none.
pub fn tenant_defaults(stored: Option<&str>) -> Vec<String> {
    stored
        .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
        .unwrap_or_else(|| {
            Entity::DEFAULTS
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect()
        })
}

/// A word token inside a redacted span, masked the way the text is: a spoken number
/// word becomes one `#` per digit, anything else has its letters and digits replaced.
pub fn mask_word(word: &str) -> String {
    let key = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if let Some(digits) = words::spoken_digits(&key) {
        return "#".repeat(digits);
    }
    word.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '@' {
                '#'
            } else {
                c
            }
        })
        .collect()
}

/// What was said around an utterance, for its redaction.
#[derive(Debug, Default, Clone)]
pub struct Context<'a> {
    /// The same participant's previous utterance: its words give context ("my card
    /// number is" | "4111 …") and a number split by the pause is judged whole.
    pub previous: Option<&'a str>,
    /// The same participant's next utterance, when this one was held for it (it ended
    /// in the middle of a number).
    pub next: Option<&'a str>,
    /// Earlier utterances of the conversation, either participant's, oldest first: the
    /// agent's "what's the code on the back?" before the customer's "four two nine".
    pub earlier: Vec<&'a str>,
}

impl Redactor {
    pub fn new(entities: impl IntoIterator<Item = Entity>) -> Redactor {
        Redactor {
            entities: entities.into_iter().collect(),
            language: Language::English,
            keep_card_last_four: false,
        }
    }

    /// Judges numbers with the number and cue words of `language`.
    pub fn in_language(mut self, language: Language) -> Redactor {
        self.language = language;
        self
    }

    /// Leaves a card number's last four digits unmasked (`cardKeepLastFour`).
    pub fn keeping_card_last_four(mut self, keep: bool) -> Redactor {
        self.keep_card_last_four = keep;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The text with its entities masked, judged with its context; only `text` is
    /// masked (the earlier message may already have been sent).
    pub fn redact(&self, text: &str, context: &Context) -> (String, Vec<Found>) {
        let found = self.find_in_context(text, context).0;
        (apply(text, &found), found)
    }

    /// Whether `text` ends in the middle of a number its cue asks to redact ("my card
    /// number is 4111 1111"): its message is worth holding for the rest.
    pub fn ends_open(&self, text: &str, context: &Context) -> bool {
        self.find_in_context(text, context).1
    }

    /// The entities of `text` (with byte ranges into it) and whether it ends open.
    fn find_in_context(&self, text: &str, context: &Context) -> (Vec<Found>, bool) {
        let previous = context.previous.filter(|p| !p.trim().is_empty());
        let next = context.next.filter(|n| !n.trim().is_empty());
        let mut joined = String::with_capacity(text.len() + 64);
        if let Some(p) = previous {
            joined.push_str(&without_final_stop(p));
            joined.push(' ');
        }
        let offset = joined.len();
        match next {
            Some(_) => joined.push_str(&without_final_stop(text)),
            None => joined.push_str(text),
        }
        let end = joined.len();
        if let Some(n) = next {
            joined.push(' ');
            joined.push_str(n);
        }
        let earlier = context.earlier.join(" ");
        let (found, open) = self.find_with(&joined, &words(&earlier), &[offset, end]);
        let found = found
            .into_iter()
            .filter(|f| f.span.end > offset && f.span.start < end)
            .map(|mut f| {
                f.masks = f
                    .masks
                    .into_iter()
                    .filter(|(r, _)| r.start >= offset && r.end <= end)
                    .map(|(r, m)| (r.start - offset..r.end - offset, m))
                    .collect();
                f.span =
                    f.masks.first().map_or(0, |m| m.0.start)..f.masks.last().map_or(0, |m| m.0.end);
                f
            })
            .filter(|f| !f.masks.is_empty())
            .collect();
        (found, open && context.next.is_none())
    }

    /// Every enabled entity in `text`, with `earlier` the words said before it and
    /// `ends` the byte offsets where an utterance joined into `text` ends; and whether
    /// the text ends in a number that is not complete yet.
    fn find_with(&self, text: &str, earlier: &[Word], ends: &[usize]) -> (Vec<Found>, bool) {
        let words = words(text);
        let mut found = Vec::new();
        let mut open = false;
        let lexicon = self.language.lexicon();
        let context = cues::earlier(lexicon, earlier);
        // The kind and length of a number started at the end of the utterance before,
        // which a run at the start of the next one may complete.
        let mut started: Option<(Kind, usize)> = None;
        for run in digit_runs(text, &words, self.language) {
            // Where the run's utterance ends: the run is at its end when at most a
            // couple of words follow ("4111 1111, hold on").
            let last = &words[run.words.end.max(1) - 1];
            let utterance_end = ends
                .iter()
                .filter(|end| last.span.end <= **end)
                .map(|end| words.partition_point(|w| w.span.start < *end))
                .min()
                .unwrap_or(words.len());
            let trailing = spoken_words(&words[run.words.end.min(utterance_end)..utterance_end]);
            let at_end = trailing.len() <= TRAILING_WORDS
                && trailing
                    .iter()
                    .all(|w| lexicon.stalls.contains(&w.key.as_str()))
                || trailing
                    .first()
                    .is_some_and(|w| lexicon.pauses.contains(&w.key.as_str()));
            let first = &words[run.words.start];
            let utterance_start = ends
                .iter()
                .filter(|end| **end <= first.span.start)
                .map(|end| words.partition_point(|w| w.span.start < *end))
                .max()
                .unwrap_or(0);
            let leading = spoken_words(&words[utterance_start..run.words.start]);
            let continues = started.take().filter(|_| {
                utterance_start > 0
                    && leading.len() <= TRAILING_WORDS
                    && leading
                        .iter()
                        .all(|w| lexicon.stalls.contains(&w.key.as_str()))
            });
            let place = (utterance_start, at_end);
            if let Some(judged) = self.classify(&run, &words, &context, place, continues) {
                open |= !judged.complete && utterance_end == words.len();
                if !judged.complete {
                    started = Some((judged.kind, run.digits.len()));
                }
                found.extend(self.digit_entity(judged.entity, &run, ends));
            }
        }
        if self.entities.contains(&Entity::Dob) {
            found.extend(dates_of_birth(&words));
        }
        if self.entities.contains(&Entity::Password) {
            found.extend(passwords(&words));
        }
        if self.entities.contains(&Entity::Email) {
            found.extend(emails(text, &words));
        }
        if self.entities.contains(&Entity::Profanity) {
            found.extend(
                words
                    .iter()
                    .filter(|w| PROFANITY.contains(&w.key.as_str()))
                    .map(|w| word_entity(Entity::Profanity, std::slice::from_ref(w))),
            );
        }
        found.sort_by_key(|f| (f.span.start, std::cmp::Reverse(f.span.end)));
        let mut kept: Vec<Found> = Vec::new();
        for f in found {
            match kept.last_mut() {
                Some(last) if f.span.start < last.span.end => {
                    // Overlaps: the earlier, longer one stands.
                }
                _ => kept.push(f),
            }
        }
        (kept, open)
    }

    /// What a digit run is, if it is an enabled entity: the nearest cue its length
    /// fits, in its utterance, then after it, then in the conversation before it; a
    /// card number by Luhn's check and an SSN by its dashes need none. A run that ends
    /// its utterance (`at_end`) may be the start of one, split by a pause.
    fn classify(
        &self,
        run: &DigitRun,
        words: &[Word],
        earlier: &(Vec<Kind>, bool),
        (utterance_start, at_end): (usize, bool),
        continues: Option<(Kind, usize)>,
    ) -> Option<Judged> {
        let pattern = run.written_pattern.trim();
        let n = run.digits.len();
        // The rest of a number whose start ended the utterance before ("… 4111 1111,
        // hold on" then "yeah, 1111 1111").
        if let Some(judged) =
            continues.and_then(|(kind, before)| fits(kind, before + n, at_end, false))
        {
            return Some(judged).filter(|j| self.entities.contains(&j.entity));
        }
        let around = cues::around(self.language.lexicon(), words, run, utterance_start);
        if around.not_an_identifier && n < 12 || is_amount_time_or_date(pattern, n) {
            return None;
        }
        // The first cue the length fits decides; an "other" cue before it says the
        // number is something else (only in the number's own utterance: an earlier
        // one may have moved on).
        let judge = |kinds: &[Kind], last_four: bool, others_decide: bool| {
            for kind in kinds {
                if *kind == Kind::Other {
                    if others_decide {
                        return Some(None);
                    }
                } else if let Some(judged) = fits(*kind, n, at_end, last_four) {
                    return Some(Some(judged));
                }
            }
            None
        };
        let enabled = |judged: Option<Judged>| judged.filter(|j| self.entities.contains(&j.entity));
        if let Some(decided) = judge(&around.before, around.last_four, true)
            .or_else(|| judge(&around.after, around.last_four, true))
            .or_else(|| judge(&around.previous, around.last_four, false))
        {
            return enabled(decided);
        }
        let shaped = if (13..=19).contains(&n) && luhn(&run.digits) {
            Some(Entity::CreditCardNumber)
        } else if n == 9 && pattern == "ddd-dd-dddd" {
            Some(Entity::Ssn)
        } else if is_phone_shape(pattern, n) {
            Some(Entity::PhoneNumber)
        } else {
            None
        };
        if let Some(entity) = shaped.filter(|e| self.entities.contains(e)) {
            return Some(Judged {
                entity,
                kind: Kind::Other,
                complete: true,
            });
        }
        enabled(judge(&earlier.0, earlier.1 || around.last_four, true).flatten())
    }

    /// The masks of a digit entity: every digit, but the last four of a card number
    /// when the tenant keeps them (a card's last four alone are then not masked).
    fn digit_entity(&self, entity: Entity, run: &DigitRun, breaks: &[usize]) -> Option<Found> {
        let mut sources = run.sources.as_slice();
        if entity == Entity::CreditCardNumber && self.keep_card_last_four {
            let mut kept = 0;
            while let Some((last, rest)) = sources.split_last() {
                let count = match last {
                    Source::Written(_) => 1,
                    Source::Spoken { count, .. } => *count,
                };
                if kept + count > 4 {
                    break;
                }
                kept += count;
                sources = rest;
            }
        }
        let masks: Vec<(Range<usize>, Mask)> = words::spans(sources, breaks)
            .into_iter()
            .map(|(range, count)| (range, Mask::Hashes(count)))
            .collect();
        let span = masks.first()?.0.start..masks.last()?.0.end;
        Some(Found {
            entity,
            span,
            masks,
        })
    }
}

/// The entity a cue of `kind` makes of `n` digits, if its length fits; a number that
/// ends its utterance shorter than usual may be the start of a card number (most
/// have 16 digits), an SSN or a PIN, which goes on in the next utterance.
fn fits(kind: Kind, n: usize, at_end: bool, last_four: bool) -> Option<Judged> {
    let (entity, full, last_four, shortest_start, usual) = match kind {
        Kind::Card => (
            Entity::CreditCardNumber,
            12..=19,
            last_four && n == 4,
            4,
            16,
        ),
        Kind::Cvv => (Entity::Cvv, 3..=4, false, 3, 3),
        Kind::Pin => (Entity::Pin, 3..=8, false, 2, 3),
        Kind::Ssn => (Entity::Ssn, 9..=9, last_four && n == 4, 3, 9),
        Kind::Phone => (Entity::PhoneNumber, 7..=11, false, 7, 7),
        Kind::Other | Kind::Neutral => return None,
    };
    let complete = match kind {
        // A local number, one with its area code, or with the country code too.
        Kind::Phone => matches!(n, 7 | 10 | 11),
        _ => full.contains(&n) || last_four,
    };
    let started = at_end && !last_four && (shortest_start..usual).contains(&n);
    (complete || started).then_some(Judged {
        entity,
        kind,
        complete: !started,
    })
}

/// The text with a final full stop, question or exclamation mark blanked (same
/// length): an utterance that ends "… 4111 1111." may go on in the next one.
fn without_final_stop(text: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = text.trim_end();
    match trimmed.char_indices().next_back() {
        Some((at, c @ ('.' | '?' | '!'))) => {
            let mut owned = text.to_owned();
            owned.replace_range(at..at + c.len_utf8(), " ");
            owned.into()
        }
        _ => text.into(),
    }
}

/// How many stalling words ("hold on", "uh wait") may follow the start of a number at
/// the end of an utterance before the rest comes in the next one.
const TRAILING_WORDS: usize = 2;

/// A digit run judged an entity; not complete when it may go on in the next
/// utterance.
struct Judged {
    entity: Entity,
    /// The cue that judged it (`Other` for a number known by its shape).
    kind: Kind,
    complete: bool,
}

/// The words that are not hesitations ("uh", "um").
fn spoken_words(words: &[Word]) -> Vec<&Word> {
    words
        .iter()
        .filter(|w| !words::FILLERS.contains(&w.key.as_str()))
        .collect()
}

/// Written like an amount ("$49.99", "1,234.56"), a time ("3:45") or a date
/// ("12/05/2024").
fn is_amount_time_or_date(pattern: &str, n: usize) -> bool {
    // Only cents make an amount: "6,843" alone may be a PIN said as a number.
    let cents = pattern.split(' ').any(|word| {
        word.trim_end_matches([',', '.'])
            .rsplit_once('.')
            .is_some_and(|(_, cents)| (1..=2).contains(&cents.len()))
    });
    let iso_date = pattern.starts_with("dddd-dd-dd");
    pattern.contains(['$', ':', '/']) || n < 12 && (cents || iso_date)
}

fn is_phone_shape(pattern: &str, n: usize) -> bool {
    matches!(
        pattern,
        "ddd-ddd-dddd" | "(ddd) ddd-dddd" | "ddd.ddd.dddd" | "+d ddd-ddd-dddd" | "d-ddd-ddd-dddd"
    ) && (n == 10 || n == 11)
}

const BIRTH_CUES: &[&str] = &["born", "birthday", "birth", "dob", "birthdate"];

/// Luhn's check, which every payment card number passes.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if !i.is_multiple_of(2) {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn word_entity(entity: Entity, words: &[Word]) -> Found {
    let start = words.first().map_or(0, |w| w.span.start);
    let end = words.last().map_or(0, |w| w.span.end);
    Found {
        entity,
        span: start..end,
        masks: words
            .iter()
            .map(|w| (w.span.clone(), Mask::Characters))
            .collect(),
    }
}

/// "My password is blue monkey 42." → the words after the cue, up to four, to the end
/// of the clause.
fn passwords(words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let starts = match w.key.as_str() {
            "password" | "passcode" | "passphrase" | "passwords" => {
                // "password: …" (the colon ends the clause) or "password is …".
                if w.ends_clause {
                    Some(i + 1)
                } else if matches!(words.get(i + 1).map(|n| n.key.as_str()), Some("is" | "was")) {
                    Some(i + 2)
                } else {
                    None
                }
            }
            "password's" => Some(i + 1),
            _ => None,
        };
        let Some(from) = starts else { continue };
        let mut to = from;
        while to < words.len() && to < from + 4 {
            to += 1;
            if words[to - 1].ends_clause || words[to - 1].ends_sentence {
                break;
            }
        }
        if to > from {
            found.push(word_entity(Entity::Password, &words[from..to]));
        }
    }
    found
}

/// Written addresses (`a.b@c.com`) and spoken ones ("john dot smith at gmail dot com").
fn emails(text: &str, words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let raw = &text[w.span.clone()];
        if let Some((local, domain)) = raw.split_once('@')
            && !local.is_empty()
            && domain.trim_end_matches(['.', ',']).contains('.')
        {
            found.push(word_entity(Entity::Email, &words[i..=i]));
            continue;
        }
        if w.key != "at" || i == 0 {
            continue;
        }
        // The domain: "gmail dot com", or a written "gmail.com".
        let mut end = i + 1;
        let written_domain = words
            .get(end)
            .is_some_and(|d| d.key.contains('.') && d.key.split('.').all(|p| !p.is_empty()));
        if written_domain {
            end += 1;
        } else {
            let mut parts = 0;
            while words.get(end).is_some_and(|d| is_name(&d.key))
                && words.get(end + 1).is_some_and(|d| d.key == "dot")
                && words.get(end + 2).is_some_and(|d| is_name(&d.key))
            {
                end += 2;
                parts += 1;
            }
            if parts == 0 {
                continue;
            }
            end += 1;
        }
        // The local part: "john", "john dot smith", "j smith".
        let mut start = i - 1;
        if !is_name(&words[start].key) {
            continue;
        }
        while start >= 2 && words[start - 1].key == "dot" && is_name(&words[start - 2].key) {
            start -= 2;
        }
        found.push(word_entity(Entity::Email, &words[start..end]));
    }
    found
}

fn is_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];
const ORDINALS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
];

/// A date said or written right after a birth cue: "born on March 3rd, 1985", "date of
/// birth is the third of March nineteen eighty five", "DOB 03/03/1985".
fn dates_of_birth(words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !BIRTH_CUES.contains(&w.key.as_str()) {
            continue;
        }
        let mut date: Vec<Word> = Vec::new();
        let mut j = i + 1;
        // Lead-in words between the cue and the date.
        while j < words.len()
            && j <= i + 4
            && matches!(
                words[j].key.as_str(),
                "is" | "was" | "on" | "the" | "of" | "date" | "my" | "in"
            )
        {
            j += 1;
        }
        while j < words.len() && date.len() < 8 {
            let k = words[j].key.as_str();
            let part = MONTHS.contains(&k)
                || ORDINALS.contains(&k)
                || k.chars().next().is_some_and(|c| c.is_ascii_digit())
                || words::is_number_word(k);
            let glue = matches!(k, "of" | "the" | "and");
            if part {
                date.push(words[j].clone());
            } else if !glue {
                break;
            }
            if words[j].ends_sentence {
                break;
            }
            j += 1;
        }
        if !date.is_empty() {
            found.push(word_entity(Entity::Dob, &date));
        }
    }
    found
}

const PROFANITY: &[&str] = &[
    "fuck",
    "fucking",
    "fucked",
    "fucker",
    "motherfucker",
    "shit",
    "shitty",
    "bullshit",
    "bitch",
    "bastard",
    "asshole",
    "dick",
    "dickhead",
    "cunt",
    "damn",
    "goddamn",
    "crap",
    "piss",
    "pissed",
    "prick",
    "twat",
    "wanker",
    "bollocks",
];

/// Applies the masks of `found` to `text`.
fn apply(text: &str, found: &[Found]) -> String {
    let mut masks: Vec<&(Range<usize>, Mask)> = found.iter().flat_map(|f| &f.masks).collect();
    masks.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, mask) in masks {
        if range.start < at || range.end > text.len() {
            continue;
        }
        out.push_str(&text[at..range.start]);
        match mask {
            Mask::Hashes(n) => out.extend(std::iter::repeat_n('#', *n)),
            Mask::Characters => out.extend(text[range.clone()].chars().map(|c| {
                if c.is_alphanumeric() || c == '@' {
                    '#'
                } else {
                    c
                }
            })),
        }
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
