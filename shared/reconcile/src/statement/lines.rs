//! Line-at-a-time reading and byte-level field work shared by the statement
//! formats and the bank receipts: one reused buffer, a cap on every line, no
//! allocation per field.

use std::io::{self, BufRead, Read};

use crate::model::{LineError, StatementRow};

/// The longest line any input may hold, counting its line terminator. A
/// longer line is an error for that line, and is skipped without buffering.
pub const MAX_LINE_BYTES: usize = 4096;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The physical lines of an input, numbered from 1.
pub(crate) struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    number: u64,
    ended: bool,
}

/// One physical line, without its `\n` or `\r\n`.
pub(crate) enum Line<'a> {
    Bytes(&'a [u8]),
    TooLong,
    Unreadable(io::Error),
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(input: R) -> Lines<R> {
        Lines {
            input,
            buf: Vec::with_capacity(512),
            number: 0,
            ended: false,
        }
    }

    /// The number of the line last returned (0 before the first).
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// The next line and its number; `None` at the end of the input, and for
    /// good after a read error.
    pub(crate) fn next_line(&mut self) -> Option<(u64, Line<'_>)> {
        if self.ended {
            return None;
        }
        self.buf.clear();
        let cap = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.input).take(cap).read_until(b'\n', &mut self.buf);
        match read {
            Ok(0) => {
                self.ended = true;
                return None;
            }
            Ok(_) => self.number += 1,
            Err(error) => {
                self.ended = true;
                self.number += 1;
                return Some((self.number, Line::Unreadable(error)));
            }
        }
        let number = self.number;
        let terminated = self.buf.last() == Some(&b'\n');
        if self.buf.len() > MAX_LINE_BYTES {
            if !terminated {
                if let Err(error) = skip_line(&mut self.input) {
                    self.ended = true;
                    return Some((number, Line::Unreadable(error)));
                }
            }
            return Some((number, Line::TooLong));
        }
        let line = self.buf.as_slice();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((number, Line::Bytes(line)))
    }
}

/// How one file format reads the lines after its header.
pub(crate) trait LineFormat {
    type Item;
    /// One line: an item, a line error, or nothing to report (an empty
    /// trailing line, a summary that agrees with the rows).
    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<Self::Item, LineError>>;
    /// A line over the cap (counted as an unread row where rows are expected).
    fn too_long(&mut self, number: u64) -> LineError;
    /// The input ended after line `next_line - 1`: an error if the format's
    /// end was not reached.
    fn end(&mut self, next_line: u64) -> Option<LineError>;
}

/// Drives a [`LineFormat`] over the lines of an input: one item per line
/// worth reporting, until the input ends.
pub(crate) struct LineReader<R, F> {
    lines: Lines<R>,
    format: F,
    done: bool,
}

impl<R: BufRead, F: LineFormat> LineReader<R, F> {
    pub(crate) fn new(lines: Lines<R>, format: F) -> LineReader<R, F> {
        LineReader {
            lines,
            format,
            done: false,
        }
    }

    pub(crate) fn next_item(&mut self) -> Option<Result<F::Item, LineError>> {
        while !self.done {
            let item = match self.lines.next_line() {
                None => {
                    self.done = true;
                    let next_line = self.lines.number() + 1;
                    self.format.end(next_line).map(Err)
                }
                Some((number, Line::Unreadable(error))) => {
                    self.done = true;
                    Some(Err(unreadable(number, &error)))
                }
                Some((number, Line::TooLong)) => Some(Err(self.format.too_long(number))),
                Some((number, Line::Bytes(bytes))) => self.format.line(number, bytes),
            };
            if item.is_some() {
                return item;
            }
        }
        None
    }
}

/// Consumes input up to and including the next `\n`, holding nothing.
fn skip_line<R: BufRead>(input: &mut R) -> io::Result<()> {
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(at) => {
                input.consume(at + 1);
                return Ok(());
            }
            None => {
                let all = available.len();
                input.consume(all);
            }
        }
    }
}

/// Line 1 of a file, for the header check: its text (UTF-8 BOM removed when
/// `utf8_bom` is allowed) or the error that makes the file unreadable.
pub(crate) fn first_line<'a, R: BufRead>(
    lines: &'a mut Lines<R>,
    not_this_format: &str,
    utf8_bom: bool,
) -> Result<&'a [u8], LineError> {
    match lines.next_line().map(|(_, line)| line) {
        None => Err(LineError::new(
            1,
            format!("{not_this_format}: the file is empty"),
        )),
        Some(Line::TooLong) => Err(LineError::new(
            1,
            format!("{not_this_format}: line 1 is longer than {MAX_LINE_BYTES} bytes"),
        )),
        Some(Line::Unreadable(error)) => Err(unreadable(1, &error)),
        Some(Line::Bytes(bytes)) if utf8_bom => Ok(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)),
        Some(Line::Bytes(bytes)) => Ok(bytes),
    }
}

/// Checks that line 1 of a UTF-8 file is exactly `header`.
pub(crate) fn expect_utf8_header<R: BufRead>(
    lines: &mut Lines<R>,
    header: &str,
    not_this_format: &str,
) -> Result<(), LineError> {
    let bytes = first_line(lines, not_this_format, true)?;
    match std::str::from_utf8(bytes) {
        Err(_) => Err(LineError::new(
            1,
            format!("{not_this_format}: line 1 is not UTF-8 text (is the file GBK-encoded?)"),
        )),
        Ok(text) if text == header => Ok(()),
        Ok(_) => Err(LineError::new(
            1,
            format!("{not_this_format}: line 1 is not the header '{header}'"),
        )),
    }
}

pub(crate) fn unreadable(line: u64, error: &io::Error) -> LineError {
    LineError::new(line, format!("the file could not be read: {error}"))
}

pub(crate) fn too_long(line: u64) -> LineError {
    LineError::new(line, format!("line is longer than {MAX_LINE_BYTES} bytes"))
}

pub(crate) fn not_utf8(line: u64) -> LineError {
    LineError::new(line, "line is not valid UTF-8")
}

/// A line after the format's end (a trailing empty line is allowed).
/// A detail line read as UTF-8 text and parsed by `parse`; a line that is
/// not UTF-8, or that `parse` refuses, is an error of that line.
pub(crate) fn utf8_row(
    line: u64,
    bytes: &[u8],
    parse: impl FnOnce(&str) -> Result<StatementRow, String>,
) -> Result<StatementRow, LineError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text).map_err(|message| LineError::new(line, message)),
        Err(_) => Err(not_utf8(line)),
    }
}

pub(crate) fn after_end(line: u64) -> LineError {
    LineError::new(line, "line after the end of the file's summary")
}

/// Splits `text` at every `sep` (an ASCII byte, so never inside a UTF-8
/// character) into exactly `N` fields, or says how many fields there were.
/// This runs on every line of every statement, so it looks at eight bytes
/// at a time (three times faster than `str::split` here).
pub(crate) fn split_exact<const N: usize>(text: &str, sep: u8) -> Result<[&str; N], usize> {
    debug_assert!(sep.is_ascii());
    let bytes = text.as_bytes();
    // Where each field but the last ends.
    let mut ends = [0usize; N];
    let mut count = 0usize;
    let mut record = |at: usize| {
        if let Some(end) = ends.get_mut(count) {
            *end = at;
        }
        count += 1;
    };
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut matches = matching_bytes(word, sep);
        while matches != 0 {
            record(offset + (matches.trailing_zeros() / 8) as usize);
            matches &= matches - 1;
        }
        offset += 8;
    }
    for (i, byte) in words.remainder().iter().enumerate() {
        if *byte == sep {
            record(offset + i);
        }
    }
    if count + 1 != N {
        return Err(count + 1);
    }
    if let Some(last) = ends.last_mut() {
        *last = bytes.len();
    }
    let mut fields = [""; N];
    let mut start = 0;
    for (field, end) in fields.iter_mut().zip(ends) {
        *field = text.get(start..end).unwrap_or_default();
        start = end + 1;
    }
    Ok(fields)
}

/// The bytes of `word` (8 of them) equal to `needle`, as the high bit of
/// each byte of the result (little-endian order: byte i ↔ bits 8i..8i+8).
fn matching_bytes(word: &[u8], needle: u8) -> u64 {
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
    let zero_where_equal = word ^ u64::from_ne_bytes([needle; 8]);
    // Exact per-byte zero test (no carries between bytes).
    !(((zero_where_equal & LOW_SEVEN).wrapping_add(LOW_SEVEN)) | zero_where_equal | LOW_SEVEN)
}

/// A count in a summary: decimal digits only.
pub(crate) fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A value quoted for an error message, cut short if long.
pub(crate) fn shown(text: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 40;
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(input: &[u8]) -> Vec<Result<Vec<u8>, &'static str>> {
        let mut lines = Lines::new(input);
        let mut out = Vec::new();
        while let Some((_, line)) = lines.next_line() {
            out.push(match line {
                Line::Bytes(bytes) => Ok(bytes.to_vec()),
                Line::TooLong => Err("too long"),
                Line::Unreadable(_) => Err("unreadable"),
            });
        }
        out
    }

    #[test]
    fn lines_end_in_lf_or_crlf_and_the_last_may_lack_one() {
        let got = all_lines(b"a\r\nb\n\nc");
        assert_eq!(
            got,
            vec![
                Ok(b"a".to_vec()),
                Ok(b"b".to_vec()),
                Ok(vec![]),
                Ok(b"c".to_vec())
            ]
        );
    }

    #[test]
    fn a_line_over_the_cap_is_skipped_and_the_next_is_read() {
        let mut input = vec![b'x'; MAX_LINE_BYTES - 1];
        input.push(b'\n');
        input.extend(vec![b'y'; MAX_LINE_BYTES * 3]);
        input.extend_from_slice(b"\nz\n");
        input.extend(vec![b'w'; MAX_LINE_BYTES + 1]);
        let got = all_lines(&input);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].as_ref().map(Vec::len), Ok(MAX_LINE_BYTES - 1));
        assert_eq!(got[1], Err("too long"));
        assert_eq!(got[2], Ok(b"z".to_vec()));
        assert_eq!(got[3], Err("too long"));
    }

    #[test]
    fn fields_split_exactly_or_report_their_count() {
        assert_eq!(split_exact::<3>("a,,c", b','), Ok(["a", "", "c"]));
        assert_eq!(split_exact::<3>("张,三,", b','), Ok(["张", "三", ""]));
        assert_eq!(split_exact::<1>("", b','), Ok([""]));
        assert_eq!(split_exact::<3>("a,b", b','), Err(2));
        assert_eq!(split_exact::<3>("a,b,c,d,e", b','), Err(5));
        assert_eq!(
            split_exact::<4>("0123456789,abcdefgh,,ijklmnopqrstu", b','),
            Ok(["0123456789", "abcdefgh", "", "ijklmnopqrstu"])
        );
    }

    proptest::proptest! {
        #[test]
        fn splitting_agrees_with_str_split(text in "(a|,|张|é|`){0,24}") {
            let expected: Vec<&str> = text.split(',').collect();
            match split_exact::<5>(&text, b',') {
                Ok(fields) => proptest::prop_assert_eq!(fields.to_vec(), expected),
                Err(count) => {
                    proptest::prop_assert_ne!(expected.len(), 5);
                    proptest::prop_assert_eq!(count, expected.len());
                }
            }
        }
    }
}
