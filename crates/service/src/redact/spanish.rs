//! Spanish (es-US) conversations: number words as digits ("cuatro uno uno uno",
//! "treinta y dos", "ciento veinte", "dos mil diecinueve") and the cue words, for the
//! same rules as English. Keys are lower case without accents ([`super::words::words`]
//! folds them), so "número" and "numero" are one word.

use super::cues::{Kind, Lexicon};
use super::words::Word;

/// Cue words and phrases of Spanish conversations.
pub(super) static LEXICON: Lexicon = Lexicon {
    cues: &[
        ("tarjeta", Kind::Card),
        ("tarjetas", Kind::Card),
        ("credito", Kind::Card),
        ("debito", Kind::Card),
        ("visa", Kind::Card),
        ("mastercard", Kind::Card),
        ("master card", Kind::Card),
        ("amex", Kind::Card),
        ("american express", Kind::Card),
        ("discover", Kind::Card),
        ("numero largo", Kind::Card),
        ("numero de la tarjeta", Kind::Card),
        ("cvv", Kind::Cvv),
        ("cvc", Kind::Cvv),
        ("cvv2", Kind::Cvv),
        ("codigo", Kind::Cvv),
        ("codigo de seguridad", Kind::Cvv),
        ("codigo de verificacion", Kind::Cvv),
        ("numero de seguridad", Kind::Cvv),
        ("atras", Kind::Cvv),
        ("detras", Kind::Cvv),
        ("reverso", Kind::Cvv),
        ("parte de atras", Kind::Cvv),
        ("tres digitos", Kind::Cvv),
        ("3 digitos", Kind::Cvv),
        ("tres numeros", Kind::Cvv),
        ("firma", Kind::Cvv),
        ("pin", Kind::Pin),
        ("nip", Kind::Pin),
        ("clave", Kind::Pin),
        ("clave secreta", Kind::Pin),
        ("contrasena", Kind::Pin),
        ("codigo de acceso", Kind::Pin),
        ("codigo pin", Kind::Pin),
        ("identificacion personal", Kind::Pin),
        ("seguro social", Kind::Ssn),
        ("seguridad social", Kind::Ssn),
        ("social", Kind::Ssn),
        ("ssn", Kind::Ssn),
        ("telefono", Kind::Phone),
        ("celular", Kind::Phone),
        ("movil", Kind::Phone),
        ("llamar", Kind::Phone),
        ("llamarme", Kind::Phone),
        ("pedido", Kind::Other),
        ("orden", Kind::Other),
        ("confirmacion", Kind::Other),
        ("referencia", Kind::Other),
        ("caso", Kind::Other),
        ("ticket", Kind::Other),
        ("rastreo", Kind::Other),
        ("seguimiento", Kind::Other),
        ("factura", Kind::Other),
        ("recibo", Kind::Other),
        ("transaccion", Kind::Other),
        ("cuenta", Kind::Other),
        ("miembro", Kind::Other),
        ("socio", Kind::Other),
        ("poliza", Kind::Other),
        ("reclamo", Kind::Other),
        ("reporte", Kind::Other),
        ("deposita", Kind::Other),
        ("deposito", Kind::Other),
        ("codigo postal", Kind::Other),
        ("zip", Kind::Other),
        ("calle", Kind::Other),
        ("avenida", Kind::Other),
        ("apartamento", Kind::Other),
        ("apto", Kind::Other),
        ("habitacion", Kind::Other),
        ("cuarto", Kind::Other),
        ("piso", Kind::Other),
        ("vuelo", Kind::Other),
        ("asiento", Kind::Other),
        ("modelo", Kind::Other),
        ("serie", Kind::Other),
        ("version", Kind::Other),
        ("extension", Kind::Other),
        ("saldo", Kind::Other),
        ("total", Kind::Other),
        ("cantidad", Kind::Other),
        ("cargo", Kind::Other),
        ("cobro", Kind::Other),
        ("cobraron", Kind::Other),
        ("pago", Kind::Other),
        ("pague", Kind::Other),
        ("debo", Kind::Other),
        ("costo", Kind::Other),
        ("cuesta", Kind::Other),
        ("precio", Kind::Other),
        ("tarifa", Kind::Other),
        ("limite", Kind::Other),
        ("reembolso", Kind::Other),
        ("vencimiento", Kind::Other),
        ("vence", Kind::Other),
        ("expira", Kind::Other),
        ("fecha", Kind::Other),
        ("ano", Kind::Other),
        ("edad", Kind::Other),
        ("paquete", Kind::Other),
        ("envio", Kind::Other),
        ("tienda", Kind::Other),
        ("sucursal", Kind::Other),
        ("enero", Kind::Other),
        ("febrero", Kind::Other),
        ("marzo", Kind::Other),
        ("abril", Kind::Other),
        ("mayo", Kind::Other),
        ("junio", Kind::Other),
        ("julio", Kind::Other),
        ("agosto", Kind::Other),
        ("septiembre", Kind::Other),
        ("setiembre", Kind::Other),
        ("octubre", Kind::Other),
        ("noviembre", Kind::Other),
        ("diciembre", Kind::Other),
    ],
    units_after: &[
        "dolares", "dolar", "pesos", "centavos", "por", "minutos", "horas", "dias", "semanas",
        "meses", "anos", "veces", "unidades", "personas", "millas", "libras", "am", "pm",
    ],
    last_four: &[
        "ultimos cuatro",
        "ultimos 4",
        "ultimas cuatro",
        "termina en",
        "terminada en",
        "termina con",
        "que termina",
    ],
    time_or_place_before: &["las", "en", "desde", "hasta", "antes", "despues"],
    qualifiers: &["de", "del", "para", "en", "con"],
    weak: &["codigo", "numero"],
    determiners: &[
        "el", "la", "los", "las", "mi", "su", "tu", "un", "una", "este", "esta",
    ],
};

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
fn below_thousand(words: &[Word], i: usize) -> Option<(u32, usize)> {
    let key = |at: usize| words.get(at).map(|w| w.key.as_str()).unwrap_or("");
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

/// The Spanish number starting at word `i`: its digits and how many words it takes.
pub(super) fn spoken_at(words: &[Word], i: usize) -> Option<(String, usize)> {
    let key = |at: usize| words.get(at).map(|w| w.key.as_str()).unwrap_or("");
    let (value, used) = if key(i) == "mil" {
        (1000, 1)
    } else {
        let (v, used) = below_thousand(words, i)?;
        if key(i + used) == "mil" && v > 0 {
            (v * 1000, used + 1)
        } else {
            return Some((v.to_string(), used));
        }
    };
    // "dos mil diecinueve" → 2019.
    Some(match below_thousand(words, i + used) {
        Some((rest, more)) if rest > 0 => ((value + rest).to_string(), used + more),
        _ => (value.to_string(), used),
    })
}
