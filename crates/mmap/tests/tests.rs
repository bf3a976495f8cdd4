//! Integration tests of the mapping layer: policies, access modes, flushing,
//! copy-on-write isolation, special files and change detection.

use std::io::Write;
use std::path::{Path, PathBuf};

use pagemill_mmap::{Access, Compression, Error, MmapChoice, OpenOptions, Source};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("pagemill-mmap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path, choice: MmapChoice, access: Access) -> Result<Source, Error> {
    OpenOptions::new().mmap(choice).access(access).open(path)
}

#[test]
fn auto_maps_large_files_and_reads_small_ones() {
    let dir = Dir::new("auto");
    let big = dir.file("big", &vec![b'x'; 200_000]);
    let small = dir.file("small", b"tiny\n");
    let big = open(&big, MmapChoice::auto(), Access::ReadOnly).unwrap();
    let small = open(&small, MmapChoice::auto(), Access::ReadOnly).unwrap();
    assert!(big.is_mapped());
    assert!(!small.is_mapped());
    assert_eq!(big.len(), 200_000);
    assert_eq!(small.bytes(), b"tiny\n");
}

#[test]
fn always_and_never_are_obeyed_with_identical_bytes() {
    let dir = Dir::new("policy");
    let content: Vec<u8> = (0..5000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let path = dir.file("f", &content);
    let mapped = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    let read = open(&path, MmapChoice::never(), Access::ReadOnly).unwrap();
    assert!(mapped.is_mapped());
    assert!(!read.is_mapped());
    assert_eq!(mapped.bytes(), &content[..]);
    assert_eq!(read.bytes(), &content[..]);
}

#[test]
fn empty_file_has_no_bytes_under_every_policy() {
    let dir = Dir::new("empty");
    let path = dir.file("e", b"");
    for choice in [MmapChoice::auto(), MmapChoice::always(), MmapChoice::never()] {
        let s = open(&path, choice, Access::ReadOnly).unwrap();
        assert!(s.is_empty());
        s.check_unchanged().unwrap();
    }
}

#[test]
fn proc_files_that_report_size_zero_are_read() {
    let s = open(Path::new("/proc/self/status"), MmapChoice::always(), Access::ReadOnly).unwrap();
    assert!(!s.is_mapped());
    assert!(s.bytes().starts_with(b"Name:"));
}

#[test]
fn fifo_is_read() {
    let dir = Dir::new("fifo");
    let path = dir.0.join("pipe");
    let status = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(status.success());
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(writer_path).unwrap();
        f.write_all(b"one\ntwo\n").unwrap();
    });
    let s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    writer.join().unwrap();
    assert!(!s.is_mapped());
    assert_eq!(s.bytes(), b"one\ntwo\n");
}

#[test]
fn directories_and_missing_files_are_clear_errors() {
    let dir = Dir::new("errors");
    let err = open(&dir.0, MmapChoice::auto(), Access::ReadOnly).unwrap_err();
    assert!(matches!(err, Error::IsDirectory { .. }), "{err}");
    assert!(err.to_string().ends_with("is a directory"));
    let err = open(&dir.0.join("missing"), MmapChoice::auto(), Access::ReadOnly).unwrap_err();
    assert!(matches!(err, Error::Open { .. }));
    assert!(err.to_string().contains("missing"));
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("No such file"), "{source}");
}

#[test]
fn read_write_changes_reach_the_file_after_flush() {
    let dir = Dir::new("rw");
    let path = dir.file("f", &vec![b'a'; 100_000]);
    let mut s = open(&path, MmapChoice::auto(), Access::ReadWrite).unwrap();
    assert!(s.is_mapped());
    s.bytes_mut().unwrap()[..5].copy_from_slice(b"HELLO");
    s.flush().unwrap();
    s.bytes_mut().unwrap()[50_000..50_005].copy_from_slice(b"WORLD");
    s.flush_range(50_000, 5).unwrap();
    s.bytes_mut().unwrap()[99_995..].copy_from_slice(b"ASYNC");
    s.flush_async().unwrap();
    s.check_unchanged().unwrap();
    drop(s);
    let fresh = std::fs::read(&path).unwrap();
    assert_eq!(&fresh[..5], b"HELLO");
    assert_eq!(&fresh[50_000..50_005], b"WORLD");
    assert_eq!(&fresh[99_995..], b"ASYNC");
    assert_eq!(fresh.len(), 100_000);
}

#[test]
fn copy_on_write_changes_never_reach_the_file() {
    let dir = Dir::new("cow");
    let original = vec![b'z'; 100_000];
    let path = dir.file("f", &original);
    for choice in [MmapChoice::always(), MmapChoice::never()] {
        let mut s = open(&path, choice, Access::CopyOnWrite).unwrap();
        s.bytes_mut().unwrap()[..4].copy_from_slice(b"COPY");
        assert_eq!(&s.bytes()[..4], b"COPY");
        assert!(s.flush().is_err(), "a private map has nothing to flush");
        drop(s);
        assert_eq!(std::fs::read(&path).unwrap(), original);
    }
}

#[test]
fn read_only_sources_refuse_writes() {
    let dir = Dir::new("ro");
    let path = dir.file("f", &vec![b'q'; 100_000]);
    let mut s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    assert!(matches!(s.bytes_mut(), Err(Error::Unsupported { .. })));
    assert!(s.flush().is_err());
}

#[test]
fn release_keeps_bytes_readable() {
    let dir = Dir::new("release");
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.file("f", &content);
    let s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    s.will_need(0..s.len());
    let sum_before: u64 = s.bytes().iter().map(|&b| u64::from(b)).sum();
    s.release(0..s.len());
    s.release(12_345..700_001);
    assert_eq!(s.bytes(), &content[..], "released pages fault back in unchanged");
    let sum_after: u64 = s.bytes().iter().map(|&b| u64::from(b)).sum();
    assert_eq!(sum_before, sum_after);
}

#[test]
fn a_truncated_or_rewritten_input_is_detected() {
    let dir = Dir::new("changed");
    let path = dir.file("f", &vec![b'1'; 100_000]);
    for choice in [MmapChoice::always(), MmapChoice::never()] {
        std::fs::write(&path, vec![b'1'; 100_000]).unwrap();
        let s = open(&path, choice, Access::ReadOnly).unwrap();
        s.check_unchanged().unwrap();
        // Truncate without touching the mapped pages (touching them would SIGBUS).
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(10).unwrap();
        let err = s.check_unchanged().unwrap_err();
        assert!(matches!(err, Error::Changed { .. }));
        assert!(err.to_string().contains("size was 100000 bytes, now 10"), "{err}");
    }
    // Same size, new contents: caught by the modification time.
    std::fs::write(&path, vec![b'1'; 100_000]).unwrap();
    let s = open(&path, MmapChoice::never(), Access::ReadOnly).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(later).unwrap();
    assert!(matches!(s.check_unchanged(), Err(Error::Changed { .. })));
}

#[test]
fn file_identity_distinguishes_files() {
    let dir = Dir::new("identity");
    let a = dir.file("a", b"a");
    let b = dir.file("b", b"b");
    let s = open(&a, MmapChoice::never(), Access::ReadOnly).unwrap();
    assert_eq!(s.file_id(), pagemill_mmap::FileId::of_path(&a));
    assert_ne!(s.file_id(), pagemill_mmap::FileId::of_path(&b));
    assert_eq!(s.path(), Some(a.as_path()));
}

#[test]
fn from_bytes_is_a_plain_buffer() {
    let s = Source::from_bytes("mem", b"abc".to_vec());
    assert_eq!(s.name(), "mem");
    assert_eq!(s.bytes(), b"abc");
    assert!(!s.is_mapped());
    s.check_unchanged().unwrap();
}

/// Resident file-backed pages of this process, in KiB (`RssFile` in
/// `/proc/self/status`).
fn rss_file_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn release_gives_back_resident_pages() {
    let dir = Dir::new("rss");
    let size = 64 << 20;
    let path = dir.file("f", &vec![7u8; size]);
    let s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    let before = rss_file_kib();
    let touched: u64 = s.bytes().iter().step_by(4096).map(|&b| u64::from(b)).sum();
    assert_eq!(touched, 7 * (size as u64 / 4096));
    let resident = rss_file_kib();
    assert!(resident >= before + 48 * 1024, "touching 64 MiB made {before} KiB -> {resident} KiB resident");
    s.release(0..s.len());
    let after = rss_file_kib();
    assert!(after + 48 * 1024 <= resident, "release left {after} KiB of {resident} KiB resident");
}

/// Whether the running kernel has `MADV_POPULATE_READ` (Linux 5.14+).
fn kernel_populates() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (5, 14)
}

#[test]
fn populate_maps_a_range_without_touching_it() {
    let dir = Dir::new("populate");
    let size = 64 << 20;
    let content: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
    let path = dir.file("f", &content);
    let s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    let before = rss_file_kib();
    s.populate(0..s.len());
    let after = rss_file_kib();
    if kernel_populates() {
        assert!(after >= before + 48 * 1024, "populating 64 MiB made {before} KiB -> {after} KiB resident");
    }
    // Ranges past the end are clamped, empty ones do nothing, and the bytes
    // read back unchanged.
    s.populate(size - 100..size + 4096);
    s.populate(5..5);
    assert_eq!(s.bytes(), &content[..]);
    s.release(0..s.len());
    // Read sources have nothing to populate.
    let r = open(&path, MmapChoice::never(), Access::ReadOnly).unwrap();
    r.populate(0..r.len());
    assert_eq!(r.bytes(), &content[..]);
}

#[test]
fn populating_a_truncated_input_is_no_crash() {
    let dir = Dir::new("populate-truncated");
    let path = dir.file("f", &vec![b'1'; 1 << 20]);
    let s = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(10).unwrap();
    // Touching the pages past the new end would raise SIGBUS; populating
    // them fails quietly instead, and the change is reported.
    s.populate(0..s.len());
    assert!(matches!(s.check_unchanged(), Err(Error::Changed { .. })));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn lines(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| format!("line {i};{}\n", i % 97).into_bytes()).collect()
}

#[test]
fn gzip_and_zstd_inputs_are_decompressed_whatever_their_name() {
    let dir = Dir::new("inflate");
    let plain = lines(50_000);
    let gz = dir.file("a.log.gz", &gzip(&plain));
    let zst = dir.file("b.log", &zstd::encode_all(&plain[..], 3).unwrap());
    // Two gzip members back to back (`cat a.gz b.gz`) are one stream.
    let mut two = gzip(&plain[..1000]);
    two.extend_from_slice(&gzip(&plain[1000..]));
    let multi = dir.file("c.gz", &two);
    for (path, kind) in [(&gz, Compression::Gzip), (&zst, Compression::Zstd), (&multi, Compression::Gzip)] {
        for choice in [MmapChoice::auto(), MmapChoice::never()] {
            let s = open(path, choice, Access::ReadOnly).unwrap();
            assert_eq!(s.compression(), Some(kind), "{path:?}");
            assert!(s.bytes() == &plain[..], "{path:?} {choice:?}");
            s.check_unchanged().unwrap();
        }
    }
    // Asked not to, or opened for writing, the raw bytes are kept.
    let raw = OpenOptions::new().decompress(false).open(&gz).unwrap();
    assert_eq!(raw.compression(), None);
    assert_eq!(raw.bytes(), &std::fs::read(&gz).unwrap()[..]);
    let cow = open(&gz, MmapChoice::auto(), Access::CopyOnWrite).unwrap();
    assert_eq!(cow.compression(), None);
    // An empty stream decompresses to an empty input.
    let empty = dir.file("empty.gz", &gzip(b""));
    assert!(open(&empty, MmapChoice::auto(), Access::ReadOnly).unwrap().bytes().is_empty());
    // A zstd stream may start with a skippable frame (as `pzstd` writes).
    let mut skip = Vec::new();
    for magic in [0x184D_2A50u32, 0x184D_2A5F] {
        skip.extend_from_slice(&magic.to_le_bytes());
        skip.extend_from_slice(&4u32.to_le_bytes());
        skip.extend_from_slice(b"meta");
    }
    skip.extend_from_slice(&zstd::encode_all(&plain[..], 3).unwrap());
    let skippable = dir.file("d.zst", &skip);
    for choice in [MmapChoice::auto(), MmapChoice::always(), MmapChoice::never()] {
        let s = open(&skippable, choice, Access::ReadOnly).unwrap();
        assert_eq!(s.compression(), Some(Compression::Zstd), "{choice:?}");
        assert!(s.bytes() == &plain[..], "{choice:?}");
    }
    // Two or three bytes starting with gzip's magic are a (broken) gzip
    // stream, however the file is read.
    for head in [&b"\x1f\x8b"[..], b"\x1f\x8b\n"] {
        let short = dir.file("short.bin", head);
        for choice in [MmapChoice::auto(), MmapChoice::always(), MmapChoice::never()] {
            let err = open(&short, choice, Access::ReadOnly).expect_err("a truncated gzip stream");
            assert!(matches!(err, Error::Decompress { .. }), "{head:?} {choice:?}: {err:?}");
        }
    }
}

#[test]
fn corrupt_or_truncated_compressed_input_is_a_clear_error() {
    let dir = Dir::new("inflate-bad");
    let good = gzip(&lines(10_000));
    let truncated = dir.file("t.gz", &good[..good.len() / 2]);
    let mut flipped = good.clone();
    flipped[40] ^= 0xFF;
    let corrupt = dir.file("c.gz", &flipped);
    let zst = zstd::encode_all(&lines(10_000)[..], 3).unwrap();
    let bad_zst = dir.file("t.zst", &zst[..zst.len() - 10]);
    for (path, format) in [(&truncated, "gzip"), (&corrupt, "gzip"), (&bad_zst, "zstd")] {
        let err = open(path, MmapChoice::auto(), Access::ReadOnly).expect_err("must fail");
        assert!(matches!(err, Error::Decompress { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("cannot decompress {} ({format})", path.display()));
    }
}

/// Run in a child process by the tests below: map a file (after the files
/// `PAGEMILL_SIGBUS_FIRST` names, separated by newlines, if set), truncate
/// it, touch a vanished page.
#[test]
fn sigbus_child() {
    let Some(path) = std::env::var_os("PAGEMILL_SIGBUS_CHILD") else { return };
    pagemill_mmap::sigbus::install();
    // An output being written when the fault hits: the handler removes it.
    let _output = std::env::var_os("PAGEMILL_SIGBUS_OUTPUT").map(|out| {
        std::fs::write(&out, b"half an output").unwrap();
        pagemill_mmap::sigbus::remove_on_sigbus(Path::new(&out))
    });
    let first = std::env::var("PAGEMILL_SIGBUS_FIRST").unwrap_or_default();
    let maps: Vec<Source> =
        first.lines().map(|p| open(Path::new(p), MmapChoice::always(), Access::ReadOnly).unwrap()).collect();
    assert!(maps.iter().all(Source::is_mapped));
    let source = open(Path::new(&path), MmapChoice::always(), Access::ReadOnly).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(100).unwrap();
    let sum: u64 = source.bytes().iter().step_by(4096).map(|&b| u64::from(b)).sum();
    // Not reached: the read above faults past the new end.
    println!("read {sum} without a fault");
}

#[cfg(unix)]
#[test]
fn a_file_truncated_while_mapped_is_one_clear_error_not_a_crash() {
    let dir = Dir::new("sigbus");
    let path = dir.file("big.log", &vec![b'x'; 1 << 20]);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigbus_child", "--nocapture", "--test-threads=1"])
        .env("PAGEMILL_SIGBUS_CHILD", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit status 1, not death by signal.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "pagemill: error: {}: the file shrank while it was memory-mapped (SIGBUS at byte 4096); no results were produced",
        path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// More inputs mapped at once than the handler's first table holds (as
/// `pagemill logs access.log.*` maps them all): the last one is named.
#[cfg(unix)]
#[test]
fn a_fault_in_the_hundredth_mapped_input_names_it() {
    let dir = Dir::new("sigbus-many");
    let first: Vec<String> =
        (0..99).map(|i| dir.file(&format!("access.log.{i}"), b"x\n").display().to_string()).collect();
    let path = dir.file("access.log.99", &vec![b'x'; 1 << 16]);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigbus_child", "--nocapture", "--test-threads=1"])
        .env("PAGEMILL_SIGBUS_CHILD", &path)
        .env("PAGEMILL_SIGBUS_FIRST", first.join("\n"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "pagemill: error: {}: the file shrank while it was memory-mapped (SIGBUS at byte 4096)",
        path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[cfg(unix)]
#[test]
fn sigbus_removes_the_unfinished_outputs() {
    let dir = Dir::new("sigbus-output");
    let path = dir.file("big.log", &vec![b'x'; 1 << 20]);
    let output = dir.0.join(".out.csv.pagemill-1-0.tmp");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigbus_child", "--nocapture", "--test-threads=1"])
        .env("PAGEMILL_SIGBUS_CHILD", &path)
        .env("PAGEMILL_SIGBUS_OUTPUT", &output)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!output.exists(), "the unfinished output survived the SIGBUS");
    // A file no longer registered is left alone.
    let kept = dir.file("kept", b"x");
    drop(pagemill_mmap::sigbus::remove_on_sigbus(&kept));
    assert!(kept.exists());
}

#[test]
fn split_mut_pieces_are_edited_on_threads_and_flushed_one_by_one() {
    let dir = Dir::new("split");
    let len = 3 * 4096 + 123;
    let path = dir.file("f", &vec![b'.'; len]);
    let mut s = open(&path, MmapChoice::auto(), Access::ReadWrite).unwrap();
    // Pieces that share pages, and a gap left untouched.
    let ranges = [0..5000, 5000..9000, 10_000..len];
    let pieces = s.split_mut(&ranges).unwrap();
    assert_eq!(
        pieces.iter().map(|p| (p.offset(), p.bytes().len())).collect::<Vec<_>>(),
        [(0, 5000), (5000, 4000), (10_000, len - 10_000)]
    );
    std::thread::scope(|scope| {
        for (i, mut piece) in pieces.into_iter().enumerate() {
            scope.spawn(move || {
                piece.bytes_mut().fill(b'0' + i as u8);
                piece.flush().unwrap();
            });
        }
    });
    s.flush().unwrap();
    drop(s);
    let fresh = std::fs::read(&path).unwrap();
    assert_eq!(fresh.len(), len);
    assert!(fresh[..5000].iter().all(|&b| b == b'0'));
    assert!(fresh[5000..9000].iter().all(|&b| b == b'1'));
    assert!(fresh[9000..10_000].iter().all(|&b| b == b'.'), "the gap is untouched");
    assert!(fresh[10_000..].iter().all(|&b| b == b'2'));
}

#[test]
#[allow(clippy::single_range_in_vec_init)] // one range is what these cases need
fn split_mut_refuses_bad_ranges_and_read_only_sources() {
    let dir = Dir::new("split-bad");
    let path = dir.file("f", &vec![b'a'; 100_000]);
    let mut s = open(&path, MmapChoice::always(), Access::ReadWrite).unwrap();
    for bad in [vec![0..10, 5..20], vec![10..20, 0..5], vec![0..100_001], vec![std::ops::Range { start: 20, end: 10 }]]
    {
        assert!(matches!(s.split_mut(&bad), Err(Error::Unsupported { .. })), "{bad:?}");
    }
    assert_eq!(s.split_mut(&[]).unwrap().len(), 0);
    let mut ro = open(&path, MmapChoice::always(), Access::ReadOnly).unwrap();
    assert!(ro.split_mut(&[0..10]).is_err());
    // A private map's pieces are writable but have nothing to flush.
    let mut cow = open(&path, MmapChoice::always(), Access::CopyOnWrite).unwrap();
    let mut pieces = cow.split_mut(&[0..10]).unwrap();
    pieces[0].bytes_mut().fill(b'z');
    assert!(pieces[0].flush().is_err());
    drop(pieces);
    assert_eq!(&cow.bytes()[..10], b"zzzzzzzzzz");
    drop(cow);
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'a'; 100_000]);
}
