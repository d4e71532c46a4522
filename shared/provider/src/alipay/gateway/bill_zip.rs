//! Alipay's bill archive: `{pid}_{yyyyMMdd}.csv.zip`, holding
//! `{pid}_{yyyyMMdd}_业务明细.csv` (the rows) and
//! `{pid}_{yyyyMMdd}_业务明细(汇总).csv` (per-store totals), entry names in
//! GBK without the ZIP UTF-8 flag. The detail entry is found by its name's
//! ending, whatever the prefix and whether the name is GBK or UTF-8, and
//! copied out byte for byte, its CRC checked and its size bounded.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use encoding_rs::GBK;

/// What names the detail entry (the summary's name also contains it).
const DETAIL: &str = "业务明细";
const SUMMARY: &str = "汇总";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the bill archive is not a readable ZIP: {0}")]
    NotZip(String),
    #[error("the bill archive has no …_业务明细.csv entry")]
    NoDetail,
    #[error("the bill archive has {0} …_业务明细.csv entries")]
    ManyDetails(usize),
    #[error("the bill's detail is over {0} bytes unpacked")]
    TooLarge(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// An entry's name: UTF-8 when it is valid UTF-8, else GBK.
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => GBK.decode_without_bom_handling(raw).0.into_owned(),
    }
}

/// Whether an entry is the detail CSV (not the summary).
fn is_detail(name: &str) -> bool {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = file.to_lowercase();
    lower.ends_with(".csv") && file.contains(DETAIL) && !file.contains(SUMMARY)
}

/// Writes the detail entry of the archive at `zip` to `dest`, at most
/// `max_bytes`: its size.
pub fn unpack_detail(zip: &Path, dest: &Path, max_bytes: u64) -> Result<u64, UnpackError> {
    let not_zip = |e: zip::result::ZipError| UnpackError::NotZip(e.to_string());
    let mut archive = zip::ZipArchive::new(File::open(zip)?).map_err(not_zip)?;
    let mut details = Vec::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(not_zip)?;
        if entry.is_file() && is_detail(&entry_name(entry.name_raw())) {
            details.push(index);
        }
    }
    let index = match details.as_slice() {
        [] => return Err(UnpackError::NoDetail),
        [index] => *index,
        many => return Err(UnpackError::ManyDetails(many.len())),
    };
    let entry = archive.by_index(index).map_err(not_zip)?;
    if entry.size() > max_bytes {
        return Err(UnpackError::TooLarge(max_bytes));
    }
    let mut out = BufWriter::new(File::create(dest)?);
    // The entry's reader checks its CRC when it reaches the end.
    let copied = io::copy(&mut entry.take(max_bytes.saturating_add(1)), &mut out)?;
    if copied > max_bytes {
        return Err(UnpackError::TooLarge(max_bytes));
    }
    out.flush()?;
    Ok(copied)
}

/// A ZIP of `(raw name, contents)` entries, stored (not compressed), names
/// as given (GBK, no UTF-8 flag, as Alipay writes them): for the local
/// simulator and tests.
#[cfg(feature = "signers")]
pub fn stored_zip(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let short = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_le_bytes();
    let long = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    for (name, data) in entries {
        let crc = crc32fast::hash(data).to_le_bytes();
        let offset = long(out.len());
        // version 2.0, no flags, stored, 1980-01-01 00:00.
        let common = [&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0][..], &crc].concat();
        let sizes = [long(data.len()), long(data.len())].concat();
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(&sizes);
        out.extend_from_slice(&short(name.len()));
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name);
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0]);
        central.extend_from_slice(&common);
        central.extend_from_slice(&sizes);
        central.extend_from_slice(&short(name.len()));
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
        central.extend_from_slice(&offset);
        central.extend_from_slice(name);
    }
    let at = long(out.len());
    let size = long(central.len());
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&short(entries.len()));
    out.extend_from_slice(&short(entries.len()));
    out.extend_from_slice(&size);
    out.extend_from_slice(&at);
    out.extend_from_slice(&[0, 0]);
    out
}

#[cfg(all(test, feature = "signers"))]
mod tests {
    use super::*;

    fn gbk(text: &str) -> Vec<u8> {
        GBK.encode(text).0.into_owned()
    }

    fn unpack(archive: &[u8], max: u64) -> (Result<u64, UnpackError>, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!(
            "qrpay-bill-zip-{}-{}",
            std::process::id(),
            crc32fast::hash(archive)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (zip, dest) = (dir.join("bill.zip"), dir.join("bill.csv"));
        std::fs::write(&zip, archive).unwrap();
        let result = unpack_detail(&zip, &dest, max);
        let written = std::fs::read(&dest).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        (result, written)
    }

    #[test]
    fn the_detail_entry_is_found_by_its_gbk_name_and_copied_byte_for_byte() {
        let detail = gbk("#支付宝业务明细查询\n");
        let archive = stored_zip(&[
            (&gbk("20880211_20261120_业务明细(汇总).csv"), b"summary"),
            (&gbk("20880211_20261120_业务明细.csv"), &detail),
        ]);
        let (result, written) = unpack(&archive, 1 << 20);
        assert_eq!(result.unwrap(), detail.len() as u64);
        assert_eq!(written, detail);
        // A UTF-8 name is found too.
        let archive = stored_zip(&[("x_业务明细.csv".as_bytes(), b"rows")]);
        assert_eq!(unpack(&archive, 1 << 20).1, b"rows");
    }

    #[test]
    fn a_bad_archive_is_an_error() {
        let detail = gbk("x_业务明细.csv");
        let (result, _) = unpack(&stored_zip(&[(&detail, b"0123456789")]), 9);
        assert!(
            matches!(result, Err(UnpackError::TooLarge(9))),
            "{result:?}"
        );
        let (result, _) = unpack(b"PK\x03\x04 not a zip", 100);
        assert!(matches!(result, Err(UnpackError::NotZip(_))), "{result:?}");
        let (result, _) = unpack(&stored_zip(&[(&gbk("x_业务明细(汇总).csv"), b"s")]), 100);
        assert!(matches!(result, Err(UnpackError::NoDetail)), "{result:?}");
        let other = gbk("y_业务明细.csv");
        let (result, _) = unpack(&stored_zip(&[(&detail, b"a"), (&other, b"b")]), 100);
        assert!(
            matches!(result, Err(UnpackError::ManyDetails(2))),
            "{result:?}"
        );
        // A flipped byte in the data fails the CRC.
        let mut archive = stored_zip(&[(&detail, b"0123456789")]);
        let at = 30 + detail.len() + 3;
        archive[at] ^= 1;
        let (result, _) = unpack(&archive, 100);
        assert!(matches!(result, Err(UnpackError::Io(_))), "{result:?}");
    }
}
