//! The durable lease store (design §5): a snapshot in dnsmasq's format plus
//! an append-only journal, with group commit and crash-safe compaction.
//!
//! # Files (all in `state-dir`, mode 0640)
//!
//! * `dhcp.leases`, the **snapshot**: one lease per line in dnsmasq's exact
//!   5-field format, so dnsmasq_exporter's 5-field parser and operators'
//!   habits keep working:
//!
//!   ```text
//!   <expiry> <mac> <ip> <hostname|*> <client-id|*>
//!   1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop 01:00:20:e0:3b:13:af
//!   0 06-01:02:03:04:05:06 192.168.0.24 * *
//!   ```
//!
//!   `expiry` is absolute Unix seconds, `0` = infinite; `mac` is
//!   [`HwAddr::to_lease_string`] (colon hex, prefixed `HTYPE-` unless
//!   Ethernet); `client-id` is colon hex. The snapshot is only ever replaced
//!   whole, by [`LeaseStore::compact`]. Lines that do not parse are skipped
//!   and counted; `duid`, DHCPv6, `agent-info` / `vendorclass` and blank lines
//!   (a dnsmasq file copied in place) are skipped as ignored.
//!
//! * `dhcp.leases.journal`, the **journal**: what changed since the
//!   snapshot, one record per line, appended by [`LeaseStore::commit`]:
//!
//!   ```text
//!   L <expiry> <mac> <ip> <hostname|*> <client-id|*> <crc>   lease upserted
//!   D <ip> <crc>                                              lease removed
//!   ```
//!
//!   Fields are separated by exactly one space; `<crc>` is 8 hex digits,
//!   the CRC-32 (IEEE, as zlib) of every byte of the line before the space
//!   that precedes it; each record ends with `\n`. The last record for an IP
//!   wins. A record with a good checksum but an unknown tag is skipped (room
//!   for future record types).
//!
//! * `dhcp.leases.tmp`: compaction's scratch file; a leftover one is deleted
//!   at open.
//!
//! # Who may touch the files
//!
//! The store is opened while the daemon is still root, in a directory that
//! belongs to the unprivileged `user` (who also runs `dhcp-script`). So it
//! trusts nothing it finds there: every file is opened with `O_NOFOLLOW`
//! and must be a regular file with one link, owned by us or by the owner of
//! the directory; anything else (a symbolic link to `/etc/shadow`, a hard
//! link, a FIFO) stops the open with [`io::ErrorKind::PermissionDenied`]
//! and is never truncated or written. A directory that every user may write
//! to is refused too. Compaction's scratch file is created with `O_EXCL`.
//!
//! # Field rules
//!
//! The store never writes a line it cannot read back: in a hostname, every
//! whitespace (Unicode, as Go's `strings.Fields` sees it) or control
//! character is written as `-`, and an empty hostname or one spelled `*` is
//! written as `*` (absent). An empty client identifier is written as `*`
//! (absent; the same [`crate::dhcp::ClientKey`]). [`storable`] gives the
//! lease exactly as it will read back.
//!
//! # Loading
//!
//! [`LeaseStore::open`] loads the snapshot, then replays the journal. A bad
//! record in the middle is skipped and counted. The tail (a last line
//! without `\n`, or last lines that fail their checksum) can only be a batch
//! whose commit never returned, so never an acknowledged lease: it is dropped
//! with one warning and the journal is cut back to the end of the last good
//! record, so later appends do not glue onto garbage. Open fails only on I/O
//! errors, never on content; the caller applies its own limit (checklist
//! §28 `max-record-errors`) to [`LoadReport::bad_records`].
//!
//! A line longer than [`MAX_LINE`] cannot be a record we wrote: it is
//! skipped and counted as bad without being buffered (issue 17 item 10: a
//! 100 MB line cost 106 MB of RAM). A file with bad records (in the
//! snapshot, in the middle of the journal, or complete lines in its torn
//! tail) is damaged rather than merely torn: before anything cuts or
//! replaces it, open copies it aside as `<name>.damaged-<unix seconds>`
//! (created with `O_EXCL | O_NOFOLLOW`), so the records that could not be
//! read stay there for the operator; compaction and the tail cut then go
//! on as usual. A plain torn tail (a last line without `\n`, the normal
//! result of a crash) is not copied.
//!
//! # Durability
//!
//! [`LeaseStore::stage`] serialises changes into one reusable buffer;
//! [`LeaseStore::commit`] writes the batch with one `write_all` and, when
//! durable, one `fdatasync`. Only then may the caller send that batch's
//! ACKs. With `durable = false` (RAM-backed `/tmp` on OpenWrt) nothing is
//! ever synced. Only one process may use a state directory at a time; the
//! store takes no lock of its own (the daemon's locked pid file does).

mod crc32;
mod format;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[cfg(doc)]
use crate::dhcp::binding::HwAddr;
use crate::dhcp::binding::Lease;
use crate::dhcp::bindings::Mix;

use format::{DnsmasqLine, Record};
pub use format::{storable, storable_hostname};

/// File name of the snapshot.
pub const SNAPSHOT: &str = "dhcp.leases";
/// File name of the journal.
pub const JOURNAL: &str = "dhcp.leases.journal";
/// File name of compaction's scratch file.
pub const SNAPSHOT_TMP: &str = "dhcp.leases.tmp";

/// Mode of every file the store creates.
const FILE_MODE: u32 = 0o640;

/// Journal size past which compaction pays regardless of record count.
const COMPACT_BYTES: u64 = 1 << 20;
/// Journal records below which compaction is never worth it.
const COMPACT_MIN_RECORDS: u64 = 1000;
/// Bytes the staged-batch buffer keeps between commits.
const BATCH_KEEP: usize = 64 * 1024;
/// Compaction writes the new snapshot in pieces of about this size.
const COMPACT_CHUNK: usize = 64 * 1024;

/// One change to the set of leases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Upsert(Lease),
    Remove(Ipv4Addr),
}

/// What [`LeaseStore::open`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The restored leases, sorted by IP, one per IP.
    pub leases: Vec<Lease>,
    /// Snapshot lines that did not parse plus journal records in the middle
    /// that failed their checksum or did not parse (skipped).
    pub bad_records: u64,
    /// A partial or corrupt last journal record was dropped (and cut off).
    pub torn_tail: bool,
    /// Good journal records replayed.
    pub journal_records: u64,
    /// Lines skipped on purpose: blank, `duid`, DHCPv6 and `agent-info` /
    /// `vendorclass` lines of the snapshot; journal records of unknown tag.
    pub ignored_lines: u64,
    /// Neither the snapshot nor the journal existed: a new store (first
    /// start, or the state directory was lost). The pair link then draws
    /// a new epoch, so the peer sends everything it has.
    pub created: bool,
}

/// Counters for the stats summary and the flash-write budget (§30).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Successful non-empty commits.
    pub commits: u64,
    /// Changes made durable by those commits.
    pub records: u64,
    /// fsync/fdatasync calls of any kind (commit, compaction, repair).
    pub fsyncs: u64,
    /// Bytes written to journal and snapshot files.
    pub bytes_written: u64,
    /// Completed compactions.
    pub compactions: u64,
    /// Commits that failed (their batch was discarded).
    pub commit_errors: u64,
}

/// The open lease store of one state directory.
#[derive(Debug)]
pub struct LeaseStore {
    dir: PathBuf,
    durable: bool,
    /// Opened with `O_APPEND`.
    journal: File,
    /// Length of the journal up to the end of its last good record.
    journal_len: u64,
    /// Good records in the journal.
    journal_records: u64,
    /// The staged batch, serialised; reused across commits.
    batch: Vec<u8>,
    batch_records: usize,
    /// A failed commit could not cut the journal back to `journal_len`;
    /// retried before the next append.
    needs_repair: bool,
    stats: StoreStats,
}

fn open_mode(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.mode(FILE_MODE)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
}

/// The error for a state file or directory we must not use.
fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: {why}; refusing to use it", path.display()),
    )
}

/// Checks the state directory: a directory that no other user may write.
/// Returns its owner, the only uid besides ours a state file may have.
pub(crate) fn check_dir(dir: &Path) -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(dir)?;
    if !m.is_dir() {
        return Err(refused(dir, "not a directory"));
    }
    if m.mode() & 0o002 != 0 {
        return Err(refused(
            dir,
            "the state directory is writable by every user (mode o+w), so anyone could plant files in it",
        ));
    }
    Ok(m.uid())
}

/// Opens the state file `path` with `opts` (through [`open_mode`], so
/// never through a symbolic link) and checks what was opened: a regular
/// file with one link, owned by us or by `dir_owner`. Nothing is read,
/// cut or written before that check.
pub(crate) fn open_state_file(
    path: &Path,
    opts: &mut OpenOptions,
    dir_owner: u32,
) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let f = match open_mode(opts).open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a symbolic link: ELOOP.
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(refused(
                path,
                "a symbolic link where a state file belongs (someone who can write the state directory may be trying to make hamasq overwrite another file); remove it",
            ));
        }
        Err(e) => return Err(e),
    };
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(refused(path, "not a regular file; remove it"));
    }
    if m.nlink() != 1 {
        return Err(refused(
            path,
            "a file with more than one hard link (it may be another file's); remove it",
        ));
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if m.uid() != me && m.uid() != dir_owner {
        return Err(refused(
            path,
            &format!(
                "owned by uid {}, neither hamasq (uid {me}) nor the state directory's owner (uid {dir_owner}); remove it",
                m.uid()
            ),
        ));
    }
    // Blocking I/O from here on: O_NONBLOCK was only there so that opening
    // a planted FIFO cannot hang the start.
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(&f, FcntlArg::F_GETFL)?);
    fcntl(&f, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(f)
}

/// Copies the damaged state file `f` (at `path`) to a new file
/// `<path>.damaged-<unix seconds>[-N]` beside it, created with `O_EXCL` and
/// `O_NOFOLLOW` (never through anything planted), streamed (never held in
/// memory), and synced when `durable`. Logs the outcome; a failure is
/// logged and loading goes on (every readable record is restored anyway).
/// Returns whether a directory entry was made.
fn keep_aside(f: &File, path: &Path, durable: bool) -> bool {
    use std::io::{Seek, SeekFrom};
    let now = crate::clock::UnixTime::now().0;
    let name = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".damaged-{now}"));
        if n > 0 {
            p.push(format!("-{n}"));
        }
        PathBuf::from(p)
    };
    let result = (|| -> io::Result<(PathBuf, u64)> {
        let (aside, mut out) = (0..100)
            .find_map(|n| {
                let p = name(n);
                match open_mode(OpenOptions::new().write(true).create_new(true)).open(&p) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                    r => Some(r.map(|f| (p, f))),
                }
            })
            .unwrap_or_else(|| Err(io::Error::other("100 copies exist already")))?;
        let mut rd = f.try_clone()?;
        rd.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut rd, &mut out);
        let copied = copied.and_then(|n| {
            if durable {
                out.sync_all()?;
            }
            Ok(n)
        });
        match copied {
            Ok(n) => Ok((aside, n)),
            Err(e) => {
                let _ = fs::remove_file(&aside);
                Err(e)
            }
        }
    })();
    match result {
        Ok((aside, bytes)) => {
            crate::event!(
                Warn,
                "dhcp.leases_kept_aside",
                "file={} copy={} bytes={bytes} note=\"damaged records are kept there; the file itself is rewritten\"",
                path.display(),
                aside.display()
            );
            true
        }
        Err(e) => {
            crate::event!(
                Error,
                "dhcp.leases_keep_aside_failed",
                "file={} error=\"{e}\" note=\"the damaged file will be rewritten without a copy\"",
                path.display()
            );
            false
        }
    }
}

/// Makes the directory entries of `dir` durable (a rename, a new file).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Leases by IP while loading (last record per IP wins): a vector and an
/// address → position index, ~20 bytes a lease besides the leases
/// themselves, against ~90 for a map of leases; sorted in place at the
/// end, without a second copy.
#[derive(Default)]
struct ByIp {
    leases: Vec<Lease>,
    at: HashMap<u32, u32, Mix>,
}

impl ByIp {
    fn upsert(&mut self, l: Lease) {
        match self.at.entry(u32::from(l.ip)) {
            Entry::Occupied(e) => self.leases[*e.get() as usize] = l,
            Entry::Vacant(e) => {
                e.insert(self.leases.len() as u32);
                self.leases.push(l);
            }
        }
    }

    fn remove(&mut self, ip: Ipv4Addr) {
        if let Some(i) = self.at.remove(&u32::from(ip)) {
            self.leases.swap_remove(i as usize);
            if let Some(moved) = self.leases.get(i as usize) {
                self.at.insert(u32::from(moved.ip), i);
            }
        }
    }

    /// The leases, sorted by IP.
    fn into_sorted(self) -> Vec<Lease> {
        drop(self.at);
        let mut v = self.leases;
        v.sort_unstable_by_key(|l| l.ip);
        v
    }
}

/// Reads a file in dnsmasq's format into `map` (last line per IP wins),
/// a line at a time: the file is never held whole in memory.
fn read_dnsmasq_lines(mut r: impl BufRead, map: &mut ByIp) -> io::Result<DnsmasqCounts> {
    let mut c = DnsmasqCounts::default();
    let mut line = Vec::with_capacity(256);
    loop {
        let got = read_line(&mut r, &mut line)?;
        if got.consumed == 0 {
            break;
        }
        if got.too_long {
            c.bad_lines += 1;
            c.long_lines += 1;
            continue;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match format::classify_dnsmasq_line(text) {
            DnsmasqLine::Lease(l) => {
                c.leases += 1;
                map.upsert(l);
            }
            DnsmasqLine::Blank => c.blank_lines += 1,
            DnsmasqLine::Duid => c.duid_lines += 1,
            DnsmasqLine::V6 => c.v6_lines += 1,
            DnsmasqLine::Extra => c.extra_lines += 1,
            DnsmasqLine::Bad => c.bad_lines += 1,
        }
    }
    Ok(c)
}

/// Buffer of the line readers.
const READ_BUF: usize = 64 * 1024;

/// Longest line the loader keeps. Our longest record (255-byte host name,
/// 255-byte client id as colon hex, 20-byte hardware address) is under
/// 1,200 bytes; dnsmasq's lines are shorter.
pub const MAX_LINE: usize = 4096;

/// One line read by [`read_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LineRead {
    /// Bytes consumed from the reader (0 = end of file).
    consumed: u64,
    /// Longer than [`MAX_LINE`]: the buffer was left empty.
    too_long: bool,
    /// Ended with `\n` (else the file ended first).
    complete: bool,
}

/// Reads one line into `line` (cleared first; with its `\n`), but never
/// more than [`MAX_LINE`] bytes: the rest of a longer line is consumed and
/// dropped straight from the reader's buffer.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<LineRead> {
    line.clear();
    let mut out = LineRead {
        consumed: 0,
        too_long: false,
        complete: false,
    };
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(out);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !out.too_long {
            if line.len() + take <= MAX_LINE {
                line.extend_from_slice(&buf[..take]);
            } else {
                out.too_long = true;
                line.clear();
            }
        }
        r.consume(take);
        out.consumed += take as u64;
        if done {
            out.complete = true;
            return Ok(out);
        }
    }
}

/// Counts of [`import_dnsmasq`] (and of reading our snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsmasqCounts {
    /// DHCPv4 lease lines read (before de-duplication by IP).
    pub leases: u64,
    /// Lines that are not a valid lease nor a known kind of line.
    pub bad_lines: u64,
    /// Of those, lines longer than [`MAX_LINE`] (skipped unread).
    pub long_lines: u64,
    pub blank_lines: u64,
    /// `duid <server-duid>` lines (start of the DHCPv6 section).
    pub duid_lines: u64,
    /// DHCPv6 lease lines (not imported).
    pub v6_lines: u64,
    /// `agent-info` / `vendorclass` lines (not imported).
    pub extra_lines: u64,
}

impl DnsmasqCounts {
    /// Lines skipped on purpose (everything but leases and bad lines).
    pub fn ignored(&self) -> u64 {
        self.blank_lines + self.duid_lines + self.v6_lines + self.extra_lines
    }
}

/// Reads a dnsmasq lease file (`dhcp-leasefile`) to import an existing
/// install: DHCPv4 lines become leases (sorted by IP, last line per IP
/// wins); the `duid` line, DHCPv6 lines and `agent-info` / `vendorclass`
/// lines are skipped and counted; lines that do not parse are counted as
/// bad. Fails only on I/O errors. Assumes a dnsmasq built without
/// `HAVE_BROKEN_RTC` (expiry is absolute).
pub fn import_dnsmasq(path: &Path) -> io::Result<(Vec<Lease>, DnsmasqCounts)> {
    let f = File::open(path)?;
    let mut map = ByIp::default();
    let counts = read_dnsmasq_lines(BufReader::with_capacity(READ_BUF, f), &mut map)?;
    Ok((map.into_sorted(), counts))
}

/// The leases in `dir` as the daemon would load them (the snapshot, then
/// the journal), for `hamasq leases` while no daemon runs. Strictly
/// read-only: files are opened for reading only, with `O_NOFOLLOW` and the
/// same ownership checks as [`LeaseStore::open`]; nothing is created, cut,
/// repaired or compacted. A missing file reads as empty.
pub fn read_only(dir: &Path) -> io::Result<Vec<Lease>> {
    let dir_owner = check_dir(dir)?;
    let mut map = ByIp::default();
    let open = |name: &str| match open_state_file(
        &dir.join(name),
        OpenOptions::new().read(true),
        dir_owner,
    ) {
        Ok(f) => Ok(Some(BufReader::with_capacity(READ_BUF, f))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    if let Some(r) = open(SNAPSHOT)? {
        read_dnsmasq_lines(r, &mut map)?;
    }
    if let Some(r) = open(JOURNAL)? {
        replay(r, &mut map)?;
    }
    Ok(map.into_sorted())
}

/// What replaying a journal found.
struct Replay {
    /// Bytes read.
    len: u64,
    /// End of the last good record.
    good_len: u64,
    records: u64,
    bad: u64,
    /// Lines longer than [`MAX_LINE`] (counted in `bad` or in the tail).
    long: u64,
    ignored: u64,
    torn: bool,
    /// Complete lines that failed in the torn tail: damage, not a crash.
    tail_bad: u64,
}

/// Replays the journal read from `rd` over `map`, a line at a time.
fn replay(mut rd: impl BufRead, map: &mut ByIp) -> io::Result<Replay> {
    let mut r = Replay {
        len: 0,
        good_len: 0,
        records: 0,
        bad: 0,
        long: 0,
        ignored: 0,
        torn: false,
        tail_bad: 0,
    };
    // Bad complete lines since the last good record: bad in the middle
    // if a good record follows, part of the torn tail if none does.
    let mut bad_run = 0u64;
    let mut long_partial = false;
    let mut line = Vec::with_capacity(256);
    loop {
        let got = read_line(&mut rd, &mut line)?;
        if got.consumed == 0 {
            break;
        }
        r.len += got.consumed;
        r.long += u64::from(got.too_long);
        if !got.complete {
            // A last line without '\n': the write of its batch never ended
            // (torn), unless it is longer than any batch write could leave.
            r.torn = true;
            long_partial = got.too_long;
            break;
        }
        let parsed = if got.too_long {
            None
        } else {
            format::parse_record(line.strip_suffix(b"\n").unwrap_or(&line))
        };
        match parsed {
            Some(rec) => {
                match rec {
                    Record::Upsert(l) => map.upsert(l),
                    Record::Remove(ip) => map.remove(ip),
                    Record::Unknown => r.ignored += 1,
                }
                r.records += 1;
                r.bad += bad_run;
                bad_run = 0;
                r.good_len = r.len;
            }
            None => bad_run += 1,
        }
    }
    if bad_run > 0 {
        // The last line failed its checksum: torn. Earlier bad lines of the
        // same run are cut with it but were complete, so they are counted.
        r.torn = true;
        r.bad += bad_run - 1;
    }
    r.tail_bad = bad_run + u64::from(long_partial);
    Ok(r)
}

impl LeaseStore {
    /// Loads the snapshot, then replays the journal (last record per IP
    /// wins); see the module doc. Creates missing files (not the directory)
    /// and deletes a leftover `dhcp.leases.tmp`. Fails only on I/O errors.
    pub fn open(dir: &Path, durable: bool) -> io::Result<(LeaseStore, LoadReport)> {
        // The leases are the daemon's one big heap user; loading them is
        // its first large allocation.
        crate::memory::tune();
        let dir_owner = check_dir(dir)?;
        // Whether a directory entry changed (to be synced when durable).
        let mut dir_changed = false;
        match fs::remove_file(dir.join(SNAPSHOT_TMP)) {
            Ok(()) => {
                // Compaction died before its rename: the snapshot and journal
                // still hold the whole state; the scratch file is worthless.
                crate::event!(
                    Info,
                    "dhcp.leases_stale_tmp",
                    "file={} action=deleted",
                    dir.join(SNAPSHOT_TMP).display()
                );
                dir_changed = true;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }

        let mut report = LoadReport::default();
        let mut map = ByIp::default();
        let snapshot = dir.join(SNAPSHOT);
        let existed = fs::symlink_metadata(&snapshot).is_ok();
        let snapshot_existed = existed;
        let f = open_state_file(
            &snapshot,
            OpenOptions::new().read(true).write(true).create(true),
            dir_owner,
        )?;
        dir_changed |= !existed;
        let counts = read_dnsmasq_lines(BufReader::with_capacity(READ_BUF, &f), &mut map)?;
        report.bad_records += counts.bad_lines;
        report.ignored_lines += counts.ignored();
        if counts.bad_lines > 0 {
            crate::event!(
                Warn,
                "dhcp.leases_bad_records",
                "file={} count={} too_long={} action=skipped",
                snapshot.display(),
                counts.bad_lines,
                counts.long_lines
            );
            // The next compaction replaces it: keep the damaged one.
            dir_changed |= keep_aside(&f, &snapshot, durable);
        }
        drop(f);

        let journal_path = dir.join(JOURNAL);
        let existed = fs::symlink_metadata(&journal_path).is_ok();
        report.created = !snapshot_existed && !existed;
        let journal = open_state_file(
            &journal_path,
            OpenOptions::new().read(true).append(true).create(true),
            dir_owner,
        )?;
        dir_changed |= !existed;
        let r = replay(BufReader::with_capacity(READ_BUF, &journal), &mut map)?;
        report.bad_records += r.bad;
        report.ignored_lines += r.ignored;
        report.journal_records = r.records;
        report.torn_tail = r.torn;
        if r.bad > 0 {
            crate::event!(
                Warn,
                "dhcp.leases_bad_records",
                "file={} count={} too_long={} action=skipped",
                journal_path.display(),
                r.bad,
                r.long
            );
        }
        if r.bad > 0 || r.tail_bad > 0 {
            // The tail cut below and the next compaction would destroy it.
            dir_changed |= keep_aside(&journal, &journal_path, durable);
        }

        let mut store = LeaseStore {
            dir: dir.to_path_buf(),
            durable,
            journal,
            journal_len: r.good_len,
            journal_records: r.records,
            batch: Vec::with_capacity(4096),
            batch_records: 0,
            needs_repair: false,
            stats: StoreStats::default(),
        };
        if r.torn {
            let dropped = r.len - r.good_len;
            crate::event!(
                Warn,
                "dhcp.leases_torn_tail",
                "file={} kept_bytes={} dropped_bytes={} action=truncated",
                journal_path.display(),
                r.good_len,
                dropped
            );
            store.journal.set_len(r.good_len)?;
            if durable {
                store.stats.fsyncs += 1;
                store.journal.sync_all()?;
            }
        }
        if dir_changed && durable {
            store.stats.fsyncs += 1;
            sync_dir(dir)?;
        }
        report.leases = map.into_sorted();
        Ok((store, report))
    }

    /// Serialises a change into the staged batch (no I/O).
    pub fn stage(&mut self, change: &Change) {
        match change {
            Change::Upsert(l) => self.stage_upsert(l),
            Change::Remove(ip) => self.stage_remove(*ip),
        }
    }

    /// [`Change::Upsert`] without building a `Change`.
    pub fn stage_upsert(&mut self, lease: &Lease) {
        format::put_upsert_record(&mut self.batch, lease);
        self.batch_records += 1;
    }

    /// [`Change::Remove`] without building a `Change`.
    pub fn stage_remove(&mut self, ip: Ipv4Addr) {
        format::put_remove_record(&mut self.batch, ip);
        self.batch_records += 1;
    }

    /// Changes staged and not yet committed.
    pub fn staged(&self) -> usize {
        self.batch_records
    }

    /// Group commit: one `write_all` of the staged batch and, if durable, one
    /// `fdatasync`. Only after `Ok` may the caller send that batch's ACKs. An
    /// empty batch is a no-op.
    ///
    /// On error the batch is **discarded** (`staged() == 0`) and the journal
    /// is cut back to its length before this commit, so no torn record stays
    /// in the middle of the file. The caller must not ACK those changes (NAK
    /// or stay silent) and may stage them again. Retrying the same bytes is
    /// deliberately not offered: after a failed `fsync` Linux may have
    /// dropped the dirty pages, and a second `fsync` can report success for
    /// data that never reached the disk. If the cut itself fails, it is
    /// retried before the next append (and that commit fails if it fails
    /// again). A crash between a partial write and the cut leaves a torn
    /// tail, which the next open drops.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let res = self.try_commit();
        let n = self.batch.len() as u64;
        let records = self.batch_records as u64;
        self.batch.clear();
        // A burst (commits held up by a slow disk) may have grown it far
        // beyond a usual batch: do not keep that for good.
        self.batch.shrink_to(BATCH_KEEP);
        self.batch_records = 0;
        match res {
            Ok(()) => {
                self.journal_len += n;
                self.journal_records += records;
                self.stats.commits += 1;
                self.stats.records += records;
                self.stats.bytes_written += n;
                Ok(())
            }
            Err(e) => {
                self.stats.commit_errors += 1;
                let cut = self.journal.set_len(self.journal_len);
                self.needs_repair = cut.is_err();
                // The caller logs it, once per run of failures (a full
                // disk fails every commit until space returns).
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{}: {} records not stored: {e} (journal cut back: {})",
                        self.dir.join(JOURNAL).display(),
                        records,
                        match &cut {
                            Ok(()) => "ok".to_string(),
                            Err(c) => c.to_string(),
                        }
                    ),
                ))
            }
        }
    }

    fn try_commit(&mut self) -> io::Result<()> {
        if self.needs_repair {
            self.journal.set_len(self.journal_len)?;
            self.needs_repair = false;
        }
        self.journal.write_all(&self.batch)?;
        if self.durable {
            self.stats.fsyncs += 1;
            self.journal.sync_data()?;
        }
        Ok(())
    }

    /// Whether folding the journal into the snapshot pays: more than
    /// max(1000, 2 × live leases) records, or more than 1 MiB.
    pub fn needs_compaction(&self, live_leases: usize) -> bool {
        // Both limits grow with the live leases, so a compaction (which
        // rewrites every lease) costs O(1) per change amortised, also with
        // 50,000 leases; ~128 bytes per live lease covers any record.
        let records_limit = COMPACT_MIN_RECORDS.max(2 * live_leases as u64);
        let bytes_limit = COMPACT_BYTES.max(2 * 128 * live_leases as u64);
        self.journal_records > records_limit || self.journal_len > bytes_limit
    }

    /// Good records in the journal and its length in bytes.
    pub fn journal_size(&self) -> (u64, u64) {
        (self.journal_records, self.journal_len)
    }

    /// Replaces the snapshot with `leases` (the full current state) and
    /// empties the journal. Staged changes stay staged (they are appended
    /// after the new snapshot by the next commit).
    ///
    /// Steps: (1) write `dhcp.leases.tmp`, fsync it; (2) rename it over
    /// `dhcp.leases`; (3) fsync the directory; (4) truncate the journal,
    /// fsync it. Why a crash at any point leaves a complete old-or-new state:
    ///
    /// * Before (2) the old snapshot and the whole journal are untouched;
    ///   the stale `.tmp` is deleted at open.
    /// * Rename is atomic, so `dhcp.leases` is the whole old file or the
    ///   whole new one, and the new one's data was durable before the
    ///   rename (1), so never an empty or half file.
    /// * The journal is only cut after (3) made the rename durable, so it is
    ///   never empty while the old snapshot is the one on disk.
    /// * New snapshot + untruncated journal is the same state: the snapshot
    ///   holds the result of replaying the old snapshot and the journal, and
    ///   replaying the journal again over it is idempotent, since the
    ///   journal is a suffix of the history that led to it: every IP it
    ///   touches ends at its last record, which the snapshot already holds.
    ///
    /// On error the state on disk is still consistent (at worst new
    /// snapshot + old journal, see above) and the scratch file is removed.
    pub fn compact<L: Borrow<Lease>>(
        &mut self,
        leases: impl IntoIterator<Item = L>,
    ) -> io::Result<()> {
        self.compact_write_tmp(leases)?;
        self.compact_install()?;
        self.compact_cut_journal()
    }

    /// Compaction step (1): the new snapshot in the scratch file, synced.
    fn compact_write_tmp<L: Borrow<Lease>>(
        &mut self,
        leases: impl IntoIterator<Item = L>,
    ) -> io::Result<()> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let written = self.write_tmp(&tmp, leases);
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Compaction steps (2) and (3): rename over the snapshot, sync the
    /// directory.
    fn compact_install(&mut self) -> io::Result<()> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        if let Err(e) = fs::rename(&tmp, self.dir.join(SNAPSHOT)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if self.durable {
            self.stats.fsyncs += 1;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Compaction step (4): empty the journal, sync it.
    fn compact_cut_journal(&mut self) -> io::Result<()> {
        self.journal.set_len(0)?;
        self.journal_len = 0;
        self.journal_records = 0;
        self.needs_repair = false;
        self.stats.compactions += 1;
        if self.durable {
            self.stats.fsyncs += 1;
            self.journal.sync_all()?;
        }
        Ok(())
    }

    fn write_tmp<L: Borrow<Lease>>(
        &mut self,
        tmp: &Path,
        leases: impl IntoIterator<Item = L>,
    ) -> io::Result<()> {
        // O_EXCL: a file someone planted there since open (as a link to
        // another file) is removed, never written through.
        let create = || open_mode(OpenOptions::new().write(true).create_new(true)).open(tmp);
        let mut f = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(tmp)?;
                create()?
            }
            r => r?,
        };
        // Written in pieces of COMPACT_CHUNK: a snapshot of 50,000 leases
        // (~4 MB) is never held whole in memory.
        let mut buf = Vec::with_capacity(COMPACT_CHUNK + 1024);
        let mut leases = leases.into_iter().peekable();
        while leases.peek().is_some() {
            for l in leases.by_ref() {
                format::put_snapshot_line(&mut buf, l.borrow());
                if buf.len() >= COMPACT_CHUNK {
                    break;
                }
            }
            f.write_all(&buf)?;
            self.stats.bytes_written += buf.len() as u64;
            buf.clear();
        }
        if self.durable {
            self.stats.fsyncs += 1;
            f.sync_all()?;
        }
        Ok(())
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Whether commits are made durable with fsync.
    pub fn durable(&self) -> bool {
        self.durable
    }
}
