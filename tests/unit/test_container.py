"""The Docker image, as far as it can be checked without Docker: its
entrypoint runs a Procfile line by name, and its Dockerfile installs the lock,
copies what the processes need and runs as another user than root."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.repository import PYTHON, ROOT, packages

ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=10,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "Procfile").write_text(
        "web: echo serving on ${PORT:-8000}\n"
        "worker: echo working with\n"
        "itself: sh -c 'echo $$'\n"
    )
    return tmp_path


def test_a_process_type_runs_its_procfile_line(app):
    done = run("web", cwd=app)
    assert (done.returncode, done.stdout) == (0, "serving on 8000\n")


def test_the_procfile_reads_the_environment(app):
    assert run("web", cwd=app, env={"PORT": "5000"}).stdout == "serving on 5000\n"


def test_arguments_after_the_name_go_to_the_process(app):
    assert run("worker", "--processes", "2", cwd=app).stdout == "working with --processes 2\n"


def test_the_process_takes_the_place_of_the_entrypoint(app):
    # Given a process that prints its own pid
    command = ["sh", str(ENTRYPOINT), "itself"]
    env = {"PATH": "/usr/bin:/bin"}
    started = subprocess.Popen(command, cwd=app, env=env, stdout=subprocess.PIPE, text=True)
    printed = started.communicate(timeout=10)[0]
    # I expect the pid the container started: signals reach the process itself
    assert printed == f"{started.pid}\n"


@pytest.mark.parametrize("name", ["nope", "web.*", "", "release"])
def test_an_unknown_process_type_is_refused_naming_the_known_ones(app, name):
    done = run(name, cwd=app)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "web worker itself" in done.stderr
    if name:
        assert f"no process type named '{name}'" in done.stderr


def test_no_process_type_is_refused(app):
    done = run(cwd=app)
    assert done.returncode != 0 and "usage" in done.stderr


def test_the_entrypoint_is_a_posix_shell_script():
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("dash is not installed: the syntax check needs a strictly POSIX shell")
    assert subprocess.run([dash, "-n", str(ENTRYPOINT)], timeout=10).returncode == 0


def test_the_image_installs_the_lock_before_the_project_without_its_dependencies():
    steps = [command for instruction, command in dockerfile() if instruction == "RUN"]
    installs_lock = "pip install --no-deps --requirement requirements.txt"
    lock = next(i for i, step in enumerate(steps) if installs_lock in step)
    project = next(i for i, step in enumerate(steps) if re.search(r"pip install --no-deps \.( |$)", step))
    assert lock < project


def test_the_image_is_built_on_the_python_of_python_version():
    base = next(arguments for instruction, arguments in dockerfile() if instruction == "FROM")
    assert re.fullmatch(rf"python:{re.escape(PYTHON)}(-[a-z]+)?", base)


def test_the_image_copies_the_procfile_the_lock_and_every_package():
    copied = set()
    for instruction, arguments in dockerfile():
        if instruction == "COPY":
            copied |= {source.rstrip("/") for source in arguments.split()[:-1]}
    needed = {"Procfile", "requirements.txt", "pyproject.toml", "deploy/docker/entrypoint.sh"}
    assert needed | packages() <= copied


def test_the_image_runs_the_entrypoint_as_another_user_than_root():
    instructions = dockerfile()
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users and users[-1].partition(":")[0] not in ("root", "0")
    entrypoint = next(arguments for instruction, arguments in instructions if instruction == "ENTRYPOINT")
    copied_as = next(
        arguments.split()[-1]
        for instruction, arguments in instructions
        if instruction == "COPY" and "deploy/docker/entrypoint.sh" in arguments
    )
    assert entrypoint == f'["{Path(copied_as).name}"]'


def test_the_build_context_leaves_out_what_the_image_does_not_need():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".data", "tests"} <= set(ignored)
