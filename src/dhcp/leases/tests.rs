//! Tests of the lease store on real files, each in its own temporary
//! directory (removed on drop, also when the test fails).

use std::collections::HashMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::clock::UnixTime;
use crate::dhcp::binding::{HwAddr, parse_colon_hex};
use crate::testkit::Rng;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "hamasq-leases-{}-{}-{name}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A varied lease for IP 10.0.x.y = n: infinite, non-Ethernet, with and
/// without client id and hostname.
fn lease(n: u32) -> Lease {
    let b = n.to_be_bytes();
    Lease {
        ip: Ipv4Addr::from(0x0a00_0000 + n),
        hw: if n % 7 == 3 {
            HwAddr::new(0x20, &[b[0], b[1], b[2], b[3], 0xee, 0xff, 0x01, 0x02]).unwrap()
        } else {
            HwAddr::ether([2, 0, b[0], b[1], b[2], b[3]])
        },
        client_id: n
            .is_multiple_of(3)
            .then(|| vec![1, 2, 0, b[0], b[1], b[2], b[3]]),
        hostname: (!n.is_multiple_of(4)).then(|| format!("host-{n}")),
        expires: UnixTime(if n.is_multiple_of(5) {
            0
        } else {
            1_767_225_600 + n as u64
        }),
    }
}

fn sorted(map: &HashMap<Ipv4Addr, Lease>) -> Vec<Lease> {
    let mut v: Vec<Lease> = map.values().cloned().collect();
    v.sort_by_key(|l| l.ip);
    v
}

fn apply(map: &mut HashMap<Ipv4Addr, Lease>, change: &Change) {
    match change {
        Change::Upsert(l) => {
            map.insert(l.ip, storable(l));
        }
        Change::Remove(ip) => {
            map.remove(ip);
        }
    }
}

fn reopen(dir: &TempDir, durable: bool) -> (LeaseStore, LoadReport) {
    LeaseStore::open(dir.path(), durable).unwrap()
}

/// dnsmasq_exporter's reading of a lease line (`strings.Fields`, exactly 5
/// fields, expiry a u64), plus the field syntax dnsmasq itself expects.
fn strict_five_fields(line: &str) -> Result<(), String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 5 {
        return Err(format!("{} fields in {line:?}", f.len()));
    }
    f[0].parse::<u64>().map_err(|e| format!("expiry {e}"))?;
    let mac = f[1].split_once('-').map_or(f[1], |(t, m)| {
        assert!(t.len() == 2 && u8::from_str_radix(t, 16).is_ok(), "{line}");
        m
    });
    if !mac.is_empty()
        && mac
            .split(':')
            .any(|p| p.len() != 2 || u8::from_str_radix(p, 16).is_err())
    {
        return Err(format!("mac {mac:?}"));
    }
    f[2].parse::<Ipv4Addr>().map_err(|e| format!("ip {e}"))?;
    if f[4] != "*"
        && f[4]
            .split(':')
            .any(|p| p.len() != 2 || u8::from_str_radix(p, 16).is_err())
    {
        return Err(format!("client id {:?}", f[4]));
    }
    Ok(())
}

fn assert_snapshot_is_strict(dir: &TempDir, expect_lines: usize) {
    let text = fs::read_to_string(dir.file(SNAPSHOT)).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    let mut n = 0;
    for line in text.lines() {
        strict_five_fields(line).unwrap();
        n += 1;
    }
    assert_eq!(n, expect_lines);
}

#[test]
fn round_trip_across_reopen_and_compaction() {
    let dir = TempDir::new("roundtrip");
    let (mut s, r) = reopen(&dir, true);
    assert_eq!(
        r,
        LoadReport {
            created: true,
            ..LoadReport::default()
        }
    );
    let mut model = HashMap::new();
    let mut changes: Vec<Change> = (0..40).map(|n| Change::Upsert(lease(n))).collect();
    changes.push(Change::Remove(lease(5).ip));
    changes.push(Change::Remove(Ipv4Addr::new(192, 0, 2, 1))); // never leased
    changes.push(Change::Upsert(Lease {
        hostname: None,
        client_id: None,
        ..lease(6)
    }));
    changes.push(Change::Upsert(Lease {
        hostname: Some("bad name\twith\u{7f}ctl".into()),
        client_id: Some(vec![]),
        ..lease(7)
    }));
    for c in &changes {
        s.stage(c);
        apply(&mut model, c);
    }
    s.commit().unwrap();
    drop(s);

    let (mut s, r) = reopen(&dir, true);
    assert_eq!(r.leases, sorted(&model));
    assert_eq!(r.journal_records, changes.len() as u64);
    assert_eq!((r.bad_records, r.torn_tail, r.ignored_lines), (0, false, 0));
    let l7 = r.leases.iter().find(|l| l.ip == lease(7).ip).unwrap();
    assert_eq!(l7.hostname.as_deref(), Some("bad-name-with-ctl"));
    assert_eq!(l7.client_id, None);
    assert!(r.leases.iter().any(|l| l.expires == UnixTime(0)));
    assert!(r.leases.iter().any(|l| l.hw.htype == 0x20));

    s.compact(r.leases.iter()).unwrap();
    assert_eq!(s.journal_size(), (0, 0));
    assert_eq!(fs::metadata(dir.file(JOURNAL)).unwrap().len(), 0);
    assert_snapshot_is_strict(&dir, model.len());
    // Changes after compaction go to the journal again.
    let c = Change::Remove(lease(1).ip);
    s.stage(&c);
    apply(&mut model, &c);
    s.commit().unwrap();
    drop(s);
    let (_s, r) = reopen(&dir, false);
    assert_eq!(r.leases, sorted(&model));
    assert_eq!(r.journal_records, 1);
    assert_eq!(r.bad_records, 0);
    for name in [SNAPSHOT, JOURNAL] {
        let mode = fs::metadata(dir.file(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777 & !0o640, 0, "{name} mode {mode:o}");
    }
}

#[test]
fn group_commit_makes_one_fdatasync_per_batch() {
    for durable in [true, false] {
        let dir = TempDir::new("group");
        let (mut s, _) = reopen(&dir, durable);
        let before = s.stats();
        s.commit().unwrap(); // empty batch: no I/O
        assert_eq!(s.stats(), before);
        for n in 0..100 {
            s.stage(&Change::Upsert(lease(n)));
        }
        s.stage(&Change::Remove(lease(3).ip));
        assert_eq!(s.staged(), 101);
        s.commit().unwrap();
        assert_eq!(s.staged(), 0);
        let st = s.stats();
        assert_eq!(st.fsyncs - before.fsyncs, u64::from(durable));
        assert_eq!(st.commits, 1);
        assert_eq!(st.records, 101);
        let len = fs::metadata(dir.file(JOURNAL)).unwrap().len();
        assert_eq!(st.bytes_written, len);
        assert_eq!(s.journal_size(), (101, len));
        s.stage_upsert(&lease(200));
        s.stage_remove(lease(4).ip);
        s.commit().unwrap();
        assert_eq!(s.stats().fsyncs - before.fsyncs, 2 * u64::from(durable));
        assert_eq!(s.stats().commits, 2);
        s.compact([lease(1)].iter()).unwrap();
        if !durable {
            assert_eq!(s.stats().fsyncs, 0, "nothing is ever synced");
        } else {
            // tmp file, directory, journal
            assert_eq!(s.stats().fsyncs - before.fsyncs, 2 + 3);
        }
        assert_eq!(s.stats().compactions, 1);
        drop(s);
        let (_, r) = reopen(&dir, durable);
        assert_eq!(r.leases, vec![storable(&lease(1))]);
    }
}

/// Builds a journal through the store; returns the changes, the journal
/// bytes and the end offset of each record.
fn build_journal(dir: &TempDir, changes: &[Change]) -> (Vec<u8>, Vec<usize>) {
    let (mut s, _) = reopen(dir, false);
    for c in changes {
        s.stage(c);
        s.commit().unwrap();
    }
    drop(s);
    let bytes = fs::read(dir.file(JOURNAL)).unwrap();
    let ends: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(ends.len(), changes.len());
    (bytes, ends)
}

fn torn_tail_changes() -> Vec<Change> {
    vec![
        Change::Upsert(lease(1)),
        Change::Upsert(lease(2)),
        Change::Upsert(lease(3)),
        Change::Upsert(lease(4)),
        Change::Remove(lease(2).ip),
        Change::Upsert(Lease {
            hostname: Some("renamed".into()),
            ..lease(1)
        }),
        Change::Upsert(lease(6)),
    ]
}

#[test]
fn torn_tail_at_every_offset_of_the_last_three_records() {
    let changes = torn_tail_changes();
    let src = TempDir::new("torn-src");
    let (bytes, ends) = build_journal(&src, &changes);
    let first = ends[ends.len() - 4]; // start of the third-to-last record
    let dir = TempDir::new("torn");
    for cut in first..bytes.len() {
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let boundary = if complete == 0 { 0 } else { ends[complete - 1] };
        let mut model = HashMap::new();
        changes[..complete]
            .iter()
            .for_each(|c| apply(&mut model, c));

        let _ = fs::remove_file(dir.file(SNAPSHOT));
        fs::write(dir.file(JOURNAL), &bytes[..cut]).unwrap();
        let durable = cut % 2 == 0;
        let (mut s, r) = reopen(&dir, durable);
        assert_eq!(r.leases, sorted(&model), "cut at {cut}");
        assert_eq!(r.torn_tail, cut != boundary, "cut at {cut}");
        assert_eq!(r.bad_records, 0, "cut at {cut}");
        assert_eq!(r.journal_records, complete as u64);
        assert_eq!(
            fs::metadata(dir.file(JOURNAL)).unwrap().len(),
            boundary as u64,
            "journal cut back to the last good record"
        );
        // The next append does not glue onto the garbage.
        let c = Change::Upsert(lease(99));
        s.stage(&c);
        s.commit().unwrap();
        apply(&mut model, &c);
        drop(s);
        let (_, r) = reopen(&dir, durable);
        assert_eq!(r.leases, sorted(&model), "cut at {cut}, after append");
        assert!(!r.torn_tail);
        assert_eq!(r.bad_records, 0);
        assert_eq!(r.journal_records, complete as u64 + 1);
    }
}

#[test]
fn a_complete_last_record_with_a_bad_checksum_is_a_torn_tail() {
    let changes = torn_tail_changes();
    let dir = TempDir::new("torn-crc");
    let (mut bytes, ends) = build_journal(&dir, &changes);
    let n = bytes.len();
    bytes[n - 3] ^= 0x01; // inside the checksum of the last record
    // And a bad record just before it: both are cut, the earlier one counted.
    let mid = ends[ends.len() - 2] - 10;
    bytes[mid] ^= 0x01;
    fs::write(dir.file(JOURNAL), &bytes).unwrap();
    let (mut s, r) = reopen(&dir, true);
    let mut model = HashMap::new();
    changes[..changes.len() - 2]
        .iter()
        .for_each(|c| apply(&mut model, c));
    assert_eq!(r.leases, sorted(&model));
    assert!(r.torn_tail);
    assert_eq!(r.bad_records, 1);
    assert_eq!(
        fs::metadata(dir.file(JOURNAL)).unwrap().len(),
        ends[ends.len() - 3] as u64
    );
    s.stage(&Change::Upsert(lease(50)));
    s.commit().unwrap();
    drop(s);
    let (_, r) = reopen(&dir, true);
    assert!(!r.torn_tail);
    assert_eq!(r.bad_records, 0);
    assert_eq!(r.leases.len(), model.len() + 1);
}

#[test]
fn a_corrupt_middle_record_is_skipped_and_counted() {
    let changes = torn_tail_changes();
    let src = TempDir::new("mid-src");
    let (bytes, ends) = build_journal(&src, &changes);
    // Record 2 (lease 3) is in the middle; flip each of its bytes in turn.
    let (start, end) = (ends[1], ends[2] - 1);
    let dir = TempDir::new("mid");
    let mut model = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        if i != 2 {
            apply(&mut model, c);
        }
    }
    for pos in start..end {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        assert_ne!(b[pos], b'\n');
        let _ = fs::remove_file(dir.file(SNAPSHOT));
        fs::write(dir.file(JOURNAL), &b).unwrap();
        let (s, r) = reopen(&dir, false);
        assert_eq!(r.leases, sorted(&model), "byte {pos}");
        assert_eq!(r.bad_records, 1, "byte {pos}");
        assert!(!r.torn_tail);
        assert_eq!(r.journal_records, changes.len() as u64 - 1);
        // The journal is left as it is: the records after it are good.
        assert_eq!(
            fs::metadata(dir.file(JOURNAL)).unwrap().len(),
            bytes.len() as u64
        );
        drop(s);
    }
}

#[test]
fn garbage_files_never_fail_the_load() {
    let mut rng = Rng::new(0x5EED_0000_0001);
    let dir = TempDir::new("garbage");
    for round in 0..200 {
        let len = rng.below(600) as usize;
        let mut junk = rng.bytes(len);
        // Sprinkle newlines and real records so the parsers get deep.
        for _ in 0..rng.below(8) {
            if !junk.is_empty() {
                let at = rng.below(junk.len() as u64) as usize;
                junk[at] = b'\n';
            }
        }
        let mut rec = Vec::new();
        format::put_upsert_record(&mut rec, &lease(round));
        if round % 2 == 0 {
            rec.extend_from_slice(&junk);
            junk = rec;
        }
        fs::write(dir.file(JOURNAL), &junk).unwrap();
        fs::write(dir.file(SNAPSHOT), rng.bytes(len)).unwrap();
        let (mut s, r) = reopen(&dir, false);
        if round % 2 == 0 {
            assert!(r.leases.iter().any(|l| l == &storable(&lease(round))));
        }
        s.stage(&Change::Upsert(lease(1000 + round)));
        s.commit().unwrap();
        drop(s);
        let (_, r2) = reopen(&dir, false);
        assert!(!r2.torn_tail, "round {round}");
        assert!(r2.leases.contains(&storable(&lease(1000 + round))));
        assert!(r2.bad_records <= r.bad_records, "round {round}");
    }
}

#[test]
fn compaction_survives_a_crash_at_every_step() {
    let dir = TempDir::new("compact-crash");
    let mut model = HashMap::new();
    // An older snapshot, then a journal that overwrites and removes some
    // of its leases.
    let (mut s, _) = reopen(&dir, true);
    let first: Vec<Lease> = (0..20).map(lease).collect();
    for l in &first {
        apply(&mut model, &Change::Upsert(l.clone()));
    }
    s.compact(first.iter()).unwrap();
    let journal = [
        Change::Remove(lease(3).ip),
        Change::Upsert(Lease {
            expires: UnixTime(42),
            ..lease(4)
        }),
        Change::Upsert(lease(30)),
        Change::Remove(lease(30).ip),
        Change::Upsert(lease(31)),
    ];
    for c in &journal {
        s.stage(c);
        apply(&mut model, c);
    }
    s.commit().unwrap();
    drop(s);
    let old_snapshot = fs::read(dir.file(SNAPSHOT)).unwrap();
    let old_journal = fs::read(dir.file(JOURNAL)).unwrap();
    let state = sorted(&model);
    let restore = || {
        fs::write(dir.file(SNAPSHOT), &old_snapshot).unwrap();
        fs::write(dir.file(JOURNAL), &old_journal).unwrap();
    };
    let check = |what: &str| {
        let (s, r) = reopen(&dir, true);
        assert_eq!(r.leases, state, "{what}");
        assert_eq!((r.bad_records, r.torn_tail), (0, false), "{what}");
        assert!(!dir.file(SNAPSHOT_TMP).exists(), "{what}: stale tmp left");
        s
    };

    // Crash while writing the scratch file: half of it on disk.
    let mut half = Vec::new();
    state
        .iter()
        .for_each(|l| format::put_snapshot_line(&mut half, l));
    half.truncate(half.len() / 2);
    fs::write(dir.file(SNAPSHOT_TMP), &half).unwrap();
    check("partial tmp");

    // Crash after step 1: complete scratch file, not renamed.
    let (mut s, _) = reopen(&dir, true);
    s.compact_write_tmp(state.iter()).unwrap();
    drop(s);
    assert!(dir.file(SNAPSHOT_TMP).exists());
    assert_eq!(fs::read(dir.file(SNAPSHOT)).unwrap(), old_snapshot);
    check("tmp written, not renamed");

    // Crash after steps 2-3: new snapshot, journal not truncated.
    restore();
    let (mut s, _) = reopen(&dir, true);
    s.compact_write_tmp(state.iter()).unwrap();
    s.compact_install().unwrap();
    drop(s);
    assert_ne!(fs::read(dir.file(SNAPSHOT)).unwrap(), old_snapshot);
    assert_eq!(fs::read(dir.file(JOURNAL)).unwrap(), old_journal);
    let mut s = check("renamed, journal not truncated");
    // ...and a later full compaction from that state is still right.
    s.compact(state.iter()).unwrap();
    drop(s);
    check("compacted after the crash");
    assert_eq!(fs::metadata(dir.file(JOURNAL)).unwrap().len(), 0);
    assert_snapshot_is_strict(&dir, state.len());

    // Complete compaction with a staged batch: it stays staged.
    restore();
    let (mut s, _) = reopen(&dir, true);
    let extra = Change::Upsert(lease(77));
    s.stage(&extra);
    s.compact(state.iter()).unwrap();
    assert_eq!(s.staged(), 1);
    s.commit().unwrap();
    drop(s);
    let (_, r) = reopen(&dir, true);
    let mut m2 = model.clone();
    apply(&mut m2, &extra);
    assert_eq!(r.leases, sorted(&m2));
    assert_eq!(r.journal_records, 1);
}

#[test]
fn a_failed_commit_discards_its_batch_and_leaves_no_garbage() {
    let dir = TempDir::new("commit-fail");
    let (mut s, _) = reopen(&dir, true);
    s.stage(&Change::Upsert(lease(1)));
    s.commit().unwrap();
    let good_len = fs::metadata(dir.file(JOURNAL)).unwrap().len();

    // A partial write reached the file, then the write failed and so did
    // the cut (a read-only handle can do neither).
    fs::OpenOptions::new()
        .append(true)
        .open(dir.file(JOURNAL))
        .unwrap()
        .write_all(b"L 1767225600 02:00:00:00")
        .unwrap();
    let ro = File::open(dir.file(JOURNAL)).unwrap();
    let real = std::mem::replace(&mut s.journal, ro);
    s.stage(&Change::Upsert(lease(2)));
    assert!(s.commit().is_err());
    assert_eq!(s.staged(), 0, "the batch is discarded");
    assert_eq!(s.stats().commit_errors, 1);
    assert!(s.needs_repair);

    // While the cut keeps failing, commits fail too.
    s.stage(&Change::Upsert(lease(3)));
    assert!(s.commit().is_err());
    assert_eq!(s.stats().commit_errors, 2);

    // Once the file is writable again, the next commit first cuts the
    // garbage, then appends.
    s.journal = real;
    s.stage(&Change::Upsert(lease(4)));
    s.commit().unwrap();
    assert!(!s.needs_repair);
    assert_eq!(s.journal_size().0, 2);
    drop(s);
    let (_, r) = reopen(&dir, true);
    assert_eq!(r.leases, vec![storable(&lease(1)), storable(&lease(4))]);
    assert_eq!((r.bad_records, r.torn_tail), (0, false));
    assert!(fs::metadata(dir.file(JOURNAL)).unwrap().len() > good_len);
}

#[test]
fn open_fails_only_on_io_errors() {
    let dir = TempDir::new("io");
    assert!(LeaseStore::open(&dir.file("missing"), false).is_err());
    fs::create_dir(dir.file(SNAPSHOT)).unwrap();
    assert!(LeaseStore::open(dir.path(), false).is_err());
}

/// A file outside the state directory that a planted link points at: it
/// must come out of every open byte for byte as it went in.
fn victim(dir: &TempDir) -> (PathBuf, Vec<u8>) {
    let outside = dir.file("outside");
    fs::create_dir(&outside).unwrap();
    let v = outside.join("victim");
    // Ends without '\n' and is not a lease file: the torn-tail repair
    // would cut it, and a commit would append to it.
    let content = b"root:secret:19000:0:99999:7:::\nno newline at the end".to_vec();
    fs::write(&v, &content).unwrap();
    (v, content)
}

fn state_dir(dir: &TempDir) -> PathBuf {
    let s = dir.file("state");
    fs::create_dir(&s).unwrap();
    s
}

fn refused(r: io::Result<(LeaseStore, LoadReport)>) -> String {
    let e = r.expect_err("the open must fail");
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    e.to_string()
}

#[test]
fn a_symlinked_journal_is_refused_and_its_target_untouched() {
    let dir = TempDir::new("symlink-journal");
    let (v, content) = victim(&dir);
    let state = state_dir(&dir);
    std::os::unix::fs::symlink(&v, state.join(JOURNAL)).unwrap();
    let msg = refused(LeaseStore::open(&state, true));
    assert!(
        msg.contains("symbolic link") && msg.contains(JOURNAL),
        "{msg}"
    );
    assert_eq!(fs::read(&v).unwrap(), content);
    // The link itself is left for the operator to see.
    assert!(
        fs::symlink_metadata(state.join(JOURNAL))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_symlinked_snapshot_is_refused_also_when_dangling() {
    let dir = TempDir::new("symlink-snapshot");
    let (v, content) = victim(&dir);
    let state = state_dir(&dir);
    std::os::unix::fs::symlink(&v, state.join(SNAPSHOT)).unwrap();
    assert!(refused(LeaseStore::open(&state, false)).contains("symbolic link"));
    assert_eq!(fs::read(&v).unwrap(), content);
    // A dangling link must not make the open create its target.
    let gone = dir.file("outside").join("created-through-link");
    fs::remove_file(state.join(SNAPSHOT)).unwrap();
    std::os::unix::fs::symlink(&gone, state.join(SNAPSHOT)).unwrap();
    refused(LeaseStore::open(&state, false));
    assert!(!gone.exists());
}

#[test]
fn a_hard_link_or_a_fifo_is_refused() {
    let dir = TempDir::new("hardlink");
    let (v, content) = victim(&dir);
    let state = state_dir(&dir);
    fs::hard_link(&v, state.join(JOURNAL)).unwrap();
    assert!(refused(LeaseStore::open(&state, true)).contains("hard link"));
    assert_eq!(fs::read(&v).unwrap(), content);
    fs::remove_file(state.join(JOURNAL)).unwrap();
    // A FIFO would hang a blocking open or read forever.
    nix::unistd::mkfifo(&state.join(JOURNAL), nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert!(refused(LeaseStore::open(&state, true)).contains("not a regular file"));
}

#[test]
fn a_state_dir_every_user_can_write_is_refused() {
    let dir = TempDir::new("world-writable");
    let state = state_dir(&dir);
    fs::set_permissions(&state, fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(refused(LeaseStore::open(&state, true)).contains("writable by every user"));
    assert!(
        fs::read_dir(&state).unwrap().next().is_none(),
        "nothing created"
    );
    fs::set_permissions(&state, fs::Permissions::from_mode(0o750)).unwrap();
    LeaseStore::open(&state, true).unwrap();
}

#[test]
fn compaction_never_writes_through_a_planted_scratch_file() {
    let dir = TempDir::new("planted-tmp");
    let (v, content) = victim(&dir);
    let state = state_dir(&dir);
    let (mut s, _) = LeaseStore::open(&state, true).unwrap();
    s.stage(&Change::Upsert(lease(1)));
    s.commit().unwrap();
    // Planted after open, while the daemon runs.
    std::os::unix::fs::symlink(&v, state.join(SNAPSHOT_TMP)).unwrap();
    s.compact([storable(&lease(1))]).unwrap();
    assert_eq!(fs::read(&v).unwrap(), content);
    let (_, r) = LeaseStore::open(&state, true).unwrap();
    assert_eq!(r.leases, vec![storable(&lease(1))]);
}

const DNSMASQ_FILE: &str = "\
1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop 01:00:20:e0:3b:13:af
1767229200 a4:5e:60:d1:22:01 192.168.0.42 * *
0 06-00:11:22:33:44:55 192.168.0.7 printer *
1767230000 b8:27:eb:00:00:01 192.168.0.50 raspberrypi ff:eb:00:00:01:00:01:00:01:2c:8e:4d:1a:b8:27:eb:00:00:01
1767231000 00:00:00:00:00:00 192.168.0.51 this line is broken
duid 00:01:00:01:2c:8e:4d:1a:00:20:e0:3b:13:af
1767225600 3967384 fd00::23 laptop 00:01:00:01:2c:8e:4d:1a:00:20:e0:3b:13:af
1767225600 T3967385 fd00::99 * 00:01:00:01:2c:8e:4d:1a:00:20:e0:3b:13:af
agent-info 192.168.0.23 01:04:00:00:00:01
";

fn dnsmasq_expected() -> Vec<Lease> {
    vec![
        Lease {
            ip: Ipv4Addr::new(192, 168, 0, 7),
            hw: HwAddr::new(6, &[0, 0x11, 0x22, 0x33, 0x44, 0x55]).unwrap(),
            client_id: None,
            hostname: Some("printer".into()),
            expires: UnixTime(0),
        },
        Lease {
            ip: Ipv4Addr::new(192, 168, 0, 23),
            hw: HwAddr::ether([0, 0x20, 0xe0, 0x3b, 0x13, 0xaf]),
            client_id: Some(vec![1, 0, 0x20, 0xe0, 0x3b, 0x13, 0xaf]),
            hostname: Some("laptop".into()),
            expires: UnixTime(1_767_225_600),
        },
        Lease {
            ip: Ipv4Addr::new(192, 168, 0, 42),
            hw: HwAddr::ether([0xa4, 0x5e, 0x60, 0xd1, 0x22, 0x01]),
            client_id: None,
            hostname: None,
            expires: UnixTime(1_767_229_200),
        },
        Lease {
            ip: Ipv4Addr::new(192, 168, 0, 50),
            hw: HwAddr::ether([0xb8, 0x27, 0xeb, 0, 0, 1]),
            client_id: parse_colon_hex("ff:eb:00:00:01:00:01:00:01:2c:8e:4d:1a:b8:27:eb:00:00:01"),
            hostname: Some("raspberrypi".into()),
            expires: UnixTime(1_767_230_000),
        },
    ]
}

#[test]
fn dnsmasq_lease_file_is_imported() {
    let dir = TempDir::new("import");
    let path = dir.file("dnsmasq.leases");
    fs::write(&path, DNSMASQ_FILE).unwrap();
    let (leases, counts) = import_dnsmasq(&path).unwrap();
    assert_eq!(leases, dnsmasq_expected());
    assert_eq!(
        counts,
        DnsmasqCounts {
            leases: 4,
            bad_lines: 1,
            long_lines: 0,
            blank_lines: 0,
            duid_lines: 1,
            v6_lines: 2,
            extra_lines: 1,
        }
    );
    assert_eq!(counts.ignored(), 4);
    assert!(import_dnsmasq(&dir.file("none")).is_err());

    // The same file dropped in as our snapshot loads the same way.
    let state = TempDir::new("import-state");
    fs::write(state.file(SNAPSHOT), DNSMASQ_FILE).unwrap();
    let (mut s, r) = reopen(&state, true);
    assert_eq!(r.leases, dnsmasq_expected());
    assert_eq!((r.bad_records, r.ignored_lines), (1, 4));

    // Our own snapshot is strict 5-field text and imports identically.
    s.compact(r.leases.iter()).unwrap();
    drop(s);
    assert_snapshot_is_strict(&state, 4);
    let (again, counts) = import_dnsmasq(&state.file(SNAPSHOT)).unwrap();
    assert_eq!(again, dnsmasq_expected());
    assert_eq!((counts.bad_lines, counts.ignored()), (0, 0));
    // A file without a final newline still yields its last line.
    fs::write(&path, "0 00:20:e0:3b:13:af 10.0.0.1 a *").unwrap();
    let (one, counts) = import_dnsmasq(&path).unwrap();
    assert_eq!((one.len(), counts.blank_lines), (1, 0));
}

#[test]
fn compaction_threshold() {
    let dir = TempDir::new("threshold");
    let (mut s, _) = reopen(&dir, false);
    for n in 0..1000 {
        s.stage_upsert(&lease(n % 10));
    }
    s.commit().unwrap();
    assert!(
        !s.needs_compaction(10),
        "1000 records is not more than 1000"
    );
    s.stage_remove(lease(0).ip);
    s.commit().unwrap();
    assert!(s.needs_compaction(10));
    assert!(!s.needs_compaction(501));
    assert!(s.needs_compaction(500));
    drop(s);
    let (s, r) = reopen(&dir, false);
    assert_eq!(r.journal_records, 1001);
    assert!(s.needs_compaction(10), "the count survives a reopen");
}

/// A random lease in a small address pool (so IPs get overwritten),
/// with every field kind, some needing normalisation.
fn random_lease(rng: &mut Rng) -> Lease {
    let ip = Ipv4Addr::new(10, 1, 0, rng.below(150) as u8);
    let hw = match rng.below(4) {
        0 => {
            let len = rng.below(17) as usize;
            HwAddr::new(rng.next_u64() as u8, &rng.bytes(len)).unwrap()
        }
        _ => {
            let b = rng.bytes(6);
            HwAddr::ether([b[0], b[1], b[2], b[3], b[4], b[5]])
        }
    };
    let client_id = match rng.below(3) {
        0 => None,
        _ => {
            let len = rng.below(20) as usize;
            Some(rng.bytes(len))
        }
    };
    const CHARS: &[char] = &[
        'a', 'z', '0', '-', '.', ' ', '\t', '*', 'é', '\u{a0}', '\u{1}',
    ];
    let hostname = match rng.below(4) {
        0 => None,
        _ => Some(
            (0..rng.below(12))
                .map(|_| CHARS[rng.below(CHARS.len() as u64) as usize])
                .collect(),
        ),
    };
    let expires = UnixTime(match rng.below(5) {
        0 => 0,
        _ => rng.below(1 << 40),
    });
    Lease {
        ip,
        hw,
        client_id,
        hostname,
        expires,
    }
}

#[test]
fn random_operations_match_a_model() {
    let mut rng = Rng::new(0x0123_4567_89AB_CDEF);
    let dir = TempDir::new("model");
    let mut durable = false;
    let (mut s, _) = reopen(&dir, durable);
    let mut committed: HashMap<Ipv4Addr, Lease> = HashMap::new();
    let mut pending: Vec<Change> = Vec::new();
    let (mut commits, mut compactions, mut reopens) = (0, 0, 0);
    for step in 0..2000 {
        match rng.below(100) {
            0..=49 => {
                let c = Change::Upsert(random_lease(&mut rng));
                s.stage(&c);
                pending.push(c);
            }
            50..=64 => {
                let c = Change::Remove(Ipv4Addr::new(10, 1, 0, rng.below(150) as u8));
                s.stage(&c);
                pending.push(c);
            }
            65..=84 => {
                s.commit().unwrap();
                pending.drain(..).for_each(|c| apply(&mut committed, &c));
                assert_eq!(s.staged(), 0);
                commits += 1;
            }
            85..=91 => {
                let staged = s.staged();
                s.compact(committed.values()).unwrap();
                assert_eq!(s.staged(), staged);
                compactions += 1;
            }
            _ => {
                drop(s);
                pending.clear(); // a crash loses what was never committed
                durable = rng.below(2) == 0;
                let (s2, r) = reopen(&dir, durable);
                s = s2;
                assert_eq!(r.leases, sorted(&committed), "step {step}");
                assert_eq!((r.bad_records, r.torn_tail, r.ignored_lines), (0, false, 0));
                reopens += 1;
            }
        }
    }
    s.commit().unwrap();
    pending.drain(..).for_each(|c| apply(&mut committed, &c));
    drop(s);
    let (_, r) = reopen(&dir, durable);
    assert_eq!(r.leases, sorted(&committed));
    assert!(commits > 100 && compactions > 50 && reopens > 50);
}

#[test]
fn fifty_thousand_leases() {
    let dir = TempDir::new("50k");
    let (mut s, _) = reopen(&dir, true);
    let all: Vec<Lease> = (0..50_000).map(lease).collect();
    for l in &all {
        s.stage_upsert(l);
    }
    s.commit().unwrap();
    assert_eq!(s.stats().fsyncs, 2, "directory (new files) + one commit");
    // The limits scale with the live leases (amortised O(1) compaction):
    // 50,000 records for 50,000 live leases is not yet worth a rewrite,
    // but the same journal for 1,000 live leases is (over 1 MiB).
    assert!(!s.needs_compaction(all.len()));
    assert!(
        s.needs_compaction(1_000),
        "over 1 MiB for 1,000 live leases"
    );
    drop(s);
    let want: Vec<Lease> = all.iter().map(storable).collect();
    let (mut s, r) = reopen(&dir, true);
    assert_eq!(r.leases, want);
    assert_eq!(r.journal_records, 50_000);
    s.compact(r.leases.iter()).unwrap();
    assert!(!s.needs_compaction(all.len()));
    drop(s);
    assert_snapshot_is_strict(&dir, 50_000);
    let (_, r) = reopen(&dir, true);
    assert_eq!(r.leases, want);
    assert_eq!(r.journal_records, 0);
}

/// Files far larger than the 64 KiB pieces the store reads and writes
/// them in (a snapshot of 5,000 leases, a journal of 6,000 records that
/// ends torn): every lease comes back, the journal's last record per IP
/// wins, the torn tail is cut at the right byte, and a compaction from an
/// iterator of owned leases writes the same file as one of borrowed ones.
#[test]
fn large_files_are_read_and_written_in_pieces() {
    let dir = TempDir::new("large");
    let mut model = HashMap::new();
    let (mut s, _) = reopen(&dir, false);
    let first: Vec<Lease> = (0..5_000).map(lease).collect();
    s.compact(first.iter().cloned()).unwrap();
    for l in &first {
        model.insert(l.ip, storable(l));
    }
    assert!(fs::metadata(dir.file(SNAPSHOT)).unwrap().len() > 3 * READ_BUF as u64);
    let mut rng = Rng::new(7);
    for _ in 0..6_000 {
        let n = rng.below(6_000) as u32;
        let c = if rng.below(4) == 0 {
            Change::Remove(lease(n).ip)
        } else {
            Change::Upsert(Lease {
                expires: UnixTime(1_800_000_000 + rng.below(1000)),
                ..lease(n)
            })
        };
        s.stage(&c);
        apply(&mut model, &c);
    }
    s.commit().unwrap();
    let good = fs::metadata(dir.file(JOURNAL)).unwrap().len();
    assert!(good > 3 * READ_BUF as u64);
    drop(s);
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.file(JOURNAL))
        .unwrap();
    f.write_all(b"L 1 02:00:00:00:00:01 10.9.9.9 * *").unwrap();
    drop(f);
    let (s, r) = reopen(&dir, false);
    assert!(r.torn_tail);
    assert_eq!(r.journal_records, 6_000);
    assert_eq!(r.leases, sorted(&model));
    assert_eq!(s.journal_size(), (6_000, good));
    assert_eq!(fs::metadata(dir.file(JOURNAL)).unwrap().len(), good);
    // Owned or borrowed leases: the same snapshot.
    let (mut s, r) = reopen(&dir, false);
    s.compact(r.leases.iter()).unwrap();
    let by_ref = fs::read(dir.file(SNAPSHOT)).unwrap();
    s.compact(r.leases.clone()).unwrap();
    assert_eq!(fs::read(dir.file(SNAPSHOT)).unwrap(), by_ref);
    let (_, again) = reopen(&dir, false);
    assert_eq!(again.leases, sorted(&model));
}

/// Files in `dir` whose name starts with `prefix.damaged-`.
fn kept_aside(dir: &TempDir, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{prefix}.damaged-")))
        })
        .collect();
    v.sort();
    v
}

/// A reader that serves `len` bytes of `b'x'` then `tail`, in pieces, so
/// nothing but the reader's own buffer ever holds the long line.
struct LongLine {
    left: usize,
    tail: std::io::Cursor<Vec<u8>>,
}

impl std::io::Read for LongLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left > 0 {
            let n = buf.len().min(self.left);
            buf[..n].fill(b'x');
            self.left -= n;
            return Ok(n);
        }
        self.tail.read(buf)
    }
}

#[test]
fn an_overlong_line_is_skipped_without_being_buffered() {
    // Issue 17 item 10: a 100 MB journal line cost 106 MB of RAM.
    let mut rd = BufReader::with_capacity(
        READ_BUF,
        LongLine {
            left: 100 << 20,
            tail: std::io::Cursor::new(b"\nshort\nend".to_vec()),
        },
    );
    let mut line = Vec::new();
    let got = read_line(&mut rd, &mut line).unwrap();
    assert_eq!(
        got,
        LineRead {
            consumed: (100 << 20) + 1,
            too_long: true,
            complete: true
        }
    );
    assert!(line.is_empty());
    assert!(line.capacity() <= 2 * MAX_LINE, "{}", line.capacity());
    let got = read_line(&mut rd, &mut line).unwrap();
    assert!(got.complete && !got.too_long);
    assert_eq!(line, b"short\n");
    let got = read_line(&mut rd, &mut line).unwrap();
    assert!(!got.complete && !got.too_long);
    assert_eq!(line, b"end");
    assert_eq!(read_line(&mut rd, &mut line).unwrap().consumed, 0);
    // Exactly MAX_LINE is kept; one more byte is too long.
    for (len, long) in [(MAX_LINE - 1, false), (MAX_LINE, true)] {
        let mut data = vec![b'a'; len];
        data.push(b'\n');
        let got = read_line(&mut &data[..], &mut line).unwrap();
        assert_eq!(got.too_long, long, "{len}");
    }
}

#[test]
fn overlong_lines_in_both_files_are_skipped_counted_and_kept_aside() {
    let dir = TempDir::new("long");
    let changes: Vec<Change> = (1..=6).map(|n| Change::Upsert(lease(n))).collect();
    let (good, ends) = build_journal(&dir, &changes);
    // A 2 MB line in the middle of the journal, and one in the snapshot.
    let mut journal = good[..ends[2]].to_vec();
    journal.extend(std::iter::repeat_n(b'L', 2 << 20));
    journal.push(b'\n');
    journal.extend_from_slice(&good[ends[2]..]);
    fs::write(dir.file(JOURNAL), &journal).unwrap();
    let mut snapshot = Vec::new();
    format::put_snapshot_line(&mut snapshot, &lease(40));
    snapshot.extend(std::iter::repeat_n(b'9', 3 << 20));
    snapshot.push(b'\n');
    format::put_snapshot_line(&mut snapshot, &lease(41));
    fs::write(dir.file(SNAPSHOT), &snapshot).unwrap();

    let (mut s, r) = reopen(&dir, true);
    let mut want: Vec<Lease> = (1..=6)
        .chain([40, 41])
        .map(|n| storable(&lease(n)))
        .collect();
    want.sort_by_key(|l| l.ip);
    assert_eq!(r.leases, want);
    assert_eq!(r.bad_records, 2);
    assert!(!r.torn_tail);
    // Both damaged files were copied aside, byte for byte, before any
    // write; compaction then rewrites the originals, not the copies.
    let (js, ss) = (kept_aside(&dir, JOURNAL), kept_aside(&dir, SNAPSHOT));
    assert_eq!((js.len(), ss.len()), (1, 1), "{js:?} {ss:?}");
    s.compact(&r.leases).unwrap();
    drop(s);
    assert_eq!(fs::read(&js[0]).unwrap(), journal);
    assert_eq!(fs::read(&ss[0]).unwrap(), snapshot);
    assert_snapshot_is_strict(&dir, want.len());
    let (_, r) = reopen(&dir, true);
    assert_eq!(r.leases, want);
    assert_eq!(r.bad_records, 0);
    // Nothing damaged this time: no further copies.
    assert_eq!(kept_aside(&dir, JOURNAL).len(), 1);
    assert_eq!(kept_aside(&dir, SNAPSHOT).len(), 1);
}

#[test]
fn a_damaged_tail_is_kept_aside_and_a_crash_tail_is_not() {
    let changes = torn_tail_changes();
    // A crash: the last record lacks its end. Cut, nothing kept.
    let dir = TempDir::new("tail-crash");
    let (bytes, _) = build_journal(&dir, &changes);
    fs::write(dir.file(JOURNAL), &bytes[..bytes.len() - 5]).unwrap();
    let (_, r) = reopen(&dir, true);
    assert!(r.torn_tail);
    assert!(kept_aside(&dir, JOURNAL).is_empty());
    // Complete lines that fail their checksum at the end: damage. The cut
    // happens, but only after the copy.
    let dir = TempDir::new("tail-damage");
    let (mut bytes, ends) = build_journal(&dir, &changes);
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    fs::write(dir.file(JOURNAL), &bytes).unwrap();
    let (_, r) = reopen(&dir, true);
    assert!(r.torn_tail);
    assert_eq!(
        fs::metadata(dir.file(JOURNAL)).unwrap().len(),
        ends[ends.len() - 2] as u64
    );
    let kept = kept_aside(&dir, JOURNAL);
    assert_eq!(kept.len(), 1);
    assert_eq!(fs::read(&kept[0]).unwrap(), bytes);
    // A partial last line longer than any write: damage too.
    let dir = TempDir::new("tail-long");
    let (mut bytes, _) = build_journal(&dir, &changes);
    bytes.extend(std::iter::repeat_n(b'L', MAX_LINE + 10));
    fs::write(dir.file(JOURNAL), &bytes).unwrap();
    let (_, r) = reopen(&dir, true);
    assert!(r.torn_tail);
    assert_eq!(kept_aside(&dir, JOURNAL).len(), 1);
}

#[test]
fn a_store_says_whether_it_was_created_anew() {
    let dir = TempDir::new("created");
    assert!(reopen(&dir, false).1.created);
    assert!(!reopen(&dir, false).1.created);
    // One file of the two lost is not a new store: what is left is loaded.
    fs::remove_file(dir.file(JOURNAL)).unwrap();
    assert!(!reopen(&dir, false).1.created);
    fs::remove_file(dir.file(JOURNAL)).unwrap();
    fs::remove_file(dir.file(SNAPSHOT)).unwrap();
    assert!(reopen(&dir, false).1.created);
}

/// CI's share of the lease-loader fuzz target
/// (`fuzz/fuzz_targets/lease_load.rs`), with the same checks: seeded
/// mutations of a real snapshot and journal never fail the open, give one
/// lease per IP in order, and after compaction a reopen finds the same
/// leases and nothing bad.
#[test]
fn mutated_lease_files_load_compact_and_reload_cleanly() {
    let mut rng = Rng::new(0x1EA5_E5EE_D000_0017);
    let src = TempDir::new("mut-src");
    let changes: Vec<Change> = (0..40)
        .map(|n| match n % 5 {
            4 => Change::Remove(lease(n - 2).ip),
            _ => Change::Upsert(lease(n)),
        })
        .collect();
    let (journal, _) = build_journal(&src, &changes);
    let mut snapshot = Vec::new();
    (100..120).for_each(|n| format::put_snapshot_line(&mut snapshot, &lease(n)));
    let dir = TempDir::new("mut");
    for round in 0..150 {
        let mut files = [snapshot.clone(), journal.clone()];
        for _ in 0..1 + rng.below(5) {
            let f = &mut files[rng.below(2) as usize];
            let at = rng.below(f.len() as u64 + 1) as usize;
            match rng.below(6) {
                0 if at < f.len() => f[at] ^= 1 << rng.below(8),
                1 => f.truncate(at),
                2 => f.insert(at, b'\n'),
                3 => {
                    let n = rng.below(40) as usize;
                    f.splice(at..at, rng.bytes(n)).for_each(drop)
                }
                4 => f
                    .splice(at..at, std::iter::repeat_n(b'z', MAX_LINE + 1))
                    .for_each(drop),
                _ => {
                    let end = (at + rng.below(200) as usize).min(f.len());
                    let piece = f[at..end].to_vec();
                    f.splice(at..at, piece).for_each(drop);
                }
            }
        }
        for e in fs::read_dir(dir.path()).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        fs::write(dir.file(SNAPSHOT), &files[0]).unwrap();
        fs::write(dir.file(JOURNAL), &files[1]).unwrap();
        let (mut s, r) = reopen(&dir, false);
        assert!(
            r.leases.windows(2).all(|w| w[0].ip < w[1].ip),
            "round {round}"
        );
        s.compact(&r.leases).unwrap();
        drop(s);
        let (_, again) = reopen(&dir, false);
        assert_eq!(again.bad_records, 0, "round {round}");
        assert!(!again.torn_tail, "round {round}");
        assert_eq!(again.leases, r.leases, "round {round}");
    }
}

#[test]
fn a_control_character_in_a_host_name_loads_as_it_will_be_written() {
    // Found by fuzz/fuzz_targets/lease_load.rs: a snapshot line whose host
    // name held NULs loaded with the NULs, compaction wrote `-` instead,
    // and the reloaded lease differed from the one served.
    let dir = TempDir::new("ctl-host");
    fs::write(
        dir.file(SNAPSHOT),
        b"0 06-01:02:03:04:05:06 192.168.0.24 *\0\0x\x1b=1 02:00:00:00\n",
    )
    .unwrap();
    let (mut s, r) = reopen(&dir, false);
    assert_eq!(r.leases.len(), 1);
    assert_eq!(r.leases[0].hostname.as_deref(), Some("*--x-=1"));
    assert_eq!(r.leases[0], storable(&r.leases[0]));
    s.compact(&r.leases).unwrap();
    drop(s);
    let (_, again) = reopen(&dir, false);
    assert_eq!(again.leases, r.leases);
    assert_eq!(again.bad_records, 0);
}
