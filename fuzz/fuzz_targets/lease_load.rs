//! Lease-file loader: any bytes as a snapshot and a journal → open must
//! never panic nor fail (only I/O may fail it), must return one lease per
//! IP, sorted; and after compaction a reopen must find the same leases and
//! no bad record. The first byte picks where the input splits into
//! snapshot and journal.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hamasq::dhcp::leases::{JOURNAL, LeaseStore, SNAPSHOT};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // tmpfs when there is one: the target writes two files per run.
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("hamasq-fuzz-leases-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let at = (usize::from(cut) * rest.len() / 255).min(rest.len());
    let (snapshot, journal) = rest.split_at(at);
    let d = dir();
    // A clean directory each run (copies of damaged files pile up).
    for e in std::fs::read_dir(d).unwrap() {
        let _ = std::fs::remove_file(e.unwrap().path());
    }
    std::fs::write(d.join(SNAPSHOT), snapshot).unwrap();
    std::fs::write(d.join(JOURNAL), journal).unwrap();
    let (mut store, report) = LeaseStore::open(d, false).expect("open fails only on I/O");
    assert!(report.leases.windows(2).all(|w| w[0].ip < w[1].ip));
    store.compact(&report.leases).expect("compaction on a healthy directory");
    drop(store);
    let (_, again) = LeaseStore::open(d, false).expect("reopen");
    assert_eq!(again.bad_records, 0);
    assert!(!again.torn_tail);
    assert_eq!(again.leases, report.leases);
});
