//! The process's limit on open files.

/// Raise the soft limit on open files to at least `want` (up to the hard
/// limit), so that a run over thousands of inputs, each held open (a map
/// needs no descriptor, but the size and modification check at the end
/// reads it from the open file), does not fail with "Too many open files"
/// where `wc -l` succeeds. Returns the soft limit now in force, or `None`
/// where the platform has no such limit or it cannot be read.
// `rlim_t` is `u64` on Linux, not on every Unix: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_file_limit(want: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `getrlimit` writes one `rlimit` through the pointer, which
        // points to a live, properly aligned local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let want = want as libc::rlim_t;
        if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= want {
            return Some(limit.rlim_cur as u64);
        }
        let raised = libc::rlimit { rlim_cur: want.min(limit.rlim_max), rlim_max: limit.rlim_max };
        // SAFETY: `setrlimit` reads one `rlimit` through the pointer, which
        // points to a live local; lowering or raising the soft limit within
        // the hard one affects only this process (and its children).
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Some(limit.rlim_cur as u64);
        }
        Some(raised.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = want;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_rises_within_the_hard_one() {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as in `raise_open_file_limit`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        let now = raise_open_file_limit(0).unwrap();
        assert_eq!(now as libc::rlim_t, limit.rlim_cur, "nothing to raise");
        let max = limit.rlim_max;
        let got = raise_open_file_limit(u64::MAX).unwrap() as libc::rlim_t;
        assert!(got >= limit.rlim_cur && (max == libc::RLIM_INFINITY || got <= max), "{got} {max}");
    }
}
