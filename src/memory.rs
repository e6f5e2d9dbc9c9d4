//! Giving freed heap back to the system. glibc keeps freed memory in its
//! arenas; after a one-off burst (loading 50,000 leases, a compaction's
//! copy of them) that shows up as RSS on a small router. `trim` asks it to
//! return what it can. On other C libraries (musl) it does nothing.

/// Returns freed heap pages to the system where the allocator allows it.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
