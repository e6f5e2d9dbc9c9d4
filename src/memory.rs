//! The C allocator, set up for a small router. glibc keeps freed memory in
//! its arenas: after a one-off burst (loading 50,000 leases, a compaction,
//! a hash table that doubled) that shows up as RSS. [`tune`] makes large
//! blocks go back to the system as soon as they are freed; [`trim`] asks
//! it to return what it can of the rest. On other C libraries (musl, whose
//! allocator already returns large blocks at once) both do nothing.

/// Blocks of at least this size get their own mapping, unmapped on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Arenas: the main one and one shared by every helper thread (the lease
/// writer, blocking DNS work); one per thread would each keep free memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: i32 = 2;

/// Sets the allocator up once, before the big allocations (idempotent,
/// cheap after the first call). glibc raises its mmap threshold to the
/// size of each large block freed, up to 32 MiB, so that after loading the
/// leases every later table, vector growth or compaction buffer would be
/// carved from the heap and leave holes there when freed; a fixed
/// threshold keeps those in mappings of their own. Their allocation costs
/// a system call, but blocks that large are rare (a table that doubles),
/// never one per packet.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets the allocator's parameters; these
            // two are valid at any time, also with threads running.
            unsafe {
                nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                nix::libc::mallopt(nix::libc::M_ARENA_MAX, ARENA_MAX);
            }
        });
    }
}

/// Returns freed heap pages to the system where the allocator allows it.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    /// Both are safe to call any number of times, from any thread.
    #[test]
    fn tune_and_trim_are_idempotent() {
        super::tune();
        super::tune();
        let big = vec![1u8; 1 << 20];
        drop(big);
        std::thread::spawn(super::trim).join().unwrap();
        super::trim();
    }
}
