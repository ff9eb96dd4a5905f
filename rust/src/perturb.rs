//! Batched word substitution: synonyms, code-switching translations, or both.
//!
//! The work for one text is: segment it, list each eligible word's candidate
//! replacements ([`candidates`]), pick edits with the text's own seeded
//! generator ([`choose_edits`]), and apply them with a span map ([`apply`]).
//! Candidate listing depends on segmentation; choosing and applying do not,
//! and the pure-Python reference in the tests re-implements exactly those two.

use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::lang::Lang;
use crate::lexicon::{word_key_into, Lexicon, WordSet};
use crate::offsets::CharOffsets;
use crate::rng::ItemRng;
use crate::segment::{segment, ByteSpan, WordLookup};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Synonym,
    Codeswitch,
    Mixed,
}

impl Mode {
    pub fn parse(name: &str) -> Result<Mode> {
        match name {
            "synonym" => Ok(Mode::Synonym),
            "codeswitch" => Ok(Mode::Codeswitch),
            "mixed" => Ok(Mode::Mixed),
            other => Err(CoreError::invalid(format!(
                "unknown perturbation mode {other:?}: expected 'synonym', 'codeswitch' or 'mixed'"
            ))),
        }
    }
}

/// What to look for: the languages whose words may replace a word.
pub struct CandidateOptions<'a> {
    pub lang: Lang,
    /// Replacement languages in order: the source language stands for synonyms.
    pub targets: Vec<Lang>,
    pub stopwords: Option<&'a WordSet>,
}

impl<'a> CandidateOptions<'a> {
    pub fn new(lang: Lang, mode: Mode, target_langs: &[Lang], stopwords: Option<&'a WordSet>) -> Result<Self> {
        let foreign: Vec<Lang> = target_langs.iter().copied().filter(|&t| t != lang).collect();
        if mode != Mode::Synonym && foreign.is_empty() {
            return Err(CoreError::invalid(format!(
                "mode {mode:?} needs target_langs other than the source language {:?}",
                lang.code()
            )));
        }
        let targets = match mode {
            Mode::Synonym => vec![lang],
            Mode::Codeswitch => foreign,
            Mode::Mixed => std::iter::once(lang).chain(foreign).collect(),
        };
        let mut seen = Vec::new();
        let targets = targets.into_iter().filter(|t| { let new = !seen.contains(t); seen.push(*t); new }).collect();
        Ok(CandidateOptions { lang, targets, stopwords })
    }
}

/// One eligible word and its replacements, grouped by language, each already
/// in the original word's casing.
#[derive(Debug, Clone, PartialEq)]
pub struct WordCandidates {
    pub span: ByteSpan,
    pub word: String,
    pub options: Vec<(Lang, Vec<String>)>,
}

/// An edit to make: replace `span` of the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEdit {
    pub span: ByteSpan,
    pub replacement: String,
    pub lang: Lang,
}

/// A made edit: where it was, where it is now, what it replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub original_span: ByteSpan,
    pub new_span: ByteSpan,
    pub original: String,
    pub replacement: String,
    pub lang: Lang,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Perturbed {
    pub text: String,
    pub edits: Vec<Edit>,
}

/// Gives the replacement the casing of the original: ALL CAPS stays all caps,
/// a capitalised word gets a capitalised replacement; otherwise the lexicon's
/// own spelling is kept (German nouns stay capitalised).
pub fn match_case(original: &str, replacement: &str) -> String {
    let cased: Vec<char> = original.chars().filter(|c| c.is_uppercase() || c.is_lowercase()).collect();
    if cased.len() >= 2 && cased.iter().all(|c| c.is_uppercase()) {
        return replacement.to_uppercase();
    }
    if cased.first().is_some_and(|c| c.is_uppercase()) {
        let mut chars = replacement.chars();
        if let Some(first) = chars.next() {
            return first.to_uppercase().chain(chars).collect();
        }
    }
    replacement.to_string()
}

fn overlaps_protected(span: ByteSpan, protect: &[ByteSpan]) -> bool {
    protect.iter().any(|&(ps, pe)| {
        if ps == pe {
            span.0 < ps && ps < span.1 // an empty span still pins its position
        } else {
            span.0 < pe && ps < span.1
        }
    })
}

/// An eligible word: its span and its candidates as lexicon entry ids, per
/// language.
#[derive(Debug, Clone)]
pub struct Eligible<'l> {
    pub span: ByteSpan,
    pub options: Vec<(Lang, &'l [u32])>,
}

/// Eligible words of `text`. A word is eligible when it has a candidate, lies
/// outside every protected span and is not a stop word.
pub fn eligible_words<'l>(
    text: &str,
    protect: &[ByteSpan],
    lexicon: &'l Lexicon,
    options: &CandidateOptions,
) -> Vec<Eligible<'l>> {
    let words = lexicon.words(options.lang);
    let mut dictionaries: Vec<&dyn WordLookup> = vec![&words];
    if let Some(stopwords) = options.stopwords {
        dictionaries.push(stopwords);
    }
    let mut key = String::new();
    segment(text, &dictionaries)
        .into_iter()
        .filter(|&span| !overlaps_protected(span, protect))
        .filter_map(|span| {
            word_key_into(&text[span.0..span.1], &mut key);
            if options.stopwords.is_some_and(|s| s.contains_key(&key)) {
                return None;
            }
            let found = lexicon.related_by_key(&key, options.lang, &options.targets);
            (!found.is_empty()).then_some(Eligible { span, options: found })
        })
        .collect()
}

/// Eligible words of `text` with their candidates spelled out, each in the
/// original word's casing: the search space of an adversary.
pub fn candidates(
    text: &str,
    protect: &[ByteSpan],
    lexicon: &Lexicon,
    options: &CandidateOptions,
) -> Vec<WordCandidates> {
    eligible_words(text, protect, lexicon, options)
        .into_iter()
        .map(|e| {
            let word = &text[e.span.0..e.span.1];
            WordCandidates {
                span: e.span,
                word: word.to_string(),
                options: e
                    .options
                    .into_iter()
                    .map(|(lang, ids)| (lang, ids.iter().map(|&id| match_case(word, lexicon.form(id))).collect()))
                    .collect(),
            }
        })
        .collect()
}

/// Picks edits among the eligible words of `text` with its generator.
///
/// Each eligible word is chosen with probability `rate` (one uniform draw per
/// word, in text order). Past `max_edits`, a uniform subset of the chosen words
/// is kept (partial Fisher-Yates). Each kept word then draws a language
/// uniformly among those it has candidates in, and a replacement uniformly
/// within that language.
pub fn choose_edits(
    text: &str,
    eligible: &[Eligible],
    lexicon: &Lexicon,
    rng: &mut ItemRng,
    rate: f64,
    max_edits: Option<usize>,
) -> Vec<PlannedEdit> {
    let mut chosen: Vec<usize> = (0..eligible.len()).filter(|_| rng.next_f64() < rate).collect();
    if let Some(limit) = max_edits {
        if chosen.len() > limit {
            for j in 0..limit {
                let k = j + rng.below(chosen.len() - j);
                chosen.swap(j, k);
            }
            chosen.truncate(limit);
            chosen.sort_unstable();
        }
    }
    chosen
        .into_iter()
        .map(|i| {
            let word = &eligible[i];
            let (lang, ids) = word.options[rng.below(word.options.len())];
            let form = lexicon.form(ids[rng.below(ids.len())]);
            PlannedEdit {
                span: word.span,
                replacement: match_case(&text[word.span.0..word.span.1], form),
                lang,
            }
        })
        .collect()
}

/// Applies non-overlapping edits (any order) to `text`.
pub fn apply(text: &str, mut edits: Vec<PlannedEdit>) -> Result<Perturbed> {
    edits.sort_by_key(|e| e.span);
    let mut out = String::with_capacity(text.len() + 16 * edits.len());
    let mut made = Vec::with_capacity(edits.len());
    let mut cursor = 0;
    for edit in edits {
        let (start, end) = edit.span;
        if start < cursor || start > end || end > text.len() {
            return Err(CoreError::invalid(format!(
                "edit span {:?} overlaps another edit or lies outside the text",
                edit.span
            )));
        }
        out.push_str(&text[cursor..start]);
        let new_start = out.len();
        out.push_str(&edit.replacement);
        made.push(Edit {
            original_span: edit.span,
            new_span: (new_start, out.len()),
            original: text[start..end].to_string(),
            replacement: edit.replacement,
            lang: edit.lang,
        });
        cursor = end;
    }
    out.push_str(&text[cursor..]);
    Ok(Perturbed { text: out, edits: made })
}

/// Everything `perturb` needs besides the texts.
pub struct PerturbOptions<'a> {
    pub candidates: CandidateOptions<'a>,
    pub rate: f64,
    pub seed: u64,
    pub max_edits: Option<usize>,
}

pub fn check_rate(rate: f64) -> Result<()> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(CoreError::invalid(format!("rate must lie in [0, 1], got {rate}")))
    }
}

/// Perturbs a batch in parallel. Text `i` uses the generator of (seed, i), so
/// the output does not depend on the number of threads.
pub fn perturb_batch(
    texts: &[String],
    protect: &[Vec<ByteSpan>],
    lexicon: &Lexicon,
    options: &PerturbOptions,
) -> Result<Vec<Perturbed>> {
    check_rate(options.rate)?;
    texts
        .par_iter()
        .enumerate()
        .map(|(i, text)| {
            let spans = protect.get(i).map_or(&[][..], Vec::as_slice);
            let eligible = eligible_words(text, spans, lexicon, &options.candidates);
            let mut rng = ItemRng::for_item(options.seed, i as u64);
            apply(text, choose_edits(text, &eligible, lexicon, &mut rng, options.rate, options.max_edits))
        })
        .collect()
}

/// Carries a position of one side of the edits to the other side. A position
/// strictly inside an edited word goes to the replacement's start (for a span
/// start) or end (for a span end), so a span never cuts a replacement.
pub fn map_position(spans: &[(ByteSpan, ByteSpan)], position: usize, is_end: bool) -> usize {
    let mut shift: isize = 0;
    for &((from_start, from_end), (to_start, to_end)) in spans {
        if position <= from_start {
            break;
        }
        if position < from_end {
            return if is_end { to_end } else { to_start };
        }
        shift += (to_end - to_start) as isize - (from_end - from_start) as isize;
    }
    (position as isize + shift) as usize
}

/// Char-offset span maps of one perturbation.
pub fn char_spans(original: &str, perturbed: &Perturbed) -> Vec<(ByteSpan, ByteSpan)> {
    let before = CharOffsets::new(original);
    let after = CharOffsets::new(&perturbed.text);
    perturbed
        .edits
        .iter()
        .map(|e| {
            (
                (before.to_char(e.original_span.0), before.to_char(e.original_span.1)),
                (after.to_char(e.new_span.0), after.to_char(e.new_span.1)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(code: &str) -> Lang {
        Lang::parse(code).unwrap()
    }

    fn lexicon() -> Lexicon {
        let en = lang("en");
        let de = lang("de");
        let fr = lang("fr");
        Lexicon::from_groups(vec![
            vec![(en, "big".into()), (en, "large".into()), (en, "huge".into()), (de, "groß".into()), (fr, "grand".into())],
            vec![(en, "dog".into()), (de, "Hund".into())],
            vec![(en, "the".into()), (de, "die".into())],
        ])
    }

    fn options(mode: Mode, stopwords: Option<&WordSet>) -> CandidateOptions<'_> {
        CandidateOptions::new(lang("en"), mode, &[lang("de"), lang("fr")], stopwords).unwrap()
    }

    #[test]
    fn candidates_follow_mode_case_protection_and_stopwords() {
        let lex = lexicon();
        let found = candidates("The BIG dog", &[], &lex, &options(Mode::Synonym, None));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].word, "BIG");
        assert_eq!(found[0].options, vec![(lang("en"), vec!["HUGE".to_string(), "LARGE".to_string()])]);

        let stop = WordSet::new(["the"]);
        let found = candidates("The big dog", &[(4, 7)], &lex, &options(Mode::Codeswitch, Some(&stop)));
        let words: Vec<&str> = found.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["dog"]);
        assert_eq!(found[0].options, vec![(lang("de"), vec!["Hund".to_string()])]);

        let found = candidates("big", &[], &lex, &options(Mode::Mixed, None));
        let langs: Vec<&str> = found[0].options.iter().map(|(l, _)| l.code()).collect();
        assert_eq!(langs, ["en", "de", "fr"]);
    }

    #[test]
    fn rate_zero_is_identity_and_rate_one_edits_every_eligible_word() {
        let lex = lexicon();
        let opts = |rate| PerturbOptions { candidates: options(Mode::Mixed, None), rate, seed: 3, max_edits: None };
        let texts = vec!["The big dog barks.".to_string()];
        let same = perturb_batch(&texts, &[], &lex, &opts(0.0)).unwrap();
        assert_eq!(same[0].text, texts[0]);
        assert!(same[0].edits.is_empty());
        let all = perturb_batch(&texts, &[], &lex, &opts(1.0)).unwrap();
        assert_eq!(all[0].edits.len(), 3);
        assert!(perturb_batch(&texts, &[], &lex, &opts(1.5)).is_err());
    }

    #[test]
    fn max_edits_caps_the_number_of_edits() {
        let lex = lexicon();
        let opts = PerturbOptions { candidates: options(Mode::Mixed, None), rate: 1.0, seed: 1, max_edits: Some(1) };
        let out = perturb_batch(&["the big dog".to_string()], &[], &lex, &opts).unwrap();
        assert_eq!(out[0].edits.len(), 1);
    }

    #[test]
    fn codeswitch_without_targets_is_an_error() {
        assert!(CandidateOptions::new(lang("en"), Mode::Codeswitch, &[lang("en")], None).is_err());
    }

    #[test]
    fn apply_rejects_overlaps_and_maps_positions() {
        let text = "ab cd ef";
        let edit = |s, e, r: &str| PlannedEdit { span: (s, e), replacement: r.into(), lang: lang("en") };
        assert!(apply(text, vec![edit(0, 2, "x"), edit(1, 4, "y")]).is_err());
        let out = apply(text, vec![edit(3, 5, "WXYZ")]).unwrap();
        assert_eq!(out.text, "ab WXYZ ef");
        let spans = char_spans(text, &out);
        assert_eq!(map_position(&spans, 0, false), 0);
        assert_eq!(map_position(&spans, 3, false), 3);
        assert_eq!(map_position(&spans, 4, false), 3);
        assert_eq!(map_position(&spans, 4, true), 7);
        assert_eq!(map_position(&spans, 5, true), 7);
        assert_eq!(map_position(&spans, 6, false), 8);
        assert_eq!(map_position(&spans, 8, true), 10);
    }

    #[test]
    fn match_case_follows_the_original() {
        assert_eq!(match_case("Big", "large"), "Large");
        assert_eq!(match_case("BIG", "large"), "LARGE");
        assert_eq!(match_case("big", "Hund"), "Hund");
        assert_eq!(match_case("大", "large"), "large");
    }
}
