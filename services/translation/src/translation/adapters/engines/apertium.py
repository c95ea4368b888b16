"""Apertium, kept warm: one long-lived null-flush pipeline per installed direction.

Each direction's ``.mode`` file chains lt-proc, the tagger, transfer stages and
the generator. ``apertium-wblank-mode -z`` (Apertium 3.8) rewrites that chain with
``-z`` on every program, so the whole pipeline stays alive and answers each input
terminated by ``\\0`` with an output terminated by ``\\0``. The service starts the
pipelines at boot and writes every text to them: no process starts per message.
Text goes in as the Apertium stream format (reserved characters escaped, line
breaks as superblanks) and comes back unescaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from translation.app.ports import EngineFailure, EngineInfo
from translation.domain.languages import primary
from translation.domain.model import Formality
from translation.domain.routing import Pair, missing_pairs

log = logging.getLogger(__name__)

DEFAULT_MODES_DIR = Path("/usr/share/apertium/modes")

# Apertium names languages with ISO 639-3 or 639-1 codes; the service uses 639-1.
_ISO3 = {
    "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "por": "pt", "ita": "it", "deu": "de",
    "ger": "de", "cat": "ca", "glg": "gl", "vie": "vi", "zho": "zh", "nld": "nl", "afr": "af",
    "ron": "ro", "oci": "oc", "eus": "eu", "epo": "eo", "dan": "da", "nor": "no", "nob": "nb",
    "nno": "nn", "swe": "sv", "isl": "is", "rus": "ru", "ukr": "uk", "bel": "be", "mkd": "mk",
    "bul": "bg", "hin": "hi", "urd": "ur", "ind": "id", "pol": "pl", "srd": "sc", "arg": "an",
}  # fmt: skip

# Debian packages (bookworm) per unordered pair; packages in parentheses are missing
# dependencies of the pair's package that must be installed too.
DEBIAN_PACKAGES: dict[frozenset[str], str] = {
    frozenset({"en", "es"}): "apertium-eng-spa",
    frozenset({"fr", "es"}): "apertium-fr-es",
    frozenset({"es", "pt"}): "apertium-es-pt",
    frozenset({"es", "it"}): "apertium-spa-ita cg3",
    frozenset({"en", "ca"}): "apertium-eng-cat",
    frozenset({"es", "ca"}): "apertium-spa-cat",
    frozenset({"fr", "ca"}): "apertium-fra-cat",
    frozenset({"pt", "ca"}): "apertium-por-cat",
    frozenset({"ca", "it"}): "apertium-cat-ita",
    frozenset({"en", "gl"}): "apertium-en-gl",
    frozenset({"es", "gl"}): "apertium-es-gl",
    frozenset({"pt", "gl"}): "apertium-pt-gl",
    frozenset({"es", "ro"}): "apertium-es-ro",
    frozenset({"en", "eo"}): "apertium-eo-en",
    frozenset({"es", "eo"}): "apertium-eo-es",
}
# Programs whose package is named differently from the program.
_PROGRAM_PACKAGES = {"cg-proc": "cg3", "lrx-proc": "apertium-lex-tools", "lt-proc": "lttoolbox"}

_RESERVED = frozenset("\\[]^$@/<>{}#*")


def _code(name: str) -> str | None:
    name = name.lower()
    if len(name) == 2 and name.isalpha():
        return name
    return _ISO3.get(name)


def deformat(text: str) -> str:
    """Plain text as the Apertium stream format."""
    out: list[str] = []
    for ch in text:
        if ch in _RESERVED:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("[\n]")
        elif ch != "\x00":
            out.append(ch)
    return "".join(out)


def reformat(stream: str) -> str:
    """The Apertium stream format back to plain text (superblanks kept, escapes undone)."""
    out: list[str] = []
    i, n = 0, len(stream)
    while i < n:
        ch = stream[i]
        if ch == "\\" and i + 1 < n:
            out.append(stream[i + 1])
            i += 2
            continue
        if ch in "[]":
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass
class ApertiumMode:
    name: str  # "eng-spa"
    source: str  # "en"
    target: str  # "es"
    path: Path
    command: str = ""
    problem: str = ""  # why it cannot run


def discover_modes(modes_dir: Path, only: Sequence[str] = ()) -> list[ApertiumMode]:
    """The installed directions whose both sides map to a language code."""
    if not modes_dir.is_dir():
        return []
    modes: list[ApertiumMode] = []
    for path in sorted(modes_dir.glob("*.mode")):
        name = path.stem
        parts = name.split("-")
        if len(parts) != 2 or (only and name not in only):
            continue  # variants ("es-pt_BR") fail _code; "eco-es-fr" has three parts
        source, target = _code(parts[0]), _code(parts[1])
        if source and target:
            modes.append(ApertiumMode(name, source, target, path))
    return modes


def _null_flush_command(mode: ApertiumMode) -> str:
    """The mode's pipeline with ``-z`` on every program."""
    wblank = shutil.which("apertium-wblank-mode")
    if wblank:
        done = subprocess.run(
            [wblank, "-z", str(mode.path)], capture_output=True, text=True, timeout=10
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    stages = mode.path.read_text(encoding="utf-8").strip().split("|")
    flushed = []
    for stage in stages:
        words = stage.strip().split(" ", 1)
        flushed.append(" ".join([words[0], "-z", *words[1:]]))
    return " | ".join(flushed)


def _missing_programs(command: str) -> list[str]:
    missing = []
    for stage in command.split("|"):
        words = shlex.split(stage.replace("$1", "").replace("$2", ""))
        if words and shutil.which(words[0]) is None:
            missing.append(words[0])
    return missing


@dataclass
class _Pipeline:
    mode: ApertiumMode
    timeout: float
    process: asyncio.subprocess.Process | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stderr_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = dict(os.environ)
        locale = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
        if "UTF-8" not in locale.upper() and "UTF8" not in locale.upper():
            env["LC_ALL"] = "C.UTF-8"  # the Apertium tools read and write UTF-8 only
        self.process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            self.mode.command,
            "apertium",
            "-n",  # $1: generate without unknown-word marks
            "",  # $2: no tagger option
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # one process group: stopped together
            env=env,
            limit=16 * 1024 * 1024,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr(self.process))

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            log.warning("apertium %s: %s", self.mode.name, line.decode(errors="replace").rstrip())

    async def translate(self, texts: Sequence[str]) -> list[str]:
        async with self.lock:
            if self.process is None or self.process.returncode is not None:
                await self.start()
            process = self.process
            assert process is not None
            assert process.stdin is not None
            assert process.stdout is not None
            payload = b"".join(deformat(t).encode("utf-8") + b"[]\x00" for t in texts)
            stdin, stdout = process.stdin, process.stdout

            async def write() -> None:
                stdin.write(payload)
                await stdin.drain()

            async def read() -> list[str]:
                outputs = []
                for _ in texts:
                    chunk = await stdout.readuntil(b"\x00")
                    outputs.append(reformat(chunk[:-1].decode("utf-8", errors="replace")).strip())
                return outputs

            try:
                async with asyncio.timeout(self.timeout + 0.05 * len(texts)):
                    writer = asyncio.create_task(write())
                    outputs = await read()
                    await writer
                return outputs
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                await self.stop()
                raise EngineFailure(
                    f"apertium {self.mode.name} pipeline failed ({type(exc).__name__}); restarted"
                ) from exc

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            self._stderr_task = None


class ApertiumEngine:
    """Offline rule-based translation through warm Apertium pipelines."""

    name = "apertium"

    def __init__(
        self,
        *,
        modes_dir: Path = DEFAULT_MODES_DIR,
        only: Sequence[str] = (),
        pool_size: int = 1,
        timeout: float = 10.0,
        languages: Sequence[str] = (),
    ) -> None:
        self._modes_dir = modes_dir
        self._only = tuple(only)
        self._pool_size = max(1, pool_size)
        self._timeout = timeout
        self._languages = tuple(languages)
        self._modes: dict[Pair, ApertiumMode] = {}
        self._pools: dict[Pair, asyncio.Queue[_Pipeline]] = {}
        self._pipelines: list[_Pipeline] = []
        self._reason = ""
        self._broken: list[ApertiumMode] = []

    async def start(self) -> None:
        """Discover the installed directions, start their pipelines and warm them."""
        if shutil.which("lt-proc") is None or shutil.which("apertium-transfer") is None:
            self._reason = (
                "Apertium is not installed: run tools/install_apertium.sh "
                "(apt-get install apertium apertium-eng-spa ...)"
            )
            return
        modes = await asyncio.to_thread(discover_modes, self._modes_dir, self._only)
        for mode in modes:
            mode.command = await asyncio.to_thread(_null_flush_command, mode)
            missing = _missing_programs(mode.command)
            if missing:
                packages = " ".join(sorted({_PROGRAM_PACKAGES.get(p, p) for p in missing}))
                mode.problem = f"needs {', '.join(missing)} (apt-get install {packages})"
                log.warning("apertium %s cannot run: %s", mode.name, mode.problem)
                continue
            pool: asyncio.Queue[_Pipeline] = asyncio.Queue()
            for _ in range(self._pool_size):
                pipeline = _Pipeline(mode, self._timeout)
                try:
                    await pipeline.start()
                    await pipeline.translate(["Hello."])  # loads the dictionaries now
                except (EngineFailure, OSError) as exc:
                    mode.problem = f"does not start: {exc}"
                    await pipeline.stop()
                    break
                self._pipelines.append(pipeline)
                pool.put_nowait(pipeline)
            if not mode.problem:
                self._modes[(mode.source, mode.target)] = mode
                self._pools[(mode.source, mode.target)] = pool
        if not self._modes:
            broken = [f"{m.name} {m.problem}" for m in modes if m.problem]
            self._reason = (
                "no Apertium language pair can run: " + "; ".join(broken)
                if broken
                else f"no Apertium language pair is installed in {self._modes_dir}: run "
                "tools/install_apertium.sh (apt-get install apertium-eng-spa ...)"
            )
        self._broken = [m for m in modes if m.problem]

    def info(self) -> EngineInfo:
        pairs = frozenset(self._modes)
        languages = self._languages
        missing = tuple(missing_pairs(pairs, languages)) if languages else ()
        return EngineInfo(
            name=self.name,
            display_name="Apertium (offline, rule-based)",
            offline=True,
            available=bool(self._modes),
            unavailable_reason=self._reason,
            pairs=pairs,
            missing_pairs=missing,
            install_hint=self._install_hint(missing),
        )

    def _install_hint(self, missing: Sequence[Pair]) -> str:
        packages: set[str] = set()
        no_package: set[str] = set()
        for a, b in missing:
            package = DEBIAN_PACKAGES.get(frozenset({a, b}))
            if package:
                packages.update(package.split())
            else:
                no_package.add(f"{a}-{b}" if a < b else f"{b}-{a}")
        hints = []
        if packages:
            hints.append(
                "install the missing pairs with tools/install_apertium.sh or "
                f"'apt-get install {' '.join(sorted(packages))}'"
            )
        if no_package:
            hints.append(
                "Debian has no Apertium pair for "
                + ", ".join(sorted(no_package))
                + ": those go through another language when one links them, or need the "
                "argos, libretranslate, deepl or openai engine"
            )
        if self._broken:
            hints.append("; ".join(f"{m.name} {m.problem}" for m in self._broken))
        return "; ".join(hints)

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        pair = (primary(source), primary(target))
        pool = self._pools.get(pair)
        if pool is None:
            raise EngineFailure(f"no Apertium pair {pair[0]}-{pair[1]} is installed")
        pipeline = await pool.get()
        try:
            return await pipeline.translate(texts)
        finally:
            pool.put_nowait(pipeline)

    async def close(self) -> None:
        for pipeline in self._pipelines:
            await pipeline.stop()
