//! Extractive-QA features: the `run_qa.py` recipe of transformers' examples (question
//! and context encoded as a pair, the context cut into overlapping windows, answer
//! labels as token positions), done for a whole batch in one call.
//!
//! Differences from `run_qa.py`, each on purpose:
//! - the question is cut to `max_query_length` tokens before pairing (the legacy SQuAD
//!   and XTREME scripts do this; `run_qa.py` does not);
//! - offsets are code points into the original context with surrounding whitespace
//!   trimmed (Metaspace tokenizers put the space before a word inside its offsets);
//! - an answer that starts in the last context token of a window is labelled with that
//!   token, where `run_qa.py`'s loop runs on into the special and padding tokens;
//! - where tokens share offsets, `run_qa.py` can label an end before the start; the two
//!   are swapped;
//! - whitespace at either end of a gold answer is not part of the span to label.

use crate::error::{CoreError, Result};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;
use tokenizers::utils::truncation::TruncationDirection;
use tokenizers::{Encoding, PostProcessor, Tokenizer};

/// An error about one example of the batch, named by its index.
fn example_error(index: usize, message: impl Into<String>) -> CoreError {
    CoreError::invalid(format!("example {index}: {}", message.into()))
}

/// One (question, context) pair as the core sees it.
#[derive(Clone, Debug)]
pub struct QaExample {
    /// Already left-stripped by the caller, as `run_qa.py` does with `str.lstrip`.
    pub question: String,
    pub context: String,
    /// The first gold answer as (start, length) in code points of `context`;
    /// `None` for an unanswerable example (labelled with the CLS index) or at eval.
    pub answer: Option<(usize, usize)>,
}

#[derive(Clone, Copy, Debug)]
pub struct QaParams {
    /// Tokens per feature, special tokens included; every row is padded to it.
    pub max_length: usize,
    /// Tokens shared by two consecutive windows of a context (transformers' meaning,
    /// not the legacy `doc_stride`, which was the step between window starts).
    pub stride: usize,
    /// The question is cut to this many tokens before pairing.
    pub max_query_length: usize,
    /// Overrides the tokenizer's own pad id.
    pub pad_id: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fill `start_positions` / `end_positions`.
    Train,
    /// Fill `offset_mapping`; answers are ignored.
    Eval,
}

/// Row-major arrays of `len()` features of `max_length` tokens each.
#[derive(Debug, Default)]
pub struct QaFeatures {
    pub max_length: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    /// Index of the example each feature comes from.
    pub example_index: Vec<i64>,
    /// Train only: token positions of the answer, 0 (CLS) when the answer is not
    /// wholly inside the window or the example has none.
    pub start_positions: Vec<i64>,
    pub end_positions: Vec<i64>,
    /// Eval only: `[len, max_length, 2]` code-point offsets into the context, -1 for
    /// question, special and padding tokens.
    pub offset_mapping: Vec<i32>,
}

impl QaFeatures {
    pub fn len(&self) -> usize {
        self.example_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.example_index.is_empty()
    }

    fn append(&mut self, other: QaFeatures, example: usize) {
        self.example_index
            .extend(std::iter::repeat_n(example as i64, other.len()));
        self.input_ids.extend(other.input_ids);
        self.attention_mask.extend(other.attention_mask);
        self.token_type_ids.extend(other.token_type_ids);
        self.start_positions.extend(other.start_positions);
        self.end_positions.extend(other.end_positions);
        self.offset_mapping.extend(other.offset_mapping);
    }
}

/// A parsed tokenizer with its truncation and padding switched off (windows are cut
/// here) and the settings this module needs read once.
#[derive(Debug)]
pub struct QaTokenizer {
    tokenizer: Tokenizer,
    pad_id: Option<u32>,
    pad_type_id: u32,
    /// Special tokens the post-processor adds around a pair.
    added_pair: usize,
}

impl QaTokenizer {
    pub fn from_json(json: &str) -> Result<Self> {
        let mut tokenizer: Tokenizer = json
            .parse()
            .map_err(|e| CoreError::invalid(format!("invalid tokenizer JSON: {e}")))?;
        let padding = tokenizer.get_padding().cloned();
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| CoreError::invalid(format!("invalid tokenizer JSON: {e}")))?;
        let pad_id = padding.as_ref().map(|p| p.pad_id).or_else(|| {
            ["<pad>", "[PAD]"]
                .iter()
                .find_map(|t| tokenizer.token_to_id(t))
        });
        let added_pair = tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(true));
        Ok(QaTokenizer {
            pad_id,
            pad_type_id: padding.map_or(0, |p| p.pad_type_id),
            added_pair,
            tokenizer,
        })
    }

    /// The pad id of the padding settings, else of a `<pad>` or `[PAD]` token.
    pub fn default_pad_id(&self) -> Option<u32> {
        self.pad_id
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    fn pad_id(&self, requested: Option<u32>) -> Result<u32> {
        requested.or(self.pad_id).ok_or_else(|| {
            CoreError::InvalidArgument(
                "the tokenizer has no padding settings and no <pad> or [PAD] token; pass pad_id"
                    .into(),
            )
        })
    }
}

/// Parsed tokenizers by content: parsing the 250k-piece XLM-R tokenizer.json takes
/// about a second, hashing its 7.6 MB a few milliseconds. Keyed by (SipHash, length);
/// a 64-bit collision between the few JSONs a process uses is not a practical risk.
const CACHE_SIZE: usize = 4;
type CacheEntry = (u64, usize, Arc<QaTokenizer>);
static CACHE: Mutex<Vec<CacheEntry>> = Mutex::new(Vec::new());

/// The tokenizer for this JSON, parsed at most once while it stays among the
/// `CACHE_SIZE` most recently used.
pub fn cached_tokenizer(json: &str) -> Result<Arc<QaTokenizer>> {
    let mut hasher = DefaultHasher::new();
    json.hash(&mut hasher);
    let key = (hasher.finish(), json.len());
    {
        let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pos) = cache.iter().position(|e| (e.0, e.1) == key) {
            let entry = cache.remove(pos);
            let tokenizer = Arc::clone(&entry.2);
            cache.push(entry);
            return Ok(tokenizer);
        }
    }
    // Parsed outside the lock: two threads may both parse a new JSON, which is cheaper
    // than making every other tokenizer wait a second.
    let tokenizer = Arc::new(QaTokenizer::from_json(json)?);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= CACHE_SIZE {
        cache.remove(0);
    }
    cache.push((key.0, key.1, Arc::clone(&tokenizer)));
    Ok(tokenizer)
}

/// A context encoded once, however many questions share it.
struct EncodedContext {
    encoding: Encoding,
    /// Per token: code-point offsets into the context, whitespace trimmed.
    offsets: Vec<(i32, i32)>,
}

/// Features for a batch: windows, ids, labels (`Mode::Train`) or offsets
/// (`Mode::Eval`). `parallel` off runs on the calling thread only (forked workers).
pub fn prepare_features(
    tok: &QaTokenizer,
    examples: &[QaExample],
    params: &QaParams,
    mode: Mode,
    parallel: bool,
) -> Result<QaFeatures> {
    let room = context_room(tok, params)?;
    let pad_id = tok.pad_id(params.pad_id)?;
    let answers = examples
        .iter()
        .enumerate()
        .map(|(i, ex)| validate(i, ex, mode))
        .collect::<Result<Vec<_>>>()?;

    // Each distinct context is tokenized once (SQuAD has about five questions per
    // paragraph).
    let mut context_slot: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<(usize, &str)> = Vec::new();
    let slots: Vec<usize> = examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            *context_slot.entry(ex.context.as_str()).or_insert_with(|| {
                unique.push((i, ex.context.as_str()));
                unique.len() - 1
            })
        })
        .collect();
    let contexts = map_items(&unique, parallel, |_, &(i, context)| {
        guarded(i, || encode_context(tok, i, context))
    })?;

    let per_example = map_items(examples, parallel, |i, ex| {
        guarded(i, || {
            let question = encode_question(tok, i, &ex.question, params)?;
            example_features(
                tok,
                i,
                &question,
                &contexts[slots[i]],
                answers[i],
                room,
                pad_id,
                params,
                mode,
            )
        })
    })?;

    let mut out = QaFeatures {
        max_length: params.max_length,
        ..QaFeatures::default()
    };
    for (i, features) in per_example.into_iter().enumerate() {
        out.append(features, i);
    }
    Ok(out)
}

/// Rows are allocated at max_length: a typo such as 10**12 must be an error, not an
/// allocation failure that aborts the process.
const MAX_LENGTH_LIMIT: usize = 1 << 20;

/// Context tokens per window when the question has `max_query_length` tokens: checked
/// once up front, so no example can hit the tokenizer's `stride < max_len` assertion.
fn context_room(tok: &QaTokenizer, params: &QaParams) -> Result<usize> {
    if params.max_length > MAX_LENGTH_LIMIT {
        return Err(CoreError::InvalidArgument(format!(
            "max_length {} is larger than {MAX_LENGTH_LIMIT}",
            params.max_length
        )));
    }
    if params.max_query_length == 0 {
        return Err(CoreError::InvalidArgument(
            "max_query_length must be at least 1, got 0".into(),
        ));
    }
    let room = params
        .max_length
        .saturating_sub(tok.added_pair + params.max_query_length);
    if room <= params.stride {
        return Err(CoreError::InvalidArgument(format!(
            "stride ({}) must be smaller than max_length ({}) - special tokens ({}) - \
             max_query_length ({}) = {}",
            params.stride,
            params.max_length,
            tok.added_pair,
            params.max_query_length,
            params.max_length as i64 - tok.added_pair as i64 - params.max_query_length as i64
        )));
    }
    Ok(room)
}

/// Checks one example and returns its answer as a code-point span with whitespace at
/// either end left out (labels then never depend on where a tokenizer puts spaces).
fn validate(index: usize, ex: &QaExample, mode: Mode) -> Result<Option<(usize, usize)>> {
    if ex.question.trim().is_empty() {
        return Err(example_error(
            index,
            format!(
                "the question is empty or only whitespace: {:?}",
                ex.question
            ),
        ));
    }
    if ex.context.trim().is_empty() {
        return Err(example_error(
            index,
            format!("the context is empty or only whitespace: {:?}", ex.context),
        ));
    }
    let (start, len) = match (mode, ex.answer) {
        (Mode::Eval, _) | (Mode::Train, None) => return Ok(None),
        (Mode::Train, Some(answer)) => answer,
    };
    let n_chars = ex.context.chars().count();
    if start >= n_chars {
        return Err(example_error(
            index,
            format!("answer start {start} is beyond the context ({n_chars} code points)"),
        ));
    }
    if len == 0 {
        return Err(example_error(
            index,
            format!("the answer text at {start} is empty"),
        ));
    }
    let end = start.saturating_add(len);
    if end > n_chars {
        return Err(example_error(
            index,
            format!(
                "answer span [{start}, {end}) runs past the end of the context \
                 ({n_chars} code points)"
            ),
        ));
    }
    let chars: Vec<char> = ex.context.chars().skip(start).take(len).collect();
    let lead = chars.iter().take_while(|c| c.is_whitespace()).count();
    if lead == len {
        return Err(example_error(
            index,
            format!(
                "the answer text at {start} is only whitespace: {:?}",
                String::from_iter(chars)
            ),
        ));
    }
    let trail = chars.iter().rev().take_while(|c| c.is_whitespace()).count();
    Ok(Some((start + lead, end - trail)))
}

fn encode_context(tok: &QaTokenizer, index: usize, context: &str) -> Result<EncodedContext> {
    let encoding = tok
        .tokenizer
        .encode(context, false)
        .map_err(|e| example_error(index, format!("tokenizing the context failed: {e}")))?;
    if encoding.is_empty() {
        return Err(example_error(
            index,
            format!("the context has no tokens: {context:?}"),
        ));
    }
    let offsets = char_offsets(context, encoding.get_offsets());
    Ok(EncodedContext { encoding, offsets })
}

fn encode_question(
    tok: &QaTokenizer,
    index: usize,
    question: &str,
    params: &QaParams,
) -> Result<Encoding> {
    // Question offsets are never read: skip computing them.
    let mut encoding = tok
        .tokenizer
        .encode_fast(question, false)
        .map_err(|e| example_error(index, format!("tokenizing the question failed: {e}")))?;
    if encoding.is_empty() {
        return Err(example_error(
            index,
            format!("the question has no tokens: {question:?}"),
        ));
    }
    encoding.truncate(params.max_query_length, 0, TruncationDirection::Right);
    encoding.take_overflowing();
    Ok(encoding)
}

/// The features of one example: the context cut by the tokenizer's own `truncate`
/// (so windows are exactly those of `truncation="only_second"` with this `stride`),
/// each window paired with the question by the tokenizer's post-processor.
#[allow(clippy::too_many_arguments)]
fn example_features(
    tok: &QaTokenizer,
    index: usize,
    question: &Encoding,
    context: &EncodedContext,
    answer: Option<(usize, usize)>,
    context_room: usize,
    pad_id: u32,
    params: &QaParams,
    mode: Mode,
) -> Result<QaFeatures> {
    // The question is usually shorter than max_query_length: its windows get the room.
    let room = context_room + params.max_query_length - question.len();
    let mut first = context.encoding.clone();
    first.truncate(room, params.stride, TruncationDirection::Right);
    let rest = first.take_overflowing();

    let max_length = params.max_length;
    let mut out = QaFeatures::default();
    // Windows start room - stride tokens apart, as `Encoding::truncate` cuts them.
    let mut window_start = 0;
    for window in std::iter::once(first).chain(rest) {
        let n_context = window.len();
        let pair = tok
            .tokenizer
            .post_process(question.clone(), Some(window), true)
            .map_err(|e| {
                example_error(index, format!("pairing question and context failed: {e}"))
            })?;
        if pair.len() > max_length {
            return Err(example_error(
                index,
                format!(
                    "a feature has {} tokens, more than max_length {max_length}",
                    pair.len()
                ),
            ));
        }
        let sequence_ids = pair.get_sequence_ids();
        let first_pos = sequence_ids
            .iter()
            .position(|s| *s == Some(1))
            .filter(|&p| {
                sequence_ids
                    .get(p..p + n_context)
                    .is_some_and(|run| run.iter().all(|s| *s == Some(1)))
            })
            .ok_or_else(|| {
                example_error(
                    index,
                    "the post-processor does not keep the context as one run of tokens",
                )
            })?;
        let offsets = context
            .offsets
            .get(window_start..window_start + n_context)
            .ok_or_else(|| example_error(index, "a window runs past the context"))?;

        let pad = max_length - pair.len();
        out.input_ids
            .extend(pair.get_ids().iter().map(|&x| x as i64));
        out.input_ids
            .extend(std::iter::repeat_n(pad_id as i64, pad));
        out.token_type_ids
            .extend(pair.get_type_ids().iter().map(|&x| x as i64));
        out.token_type_ids
            .extend(std::iter::repeat_n(tok.pad_type_id as i64, pad));
        out.attention_mask
            .extend(pair.get_attention_mask().iter().map(|&x| x as i64));
        out.attention_mask.extend(std::iter::repeat_n(0, pad));
        match mode {
            Mode::Train => {
                let (start, end) = answer
                    .and_then(|span| label(offsets, span))
                    .map_or((0, 0), |(s, e)| (first_pos + s, first_pos + e));
                out.start_positions.push(start as i64);
                out.end_positions.push(end as i64);
            }
            Mode::Eval => {
                let row = out.offset_mapping.len();
                out.offset_mapping.resize(row + 2 * max_length, -1);
                for (j, &(s, e)) in offsets.iter().enumerate() {
                    let at = row + 2 * (first_pos + j);
                    out.offset_mapping[at] = s;
                    out.offset_mapping[at + 1] = e;
                }
            }
        }
        out.example_index.push(index as i64);
        window_start += n_context - params.stride.min(n_context);
    }
    Ok(out)
}

/// Positions (within the window's context tokens) of the first and last token of
/// `answer`, or `None` when it is not wholly inside the window. The same scans as
/// `run_qa.py`, except that the start scan stops at the last context token and an
/// end before the start is swapped with it.
fn label(offsets: &[(i32, i32)], answer: (usize, usize)) -> Option<(usize, usize)> {
    let (a_start, a_end) = (answer.0 as i32, answer.1 as i32);
    let (first, last) = (offsets.first()?, offsets.last()?);
    if !(first.0 <= a_start && last.1 >= a_end) {
        return None;
    }
    let start = offsets
        .iter()
        .position(|o| o.0 > a_start)
        .unwrap_or(offsets.len())
        - 1;
    let end = offsets
        .iter()
        .rposition(|o| o.1 < a_end)
        .map_or(0, |i| i + 1);
    // Tokens sharing offsets (a lone Metaspace "▁" aligned with the letter after it,
    // one character normalised into several tokens) put the start scan on the last of
    // them and the end scan on the first: the answer spans from the first to the last.
    Some((start.min(end), start.max(end)))
}

/// Code-point offsets of each token into `text` from byte offsets into it, with
/// whitespace at either end trimmed; an all-whitespace token becomes the empty span
/// at its end. One pass over the text builds the byte-to-code-point table.
fn char_offsets(text: &str, byte_offsets: &[(usize, usize)]) -> Vec<(i32, i32)> {
    let mut char_at = vec![0i32; text.len() + 1];
    let mut n = 0;
    for (b, ch) in text.char_indices() {
        char_at[b..b + ch.len_utf8()].fill(n);
        n += 1;
    }
    char_at[text.len()] = n;
    byte_offsets
        .iter()
        .map(|&(s, e)| {
            let (s, e) = trim_whitespace(text, s.min(text.len()), e.min(text.len()));
            (char_at[s], char_at[e])
        })
        .collect()
}

fn trim_whitespace(text: &str, start: usize, end: usize) -> (usize, usize) {
    let Some(piece) = text.get(start..end) else {
        return (start, end);
    };
    let trimmed_start = start + (piece.len() - piece.trim_start().len());
    let trimmed_end = start + piece.trim_end().len();
    if trimmed_start >= trimmed_end {
        (end, end)
    } else {
        (trimmed_start, trimmed_end)
    }
}

/// `f(index, item)` over `items` in order, on rayon's pool or the calling thread; the
/// first error (by position) wins.
fn map_items<T: Sync, R: Send>(
    items: &[T],
    parallel: bool,
    f: impl Fn(usize, &T) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    if parallel {
        items.par_iter().enumerate().map(|(i, x)| f(i, x)).collect()
    } else {
        items.iter().enumerate().map(|(i, x)| f(i, x)).collect()
    }
}

/// Runs `f`, turning a panic inside the tokenizer into an error naming the example.
fn guarded<R>(index: usize, f: impl FnOnce() -> Result<R>) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(example_error(
            index,
            "the tokenizer panicked on this example",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer over `words`, split on whitespace, with a BERT-style
    /// pair template `[CLS] A [SEP] B [SEP]` (3 added tokens).
    fn word_tokenizer(words: &[&str], metaspace: bool) -> QaTokenizer {
        let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for w in words {
            let w = if metaspace {
                format!("▁{w}")
            } else {
                w.to_string()
            };
            if !vocab.contains(&w) {
                vocab.push(w);
            }
        }
        let vocab_json = vocab
            .iter()
            .enumerate()
            .map(|(i, w)| format!("\"{}\": {i}", w.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(", ");
        let pre = if metaspace {
            r#"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#
        } else {
            r#"{"type": "WhitespaceSplit"}"#
        };
        let json = format!(
            r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
               "normalizer": null, "pre_tokenizer": {pre},
               "post_processor": {{"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}},
               "decoder": null,
               "model": {{"type": "WordLevel", "vocab": {{{vocab_json}}}, "unk_token": "[UNK]"}}}}"#
        );
        QaTokenizer::from_json(&json).expect("test tokenizer JSON")
    }

    fn params(max_length: usize, stride: usize, max_query_length: usize) -> QaParams {
        QaParams {
            max_length,
            stride,
            max_query_length,
            pad_id: None,
        }
    }

    fn example(question: &str, context: &str, answer: Option<&str>) -> QaExample {
        let answer = answer.map(|a| {
            let byte = context.find(a).expect("answer in context");
            (context[..byte].chars().count(), a.chars().count())
        });
        QaExample {
            question: question.into(),
            context: context.into(),
            answer,
        }
    }

    const CONTEXT: &str = "a b c d e f g h i j";

    fn letters() -> QaTokenizer {
        word_tokenizer(
            &["q", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
            false,
        )
    }

    #[test]
    fn windows_overlap_by_stride_and_rows_are_padded() {
        // 3 specials + 1 question token leave 4 context tokens per window; stride 2
        // means consecutive windows share 2 tokens: a-d, c-f, e-h, g-j.
        let tok = letters();
        let f = prepare_features(
            &tok,
            &[example("q", CONTEXT, None)],
            &params(8, 2, 1),
            Mode::Eval,
            false,
        )
        .unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f.example_index, vec![0, 0, 0, 0]);
        let a = tok.tokenizer.token_to_id("a").unwrap() as i64;
        let c = tok.tokenizer.token_to_id("c").unwrap() as i64;
        assert_eq!(&f.input_ids[..8], &[2, 4, 3, a, a + 1, a + 2, a + 3, 3]);
        assert_eq!(f.input_ids[8 + 3], c);
        // The last window (g h i j) is full; a shorter one would be padded.
        assert_eq!(&f.offset_mapping[..8], &[-1, -1, -1, -1, -1, -1, 0, 1]);
        assert_eq!(&f.offset_mapping[3 * 16 + 6..3 * 16 + 8], &[12, 13]);
        assert_eq!(&f.attention_mask[..8], &[1; 8]);
    }

    #[test]
    fn windows_match_the_tokenizers_own_truncation() {
        // Reference: full encodings through `post_process` with truncation only_second,
        // which is what `encode` did before tokenizers 0.23.1. Since then `encode` with
        // truncation stops tokenizing after max_length tokens, so its overflowing
        // windows miss the rest of the context (huggingface/tokenizers#2091); the
        // Python package 0.23.3 does not, and neither may we.
        let tok = letters();
        let q = "q";
        for (max_length, stride) in [(6, 0), (7, 1), (8, 3), (9, 4), (16, 2)] {
            let f = prepare_features(
                &tok,
                &[example(q, CONTEXT, None)],
                &params(max_length, stride, 1),
                Mode::Train,
                false,
            )
            .unwrap();
            let mut reference = tok.tokenizer.clone();
            let question = reference.encode(q, false).unwrap();
            let context = reference.encode(CONTEXT, false).unwrap();
            reference
                .with_truncation(Some(tokenizers::TruncationParams {
                    max_length,
                    stride,
                    strategy: tokenizers::TruncationStrategy::OnlySecond,
                    ..Default::default()
                }))
                .unwrap();
            let mut pair = reference
                .post_process(question, Some(context), true)
                .unwrap();
            let windows: Vec<Encoding> = std::iter::once(pair.clone())
                .chain(pair.take_overflowing())
                .collect();
            assert_eq!(
                f.len(),
                windows.len(),
                "max_length {max_length} stride {stride}"
            );
            for (row, w) in windows.iter().enumerate() {
                let ids: Vec<i64> = w.get_ids().iter().map(|&x| x as i64).collect();
                let at = row * max_length;
                assert_eq!(&f.input_ids[at..at + ids.len()], &ids[..]);
            }
        }
    }

    #[test]
    fn truncation_in_the_tokenizer_json_is_ignored() {
        // Left on, the tokenizer's own truncation would cut every context to its
        // max_length before the windows are made.
        let mut truncating = letters().tokenizer.clone();
        truncating
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: 4,
                ..Default::default()
            }))
            .unwrap();
        let tok = QaTokenizer::from_json(&truncating.to_string(false).unwrap()).unwrap();
        let f = prepare_features(
            &tok,
            &[example("q", CONTEXT, Some("j"))],
            &params(8, 2, 1),
            Mode::Train,
            false,
        )
        .unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!((f.start_positions[3], f.end_positions[3]), (6, 6));
    }

    #[test]
    fn labels_inside_across_and_at_the_end_of_windows() {
        let tok = letters();
        let p = params(8, 2, 1); // windows a-d, c-f, e-h, g-j; context starts at 3
        let label_of = |answer: &str| {
            let f = prepare_features(
                &tok,
                &[example("q", CONTEXT, Some(answer))],
                &p,
                Mode::Train,
                false,
            )
            .unwrap();
            f.start_positions
                .into_iter()
                .zip(f.end_positions)
                .collect::<Vec<_>>()
        };
        // "b c" lies in window 0 only.
        assert_eq!(label_of("b c"), vec![(4, 5), (0, 0), (0, 0), (0, 0)]);
        // "d e" crosses the end of window 0 and the start of window 2: CLS there.
        assert_eq!(label_of("d e"), vec![(0, 0), (4, 5), (0, 0), (0, 0)]);
        // "f" is the last context token of window 1: run_qa.py's scan would run past it.
        assert_eq!(label_of("f")[1], (6, 6));
        assert_eq!(label_of("j")[3], (6, 6));
    }

    #[test]
    fn long_questions_are_cut_to_max_query_length() {
        let tok = letters();
        let f = prepare_features(
            &tok,
            &[example("q q q q q", "a b", Some("b"))],
            &params(16, 2, 3),
            Mode::Train,
            false,
        )
        .unwrap();
        assert_eq!(&f.input_ids[..8], &[2, 4, 4, 4, 3, 5, 6, 3]);
        assert_eq!((f.start_positions[0], f.end_positions[0]), (6, 6));
    }

    #[test]
    fn offsets_are_trimmed_code_points() {
        // Metaspace offsets cover the space before each word; the no-break space and
        // the multi-byte letters check the byte-to-code-point conversion.
        let words = ["q", "é", "ß\u{a0}x", "東京"];
        let tok = word_tokenizer(&words, true);
        let context = "é  ß\u{a0}x 東京";
        let f = prepare_features(
            &tok,
            &[example("q", context, Some("東京"))],
            &params(16, 2, 2),
            Mode::Eval,
            false,
        )
        .unwrap();
        // Tokens: "▁é", "▁" (the second space, [UNK]), "▁ß\u{a0}x", "▁東京".
        assert_eq!(&f.offset_mapping[6..14], &[0, 1, 2, 2, 3, 6, 7, 9]);
        let f = prepare_features(
            &tok,
            &[example("q", context, Some(" 東京"))],
            &params(16, 2, 2),
            Mode::Train,
            false,
        )
        .unwrap();
        assert_eq!((f.start_positions[0], f.end_positions[0]), (6, 6));
    }

    #[test]
    fn tokens_sharing_offsets_never_give_an_end_before_the_start() {
        // "▁" and "a" both cover the letter a, as Metaspace aligns a lone "▁".
        assert_eq!(label(&[(0, 1), (0, 1), (2, 3)], (0, 1)), Some((0, 1)));
        assert_eq!(label(&[(0, 1), (2, 3)], (0, 1)), Some((0, 0)));
        assert_eq!(label(&[(0, 1), (2, 3)], (0, 3)), Some((0, 1)));
        assert_eq!(label(&[(2, 3)], (0, 3)), None);
    }

    #[test]
    fn char_offsets_handle_whitespace_only_tokens() {
        assert_eq!(
            char_offsets(" ab ", &[(0, 1), (0, 3), (3, 4)]),
            vec![(1, 1), (1, 3), (4, 4)]
        );
        assert_eq!(char_offsets("ü b", &[(0, 2), (2, 4)]), vec![(0, 1), (2, 3)]);
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_example() {
        let tok = letters();
        let p = params(8, 2, 1);
        let run = |ex: QaExample| {
            prepare_features(&tok, &[example("q", "a", None), ex], &p, Mode::Train, false)
                .unwrap_err()
                .to_string()
        };
        let bad = |question: &str, context: &str, answer: Option<(usize, usize)>| QaExample {
            question: question.into(),
            context: context.into(),
            answer,
        };
        assert_eq!(
            run(bad("q", "a b", Some((5, 1)))),
            "example 1: answer start 5 is beyond the context (3 code points)"
        );
        assert!(run(bad("q", "a b", Some((2, 4)))).contains("[2, 6) runs past the end"));
        assert!(run(bad("", "a", None)).starts_with("example 1: the question is empty"));
        assert!(run(bad("q", " \n", None)).starts_with("example 1: the context is empty"));
        assert!(run(bad("q", "a b", Some((1, 1)))).contains("only whitespace"));
        assert!(run(bad("q", "a b", Some((1, 0)))).contains("is empty"));

        let err = prepare_features(
            &tok,
            &[example("q", "a", None)],
            &params(8, 4, 1),
            Mode::Train,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("stride (4) must be smaller than max_length (8)"),
            "{err}"
        );
        let err = prepare_features(&tok, &[], &params(1 << 30, 2, 1), Mode::Eval, false)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "max_length 1073741824 is larger than 1048576");
        assert!(QaTokenizer::from_json("{")
            .unwrap_err()
            .to_string()
            .starts_with("invalid tokenizer JSON"));
    }

    #[test]
    fn shared_contexts_and_parallel_runs_give_the_same_features() {
        let tok = letters();
        let p = params(8, 2, 1);
        let batch: Vec<QaExample> = ["b", "d e", "j", "a b c"]
            .iter()
            .map(|a| example("q", CONTEXT, Some(a)))
            .collect();
        let together = prepare_features(&tok, &batch, &p, Mode::Train, true).unwrap();
        for (i, ex) in batch.iter().enumerate() {
            let alone =
                prepare_features(&tok, std::slice::from_ref(ex), &p, Mode::Train, false).unwrap();
            let rows: Vec<usize> = (0..together.len())
                .filter(|&r| together.example_index[r] == i as i64)
                .collect();
            let starts: Vec<i64> = rows.iter().map(|&r| together.start_positions[r]).collect();
            assert_eq!(starts, alone.start_positions);
        }
    }

    #[test]
    fn the_cache_parses_each_json_once() {
        let json = letters().tokenizer.to_string(false).unwrap();
        let a = cached_tokenizer(&json).unwrap();
        let b = cached_tokenizer(&json).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.pad_id(None).unwrap(), 0);
    }
}
