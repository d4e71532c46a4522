//! How inputs are made: arbitrary bytes, and valid samples mutated at the
//! byte level (bit flips, insertions, deletions, duplication, splicing,
//! truncation), at the token level (boundary numbers, long strings, unicode
//! and control characters) and inside their structure (JSON values and
//! keys; cells and lines of delimited text).

use serde_json::{Map, Number, Value};

use crate::rng::Rng;

/// Tokens every parser is tried with: boundary numbers, money-shaped text,
/// separators, unicode that changes width or direction, control characters.
pub const TOKENS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "00",
    "0.00",
    "0.01",
    "-0.01",
    "0.001",
    "1e3",
    "1E-2",
    "NaN",
    "inf",
    "99999999.99",
    "99999999.999",
    "100000000.00",
    "9999999999",
    "10000000000",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "79228162514264337593543950335",
    "1.7976931348623157e308",
    "253402300799",
    "253402300800",
    "+8.00",
    " 1.00",
    "1,000.00",
    "１２.００",
    "",
    " ",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\u{0}",
    "\t",
    "\r\n",
    "\n",
    ",",
    "`",
    "#",
    "&",
    "=",
    "%",
    "%00",
    "%zz",
    "+",
    ".",
    "..",
    "/",
    ":",
    "null",
    "true",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[",
    "é",
    "中文",
    "交易成功",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "\u{10ffff}",
    "😀",
    "ǅ",
    "İ",
    "ﬃ",
    "2026-03-01T10:00:00+08:00",
    "2026-02-30T10:00:00+08:00",
    "9999-12-31T23:59:59+08:00",
    "-262144-01-01T00:00:00Z",
    "2026-03-01 10:00:00",
    "20260301",
    "SUCCESS",
    "FAIL",
    "v1",
    "ord_01JQ0000000000000000000000",
];

/// One of `TOKENS`, or a long run of one character.
pub fn token(rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(16) {
        let unit = *rng.pick(&["A", "9", "é", "中", "\u{0}", "\\", "0"]);
        return unit.repeat(1 + rng.below(5000)).into_bytes();
    }
    rng.pick(TOKENS).as_bytes().to_vec()
}

/// Random bytes, or random printable text, or tokens glued together.
pub fn arbitrary(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let len = rng.size(max_len);
    match rng.below(3) {
        0 => (0..len).map(|_| rng.byte()).collect(),
        1 => (0..len).map(|_| 0x20 + rng.byte() % 0x5f).collect(),
        _ => {
            let mut out = Vec::new();
            while out.len() < len {
                out.extend(token(rng));
            }
            out
        }
    }
}

/// A random range inside `len` (possibly empty).
fn span(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len + 1);
    let end = start + rng.size(len - start);
    (start, end)
}

/// One byte-level mutation of `data`; `other` is spliced from.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(b"\0\x7f\x80\xff\"\\,\n\r`.-09aZ {}[]:&=%#");
        }
        2 => {
            let at = rng.below(len + 1);
            let extra: Vec<u8> = (0..1 + rng.below(4)).map(|_| rng.byte()).collect();
            data.splice(at..at, extra);
        }
        3 if len > 0 => {
            let (start, end) = span(rng, len);
            data.drain(start..end);
        }
        4 if len > 0 => {
            let (start, end) = span(rng, len);
            let copy = data[start..end].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, copy);
        }
        5 if !other.is_empty() => {
            let (start, end) = span(rng, other.len());
            let at = rng.below(len + 1);
            let cut = at + rng.below(len - at + 1);
            data.splice(at..cut, other[start..end].iter().copied());
        }
        6 => data.truncate(rng.below(len + 1)),
        7 => {
            let (start, end) = span(rng, len);
            data.splice(start..end, token(rng));
        }
        8 => replace_number(rng, data),
        _ => {
            let at = rng.below(len + 1);
            data.splice(at..at, token(rng));
        }
    }
}

/// Replaces one run of digits with a boundary number.
fn replace_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = *rng.pick(&starts);
    let end = (start..data.len())
        .find(|&i| !data[i].is_ascii_digit())
        .unwrap_or(data.len());
    let number = *rng.pick(&[
        "0",
        "1",
        "-1",
        "255",
        "256",
        "9999999999",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999",
    ]);
    data.splice(start..end, number.bytes());
}

/// Splits on `sep` keeping the pieces.
fn pieces(data: &[u8], sep: u8) -> Vec<Vec<u8>> {
    data.split(|b| *b == sep).map(<[u8]>::to_vec).collect()
}

fn join(parts: &[Vec<u8>], sep: u8) -> Vec<u8> {
    parts.join(&sep)
}

/// One mutation of delimited text (CSV lines, forms): a line or a cell is
/// replaced, swapped with another, duplicated or removed.
pub fn mutate_delimited(rng: &mut Rng, data: &[u8], line_sep: u8, cell_sep: u8) -> Vec<u8> {
    let mut lines = pieces(data, line_sep);
    let n = lines.len();
    match rng.below(6) {
        0 => {
            let (a, b) = (rng.below(n), rng.below(n));
            lines.swap(a, b);
        }
        1 => {
            let line = lines[rng.below(n)].clone();
            lines.insert(rng.below(n + 1), line);
        }
        2 if n > 1 => {
            lines.remove(rng.below(n));
        }
        _ => {
            let i = rng.below(n);
            let mut cells = pieces(&lines[i], cell_sep);
            let m = cells.len();
            match rng.below(4) {
                0 => {
                    let (a, b) = (rng.below(m), rng.below(m));
                    cells.swap(a, b);
                }
                1 => {
                    cells.remove(rng.below(m));
                }
                2 => {
                    let cell = cells[rng.below(m)].clone();
                    cells.insert(rng.below(m + 1), cell);
                }
                _ => {
                    let at = rng.below(m);
                    let keep_prefix = rng.one_in(2) && cells[at].first() == Some(&b'`');
                    let mut cell = if keep_prefix {
                        b"`".to_vec()
                    } else {
                        Vec::new()
                    };
                    cell.extend(token(rng));
                    cells[at] = cell;
                }
            }
            lines[i] = join(&cells, cell_sep);
        }
    }
    join(&lines, line_sep)
}

/// A JSON value of any shape, from the boundary tokens.
pub fn json_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::Number(Number::from(rng.next_u64() as i64 >> rng.below(64))),
        3 => Number::from_f64(f64::from_bits(rng.next_u64())).map_or(Value::Null, Value::Number),
        4 | 5 => Value::String(String::from_utf8_lossy(&token(rng)).into_owned()),
        6 => Value::Array(
            (0..rng.below(3))
                .map(|_| json_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(3) {
                let key = String::from_utf8_lossy(&token(rng)).into_owned();
                map.insert(key, json_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// Every path to a value inside `value` (object keys and array indexes).
fn paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(Step::Key(k.clone()));
                paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(Step::Index(i));
                paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at_path<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// One mutation inside a JSON document: a value replaced (by a boundary
/// value, or a copy of another value: a field swap), a key removed, renamed
/// or added. Text that is not JSON is left as it is.
pub fn mutate_json(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let Ok(mut doc) = serde_json::from_slice::<Value>(data) else {
        return data.to_vec();
    };
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let other = rng.pick(&all).clone();
    let donor = at_path(&mut doc, &other).map(|v| v.clone());
    if let Some(target) = at_path(&mut doc, &path) {
        match (rng.below(5), target) {
            (0, Value::Object(map)) if !map.is_empty() => {
                let key = map
                    .keys()
                    .nth(rng.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                let value = map.remove(&key).unwrap_or(Value::Null);
                if rng.one_in(2) {
                    let renamed = String::from_utf8_lossy(&token(rng)).into_owned();
                    map.insert(renamed, value);
                }
            }
            (1, Value::Object(map)) => {
                let key = String::from_utf8_lossy(&token(rng)).into_owned();
                map.insert(key, json_value(rng, 0));
            }
            (2, target) => *target = donor.unwrap_or(Value::Null),
            (_, target) => *target = json_value(rng, 0),
        }
    }
    serde_json::to_vec(&doc).unwrap_or_else(|_| data.to_vec())
}

/// How a sample is turned into an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Bytes with no structure of their own.
    Bytes,
    /// A JSON document.
    Json,
    /// Lines of `cell_sep`-separated cells.
    Delimited { line_sep: u8, cell_sep: u8 },
}

/// An input: arbitrary bytes now and then, otherwise a sample with one to
/// eight stacked mutations (structural ones where the shape has structure).
pub fn input(rng: &mut Rng, samples: &[Vec<u8>], shape: Shape, max_len: usize) -> Vec<u8> {
    if samples.is_empty() || rng.one_in(10) {
        return arbitrary(rng, max_len);
    }
    let mut data = rng.pick(samples).clone();
    let other = rng.pick(samples).clone();
    let most = *rng.pick(&[1, 2, 4, 8]);
    for _ in 0..1 + rng.below(most) {
        match (shape, rng.below(2)) {
            (Shape::Json, 0) => data = mutate_json(rng, &data),
            (Shape::Delimited { line_sep, cell_sep }, 0) => {
                data = mutate_delimited(rng, &data, line_sep, cell_sep)
            }
            _ => mutate_bytes(rng, &mut data, &other),
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_change_samples_and_keep_structure_readable() {
        let mut rng = Rng::new(3);
        let sample = br#"{"a":"1.00","b":{"c":[1,2]}}"#.to_vec();
        let samples = vec![sample.clone()];
        let outs: Vec<Vec<u8>> = (0..200)
            .map(|_| input(&mut rng, &samples, Shape::Json, 64))
            .collect();
        assert!(outs.iter().filter(|o| **o != sample).count() > 150);
        let json_ok = (0..200)
            .filter(|_| serde_json::from_slice::<Value>(&mutate_json(&mut rng, &sample)).is_ok())
            .count();
        assert_eq!(json_ok, 200);
        let csv = b"h1,h2\nx,y\n#end".to_vec();
        let changed = (0..100)
            .filter(|_| mutate_delimited(&mut rng, &csv, b'\n', b',') != csv)
            .count();
        assert!(changed > 50, "{changed}");
    }
}
