//! Python bindings of the robust-xlt core: thin wrappers only.
//!
//! Every binding copies and validates its inputs into owned Rust values while
//! holding the GIL, then runs the batch through [`without_gil`]: the GIL is
//! released and rayon spreads the texts over the cores.

pub mod align;
pub mod casing;
pub mod error;
pub mod lang;
pub mod lexicon;
pub mod offsets;
pub mod perturb;
mod py_align;
mod py_qa;
pub mod qa;
pub mod rng;
pub mod segment;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::error::CoreError;

pyo3::create_exception!(
    robust_xlt,
    FormatError,
    PyValueError,
    "An input file does not follow its format; the message names the path and line."
);

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        let message = err.to_string();
        match err {
            CoreError::InvalidArgument(_) => PyValueError::new_err(message),
            CoreError::FileNotFound { .. } => PyFileNotFoundError::new_err(message),
            CoreError::Malformed { .. } => FormatError::new_err(message),
            CoreError::Io { .. } => PyOSError::new_err(message),
        }
    }
}

/// Runs batch work with the GIL released. Work must own its inputs.
fn without_gil<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, CoreError> + Send,
    T: Send,
{
    py.detach(work).map_err(PyErr::from)
}

#[pymodule]
mod _core {
    use std::path::PathBuf;
    use std::sync::Arc;

    use pyo3::prelude::*;
    use rayon::prelude::*;

    use super::without_gil;
    use crate::error::CoreError;
    use crate::lang::Lang;
    use crate::lexicon::{Format, Lexicon as CoreLexicon, WordSet as CoreWordSet};
    use crate::offsets::CharOffsets;
    use crate::perturb::{
        self as core_perturb, CandidateOptions, Classified, Mode, PerturbOptions, PlannedEdit,
    };
    use crate::segment::{segment, ByteSpan, WordLookup};

    #[pymodule_export]
    use super::FormatError;

    /// Version of the compiled core, for diagnosing mismatched builds.
    #[pyfunction]
    fn core_version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// The canonical code of a language code (ISO 639-1 or 639-3), e.g.
    /// 'eng' -> 'en', 'cmn' -> 'zh'. An unknown code raises ValueError.
    #[pyfunction]
    fn normalize_lang(code: &str) -> PyResult<&'static str> {
        Ok(Lang::parse(code)?.code())
    }

    /// Every canonical language code the core knows.
    #[pyfunction]
    fn known_languages() -> Vec<&'static str> {
        Lang::all_codes()
    }

    /// A multilingual lexicon: synonyms within a language, translations across.
    /// Immutable, and shared across threads without copying.
    #[pyclass(frozen, module = "robust_xlt")]
    pub struct Lexicon {
        inner: Arc<CoreLexicon>,
    }

    #[pymethods]
    impl Lexicon {
        /// Loads OMW tab files (*.tab), MUSE dictionaries (SRC-TGT.txt) and
        /// robust-xlt TSV files (*.tsv: lang, word, lang, word), in parallel.
        /// `format` ('omw', 'muse', 'tsv') overrides detection for every file.
        #[staticmethod]
        #[pyo3(signature = (paths, format=None))]
        fn from_files(
            py: Python<'_>,
            paths: Vec<PathBuf>,
            format: Option<&str>,
        ) -> PyResult<Lexicon> {
            let format = format.map(Format::parse).transpose()?;
            let files: Vec<(PathBuf, Option<Format>)> =
                paths.into_iter().map(|p| (p, format)).collect();
            let lexicon = without_gil(py, move || CoreLexicon::from_files(&files))?;
            Ok(Lexicon {
                inner: Arc::new(lexicon),
            })
        }

        /// Synonyms of `word` in its language `lang`, in the lexicon's spelling.
        fn synonyms(&self, word: &str, lang: &str) -> PyResult<Vec<String>> {
            let lang = Lang::parse(lang)?;
            Ok(self
                .inner
                .related_in(word, lang, lang)
                .into_iter()
                .map(String::from)
                .collect())
        }

        /// Translations of `word` from `src_lang` into `tgt_lang`.
        fn translations(
            &self,
            word: &str,
            src_lang: &str,
            tgt_lang: &str,
        ) -> PyResult<Vec<String>> {
            let (src, tgt) = (Lang::parse(src_lang)?, Lang::parse(tgt_lang)?);
            Ok(self
                .inner
                .related_in(word, src, tgt)
                .into_iter()
                .map(String::from)
                .collect())
        }

        /// Canonical codes of the languages with at least one word, sorted.
        fn languages(&self) -> Vec<&'static str> {
            self.inner.languages().into_iter().map(Lang::code).collect()
        }

        /// Number of distinct words of `lang`.
        fn word_count(&self, lang: &str) -> PyResult<usize> {
            Ok(self.inner.word_count(Lang::parse(lang)?))
        }

        /// Lines left out while loading, as (path, line, reason): OMW rows with
        /// an empty lemma.
        #[getter]
        fn skipped_lines(&self) -> Vec<(String, usize, String)> {
            self.inner
                .skipped_lines()
                .iter()
                .map(|s| (s.path.display().to_string(), s.line, s.reason.clone()))
                .collect()
        }

        /// Number of multi-word lemmas (kept as replacements, never looked up).
        #[getter]
        fn multiword_entries(&self) -> usize {
            self.inner.multiword_entries()
        }

        fn __len__(&self) -> usize {
            self.inner.len()
        }

        fn __repr__(&self) -> String {
            format!(
                "Lexicon({} words in {} languages)",
                self.inner.len(),
                self.inner.languages().len()
            )
        }
    }

    /// A set of words (stop words), compared ignoring case.
    #[pyclass(frozen, module = "robust_xlt")]
    pub struct WordSet {
        inner: Arc<CoreWordSet>,
    }

    #[pymethods]
    impl WordSet {
        #[new]
        fn new(words: Vec<String>) -> WordSet {
            WordSet {
                inner: Arc::new(CoreWordSet::new(words)),
            }
        }

        fn __len__(&self) -> usize {
            self.inner.len()
        }

        fn __contains__(&self, word: &str) -> bool {
            self.inner.contains_key(&crate::lexicon::word_key(word))
        }
    }

    /// One replacement made in a text. Spans are code-point offsets.
    #[pyclass(frozen, eq, skip_from_py_object, module = "robust_xlt")]
    #[derive(Clone, PartialEq)]
    pub struct Edit {
        #[pyo3(get)]
        original_span: (usize, usize),
        #[pyo3(get)]
        new_span: (usize, usize),
        #[pyo3(get)]
        original: String,
        #[pyo3(get)]
        replacement: String,
        lang: Lang,
    }

    #[pymethods]
    impl Edit {
        #[getter]
        fn lang(&self) -> &'static str {
            self.lang.code()
        }

        fn __repr__(&self) -> String {
            format!(
                "Edit({:?} {:?} -> {:?} {:?} [{}])",
                self.original_span,
                self.original,
                self.new_span,
                self.replacement,
                self.lang.code()
            )
        }
    }

    /// A perturbed text, its edits, the map between the two texts' offsets, and
    /// the original's words counted by class: `word_count` = `stopword_count` +
    /// `protected_count` (non-stop words overlapping a protected span) +
    /// `no_candidate_count` + `eligible_count`; `len(edits)` words changed.
    /// From `apply_edits`, which has no lexicon, only `word_count` is set (the
    /// words without a dictionary) and the other four counts are 0.
    #[pyclass(frozen, module = "robust_xlt")]
    pub struct Perturbation {
        #[pyo3(get)]
        text: String,
        #[pyo3(get)]
        edits: Vec<Edit>,
        original_len: usize,
        #[pyo3(get)]
        word_count: usize,
        #[pyo3(get)]
        stopword_count: usize,
        #[pyo3(get)]
        protected_count: usize,
        #[pyo3(get)]
        no_candidate_count: usize,
        #[pyo3(get)]
        eligible_count: usize,
    }

    impl Perturbation {
        fn spans(&self, forward: bool) -> Vec<(ByteSpan, ByteSpan)> {
            self.edits
                .iter()
                .map(|e| {
                    if forward {
                        (e.original_span, e.new_span)
                    } else {
                        (e.new_span, e.original_span)
                    }
                })
                .collect()
        }

        fn map(&self, start: usize, end: usize, forward: bool) -> PyResult<(usize, usize)> {
            let len = if forward {
                self.original_len
            } else {
                self.text.chars().count()
            };
            if start > end || end > len {
                return Err(CoreError::invalid(format!(
                    "span ({start}, {end}) is not inside a text of {len} characters"
                ))
                .into());
            }
            let spans = self.spans(forward);
            let (from, to) = (
                core_perturb::map_position(&spans, start, false),
                core_perturb::map_position(&spans, end, true),
            );
            // An empty span at a deleted word maps after it as a start and before it
            // as an end: it grows to cover the deleted word, as a span cutting an
            // edited word grows to cover its replacement.
            Ok((from.min(to), from.max(to)))
        }
    }

    #[pymethods]
    impl Perturbation {
        /// Carries a code-point span of the original text onto the perturbed
        /// text. A span that cuts an edited word grows to cover its
        /// replacement; a span outside every edit maps onto the same characters.
        fn map_span(&self, start: usize, end: usize) -> PyResult<(usize, usize)> {
            self.map(start, end, true)
        }

        /// The inverse of `map_span`: perturbed-text span to original span.
        fn map_span_back(&self, start: usize, end: usize) -> PyResult<(usize, usize)> {
            self.map(start, end, false)
        }

        fn __repr__(&self) -> String {
            format!(
                "Perturbation({:?}, {} edit(s) of {} eligible word(s))",
                self.text,
                self.edits.len(),
                self.eligible_count
            )
        }
    }

    fn to_python(original: &str, perturbed: core_perturb::Perturbed) -> Perturbation {
        let (before, after) = (
            CharOffsets::new(original),
            CharOffsets::new(&perturbed.text),
        );
        let span = |offsets: &CharOffsets, (start, end): ByteSpan| {
            (offsets.to_char(start), offsets.to_char(end))
        };
        // Edit has the size of the core's edit, so std's in-place collect can
        // reuse the core's allocation.
        let edits = perturbed
            .edits
            .into_iter()
            .map(|e| Edit {
                original_span: span(&before, e.original_span),
                new_span: span(&after, e.new_span),
                original: e.original,
                replacement: e.replacement,
                lang: e.lang,
            })
            .collect();
        let counts = perturbed.counts;
        Perturbation {
            text: perturbed.text,
            edits,
            original_len: original.chars().count(), // no table needed for a count
            word_count: counts.words,
            stopword_count: counts.stopwords,
            protected_count: counts.protected,
            no_candidate_count: counts.no_candidate,
            eligible_count: counts.eligible,
        }
    }

    /// Code-point spans to byte spans, validated against each text.
    fn protect_to_bytes(
        texts: &[String],
        protect: Option<Vec<Vec<(usize, usize)>>>,
    ) -> PyResult<Vec<Vec<ByteSpan>>> {
        let Some(protect) = protect else {
            return Ok(Vec::new());
        };
        if protect.len() != texts.len() {
            return Err(CoreError::invalid(format!(
                "protect has {} entries for {} texts",
                protect.len(),
                texts.len()
            ))
            .into());
        }
        texts
            .iter()
            .zip(protect)
            .enumerate()
            .map(|(i, (text, spans))| {
                let offsets = CharOffsets::new(text);
                spans
                    .into_iter()
                    .map(|(s, e)| {
                        if s > e {
                            return Err(CoreError::invalid(format!("text {i}: protected span ({s}, {e}) ends before it starts")));
                        }
                        let bytes = (offsets.to_byte(s), offsets.to_byte(e));
                        match bytes {
                            (Ok(bs), Ok(be)) => Ok((bs, be)),
                            _ => Err(CoreError::invalid(format!(
                                "text {i}: protected span ({s}, {e}) lies outside its {} characters",
                                offsets.len_chars()
                            ))),
                        }
                    })
                    .collect::<Result<Vec<_>, CoreError>>()
                    .map_err(PyErr::from)
            })
            .collect()
    }

    fn parse_targets(target_langs: Option<Vec<String>>) -> PyResult<Vec<Lang>> {
        Ok(target_langs
            .unwrap_or_default()
            .iter()
            .map(|code| Lang::parse(code))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Code-point spans of the words of each text. Scripts written without
    /// spaces are split by longest match against the lexicon's words of
    /// `lang` and the given stop words, with the fallback in the docs.
    #[pyfunction]
    #[pyo3(signature = (texts, lang, lexicon=None, stopwords=None))]
    fn segment_words(
        py: Python<'_>,
        texts: Vec<String>,
        lang: &str,
        lexicon: Option<&Lexicon>,
        stopwords: Option<&WordSet>,
    ) -> PyResult<Vec<Vec<(usize, usize)>>> {
        let lang = Lang::parse(lang)?;
        let lexicon = lexicon.map(|l| Arc::clone(&l.inner));
        let stopwords = stopwords.map(|s| Arc::clone(&s.inner));
        without_gil(py, move || {
            let words = lexicon.as_ref().map(|l| l.words(lang));
            let mut dictionaries: Vec<&dyn WordLookup> = Vec::new();
            if let Some(words) = &words {
                dictionaries.push(words);
            }
            if let Some(stopwords) = &stopwords {
                dictionaries.push(stopwords.as_ref());
            }
            Ok(texts
                .par_iter()
                .map(|text| {
                    let offsets = CharOffsets::new(text);
                    segment(text, &dictionaries)
                        .into_iter()
                        .map(|(s, e)| (offsets.to_char(s), offsets.to_char(e)))
                        .collect()
                })
                .collect())
        })
    }

    /// Perturbs a batch of texts with word substitutions from `lexicon`. Each
    /// eligible word (not a stop word, outside `protect`, with a candidate) is
    /// changed with probability `rate`, at most `max_edits` per text. Text `i`
    /// draws from the generator of (seed, i) alone.
    #[pyfunction]
    #[pyo3(signature = (texts, lang, lexicon, *, mode, rate, seed, target_langs=None, protect=None, max_edits=None, stopwords=None))]
    #[allow(clippy::too_many_arguments)]
    fn perturb(
        py: Python<'_>,
        texts: Vec<String>,
        lang: &str,
        lexicon: &Lexicon,
        mode: &str,
        rate: f64,
        seed: i128,
        target_langs: Option<Vec<String>>,
        protect: Option<Vec<Vec<(usize, usize)>>>,
        max_edits: Option<i64>,
        stopwords: Option<&WordSet>,
    ) -> PyResult<Vec<Perturbation>> {
        let seed = u64::try_from(seed)
            .map_err(|_| CoreError::invalid(format!("seed must lie in [0, 2**64), got {seed}")))?;
        let max_edits = max_edits
            .map(|m| {
                usize::try_from(m)
                    .map_err(|_| CoreError::invalid(format!("max_edits must be >= 0, got {m}")))
            })
            .transpose()?;
        let lang = Lang::parse(lang)?;
        let mode = Mode::parse(mode)?;
        let targets = parse_targets(target_langs)?;
        core_perturb::check_rate(rate)?;
        let protect = protect_to_bytes(&texts, protect)?;
        let lexicon = Arc::clone(&lexicon.inner);
        let stopwords = stopwords.map(|s| Arc::clone(&s.inner));
        without_gil(py, move || {
            let options = PerturbOptions {
                candidates: CandidateOptions::new(lang, mode, &targets, stopwords.as_deref())?,
                rate,
                seed,
                max_edits,
            };
            let perturbed = core_perturb::perturb_batch(&texts, &protect, &lexicon, &options)?;
            Ok(texts
                .par_iter()
                .zip(perturbed)
                .map(|(text, p)| to_python(text, p))
                .collect())
        })
    }

    /// Per text, each eligible word as (start, end, word, [(lang, [replacements])]),
    /// with code-point offsets; the options of `perturb` apply. No replacement
    /// equals its word ignoring case.
    #[pyfunction]
    #[pyo3(signature = (texts, lang, lexicon, *, mode, target_langs=None, protect=None, stopwords=None))]
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn candidates(
        py: Python<'_>,
        texts: Vec<String>,
        lang: &str,
        lexicon: &Lexicon,
        mode: &str,
        target_langs: Option<Vec<String>>,
        protect: Option<Vec<Vec<(usize, usize)>>>,
        stopwords: Option<&WordSet>,
    ) -> PyResult<Vec<Vec<(usize, usize, String, Vec<(&'static str, Vec<String>)>)>>> {
        let lang = Lang::parse(lang)?;
        let mode = Mode::parse(mode)?;
        let targets = parse_targets(target_langs)?;
        let protect = protect_to_bytes(&texts, protect)?;
        let lexicon = Arc::clone(&lexicon.inner);
        let stopwords = stopwords.map(|s| Arc::clone(&s.inner));
        without_gil(py, move || {
            let options = CandidateOptions::new(lang, mode, &targets, stopwords.as_deref())?;
            Ok(texts
                .par_iter()
                .enumerate()
                .map_init(Classified::default, |scratch, (i, text)| {
                    let offsets = CharOffsets::new(text);
                    let spans = protect.get(i).map_or(&[][..], Vec::as_slice);
                    core_perturb::candidates(text, spans, &lexicon, &options, scratch)
                        .into_iter()
                        .map(|c| {
                            let options = c
                                .options
                                .into_iter()
                                .map(|(l, forms)| (l.code(), forms))
                                .collect();
                            (
                                offsets.to_char(c.span.0),
                                offsets.to_char(c.span.1),
                                c.word,
                                options,
                            )
                        })
                        .collect()
                })
                .collect())
        })
    }

    /// Applies chosen edits, per text a list of (start, end, replacement, lang)
    /// with code-point offsets, non-overlapping, in any order. Of the word
    /// counts, only `word_count` is set.
    #[pyfunction]
    fn apply_edits(
        py: Python<'_>,
        texts: Vec<String>,
        edits: Vec<Vec<(usize, usize, String, String)>>,
    ) -> PyResult<Vec<Perturbation>> {
        if edits.len() != texts.len() {
            return Err(CoreError::invalid(format!(
                "edits has {} entries for {} texts",
                edits.len(),
                texts.len()
            ))
            .into());
        }
        let mut planned = Vec::with_capacity(texts.len());
        for (i, (text, text_edits)) in texts.iter().zip(edits).enumerate() {
            let offsets = CharOffsets::new(text);
            let mut this = Vec::with_capacity(text_edits.len());
            for (start, end, replacement, lang) in text_edits {
                let span = match (offsets.to_byte(start), offsets.to_byte(end)) {
                    (Ok(s), Ok(e)) if s <= e => (s, e),
                    _ => {
                        return Err(CoreError::invalid(format!(
                            "text {i}: edit span ({start}, {end}) is not inside its {} characters",
                            offsets.len_chars()
                        ))
                        .into())
                    }
                };
                this.push(PlannedEdit {
                    span,
                    replacement,
                    lang: Lang::parse(&lang)?,
                });
            }
            planned.push(this);
        }
        without_gil(py, move || {
            texts
                .par_iter()
                .zip(planned)
                .enumerate()
                .map(|(i, (text, edits))| {
                    core_perturb::apply_chosen(text, edits)
                        .map(|p| to_python(text, p))
                        .map_err(|e| CoreError::invalid(format!("text {i}: {e}")))
                })
                .collect()
        })
    }

    // Token/word alignment of the adversary: the binding lives in py_align.rs, the work in align.rs.
    #[pymodule_export]
    use crate::py_align::align_words;

    // QA features: the bindings live in py_qa.rs, the work in qa.rs.
    #[pymodule_export]
    use crate::py_qa::{qa_eval_features, qa_train_features, QaTokenizer};
}
