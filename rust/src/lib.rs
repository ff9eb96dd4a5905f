//! Python bindings of the robust-xlt core: thin wrappers only.
//!
//! Every binding copies and validates its inputs while holding the GIL, then runs
//! the batch with the GIL released (`py.detach`) and rayon inside.

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use super::*;

    /// Version of the compiled core, for diagnosing mismatched builds.
    #[pyfunction]
    fn core_version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
