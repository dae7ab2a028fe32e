//! Borrowed views the product kernels work on: a matrix's stored rows, and an output that
//! several threads write disjoint columns of.

use crate::weight_type::WeightType;

/// A `rows × cols` matrix of `ty` as stored: `rows` rows of `row_bytes` bytes each.
#[derive(Clone, Copy)]
pub(crate) struct MatrixRef<'a> {
    pub(crate) ty: WeightType,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_bytes: usize,
    pub(crate) bytes: &'a [u8],
}

/// A raw output pointer that threads write disjoint columns through.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(*mut f32);
// SAFETY: every thread writes only its own columns (disjoint ranges: a panel's or a tile's),
// and the pointer outlives the parallel loop, which borrows the output mutably throughout.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    pub(crate) fn new(y: &mut [f32]) -> Self {
        Self(y.as_mut_ptr())
    }

    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}
