//! Spanish (es-US) number words as digits: "cuatro uno uno uno", "treinta y dos",
//! "ciento veinte", "dos mil diecinueve". Keys are lower case without accents
//! ([`super::words::words`] folds them), so "dieciséis" and "dieciseis" are one word.

/// Spanish number words and their values below one hundred.
fn below_hundred(key: &str) -> Option<u32> {
    const UNITS: [&str; 10] = [
        "cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
    ];
    const TEENS: [&str; 10] = [
        "diez",
        "once",
        "doce",
        "trece",
        "catorce",
        "quince",
        "dieciseis",
        "diecisiete",
        "dieciocho",
        "diecinueve",
    ];
    const TWENTIES: [&str; 10] = [
        "veinte",
        "veintiuno",
        "veintidos",
        "veintitres",
        "veinticuatro",
        "veinticinco",
        "veintiseis",
        "veintisiete",
        "veintiocho",
        "veintinueve",
    ];
    let at = |list: &[&str]| list.iter().position(|w| *w == key).map(|p| p as u32);
    match key {
        "un" | "una" | "veintiun" => Some(if key == "veintiun" { 21 } else { 1 }),
        _ => at(&UNITS)
            .or_else(|| at(&TEENS).map(|t| 10 + t))
            .or_else(|| at(&TWENTIES).map(|t| 20 + t))
            .or_else(|| tens(key)),
    }
}

fn tens(key: &str) -> Option<u32> {
    const TENS: [&str; 7] = [
        "treinta",
        "cuarenta",
        "cincuenta",
        "sesenta",
        "setenta",
        "ochenta",
        "noventa",
    ];
    TENS.iter()
        .position(|w| *w == key)
        .map(|p| (p as u32 + 3) * 10)
}

fn hundreds(key: &str) -> Option<u32> {
    Some(match key {
        "cien" | "ciento" => 100,
        "doscientos" | "doscientas" => 200,
        "trescientos" | "trescientas" => 300,
        "cuatrocientos" | "cuatrocientas" => 400,
        "quinientos" | "quinientas" => 500,
        "seiscientos" | "seiscientas" => 600,
        "setecientos" | "setecientas" => 700,
        "ochocientos" | "ochocientas" => 800,
        "novecientos" | "novecientas" => 900,
        _ => return None,
    })
}

/// A word that can be part of a Spanish number.
pub(super) fn is_number_word(key: &str) -> bool {
    below_hundred(key).is_some() || hundreds(key).is_some() || key == "mil"
}

/// How many digits a Spanish number word stands for, for masking one word.
pub(super) fn spoken_digits(key: &str) -> Option<usize> {
    below_hundred(key)
        .map(|v| v.to_string().len())
        .or_else(|| hundreds(key).map(|_| 3))
        .or_else(|| (key == "mil").then_some(4))
}

/// The value of the number below a thousand starting at word `i`, and its words:
/// "treinta y dos", "ciento veinte", "quinientos cuarenta y uno".
fn below_thousand<'a>(key: &impl Fn(usize) -> &'a str, i: usize) -> Option<(u32, usize)> {
    let two_digits = |at: usize| -> Option<(u32, usize)> {
        let value = below_hundred(key(at))?;
        if tens(key(at)).is_some()
            && key(at + 1) == "y"
            && let Some(unit) = below_hundred(key(at + 2)).filter(|u| (1..10).contains(u))
        {
            return Some((value + unit, 3));
        }
        Some((value, 1))
    };
    if let Some(h) = hundreds(key(i)) {
        return Some(match two_digits(i + 1) {
            Some((rest, used)) if key(i) != "cien" && rest > 0 => (h + rest, 1 + used),
            _ => (h, 1),
        });
    }
    two_digits(i)
}

/// The Spanish number starting at word `i` (`key(at)` is word `at`'s key, "" past the
/// end): its digits and how many words it takes.
pub(super) fn spoken_at<'a>(key: impl Fn(usize) -> &'a str, i: usize) -> Option<(String, usize)> {
    // "diecisiete por ciento" is a percentage, not 17 and 100.
    if key(i) == "ciento" && i.checked_sub(1).is_some_and(|b| key(b) == "por") {
        return None;
    }
    let (value, used) = if key(i) == "mil" {
        (1000, 1)
    } else {
        let (v, used) = below_thousand(&key, i)?;
        if key(i + used) == "mil" && v > 0 {
            (v * 1000, used + 1)
        } else {
            return Some((v.to_string(), used));
        }
    };
    // "dos mil diecinueve" → 2019.
    Some(match below_thousand(&key, i + used) {
        Some((rest, more)) if rest > 0 => ((value + rest).to_string(), used + more),
        _ => (value.to_string(), used),
    })
}
