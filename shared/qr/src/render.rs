//! QR images of a payment URL or EMV payload (SPEC §3): SVG and PNG.
//!
//! Error correction level M (15 % of the code can be damaged or covered),
//! a quiet zone of 4 modules as ISO/IEC 18004 requires, and pure black on
//! white: cheap printers and glossy stands still scan.

use qrcode::{Color, EcLevel, QrCode};
use thiserror::Error;

/// Longest input rendered: far below what a code can hold, and enough for
/// a payment URL or an EMV payload (at most 512 characters).
pub const MAX_DATA_BYTES: usize = 1024;
/// White border around the code, in modules, on every side.
pub const QUIET_ZONE_MODULES: usize = 4;
/// PNG module size bounds, in pixels: 16 px per module keeps the largest
/// image under 3000 x 3000 pixels.
pub const MIN_MODULE_PX: u32 = 1;
pub const MAX_MODULE_PX: u32 = 16;

const BLACK: u8 = 0x00;
const WHITE: u8 = 0xFF;

/// Why an image could not be made.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("nothing to encode: data is empty")]
    EmptyData,
    #[error("data is {len_bytes} bytes; at most 1024 are rendered")]
    DataTooLong { len_bytes: usize },
    #[error("data does not fit in a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// A standalone SVG: a white square and one `<path>` of dark module runs,
/// sized in modules through the `viewBox` (quiet zone included).
pub fn svg(data: &str) -> Result<String, RenderError> {
    let matrix = Matrix::encode(data)?;
    let size_modules = matrix.size_modules();
    let mut path = String::new();
    for (y, row) in matrix.rows().enumerate() {
        for (x, run_modules) in dark_runs(row) {
            // One rectangle per horizontal run: far fewer commands than per module.
            path += &format!("M{x} {y}h{run_modules}v1h-{run_modules}z");
        }
    }
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" "#,
            r#"shape-rendering="crispEdges">"#,
            r##"<rect width="{n}" height="{n}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{d}"/></svg>"##
        ),
        n = size_modules,
        d = path
    ))
}

/// An 8-bit grayscale PNG; `module_px` is clamped to 1..=16.
pub fn png(data: &str, module_px: u32) -> Result<Vec<u8>, RenderError> {
    let matrix = Matrix::encode(data)?;
    let module_px = module_px.clamp(MIN_MODULE_PX, MAX_MODULE_PX) as usize;
    let side_px = matrix.size_modules() * module_px;
    let mut pixels = Vec::with_capacity(side_px * side_px);
    for row in matrix.rows() {
        let line: Vec<u8> = row
            .iter()
            .flat_map(|&dark| std::iter::repeat_n(if dark { BLACK } else { WHITE }, module_px))
            .collect();
        for _ in 0..module_px {
            pixels.extend_from_slice(&line);
        }
    }
    // side_px <= (177 + 8) * 16, so the conversion cannot fail.
    let side = u32::try_from(side_px).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// The module grid with its quiet zone, row-major, `true` = dark.
struct Matrix {
    size_modules: usize,
    dark: Vec<bool>,
}

impl Matrix {
    fn encode(data: &str) -> Result<Self, RenderError> {
        if data.is_empty() {
            return Err(RenderError::EmptyData);
        }
        if data.len() > MAX_DATA_BYTES {
            return Err(RenderError::DataTooLong {
                len_bytes: data.len(),
            });
        }
        let code = QrCode::with_error_correction_level(data, EcLevel::M)?;
        Ok(Self::with_quiet_zone(code.width(), &code.to_colors()))
    }

    fn with_quiet_zone(width_modules: usize, colors: &[Color]) -> Self {
        let size_modules = width_modules + 2 * QUIET_ZONE_MODULES;
        let margin = vec![false; QUIET_ZONE_MODULES];
        let mut dark = vec![false; size_modules * QUIET_ZONE_MODULES];
        for row in colors.chunks(width_modules.max(1)) {
            dark.extend_from_slice(&margin);
            dark.extend(row.iter().map(|&c| c == Color::Dark));
            dark.extend_from_slice(&margin);
        }
        dark.extend(vec![false; size_modules * QUIET_ZONE_MODULES]);
        Self { size_modules, dark }
    }

    fn size_modules(&self) -> usize {
        self.size_modules
    }

    fn rows(&self) -> impl Iterator<Item = &[bool]> {
        self.dark.chunks(self.size_modules.max(1))
    }
}

/// `(start, length)` of each run of dark modules in a row.
fn dark_runs(row: &[bool]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (x, &dark) in row.iter().chain(std::iter::once(&false)).enumerate() {
        match (dark, start) {
            (true, None) => start = Some(x),
            (false, Some(s)) => {
                runs.push((s, x - s));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic payment URL: base + `/pay/` + a v1 token with a 43-char signature.
    const PAYMENT_URL: &str = "https://pay.qrpay.example/pay/v1.qr_01JD5Q7ZK3M9V2XW8R4T6Y1B0C.shop-1.eNrufWMlO5yyhivRCbW_K2O9jB5cCSi324L9RzhgtEw";

    fn modules_of(data: &str) -> usize {
        QrCode::with_error_correction_level(data, EcLevel::M)
            .unwrap()
            .width()
    }

    /// Decodes with rqrr, a decoder that shares no code with the encoder.
    fn scan(width_px: usize, height_px: usize, luma: impl Fn(usize, usize) -> u8) -> String {
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(width_px, height_px, luma);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "expected exactly one QR code");
        grids[0].decode().unwrap().1
    }

    fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn png_scans_back_to_the_payment_url() {
        let (info, pixels) = decode_png(&png(PAYMENT_URL, 4).unwrap());
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let side_px = (modules_of(PAYMENT_URL) + 8) * 4;
        assert_eq!(
            (info.width as usize, info.height as usize),
            (side_px, side_px)
        );
        assert!(pixels.iter().all(|&p| p == BLACK || p == WHITE));
        let text = scan(side_px, side_px, |x, y| pixels[y * side_px + x]);
        assert_eq!(text, PAYMENT_URL);
    }

    #[test]
    fn png_has_a_white_quiet_zone_of_four_modules() {
        let module_px = 3;
        let (info, pixels) = decode_png(&png(PAYMENT_URL, module_px).unwrap());
        let side_px = info.width as usize;
        let quiet_px = QUIET_ZONE_MODULES * module_px as usize;
        for y in 0..side_px {
            for x in 0..side_px {
                let in_quiet_zone = x < quiet_px
                    || y < quiet_px
                    || x >= side_px - quiet_px
                    || y >= side_px - quiet_px;
                if in_quiet_zone {
                    assert_eq!(pixels[y * side_px + x], WHITE, "({x}, {y})");
                }
            }
        }
        // The finder pattern's corner sits right inside the quiet zone.
        assert_eq!(pixels[quiet_px * side_px + quiet_px], BLACK);
    }

    #[test]
    fn png_module_size_is_clamped() {
        let side_modules = modules_of(PAYMENT_URL) + 8;
        let (tiny, _) = decode_png(&png(PAYMENT_URL, 0).unwrap());
        assert_eq!(tiny.width as usize, side_modules);
        let (huge, _) = decode_png(&png(PAYMENT_URL, 1000).unwrap());
        assert_eq!(huge.width as usize, side_modules * 16);
    }

    #[test]
    fn svg_is_one_path_with_a_viewbox_of_modules_plus_quiet_zone() {
        let svg = svg(PAYMENT_URL).unwrap();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<path").count(), 1);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("shape-rendering"), Some("crispEdges"));
        let n = modules_of(PAYMENT_URL) + 8;
        assert_eq!(
            root.attribute("viewBox"),
            Some(format!("0 0 {n} {n}").as_str())
        );
    }

    #[test]
    fn svg_scans_back_to_the_payment_url() {
        let svg = svg(PAYMENT_URL).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let path = doc
            .descendants()
            .find(|node| node.has_tag_name("path"))
            .unwrap();
        let n = modules_of(PAYMENT_URL) + 8;
        let dark = rasterize(path.attribute("d").unwrap(), n);
        let module_px = 4;
        let text = scan(n * module_px, n * module_px, |x, y| {
            if dark[(y / module_px) * n + x / module_px] {
                BLACK
            } else {
                WHITE
            }
        });
        assert_eq!(text, PAYMENT_URL);
    }

    /// Paints the `M{x} {y}h{w}v1h-{w}z` runs of our path onto a module grid.
    fn rasterize(d: &str, n: usize) -> Vec<bool> {
        let mut dark = vec![false; n * n];
        for run in d.split('z').filter(|r| !r.is_empty()) {
            let (origin, rest) = run.trim_start_matches('M').split_once('h').unwrap();
            let (x, y) = origin.split_once(' ').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let width: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            for cell in &mut dark[y * n + x..y * n + x + width] {
                *cell = true;
            }
        }
        dark
    }

    #[test]
    fn oversize_data_is_an_error_not_a_panic() {
        let oversize = "A".repeat(MAX_DATA_BYTES + 1);
        assert!(matches!(
            svg(&oversize),
            Err(RenderError::DataTooLong { len_bytes: 1025 })
        ));
        assert!(matches!(
            png(&oversize, 4),
            Err(RenderError::DataTooLong { len_bytes: 1025 })
        ));
        assert!(matches!(svg(""), Err(RenderError::EmptyData)));
    }

    #[test]
    fn largest_accepted_data_still_renders() {
        let largest = "9".repeat(MAX_DATA_BYTES);
        assert!(svg(&largest).is_ok());
        let binary_heavy = "支".repeat(MAX_DATA_BYTES / 3);
        assert!(png(&binary_heavy, 1).is_ok());
    }

    #[test]
    fn dark_runs_cover_row_ends() {
        assert_eq!(
            dark_runs(&[true, true, false, true, false, false, true]),
            [(0, 2), (3, 1), (6, 1)]
        );
        assert!(dark_runs(&[]).is_empty());
    }
}
