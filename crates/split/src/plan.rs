use std::ops::Range;

use crate::RecordFormat;

/// Cut `bytes` into chunks of about `target` bytes on `format`'s record
/// boundaries. A `target` of 0 is taken as 1.
///
/// Chunks are never empty; a record longer than `target` makes its chunk
/// longer. Empty input gives no chunks.
pub fn plan<F: RecordFormat + ?Sized>(format: &F, bytes: &[u8], target: usize) -> Vec<Range<usize>> {
    format.plan(bytes, target.max(1))
}

/// The planner for formats whose boundaries can be found locally with
/// [`RecordFormat::next_boundary`]: ask for the boundary at each multiple of
/// `target`, skipping positions already covered by a long record, so the
/// total work is one pass over the gaps between cuts, never a rescan.
pub fn plan_local<F: RecordFormat + ?Sized>(format: &F, bytes: &[u8], target: usize) -> Vec<Range<usize>> {
    let target = target.max(1);
    let len = bytes.len();
    let mut cuts = vec![0usize];
    let mut pos = target;
    while pos < len {
        let b = format.next_boundary(bytes, pos);
        if b >= len {
            break;
        }
        debug_assert!(b >= pos);
        if b > *cuts.last().unwrap_or(&0) {
            cuts.push(b);
        }
        pos = (pos + target).max(b + 1);
    }
    ranges(cuts, len)
}

/// Turn ascending cut positions (starting with 0) into ranges ending at `len`.
pub(crate) fn ranges(mut cuts: Vec<usize>, len: usize) -> Vec<Range<usize>> {
    if len == 0 {
        return Vec::new();
    }
    cuts.dedup();
    cuts.push(len);
    cuts.windows(2).filter(|w| w[1] > w[0]).map(|w| w[0]..w[1]).collect()
}
