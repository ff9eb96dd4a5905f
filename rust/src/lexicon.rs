//! Multilingual lexicons: synonyms within a language, translations across.
//!
//! Sources, each in its own format:
//! - Open Multilingual Wordnet tab files (`synset TAB lang:lemma TAB lemma`):
//!   words that share a synset id, in any of the loaded files, are synonyms
//!   within a language and translations across languages.
//! - MUSE bilingual dictionaries (`src_word SPACE tgt_word`), languages taken
//!   from the file name (`en-de.txt`).
//! - robust-xlt TSV (`lang TAB word TAB lang TAB word`): a pair in one language
//!   is a synonym pair, across two a translation pair; `#` starts a comment.
//!
//! Lookups ignore case: keys are the NFC, lower-cased form. Multi-word lemmas
//! (`on the go`, OMW's `a_capella`) are kept as replacements, with underscores
//! turned to spaces; they are never looked up, since segmentation yields single
//! words. OMW `lemma:root` / `lemma:brokenplural` rows and `def` / `exe` rows are
//! not words and are skipped.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::casing::Casings;
use crate::error::{CoreError, Result};
use crate::lang::Lang;
use crate::segment::WordLookup;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Omw,
    Muse,
    Tsv,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format> {
        match name.to_ascii_lowercase().as_str() {
            "omw" => Ok(Format::Omw),
            "muse" => Ok(Format::Muse),
            "tsv" => Ok(Format::Tsv),
            other => Err(CoreError::invalid(format!(
                "unknown lexicon format {other:?}: expected 'omw', 'muse' or 'tsv'"
            ))),
        }
    }

    /// Tells the format from the file name: `*.tab` is OMW, `xx-yy.txt` MUSE,
    /// `*.tsv` robust-xlt TSV.
    pub fn detect(path: &Path) -> Result<Format> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tab") {
            Ok(Format::Omw)
        } else if name.ends_with(".tsv") {
            Ok(Format::Tsv)
        } else if muse_languages(path).is_some() {
            Ok(Format::Muse)
        } else {
            Err(CoreError::invalid(format!(
                "{}: cannot tell the lexicon format from the name: expected *.tab (OMW), \
                 SRC-TGT.txt (MUSE) or *.tsv (robust-xlt TSV), or pass the format",
                path.display()
            )))
        }
    }
}

/// The lookup key of a word: NFC, lower-cased.
pub fn word_key(word: &str) -> String {
    let mut key = String::new();
    word_key_into(word, &mut key);
    key
}

/// [`word_key`] into a reused buffer: the per-word allocation showed up in
/// profiles of batch perturbation.
pub fn word_key_into(word: &str, key: &mut String) {
    key.clear();
    if word.is_ascii() {
        key.push_str(word);
        key.make_ascii_lowercase();
    } else if is_nfc_quick(word.chars()) == IsNormalized::Yes {
        key.extend(word.chars().flat_map(char::to_lowercase));
    } else {
        let nfc: String = word.nfc().collect();
        key.extend(nfc.chars().flat_map(char::to_lowercase));
    }
}

/// [`word_key`], borrowing the word itself where it is its own key (ASCII
/// without capitals: most words of running text), else written into `buffer`.
pub fn word_key_in<'a>(word: &'a str, buffer: &'a mut String) -> &'a str {
    if word
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        return word;
    }
    word_key_into(word, buffer);
    buffer
}

#[derive(Debug)]
struct Entry {
    lang: Lang,
    /// The form as the lexicon spells it (multi-word lemmas with spaces).
    form: String,
    key: String,
    /// Related entries sorted by (language, key): same-language ones are
    /// synonyms, the others translations.
    related: Vec<u32>,
    /// `related` cut by language, in language order. Finding a language by
    /// binary search over `related` read one entry per probe, scattered over
    /// the table: on long sentences with a large lexicon that was the largest
    /// cost of `perturb`.
    runs: Box<[Run]>,
    /// The casings under which this entry's own form no longer has its key.
    changing_key: Casings,
}

impl Entry {
    /// The related entries of language `target`.
    fn run(&self, target: Lang) -> Option<RelatedRun<'_>> {
        let at = self.runs.iter().position(|run| run.lang == target)?;
        let start = at.checked_sub(1).map_or(0, |before| self.runs[before].end);
        let run = self.runs[at];
        Some(RelatedRun {
            lang: target,
            ids: &self.related[start as usize..run.end as usize],
            changing_key: run.changing_key,
        })
    }
}

/// The entries of one language in an entry's `related`.
#[derive(Debug, Clone, Copy)]
struct Run {
    lang: Lang,
    end: u32,
    /// The casings under which some entry of the run no longer has its key,
    /// and so, recased, might spell the word it would replace.
    changing_key: Casings,
}

/// The related entries of a word in one language, a slice of its `related`.
#[derive(Debug, Clone, Copy)]
pub struct RelatedRun<'a> {
    pub lang: Lang,
    pub ids: &'a [u32],
    /// The casings under which some of `ids`, recased, may have the word's
    /// key; under any other casing none can (the lexicon drops entries with
    /// the word's key), so their forms need not be read.
    pub changing_key: Casings,
}

/// An immutable lexicon. Built once, then shared read-only across threads.
#[derive(Debug, Default)]
pub struct Lexicon {
    entries: Vec<Entry>,
    index: HashMap<Lang, HashMap<Key, u32>>,
    /// Longest single word per language, in chars, for segmentation.
    longest_word: HashMap<Lang, usize>,
    multiword_entries: usize,
    skipped: Vec<SkippedLine>,
}

/// Words that belong together: an OMW synset, a MUSE pair, a TSV pair.
type Group = Vec<(Lang, String)>;

/// What one file contributes: synsets by id (merged across files), and pairs.
#[derive(Default)]
struct Parsed {
    synsets: Vec<(String, Lang, String)>,
    pairs: Vec<Group>,
    skipped: Vec<SkippedLine>,
}

/// A line left out on purpose, kept so that the caller can report it.
#[derive(Debug, Clone)]
pub struct SkippedLine {
    pub path: PathBuf,
    pub line: usize,
    pub reason: String,
}

impl Lexicon {
    pub fn from_files(files: &[(PathBuf, Option<Format>)]) -> Result<Lexicon> {
        if files.is_empty() {
            return Err(CoreError::invalid("a lexicon needs at least one file"));
        }
        let parsed: Vec<Parsed> = files
            .par_iter()
            .map(|(path, format)| {
                let format = match format {
                    Some(f) => *f,
                    None => Format::detect(path)?,
                };
                parse_file(path, format)
            })
            .collect::<Result<_>>()?;

        // Synsets merge across files by id, in file order, so the result does
        // not depend on which thread parsed which file.
        let mut synsets: HashMap<String, Group> = HashMap::default();
        let mut synset_order: Vec<String> = Vec::new();
        let mut pairs = Vec::new();
        let mut skipped = Vec::new();
        for p in parsed {
            skipped.extend(p.skipped);
            for (id, lang, word) in p.synsets {
                let members = synsets.entry(id.clone()).or_insert_with(|| {
                    synset_order.push(id);
                    Vec::new()
                });
                members.push((lang, word));
            }
            pairs.extend(p.pairs);
        }
        let groups = synset_order
            .iter()
            .filter_map(|id| synsets.remove(id))
            .chain(pairs);
        let mut lexicon = Lexicon::from_groups(groups);
        lexicon.skipped = skipped;
        Ok(lexicon)
    }

    /// Builds the lexicon from groups of related words.
    pub fn from_groups(groups: impl IntoIterator<Item = Group>) -> Lexicon {
        let mut lex = Lexicon::default();
        for group in groups {
            let mut ids: Vec<u32> = group
                .into_iter()
                .filter(|(_, w)| !w.trim().is_empty())
                .map(|(lang, word)| lex.intern(lang, &word))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for &a in &ids {
                for &b in &ids {
                    if a != b {
                        lex.entries[a as usize].related.push(b);
                    }
                }
            }
        }
        // Sort by (language, key) so candidate lists, and so seeded picks among
        // them, do not depend on the order of files or lines.
        let order: Vec<(Lang, String)> = lex
            .entries
            .iter()
            .map(|e| (e.lang, e.key.clone()))
            .collect();
        lex.entries.par_iter_mut().for_each(|entry| {
            // A translation spelled like the word itself (en "hotel", de
            // "Hotel") would change nothing: drop it once here, not per lookup.
            entry
                .related
                .retain(|&id| order[id as usize].1 != entry.key);
            entry
                .related
                .sort_unstable_by(|&a, &b| order[a as usize].cmp(&order[b as usize]));
            entry.related.dedup();
        });
        let changing_key: Vec<Casings> = lex.entries.iter().map(|e| e.changing_key).collect();
        lex.entries.par_iter_mut().for_each(|entry| {
            let mut runs: Vec<Run> = Vec::new();
            for (i, &id) in entry.related.iter().enumerate() {
                let (lang, changes) = (order[id as usize].0, changing_key[id as usize]);
                match runs.last_mut() {
                    Some(run) if run.lang == lang => {
                        run.end = i as u32 + 1;
                        run.changing_key = run.changing_key.union(changes);
                    }
                    _ => runs.push(Run {
                        lang,
                        end: i as u32 + 1,
                        changing_key: changes,
                    }),
                }
            }
            entry.runs = runs.into_boxed_slice();
        });
        lex
    }

    fn intern(&mut self, lang: Lang, raw: &str) -> u32 {
        let form = raw.trim().replace('_', " ");
        let key = word_key(&form);
        let per_lang = self.index.entry(lang).or_default();
        if let Some(&id) = per_lang.get(key.as_bytes()) {
            return id;
        }
        let id = self.entries.len() as u32;
        if form.contains(char::is_whitespace) {
            self.multiword_entries += 1;
        } else {
            let chars = key.chars().count();
            let longest = self.longest_word.entry(lang).or_insert(0);
            *longest = (*longest).max(chars);
        }
        per_lang.insert(Key::new(&key), id);
        self.entries.push(Entry {
            lang,
            changing_key: Casings::changing_key(&form, &key),
            form,
            key,
            related: Vec::new(),
            runs: Box::default(),
        });
        id
    }

    fn lookup(&self, word: &str, lang: Lang) -> Option<&Entry> {
        let id = *self.index.get(&lang)?.get(word_key(word).as_bytes())?;
        Some(&self.entries[id as usize])
    }

    /// Forms related to `word` in `target` (synonyms when `target` is the
    /// word's own language), sorted by key.
    pub fn related_in(&self, word: &str, lang: Lang, target: Lang) -> Vec<&str> {
        self.lookup(word, lang)
            .map(|entry| {
                entry
                    .run(target)
                    .map_or(&[][..], |run| run.ids)
                    .iter()
                    .map(|&id| self.entries[id as usize].form.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The lexicon's spelling of an entry.
    pub fn form(&self, id: u32) -> &str {
        &self.entries[id as usize].form
    }

    pub fn languages(&self) -> Vec<Lang> {
        let mut langs: Vec<Lang> = self.index.keys().copied().collect();
        langs.sort_by_key(|l| l.code());
        langs
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines left out while loading (OMW rows with an empty lemma).
    pub fn skipped_lines(&self) -> &[SkippedLine] {
        &self.skipped
    }

    pub fn multiword_entries(&self) -> usize {
        self.multiword_entries
    }

    pub fn word_count(&self, lang: Lang) -> usize {
        self.index.get(&lang).map_or(0, HashMap::len)
    }

    /// The words of one language, as a dictionary for segmentation.
    pub fn words(&self, lang: Lang) -> LexiconWords<'_> {
        LexiconWords {
            lexicon: self,
            keys: self.index.get(&lang),
            longest: self.longest_word.get(&lang).copied().unwrap_or(0),
        }
    }
}

/// The words of one language of a lexicon.
pub struct LexiconWords<'a> {
    lexicon: &'a Lexicon,
    keys: Option<&'a HashMap<Key, u32>>,
    longest: usize,
}

impl<'a> LexiconWords<'a> {
    /// Related entries of the word with the lookup key `key` (see
    /// [`word_key`]), one run per target language that has some, in the order
    /// of `targets`. No string is built: callers spell out only the forms they
    /// pick.
    pub fn related<'t>(
        &self,
        key: &str,
        targets: &'t [Lang],
    ) -> impl Iterator<Item = RelatedRun<'a>> + 't
    where
        'a: 't,
    {
        let entry = self
            .keys
            .and_then(|keys| keys.get(key.as_bytes()))
            .map(|&id| &self.lexicon.entries[id as usize]);
        entry
            .into_iter()
            .flat_map(move |entry| targets.iter().filter_map(move |&target| entry.run(target)))
    }
}

impl WordLookup for LexiconWords<'_> {
    fn contains_word(&self, word: &str) -> bool {
        self.keys.is_some_and(|k| k.contains_key(word.as_bytes()))
    }
    fn max_word_chars(&self) -> usize {
        self.longest
    }
}

/// A lookup key in a hash table, its bytes inline when short (nearly every
/// word is). Comparing a probed key then reads the table's own memory, not a
/// separate heap allocation: with `String` keys that extra cache miss was an
/// eighth of `perturb`'s time on long sentences with a large lexicon. Looked up
/// by the key's bytes.
#[derive(Debug, Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

/// The most bytes kept inline: the enum is then as large as its `Heap` form
/// with a tag (24 bytes).
const INLINE_KEY: usize = 22;

impl Key {
    fn new(key: &str) -> Key {
        let source = key.as_bytes();
        if source.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..source.len()].copy_from_slice(source);
            Key::Inline {
                len: source.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(source.into())
        }
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(bytes) => bytes,
        }
    }
}

// Hash and equality are those of the bytes, as `Borrow` requires.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::borrow::Borrow::<[u8]>::borrow(self).hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        std::borrow::Borrow::<[u8]>::borrow(self) == std::borrow::Borrow::<[u8]>::borrow(other)
    }
}

impl Eq for Key {}

/// A set of lower-cased words (stop words), usable as a segmentation dictionary.
#[derive(Debug, Default)]
pub struct WordSet {
    words: HashSet<Key>,
    longest: usize,
}

impl WordSet {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> WordSet {
        let keys: HashSet<String> = words.into_iter().map(|w| word_key(w.as_ref())).collect();
        let longest = keys.iter().map(|w| w.chars().count()).max().unwrap_or(0);
        let words = keys.iter().map(|k| Key::new(k)).collect();
        WordSet { words, longest }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.words.contains(key.as_bytes())
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

impl WordLookup for WordSet {
    fn contains_word(&self, word: &str) -> bool {
        self.words.contains(word.as_bytes())
    }
    fn max_word_chars(&self) -> usize {
        self.longest
    }
}

fn muse_languages(path: &Path) -> Option<(Lang, Lang)> {
    let stem = path.file_stem()?.to_str()?;
    let (src, tgt) = stem.split_once('-')?;
    Some((Lang::parse(src).ok()?, Lang::parse(tgt).ok()?))
}

/// Lines of a file with 1-based numbers; a line that is not UTF-8 is an error
/// naming it.
fn read_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let bytes = fs::read(path).map_err(|e| CoreError::from_io(path, e))?;
    // A UTF-8 byte-order mark (editors on Windows write one) is not part of the
    // first word, language code or header.
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec())
                .map(|s| (i + 1, s))
                .map_err(|_| malformed(path, i + 1, "not valid UTF-8".into()))
        })
        .collect()
}

fn malformed(path: &Path, line: usize, message: String) -> CoreError {
    CoreError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn parse_file(path: &Path, format: Format) -> Result<Parsed> {
    let lines = read_lines(path)?;
    match format {
        Format::Omw => parse_omw(path, &lines),
        Format::Muse => parse_muse(path, &lines),
        Format::Tsv => parse_tsv(path, &lines),
    }
}

fn parse_omw(path: &Path, lines: &[(usize, String)]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    // The header (`# name TAB lang TAB url TAB licence`) names the language of
    // rows without a `lang:` prefix (the MCR Spanish file has such rows).
    let mut header_lang: Option<std::result::Result<Lang, String>> = None;
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('#') {
            if header_lang.is_none() {
                let code = header.split('\t').nth(1).unwrap_or("").trim().to_string();
                header_lang = Some(Lang::parse(&code).map_err(|_| code));
            }
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        if columns.len() < 3 {
            return Err(malformed(
                path,
                *number,
                format!(
                    "expected 'synset TAB lang:lemma TAB word', found {} column(s): {line:?}",
                    columns.len()
                ),
            ));
        }
        let (synset, kind, word) = (columns[0], columns[1], columns[2]);
        let (lang, relation) = match kind.split_once(':') {
            Some((code, rest)) => {
                let lang = Lang::parse(code).map_err(|_| {
                    malformed(path, *number, format!("unknown language code {code:?} in {kind:?}"))
                })?;
                (lang, rest)
            }
            None => match &header_lang {
                Some(Ok(lang)) => (*lang, kind),
                Some(Err(code)) => {
                    return Err(malformed(
                        path,
                        *number,
                        format!("row {kind:?} has no language prefix and the header names an unknown language {code:?}"),
                    ))
                }
                None => {
                    return Err(malformed(
                        path,
                        *number,
                        format!("row {kind:?} has no language prefix and the file has no header naming its language"),
                    ))
                }
            },
        };
        if relation != "lemma" {
            continue; // definitions, examples, roots and plural forms are not synonyms
        }
        if synset.is_empty() {
            return Err(malformed(
                path,
                *number,
                format!("empty synset id: {line:?}"),
            ));
        }
        if word.trim().is_empty() {
            // The Wiktionary English file has such rows: nothing to learn from
            // them, so they are skipped and reported rather than fatal.
            parsed.skipped.push(SkippedLine {
                path: path.to_path_buf(),
                line: *number,
                reason: format!("empty lemma in {line:?}"),
            });
            continue;
        }
        parsed
            .synsets
            .push((synset.to_string(), lang, word.to_string()));
    }
    Ok(parsed)
}

fn parse_muse(path: &Path, lines: &[(usize, String)]) -> Result<Parsed> {
    let (src, tgt) = muse_languages(path).ok_or_else(|| {
        CoreError::invalid(format!(
            "{}: cannot tell the languages of a MUSE dictionary: name it SRC-TGT.txt (e.g. en-de.txt)",
            path.display()
        ))
    })?;
    let mut parsed = Parsed::default();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [a, b] => parsed
                .pairs
                .push(vec![(src, a.to_string()), (tgt, b.to_string())]),
            _ => {
                return Err(malformed(
                    path,
                    *number,
                    format!(
                        "expected 'source_word target_word', found {} field(s): {line:?}",
                        fields.len()
                    ),
                ))
            }
        }
    }
    Ok(parsed)
}

fn parse_tsv(path: &Path, lines: &[(usize, String)]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    for (number, line) in lines {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [lang_a, word_a, lang_b, word_b] = fields.as_slice() else {
            return Err(malformed(
                path,
                *number,
                format!(
                    "expected 'lang TAB word TAB lang TAB word', found {} column(s): {line:?}",
                    fields.len()
                ),
            ));
        };
        let parse = |code: &str| {
            Lang::parse(code)
                .map_err(|_| malformed(path, *number, format!("unknown language code {code:?}")))
        };
        if word_a.trim().is_empty() || word_b.trim().is_empty() {
            return Err(malformed(path, *number, format!("empty word: {line:?}")));
        }
        parsed.pairs.push(vec![
            (parse(lang_a)?, word_a.to_string()),
            (parse(lang_b)?, word_b.to_string()),
        ]);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lang(code: &str) -> Lang {
        Lang::parse(code).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("robust-xlt-lexicon-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn omw_synsets_give_synonyms_and_translations_across_files() {
        let dir = temp_dir("omw");
        let eng = write(&dir, "wn-eng.tab", "# test\teng\turl\tlicence\n1-n\teng:lemma\tdog\n1-n\teng:lemma\tHound\n1-n\teng:def\t0\ta dog\n");
        let deu = write(
            &dir,
            "wn-deu.tab",
            "# test\tdeu\turl\tlicence\n1-n\tdeu:lemma\tHund\n2-n\tdeu:lemma\tKatze\n",
        );
        let lex = Lexicon::from_files(&[(eng, None), (deu, None)]).unwrap();
        assert_eq!(lex.related_in("DOG", lang("en"), lang("en")), ["Hound"]);
        assert_eq!(lex.related_in("dog", lang("en"), lang("de")), ["Hund"]);
        assert_eq!(
            lex.related_in("hund", lang("de"), lang("en")),
            ["dog", "Hound"]
        );
        assert!(lex.related_in("Katze", lang("de"), lang("en")).is_empty());
    }

    #[test]
    fn unprefixed_rows_take_the_header_language() {
        let dir = temp_dir("mcr");
        let spa = write(
            &dir,
            "wn-data-spa.tab",
            "# MCR\tspa\turl\tCC\n1-n\tlemma\tperro\n1-n\tlemma\tcan\n1-r\tlemma\ta_capella\n",
        );
        let lex = Lexicon::from_files(&[(spa, None)]).unwrap();
        assert_eq!(lex.related_in("perro", lang("es"), lang("es")), ["can"]);
        assert_eq!(lex.multiword_entries(), 1);
    }

    #[test]
    fn muse_pairs_work_both_ways() {
        let dir = temp_dir("muse");
        let muse = write(&dir, "en-de.txt", "the die\nthe der\ndog hund\n\n");
        let lex = Lexicon::from_files(&[(muse, None)]).unwrap();
        assert_eq!(
            lex.related_in("The", lang("en"), lang("de")),
            ["der", "die"]
        );
        assert_eq!(lex.related_in("hund", lang("deu"), lang("eng")), ["dog"]);
    }

    #[test]
    fn malformed_lines_name_path_and_line() {
        let dir = temp_dir("bad");
        let muse = write(&dir, "en-fr.txt", "cat chat\nbroken line here\n");
        let err = Lexicon::from_files(&[(muse.clone(), None)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("en-fr.txt:2:"), "{err}");
        assert!(err.contains("broken line here"), "{err}");

        let tsv = write(&dir, "mine.tsv", "en\tbig\ten\tlarge\nxx\tfoo\ten\tbar\n");
        let err = Lexicon::from_files(&[(tsv, None)]).unwrap_err().to_string();
        assert!(
            err.contains("mine.tsv:2:") && err.contains("\"xx\""),
            "{err}"
        );

        let omw = write(
            &dir,
            "empty.tab",
            "# x\teng\n1-n\teng:lemma\t\n1-n\teng:lemma\tok\n",
        );
        let lex = Lexicon::from_files(&[(omw, None)]).unwrap();
        assert_eq!(lex.skipped_lines().len(), 1);
        assert_eq!(lex.skipped_lines()[0].line, 2);

        let omw = write(&dir, "short.tab", "# x\teng\n1-n\teng:lemma\n");
        let err = Lexicon::from_files(&[(omw, None)]).unwrap_err().to_string();
        assert!(err.contains("short.tab:2:"), "{err}");
    }

    #[test]
    fn missing_files_and_unknown_names_are_errors() {
        let missing = PathBuf::from("/nonexistent/en-de.txt");
        assert!(matches!(
            Lexicon::from_files(&[(missing, None)]),
            Err(CoreError::FileNotFound { .. })
        ));
        let odd = PathBuf::from("/tmp/words.json");
        assert!(matches!(
            Lexicon::from_files(&[(odd, None)]),
            Err(CoreError::InvalidArgument(_))
        ));
    }

    #[test]
    fn word_key_in_borrows_only_words_that_are_their_own_key() {
        let mut buffer = String::new();
        for word in [
            "dog",
            "don't",
            "3.5",
            "Dog",
            "NASA",
            "Straße",
            "İstanbul",
            "e\u{301}",
        ] {
            let key = word_key_in(word, &mut buffer).to_string();
            assert_eq!(key, word_key(word), "{word}");
        }
        let word = "dog";
        assert!(std::ptr::eq(word_key_in(word, &mut buffer), word));
    }

    #[test]
    fn keys_past_the_inline_length_are_found() {
        let de = lang("de");
        let long = "Donaudampfschifffahrtsgesellschaft"; // 34 bytes, stored on the heap
        assert!(long.len() > INLINE_KEY);
        let lex = Lexicon::from_groups(vec![vec![(de, long.into()), (de, "Reederei".into())]]);
        assert_eq!(lex.related_in(long, de, de), ["Reederei"]);
        assert_eq!(lex.related_in("reederei", de, de), [long]);
        let stop = WordSet::new([long, "ab"]);
        assert!(stop.contains_key(&word_key(long)) && stop.contains_key("ab"));
        assert!(!stop.contains_key("a"));
    }

    #[test]
    fn related_lists_do_not_depend_on_file_order() {
        let dir = temp_dir("order");
        let a = write(&dir, "a.tsv", "en\tbig\ten\tlarge\nen\tbig\ten\thuge\n");
        let b = write(&dir, "b.tsv", "en\tbig\ten\tgreat\n");
        let one = Lexicon::from_files(&[(a.clone(), None), (b.clone(), None)]).unwrap();
        let two = Lexicon::from_files(&[(b, None), (a, None)]).unwrap();
        assert_eq!(
            one.related_in("big", lang("en"), lang("en")),
            two.related_in("big", lang("en"), lang("en"))
        );
        assert_eq!(
            one.related_in("big", lang("en"), lang("en")),
            ["great", "huge", "large"]
        );
    }
}
