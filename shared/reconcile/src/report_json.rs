//! The daily report's JSON object (`reports/{date}/{shop}.json`, SPEC §6):
//! what the API reads a shop's rows from.
//!
//! One document per shop and day, written as a table: the shop, date and
//! run once, the column names once, then each row as an array of values in
//! column order, then the shop's summary:
//!
//! ```json
//! {"shop_id":"shop-1","date":"2026-11-20","run_id":"…",
//!  "columns":["order_no","kind",…,"row_id"],
//!  "rows":[["ord-1","PAYMENT",…,"57fd4430fec28668"],…],
//!  "summary":{…}}
//! ```
//!
//! A row as an object repeated every key: 2.9 times the bytes of the CSV,
//! 3.9 GB of a 10-million-row day's 5.3 GB of reports, all of it on the
//! function's scratch disk at once. As a table it is about the CSV's size.
//! Amounts are strings (`"12.30"`), an absent value is `null`, the
//! statement line a number. [`rows_of`] gives the rows back as objects
//! (with `date` and `shop_id`), and reads reports written before, whose
//! rows were objects, as they are.

use std::io::{self, Write};

use qrpay_domain::money_text::{push_fen, push_u64};
use qrpay_domain::BusinessDate;
use serde_json::{Map, Value};

use crate::json_text::json_str;
use crate::report::{write_instalment, ReportRow};

/// The names of a row's values, in the order they are written.
pub const COLUMNS: [&str; 15] = [
    "order_no",
    "kind",
    "provider",
    "provider_ref",
    "customer",
    "instalment",
    "deduction_status",
    "ledger_amount",
    "provider_amount",
    "reconciled_amount",
    "outcome",
    "note",
    "resolution",
    "statement_line",
    "row_id",
];

/// Writes a shop's JSON report around pre-rendered rows, so a big shop's
/// report is never held in memory whole.
pub struct JsonReport<W: Write> {
    out: W,
    rows: u64,
}

impl<W: Write> JsonReport<W> {
    pub fn begin(mut out: W, shop_id: &str, date: BusinessDate, run_id: &str) -> io::Result<Self> {
        let mut head = Vec::new();
        head.push(b'{');
        for (i, (key, value)) in [
            ("shop_id", shop_id),
            ("date", &date.to_string()),
            ("run_id", run_id),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                head.push(b',');
            }
            json_str(&mut head, key);
            head.push(b':');
            json_str(&mut head, value);
        }
        head.extend_from_slice(b",\"columns\":[");
        for (i, column) in COLUMNS.iter().enumerate() {
            if i > 0 {
                head.push(b',');
            }
            json_str(&mut head, column);
        }
        head.extend_from_slice(b"],\"rows\":[");
        out.write_all(&head)?;
        Ok(JsonReport { out, rows: 0 })
    }

    /// One row, already rendered by [`write_row`].
    pub fn row(&mut self, json: &[u8]) -> io::Result<()> {
        if self.rows > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(json)?;
        self.rows += 1;
        Ok(())
    }

    pub fn finish(mut self, summary: &impl serde::Serialize) -> io::Result<W> {
        self.out.write_all(b"],\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary)?;
        self.out.write_all(b"}")?;
        Ok(self.out)
    }
}

/// A row's values as a JSON array, in [`COLUMNS`] order.
pub fn write_row(row: &ReportRow<'_>, out: &mut Vec<u8>) {
    out.push(b'[');
    json_opt(out, Some(row.order_no));
    out.push(b',');
    json_opt(out, Some(row.kind));
    out.push(b',');
    json_opt(out, row.provider.map(|p| p.as_str()));
    out.push(b',');
    json_opt(out, row.provider_ref);
    out.push(b',');
    json_opt(out, row.customer.as_deref());
    out.push(b',');
    if row.instalment.is_some() {
        out.push(b'"');
        write_instalment(out, row.instalment);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"null");
    }
    out.push(b',');
    json_opt(out, row.deduction_status);
    for fen in [row.ledger_fen, row.provider_fen, row.reconciled_fen] {
        out.push(b',');
        match fen {
            Some(fen) => {
                out.push(b'"');
                push_fen(out, fen);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b',');
    json_opt(out, Some(row.outcome.as_str()));
    out.push(b',');
    json_opt(out, Some(&row.note));
    out.push(b',');
    json_opt(out, Some(row.outcome.resolution()));
    out.push(b',');
    match row.statement_line {
        Some(line) => push_u64(out, line),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"");
    row.row_id.push_hex(out);
    out.extend_from_slice(b"\"]");
}

/// A JSON string, or null.
fn json_opt(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => json_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// The rows of a report document as objects: `date`, `shop_id` and each
/// column by name. Rows already objects (reports written before the table
/// form) come back as they are. An error names what is malformed.
pub fn rows_of(mut doc: Value) -> Result<Vec<Value>, String> {
    let rows = match doc.get_mut("rows").map(Value::take) {
        Some(Value::Array(rows)) => rows,
        _ => return Err("the report has no rows array".to_owned()),
    };
    let columns: Option<Vec<String>> = match doc.get("columns") {
        None => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|n| n.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or("a column name is not a string")?,
        ),
        Some(_) => return Err("columns is not an array".to_owned()),
    };
    let head = |key: &str| doc.get(key).cloned().unwrap_or(Value::Null);
    let (date, shop_id) = (head("date"), head("shop_id"));
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| match (row, &columns) {
            (Value::Object(row), None) => Ok(Value::Object(row)),
            (Value::Array(values), Some(columns)) if values.len() == columns.len() => {
                let mut object = Map::new();
                object.insert("date".to_owned(), date.clone());
                object.insert("shop_id".to_owned(), shop_id.clone());
                object.extend(columns.iter().cloned().zip(values));
                Ok(Value::Object(object))
            }
            _ => Err(format!("row {i} does not fit the report's columns")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::row;

    fn document(rows: usize) -> Value {
        let date = BusinessDate::parse("2026-11-20").expect("date");
        let mut report = JsonReport::begin(Vec::new(), "shop-1", date, "run-1").expect("begin");
        let mut json = Vec::new();
        write_row(&row(), &mut json);
        for _ in 0..rows {
            report.row(&json).expect("row");
        }
        let bytes = report
            .finish(&serde_json::json!({"rows": rows}))
            .expect("finish");
        serde_json::from_slice(&bytes).expect("valid JSON")
    }

    #[test]
    fn a_row_is_written_once_as_values_in_column_order() {
        let mut json = Vec::new();
        write_row(&row(), &mut json);
        assert_eq!(
            String::from_utf8(json).expect("utf8"),
            r#"["ord-1","DEDUCTION","sandbox","t1","张*","period 2 of 3","FAILED",null,"1.00","0.00","MATCHED","a \"quoted\", note\n","NONE",2,"57fd4430fec28668"]"#
        );
    }

    #[test]
    fn the_report_is_one_document_whose_rows_read_back_as_objects() {
        let doc = document(2);
        assert_eq!(doc["shop_id"], "shop-1");
        assert_eq!(doc["date"], "2026-11-20");
        assert_eq!(doc["run_id"], "run-1");
        assert_eq!(doc["columns"].as_array().map(Vec::len), Some(COLUMNS.len()));
        assert_eq!(doc["summary"]["rows"], 2);
        let rows = rows_of(doc).expect("rows");
        assert_eq!(rows.len(), 2);
        let expected = serde_json::json!({
            "date": "2026-11-20", "shop_id": "shop-1", "order_no": "ord-1",
            "kind": "DEDUCTION", "provider": "sandbox", "provider_ref": "t1",
            "customer": "张*", "instalment": "period 2 of 3", "deduction_status": "FAILED",
            "ledger_amount": null, "provider_amount": "1.00", "reconciled_amount": "0.00",
            "outcome": "MATCHED", "note": "a \"quoted\", note\n", "resolution": "NONE",
            "statement_line": 2, "row_id": "57fd4430fec28668"
        });
        assert_eq!(rows[0], expected);
        assert_eq!(rows[1], expected);
        assert_eq!(rows_of(document(0)).expect("rows"), Vec::<Value>::new());
    }

    /// Reports written before the table form kept each row as an object:
    /// they are still read.
    #[test]
    fn a_report_whose_rows_are_objects_still_reads() {
        let old = serde_json::json!({
            "shop_id": "shop-1", "date": "2026-11-20", "run_id": "r",
            "rows": [{"date": "2026-11-20", "shop_id": "shop-1", "order_no": "ord-9"}],
            "summary": {}
        });
        let rows = rows_of(old).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["order_no"], "ord-9");
    }

    #[test]
    fn a_malformed_report_is_an_error_not_a_guess() {
        let mut short = document(1);
        short["rows"][0].as_array_mut().expect("row").pop();
        let mut mixed = document(1);
        mixed["rows"][0] = serde_json::json!({"order_no": "x"});
        let mut unnamed = document(1);
        unnamed["columns"][3] = Value::from(3);
        for (doc, error) in [
            (short, "row 0 does not fit the report's columns"),
            (mixed, "row 0 does not fit the report's columns"),
            (unnamed, "a column name is not a string"),
            (
                serde_json::json!({"rows": 3}),
                "the report has no rows array",
            ),
            (
                serde_json::json!({"columns": "x", "rows": []}),
                "columns is not an array",
            ),
        ] {
            assert_eq!(rows_of(doc), Err(error.to_owned()));
        }
    }
}
