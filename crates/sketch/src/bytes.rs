//! The little-endian byte layout shared by the sketches' `to_bytes` and
//! `from_bytes`: a version byte, then fixed-width integers and
//! length-prefixed arrays. Every read is checked: a short or malformed
//! input is an [`Error::Corrupt`], never a panic.

use crate::error::Error;

/// The layout version written first by every `to_bytes`.
pub(crate) const VERSION: u8 = 1;

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A cursor over serialized bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, after checking the version byte.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Reader<'a>, Error> {
        match bytes.split_first() {
            Some((&VERSION, rest)) => Ok(Reader { bytes: rest }),
            Some(_) => Err(Error::Corrupt("unknown layout version")),
            None => Err(Error::Corrupt("no bytes")),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            return Err(Error::Corrupt("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// A length prefix of items of `width` bytes each, checked against the
    /// bytes left (so a corrupt length cannot ask for a huge allocation).
    pub(crate) fn len(&mut self, width: usize) -> Result<usize, Error> {
        let n = self.u32()? as usize;
        if n.checked_mul(width).is_none_or(|b| b > self.bytes.len()) {
            return Err(Error::Corrupt("length beyond the data"));
        }
        Ok(n)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// Fail unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.bytes.is_empty() { Ok(()) } else { Err(Error::Corrupt("trailing bytes")) }
    }
}
