//! Transparent huge pages for the state's reserved arenas.
//!
//! At a million resting orders the order slab, order index and expiry index
//! span hundreds of MiB; with 4 KiB pages nearly every touch of an old order
//! also misses the TLB. Asking the kernel for 2 MiB pages over those regions
//! (`madvise(MADV_HUGEPAGE)`, which takes effect when the pages are first
//! faulted in, so call it before [`State::prefault`]) removes most of those
//! misses. It is a hint: where the kernel has THP disabled, or cannot find a
//! free huge page, memory stays in 4 KiB pages and nothing else changes.
//! Pages already touched (by recovery replaying orders into the state) are
//! left to the kernel's background collapsing. On systems other than Linux
//! it does nothing.

use crate::state::State;

/// The huge page size the regions are aligned to (x86-64 and aarch64 with
/// 4 KiB base pages).
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Advises huge pages over every whole 2 MiB span inside the state's
/// reserved regions. Returns the bytes advised (0 where the kernel refused or
/// no region holds a whole span).
#[cfg(target_os = "linux")]
pub fn advise_huge_pages(state: &State) -> usize {
    let mut advised = 0;
    for (addr, len) in state.reserved_regions() {
        let start = addr.next_multiple_of(HUGE_PAGE_BYTES);
        let end = (addr + len) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end <= start {
            continue;
        }
        // SAFETY: [start, end) lies inside one live allocation the state
        // owns (a vector's reservation, see `State::reserved_regions`), and
        // MADV_HUGEPAGE only changes how the kernel backs those pages: it
        // never changes their contents or validity, so no Rust reference
        // into the region is affected.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        if rc == 0 {
            advised += end - start;
        }
    }
    advised
}

/// Not Linux: no transparent huge pages to ask for; advises nothing.
#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages(_state: &State) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Limits;

    #[test]
    fn a_million_order_state_has_whole_spans_to_advise() {
        let state = State::new(Limits {
            max_orders: 1 << 20,
            max_levels: 1 << 16,
            ..Limits::default()
        });
        let reserved: usize = state.reserved_regions().iter().map(|r| r.1).sum();
        assert!(reserved > 64 << 20, "reserved {reserved} bytes");
        // The kernel may refuse (THP disabled); the bound holds either way.
        assert!(advise_huge_pages(&state) <= reserved);
    }
}
