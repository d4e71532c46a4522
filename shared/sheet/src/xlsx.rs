//! The XLSX form of a table (see the crate's rules): one sheet, a frozen
//! bold header row, ids as text cells formatted `@`, money as `0.00`
//! numbers, outside text that looks like a formula with the quote prefix.

use rust_xlsxwriter::{Format, Worksheet};

use crate::{is_digit_id, starts_like_formula, Cell};

#[derive(Debug, thiserror::Error)]
#[error("spreadsheet could not be written: {0}")]
pub struct XlsxError(String);

impl From<rust_xlsxwriter::XlsxError> for XlsxError {
    fn from(err: rust_xlsxwriter::XlsxError) -> XlsxError {
        XlsxError(err.to_string())
    }
}

struct Formats {
    header: Format,
    id: Format,
    defused: Format,
    money: Format,
    plain: Format,
}

/// A workbook of one sheet being written row by row.
pub struct Workbook {
    book: rust_xlsxwriter::Workbook,
    formats: Formats,
    next_row: u32,
}

impl Workbook {
    /// A workbook whose sheet `name` starts with the header row `headers`.
    pub fn new(name: &str, headers: &[&str]) -> Result<Workbook, XlsxError> {
        let formats = Formats {
            header: Format::new().set_bold(),
            id: Format::new().set_num_format("@"),
            defused: Format::new().set_num_format("@").set_quote_prefix(),
            money: Format::new().set_num_format("0.00"),
            plain: Format::new(),
        };
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        sheet.set_freeze_panes(1, 0)?;
        for (col, header) in (0u16..).zip(headers) {
            sheet.write_string_with_format(0, col, *header, &formats.header)?;
            sheet.set_column_width(col, 18)?;
        }
        Ok(Workbook {
            book,
            formats,
            next_row: 1,
        })
    }

    /// Appends one row.
    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), XlsxError> {
        let row = self.next_row;
        let sheet = self.book.worksheet_from_index(0)?;
        for (col, cell) in (0u16..).zip(cells) {
            write(sheet, &self.formats, row, col, *cell)?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// The file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, XlsxError> {
        Ok(self.book.save_to_buffer()?)
    }
}

fn write(
    sheet: &mut Worksheet,
    formats: &Formats,
    row: u32,
    col: u16,
    cell: Cell<'_>,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Id(id) => {
            let format = if is_digit_id(id) || !starts_like_formula(id) {
                &formats.id
            } else {
                &formats.defused
            };
            sheet.write_string_with_format(row, col, id, format)?;
        }
        Cell::Text(text) if starts_like_formula(text) => {
            sheet.write_string_with_format(row, col, text, &formats.defused)?;
        }
        Cell::Text(text) | Cell::Plain(text) => {
            sheet.write_string_with_format(row, col, text, &formats.plain)?;
        }
        Cell::Fen(fen) => {
            // The double nearest the yuan amount: it rounds back to `fen`.
            let yuan = fen as f64 / 100.0;
            sheet.write_number_with_format(row, col, yuan, &formats.money)?;
        }
        Cell::Count(n) => {
            sheet.write_number_with_format(row, col, n as f64, &formats.plain)?;
        }
        Cell::Empty => {}
    }
    Ok(())
}
