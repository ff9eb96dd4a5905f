//! Byte offsets (what Rust works in) to code-point offsets (what Python sees)
//! and back, converted once at the boundary.

use crate::error::{CoreError, Result};

/// Offsets of one text. ASCII text, the common case, needs no table.
pub struct CharOffsets {
    /// Byte offset of every char start, plus the text length; empty for ASCII.
    char_starts: Vec<usize>,
    len_bytes: usize,
}

impl CharOffsets {
    pub fn new(text: &str) -> CharOffsets {
        let char_starts = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect()
        };
        CharOffsets {
            char_starts,
            len_bytes: text.len(),
        }
    }

    pub fn len_chars(&self) -> usize {
        if self.char_starts.is_empty() {
            self.len_bytes
        } else {
            self.char_starts.len() - 1
        }
    }

    /// The char offset of a byte offset that lies on a char boundary.
    pub fn to_char(&self, byte: usize) -> usize {
        if self.char_starts.is_empty() {
            byte
        } else {
            self.char_starts.partition_point(|&b| b < byte)
        }
    }

    /// The byte offset of a char offset, or an error naming it when it lies
    /// past the end of the text.
    pub fn to_byte(&self, char_offset: usize) -> Result<usize> {
        if char_offset > self.len_chars() {
            return Err(CoreError::invalid(format!(
                "offset {char_offset} is past the end of a text of {} characters",
                self.len_chars()
            )));
        }
        Ok(if self.char_starts.is_empty() {
            char_offset
        } else {
            self.char_starts[char_offset]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_on_mixed_text() {
        let text = "aé中😀b";
        let offsets = CharOffsets::new(text);
        assert_eq!(offsets.len_chars(), 5);
        for (char_offset, (byte, _)) in text.char_indices().enumerate() {
            assert_eq!(offsets.to_char(byte), char_offset);
            assert_eq!(offsets.to_byte(char_offset).unwrap(), byte);
        }
        assert_eq!(offsets.to_byte(5).unwrap(), text.len());
        assert!(offsets.to_byte(6).is_err());
    }

    #[test]
    fn ascii_is_the_identity() {
        let offsets = CharOffsets::new("hello");
        assert_eq!(offsets.to_char(3), 3);
        assert_eq!(offsets.to_byte(5).unwrap(), 5);
    }
}
