//! Language codes: ISO 639-1 and ISO 639-3 (and the common 639-2/B and
//! macrolanguage member codes) resolve to one canonical code, the 639-1 code
//! where one exists. An unknown code is an error that names it, never a guess.

use crate::error::{CoreError, Result};

/// A language known to the core, as an index into [`LANGUAGES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang(u16);

struct LangInfo {
    /// The canonical code (ISO 639-1 where it exists).
    code: &'static str,
    /// Every other code that names the same language, lower-case.
    aliases: &'static [&'static str],
}

// Macrolanguages (ar, zh, sw, ms, fa, ...) accept their member codes too, since
// resources name the member: OMW's `arb`, `cmn`, `zsm`; TyDiQA's `swh`.
// One language per line: a table reads better than rustfmt's one field per line.
#[rustfmt::skip]
const LANGUAGES: &[LangInfo] = &[
    LangInfo { code: "af", aliases: &["afr"] },
    LangInfo { code: "am", aliases: &["amh"] },
    LangInfo { code: "ar", aliases: &["ara", "arb"] },
    LangInfo { code: "az", aliases: &["aze", "azj"] },
    LangInfo { code: "be", aliases: &["bel"] },
    LangInfo { code: "bg", aliases: &["bul"] },
    LangInfo { code: "bn", aliases: &["ben"] },
    LangInfo { code: "br", aliases: &["bre"] },
    LangInfo { code: "bs", aliases: &["bos"] },
    LangInfo { code: "ca", aliases: &["cat"] },
    LangInfo { code: "cs", aliases: &["ces", "cze"] },
    LangInfo { code: "cy", aliases: &["cym", "wel"] },
    LangInfo { code: "da", aliases: &["dan"] },
    LangInfo { code: "de", aliases: &["deu", "ger"] },
    LangInfo { code: "el", aliases: &["ell", "gre"] },
    LangInfo { code: "en", aliases: &["eng"] },
    LangInfo { code: "eo", aliases: &["epo"] },
    LangInfo { code: "es", aliases: &["spa"] },
    LangInfo { code: "et", aliases: &["est", "ekk"] },
    LangInfo { code: "eu", aliases: &["eus", "baq"] },
    LangInfo { code: "fa", aliases: &["fas", "per", "pes"] },
    LangInfo { code: "fi", aliases: &["fin"] },
    LangInfo { code: "fr", aliases: &["fra", "fre"] },
    LangInfo { code: "ga", aliases: &["gle"] },
    LangInfo { code: "gl", aliases: &["glg"] },
    LangInfo { code: "gu", aliases: &["guj"] },
    LangInfo { code: "ha", aliases: &["hau"] },
    LangInfo { code: "he", aliases: &["heb"] },
    LangInfo { code: "hi", aliases: &["hin"] },
    LangInfo { code: "hr", aliases: &["hrv"] },
    LangInfo { code: "hu", aliases: &["hun"] },
    LangInfo { code: "hy", aliases: &["hye", "arm"] },
    LangInfo { code: "id", aliases: &["ind"] },
    LangInfo { code: "ig", aliases: &["ibo"] },
    LangInfo { code: "is", aliases: &["isl", "ice"] },
    LangInfo { code: "it", aliases: &["ita"] },
    LangInfo { code: "ja", aliases: &["jpn"] },
    LangInfo { code: "jv", aliases: &["jav"] },
    LangInfo { code: "ka", aliases: &["kat", "geo"] },
    LangInfo { code: "kk", aliases: &["kaz"] },
    LangInfo { code: "km", aliases: &["khm"] },
    LangInfo { code: "kn", aliases: &["kan"] },
    LangInfo { code: "ko", aliases: &["kor"] },
    LangInfo { code: "ku", aliases: &["kur", "kmr"] },
    LangInfo { code: "ky", aliases: &["kir"] },
    LangInfo { code: "la", aliases: &["lat"] },
    LangInfo { code: "lo", aliases: &["lao"] },
    LangInfo { code: "lt", aliases: &["lit"] },
    LangInfo { code: "lv", aliases: &["lav", "lvs"] },
    LangInfo { code: "mg", aliases: &["mlg", "plt"] },
    LangInfo { code: "mk", aliases: &["mkd", "mac"] },
    LangInfo { code: "ml", aliases: &["mal"] },
    LangInfo { code: "mn", aliases: &["mon", "khk"] },
    LangInfo { code: "mr", aliases: &["mar"] },
    LangInfo { code: "ms", aliases: &["msa", "may", "zsm"] },
    LangInfo { code: "my", aliases: &["mya", "bur"] },
    LangInfo { code: "ne", aliases: &["nep", "npi"] },
    LangInfo { code: "nl", aliases: &["nld", "dut"] },
    LangInfo { code: "no", aliases: &["nor", "nb", "nob"] },
    LangInfo { code: "pa", aliases: &["pan"] },
    LangInfo { code: "pl", aliases: &["pol"] },
    LangInfo { code: "ps", aliases: &["pus", "pbt"] },
    LangInfo { code: "pt", aliases: &["por"] },
    LangInfo { code: "qu", aliases: &["que"] },
    LangInfo { code: "ro", aliases: &["ron", "rum"] },
    LangInfo { code: "ru", aliases: &["rus"] },
    LangInfo { code: "si", aliases: &["sin"] },
    LangInfo { code: "sk", aliases: &["slk", "slo"] },
    LangInfo { code: "sl", aliases: &["slv"] },
    LangInfo { code: "so", aliases: &["som"] },
    LangInfo { code: "sq", aliases: &["sqi", "alb", "als"] },
    LangInfo { code: "sr", aliases: &["srp"] },
    LangInfo { code: "st", aliases: &["sot"] },
    LangInfo { code: "sv", aliases: &["swe"] },
    LangInfo { code: "sw", aliases: &["swa", "swh"] },
    LangInfo { code: "ta", aliases: &["tam"] },
    LangInfo { code: "te", aliases: &["tel"] },
    LangInfo { code: "tg", aliases: &["tgk"] },
    LangInfo { code: "th", aliases: &["tha"] },
    LangInfo { code: "tl", aliases: &["tgl", "fil"] },
    LangInfo { code: "tr", aliases: &["tur"] },
    LangInfo { code: "uk", aliases: &["ukr"] },
    LangInfo { code: "ur", aliases: &["urd"] },
    LangInfo { code: "uz", aliases: &["uzb", "uzn"] },
    LangInfo { code: "vi", aliases: &["vie"] },
    LangInfo { code: "xh", aliases: &["xho"] },
    LangInfo { code: "yo", aliases: &["yor"] },
    LangInfo { code: "zh", aliases: &["zho", "chi", "cmn"] },
    LangInfo { code: "zu", aliases: &["zul"] },
];

impl Lang {
    /// Resolves a language code, ignoring case and a region or script subtag
    /// (`zh-Hans`, `pt_BR`).
    pub fn parse(code: &str) -> Result<Lang> {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        LANGUAGES
            .iter()
            .position(|info| info.code == primary || info.aliases.contains(&primary.as_str()))
            .map(|i| Lang(i as u16))
            .ok_or_else(|| {
                CoreError::invalid(format!(
                    "unknown language code {code:?}: expected an ISO 639-1 or 639-3 code such as 'en' or 'eng'"
                ))
            })
    }

    pub fn code(self) -> &'static str {
        LANGUAGES[self.0 as usize].code
    }

    /// Every canonical code the core knows, sorted.
    pub fn all_codes() -> Vec<&'static str> {
        LANGUAGES.iter().map(|info| info.code).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_three_letter_codes_agree() {
        for (a, b) in [
            ("en", "eng"),
            ("zh", "cmn"),
            ("zh", "zho"),
            ("ar", "arb"),
            ("ar", "ara"),
            ("sw", "swa"),
            ("sw", "swh"),
            ("id", "ind"),
            ("ms", "zsm"),
        ] {
            assert_eq!(
                Lang::parse(a).unwrap(),
                Lang::parse(b).unwrap(),
                "{a} vs {b}"
            );
        }
        assert_eq!(Lang::parse("ENG").unwrap().code(), "en");
        assert_eq!(Lang::parse("zh-Hans").unwrap().code(), "zh");
        assert_eq!(Lang::parse("pt_BR").unwrap().code(), "pt");
    }

    #[test]
    fn unknown_codes_are_named_in_the_error() {
        let err = Lang::parse("xx").unwrap_err().to_string();
        assert!(err.contains("\"xx\""), "{err}");
        assert!(Lang::parse("").is_err());
    }

    #[test]
    fn table_has_no_duplicate_codes() {
        let mut seen = std::collections::HashSet::new();
        for info in LANGUAGES {
            assert!(seen.insert(info.code), "{}", info.code);
            for alias in info.aliases {
                assert!(seen.insert(alias), "{alias}");
            }
        }
    }
}
