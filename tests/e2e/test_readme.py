"""Every shell example of the README, run in order as pasted, against the
Procfile's processes (the convention: tests/readme_examples.py)."""

import shutil

import pytest

from tests.e2e.conftest import ROOT
from tests.readme_examples import examples, run

MISSING = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the README's examples need {', '.join(MISSING)}")

#: For every example together: the walk-through waits for the order and the
#: CLI examples replay the store, a few seconds each at most.
RUN_TIMEOUT_S = 150


def session_env(stack) -> dict[str, str]:
    """The stack's environment (for the CLI examples), and ``API`` for curl."""
    return dict(stack.env, API=stack.url)


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_every_readme_example_runs_as_pasted(stack, tmp_path):
    found = examples((ROOT / "README.md").read_text())
    outcome = run(found, env=session_env(stack), scratch=tmp_path, timeout=RUN_TIMEOUT_S)
    if outcome.failed is not None:
        pytest.fail(f"{outcome.report()}\n{stack.tail()}", pytrace=False)
    # none left out: every example that is not marked no-run ran to its end
    assert outcome.completed == len(outcome.ran) == sum(e.runs for e in found) > 0


def test_an_example_that_drifted_from_the_api_fails(stack, tmp_path):
    # Given a create whose field was renamed in the API but not in the example
    drifted = examples(
        "## Create\n\n```sh\n"
        "curl -s $API/products -H 'Content-Type: application/json' \\\n"
        """  -d '{"sku": "DRIFT-1", "title": "Mug", "price_cents": 1250, "currency": "EUR"}'\n"""
        "echo unreachable\n```\n"
    )
    outcome = run(drifted, env=session_env(stack), scratch=tmp_path, timeout=30)
    # I expect the block to fail, reported with the API's answer
    assert outcome.failed is drifted[0] and outcome.returncode == 22
    assert '"status": 422' in outcome.output and "title" in outcome.output
    assert "unreachable" not in outcome.output


def test_an_error_answer_fails_a_block_unless_it_is_marked_allow_http_error(stack, tmp_path):
    missing = "curl -s $API/products/00000000-0000-4000-8000-000000000000\n"
    shown = examples(f"```sh allow-http-error\n{missing}```\n\n```sh\necho after\n```\n")
    outcome = run(shown, env=session_env(stack), scratch=tmp_path / "shown", timeout=30)
    assert outcome.failed is None, outcome.report()
    # an example's own -f is kept (curl refuses it with --fail-with-body) and fails it too
    for name, code in (("strict", missing), ("own-f", missing.replace("-s ", "-fsS "))):
        failing = examples(f"```sh\n{code}```\n")
        outcome = run(failing, env=session_env(stack), scratch=tmp_path / name, timeout=30)
        assert outcome.returncode == 22, outcome.report()
