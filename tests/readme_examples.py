"""The README's shell examples, run in order as a reader pastes them.

The convention (stated at the top of README.md too):

- A fenced block in ``sh``, ``bash`` or ``shell`` is run as it stands; in a ``console`` block the
  ``$ `` lines are run (with their ``\\`` continuations) and the rest is output shown to the reader.
- Words after the language mark a block: ``no-run`` shows it and never runs it (it needs what a test
  stack does not have: a platform to deploy to, Docker, a server configured otherwise);
  ``allow-http-error`` runs it, but its curl calls may be answered with an error on purpose. Any
  other word is refused, so that a misspelt marker cannot skip a block unnoticed.
- Every block runs in one bash session (``set -euo pipefail``), so a variable set by one is seen by
  the next, and curl fails on an answer of 400 or more (a ``curl`` first on ``PATH`` adds
  ``--fail-with-body``, except in ``allow-http-error`` blocks): an example that drifted from the API
  fails.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

SHELLS = frozenset({"sh", "bash", "shell"})
CONSOLE = "console"
NO_RUN = "no-run"
ALLOW_HTTP_ERROR = "allow-http-error"
MARKERS = frozenset({NO_RUN, ALLOW_HTTP_ERROR})

START = "::readme-example {}::"
DONE = "::readme-example {} done::"
PROMPT = "$ "

#: The switch the session sets before each example: 0 in ``allow-http-error`` ones.
STRICT = "README_CURL_STRICT"
STRICT_CURL = """#!/bin/sh
[ "${STRICT:-1}" = 1 ] || exec REAL "$@"
for arg in "$@"; do
  case "$arg" in
    --fail|--fail-with-body) exec REAL "$@" ;;
    --*) ;;
    -*f*) exec REAL "$@" ;;  # -f, -fsS, ...
  esac
done
exec REAL --fail-with-body "$@"
"""


@dataclass(frozen=True)
class Example:
    line: int  # of the opening fence, counted from 1
    section: str  # the nearest heading above it
    code: str  # what bash runs
    markers: frozenset[str]

    @property
    def runs(self) -> bool:
        return NO_RUN not in self.markers

    def describe(self) -> str:
        return f"README.md line {self.line} ({self.section})"


def examples(markdown: str) -> list[Example]:
    """Every shell block of ``markdown``, in order, those marked ``no-run`` included."""
    found: list[Example] = []
    section = ""
    tokens = MarkdownIt("commonmark").parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            section = tokens[index + 1].content
        if token.type != "fence" or not token.info.strip():
            continue
        language, *words = token.info.split()
        if language not in SHELLS and language != CONSOLE:
            continue
        line = token.map[0] + 1
        unknown = set(words) - MARKERS
        if unknown:
            raise ValueError(f"line {line}: unknown marker {sorted(unknown)}; known: {sorted(MARKERS)}")
        code = commands_of(token.content) if language == CONSOLE else token.content
        found.append(Example(line, section, code, frozenset(words)))
    return found


def commands_of(console: str) -> str:
    """The ``$ `` lines of a console transcript and their continuations."""
    commands: list[str] = []
    continued = False
    for text in console.splitlines():
        if continued:
            commands.append(text)
        elif text.startswith(PROMPT):
            commands.append(text[len(PROMPT) :])
        else:
            continue
        continued = text.endswith("\\")
    return "\n".join(commands) + "\n"


@dataclass(frozen=True)
class Outcome:
    ran: list[Example]
    completed: int  # examples that ran to their end
    returncode: int | None  # None: the time ran out
    output: str  # of the example that stopped the run

    @property
    def failed(self) -> Example | None:
        return None if self.completed == len(self.ran) else self.ran[self.completed]

    def report(self) -> str:
        failed = self.failed
        if failed is None:
            return f"all {self.completed} examples ran"
        why = "the time ran out" if self.returncode is None else f"bash exited {self.returncode}"
        if self.returncode == 22:
            why += " (curl's code for an answer of 400 or more)"
        return (
            f"{failed.describe()} failed: {why}\n"
            f"--- the example\n{failed.code.rstrip()}\n"
            f"--- its output\n{self.output.rstrip()}"
        )


def run(found: list[Example], *, env: dict[str, str], scratch: Path, timeout: float) -> Outcome:
    """Run the examples that run, in order, in one bash session in ``scratch``; stop at the first
    that fails, or when ``timeout`` seconds have passed."""
    ran = [example for example in found if example.runs]
    scratch.mkdir(parents=True, exist_ok=True)
    script = [
        "set -euo pipefail",
        # the command that failed, and where, for the report
        """trap 'echo "[exit $? at line $LINENO: $BASH_COMMAND]" >&2' ERR""",
    ]
    real_curl = shutil.which("curl", path=env.get("PATH"))
    if real_curl is not None:
        script.append(f"export PATH={strict_curl(real_curl, scratch / 'bin')}:$PATH")
    for number, example in enumerate(ran):
        block = scratch / f"example-{number:03d}.sh"
        block.write_text(example.code)
        script += [
            f"export {STRICT}={0 if ALLOW_HTTP_ERROR in example.markers else 1}",
            f"printf '\\n%s\\n' '{START.format(number)}'",
            f"source {block} </dev/null",
            f"printf '\\n%s\\n' '{DONE.format(number)}'",
        ]
    main = scratch / "examples.sh"
    main.write_text("\n".join(script) + "\n")
    # A session of its own, so that a run that outlasts its time is ended
    # whole (bash and the curl it waits for), by the PID we started.
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", str(main)], cwd=scratch, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = process.communicate(timeout=timeout)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        returncode = None
    text = out.decode(errors="replace")
    (scratch / "transcript.txt").write_text(text)  # the whole run, for a look afterwards
    completed = len(re.findall(r"^::readme-example \d+ done::$", text, flags=re.MULTILINE))
    last = text.rsplit(START.format(completed), 1)
    return Outcome(ran, completed, returncode, last[1] if len(last) == 2 else text)


def strict_curl(real: str, folder: Path) -> Path:
    """A ``curl`` that fails on an answer of 400 or more, showing its body
    (``--fail-with-body``), unless ``README_CURL_STRICT`` is 0 or the example
    asked for ``-f`` itself (curl refuses both)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "curl"
    wrapper.write_text(
        STRICT_CURL.replace("STRICT", STRICT).replace("REAL", shlex.quote(real)),
    )
    wrapper.chmod(0o755)
    return folder
