//! Which model input tokens cover which words: the piece/word bookkeeping of the
//! adversary's gradient ranking, for a whole batch at once.
//!
//! A token of row r is paired with every word of the row's owner example, in the
//! same text ("slot"), whose code-point span overlaps the token's. The words of one
//! text never overlap (they come from one segmentation), so after sorting them by
//! start their ends are sorted too, and a token's words are found by one binary
//! search and a short scan: O(words log words) once per example, then
//! O(log words + pairs) per token. A piece straddling two words (an unsegmented Han
//! run) is paired with both; a token with an empty span (special tokens, padding)
//! with none.

use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// The words of every example, indexed for lookup by (slot, offset). Word ids are
/// positions in the flat input, so they run over all examples' words in order.
pub struct WordTable {
    /// Each example's words sorted by (slot, start, end, id); `example_runs` cuts
    /// them into one run per slot.
    start: Vec<i64>,
    end: Vec<i64>,
    id: Vec<i64>,
    /// (slot, first, last) over the sorted words, example by example.
    runs: Vec<(i64, usize, usize)>,
    /// Example e owns runs[example_runs[e]..example_runs[e + 1]].
    example_runs: Vec<usize>,
}

impl WordTable {
    /// `slot`, `start`, `end`: the words of all examples, flat; example e owns the
    /// words offsets[e]..offsets[e + 1]. Errors name the first bad value: lengths
    /// that differ, offsets that do not run from 0 up to the word count, a span
    /// that ends before it starts, a negative slot, or two words of one text that
    /// overlap.
    pub fn new(slot: &[i64], start: &[i64], end: &[i64], offsets: &[i64]) -> Result<WordTable> {
        let n = slot.len();
        if start.len() != n || end.len() != n {
            return Err(CoreError::invalid(format!(
                "word slots ({n}), starts ({}) and ends ({}) must have the same length",
                start.len(),
                end.len()
            )));
        }
        let bounds = Self::check_offsets(offsets, n)?;
        let mut order: Vec<usize> = (0..n).collect();
        let mut table = WordTable {
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            runs: Vec::new(),
            example_runs: vec![0],
        };
        for (e, window) in bounds.windows(2).enumerate() {
            let (lo, hi) = (window[0], window[1]);
            for w in lo..hi {
                if slot[w] < 0 {
                    return Err(CoreError::invalid(format!(
                        "example {e}: word {w} has slot {}, must be >= 0",
                        slot[w]
                    )));
                }
                if end[w] < start[w] {
                    return Err(CoreError::invalid(format!(
                        "example {e}: word {w} span ({}, {}) ends before it starts",
                        start[w], end[w]
                    )));
                }
            }
            let mine = &mut order[lo..hi];
            mine.sort_unstable_by_key(|&w| (slot[w], start[w], end[w], w));
            for (k, &w) in mine.iter().enumerate() {
                let first_of_slot = k == 0 || slot[mine[k - 1]] != slot[w];
                if first_of_slot {
                    table.runs.push((slot[w], table.id.len(), table.id.len()));
                } else {
                    let prev = mine[k - 1];
                    if end[prev] > start[w] {
                        return Err(CoreError::invalid(format!(
                            "example {e}: words {prev} ({}, {}) and {w} ({}, {}) of slot {} overlap",
                            start[prev], end[prev], start[w], end[w], slot[w]
                        )));
                    }
                }
                table.start.push(start[w]);
                table.end.push(end[w]);
                table.id.push(w as i64);
                if let Some(run) = table.runs.last_mut() {
                    run.2 += 1;
                }
            }
            table.example_runs.push(table.runs.len());
        }
        Ok(table)
    }

    fn check_offsets(offsets: &[i64], n: usize) -> Result<Vec<usize>> {
        match (offsets.first(), offsets.last()) {
            (Some(0), Some(&last)) if last == n as i64 => {}
            _ => {
                return Err(CoreError::invalid(format!(
                    "word offsets must start at 0 and end at the word count {n}, got {} entries from {:?} to {:?}",
                    offsets.len(),
                    offsets.first(),
                    offsets.last()
                )))
            }
        }
        let mut bounds = Vec::with_capacity(offsets.len());
        for (e, pair) in offsets.windows(2).enumerate() {
            if pair[1] < pair[0] {
                return Err(CoreError::invalid(format!(
                    "word offsets decrease at example {e}: {} then {}",
                    pair[0], pair[1]
                )));
            }
        }
        // Non-decreasing from 0 to n: every entry fits a usize.
        bounds.extend(offsets.iter().map(|&o| o as usize));
        Ok(bounds)
    }

    /// Number of examples.
    pub fn examples(&self) -> usize {
        self.example_runs.len() - 1
    }

    /// The ids of example `e`'s words in `slot` that overlap [a, b), by start.
    fn overlapping(&self, e: usize, slot: i64, a: i64, b: i64) -> impl Iterator<Item = i64> + '_ {
        let runs = &self.runs[self.example_runs[e]..self.example_runs[e + 1]];
        // An example has a run per text it has words in: two or three.
        let (lo, hi) = runs
            .iter()
            .find(|r| r.0 == slot)
            .map_or((0, 0), |r| (r.1, r.2));
        // Ends are sorted within a run: the first word ending after the token starts.
        let first = lo + self.end[lo..hi].partition_point(|&end| end <= a);
        (first..hi)
            .take_while(move |&k| self.start[k] < b)
            .map(move |k| self.id[k])
    }
}

/// The model input of a batch: for each row its owner example, and per token
/// (row-major, `length` per row) its slot and code-point span.
pub struct TokenGrid<'a> {
    pub row_owner: &'a [i64],
    pub slot: &'a [i64],
    pub start: &'a [i64],
    pub end: &'a [i64],
    pub length: usize,
}

/// (flat token index, word id) pairs, row-major over tokens, then words by start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Alignment {
    pub tokens: Vec<i64>,
    pub words: Vec<i64>,
}

impl TokenGrid<'_> {
    /// Errors for arrays whose sizes disagree or an owner that is not an example
    /// of `words`.
    pub fn check(&self, words: &WordTable) -> Result<()> {
        let cells = self.row_owner.len() * self.length;
        if self.slot.len() != cells || self.start.len() != cells || self.end.len() != cells {
            return Err(CoreError::invalid(format!(
                "token slots ({}), starts ({}) and ends ({}) must each hold {} rows x {} tokens",
                self.slot.len(),
                self.start.len(),
                self.end.len(),
                self.row_owner.len(),
                self.length
            )));
        }
        let examples = words.examples();
        if let Some((r, &o)) = self
            .row_owner
            .iter()
            .enumerate()
            .find(|&(_, &o)| o < 0 || o as usize >= examples)
        {
            return Err(CoreError::invalid(format!(
                "row {r} is owned by example {o}, but there are {examples} examples"
            )));
        }
        Ok(())
    }
}

/// Every (token, word) pair of the batch (module docs). Rows in parallel.
pub fn align(words: &WordTable, tokens: &TokenGrid<'_>) -> Result<Alignment> {
    tokens.check(words)?;
    let length = tokens.length;
    let per_row: Vec<Alignment> = tokens
        .row_owner
        .par_iter()
        .enumerate()
        .map(|(r, &owner)| {
            let mut out = Alignment::default();
            let at = r * length;
            for t in at..at + length {
                let (a, b) = (tokens.start[t], tokens.end[t]);
                if b <= a {
                    continue;
                }
                for w in words.overlapping(owner as usize, tokens.slot[t], a, b) {
                    out.tokens.push(t as i64);
                    out.words.push(w);
                }
            }
            out
        })
        .collect();
    let total = per_row.iter().map(|p| p.tokens.len()).sum();
    let mut out = Alignment {
        tokens: Vec::with_capacity(total),
        words: Vec::with_capacity(total),
    };
    for row in per_row {
        out.tokens.extend(row.tokens);
        out.words.extend(row.words);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words as (slot, start, end) per example.
    fn table(examples: &[&[(i64, i64, i64)]]) -> Result<WordTable> {
        let flat: Vec<_> = examples.iter().flat_map(|e| e.iter().copied()).collect();
        let mut offsets = vec![0i64];
        for e in examples {
            offsets.push(offsets.last().unwrap() + e.len() as i64);
        }
        let slot: Vec<_> = flat.iter().map(|w| w.0).collect();
        let start: Vec<_> = flat.iter().map(|w| w.1).collect();
        let end: Vec<_> = flat.iter().map(|w| w.2).collect();
        WordTable::new(&slot, &start, &end, &offsets)
    }

    /// Rows of (slot, start, end) tokens, padded with (-1, 0, 0).
    fn run(
        words: &WordTable,
        owner: &[i64],
        rows: &[&[(i64, i64, i64)]],
    ) -> Result<Vec<(i64, i64)>> {
        let length = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let (mut slot, mut start, mut end) = (vec![], vec![], vec![]);
        for row in rows {
            for k in 0..length {
                let (s, a, b) = row.get(k).copied().unwrap_or((-1, 0, 0));
                slot.push(s);
                start.push(a);
                end.push(b);
            }
        }
        let grid = TokenGrid {
            row_owner: owner,
            slot: &slot,
            start: &start,
            end: &end,
            length,
        };
        let out = align(words, &grid)?;
        Ok(out.tokens.into_iter().zip(out.words).collect())
    }

    #[test]
    fn pieces_map_to_their_words_and_specials_to_none() {
        // "big dog" / "ran": <s> big d og </s> ran </s>
        let words = table(&[&[(0, 0, 3), (0, 4, 7), (1, 0, 3)]]).unwrap();
        let row: &[(i64, i64, i64)] = &[
            (-1, 0, 0),
            (0, 0, 3),
            (0, 4, 5),
            (0, 5, 7),
            (-1, 0, 0),
            (1, 0, 3),
        ];
        let pairs = run(&words, &[0], &[row]).unwrap();
        assert_eq!(pairs, vec![(1, 0), (2, 1), (3, 1), (5, 2)]);
    }

    #[test]
    fn a_piece_straddling_two_words_counts_for_both() {
        // A Han run segmented into 北京 | 大学 but tokenized as 北 | 京大 | 学.
        let words = table(&[&[(0, 0, 2), (0, 2, 4)]]).unwrap();
        let row: &[(i64, i64, i64)] = &[(0, 0, 1), (0, 1, 3), (0, 3, 4)];
        let pairs = run(&words, &[0], &[row]).unwrap();
        assert_eq!(pairs, vec![(0, 0), (1, 0), (1, 1), (2, 1)]);
    }

    #[test]
    fn word_ids_run_over_examples_and_rows_share_an_owner() {
        // Example 1 has two windows (QA overflow); example 0 has no words.
        let words = table(&[&[], &[(1, 0, 4), (1, 5, 9)]]).unwrap();
        let first: &[(i64, i64, i64)] = &[(1, 0, 4), (1, 5, 7)];
        let second: &[(i64, i64, i64)] = &[(1, 5, 7), (1, 7, 9)];
        let pairs = run(&words, &[1, 1, 0], &[first, second, first]).unwrap();
        assert_eq!(pairs, vec![(0, 0), (1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn words_given_out_of_order_keep_their_ids() {
        let words = table(&[&[(1, 0, 2), (0, 5, 6), (0, 0, 3)]]).unwrap();
        let row: &[(i64, i64, i64)] = &[(0, 0, 6), (1, 1, 2)];
        let pairs = run(&words, &[0], &[row]).unwrap();
        assert_eq!(pairs, vec![(0, 2), (0, 1), (1, 0)]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let overlap = table(&[&[(0, 0, 3), (0, 2, 5)]]).err().unwrap().to_string();
        assert!(overlap.contains("overlap"), "{overlap}");
        let backwards = table(&[&[(0, 3, 1)]]).err().unwrap().to_string();
        assert!(backwards.contains("ends before"), "{backwards}");
        assert!(table(&[&[(-1, 0, 1)]]).is_err());
        assert!(WordTable::new(&[0], &[0], &[1], &[0, 2]).is_err());
        assert!(WordTable::new(&[0], &[0], &[1], &[]).is_err());
        assert!(WordTable::new(&[0, 0], &[0, 2], &[1, 3], &[0, 2, 1, 2]).is_err());
        assert!(WordTable::new(&[0], &[0, 1], &[1], &[0, 1]).is_err());
        let words = table(&[&[(0, 0, 3)]]).unwrap();
        let row: &[(i64, i64, i64)] = &[(0, 0, 3)];
        let owner = run(&words, &[1], &[row]).err().unwrap().to_string();
        assert!(owner.contains("row 0 is owned by example 1"), "{owner}");
        assert!(run(&words, &[-1], &[row]).is_err());
        let short = TokenGrid {
            row_owner: &[0],
            slot: &[0],
            start: &[0],
            end: &[1, 2],
            length: 2,
        };
        assert!(align(&words, &short).is_err());
    }

    #[test]
    fn empty_batches_align_to_nothing() {
        let words = table(&[]).unwrap();
        assert_eq!(run(&words, &[], &[]).unwrap(), vec![]);
    }
}
