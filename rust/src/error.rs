//! The one error type of the core. `lib.rs` maps it onto Python exceptions.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A bad argument from the caller (unknown language, span out of range, ...).
    #[error("{0}")]
    InvalidArgument(String),

    #[error("{}: no such file", path.display())]
    FileNotFound { path: PathBuf },

    /// A line of an input file that does not follow its format.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CoreError {
    pub fn invalid(message: impl Into<String>) -> Self {
        CoreError::InvalidArgument(message.into())
    }

    pub fn from_io(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            CoreError::FileNotFound {
                path: path.to_path_buf(),
            }
        } else {
            CoreError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;
