//! What the words around a number say it is: a lexicon of cue words and phrases per
//! entity, and of words that mark a number as something else (an order, an amount, a
//! time). A number is judged by the nearest cue whose entity its length fits, looking
//! back a few words in its own utterance, then at "… is my PIN" after it, then at the
//! speaker's previous utterance, then at the conversation's earlier utterances (the
//! agent's "what's the code on the back?" before the customer's "four two nine").

use super::words::{DigitRun, Word, counts_digits};

/// What a cue says a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Card,
    Cvv,
    Pin,
    Ssn,
    Phone,
    /// An order, amount, date, address, …: not personal information.
    Other,
    /// A phrase that holds a cue word but is none ("account holder"): it hides the
    /// word from the cue search.
    Neutral,
}

/// The words of one language that say what a number is.
pub(super) struct Lexicon {
    /// Cue words and phrases (lower case, as [`Word::key`]s), by what they announce.
    /// At one position the longest phrase wins: "back of the card" is a CVV, "card" a
    /// card.
    pub cues: &'static [&'static [(&'static str, Kind)]],
    /// Words right after a number that make it a quantity, an amount or a time.
    pub units_after: &'static [&'static str],
    /// Words that make a four-digit number the end of a longer one: "the last four of
    /// my social", "the card ending in 4242".
    pub last_four: &'static [&'static str],
    /// Words right before a short number that make it a time, a date or a place: "at
    /// ten twenty six", "in 1986", "until June 27" ("on" is not one: "hold on, 4111").
    pub time_or_place_before: &'static [&'static str],
    /// Prepositions after which a cue qualifies what comes before: "the social on the
    /// account" is a social, "the pin for my phone" a PIN, "the zip code for the card"
    /// a zip code.
    pub qualifiers: &'static [&'static str],
    pub determiners: &'static [&'static str],
    /// Cues that say little on their own: what qualifies them decides ("the code on
    /// the coupon").
    pub weak: &'static [&'static str],
    /// The prepositions of the qualifiers after which the cue before names the number
    /// ("the zip code for the card"; "pay with my visa" is still a card).
    pub heads_after: &'static [&'static str],
    /// Words that may follow the start of a number at the end of an utterance before
    /// the rest comes in the next ("4111 1111, hold on"; "… Oak Avenue" ends none).
    pub stalls: &'static [&'static str],
    /// Words that announce a pause: a number they follow may go on in the next
    /// utterance whatever comes after them ("4080 7033, hold on, the light's bad").
    pub pauses: &'static [&'static str],
}

pub(super) static ENGLISH: Lexicon = Lexicon {
    cues: &[ENGLISH_CUES, ENGLISH_MONTHS],
    units_after: &[
        "dollars",
        "dollar",
        "bucks",
        "cents",
        "percent",
        "minutes",
        "minute",
        "hours",
        "hour",
        "days",
        "day",
        "weeks",
        "week",
        "months",
        "month",
        "years",
        "year",
        "times",
        "am",
        "pm",
        "a.m",
        "p.m",
        "o'clock",
        "units",
        "items",
        "pieces",
        "people",
        "kids",
        "miles",
        "pounds",
        "gigabytes",
        "gb",
        "kilos",
        "feet",
        "degrees",
        "points",
        "calls",
        "attempts",
        "tries",
    ],
    last_four: &[
        "last four",
        "last 4",
        "final four",
        "ending",
        "ends",
        "last digits",
    ],
    time_or_place_before: &[
        "at", "by", "until", "till", "around", "since", "before", "after", "in", "from", "for",
    ],
    qualifiers: &["for", "of", "on", "to", "from", "with", "at", "about"],
    determiners: &[
        "the", "my", "your", "a", "an", "this", "that", "his", "her", "our", "their",
    ],
    weak: &["code", "number"],
    heads_after: &["for", "of", "on", "from", "about"],
    stalls: &[
        "hold", "on", "sorry", "wait", "um", "uh", "er", "hmm", "one", "sec", "second", "moment",
        "let", "me", "see", "okay", "ok", "yeah", "so", "and", "then", "the", "rest", "is", "it's",
    ],
    pauses: &["hold", "wait", "sorry", "hang", "sec", "moment"],
};

const ENGLISH_CUES: &[(&str, Kind)] = &[
    // Payment cards.
    ("card", Kind::Card),
    ("cards", Kind::Card),
    ("card's", Kind::Card),
    ("visa", Kind::Card),
    ("mastercard", Kind::Card),
    ("master card", Kind::Card),
    ("amex", Kind::Card),
    ("american express", Kind::Card),
    ("discover", Kind::Card),
    ("credit", Kind::Card),
    ("debit", Kind::Card),
    ("cc", Kind::Card),
    ("long number", Kind::Card),
    ("number on the front", Kind::Card),
    ("number on the card", Kind::Card),
    ("number on my card", Kind::Card),
    ("number on your card", Kind::Card),
    ("digits on the card", Kind::Card),
    ("front of the card", Kind::Card),
    ("across the front", Kind::Card),
    ("sixteen digit", Kind::Card),
    ("16 digit", Kind::Card),
    ("16-digit", Kind::Card),
    // Card security codes.
    ("cvv", Kind::Cvv),
    ("cvv2", Kind::Cvv),
    ("cvc", Kind::Cvv),
    ("cvc2", Kind::Cvv),
    ("csc", Kind::Cvv),
    ("cid", Kind::Cvv),
    ("cvn", Kind::Cvv),
    ("c v v", Kind::Cvv),
    ("c v c", Kind::Cvv),
    ("security code", Kind::Cvv),
    ("security number", Kind::Cvv),
    ("security digits", Kind::Cvv),
    ("verification code", Kind::Cvv),
    ("verification value", Kind::Cvv),
    ("verification number", Kind::Cvv),
    ("card code", Kind::Cvv),
    ("code's", Kind::Cvv),
    ("flip the card over", Kind::Cvv),
    ("turn the card over", Kind::Cvv),
    ("flip it over", Kind::Cvv),
    ("turn it over", Kind::Cvv),
    ("code", Kind::Cvv),
    ("on the back", Kind::Cvv),
    ("back of the card", Kind::Cvv),
    ("back of my card", Kind::Cvv),
    ("back of your card", Kind::Cvv),
    ("back of it", Kind::Cvv),
    ("the back", Kind::Cvv),
    ("signature", Kind::Cvv),
    ("signature strip", Kind::Cvv),
    ("signature panel", Kind::Cvv),
    ("signature box", Kind::Cvv),
    ("three digit", Kind::Cvv),
    ("three digits", Kind::Cvv),
    ("3 digit", Kind::Cvv),
    ("3 digits", Kind::Cvv),
    ("three-digit", Kind::Cvv),
    ("3-digit", Kind::Cvv),
    ("three numbers", Kind::Cvv),
    ("last three", Kind::Cvv),
    // PINs and passcodes.
    ("pin", Kind::Pin),
    ("pins", Kind::Pin),
    ("pin's", Kind::Pin),
    ("pin number", Kind::Pin),
    ("pin code", Kind::Pin),
    ("passcode", Kind::Pin),
    ("pass code", Kind::Pin),
    ("passcode's", Kind::Pin),
    ("access code", Kind::Pin),
    ("password", Kind::Pin),
    ("personal identification", Kind::Pin),
    ("p i n", Kind::Pin),
    // Social security numbers.
    ("social", Kind::Ssn),
    ("social's", Kind::Ssn),
    ("ssn", Kind::Ssn),
    ("s s n", Kind::Ssn),
    ("s.s.n", Kind::Ssn),
    ("social security", Kind::Ssn),
    ("social security card", Kind::Ssn),
    ("ss number", Kind::Ssn),
    // Phone numbers (an entity of its own, off by default).
    ("phone", Kind::Phone),
    ("cell", Kind::Phone),
    ("mobile", Kind::Phone),
    ("telephone", Kind::Phone),
    ("call me", Kind::Phone),
    ("reach me", Kind::Phone),
    ("call back", Kind::Phone),
    ("callback", Kind::Phone),
    ("text me", Kind::Phone),
    ("fax", Kind::Phone),
    // Numbers that are something else.
    ("order", Kind::Other),
    ("confirmation", Kind::Other),
    ("confirmation code", Kind::Other),
    ("reference", Kind::Other),
    ("ref", Kind::Other),
    ("case", Kind::Other),
    ("ticket", Kind::Other),
    ("complaint", Kind::Other),
    ("tracking", Kind::Other),
    ("invoice", Kind::Other),
    ("receipt", Kind::Other),
    ("transaction", Kind::Other),
    ("request", Kind::Other),
    ("account", Kind::Other),
    // Phrases with "account" that name no number.
    ("account holder", Kind::Neutral),
    ("account holder's", Kind::Neutral),
    ("account holders", Kind::Neutral),
    ("pull up the account", Kind::Neutral),
    ("pull up your account", Kind::Neutral),
    ("access the account", Kind::Neutral),
    ("access your account", Kind::Neutral),
    ("member", Kind::Other),
    ("membership", Kind::Other),
    ("loyalty", Kind::Other),
    ("rewards", Kind::Other),
    ("policy", Kind::Other),
    ("claim", Kind::Other),
    ("zip", Kind::Other),
    ("zip code", Kind::Other),
    ("postal code", Kind::Other),
    ("area code", Kind::Other),
    ("promo code", Kind::Other),
    ("discount code", Kind::Other),
    ("error code", Kind::Other),
    ("coupon", Kind::Other),
    ("street", Kind::Other),
    ("address", Kind::Other),
    ("avenue", Kind::Other),
    ("apartment", Kind::Other),
    ("apt", Kind::Other),
    ("suite", Kind::Other),
    ("unit", Kind::Other),
    ("room", Kind::Other),
    ("floor", Kind::Other),
    ("flight", Kind::Other),
    ("gate", Kind::Other),
    ("seat", Kind::Other),
    ("model", Kind::Other),
    ("serial", Kind::Other),
    ("version", Kind::Other),
    ("extension", Kind::Other),
    ("ext", Kind::Other),
    ("balance", Kind::Other),
    ("total", Kind::Other),
    ("amount", Kind::Other),
    ("charge", Kind::Other),
    ("charged", Kind::Other),
    ("charge it", Kind::Neutral),
    ("charge that", Kind::Neutral),
    ("charge this", Kind::Neutral),
    ("payment", Kind::Other),
    ("paid", Kind::Other),
    ("pay", Kind::Other),
    ("owe", Kind::Other),
    ("cost", Kind::Other),
    ("costs", Kind::Other),
    ("price", Kind::Other),
    ("fee", Kind::Other),
    ("limit", Kind::Other),
    ("refund", Kind::Other),
    ("bill", Kind::Other),
    ("statement", Kind::Other),
    ("card statement", Kind::Other),
    ("apr", Kind::Other),
    ("interest", Kind::Other),
    ("rate", Kind::Other),
    ("expiration", Kind::Other),
    ("expiry", Kind::Other),
    ("expires", Kind::Other),
    ("exp", Kind::Other),
    ("expiration date", Kind::Other),
    ("date", Kind::Other),
    ("since", Kind::Other),
    ("age", Kind::Other),
    ("year", Kind::Other),
    ("package", Kind::Other),
    ("shipment", Kind::Other),
    ("store", Kind::Other),
    ("branch", Kind::Other),
    ("route", Kind::Other),
    ("item", Kind::Other),
    ("sku", Kind::Other),
    ("customer number", Kind::Other),
    ("member id", Kind::Other),
    ("id", Kind::Other),
    ("how many", Kind::Other),
    ("how much", Kind::Other),
    ("atm", Kind::Card),
    ("part number", Kind::Other),
    ("social security check", Kind::Other),
    ("social security checks", Kind::Other),
    ("social security benefits", Kind::Other),
    ("social security office", Kind::Other),
    ("social security payment", Kind::Other),
    ("social security deposit", Kind::Other),
    ("social security administration", Kind::Other),
    ("social security income", Kind::Other),
];

/// Month names ("may" is left out: it is mostly the verb). Spanish conversations use
/// them too, as an English-speaking recogniser may write a date.
pub(super) const ENGLISH_MONTHS: &[(&str, Kind)] = &[
    ("january", Kind::Other),
    ("february", Kind::Other),
    ("march", Kind::Other),
    ("april", Kind::Other),
    ("june", Kind::Other),
    ("july", Kind::Other),
    ("august", Kind::Other),
    ("september", Kind::Other),
    ("october", Kind::Other),
    ("november", Kind::Other),
    ("december", Kind::Other),
];

/// Words a cue looks this far back for, in the number's own utterance and the
/// previous one (numbers not counted).
const WINDOW: usize = 12;
/// And this far after it ("429, the three numbers on the back").
const WINDOW_AFTER: usize = 10;
/// And this far back into the conversation's earlier utterances.
const CONTEXT_WINDOW: usize = 30;

/// The cues among `words`, nearest first (`number_follows`: the number comes right
/// after the last word). A cue after a preposition gives way to a cue right before
/// the preposition ("zip code for the card" is a zip code).
pub(super) fn before(lex: &Lexicon, words: &[Word], number_follows: bool) -> Vec<Kind> {
    let mut found = Vec::new();
    let mut j = words.len();
    while j > 0 {
        j -= 1;
        let Some((mut kind, len)) = cue_ending_at(lex, words, j) else {
            continue;
        };
        let mut start = j + 1 - len;
        if kind == Kind::Neutral {
            j = start;
            continue;
        }
        let q = before_determiner(lex, words, start);
        let preposition = (q > 1).then(|| words[q - 1].key.as_str());
        let head = preposition
            .filter(|p| lex.qualifiers.contains(p))
            .and_then(|_| head_before(lex, words, q - 1));
        let at_once = number_follows && j + 1 == words.len();
        if let Some((head_kind, head_start, weak_head)) = head {
            if kind == Kind::Other && head_kind != Kind::Other && !at_once && !weak_head {
                // "the social on the account is …": the account only says whose it is
                // (unless the number follows at once, "on September 25", or the head
                // says little, "the code on the coupon").
                j = head_start;
                found.push(head_kind);
                continue;
            }
            if kind != Kind::Other && preposition.is_some_and(|p| lex.heads_after.contains(&p)) {
                // "the zip code for the card", "the case number for my card".
                kind = head_kind;
                start = head_start;
            }
        }
        found.push(kind);
        j = start;
    }
    found
}

/// Where the noun phrase ending in the cue at `start` begins: past a determiner, or
/// past one modifier and a determiner ("on *my phone* account", "for *my replacement*
/// card").
fn before_determiner(lex: &Lexicon, words: &[Word], start: usize) -> usize {
    let is_determiner = |at: usize| lex.determiners.contains(&words[at].key.as_str());
    if start > 0 && is_determiner(start - 1) {
        start - 1
    } else if start > 1 && is_determiner(start - 2) {
        start - 2
    } else {
        start
    }
}

/// The cue that a prepositional phrase starting at word `at` qualifies ("the zip code
/// *for the card*", "el código postal de facturación *de la tarjeta*"): the cue right
/// before it, past "number" and past a phrase of its own ("on file"); its kind, where
/// it starts, and whether it says little on its own ("the code on the coupon").
fn head_before(lex: &Lexicon, words: &[Word], at: usize) -> Option<(Kind, usize, bool)> {
    let mut h = at;
    if h > 1
        && matches!(
            words[h - 1].key.as_str(),
            "number" | "numbers" | "no" | "numero"
        )
    {
        h -= 1;
    }
    // Right before the preposition, or before a phrase of its own ("on file").
    let end = match h.checked_sub(1)? {
        end if cue_ending_at(lex, words, end).is_some() => end,
        _ if h > 2 && lex.qualifiers.contains(&words[h - 2].key.as_str()) => h - 3,
        _ => return None,
    };
    let (kind, len) = cue_ending_at(lex, words, end)?;
    let weak = len == 1 && end + 1 == at && lex.weak.contains(&words[end].key.as_str());
    (kind != Kind::Neutral).then_some((kind, end + 1 - len, weak))
}

/// The longest lexicon phrase whose last word is `words[j]`, and its length in words.
fn cue_ending_at(lex: &Lexicon, words: &[Word], j: usize) -> Option<(Kind, usize)> {
    lex.cues
        .iter()
        .flat_map(|cues| cues.iter())
        .filter_map(|(phrase, kind)| Some((*kind, phrase_ending_at(words, j, phrase)?)))
        .max_by_key(|(_, n)| *n)
}

/// The length in words of `phrase` ("back of the card") if it ends at `words[j]`.
fn phrase_ending_at(words: &[Word], j: usize, phrase: &str) -> Option<usize> {
    let mut at = j + 1;
    for part in phrase.rsplit(' ') {
        at = at.checked_sub(1)?;
        if words[at].key != part {
            return None;
        }
    }
    Some(j + 1 - at)
}

/// What the words around `run` say it is: the cues before it in its own utterance
/// (which begins at word `utterance_start`) and in the previous one, nearest first,
/// and those after it up to the next number, nearest first.
pub(super) struct Around {
    /// In the number's own utterance.
    pub before: Vec<Kind>,
    /// In the same participant's previous utterance, within the window.
    pub previous: Vec<Kind>,
    pub after: Vec<Kind>,
    /// A unit right after the number ("4321 dollars", "45 minutes") or a time or
    /// place word right before it ("at ten twenty six", but not "ends in 4242").
    pub not_an_identifier: bool,
    pub last_four: bool,
}

pub(super) fn around(
    lex: &Lexicon,
    words: &[Word],
    run: &DigitRun,
    utterance_start: usize,
) -> Around {
    let from = window_start(words, run.words.start, WINDOW);
    let own_from = from.max(utterance_start.min(run.words.start));
    let window = &words[from..run.words.start];
    let end = run.words.end.min(words.len());
    // Up to the next number (its cues are its own) and, for words that say a number is
    // something else, up to the end of the clause ("4111 …, and the expiry is 2/26").
    let is_number = |i: usize| is_number_token(&words[i].key) && !counts_digits(words, i);
    let tail_end = (end..(end + WINDOW_AFTER).min(words.len()))
        .find(|&i| is_number(i))
        .unwrap_or_else(|| (end + WINDOW_AFTER).min(words.len()));
    let tail = &words[end..tail_end];
    let clause_end = if words[end.max(1) - 1].ends_clause {
        0
    } else {
        tail.iter()
            .position(|w| matches!(w.key.as_str(), "and" | "but" | "then" | "y" | "pero"))
            .unwrap_or(tail.len())
    };
    // Likewise before it: an "other" word beyond an earlier number is that number's.
    let own = &words[own_from..run.words.start];
    let near_from = (own_from..run.words.start)
        .rposition(is_number)
        .map_or(0, |i| i + 1);
    let mut before_kinds = before(lex, &own[near_from..], true);
    before_kinds.extend(
        before(lex, &own[..near_from], false)
            .into_iter()
            .filter(|k| *k != Kind::Other),
    );
    let mut after = before_reversed(lex, &tail[..clause_end]);
    after.extend(
        before_reversed(lex, &tail[clause_end..])
            .into_iter()
            .filter(|k| *k != Kind::Other),
    );
    Around {
        before: before_kinds,
        previous: before(lex, &words[from..own_from], false),
        after,
        not_an_identifier: tail
            .first()
            .is_some_and(|w| lex.units_after.contains(&w.key.as_str()))
            || window.last().is_some_and(|w| {
                // A model or flight code, "GT-1234" (but "SSN-5741" is a cue).
                w.hyphen_after
                    && w.key.len() >= 2
                    && w.key.chars().all(char::is_alphabetic)
                    && cue_ending_at(lex, words, run.words.start - 1).is_none()
            })
            || window.split_last().is_some_and(|(w, rest)| {
                // "at ten twenty six", but not "call me at …" or "ends in 4242".
                let cue_before = !rest.is_empty()
                    && cue_ending_at(lex, rest, rest.len() - 1)
                        .is_some_and(|(k, _)| k == Kind::Phone);
                lex.time_or_place_before.contains(&w.key.as_str())
                    && !cue_before
                    && !says_last_four(lex, window)
            }),
        last_four: says_last_four(lex, window) || says_last_four(lex, tail),
    }
}

/// Where a window of `size` words before word `at` starts, not counting numbers (a
/// long number between the cue and the next part of it is not distance).
fn window_start(words: &[Word], at: usize, size: usize) -> usize {
    let mut counted = 0;
    let mut start = at;
    while start > 0 && counted < size {
        start -= 1;
        if !is_number_token(&words[start].key) {
            counted += 1;
        }
    }
    start
}

fn is_number_token(key: &str) -> bool {
    key.chars().any(|c| c.is_ascii_digit()) || super::words::is_number_word(key)
}

/// The cues in `words` that follow a number, nearest first.
fn before_reversed(lex: &Lexicon, words: &[Word]) -> Vec<Kind> {
    let mut kinds = before(lex, words, false);
    kinds.reverse();
    kinds
}

/// The cues at the end of the conversation's earlier utterances, nearest first.
pub(super) fn earlier(lex: &Lexicon, words: &[Word]) -> (Vec<Kind>, bool) {
    let from = window_start(words, words.len(), CONTEXT_WINDOW);
    (
        before(lex, &words[from..], false),
        says_last_four(lex, &words[from..]),
    )
}

fn says_last_four(lex: &Lexicon, words: &[Word]) -> bool {
    lex.last_four
        .iter()
        .any(|phrase| (0..words.len()).any(|j| phrase_ending_at(words, j, phrase).is_some()))
}
