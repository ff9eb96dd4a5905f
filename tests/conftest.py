"""Shared fixtures: a hand-written multilingual lexicon, and the optional
`../shared/data` archives (tests that use them skip when they are absent)."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pytest

# Test helpers (reference implementations) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Synonyms within a language and translations of English words, for the 11
# languages the fixtures cover: lang, word, lang, word.
FIXTURE_LEXICON = """\
# robust-xlt TSV fixture
en\tbig\ten\tlarge
en\tbig\ten\thuge
en\tquick\ten\tfast
en\tquick\ten\trapid
en\thouse\ten\thome
en\tdog\ten\thound
en\tbig\tde\tgroß
en\thouse\tde\tHaus
en\tdog\tde\tHund
de\tgroß\tde\triesig
de\tHaus\tde\tGebäude
en\tbig\thi\tबड़ा
en\thouse\thi\tघर
hi\tबड़ा\thi\tविशाल
hi\tघर\thi\tमकान
en\tbig\tbn\tবড়
en\thouse\tbn\tবাড়ি
bn\tবড়\tbn\tবিশাল
bn\tবাড়ি\tbn\tভবন
en\tbig\tte\tపెద్ద
en\thouse\tte\tఇల్లు
te\tపెద్ద\tte\tవిశాలమైన
te\tఇల్లు\tte\tగృహం
en\tbig\tth\tใหญ่
en\thouse\tth\tบ้าน
th\tใหญ่\tth\tมหึมา
th\tบ้าน\tth\tเรือน
en\tbig\tzh\t大
en\thouse\tzh\t房子
zh\t房子\tzh\t房屋
zh\t大\tzh\t巨大
en\tbig\tja\t大きい
en\thouse\tja\t家
ja\t家\tja\t住宅
ja\t大きい\tja\t巨大
ja\t東京\tja\t東京都
en\tbig\tar\tكبير
en\thouse\tar\tبيت
ar\tكبير\tar\tضخم
ar\tالبيت\tar\tالمنزل
en\tbig\tko\t큰
en\thouse\tko\t집
ko\t집\tko\t주택
ko\t아주\tko\t매우
en\tbig\tsw\tkubwa
en\thouse\tsw\tnyumba
sw\tkubwa\tsw\tkuu
sw\tnyumba\tsw\tmakazi
en\tice cream\tde\tEis
"""


@pytest.fixture(scope="session")
def fixture_lexicon_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lexicon") / "fixture.tsv"
    path.write_text(FIXTURE_LEXICON, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def fixture_lexicon(fixture_lexicon_path: Path):
    from robust_xlt import load_lexicon

    return load_lexicon([fixture_lexicon_path])


def unpack_shared(archive: str, dest: Path) -> Path:
    """Unpacks one `../shared/data` archive, or skips the test when absent."""
    source = SHARED_DATA / archive
    if not source.exists():
        pytest.skip(f"{source} is absent")
    with tarfile.open(source) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture(scope="session")
def shared_lexicon_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_shared("lexicons.tar.xz", tmp_path_factory.mktemp("shared")) / "lexicons"


@pytest.fixture(scope="session")
def shared_lexicon(shared_lexicon_dir: Path):
    from robust_xlt import load_lexicon

    paths = sorted(shared_lexicon_dir.glob("omw/**/*.tab")) + sorted(shared_lexicon_dir.glob("muse/*.txt"))
    return load_lexicon(paths)
