"""Reading the README's shell examples and running them in one bash session."""

import os
import shutil
from pathlib import Path

import pytest

from tests.readme_examples import ALLOW_HTTP_ERROR, examples, run

ROOT = Path(__file__).resolve().parents[2]

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not on PATH")

MARKDOWN = """\
# Title

```sh no-run
make run
```

## Steps

```sh
GREETING=hello
```

- in a list:

  ```bash
  echo "$GREETING, world"
  ```

```json
{"not": "shell"}
```

```
plain, not shell
```

### Transcript

```console
$ echo one \\
    two
one two
$ echo three
three
```

```sh allow-http-error
true
```
"""


def test_shell_blocks_are_found_in_order_with_their_line_section_and_markers():
    found = examples(MARKDOWN)
    assert [(e.line, e.section, e.runs) for e in found] == [
        (3, "Title", False),
        (9, "Steps", True),
        (15, "Steps", True),
        (29, "Transcript", True),
        (37, "Transcript", True),
    ]
    assert found[2].code == 'echo "$GREETING, world"\n'  # the list's indentation is not the code's
    assert found[4].markers == {ALLOW_HTTP_ERROR}


def test_a_console_block_runs_its_prompted_lines_and_their_continuations_only():
    assert examples(MARKDOWN)[3].code == "echo one \\\n    two\necho three\n"


def test_an_unknown_marker_is_refused_rather_than_skipping_its_block():
    with pytest.raises(ValueError, match="line 1: unknown marker.*no_run"):
        examples("```sh no_run\nfalse\n```\n")


def blocks(*codes: str) -> list:
    return examples("".join(f"```sh\n{code}\n```\n\n" for code in codes))


@needs_bash
def test_blocks_run_in_order_in_one_session_and_are_counted(tmp_path):
    found = examples(MARKDOWN)
    outcome = run(found, env=dict(os.environ), scratch=tmp_path, timeout=30)
    assert outcome.failed is None, outcome.report()
    assert outcome.completed == len(outcome.ran) == 4  # the no-run block is left out


@needs_bash
def test_a_failing_command_stops_the_run_and_is_reported_with_its_block_and_output(tmp_path):
    marker = tmp_path / "third-ran"
    found = blocks(
        "NAME=first",
        'echo "still $NAME"\nfalse\necho unreachable',
        f"touch {marker}",
    )
    outcome = run(found, env=dict(os.environ), scratch=tmp_path / "run", timeout=30)
    assert outcome.completed == 1 and outcome.failed is found[1]
    report = outcome.report()
    assert "README.md line 5" in report and "bash exited 1" in report
    assert 'echo "still $NAME"\nfalse' in report  # the block's text
    assert "still first" in report  # its output, with the first block's variable
    assert "[exit 1 at line 2: false]" in report  # the command that failed
    assert "unreachable" not in outcome.output and not marker.exists()


@needs_bash
def test_an_unset_variable_and_a_failure_inside_a_pipe_fail_their_block(tmp_path):
    for code in ("echo $NEVER_SET_ANYWHERE", "false | cat"):
        outcome = run(blocks(code), env=dict(os.environ), scratch=tmp_path / str(len(code)), timeout=30)
        assert outcome.completed == 0 and outcome.returncode != 0, code


@needs_bash
def test_a_run_that_outlasts_its_time_is_ended_and_names_the_block(tmp_path):
    outcome = run(blocks("true", "sleep 60"), env=dict(os.environ), scratch=tmp_path, timeout=1)
    assert outcome.completed == 1 and outcome.returncode is None
    assert "time ran out" in outcome.report() and "sleep 60" in outcome.report()


def test_the_readme_marks_what_does_not_run_and_runs_the_walk_through():
    found = examples((ROOT / "README.md").read_text())
    assert not found[0].runs and "make run" in found[0].code  # it would start a server of its own
    assert any(e.runs for e in found if e.section == "Walk-through")
    assert sum(e.runs for e in found) >= 10
