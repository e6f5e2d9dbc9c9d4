//! CRC-32 (IEEE 802.3, as in zlib, gzip and PNG): reflected polynomial
//! `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`. Table-driven, one
//! byte at a time; the 1 KiB table is built at compile time. Fast enough for
//! journal lines (tens of bytes) and a whole-journal replay at start.

const POLY: u32 = 0xEDB8_8320;

static TABLE: [u32; 256] = make_table();

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn any_single_byte_change_is_detected() {
        let line = b"L 1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop *";
        let good = crc32(line);
        let mut buf = line.to_vec();
        for i in 0..buf.len() {
            for delta in 1..=255u8 {
                buf[i] = line[i].wrapping_add(delta);
                assert_ne!(crc32(&buf), good, "byte {i} +{delta}");
            }
            buf[i] = line[i];
        }
    }
}
