//! The bytes of a weight matrix: owned, or a range borrowed from a shared buffer (typically a
//! memory-mapped checkpoint), so that a loader hands out tensors without copying them.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

use crate::KernelError;

/// A shared, immutable byte buffer several matrices can borrow ranges of: a memory map, a file
/// read into memory, a `Vec<u8>`.
pub type SharedBuffer = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Immutable bytes, cheap to clone: either a buffer of their own or a range of a
/// [`SharedBuffer`] that stays alive as long as any range of it does.
///
/// A GGUF loader maps the file once, wraps the map in an `Arc` and gives each tensor a range of
/// it, so the weights occupy the page cache once and the process's resident memory stays about
/// the size of the file.
#[derive(Clone)]
pub struct WeightBytes {
    owner: SharedBuffer,
    start: usize,
    len: usize,
    borrowed: bool,
}

impl WeightBytes {
    /// Bytes of their own.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        Self {
            owner: Arc::new(bytes),
            start: 0,
            len,
            borrowed: false,
        }
    }

    /// The bytes `range` of `owner`, without copying; an error if the range is not inside it.
    pub fn shared(owner: SharedBuffer, range: Range<usize>) -> Result<Self, KernelError> {
        let len = (*owner).as_ref().len();
        if range.start > range.end || range.end > len {
            return Err(KernelError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len,
            });
        }
        Ok(Self {
            owner,
            start: range.start,
            len: range.end - range.start,
            borrowed: true,
        })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // `shared` checked the range against the owner's length, which cannot change: the
        // owner is immutable behind the Arc. An empty slice is returned if it somehow did.
        (*self.owner)
            .as_ref()
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when these bytes are a range of a [`SharedBuffer`] rather than a buffer of their own.
    pub fn is_borrowed(&self) -> bool {
        self.borrowed
    }
}

impl Deref for WeightBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for WeightBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_vec(bytes)
    }
}

impl fmt::Debug for WeightBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightBytes")
            .field("len", &self.len)
            .field("borrowed", &self.borrowed)
            .field("start", &self.start)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_ranges_borrow_without_copying() {
        let owner: SharedBuffer = Arc::new((0u8..100).collect::<Vec<u8>>());
        let a = WeightBytes::shared(owner.clone(), 10..20).unwrap();
        assert_eq!(a.as_slice(), &(10u8..20).collect::<Vec<_>>()[..]);
        assert!(a.is_borrowed());
        // the range points into the owner's memory
        assert_eq!(a.as_ptr(), (*owner).as_ref()[10..].as_ptr());
        assert!(WeightBytes::shared(owner.clone(), 90..101).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = WeightBytes::shared(owner, 20..10);
        assert!(matches!(
            reversed,
            Err(KernelError::RangeOutOfBounds {
                start: 20,
                end: 10,
                len: 100
            })
        ));
        let own = WeightBytes::from_vec(vec![1, 2, 3]);
        assert!(!own.is_borrowed());
        assert_eq!(&own[..], &[1, 2, 3]);
    }
}
