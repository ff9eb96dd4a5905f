//! Python binding of the token/word alignment; `align.rs` does the work.

use numpy::ndarray::ArrayView2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::align::{self, TokenGrid, Word, WordTable};
use crate::error::CoreError;
use crate::without_gil;

type Int64Array<'py> = Bound<'py, PyArray1<i64>>;

/// The model input tokens of a batch paired with the words they cover, as two
/// int64 arrays (flat token index r * length + t, word index).
///
/// `words[e]` lists example e's words as (slot, start, end); a word's index counts
/// the words of all examples in order. `row_owner` (int64 [rows]) is each row's
/// example; `token_slot`, `token_start`, `token_end` (int64 [rows, length]) give
/// each token's text and code-point span in it (slot -1 and empty spans for special
/// and padding tokens). Each token with a non-empty span is paired with every word
/// of its owner's same slot that its span overlaps, row-major over tokens, then by
/// word start; a piece that straddles two words counts for both. The words of one
/// text must not overlap. Raises ValueError for shapes that disagree, an owner
/// outside the examples, or a bad or overlapping word.
#[pyfunction]
pub fn align_words<'py>(
    py: Python<'py>,
    words: Vec<Vec<Word>>,
    row_owner: PyReadonlyArray1<'py, i64>,
    token_slot: PyReadonlyArray2<'py, i64>,
    token_start: PyReadonlyArray2<'py, i64>,
    token_end: PyReadonlyArray2<'py, i64>,
) -> PyResult<(Int64Array<'py>, Int64Array<'py>)> {
    let (slot, start, end) = (
        token_slot.as_array(),
        token_start.as_array(),
        token_end.as_array(),
    );
    for (name, array) in [("token_start", &start), ("token_end", &end)] {
        if array.shape() != slot.shape() {
            return Err(CoreError::invalid(format!(
                "{name} has shape {:?}, token_slot {:?}",
                array.shape(),
                slot.shape()
            ))
            .into());
        }
    }
    let (rows, length) = slot.dim();
    let row_owner = row_owner.as_array();
    if row_owner.len() != rows {
        return Err(CoreError::invalid(format!(
            "row_owner has {} entries for {rows} rows",
            row_owner.len()
        ))
        .into());
    }
    // Owned copies in logical order: one memcpy when contiguous, else element-wise.
    let owned = |a: ArrayView2<'_, i64>| {
        a.as_slice()
            .map_or_else(|| a.iter().copied().collect(), <[i64]>::to_vec)
    };
    let (slot, start, end) = (owned(slot), owned(start), owned(end));
    let row_owner: Vec<i64> = row_owner.iter().copied().collect();
    let table = WordTable::new(&words)?;
    let grid = TokenGrid {
        row_owner: &row_owner,
        slot: &slot,
        start: &start,
        end: &end,
        length,
    };
    grid.check(&table)?;
    let out = without_gil(py, || align::align(&table, &grid))?;
    Ok((out.tokens.into_pyarray(py), out.words.into_pyarray(py)))
}
