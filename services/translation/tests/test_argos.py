"""Argos packages: discovery and metadata parsing on zips built here, and error paths.

No real Argos model exists on this machine, so translation through CTranslate2 is
not exercised; a package whose model cannot load must leave the engine unavailable
with the reason, never crash the service.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from translation.adapters.engines.argos import (
    ArgosEngine,
    ArgosPackageError,
    discover_packages,
    read_package,
    unpack,
)
from translation.app.ports import EngineFailure
from translation.domain.model import Formality


def build_package(
    path: Path,
    metadata: dict[str, object] | None,
    *,
    root: str = "translate-en_de-1_9",
    model: bool = True,
    spm: bool = True,
) -> Path:
    prefix = f"{root}/" if root else ""
    with zipfile.ZipFile(path, "w") as archive:
        if metadata is not None:
            archive.writestr(f"{prefix}metadata.json", json.dumps(metadata))
        if model:
            archive.writestr(f"{prefix}model/model.bin", b"not a real model")
            archive.writestr(f"{prefix}model/config.json", "{}")
        if spm:
            archive.writestr(f"{prefix}sentencepiece.model", b"not a real tokenizer")
    return path


META = {"package_version": "1.9", "from_code": "en", "to_code": "de", "package_name": "en_de"}


def test_metadata_is_parsed_from_a_zip_with_a_top_level_folder(tmp_path: Path) -> None:
    package = read_package(build_package(tmp_path / "en_de.argosmodel", META))
    assert (package.source, package.target, package.version, package.root) == (
        "en",
        "de",
        "1.9",
        "translate-en_de-1_9",
    )
    flat = read_package(
        build_package(tmp_path / "flat.argosmodel", META | {"to_code": "zh"}, root="")
    )
    assert (flat.target, flat.root) == ("zh", "")
    folder = unpack(package, tmp_path / "cache")
    assert (folder / "model" / "model.bin").exists()
    assert (folder / "sentencepiece.model").exists()
    assert unpack(package, tmp_path / "cache") == folder  # extracted once


@pytest.mark.parametrize(
    ("metadata", "kwargs", "problem"),
    [
        (None, {}, "no metadata.json"),
        ({"from_code": "en", "to_code": "klingon"}, {}, "to_code"),
        (META, {"model": False}, "no model/"),
        (META, {"spm": False}, "sentencepiece.model"),
    ],
)
def test_broken_packages_are_refused_with_the_reason(
    tmp_path: Path, metadata: dict[str, object] | None, kwargs: dict[str, bool], problem: str
) -> None:
    with pytest.raises(ArgosPackageError, match=problem):
        read_package(build_package(tmp_path / "bad.argosmodel", metadata, **kwargs))


def test_discovery_lists_packages_and_problems(tmp_path: Path) -> None:
    build_package(tmp_path / "a.argosmodel", META)
    build_package(tmp_path / "b.argosmodel", None)
    (tmp_path / "c.argosmodel").write_bytes(b"not a zip")
    (tmp_path / "notes.txt").write_text("ignored")
    packages, problems = discover_packages(tmp_path)
    assert [p.path.name for p in packages] == ["a.argosmodel"]
    assert any("b.argosmodel" in p for p in problems)
    assert any("not a zip" in p for p in problems)


async def test_engine_without_models_says_so(tmp_path: Path) -> None:
    unconfigured = ArgosEngine(models_dir=None, cache_dir=tmp_path)
    await unconfigured.start()
    assert "TRANSLATION_ARGOS_MODELS_DIR" in unconfigured.info().unavailable_reason
    empty = ArgosEngine(models_dir=tmp_path, cache_dir=tmp_path / "cache")
    await empty.start()
    assert not empty.info().available
    assert "no .argosmodel files" in empty.info().unavailable_reason


async def test_a_model_that_cannot_load_leaves_the_engine_unavailable(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    build_package(models / "en_de.argosmodel", META)
    engine = ArgosEngine(models_dir=models, cache_dir=tmp_path / "cache")
    await engine.start()
    info = engine.info()
    assert not info.available
    assert "en_de.argosmodel: cannot load" in info.unavailable_reason
    with pytest.raises(EngineFailure):
        await engine.translate(["Hello"], "en", "de", Formality.UNSPECIFIED)
