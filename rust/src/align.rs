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

use std::ops::Range;

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

/// A word of one example: (slot, start, end), code points.
pub type Word = (i64, i64, i64);

impl WordTable {
    /// `examples[e]`: example e's words, in any order; word ids count them
    /// example by example. Errors name the first bad word: a span that ends
    /// before it starts, a negative slot, or two words of one text that overlap.
    pub fn new(examples: &[Vec<Word>]) -> Result<WordTable> {
        let n: usize = examples.iter().map(Vec::len).sum();
        let mut table = WordTable {
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            runs: Vec::new(),
            example_runs: Vec::with_capacity(examples.len() + 1),
        };
        table.example_runs.push(0);
        let mut first_id = 0;
        let mut order: Vec<usize> = Vec::new();
        for (e, words) in examples.iter().enumerate() {
            for (j, &(slot, start, end)) in words.iter().enumerate() {
                let w = first_id + j;
                if slot < 0 {
                    return Err(CoreError::invalid(format!(
                        "example {e}: word {w} has slot {slot}, must be >= 0"
                    )));
                }
                if end < start {
                    return Err(CoreError::invalid(format!(
                        "example {e}: word {w} span ({start}, {end}) ends before it starts"
                    )));
                }
            }
            order.clear();
            order.extend(0..words.len());
            order.sort_unstable_by_key(|&j| (words[j], j));
            for (k, &j) in order.iter().enumerate() {
                let (slot, start, end) = words[j];
                let previous = k.checked_sub(1).map(|k| order[k]);
                match previous.map(|p| (p, words[p])) {
                    Some((p, (prev_slot, prev_start, prev_end))) if prev_slot == slot => {
                        if prev_end > start {
                            return Err(CoreError::invalid(format!(
                                "example {e}: words {} ({prev_start}, {prev_end}) and {} ({start}, {end}) of slot {slot} overlap",
                                first_id + p,
                                first_id + j
                            )));
                        }
                        if let Some(run) = table.runs.last_mut() {
                            run.2 += 1;
                        }
                    }
                    _ => table.runs.push((slot, table.id.len(), table.id.len() + 1)),
                }
                table.start.push(start);
                table.end.push(end);
                table.id.push((first_id + j) as i64);
            }
            table.example_runs.push(table.runs.len());
            first_id += words.len();
        }
        Ok(table)
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

/// Below this many tokens a batch is aligned on the calling thread: waking the
/// rayon pool cost more than the work (64 rows x 128 tokens: 57 us of overhead
/// against about 100 us in all, on a loaded 2-core machine).
const PARALLEL_MIN_TOKENS: usize = 1 << 15;
/// Rows per rayon task above that size.
const ROWS_PER_TASK: usize = 32;

/// Every (token, word) pair of the batch (module docs).
pub fn align(words: &WordTable, tokens: &TokenGrid<'_>) -> Result<Alignment> {
    tokens.check(words)?;
    let rows = tokens.row_owner.len();
    if rows * tokens.length < PARALLEL_MIN_TOKENS {
        let mut out = Alignment::default();
        align_rows(words, tokens, 0..rows, &mut out);
        return Ok(out);
    }
    let parts: Vec<Alignment> = (0..rows.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let mut out = Alignment::default();
            let first = task * ROWS_PER_TASK;
            align_rows(
                words,
                tokens,
                first..rows.min(first + ROWS_PER_TASK),
                &mut out,
            );
            out
        })
        .collect();
    let total = parts.iter().map(|p| p.tokens.len()).sum();
    let mut out = Alignment {
        tokens: Vec::with_capacity(total),
        words: Vec::with_capacity(total),
    };
    for part in parts {
        out.tokens.extend(part.tokens);
        out.words.extend(part.words);
    }
    Ok(out)
}

/// The pairs of `rows`, appended to `out`; their owners are checked.
fn align_rows(words: &WordTable, tokens: &TokenGrid<'_>, rows: Range<usize>, out: &mut Alignment) {
    let length = tokens.length;
    for r in rows {
        let owner = tokens.row_owner[r] as usize;
        for t in r * length..(r + 1) * length {
            let (a, b) = (tokens.start[t], tokens.end[t]);
            if b <= a {
                continue;
            }
            for w in words.overlapping(owner, tokens.slot[t], a, b) {
                out.tokens.push(t as i64);
                out.words.push(w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words as (slot, start, end) per example.
    fn table(examples: &[&[Word]]) -> Result<WordTable> {
        let owned: Vec<Vec<Word>> = examples.iter().map(|e| e.to_vec()).collect();
        WordTable::new(&owned)
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
        let ids = table(&[&[(0, 0, 1)], &[(0, 0, 1), (0, 4, 6), (0, 5, 9)]])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            ids,
            "example 1: words 2 (4, 6) and 3 (5, 9) of slot 0 overlap"
        );
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
    fn large_batches_split_over_threads_in_row_order() {
        // 300 rows x 128 tokens, above PARALLEL_MIN_TOKENS; 3-letter words, 2-letter pieces.
        let (rows, length) = (300, 128);
        let examples: Vec<Vec<Word>> = (0..100)
            .map(|e| {
                (0..40)
                    .map(|w| (w % 2, 4 * w + e % 3, 4 * w + e % 3 + 3))
                    .collect()
            })
            .collect();
        let words = WordTable::new(&examples).unwrap();
        let owner: Vec<i64> = (0..rows as i64).map(|r| r / 3).collect();
        let slot: Vec<i64> = (0..rows * length)
            .map(|t| ((t % length) / 64) as i64)
            .collect();
        let start: Vec<i64> = (0..rows * length).map(|t| 2 * (t % 64) as i64).collect();
        let end: Vec<i64> = start.iter().map(|s| s + 2).collect();
        let grid = TokenGrid {
            row_owner: &owner,
            slot: &slot,
            start: &start,
            end: &end,
            length,
        };
        assert!(rows * length >= PARALLEL_MIN_TOKENS);
        let parallel = align(&words, &grid).unwrap();
        let mut sequential = Alignment::default();
        align_rows(&words, &grid, 0..rows, &mut sequential);
        assert!(parallel.tokens.len() > rows * 16);
        assert_eq!(parallel, sequential);
    }

    #[test]
    fn empty_batches_align_to_nothing() {
        let words = table(&[]).unwrap();
        assert_eq!(run(&words, &[], &[]).unwrap(), vec![]);
    }
}
