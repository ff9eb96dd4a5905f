//! Word segmentation: Unicode word boundaries (UAX #29), plus a dictionary
//! longest match for scripts written without spaces.
//!
//! UAX #29 keeps combining marks inside their word (rule WB4), so Devanagari,
//! Bengali, Telugu or Arabic vowel signs are never split off, unlike regex `\w`
//! tokenisers. It does not find words in Han, kana, Thai, Lao, Khmer or Myanmar
//! text, which it cuts into single characters; adjacent pieces of those scripts
//! are joined into runs and re-split by forward longest match against the words
//! a dictionary knows (a lexicon's words for the language, stop words).
//!
//! Fallback where the dictionary knows no word starting at a position: a Han
//! character is a word of its own (it is most often a morpheme); consecutive
//! unmatched kana, Thai, Lao, Khmer or Myanmar grapheme clusters are joined into
//! one word. Matching is by grapheme cluster, and a format character (a bidi
//! mark, a soft hyphen) and the marks after it stay with the cluster before it,
//! as UAX #29 keeps them: a mark is never cut off.
//!
//! A dictionary entry matches only where the matched text has a letter or digit,
//! the test every other word passes: entries made only of punctuation or symbols
//! are ignored, so they never become words. Runs can hold such characters (`_`
//! joins katakana under UAX #29, `฿` and `๏` are in the Thai block, a ZWJ pulls
//! in a pictograph), and stop-word lists hold them: stopwordsiso's Korean list
//! has `_` and `、`, its Chinese one `，` and `、`.

use unicode_segmentation::UnicodeSegmentation;

/// Something that knows whether a string is a word of a language.
pub trait WordLookup: Sync {
    fn contains_word(&self, word: &str) -> bool;
    /// Length in chars of the longest word, which bounds the match search.
    fn max_word_chars(&self) -> usize;
}

/// A byte span `[start, end)` of a word in its text.
pub type ByteSpan = (usize, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Han,
    Kana,
    SouthEastAsian,
    Other,
}

fn script_of(c: char) -> Script {
    match c as u32 {
        0x3005
        | 0x3007
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x3134F => Script::Han,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Kana,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x19E0..=0x19FF => {
            Script::SouthEastAsian
        }
        _ => Script::Other,
    }
}

fn is_unspaced(segment: &str) -> bool {
    segment
        .chars()
        .next()
        .is_some_and(|c| script_of(c) != Script::Other)
}

fn is_word(segment: &str) -> bool {
    segment.chars().any(char::is_alphanumeric)
}

/// Byte spans of the words of `text`, in order. Punctuation, symbols and
/// whitespace are not words.
pub fn segment(text: &str, dictionaries: &[&dyn WordLookup]) -> Vec<ByteSpan> {
    let mut words = Vec::new();
    segment_into(text, dictionaries, &mut words);
    words
}

/// [`segment`] into a cleared, reused buffer: a batch allocates it once per
/// thread instead of growing a new one for every text.
pub fn segment_into(text: &str, dictionaries: &[&dyn WordLookup], words: &mut Vec<ByteSpan>) {
    words.clear();
    if text.is_ascii() {
        ascii_words(text.as_bytes(), words);
        return;
    }
    let mut run: Option<ByteSpan> = None;
    for (start, piece) in text.split_word_bound_indices() {
        let end = start + piece.len();
        if is_unspaced(piece) {
            run = match run {
                Some((run_start, run_end)) if run_end == start => Some((run_start, end)),
                Some(previous) => {
                    split_unspaced_run(text, previous, dictionaries, words);
                    Some((start, end))
                }
                None => Some((start, end)),
            };
            continue;
        }
        if let Some(previous) = run.take() {
            split_unspaced_run(text, previous, dictionaries, words);
        }
        if is_word(piece) {
            words.push((start, end));
        }
    }
    if let Some(previous) = run {
        split_unspaced_run(text, previous, dictionaries, words);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsciiClass {
    Letter,
    Digit,
    /// ExtendNumLet: `_`.
    Connector,
    /// MidLetter: `:`.
    MidLetter,
    /// MidNum: `,` `;`.
    MidNum,
    /// MidNumLet and Single_Quote: `.` `'`.
    MidNumLet,
    Other,
}

fn ascii_class(b: u8) -> AsciiClass {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => AsciiClass::Letter,
        b'0'..=b'9' => AsciiClass::Digit,
        b'_' => AsciiClass::Connector,
        b':' => AsciiClass::MidLetter,
        b',' | b';' => AsciiClass::MidNum,
        b'.' | b'\'' => AsciiClass::MidNumLet,
        _ => AsciiClass::Other,
    }
}

/// UAX #29 word spans of ASCII text, the rules restricted to ASCII classes
/// (WB5-WB13b; the rest only separate non-words). About four times faster
/// than the general iterator on English; the test below checks it against
/// that iterator on random ASCII.
fn ascii_words(text: &[u8], words: &mut Vec<ByteSpan>) {
    use AsciiClass::*;
    let class = |i: usize| text.get(i).map_or(Other, |&b| ascii_class(b));
    let mut i = 0;
    while i < text.len() {
        let first = class(i);
        if !matches!(first, Letter | Digit | Connector) {
            i += 1;
            continue;
        }
        let (start, mut end, mut last) = (i, i + 1, first);
        let mut has_alnum = first != Connector;
        loop {
            let next = class(end);
            match (last, next) {
                (Letter | Digit | Connector, Letter | Digit | Connector) => {
                    end += 1;
                    last = next;
                    has_alnum |= next != Connector;
                }
                (Letter, MidLetter | MidNumLet) if class(end + 1) == Letter => {
                    end += 2;
                    last = Letter;
                }
                (Digit, MidNum | MidNumLet) if class(end + 1) == Digit => {
                    end += 2;
                    last = Digit;
                }
                _ => break,
            }
        }
        if has_alnum {
            words.push((start, end));
        }
        i = end;
    }
}

/// Where a run may be cut, as byte offsets into it with its end appended: its
/// grapheme boundaries, except those before a character that UAX #29 keeps
/// with what precedes it (WB4: Extend, Format, ZWJ). Grapheme rules break
/// around format characters (a bidi mark, a soft hyphen, a word joiner), so
/// without this a mark after one starts a grapheme, and a word, of its own.
fn unit_bounds(run: &str) -> Vec<usize> {
    let mut bounds = Vec::with_capacity(run.len() / 3 + 1);
    let mut last: Option<char> = None;
    for (i, grapheme) in run.grapheme_indices(true) {
        let first = grapheme.chars().next().unwrap_or(' ');
        // A grapheme starts with a mark only after a control character or when
        // the mark is one of a short list, so a boundary to drop has a format
        // character on one side (no letter, and in none of the unspaced scripts'
        // blocks) or a listed mark after it. Elsewhere (nearly every boundary of
        // real text) the test is skipped: run on every boundary, it doubled the
        // time of Thai segmentation.
        let cut = match last {
            None => true,
            Some(before) if plain(before) && plain(first) && !splits_grapheme(first) => true,
            Some(_) => !joins_previous(first),
        };
        if cut {
            bounds.push(i);
        }
        last = grapheme.chars().next_back();
    }
    bounds.push(run.len());
    bounds
}

/// A letter, a digit, or a character of an unspaced script (Thai tone marks
/// are neither of the first two): never a format character.
fn plain(c: char) -> bool {
    script_of(c) != Script::Other || c.is_alphanumeric()
}

/// The spacing marks that UAX #29 leaves out of its grapheme class SpacingMark,
/// so that each starts a grapheme, yet keeps in the word before it (WB4): Myanmar,
/// Tai Tham and Ahom vowel signs and tone marks (Myanmar ကာ is two graphemes, one
/// word). A test checks the list against the segmenter's tables.
fn splits_grapheme(c: char) -> bool {
    matches!(
        c as u32,
        0x102B
            | 0x102C
            | 0x1038
            | 0x1062..=0x1064
            | 0x1067..=0x106D
            | 0x1083
            | 0x1087..=0x108C
            | 0x108F
            | 0x109A..=0x109C
            | 0x1A61
            | 0x1A63
            | 0x1A64
            | 0xAA7B
            | 0xAA7D
            | 0x11720
            | 0x11721
    )
}

/// Whether UAX #29 rule WB4 keeps `c` with the character before it, asked of
/// the segmenter itself: after `。` (Word_Break Other, which no other rule
/// joins anything to) only an Extend, Format or ZWJ character continues the
/// piece.
fn joins_previous(c: char) -> bool {
    let mut buf = [0u8; 7];
    let base = '。'.encode_utf8(&mut buf).len();
    let len = base + c.encode_utf8(&mut buf[base..]).len();
    std::str::from_utf8(&buf[..len]).is_ok_and(|pair| pair.split_word_bounds().nth(1).is_none())
}

fn split_unspaced_run(
    text: &str,
    (run_start, run_end): ByteSpan,
    dictionaries: &[&dyn WordLookup],
    words: &mut Vec<ByteSpan>,
) {
    let run = &text[run_start..run_end];
    let bounds = unit_bounds(run);
    let units = bounds.len() - 1;
    let longest = dictionaries
        .iter()
        .map(|d| d.max_word_chars())
        .max()
        .unwrap_or(0)
        .min(32);

    // The word test comes second, so it runs on the hits (one per word), not on
    // the misses tried before each of them.
    let known = |piece: &str| dictionaries.iter().any(|d| d.contains_word(piece)) && is_word(piece);

    // Unmatched kana or South-East Asian graphemes wait here to be joined.
    let mut pending: Option<(usize, usize, Script)> = None;
    let flush = |pending: &mut Option<(usize, usize, Script)>, words: &mut Vec<ByteSpan>| {
        if let Some((s, e, _)) = pending.take() {
            words.push((run_start + s, run_start + e));
        }
    };

    let mut i = 0;
    while i < units {
        // A unit holds at least one char, so `longest` chars span at most
        // `longest` units.
        let max_j = units.min(i + longest);
        let matched = (i + 2..=max_j)
            .rev()
            .find(|&j| known(&run[bounds[i]..bounds[j]]));
        let single = &run[bounds[i]..bounds[i + 1]];
        let j = match matched {
            Some(j) => j,
            None if known(single) => i + 1,
            None => {
                let script = script_of(single.chars().next().unwrap_or(' '));
                if script == Script::Han || !is_word(single) {
                    flush(&mut pending, words);
                    if is_word(single) {
                        words.push((run_start + bounds[i], run_start + bounds[i + 1]));
                    }
                } else {
                    pending = match pending {
                        Some((s, _, p)) if p == script => Some((s, bounds[i + 1], p)),
                        _ => {
                            flush(&mut pending, words);
                            Some((bounds[i], bounds[i + 1], script))
                        }
                    };
                }
                i += 1;
                continue;
            }
        };
        flush(&mut pending, words);
        words.push((run_start + bounds[i], run_start + bounds[j]));
        i = j;
    }
    flush(&mut pending, words);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Words(HashSet<String>);

    impl WordLookup for Words {
        fn contains_word(&self, word: &str) -> bool {
            self.0.contains(word)
        }
        fn max_word_chars(&self) -> usize {
            self.0.iter().map(|w| w.chars().count()).max().unwrap_or(0)
        }
    }

    fn words_of<'a>(text: &'a str, dict: &[&str]) -> Vec<&'a str> {
        let dict = Words(dict.iter().map(|s| s.to_string()).collect());
        segment(text, &[&dict])
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn english_words_keep_apostrophes_and_drop_punctuation() {
        assert_eq!(
            words_of("Don't stop, it's 3.5 km!", &[]),
            ["Don't", "stop", "it's", "3.5", "km"]
        );
    }

    #[test]
    fn indic_vowel_signs_stay_inside_words() {
        assert_eq!(words_of("বাংলা ভাষা", &[]), ["বাংলা", "ভাষা"]);
        assert_eq!(words_of("हिन्दी भाषा है।", &[]), ["हिन्दी", "भाषा", "है"]);
        assert_eq!(words_of("తెలుగు భాష", &[]), ["తెలుగు", "భాష"]);
    }

    #[test]
    fn arabic_diacritics_stay_inside_words() {
        assert_eq!(words_of("ظلْماء جميلة.", &[]), ["ظلْماء", "جميلة"]);
    }

    #[test]
    fn chinese_uses_longest_match_then_single_characters() {
        assert_eq!(
            words_of("我喜欢北京大学。", &["喜欢", "北京", "北京大学", "大学"]),
            ["我", "喜欢", "北京大学"]
        );
    }

    #[test]
    fn thai_uses_longest_match_and_joins_unmatched_clusters() {
        assert_eq!(
            words_of("ภาษาไทยง่าย", &["ภาษา", "ไทย"]),
            ["ภาษา", "ไทย", "ง่าย"]
        );
        // No dictionary: one word per space-separated run, marks intact.
        assert_eq!(words_of("ภาษาไทย ง่าย", &[]), ["ภาษาไทย", "ง่าย"]);
    }

    #[test]
    fn japanese_mixes_dictionary_and_script_runs() {
        assert_eq!(
            words_of("東京に住んでいます。コンピューター", &["東京", "に"]),
            ["東京", "に", "住", "んでいます", "コンピューター"]
        );
    }

    #[test]
    fn chinese_inside_english_text() {
        assert_eq!(
            words_of("I like 北京 a lot", &["北京"]),
            ["I", "like", "北京", "a", "lot"]
        );
    }

    #[test]
    fn punctuation_entries_never_become_words_in_unspaced_runs() {
        // Each text puts a non-word character inside a run: `_` joins katakana
        // (WB13a/b), `฿` and `๏` lie in the Thai block, U+00AD is a Format char
        // (WB4), a ZWJ pulls in the pictograph 〰 (WB3c). Found by a random sweep
        // with stopwordsiso's Korean list (`_`) and a lexicon lemma `฿`.
        let punctuation = ["_", "฿", "๏", "\u{ad}", "〰", "、", "_カ_"];
        let cases: [(&str, &[&str]); 6] = [
            ("カ_カ", &["カ"]),
            ("テスト_データ", &[]),
            ("ราคา฿100", &["ราคา"]),
            ("๏ภาษา๏", &["ภาษา"]),
            ("カ\u{ad}カ", &[]),
            ("カ\u{200d}〰", &[]),
        ];
        for (text, dict) in cases {
            let with: Vec<&str> = dict.iter().chain(&punctuation).copied().collect();
            let found = words_of(text, &with);
            assert_eq!(found, words_of(text, dict), "{text:?}");
            assert!(found.iter().all(|w| is_word(w)), "{text:?}: {found:?}");
        }
        assert_eq!(words_of("カ_カ", &["_"]), ["カ", "カ"]);
        assert_eq!(words_of("ราคา฿100", &["ราคา", "฿"]), ["ราคา", "100"]);
    }

    #[test]
    fn marks_after_a_format_character_stay_with_their_base() {
        // tests/test_fuzz.py found the second (an Arabic letter mark before a
        // fathatan in a Thai run): grapheme rules cut around a format character,
        // so the mark after one came out as a word of its own, where UAX #29
        // outside the runs keeps both with the character before them.
        assert_eq!(words_of("ก\u{200e}\u{e31}", &[]), ["ก\u{200e}\u{e31}"]);
        assert_eq!(
            words_of("ก\u{61c}\u{64b}ข", &["ก", "ข"]),
            ["ก\u{61c}\u{64b}", "ข"]
        );
        assert_eq!(words_of("ภา\u{ad}ษา", &["ภาษา"]), ["ภา\u{ad}ษา"]);
        assert_eq!(
            words_of("漢\u{2060}\u{301}字", &[]),
            ["漢\u{2060}\u{301}", "字"]
        );
        assert_eq!(words_of("क\u{200e}\u{93f}", &[]), ["क\u{200e}\u{93f}"]);
        // After a line break UAX #29 starts afresh, and so do runs.
        assert_eq!(words_of("ก\n\u{e31}ข", &[]), ["ก", "\u{e31}ข"]);
    }

    #[test]
    fn myanmar_vowel_signs_stay_with_their_consonant() {
        // UAX #29 cuts graphemes before ာ (U+102C) but not words: the dictionary
        // word က must not leave the sign of ကာ behind as a word of its own.
        assert_eq!(words_of("ကာ", &["က"]), ["ကာ"]);
        assert_eq!(words_of("ကားကို", &["ကား", "ကို"]), ["ကား", "ကို"]);
        assert_eq!(words_of("京\u{1083}", &[]), ["京\u{1083}"]);
    }

    #[test]
    fn the_shortcut_misses_no_boundary_to_drop() {
        // Every character that WB4 keeps with the character before it, although a
        // grapheme starts at it after a letter, is a format character or listed.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let after_letter = format!("a{c}").graphemes(true).count() == 2;
            let needed = joins_previous(c) && after_letter;
            assert!(!needed || !plain(c) || splits_grapheme(c), "{c:?}");
            assert!(!splits_grapheme(c) || (needed && plain(c)), "{c:?}");
        }
    }

    #[test]
    fn joins_previous_is_wb4() {
        for c in [
            '\u{301}', '\u{e31}', '\u{200d}', '\u{200c}', '\u{200e}', '\u{ad}', '\u{fe0f}',
        ] {
            assert!(joins_previous(c), "{c:?}");
        }
        for c in ['a', 'ก', '漢', 'カ', '_', ' ', '\n', '\u{200b}', '。', '\0'] {
            assert!(!joins_previous(c), "{c:?}");
        }
    }

    #[test]
    fn entries_with_a_letter_and_punctuation_still_match() {
        // ฯลฯ ("and so on") is spelled with the abbreviation sign ฯ around a letter.
        assert_eq!(words_of("ไปฯลฯ", &["ไป", "ฯลฯ"]), ["ไป", "ฯลฯ"]);
    }

    #[test]
    fn empty_and_punctuation_only_texts_have_no_words() {
        assert!(words_of("", &[]).is_empty());
        assert!(words_of(" ,.!? — 。", &[]).is_empty());
    }

    /// The general path, forced, for comparison with the ASCII fast path.
    fn general_words(text: &str) -> Vec<ByteSpan> {
        text.split_word_bound_indices()
            .filter(|(_, piece)| is_word(piece))
            .map(|(start, piece)| (start, start + piece.len()))
            .collect()
    }

    #[test]
    fn ascii_fast_path_equals_the_general_iterator() {
        let alphabet = b"aZq09_:.,;'\" \t\n-!?()";
        let mut rng = crate::rng::ItemRng::for_item(5, 0);
        for _ in 0..50_000 {
            let len = rng.below(14);
            let text: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())] as char)
                .collect();
            assert_eq!(segment(&text, &[]), general_words(&text), "{text:?}");
        }
        let english = "It's 3.14, U.S.A. e-mail foo_bar a:b 1,000,000 x.1 1.x don't. 'quoted'";
        assert_eq!(segment(english, &[]), general_words(english));
    }

    #[test]
    fn spans_are_char_boundaries_and_ordered() {
        let text = "混合 text ไทย with हिन्दी and 日本語のテキスト";
        let spans = segment(text, &[]);
        let mut last_end = 0;
        for (s, e) in spans {
            assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
            assert!(s >= last_end && e > s);
            last_end = e;
        }
    }
}
