//! Python bindings of the QA features: the parsed tokenizer as a frozen class, and
//! the two batch functions. `qa.rs` does the work; these wrappers copy the batch,
//! release the GIL, and turn the result into numpy arrays without copying it again.

use std::sync::Arc;

use numpy::ndarray::{Array2, Array3};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyDict;

use crate::qa::{self, QaExample, QaParams, QaTokenizer as CoreQaTokenizer};
use crate::without_gil;

/// A tokenizer.json parsed once, for any number of QA feature calls. Immutable,
/// and shared across threads without copying.
#[pyclass(frozen, name = "QATokenizer", module = "robust_xlt")]
pub struct QaTokenizer {
    inner: Arc<CoreQaTokenizer>,
}

#[pymethods]
impl QaTokenizer {
    /// Parses `json` (a tokenizer.json text) with the GIL released: about a second
    /// for the 250k-piece XLM-R tokenizer. The same JSON is parsed once while it stays
    /// among the last few used, whichever way it reaches the core. Raises ValueError
    /// for a bad JSON.
    #[staticmethod]
    fn from_json(py: Python<'_>, json: PyBackedStr) -> PyResult<QaTokenizer> {
        let inner = without_gil(py, move || qa::cached_tokenizer(&json))?;
        Ok(QaTokenizer { inner })
    }

    /// The pad id of the tokenizer's padding settings, else of its `<pad>` or `[PAD]`
    /// token; None when it has neither.
    #[getter]
    fn pad_id(&self) -> Option<u32> {
        self.inner.default_pad_id()
    }

    /// Vocabulary size, added tokens included.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn __repr__(&self) -> String {
        format!("QATokenizer({} pieces)", self.inner.vocab_size())
    }
}

/// A parsed tokenizer, or a tokenizer.json text to parse (through the cache).
#[derive(FromPyObject)]
pub enum TokenizerArg<'py> {
    Parsed(Bound<'py, QaTokenizer>),
    Json(PyBackedStr),
}

enum Source {
    Parsed(Arc<CoreQaTokenizer>),
    Json(PyBackedStr),
}

/// Builds the features with the GIL released and returns them as a dict of arrays.
#[allow(clippy::too_many_arguments)]
fn qa_features<'py>(
    py: Python<'py>,
    tokenizer: TokenizerArg<'py>,
    questions: Vec<String>,
    contexts: Vec<String>,
    answers: Vec<Option<(usize, usize)>>,
    params: QaParams,
    mode: qa::Mode,
    parallel: bool,
) -> PyResult<Bound<'py, PyDict>> {
    if questions.len() != contexts.len() || questions.len() != answers.len() {
        return Err(PyValueError::new_err(format!(
            "questions ({}), contexts ({}) and answers ({}) must have the same length",
            questions.len(),
            contexts.len(),
            answers.len()
        )));
    }
    let examples: Vec<QaExample> = questions
        .into_iter()
        .zip(contexts)
        .zip(answers)
        .map(|((question, context), answer)| QaExample {
            question,
            context,
            answer,
        })
        .collect();
    let source = match tokenizer {
        TokenizerArg::Parsed(t) => Source::Parsed(Arc::clone(&t.get().inner)),
        TokenizerArg::Json(json) => Source::Json(json),
    };
    let features = without_gil(py, move || {
        let tokenizer = match source {
            Source::Parsed(t) => t,
            Source::Json(json) => qa::cached_tokenizer(&json)?,
        };
        qa::prepare_features(&tokenizer, &examples, &params, mode, parallel)
    })?;

    let (n, width) = (features.len(), features.max_length);
    let matrix = |v: Vec<i64>| {
        Array2::from_shape_vec((n, width), v)
            .map(|a| a.into_pyarray(py))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    };
    let out = PyDict::new(py);
    out.set_item("input_ids", matrix(features.input_ids)?)?;
    out.set_item("attention_mask", matrix(features.attention_mask)?)?;
    out.set_item("token_type_ids", matrix(features.token_type_ids)?)?;
    out.set_item(
        "overflow_to_sample_mapping",
        features.example_index.into_pyarray(py),
    )?;
    match mode {
        qa::Mode::Train => {
            out.set_item("start_positions", features.start_positions.into_pyarray(py))?;
            out.set_item("end_positions", features.end_positions.into_pyarray(py))?;
        }
        qa::Mode::Eval => {
            let offsets = Array3::from_shape_vec((n, width, 2), features.offset_mapping)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            out.set_item("offset_mapping", offsets.into_pyarray(py))?;
        }
    }
    Ok(out)
}

/// Training features for extractive QA, the `run_qa.py` recipe in one call.
///
/// `tokenizer` is a `QATokenizer` or a tokenizer.json text (parsed once per distinct
/// text, but hashed on every call). Each (question, context) pair is encoded with the
/// question first; the question is cut to `max_query_length` tokens, the context into
/// windows of at most `max_length` tokens in all, consecutive windows sharing `stride`
/// tokens (the overlap, as in transformers; not the legacy `doc_stride` step).
/// `answers` holds the first gold answer per example as (start, length) in code
/// points, or None. Returns int64 arrays `input_ids`, `attention_mask`,
/// `token_type_ids` ([n, max_length], padded with the tokenizer's pad id),
/// `start_positions`, `end_positions` (0 when the answer is not wholly inside the
/// window) and `overflow_to_sample_mapping` (the example index of each feature).
/// Raises ValueError naming the example for empty questions or contexts, answers
/// outside the context, a bad tokenizer JSON or windows that cannot fit.
#[pyfunction]
#[pyo3(signature = (tokenizer, questions, contexts, answers, *, max_length = 384, stride = 128, max_query_length = 64, pad_id = None, parallel = true))]
#[allow(clippy::too_many_arguments)]
pub fn qa_train_features<'py>(
    py: Python<'py>,
    tokenizer: TokenizerArg<'py>,
    questions: Vec<String>,
    contexts: Vec<String>,
    answers: Vec<Option<(usize, usize)>>,
    max_length: usize,
    stride: usize,
    max_query_length: usize,
    pad_id: Option<u32>,
    parallel: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let params = QaParams {
        max_length,
        stride,
        max_query_length,
        pad_id,
    };
    qa_features(
        py,
        tokenizer,
        questions,
        contexts,
        answers,
        params,
        qa::Mode::Train,
        parallel,
    )
}

/// Evaluation features for extractive QA: the windows of `qa_train_features`
/// with, instead of labels, `offset_mapping` (int32 [n, max_length, 2]: code-point
/// offsets into the original context with surrounding whitespace trimmed, -1 for
/// question, special and padding tokens).
#[pyfunction]
#[pyo3(signature = (tokenizer, questions, contexts, *, max_length = 384, stride = 128, max_query_length = 64, pad_id = None, parallel = true))]
#[allow(clippy::too_many_arguments)]
pub fn qa_eval_features<'py>(
    py: Python<'py>,
    tokenizer: TokenizerArg<'py>,
    questions: Vec<String>,
    contexts: Vec<String>,
    max_length: usize,
    stride: usize,
    max_query_length: usize,
    pad_id: Option<u32>,
    parallel: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let params = QaParams {
        max_length,
        stride,
        max_query_length,
        pad_id,
    };
    let answers = vec![None; questions.len()];
    qa_features(
        py,
        tokenizer,
        questions,
        contexts,
        answers,
        params,
        qa::Mode::Eval,
        parallel,
    )
}
