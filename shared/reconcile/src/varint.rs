//! LEB128 integers for the run's scratch records (spilled movements and
//! report rows): most of their numbers are small (lengths, amounts in fen,
//! line numbers) and take one to three bytes rather than eight. Fewer bytes
//! spilled is less for the page cache to take in, write back and give up.

/// Bytes [`put_u64`] writes for `value`.
pub fn len_u64(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `value`, seven bits a byte, low first.
pub fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A signed value, zig-zagged so that small negatives stay short.
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends a signed value.
pub fn put_i64(out: &mut Vec<u8>, value: i64) {
    put_u64(out, zigzag(value));
}

/// Reads a value from the front of `bytes`: it and the bytes after it, or
/// `None` if `bytes` ends inside it or it runs past ten bytes.
pub fn take_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The first length-prefixed piece of `bytes` (a record, or a text) and the
/// bytes after it; `None` if `bytes` ends inside either.
pub fn take_frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = take_u64(bytes)?;
    let len = usize::try_from(len).ok()?;
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// Reads a signed value written by [`put_i64`].
pub fn take_i64(bytes: &[u8]) -> Option<(i64, &[u8])> {
    take_u64(bytes).map(|(value, rest)| (unzigzag(value), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_as_few_bytes_as_they_need() {
        let cases: [(u64, usize); 7] = [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (1_796_387_728_342, 6),
            (u64::MAX, 10),
        ];
        for (value, len) in cases {
            let mut out = Vec::new();
            put_u64(&mut out, value);
            out.push(0xAA);
            assert_eq!((out.len() - 1, len_u64(value)), (len, len), "{value}");
            assert_eq!(take_u64(&out), Some((value, &[0xAA][..])));
        }
        for value in [0, 1, -1, 63, -64, 64, 12_345, -12_345, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_i64(&mut out, value);
            assert_eq!(out.len(), len_u64(zigzag(value)));
            assert_eq!(take_i64(&out), Some((value, &[][..])));
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn a_value_cut_short_or_too_long_is_refused() {
        assert_eq!(take_u64(&[]), None);
        assert_eq!(take_u64(&[0x80, 0x80]), None);
        assert_eq!(take_u64(&[0xFF; 11]), None);
    }

    #[test]
    fn a_frame_is_its_length_then_its_bytes() {
        let mut out = Vec::new();
        put_u64(&mut out, 3);
        out.extend_from_slice(b"abcde");
        assert_eq!(take_frame(&out), Some((&b"abc"[..], &b"de"[..])));
        assert_eq!(take_frame(&out[..3]), None);
        assert_eq!(take_frame(&[0]), Some((&[][..], &[][..])));
    }
}
