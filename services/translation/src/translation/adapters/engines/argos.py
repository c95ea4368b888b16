"""Argos Translate models run with CTranslate2 and SentencePiece, fully offline.

An ``.argosmodel`` file is a zip holding ``metadata.json`` (``from_code``,
``to_code``), a CTranslate2 model directory ``model/`` and ``sentencepiece.model``,
usually inside one top-level folder. The operator drops such files (or their
unpacked folders) into ``TRANSLATION_ARGOS_MODELS_DIR``; nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from translation.app.ports import EngineFailure, EngineInfo
from translation.domain.languages import ISO_639_1, primary
from translation.domain.model import Formality
from translation.domain.routing import Pair, missing_pairs

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|(?<=[\u3002\uff01\uff1f])|\n+")


@dataclass(frozen=True)
class ArgosPackage:
    path: Path
    source: str
    target: str
    name: str
    version: str
    # Inside the zip (or folder): the folder holding metadata.json, "" for the root.
    root: str


class ArgosPackageError(ValueError):
    pass


def read_package(path: Path) -> ArgosPackage:
    """Parse and check one ``.argosmodel`` file or unpacked package folder."""
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*")]
        meta_names = [n for n in names if PurePosixPath(n).name == "metadata.json"]
        if not meta_names:
            raise ArgosPackageError(f"{path.name}: no metadata.json")
        meta_name = min(meta_names, key=len)
        metadata = json.loads((path / meta_name).read_text(encoding="utf-8"))
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                meta_names = [n for n in names if PurePosixPath(n).name == "metadata.json"]
                if not meta_names:
                    raise ArgosPackageError(f"{path.name}: no metadata.json in the archive")
                meta_name = min(meta_names, key=len)
                metadata = json.loads(archive.read(meta_name).decode("utf-8"))
        except zipfile.BadZipFile as exc:
            raise ArgosPackageError(f"{path.name}: not a zip archive") from exc
    root = str(PurePosixPath(meta_name).parent)
    root = "" if root == "." else root
    prefix = f"{root}/" if root else ""
    if not isinstance(metadata, dict):
        raise ArgosPackageError(f"{path.name}: metadata.json is not an object")
    source, target = str(metadata.get("from_code", "")), str(metadata.get("to_code", ""))
    for key, code in (("from_code", source), ("to_code", target)):
        if primary(code) not in ISO_639_1:
            raise ArgosPackageError(f"{path.name}: metadata.json {key} {code!r} is not a language")
    if not any(n.startswith(f"{prefix}model/") for n in names):
        raise ArgosPackageError(f"{path.name}: no model/ directory (CTranslate2 model)")
    if f"{prefix}sentencepiece.model" not in names:
        raise ArgosPackageError(f"{path.name}: no sentencepiece.model")
    return ArgosPackage(
        path=path,
        source=primary(source),
        target=primary(target),
        name=str(metadata.get("package_name") or path.stem),
        version=str(metadata.get("package_version", "")),
        root=root,
    )


def discover_packages(models_dir: Path) -> tuple[list[ArgosPackage], list[str]]:
    """Packages in ``models_dir`` and the problems of files that are not usable."""
    packages: list[ArgosPackage] = []
    problems: list[str] = []
    if not models_dir.is_dir():
        return [], [f"{models_dir} is not a directory"]
    for path in sorted(models_dir.iterdir()):
        if not (
            path.suffix == ".argosmodel" or (path.is_dir() and any(path.rglob("metadata.json")))
        ):
            continue
        try:
            packages.append(read_package(path))
        except (ArgosPackageError, ValueError, OSError) as exc:
            problems.append(str(exc))
    return packages, problems


def unpack(package: ArgosPackage, cache_dir: Path) -> Path:
    """The package's folder on disk (a zip is extracted once into ``cache_dir``)."""
    if package.path.is_dir():
        return package.path / package.root if package.root else package.path
    digest = hashlib.sha256(package.path.read_bytes()).hexdigest()[:12]
    target = cache_dir / f"{package.path.stem}-{digest}"
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(package.path) as archive:
            for member in archive.infolist():
                resolved = (target / member.filename).resolve()
                if not resolved.is_relative_to(target.resolve()):
                    raise ArgosPackageError(f"{package.path.name}: unsafe path {member.filename}")
            archive.extractall(target)
        (target / ".complete").write_text("ok")
    return target / package.root if package.root else target


class _LoadedModel:
    def __init__(self, folder: Path, threads: int) -> None:
        import ctranslate2  # type: ignore[import-untyped]
        import sentencepiece

        self.translator: Any = ctranslate2.Translator(
            str(folder / "model"), device="cpu", inter_threads=1, intra_threads=threads
        )
        self.tokenizer: Any = sentencepiece.SentencePieceProcessor(
            model_file=str(folder / "sentencepiece.model")
        )

    def translate(self, texts: Sequence[str], beam_size: int) -> list[str]:
        out = []
        for text in texts:
            sentences = [s for s in _SENTENCE.split(text) if s.strip()] or [text]
            tokens = [self.tokenizer.encode(s, out_type=str) for s in sentences]
            results = self.translator.translate_batch(
                tokens, beam_size=beam_size, max_decoding_length=512
            )
            decoded = [self.tokenizer.decode(r.hypotheses[0]) for r in results]
            out.append(" ".join(d.strip() for d in decoded))
        return out


class ArgosEngine:
    """Neural translation from operator-provided Argos packages (CTranslate2)."""

    name = "argos"

    def __init__(
        self,
        *,
        models_dir: Path | None,
        cache_dir: Path,
        beam_size: int = 2,
        threads: int = 2,
        languages: Sequence[str] = (),
    ) -> None:
        self._models_dir = models_dir
        self._cache_dir = cache_dir
        self._beam_size = beam_size
        self._threads = threads
        self._languages = tuple(languages)
        self._models: dict[Pair, _LoadedModel] = {}
        self._problems: list[str] = []
        self._packages: list[ArgosPackage] = []

    def _load_all(self) -> None:
        if self._models_dir is None:
            return
        self._packages, self._problems = discover_packages(self._models_dir)
        for package in self._packages:
            try:
                folder = unpack(package, self._cache_dir)
                self._models[(package.source, package.target)] = _LoadedModel(folder, self._threads)
            except Exception as exc:  # a broken model must not stop the service
                self._problems.append(f"{package.path.name}: cannot load ({exc})")
                log.warning("argos package %s cannot load: %s", package.path, exc)

    async def start(self) -> None:
        await asyncio.to_thread(self._load_all)

    @property
    def packages(self) -> list[ArgosPackage]:
        return list(self._packages)

    @property
    def problems(self) -> list[str]:
        return list(self._problems)

    def info(self) -> EngineInfo:
        pairs = frozenset(self._models)
        if self._models_dir is None:
            reason = (
                "no model files configured: set TRANSLATION_ARGOS_MODELS_DIR to a directory of "
                ".argosmodel files"
            )
        elif not pairs:
            found = "; ".join(self._problems) if self._problems else "no .argosmodel files"
            reason = f"no usable model in {self._models_dir}: {found}"
        else:
            reason = ""
        return EngineInfo(
            name=self.name,
            display_name="Argos Translate (offline, CTranslate2)",
            offline=True,
            available=bool(pairs),
            unavailable_reason=reason,
            pairs=pairs,
            missing_pairs=tuple(missing_pairs(pairs, self._languages)) if pairs else (),
            install_hint="; ".join(self._problems)
            if pairs and self._problems
            else (
                "copy .argosmodel files for the missing pairs into the models directory"
                if pairs
                else ""
            ),
        )

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        model = self._models.get((primary(source), primary(target)))
        if model is None:
            raise EngineFailure(f"no Argos model for {primary(source)}-{primary(target)}")
        try:
            return await asyncio.to_thread(model.translate, texts, self._beam_size)
        except Exception as exc:
            raise EngineFailure(f"argos model failed: {exc}") from exc

    async def close(self) -> None:
        self._models.clear()
