//! Turning `SIGBUS` on a shrunken mapped file into a clear error.
//!
//! When a mapped file is truncated by another process, touching a page past
//! its new end raises `SIGBUS`, and by default the process dies with a core
//! dump and no word about which file was at fault. [`install`] sets a handler
//! that looks the faulting address up among the live maps of every
//! [`Source`](crate::Source), prints one line naming the input and the byte
//! offset on stderr, and exits with status 1, so that a batch job sees the
//! same kind of failure as for any other bad input, never a crash and never a
//! result.
//!
//! Before it exits, the handler also removes the unfinished output files
//! registered with [`remove_on_sigbus`] (pagemill-engine's `AtomicFile` registers
//! its temporary file), so that a run ended by SIGBUS leaves no partial output
//! behind, as a run ended by SIGINT or an error does.
//!
//! The registries the handler reads are tables of atomics, written when a
//! `Source` maps a file (or an output is started) and cleared when it is
//! dropped: the handler neither allocates nor takes locks (it only calls
//! `write`, `unlink` and `_exit`, all async-signal-safe). The table of maps
//! has no fixed size: the CLI maps every input of a run at once (`pagemill
//! logs access.log.*` over hundreds of files), so it grows by segments of
//! 64 slots, linked through atomic pointers and never freed, and
//! every live map is named whatever the number.

use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Slots per segment of the map registry (the first is static: most runs
/// map fewer inputs than this and allocate nothing).
const SEGMENT: usize = 64;
/// The bytes of an input's name a slot holds (see [`shown`]).
const NAME: usize = 192;

const FREE: u8 = 0;
const BUSY: u8 = 1;
const LIVE: u8 = 2;

struct Slot {
    state: AtomicU8,
    start: AtomicUsize,
    len: AtomicUsize,
    /// Offset in the file of the map's first byte.
    base: AtomicU64,
    /// A writable map (a file edited in place).
    writable: AtomicBool,
    name_len: AtomicUsize,
    name: [AtomicU8; NAME],
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            base: AtomicU64::new(0),
            writable: AtomicBool::new(false),
            name_len: AtomicUsize::new(0),
            name: [const { AtomicU8::new(0) }; NAME],
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("state", &self.state.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// A segment of the map registry: its slots, and the segment added after
/// it once they were all taken.
struct Segment {
    slots: [Slot; SEGMENT],
    /// Null, or a segment leaked by [`register`], fully built before it was
    /// stored here (with `Release`), and never freed nor moved.
    next: AtomicPtr<Segment>,
}

impl Segment {
    const fn new() -> Segment {
        Segment { slots: [const { Slot::new() }; SEGMENT], next: AtomicPtr::new(ptr::null_mut()) }
    }

    /// The segment after this one, if one was added: one atomic load, so
    /// the SIGBUS handler may call it.
    fn next(&self) -> Option<&'static Segment> {
        let next = self.next.load(Ordering::Acquire);
        // SAFETY: `next` is null or, as its field promises, points to a
        // `Segment` that `register` leaked (`Box::leak`: valid for the rest
        // of the process, never freed or moved) and fully built before the
        // `Release` store this `Acquire` load pairs with; it is only ever
        // read through shared references (its fields are atomics).
        unsafe { next.as_ref() }
    }
}

static FIRST: Segment = Segment::new();

/// Every segment of the map registry, in order (allocation- and lock-free).
fn segments() -> impl Iterator<Item = &'static Segment> {
    std::iter::successors(Some(&FIRST), |segment| segment.next())
}

/// `name` as the handler prints it: whole when it fits a slot, else `...`
/// and its end, cut at a character boundary, so that a long path keeps
/// its file name (the head was kept before, and the file name lost).
fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() <= NAME {
        return name.into();
    }
    let mut from = name.len() - (NAME - 3);
    while !name.is_char_boundary(from) {
        from += 1;
    }
    format!("...{}", &name[from..]).into()
}

/// A live map in the registry; dropping it removes the entry.
#[derive(Debug)]
pub(crate) struct Registration(&'static Slot);

/// Record that `bytes` (file offset `base` on) belong to the input `name`,
/// mapped for writing when `writable`. Takes the first free slot, adding a
/// segment when every one is taken (never from the handler: this is the
/// only place that allocates).
pub(crate) fn register(name: &str, bytes: &[u8], base: u64, writable: bool) -> Registration {
    // A segment built for a place another thread filled first: offered at
    // the next end of the list rather than building another (unused, and
    // so leaked, only if a free slot turns up first).
    let mut spare: Option<&'static Segment> = None;
    let mut segment: &'static Segment = &FIRST;
    loop {
        for slot in &segment.slots {
            if slot.state.compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                slot.start.store(bytes.as_ptr() as usize, Ordering::Relaxed);
                slot.len.store(bytes.len(), Ordering::Relaxed);
                slot.base.store(base, Ordering::Relaxed);
                slot.writable.store(writable, Ordering::Relaxed);
                let name = shown(name);
                let name = name.as_bytes();
                let n = name.len().min(NAME);
                for (dst, &b) in slot.name.iter().zip(&name[..n]) {
                    dst.store(b, Ordering::Relaxed);
                }
                slot.name_len.store(n, Ordering::Relaxed);
                slot.state.store(LIVE, Ordering::Release);
                return Registration(slot);
            }
        }
        if let Some(next) = segment.next() {
            segment = next;
            continue;
        }
        let new = spare.take().unwrap_or_else(|| Box::leak(Box::new(Segment::new())));
        match segment.next.compare_exchange(
            ptr::null_mut(),
            ptr::from_ref(new).cast_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => segment = new,
            // Another thread added a segment here: look at it next.
            Err(_) => spare = Some(new),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.state.store(FREE, Ordering::Release);
    }
}

const OUTPUTS: usize = 16;
const OUTPUT_PATH: usize = 1024;

struct OutputSlot {
    state: AtomicU8,
    len: AtomicUsize,
    path: [AtomicU8; OUTPUT_PATH],
}

impl OutputSlot {
    const fn new() -> OutputSlot {
        OutputSlot {
            state: AtomicU8::new(FREE),
            len: AtomicUsize::new(0),
            path: [const { AtomicU8::new(0) }; OUTPUT_PATH],
        }
    }
}

static OUTPUT_TABLE: [OutputSlot; OUTPUTS] = [const { OutputSlot::new() }; OUTPUTS];

/// An unfinished output file that the SIGBUS handler removes; dropping this
/// forgets it (after the file was committed or removed).
#[derive(Debug)]
pub struct RemoveOnSigbus(Option<usize>);

/// Have the SIGBUS handler of [`install`] remove `path` (an unfinished
/// output file; absolute, or relative to a working directory that does not
/// change) before the process exits, until the returned value is dropped.
/// A path of 1,024 bytes or more, one with a NUL byte, or a 17th output at
/// once is not remembered (the file would be left behind, as without this).
pub fn remove_on_sigbus(path: &std::path::Path) -> RemoveOnSigbus {
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.len() >= OUTPUT_PATH || bytes.contains(&0) {
        return RemoveOnSigbus(None);
    }
    for (i, slot) in OUTPUT_TABLE.iter().enumerate() {
        if slot.state.compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            for (dst, &b) in slot.path.iter().zip(bytes) {
                dst.store(b, Ordering::Relaxed);
            }
            slot.len.store(bytes.len(), Ordering::Relaxed);
            slot.state.store(LIVE, Ordering::Release);
            return RemoveOnSigbus(Some(i));
        }
    }
    RemoveOnSigbus(None)
}

impl Drop for RemoveOnSigbus {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            OUTPUT_TABLE[i].state.store(FREE, Ordering::Release);
        }
    }
}

/// Remove every registered output file: async-signal-safe (atomics, a stack
/// buffer and `unlink`).
#[cfg(unix)]
fn remove_outputs() {
    for slot in &OUTPUT_TABLE {
        if slot.state.load(Ordering::Acquire) != LIVE {
            continue;
        }
        let mut path = [0u8; OUTPUT_PATH + 1];
        let n = slot.len.load(Ordering::Relaxed).min(OUTPUT_PATH);
        for (dst, src) in path.iter_mut().zip(&slot.path[..n]) {
            *dst = src.load(Ordering::Relaxed);
        }
        // SAFETY: `path` is a NUL-terminated buffer on this stack frame (at
        // most OUTPUT_PATH bytes copied into OUTPUT_PATH + 1 zeroed ones);
        // `unlink` is async-signal-safe and only reads it.
        unsafe {
            libc::unlink(path.as_ptr().cast());
        }
    }
}

/// Install the `SIGBUS` handler (once per process; later calls do nothing).
///
/// Meant for programs, such as the `pagemill` binary, that own their signal
/// handling; a library embedding pagemill may prefer its own. Only Unix has
/// `SIGBUS`; elsewhere this does nothing.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        // SAFETY: `sigaction` is given a zero-initialised struct (a valid
        // `sigaction` value) whose handler is an `extern "C"` function of the
        // three-argument form that `SA_SIGINFO` promises the kernel will call.
        // The handler only reads atomics and calls async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
                log::debug!("cannot install the SIGBUS handler: {}", std::io::Error::last_os_error());
            }
        }
    });
}

/// Whether `signal` is ignored (`SIG_IGN`) in this process, as a program
/// started by `nohup` (SIGHUP) or in the background of a non-interactive
/// shell (SIGINT) inherits it: a program that sets handlers for such
/// signals should leave those it inherited ignored. Only asks; changes
/// nothing. `false` off Unix and for signals the system refuses to name.
pub fn is_ignored(signal: i32) -> bool {
    #[cfg(unix)]
    // SAFETY: `sigaction` with a null new action only writes the current
    // action into `old`, a zero-initialised (valid) `sigaction` value that
    // lives across the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
    #[cfg(not(unix))]
    {
        let _ = signal;
        false
    }
}

/// A fixed buffer for the message: no allocation in the handler.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// The message for a fault at `addr`.
fn message(addr: usize) -> Line {
    let mut line = Line { buf: [0; 512], len: 0 };
    line.push(b"pagemill: error: ");
    let hit = segments().flat_map(|segment| &segment.slots).find(|slot| {
        slot.state.load(Ordering::Acquire) == LIVE && {
            let start = slot.start.load(Ordering::Relaxed);
            addr >= start && addr - start < slot.len.load(Ordering::Relaxed)
        }
    });
    let mut edited = false;
    match hit {
        Some(slot) => {
            edited = slot.writable.load(Ordering::Relaxed);
            let n = slot.name_len.load(Ordering::Relaxed);
            for b in &slot.name[..n] {
                line.push(&[b.load(Ordering::Relaxed)]);
            }
            line.push(b": the file shrank while it was memory-mapped (SIGBUS at byte ");
            let offset = slot.base.load(Ordering::Relaxed) + (addr - slot.start.load(Ordering::Relaxed)) as u64;
            line.number(offset);
            line.push(b")");
        }
        None => line.push(b"a memory-mapped input shrank while it was read (SIGBUS)"),
    }
    if edited {
        // Written through the map: what came before the fault may be
        // changed already, and no copy in memory would have helped.
        line.push(b"; it was being edited in place, so parts of it may be changed already\n");
    } else {
        line.push(b"; no results were produced (--mmap never reads inputs into memory instead)\n");
    }
    line
}

#[cfg(unix)]
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO`
    // handler; for SIGBUS `si_addr` is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let line = message(addr);
    remove_outputs();
    // SAFETY: `write` and `_exit` are async-signal-safe; the buffer is a live
    // local of the stated length.
    unsafe {
        libc::write(2, line.buf.as_ptr().cast(), line.len);
        libc::_exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_input_and_the_file_offset() {
        let bytes = vec![0u8; 4096];
        let reg = register("logs/access.log", &bytes, 100, false);
        let line = message(bytes.as_ptr() as usize + 10);
        let text = String::from_utf8_lossy(&line.buf[..line.len]).into_owned();
        assert!(
            text.starts_with(
                "pagemill: error: logs/access.log: the file shrank while it was memory-mapped (SIGBUS at byte 110)"
            ),
            "{text}"
        );
        assert!(text.contains("--mmap never"), "{text}");
        drop(reg);
        let line = message(bytes.as_ptr() as usize + 10);
        let text = String::from_utf8_lossy(&line.buf[..line.len]).into_owned();
        assert!(text.contains("a memory-mapped input shrank"), "{text}");
        // A file edited in place: no promise that nothing was produced.
        let reg = register("access.log", &bytes, 0, true);
        let line = message(bytes.as_ptr() as usize + 10);
        let text = String::from_utf8_lossy(&line.buf[..line.len]).into_owned();
        assert!(
            text.ends_with("SIGBUS at byte 10); it was being edited in place, so parts of it may be changed already\n"),
            "{text}"
        );
        drop(reg);
    }

    /// A path longer than a slot keeps its end, the file name, not its
    /// head; multi-byte characters are not split.
    #[test]
    fn a_long_path_is_named_by_its_end() {
        let bytes = vec![0u8; 64];
        for dir in ["d".repeat(400), "é".repeat(200), "é".repeat(91)] {
            let name = format!("/data/{dir}/access.log.7");
            let reg = register(&name, &bytes, 0, false);
            let got = text(bytes.as_ptr() as usize);
            let shown = got.strip_prefix("pagemill: error: ").unwrap().split(": the file shrank").next().unwrap();
            assert!(shown.starts_with("...") && shown.ends_with(&format!("{}/access.log.7", &dir[dir.len() - 4..])));
            assert!(shown.len() <= NAME && shown.len() >= NAME - 3, "{}", shown.len());
            assert!(name.ends_with(&shown[3..]), "{shown}");
            drop(reg);
        }
        let reg = register("short.log", &bytes, 0, false);
        assert!(text(bytes.as_ptr() as usize).starts_with("pagemill: error: short.log: "));
        drop(reg);
    }

    fn text(addr: usize) -> String {
        let line = message(addr);
        String::from_utf8_lossy(&line.buf[..line.len]).into_owned()
    }

    /// More maps at once than a segment holds (the CLI maps every input of
    /// a run at once): each is named, and slots freed are used again
    /// before the registry grows.
    #[test]
    fn every_one_of_hundreds_of_live_maps_is_named() {
        let buffers: Vec<Vec<u8>> = (0..4 * SEGMENT + 7).map(|_| vec![0u8; 64]).collect();
        let register_all = || -> Vec<Registration> {
            buffers.iter().enumerate().map(|(i, b)| register(&format!("access.log.{i}"), b, 0, false)).collect()
        };
        let regs = register_all();
        for (i, b) in buffers.iter().enumerate() {
            let text = text(b.as_ptr() as usize + 3);
            assert!(text.starts_with(&format!("pagemill: error: access.log.{i}: the file shrank")), "{i}: {text}");
        }
        let grown = segments().count();
        assert!(grown > 4, "{grown} segments for {} maps", buffers.len());
        drop(regs);
        assert!(text(buffers[100].as_ptr() as usize).contains("a memory-mapped input shrank"));
        let regs = register_all();
        assert!(text(buffers[200].as_ptr() as usize).contains("access.log.200: "));
        assert_eq!(segments().count(), grown, "freed slots are taken again");
        drop(regs);
    }
}
