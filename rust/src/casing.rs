//! How a replacement takes the casing of the word it replaces, and which
//! lexicon forms a casing can turn into another key.
//!
//! The lexicon needs the second to decide, once at build time, which related
//! entries can never spell the word they would replace whatever its casing:
//! for those, finding a word's candidates reads no form at all.

use crate::lexicon::word_key_into;

/// How a replacement takes the casing of the word it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Casing {
    /// The lexicon's own spelling (German nouns stay capitalised).
    Keep,
    /// ALL CAPS: at least two cased letters, all upper case.
    Upper,
    /// The first cased letter is upper case.
    Capitalise,
}

impl Casing {
    /// The casing `original` asks of its replacement.
    pub fn of(original: &str) -> Casing {
        let mut cased = original
            .chars()
            .filter(|c| c.is_uppercase() || c.is_lowercase());
        let Some(first) = cased.next() else {
            return Casing::Keep;
        };
        if !first.is_uppercase() {
            return Casing::Keep;
        }
        let (mut more, mut all_upper) = (false, true);
        for c in cased {
            more = true;
            all_upper &= c.is_uppercase();
        }
        if more && all_upper {
            Casing::Upper
        } else {
            Casing::Capitalise
        }
    }

    /// `replacement` in this casing.
    pub fn apply(self, replacement: &str) -> String {
        match self {
            Casing::Keep => replacement.to_string(),
            Casing::Upper => replacement.to_uppercase(),
            Casing::Capitalise => {
                // Sized once: collecting the chars grew the string twice or more.
                let mut out = String::with_capacity(replacement.len() + 2);
                let mut chars = replacement.chars();
                out.extend(chars.next().into_iter().flat_map(char::to_uppercase));
                out.push_str(chars.as_str());
                out
            }
        }
    }

    fn bit(self) -> u8 {
        match self {
            Casing::Keep => 0,
            Casing::Upper => 1,
            Casing::Capitalise => 2,
        }
    }
}

/// A set of casings, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Casings(u8);

impl Casings {
    pub fn contains(self, casing: Casing) -> bool {
        self.0 & casing.bit() != 0
    }

    pub fn union(self, other: Casings) -> Casings {
        Casings(self.0 | other.0)
    }

    /// The casings under which `form` no longer has the lookup key `key` (its
    /// own): "straße" upper-cased is "STRASSE", key "strasse"; Turkish "ıl"
    /// capitalised is "Il", key "il". Most forms have none.
    pub fn changing_key(form: &str, key: &str) -> Casings {
        let mut cased_key = String::new();
        let mut set = Casings::default();
        for casing in [Casing::Upper, Casing::Capitalise] {
            word_key_into(&casing.apply(form), &mut cased_key);
            if cased_key != key {
                set.0 |= casing.bit();
            }
        }
        set
    }
}

/// Gives the replacement the casing of the original: ALL CAPS stays all caps,
/// a capitalised word gets a capitalised replacement; otherwise the lexicon's
/// own spelling is kept (German nouns stay capitalised).
pub fn match_case(original: &str, replacement: &str) -> String {
    Casing::of(original).apply(replacement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_case_follows_the_original() {
        assert_eq!(match_case("Big", "large"), "Large");
        assert_eq!(match_case("BIG", "large"), "LARGE");
        assert_eq!(match_case("big", "Hund"), "Hund");
        assert_eq!(match_case("大", "large"), "large");
    }

    #[test]
    fn few_forms_change_key_under_a_casing() {
        assert_eq!(Casings::changing_key("large", "large"), Casings::default());
        assert_eq!(Casings::changing_key("Hund", "hund"), Casings::default());
        let strasse = Casings::changing_key("Straße", "straße");
        assert!(strasse.contains(Casing::Upper) && !strasse.contains(Casing::Capitalise));
        let dotless = Casings::changing_key("ıl", "ıl");
        assert!(dotless.contains(Casing::Upper) && dotless.contains(Casing::Capitalise));
        assert!(!dotless.contains(Casing::Keep));
    }
}
