//! The pair link's keys (design §9): the pre-shared key from `key-file`,
//! a session key per connection from both sides' fresh nonces, and a MAC
//! on every frame. HMAC-SHA-256 from RustCrypto does the cryptography;
//! nothing here is hand-written crypto, only which bytes go into the MAC.
//!
//! ```text
//! session  = HMAC(psk, "hamasq-ha-v1" | hello_of_connector | hello_of_acceptor)
//! proof_X  = HMAC(session, "proof " | X)          X = "connector" | "acceptor"
//! key_X    = HMAC(session, "frames " | X)         one key per direction
//! tag      = HMAC(key_X, counter_u64 | frame header | payload)[..16]
//! ```
//!
//! Both hellos carry a 32-byte nonce from the OS, so a session key is
//! never used twice and a frame recorded in one connection is worthless
//! in another. The counter is implicit (each side counts the frames it
//! has sent and received), so a replayed, dropped or reordered frame
//! fails its tag like a forged one.

use std::fmt;
use std::io;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a frame's tag (HMAC-SHA-256 truncated, as RFC 2104 §5 allows
/// down to half the output).
pub const TAG_LEN: usize = 16;
/// The shortest pre-shared key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Bytes of a handshake nonce.
pub const NONCE_LEN: usize = 32;

const LABEL: &[u8] = b"hamasq-ha-v1";

/// The pre-shared key, read from `key-file`. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Vec<u8>);

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psk({} bytes)", self.0.len())
    }
}

/// Why a key file was refused (the operator's to fix).
#[derive(Debug)]
pub enum KeyError {
    Io(io::Error),
    /// Readable or writable by group or others.
    Exposed(u32),
    NotHex,
    TooShort(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(e) => write!(f, "cannot read it: {e}"),
            KeyError::Exposed(m) => write!(
                f,
                "its mode is {m:04o}: a pre-shared key must be readable by its owner only (chmod 600)"
            ),
            KeyError::NotHex => f.write_str(
                "it must hold the key as hexadecimal digits (make one with `hamasq ha-keygen`)",
            ),
            KeyError::TooShort(n) => write!(
                f,
                "the key has {n} bytes; at least {MIN_KEY_LEN} are needed (make one with `hamasq ha-keygen`)"
            ),
        }
    }
}

impl Psk {
    /// Parses a key: hexadecimal digits, white space ignored.
    pub fn from_hex(text: &str) -> Result<Psk, KeyError> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if digits.len() & 1 == 1 {
            return Err(KeyError::NotHex);
        }
        let mut key = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks(2) {
            let hi = (pair[0] as char).to_digit(16).ok_or(KeyError::NotHex)?;
            let lo = (pair[1] as char).to_digit(16).ok_or(KeyError::NotHex)?;
            key.push((hi * 16 + lo) as u8);
        }
        if key.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(Psk(key))
    }

    /// Reads `key-file`, refusing one that others may read (as ssh does).
    pub fn load(path: &Path) -> Result<Psk, KeyError> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(KeyError::Io)?;
        if m.mode() & 0o077 != 0 {
            return Err(KeyError::Exposed(m.mode() & 0o7777));
        }
        let text = std::fs::read_to_string(path).map_err(KeyError::Io)?;
        Psk::from_hex(&text)
    }

    /// A new random key, as `hamasq ha-keygen` prints it.
    pub fn generate_hex() -> io::Result<String> {
        let mut k = [0u8; MIN_KEY_LEN];
        getrandom::fill(&mut k).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(k.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Which end of the TCP connection: the connector sends the first hello
/// of the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Connector,
    Acceptor,
}

impl End {
    fn label(self) -> &'static [u8] {
        match self {
            End::Connector => b"connector",
            End::Acceptor => b"acceptor",
        }
    }

    pub fn other(self) -> End {
        match self {
            End::Connector => End::Acceptor,
            End::Acceptor => End::Connector,
        }
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        m.update(p);
    }
    m
}

fn derive(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// One connection's keys, derived once both hellos are known.
pub struct Session {
    session: [u8; 32],
    send_key: [u8; 32],
    recv_key: [u8; 32],
    me: End,
    sent: u64,
    received: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Session({:?}, sent {}, received {})",
            self.me, self.sent, self.received
        )
    }
}

impl Session {
    /// The keys for `me`, from the two hellos exactly as they crossed the
    /// wire.
    pub fn new(psk: &Psk, me: End, connector_hello: &[u8], acceptor_hello: &[u8]) -> Session {
        let session = derive(&psk.0, &[LABEL, connector_hello, acceptor_hello]);
        Session {
            send_key: derive(&session, &[b"frames ", me.label()]),
            recv_key: derive(&session, &[b"frames ", me.other().label()]),
            session,
            me,
            sent: 0,
            received: 0,
        }
    }

    /// This end's proof that it knows the key.
    pub fn proof(&self) -> [u8; 32] {
        derive(&self.session, &[b"proof ", self.me.label()])
    }

    /// Checks the other end's proof, in constant time.
    pub fn verify_proof(&self, proof: &[u8]) -> bool {
        mac(&self.session, &[b"proof ", self.me.other().label()])
            .verify_slice(proof)
            .is_ok()
    }

    /// The tag of the next frame this end sends (`head` is the frame's
    /// header, `body` its payload).
    pub fn seal(&mut self, head: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
        let t = derive(&self.send_key, &[&self.sent.to_be_bytes(), head, body]);
        self.sent += 1;
        t[..TAG_LEN].try_into().unwrap()
    }

    /// Checks the tag of the next frame received; the counter only moves
    /// on success, but a failure ends the connection anyway.
    pub fn open(&mut self, head: &[u8], body: &[u8], tag: &[u8]) -> bool {
        let ok = mac(&self.recv_key, &[&self.received.to_be_bytes(), head, body])
            .verify_truncated_left(tag)
            .is_ok();
        if ok {
            self.received += 1;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psk(b: u8) -> Psk {
        Psk(vec![b; 32])
    }

    #[test]
    fn keys_parse_from_hex_and_short_or_bad_ones_are_refused() {
        let k = Psk::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(k.0, vec![0xab; 32]);
        assert!(matches!(
            Psk::from_hex(&"ab".repeat(16)),
            Err(KeyError::TooShort(16))
        ));
        assert!(matches!(Psk::from_hex("zz"), Err(KeyError::NotHex)));
        assert!(matches!(Psk::from_hex("abc"), Err(KeyError::NotHex)));
        let g = Psk::generate_hex().unwrap();
        assert_eq!(g.len(), 64);
        assert_ne!(g, Psk::generate_hex().unwrap());
        assert!(Psk::from_hex(&format!("{}\n{}\n", &g[..32], &g[32..])).is_ok());
        assert_eq!(format!("{:?}", Psk::from_hex(&g).unwrap()), "Psk(32 bytes)");
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let p = std::env::temp_dir().join(format!("hamasq-psk-{}", std::process::id()));
        std::fs::write(&p, "cd".repeat(32)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Psk::load(&p).unwrap_err();
        assert!(e.to_string().contains("0644"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Psk::load(&p).unwrap(), psk(0xcd));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn both_ends_agree_and_frames_open_in_order_only() {
        let (h1, h2) = (b"hello-c".as_slice(), b"hello-a".as_slice());
        let mut c = Session::new(&psk(1), End::Connector, h1, h2);
        let mut a = Session::new(&psk(1), End::Acceptor, h1, h2);
        assert!(a.verify_proof(&c.proof()));
        assert!(c.verify_proof(&a.proof()));
        // A proof is not valid for the other direction (reflection).
        assert!(!a.verify_proof(&a.proof()));

        let t0 = c.seal(b"h", b"one");
        let t1 = c.seal(b"h", b"two");
        // Out of order (the first frame dropped): refused.
        assert!(!a.open(b"h", b"two", &t1));
        assert!(a.open(b"h", b"one", &t0));
        // Replayed: refused (the counter moved on).
        assert!(!a.open(b"h", b"one", &t0));
        assert!(a.open(b"h", b"two", &t1));
        // Tampered.
        let t2 = c.seal(b"h", b"three");
        assert!(!a.open(b"h", b"thrEe", &t2));
    }

    #[test]
    fn another_key_or_another_connection_shares_nothing() {
        let (h1, h2) = (b"c".as_slice(), b"a".as_slice());
        let c = Session::new(&psk(1), End::Connector, h1, h2);
        let wrong = Session::new(&psk(2), End::Acceptor, h1, h2);
        assert!(!wrong.verify_proof(&c.proof()));
        // The same key with other nonces: other session keys.
        let mut c1 = Session::new(&psk(1), End::Connector, h1, h2);
        let mut a2 = Session::new(&psk(1), End::Acceptor, b"c'", h2);
        let t = c1.seal(b"h", b"x");
        assert!(!a2.open(b"h", b"x", &t));
    }
}
