//! JSON text written by hand where rows are rendered straight into bytes.

/// A JSON string literal, escaped: runs of plain bytes are copied whole.
pub fn json_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.push(b'"');
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let control;
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                let (high, low) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]);
                control = [b'\\', b'u', b'0', b'0', high, low];
                &control
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(escape);
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn strings_are_escaped_as_json_reads_them_back() {
        for text in [
            "",
            "plain",
            "张* \"q\" \\ \n\r\t \u{1} end",
            "\u{1f}x\"",
            "尾\\",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, text);
            let back: String = serde_json::from_slice(&out).expect("valid JSON string");
            assert_eq!(back, text);
        }
        let mut out = Vec::new();
        json_str(&mut out, "a\u{1}\"b");
        assert_eq!(out, b"\"a\\u0001\\\"b\"");
    }
}
