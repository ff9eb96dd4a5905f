//! Batched word substitution: synonyms, code-switching translations, or both.
//!
//! The work for one text is: segment it, sort its words into stop words,
//! protected words, words without a candidate and eligible words, each
//! eligible one with its candidate replacements ([`classify`]), pick edits with
//! the text's own seeded generator ([`choose_edits`]), and apply them with a
//! span map ([`apply`]). Classifying depends on segmentation; choosing and
//! applying do not, and the pure-Python reference in the tests re-implements
//! exactly those two, plus the counts from the core's word spans.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::casing::{match_case, Casing};
use crate::error::{CoreError, Result};
use crate::lang::Lang;
use crate::lexicon::{word_key_in, word_key_into, Lexicon, RelatedRun, WordSet};
use crate::offsets::CharOffsets;
use crate::rng::ItemRng;
use crate::segment::{segment, segment_into, ByteSpan, WordLookup};

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
    pub fn new(
        lang: Lang,
        mode: Mode,
        target_langs: &[Lang],
        stopwords: Option<&'a WordSet>,
    ) -> Result<Self> {
        let foreign: Vec<Lang> = target_langs
            .iter()
            .copied()
            .filter(|&t| t != lang)
            .collect();
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
        let targets = targets
            .into_iter()
            .filter(|t| {
                let new = !seen.contains(t);
                seen.push(*t);
                new
            })
            .collect();
        Ok(CandidateOptions {
            lang,
            targets,
            stopwords,
        })
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

/// What segmentation found in one text, each word counted once, in the first
/// of these classes it falls in: a stop word, a word overlapping a protected
/// span, a word without a candidate, an eligible word. So
/// `words == stopwords + protected + no_candidate + eligible`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordCounts {
    pub words: usize,
    pub stopwords: usize,
    pub protected: usize,
    pub no_candidate: usize,
    pub eligible: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Perturbed {
    pub text: String,
    pub edits: Vec<Edit>,
    pub counts: WordCounts,
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

/// An eligible word: its span, and where its candidates lie in
/// [`Classified::options`].
#[derive(Debug, Clone)]
pub struct Eligible {
    pub span: ByteSpan,
    options: (u32, u32),
}

/// What [`classify`] found in one text: its words counted by class, and its
/// eligible words with their candidates as lexicon entry ids, per language
/// (borrowed from the lexicon unless some candidate had to be left out).
///
/// One value serves all the texts a thread handles, each `classify` clearing
/// it: its buffers are allocated once per thread, not per text and word
/// (allocation was a fifth of `perturb`'s time on long sentences).
#[derive(Debug, Default)]
pub struct Classified<'l> {
    pub counts: WordCounts,
    pub eligible: Vec<Eligible>,
    options: Vec<(Lang, Cow<'l, [u32]>)>,
    spans: Vec<ByteSpan>,
    key: String,
    chosen: Vec<usize>,
}

impl<'l> Classified<'l> {
    /// The candidates of an eligible word per language, none empty.
    pub fn options(&self, word: &Eligible) -> &[(Lang, Cow<'l, [u32]>)] {
        &self.options[word.options.0 as usize..word.options.1 as usize]
    }
}

/// Classifies the words of `text` into `out`. A word is eligible when it is
/// not a stop word, lies outside every protected span and has at least one
/// candidate.
///
/// A candidate is a related lexicon entry whose replacement, in the word's
/// casing, differs from the word ignoring case (by lookup key): a chosen edit
/// always changes the text. The lexicon already drops entries spelled like the
/// word; casing can still make the two equal: Turkish "kır" upper-cased is the
/// word "KIR" (key "kir"), German "Straße" upper-cased is "STRASSE".
pub fn classify<'l>(
    text: &str,
    protect: &[ByteSpan],
    lexicon: &'l Lexicon,
    options: &CandidateOptions,
    out: &mut Classified<'l>,
) {
    let words = lexicon.words(options.lang);
    let (only, both): ([&dyn WordLookup; 1], [&dyn WordLookup; 2]);
    let dictionaries: &[&dyn WordLookup] = match options.stopwords {
        Some(stopwords) => {
            both = [&words, stopwords];
            &both
        }
        None => {
            only = [&words];
            &only
        }
    };
    segment_into(text, dictionaries, &mut out.spans);
    out.counts = WordCounts {
        words: out.spans.len(),
        ..WordCounts::default()
    };
    out.eligible.clear();
    out.options.clear();
    let Classified {
        counts,
        eligible,
        options: found,
        spans,
        key,
        ..
    } = out;
    for &span in spans.iter() {
        let word = &text[span.0..span.1];
        let key = word_key_in(word, key);
        if options.stopwords.is_some_and(|s| s.contains_key(key)) {
            counts.stopwords += 1;
            continue;
        }
        if overlaps_protected(span, protect) {
            counts.protected += 1;
            continue;
        }
        let start = found.len();
        let mut runs = words.related(key, &options.targets).peekable();
        if runs.peek().is_some() {
            let casing = Casing::of(word);
            found.extend(runs.filter_map(|run| {
                let ids = changing_candidates(run, casing, key, lexicon);
                (!ids.is_empty()).then_some((run.lang, ids))
            }));
        }
        if found.len() == start {
            counts.no_candidate += 1;
        } else {
            counts.eligible += 1;
            eligible.push(Eligible {
                span,
                options: (start as u32, found.len() as u32),
            });
        }
    }
}

/// The ids of `run` whose forms, cased like the word, differ from it ignoring
/// case. In the lexicon's own casing they always do, and so they do in any
/// casing that leaves every key of the run unchanged (nearly always, as the
/// lexicon knows): only then are forms spelled out.
fn changing_candidates<'l>(
    run: RelatedRun<'l>,
    casing: Casing,
    key: &str,
    lexicon: &Lexicon,
) -> Cow<'l, [u32]> {
    let ids = run.ids;
    if !run.changing_key.contains(casing) {
        return Cow::Borrowed(ids);
    }
    let mut cased_key = String::new();
    let mut changes = |id: u32| {
        word_key_into(&casing.apply(lexicon.form(id)), &mut cased_key);
        cased_key != key
    };
    match ids.iter().position(|&id| !changes(id)) {
        None => Cow::Borrowed(ids),
        Some(first_same) => {
            let mut kept = ids[..first_same].to_vec();
            kept.extend(
                ids[first_same + 1..]
                    .iter()
                    .copied()
                    .filter(|&id| changes(id)),
            );
            Cow::Owned(kept)
        }
    }
}

/// Eligible words of `text` with their candidates spelled out, each in the
/// original word's casing: the search space of an adversary. `scratch` is
/// reused across texts, as for [`classify`].
pub fn candidates<'l>(
    text: &str,
    protect: &[ByteSpan],
    lexicon: &'l Lexicon,
    options: &CandidateOptions,
    scratch: &mut Classified<'l>,
) -> Vec<WordCandidates> {
    classify(text, protect, lexicon, options, scratch);
    scratch
        .eligible
        .iter()
        .map(|e| {
            let word = &text[e.span.0..e.span.1];
            let casing = Casing::of(word);
            WordCandidates {
                span: e.span,
                word: word.to_string(),
                options: scratch
                    .options(e)
                    .iter()
                    .map(|(lang, ids)| {
                        let forms = ids.iter().map(|&id| casing.apply(lexicon.form(id)));
                        (*lang, forms.collect())
                    })
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
/// within that language. Without `max_edits`, the expected share of eligible
/// words changed is therefore `rate`, and each edit changes its word.
pub fn choose_edits(
    text: &str,
    classified: &mut Classified,
    lexicon: &Lexicon,
    rng: &mut ItemRng,
    rate: f64,
    max_edits: Option<usize>,
) -> Vec<PlannedEdit> {
    let mut chosen = std::mem::take(&mut classified.chosen);
    chosen.clear();
    chosen.extend((0..classified.eligible.len()).filter(|_| rng.next_f64() < rate));
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
    let edits = chosen
        .iter()
        .map(|&i| {
            let word = &classified.eligible[i];
            let options = classified.options(word);
            let (lang, ids) = &options[rng.below(options.len())];
            let form = lexicon.form(ids[rng.below(ids.len())]);
            PlannedEdit {
                span: word.span,
                replacement: match_case(&text[word.span.0..word.span.1], form),
                lang: *lang,
            }
        })
        .collect();
    classified.chosen = chosen;
    edits
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
    Ok(Perturbed {
        text: out,
        edits: made,
        counts: WordCounts::default(),
    })
}

/// [`apply`] for edits chosen outside the core (an adversary's). With no
/// lexicon to tell the classes apart, the counts hold only `words`: the words
/// of the original text by segmentation without a dictionary, which on scripts
/// written with spaces is the segmentation [`classify`] uses.
pub fn apply_chosen(text: &str, edits: Vec<PlannedEdit>) -> Result<Perturbed> {
    let mut perturbed = apply(text, edits)?;
    perturbed.counts.words = segment(text, &[]).len();
    Ok(perturbed)
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
        Err(CoreError::invalid(format!(
            "rate must lie in [0, 1], got {rate}"
        )))
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
        .map_init(Classified::default, |classified, (i, text)| {
            let spans = protect.get(i).map_or(&[][..], Vec::as_slice);
            classify(text, spans, lexicon, &options.candidates, classified);
            let mut rng = ItemRng::for_item(options.seed, i as u64);
            let edits = choose_edits(
                text,
                classified,
                lexicon,
                &mut rng,
                options.rate,
                options.max_edits,
            );
            let counts = classified.counts;
            apply(text, edits).map(|p| Perturbed { counts, ..p })
        })
        .collect()
}

/// Carries a position of one side of the edits to the other side. A position
/// strictly inside an edited word goes to the replacement's start (for a span
/// start) or end (for a span end), so a span never cuts a replacement.
pub fn map_position(spans: &[(ByteSpan, ByteSpan)], position: usize, is_end: bool) -> usize {
    let mut shift: isize = 0;
    for (i, &((from_start, from_end), (to_start, to_end))) in spans.iter().enumerate() {
        if from_start == from_end && position == from_start {
            // An empty from-span is a deleted word seen from the perturbed text: a
            // span ending here ends before it, one starting here starts after it
            // (after every word deleted at this point), so map_span_back inverts
            // map_span around deletions too.
            if is_end {
                return to_start;
            }
            return spans[i..]
                .iter()
                .take_while(|&&((s, e), _)| s == position && e == position)
                .last()
                .map_or(to_end, |&(_, (_, end))| end);
        }
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
                (
                    before.to_char(e.original_span.0),
                    before.to_char(e.original_span.1),
                ),
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
            vec![
                (en, "big".into()),
                (en, "large".into()),
                (en, "huge".into()),
                (de, "groß".into()),
                (fr, "grand".into()),
            ],
            vec![(en, "dog".into()), (de, "Hund".into())],
            vec![(en, "the".into()), (de, "die".into())],
        ])
    }

    fn candidates_of(
        text: &str,
        protect: &[ByteSpan],
        lexicon: &Lexicon,
        options: &CandidateOptions,
    ) -> Vec<WordCandidates> {
        candidates(text, protect, lexicon, options, &mut Classified::default())
    }

    fn options(mode: Mode, stopwords: Option<&WordSet>) -> CandidateOptions<'_> {
        CandidateOptions::new(lang("en"), mode, &[lang("de"), lang("fr")], stopwords).unwrap()
    }

    #[test]
    fn candidates_follow_mode_case_protection_and_stopwords() {
        let lex = lexicon();
        let found = candidates_of("The BIG dog", &[], &lex, &options(Mode::Synonym, None));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].word, "BIG");
        assert_eq!(
            found[0].options,
            vec![(lang("en"), vec!["HUGE".to_string(), "LARGE".to_string()])]
        );

        let stop = WordSet::new(["the"]);
        let found = candidates_of(
            "The big dog",
            &[(4, 7)],
            &lex,
            &options(Mode::Codeswitch, Some(&stop)),
        );
        let words: Vec<&str> = found.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["dog"]);
        assert_eq!(
            found[0].options,
            vec![(lang("de"), vec!["Hund".to_string()])]
        );

        let found = candidates_of("big", &[], &lex, &options(Mode::Mixed, None));
        let langs: Vec<&str> = found[0].options.iter().map(|(l, _)| l.code()).collect();
        assert_eq!(langs, ["en", "de", "fr"]);
    }

    #[test]
    fn rate_zero_is_identity_and_rate_one_edits_every_eligible_word() {
        let lex = lexicon();
        let opts = |rate| PerturbOptions {
            candidates: options(Mode::Mixed, None),
            rate,
            seed: 3,
            max_edits: None,
        };
        let texts = vec!["The big dog barks.".to_string()];
        let same = perturb_batch(&texts, &[], &lex, &opts(0.0)).unwrap();
        assert_eq!(same[0].text, texts[0]);
        assert!(same[0].edits.is_empty());
        let all = perturb_batch(&texts, &[], &lex, &opts(1.0)).unwrap();
        assert_eq!(all[0].edits.len(), 3);
        assert!(perturb_batch(&texts, &[], &lex, &opts(1.5)).is_err());
    }

    #[test]
    fn counts_sort_every_word_into_one_class() {
        let lex = lexicon();
        let stop = WordSet::new(["the", "a"]);
        let opts = PerturbOptions {
            candidates: options(Mode::Mixed, Some(&stop)),
            rate: 1.0,
            seed: 0,
            max_edits: None,
        };
        // the: stop word (inside the protected span too); big: protected; dog:
        // eligible; barks, loudly: no candidate.
        let out = perturb_batch(
            &["The big dog barks loudly".to_string()],
            &[vec![(0, 7)]],
            &lex,
            &opts,
        )
        .unwrap();
        let counts = out[0].counts;
        assert_eq!(
            counts,
            WordCounts {
                words: 5,
                stopwords: 1,
                protected: 1,
                no_candidate: 2,
                eligible: 1
            }
        );
        assert_eq!(out[0].edits.len(), 1);
        assert_eq!(
            counts.words,
            counts.stopwords + counts.protected + counts.no_candidate + counts.eligible
        );
    }

    #[test]
    fn a_candidate_equal_to_the_word_ignoring_case_is_never_offered() {
        let (de, tr) = (lang("de"), lang("tr"));
        let lex = Lexicon::from_groups(vec![
            vec![
                (de, "Straße".into()),
                (de, "Strasse".into()),
                (de, "Weg".into()),
            ],
            vec![(tr, "kır".into()), (tr, "kir".into())],
        ]);
        let de_opts = CandidateOptions::new(de, Mode::Synonym, &[], None).unwrap();
        let found = candidates_of("STRASSE strasse", &[], &lex, &de_opts);
        assert_eq!(
            found[0].options,
            vec![(de, vec!["WEG".to_string()])],
            "upper-cased Straße is STRASSE"
        );
        assert_eq!(
            found[1].options,
            vec![(de, vec!["Straße".to_string(), "Weg".to_string()])]
        );
        // Turkish "KIR" is the key "kir"; its synonym "kır" upper-cases to "KIR".
        let tr_opts = CandidateOptions::new(tr, Mode::Synonym, &[], None).unwrap();
        let mut classified = Classified::default();
        classify("KIR kir", &[], &lex, &tr_opts, &mut classified);
        assert_eq!(classified.eligible.len(), 1);
        assert_eq!(
            classified.counts,
            WordCounts {
                words: 2,
                no_candidate: 1,
                eligible: 1,
                ..WordCounts::default()
            }
        );
        let opts = PerturbOptions {
            candidates: tr_opts,
            rate: 1.0,
            seed: 0,
            max_edits: None,
        };
        let out = perturb_batch(&["KIR Kir kir".to_string()], &[], &lex, &opts).unwrap();
        for edit in &out[0].edits {
            assert_ne!(
                crate::lexicon::word_key(&edit.replacement),
                crate::lexicon::word_key(&edit.original)
            );
        }
    }

    #[test]
    fn apply_chosen_counts_only_words() {
        let edit = PlannedEdit {
            span: (0, 3),
            replacement: "big".into(),
            lang: lang("en"),
        };
        let out = apply_chosen("The dog, barks.", vec![edit]).unwrap();
        assert_eq!(
            out.counts,
            WordCounts {
                words: 3,
                ..WordCounts::default()
            }
        );
    }

    #[test]
    fn max_edits_caps_the_number_of_edits() {
        let lex = lexicon();
        let opts = PerturbOptions {
            candidates: options(Mode::Mixed, None),
            rate: 1.0,
            seed: 1,
            max_edits: Some(1),
        };
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
        let edit = |s, e, r: &str| PlannedEdit {
            span: (s, e),
            replacement: r.into(),
            lang: lang("en"),
        };
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
    fn deletions_map_back_to_the_text_around_them() {
        // "x abc y" with "abc" deleted is "x  y"; backward spans are empty from-spans.
        let back = [((2, 2), (2, 5))];
        assert_eq!(map_position(&back, 2, false), 5); // " y" starts after the deleted word
        assert_eq!(map_position(&back, 2, true), 2); // "x " ends before it
        assert_eq!(map_position(&back, 4, true), 7);
        // Two words deleted at one point ("AB c" -> " c"): a start lies after both.
        let both = [((0, 0), (0, 1)), ((1, 1), (1, 2))];
        let same_point = [((0, 0), (0, 1)), ((0, 0), (1, 2))];
        assert_eq!(map_position(&same_point, 0, false), 2);
        assert_eq!(map_position(&same_point, 0, true), 0);
        assert_eq!(map_position(&same_point, 2, true), 4);
        assert_eq!(map_position(&both, 0, false), 1);
    }
}
