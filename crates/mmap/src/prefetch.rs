//! Cache hints for memory that is about to be read: the cache-line analogue
//! of [`Source::will_need`](crate::Source::will_need).

/// Ask the CPU to bring the cache lines of `value` (at most four, from its
/// start) into the caches, without waiting for them. A hint only: it never
/// faults, never changes a value, and compiles to nothing on targets
/// without a stable prefetch instruction.
///
/// Code that looks up many records in tables far larger than the caches
/// (the features job at a million keys) can hint the next few while it
/// works on the current one, so that their misses overlap instead of
/// following one another.
///
/// ```
/// let table = vec![0u64; 1 << 16];
/// pagemill_mmap::prefetch(&table[12_345]);
/// assert_eq!(table[12_345], 0);
/// ```
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        // The lines the value spans, from the one its first byte is in.
        let skew = start as usize % 64;
        let lines = (skew + std::mem::size_of_val(value).max(1)).div_ceil(64).min(4);
        let first = start.wrapping_sub(skew);
        for line in 0..lines {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 target
            // has. A prefetch never dereferences its address in a way that
            // can fault or be observed: any address is allowed, and these
            // are the lines of a live reference, computed with wrapping
            // offsets from it.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
