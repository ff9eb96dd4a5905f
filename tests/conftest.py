"""Shared fixtures: a hand-written multilingual lexicon, and the optional shared
data sets (tests that use them skip when they are absent).

The shared data is found at $ROBUST_XLT_DATA, else at `../shared/data` beside the
repository. Either may be the folder of `NAME.tar.xz` archives or a folder where they
are already unpacked (`xnli/`, `lexicons/`, ...); unpacked folders win, archives are
unpacked once per session into a temporary folder. benches/ use the same logic
(`SharedData`), so tests and benchmarks agree on what the data is.
"""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

import pytest

# Test helpers (reference implementations) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
DATA_ENV = "ROBUST_XLT_DATA"


def shared_data_root() -> Path:
    """$ROBUST_XLT_DATA if set, else ../shared/data beside the repository."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else REPO.parent / "shared" / "data"


SHARED_DATA = shared_data_root()


@pytest.fixture(autouse=True)
def searches_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's "auto" search precision resolves to fp32, whatever the CPU.

    "auto" takes bf16 where oneDNN runs it natively, so on such a CPU a search against
    the tiny random model sees loss differences rounded away (no change improves) and on
    another CPU it does not: a test's outcome would depend on the machine it runs on.
    The tests of bf16 itself ask for it explicitly or patch this check themselves."""
    from robust_xlt.adversary import victims

    monkeypatch.setattr(victims, "cpu_has_native_bf16", lambda: False)


class SharedData:
    """The shared data sets under ``root``, unpacked or as archives.

    ``path("xnli/dev-en.tsv")`` is the file, taken from ``root/xnli/`` when that folder
    exists, else extracted (that member only) from ``root/xnli.tar.xz`` into
    ``scratch``; None when neither holds it. ``source`` says where a file came from, for
    benchmarks to report."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root, self.scratch = root, scratch
        self._extracted: set[str] = set()  # members (files or whole folders) in scratch

    def _archive(self, relative: str) -> Path:
        return self.root / f"{relative.split('/', 1)[0]}.tar.xz"

    def path(self, relative: str) -> Path | None:
        unpacked = self.root / relative
        if (self.root / relative.split("/", 1)[0]).is_dir():
            return unpacked if unpacked.exists() else None
        relative = relative.rstrip("/")
        archive, target = self._archive(relative), self.scratch / relative
        if relative in self._extracted:
            return target
        if not archive.is_file():
            return None
        with tarfile.open(archive) as tar:
            try:
                member = tar.getmember(relative)
            except KeyError:
                return None
            members = [member]
            if member.isdir():
                members += [m for m in tar.getmembers() if m.name.startswith(member.name + "/")]
            tar.extractall(self.scratch, members=members, filter="data")
        self._extracted.add(relative)
        return target

    def require(self, relative: str) -> Path:
        """``path(relative)``, or skip the test naming where it looked."""
        found = self.path(relative)
        if found is None:
            pytest.skip(f"{relative} is in neither {self.root / relative} nor {self._archive(relative)} (set ${DATA_ENV})")
        return found

    def source(self, relative: str) -> str:
        """Where ``relative`` comes from: the unpacked path, or ARCHIVE:MEMBER."""
        if (self.root / relative.split("/", 1)[0]).is_dir():
            return str(self.root / relative)
        return f"{self._archive(relative)}:{relative}"


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> SharedData:
    return SharedData(SHARED_DATA, tmp_path_factory.mktemp("shared"))


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
    """A folder holding the unpacked `NAME/` of one shared archive (`NAME.tar.xz`), or
    skips the test when the shared data has neither."""
    return SharedData(SHARED_DATA, dest).require(archive.removesuffix(".tar.xz")).parent


@pytest.fixture(scope="session")
def shared_lexicon_dir(shared_data: SharedData) -> Path:
    return shared_data.require("lexicons")


@pytest.fixture(scope="session")
def shared_lexicon(shared_lexicon_dir: Path):
    from robust_xlt import load_lexicon

    paths = sorted(shared_lexicon_dir.glob("omw/**/*.tab")) + sorted(shared_lexicon_dir.glob("muse/*.txt"))
    return load_lexicon(paths)
