//! The demo's export chapter: the owner takes the shop's orders away as a
//! spreadsheet (SPEC §11), and the file is opened back with a reader the
//! team did not write (calamine, from crates.io): every order id and every
//! provider transaction id must come back as the very text the API gives,
//! not as a number a spreadsheet rounded (`4.2e+27`).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use calamine::{open_workbook_from_rs, Data, Range, Reader, Xlsx};
use serde_json::Value;

use crate::demo::{s, Story};
use crate::seed::{expect, SHOP};

/// The export's columns the demo checks (its Chinese headers, the default).
const ORDER_ID: &str = "订单编号";
const PROVIDER_TXN: &str = "渠道交易号";

impl Story<'_> {
    /// Exports the orders created `from`..=`to` as XLSX into `data_dir`
    /// and checks them, cell by cell, against the orders the API lists.
    pub(crate) async fn the_orders_are_taken_away(
        &mut self,
        from: &str,
        to: &str,
        data_dir: &Path,
    ) -> Result<(), String> {
        let owner = self.demo.owner.clone();
        let range = format!("from={from}&to={to}");
        let listed = expect(
            "list the orders",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/orders?{range}&limit=100"),
                Some(&owner),
                None,
            )
            .await?,
            200,
        )?;
        let orders = listed["orders"].as_array().cloned().unwrap_or_default();
        let answer = self
            .client
            .send(
                "GET",
                &format!("/shops/{SHOP}/exports/orders?{range}&format=xlsx"),
                Some(&owner),
                &[],
                None,
            )
            .await?;
        if answer.status != 200 {
            return Err(format!(
                "export the orders: expected 200, got {}: {}",
                answer.status,
                answer.text()
            ));
        }
        let file = data_dir.join(format!("exports/orders-{from}-{to}.xlsx"));
        save(&file, &answer.body)?;
        let read = read_ids(answer.body)?;
        let longest = check_ids(&orders, &read)?;
        self.say(
            "The owner takes the orders away as a spreadsheet",
            &[
                format!(
                    "{} orders created {from}..{to}, saved as {}",
                    orders.len(),
                    file.display()
                ),
                format!(
                    "opened back with calamine: every {ORDER_ID} and {PROVIDER_TXN} is the same \
                     text the API lists, e.g. {longest} ({} digits, kept as text)",
                    longest.len()
                ),
            ],
        );
        Ok(())
    }
}

fn save(file: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(file, bytes).map_err(|e| format!("{}: {e}", file.display()))
}

/// Each row's order id and provider transaction id, as the reader sees
/// them; an id that comes back as anything but text is an error.
fn read_ids(bytes: Vec<u8>) -> Result<BTreeMap<String, String>, String> {
    let sheet = first_sheet(bytes, "the export")?;
    let mut rows = sheet.rows();
    let header = rows.next().ok_or("the export is empty")?;
    let order_at = column(header, ORDER_ID, "the export")?;
    let txn_at = column(header, PROVIDER_TXN, "the export")?;
    let text = |row: &[Data], at: usize| match row.get(at) {
        Some(Data::String(t)) => Ok(t.clone()),
        Some(Data::Empty) | None => Ok(String::new()),
        Some(other) => Err(format!("an id came back as {other:?}, not as text")),
    };
    rows.map(|row| Ok((text(row, order_at)?, text(row, txn_at)?)))
        .collect()
}

/// The first sheet of the XLSX `bytes` (`what` names the file in errors),
/// as calamine reads it.
pub(crate) fn first_sheet(bytes: Vec<u8>, what: &str) -> Result<Range<Data>, String> {
    let mut book: Xlsx<_> =
        open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| format!("{what}: {e}"))?;
    book.worksheet_range_at(0)
        .ok_or(format!("{what} has no sheet"))?
        .map_err(|e| format!("{what}'s sheet: {e}"))
}

/// Where the header row names `name`.
pub(crate) fn column(header: &[Data], name: &str, what: &str) -> Result<usize, String> {
    header
        .iter()
        .position(|c| matches!(c, Data::String(t) if t == name))
        .ok_or(format!("{what} has no {name} column"))
}

/// Every listed order is in the file with the same ids; the longest
/// provider transaction id, to show.
fn check_ids(orders: &[Value], read: &BTreeMap<String, String>) -> Result<String, String> {
    if orders.is_empty() || orders.len() != read.len() {
        return Err(format!(
            "the API lists {} orders, the export has {}",
            orders.len(),
            read.len()
        ));
    }
    let mut longest = String::new();
    for order in orders {
        let id = s(&order["order_id"]);
        let txn = order["provider_txn_id"].as_str().unwrap_or_default();
        match read.get(&id) {
            Some(found) if found == txn => {}
            Some(found) => {
                return Err(format!(
                    "order {id}: the export says {found:?}, the API {txn:?}"
                ))
            }
            None => return Err(format!("order {id} is not in the export")),
        }
        if txn.len() > longest.len() {
            longest = txn.to_owned();
        }
    }
    Ok(longest)
}
