//! The rules a statement row's values follow, whatever the format. One place
//! for each rule: the readers turn a broken rule into a line error, the
//! writers refuse the row.

use qrpay_domain::money_text::{parse_yuan, Sign};
use qrpay_domain::Provider;

use super::beijing::{Day, TimeError};
use super::lines::shown;
use crate::model::{MovementKind, StatementRow, MAX_FEN};

/// Longest shop id, reference or provider reference.
pub const MAX_ID_LEN: usize = 64;
/// Longest payer text, in characters (a masked name and phone take ~15).
pub const MAX_PAYER_CHARS: usize = 64;
/// Instalment periods run 1..=12.
pub const MAX_PERIOD: u8 = 12;

/// Our ids (shop id, order id, payout id): 1–64 of `[A-Za-z0-9_-]`.
pub(crate) fn is_our_id(text: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&text.len()) && text.bytes().all(|b| OUR_ID_BYTES[usize::from(b)])
}

/// A provider's id: 1–64 visible ASCII, none of the characters the formats
/// use as syntax (`,` separates, `` ` `` prefixes, `"` would quote).
pub(crate) fn is_provider_ref(text: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&text.len())
        && text.bytes().all(|b| PROVIDER_REF_BYTES[usize::from(b)])
}

const fn is_our_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

const fn is_provider_ref_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b',' && b != b'`' && b != b'"'
}

/// The same rules as tables, one load per byte: ids are checked on every row.
const OUR_ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_our_id_byte(byte as u8);
        byte += 1;
    }
    table
};
const PROVIDER_REF_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_provider_ref_byte(byte as u8);
        byte += 1;
    }
    table
};

/// What is wrong with a payer text, if anything. It is already masked; we
/// keep it as given, so it may not hold the formats' syntax.
pub(crate) fn payer_problem(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    // C0 controls, DEL and the syntax characters are single bytes; the C1
    // controls (U+0080..=U+009F) are `C2 80..=9F` in UTF-8.
    let c1_control = || {
        bytes
            .windows(2)
            .any(|pair| matches!(pair, [0xC2, 0x80..=0x9F]))
    };
    if bytes.iter().any(|b| PAYER_FORBIDDEN_BYTES[usize::from(*b)]) || c1_control() {
        return Some("holds a comma, a quote, a backtick or a control character");
    }
    // Characters never outnumber bytes: count only a long text.
    if bytes.len() > MAX_PAYER_CHARS && text.chars().nth(MAX_PAYER_CHARS).is_some() {
        return Some("is longer than 64 characters");
    }
    None
}

const PAYER_FORBIDDEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_control() || b == b',' || b == b'"' || b == b'`';
        byte += 1;
    }
    table
};

pub(crate) fn our_id<'a>(column: &str, text: &'a str) -> Result<&'a str, String> {
    if is_our_id(text) {
        Ok(text)
    } else {
        Err(format!(
            "{column} {} must be 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 _ -",
            shown(text)
        ))
    }
}

pub(crate) fn provider_ref<'a>(column: &str, text: &'a str) -> Result<&'a str, String> {
    if is_provider_ref(text) {
        Ok(text)
    } else {
        Err(format!(
            "{column} {} must be 1-{MAX_ID_LEN} visible ASCII characters without , ` or \"",
            shown(text)
        ))
    }
}

/// A movement's amount: yuan (at most two decimals), more than zero.
pub(crate) fn amount(column: &str, text: &str) -> Result<i64, String> {
    match parse_yuan(text, Sign::Unsigned) {
        Ok(fen) if fen > 0 => Ok(fen),
        Ok(_) => Err(format!("{column} must be more than zero")),
        Err(_) => Err(not_yuan(column, text)),
    }
}

/// A fee: yuan (at most two decimals), zero or more.
pub(crate) fn fee(column: &str, text: &str) -> Result<i64, String> {
    parse_yuan(text, Sign::Unsigned).map_err(|_| not_yuan(column, text))
}

pub(crate) fn not_yuan(column: &str, text: &str) -> String {
    format!(
        "{column} {} is not an amount in yuan with at most two decimals",
        shown(text)
    )
}

/// An instalment period, `1`..=`12`, written without leading zeros.
pub(crate) fn period(column: &str, text: &str) -> Result<u8, String> {
    let parsed = match text.as_bytes() {
        [d @ b'1'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'9'] => Some(10 + (d - b'0')),
        _ => None,
    };
    parsed
        .filter(|p| *p <= MAX_PERIOD)
        .ok_or_else(|| format!("{column} {} is not a period 1-{MAX_PERIOD}", shown(text)))
}

/// The payer column: empty is "unknown".
pub(crate) fn payer(column: &str, text: &str) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match payer_problem(text) {
        None => Ok(Some(text.to_owned())),
        Some(problem) => Err(format!("{column} {problem}")),
    }
}

/// Explains a refused time of column `column`.
pub(crate) fn time_error(
    error: TimeError,
    column: &str,
    text: &str,
    day: &Day,
    layout: &str,
) -> String {
    match error {
        TimeError::Malformed => format!("{column} {} is not a time {layout}", shown(text)),
        TimeError::OtherDay(date) => format!(
            "row of {} in the statement of {}",
            date.format("%Y-%m-%d"),
            day.date()
        ),
        TimeError::NoSuchLocalTime => {
            format!(
                "{column} {} is not a time that existed in Beijing",
                shown(text)
            )
        }
    }
}

/// Whether `row` can be written into a statement of `provider`: the rules
/// the readers apply to every value. (A row of another day is written: that
/// is how a statement with that anomaly is made; the reader refuses it.)
pub(crate) fn check_row(row: &StatementRow, provider: Provider) -> Result<(), String> {
    if row.provider != provider {
        return Err(format!(
            "a {} row cannot be written into a {provider} statement",
            row.provider
        ));
    }
    if matches!(row.kind, MovementKind::Fee | MovementKind::FeeReturned) {
        return Err(format!(
            "a {} row cannot be written: a fee is the fee_fen of its row",
            row.kind
        ));
    }
    our_id("shop_id", &row.shop_id)?;
    our_id("reference", &row.reference)?;
    provider_ref("provider_ref", &row.provider_ref)?;
    match (row.kind, row.period) {
        (MovementKind::Deduction, Some(p)) if (1..=MAX_PERIOD).contains(&p) => {}
        (MovementKind::Deduction, _) => {
            return Err(format!("a deduction needs a period 1-{MAX_PERIOD}"));
        }
        (_, Some(_)) => return Err(format!("a {} row has no period", row.kind)),
        (_, None) => {}
    }
    if !(1..=MAX_FEN).contains(&row.amount_fen) {
        return Err(format!(
            "amount_fen {} is not 1..={MAX_FEN}",
            row.amount_fen
        ));
    }
    if !(0..=MAX_FEN).contains(&row.fee_fen) {
        return Err(format!("fee_fen {} is not 0..={MAX_FEN}", row.fee_fen));
    }
    if let Some(problem) = row.payer.as_deref().and_then(payer_problem) {
        return Err(format!("payer {problem}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payer_text_refuses_syntax_and_control_characters_only() {
        for good in ["张* 138****1234", "李*", "O'Brien", "é", &"字".repeat(64)] {
            assert_eq!(payer_problem(good), None, "{good:?}");
        }
        for bad in [
            "a,b", "a\"b", "a`b", "a\tb", "a\u{7f}", "a\u{85}b", "a\u{9f}",
        ] {
            assert!(payer_problem(bad).is_some(), "{bad:?}");
            assert!(bad.chars().any(|c| ",\"`".contains(c) || c.is_control()));
        }
        assert_eq!(
            payer_problem(&"字".repeat(65)),
            Some("is longer than 64 characters")
        );
    }
}
