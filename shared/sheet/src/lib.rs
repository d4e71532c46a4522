//! Spreadsheet cells (SPEC §11 "Orders"): the one place that decides how a
//! value becomes a CSV field or an XLSX cell. Both exports — the orders of a
//! range and the daily reconciliation report — write through here, so the
//! rules hold the same everywhere:
//!
//! - **Ids stay exact text.** A 28-digit provider transaction id read as a
//!   number loses its digits (`4.200883534964e+27`, IEEE doubles keep 15).
//!   XLSX: a string cell with the text format `@`. CSV has no typed cells;
//!   an id of digits only is written as a quoted field with a leading TAB,
//!   `"\t4200…"`: LibreOffice keeps that as a text cell with every digit
//!   under every import option (proven by `tests/tests/sheet_readers.rs`),
//!   and it is common practice for Chinese CSV exports. A machine reader
//!   trims the TAB; the JSON forms carry the bare id.
//! - **Outside text is never a formula** (OWASP CSV injection): text that
//!   starts with `=` `+` `-` `@` TAB CR or LF is prefixed with `'` in CSV
//!   and written with the quote-prefix style in XLSX (never evaluated
//!   there: a string cell is not a formula). The TAB in front of an id is
//!   followed by digits only, which no spreadsheet runs.
//! - **Money is exact.** CSV: yuan with exactly two decimals. XLSX: a
//!   number cell formatted `0.00`, so sums work; the value is the double
//!   nearest the yuan amount, which rounds back to the exact fen (amounts
//!   stay far below 2^53 fen).
//! - CSV files start with a UTF-8 BOM (Excel reads UTF-8 then) and end
//!   lines with CRLF; a field holding `,` `"` `;` TAB CR or LF is quoted
//!   (`;` too: LibreOffice splits on it by default).

mod xlsx;

pub use xlsx::{Workbook, XlsxError};

use qrpay_domain::money_text::push_fen;

/// The media type of a CSV download.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";
/// The media type of an XLSX download.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The language of a file's header row: Chinese by default (the seed's
/// daily report template), English on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// What opens every CSV file: the UTF-8 byte order mark.
pub const CSV_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One cell of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// An identifier (order, transaction, shop, device): exact text.
    Id(&'a str),
    /// Text from outside (names, notes, descriptions): never a formula.
    Text(&'a str),
    /// Our own vocabulary (dates, statuses, kinds): written as it is.
    Plain(&'a str),
    /// Money in fen.
    Fen(i64),
    /// A count or line number.
    Count(u64),
    Empty,
}

/// Whether a spreadsheet would take text starting so as a formula.
pub fn starts_like_formula(text: &str) -> bool {
    text.as_bytes()
        .first()
        .is_some_and(|b| matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\n'))
}

/// Whether an id is digits only: the kind a spreadsheet turns into a number.
pub fn is_digit_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Appends one CSV field (no separator).
pub fn push_csv(out: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Id(id) if is_digit_id(id) => {
            out.extend_from_slice(b"\"\t");
            out.extend_from_slice(id.as_bytes());
            out.push(b'"');
        }
        Cell::Id(text) | Cell::Text(text) => push_text(out, text, starts_like_formula(text)),
        Cell::Plain(text) => push_text(out, text, false),
        Cell::Fen(fen) => push_fen(out, fen),
        Cell::Count(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Cell::Empty => {}
    }
}

fn push_text(out: &mut Vec<u8>, text: &str, defuse: bool) {
    let quote = defuse
        || text
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b';' | b'\t' | b'\r' | b'\n'));
    if !quote {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    if defuse {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends a whole CSV line (fields comma-separated, CRLF).
pub fn push_csv_row(out: &mut Vec<u8>, cells: &[Cell<'_>]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_csv(out, *cell);
    }
    out.extend_from_slice(b"\r\n");
}

/// A CSV file: the BOM, a header line, then rows.
pub fn csv_file<'a>(headers: &[&str], rows: impl IntoIterator<Item = Vec<Cell<'a>>>) -> Vec<u8> {
    let mut out = CSV_BOM.to_vec();
    let header: Vec<Cell<'_>> = headers.iter().map(|h| Cell::Plain(h)).collect();
    push_csv_row(&mut out, &header);
    for row in rows {
        push_csv_row(&mut out, &row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(cell: Cell<'_>) -> String {
        let mut out = Vec::new();
        push_csv(&mut out, cell);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_digit_id_is_a_quoted_field_with_a_leading_tab() {
        assert_eq!(
            csv(Cell::Id("4200001234567890123456789012")),
            "\"\t4200001234567890123456789012\""
        );
        assert_eq!(csv(Cell::Id("ord_01J")), "ord_01J");
        assert_eq!(csv(Cell::Id("-12")), "\"'-12\"", "not digits only: defused");
    }

    #[test]
    fn outside_text_that_starts_like_a_formula_is_defused_and_quoted() {
        for (text, field) in [
            ("=1+2", "\"'=1+2\""),
            ("+1", "\"'+1\""),
            ("-1", "\"'-1\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1", "\"'\t=1\""),
            ("\r=1", "\"'\r=1\""),
            ("\n=1", "\"'\n=1\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
        ] {
            assert_eq!(csv(Cell::Text(text)), field, "{text:?}");
        }
        assert_eq!(csv(Cell::Text("a;=1+2")), "\"a;=1+2\"");
        assert_eq!(csv(Cell::Text("张* 138****1234")), "张* 138****1234");
        assert_eq!(csv(Cell::Plain("PAID")), "PAID");
    }

    #[test]
    fn money_has_exactly_two_decimals_and_counts_are_digits() {
        assert_eq!(csv(Cell::Fen(1230)), "12.30");
        assert_eq!(csv(Cell::Fen(-5)), "-0.05");
        assert_eq!(csv(Cell::Count(7)), "7");
        assert_eq!(csv(Cell::Empty), "");
    }

    #[test]
    fn a_file_starts_with_the_bom_and_ends_lines_with_crlf() {
        let file = csv_file(&["订单编号", "金额"], [vec![Cell::Id("1"), Cell::Fen(100)]]);
        assert_eq!(file, "\u{feff}订单编号,金额\r\n\"\t1\",1.00\r\n".as_bytes());
    }
}
