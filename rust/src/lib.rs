//! Python bindings of the robust-xlt core: thin wrappers only.
//!
//! Every binding copies and validates its inputs while holding the GIL, then runs
//! the batch with the GIL released (`py.detach`) and rayon inside.

use pyo3::prelude::*;

pub mod qa;

#[pymodule]
mod _core {
    use super::*;

    /// Version of the compiled core, for diagnosing mismatched builds.
    #[pyfunction]
    fn core_version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    // ---- QA features ----
    // (qa.rs does the work; these wrappers copy the batch, release the GIL, and turn
    // the result into numpy arrays without copying it again.)

    use numpy::ndarray::{Array2, Array3};
    use numpy::IntoPyArray;
    use pyo3::exceptions::PyValueError;
    use pyo3::types::PyDict;

    fn qa_error(e: crate::qa::QaError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }

    /// Builds the features with the GIL released and returns them as a dict of arrays.
    #[allow(clippy::too_many_arguments)]
    fn qa_features<'py>(
        py: Python<'py>,
        tokenizer_json: &str,
        questions: Vec<String>,
        contexts: Vec<String>,
        answers: Vec<Option<(usize, usize)>>,
        params: crate::qa::QaParams,
        mode: crate::qa::Mode,
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
        let examples: Vec<crate::qa::QaExample> = questions
            .into_iter()
            .zip(contexts)
            .zip(answers)
            .map(|((question, context), answer)| crate::qa::QaExample {
                question,
                context,
                answer,
            })
            .collect();
        let features = py
            .detach(|| {
                let tokenizer = crate::qa::cached_tokenizer(tokenizer_json)?;
                crate::qa::prepare_features(&tokenizer, &examples, &params, mode, parallel)
            })
            .map_err(qa_error)?;

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
            crate::qa::Mode::Train => {
                out.set_item("start_positions", features.start_positions.into_pyarray(py))?;
                out.set_item("end_positions", features.end_positions.into_pyarray(py))?;
            }
            crate::qa::Mode::Eval => {
                let offsets = Array3::from_shape_vec((n, width, 2), features.offset_mapping)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                out.set_item("offset_mapping", offsets.into_pyarray(py))?;
            }
        }
        Ok(out)
    }

    /// Training features for extractive QA, the `run_qa.py` recipe in one call.
    ///
    /// Each (question, context) pair is encoded with the question first; the question
    /// is cut to `max_query_length` tokens, the context into windows of at most
    /// `max_length` tokens in all, consecutive windows sharing `stride` tokens (the
    /// overlap, as in transformers; not the legacy `doc_stride` step). `answers` holds
    /// the first gold answer per example as (start, length) in code points, or None.
    /// Returns int64 arrays `input_ids`, `attention_mask`, `token_type_ids` ([n,
    /// max_length], padded with the tokenizer's pad id), `start_positions`,
    /// `end_positions` (0 when the answer is not wholly inside the window) and
    /// `overflow_to_sample_mapping` (the example index of each feature).
    /// Raises ValueError naming the example for empty questions or contexts, answers
    /// outside the context, a bad tokenizer JSON or windows that cannot fit.
    #[pyfunction]
    #[pyo3(signature = (tokenizer_json, questions, contexts, answers, *, max_length = 384, stride = 128, max_query_length = 64, pad_id = None, parallel = true))]
    #[allow(clippy::too_many_arguments)]
    fn qa_train_features<'py>(
        py: Python<'py>,
        tokenizer_json: &str,
        questions: Vec<String>,
        contexts: Vec<String>,
        answers: Vec<Option<(usize, usize)>>,
        max_length: usize,
        stride: usize,
        max_query_length: usize,
        pad_id: Option<u32>,
        parallel: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = crate::qa::QaParams {
            max_length,
            stride,
            max_query_length,
            pad_id,
        };
        qa_features(
            py,
            tokenizer_json,
            questions,
            contexts,
            answers,
            params,
            crate::qa::Mode::Train,
            parallel,
        )
    }

    /// Evaluation features for extractive QA: the windows of `qa_train_features`
    /// with, instead of labels, `offset_mapping` (int32 [n, max_length, 2]: code-point
    /// offsets into the original context with surrounding whitespace trimmed, -1 for
    /// question, special and padding tokens).
    #[pyfunction]
    #[pyo3(signature = (tokenizer_json, questions, contexts, *, max_length = 384, stride = 128, max_query_length = 64, pad_id = None, parallel = true))]
    #[allow(clippy::too_many_arguments)]
    fn qa_eval_features<'py>(
        py: Python<'py>,
        tokenizer_json: &str,
        questions: Vec<String>,
        contexts: Vec<String>,
        max_length: usize,
        stride: usize,
        max_query_length: usize,
        pad_id: Option<u32>,
        parallel: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = crate::qa::QaParams {
            max_length,
            stride,
            max_query_length,
            pad_id,
        };
        let answers = vec![None; questions.len()];
        qa_features(
            py,
            tokenizer_json,
            questions,
            contexts,
            answers,
            params,
            crate::qa::Mode::Eval,
            parallel,
        )
    }
    // ---- end QA features ----
}
