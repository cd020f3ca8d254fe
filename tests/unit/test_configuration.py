"""The environment variables the processes read, the README's tables of them
and app.json agree: infra.settings (and infra.otel, for traces) declares
every variable once, and each test here compares one of the others with
that declaration."""

import ast
import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from infra import otel
from infra.settings import PROCESS_VARIABLES, SETTINGS_VARIABLES, ConfigurationError, Settings
from tests.unit.repository import ROOT, packages, procfile

DECLARED = {variable.name: variable for variable in SETTINGS_VARIABLES + PROCESS_VARIABLES + otel.VARIABLES}
#: The operating system's, not configuration.
SYSTEM = {"PATH"}
#: The shape of an environment variable's name.
NAME = re.compile(r"[A-Z][A-Z0-9_]*")
#: What a WSGI environ holds besides (RFC 3875's meta-variables, and
#: ``wsgi.*``), read as ``environ[...]`` by code that serves requests.
WSGI = re.compile(
    r"HTTP_\w+|AUTH_TYPE|CONTENT_(LENGTH|TYPE)|GATEWAY_INTERFACE|PATH_(INFO|TRANSLATED)|QUERY_STRING"
    r"|REMOTE_(ADDR|HOST|IDENT|USER)|REQUEST_METHOD|SCRIPT_NAME|SERVER_(NAME|PORT|PROTOCOL|SOFTWARE)"
)
REQUIRED = {"MONGODB_URI": "mongodb://db.example/shop", "REDIS_URL": "redis://redis.example"}


class Recording(Mapping[str, str]):
    """An environment that notes every name read from it."""

    def __init__(self, values: dict[str, str]):
        self.values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name, default=None):
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self):
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def procfile_variables() -> dict[str, str | None]:
    """``${NAME:-default}`` and ``$NAME`` of the Procfile -> default."""
    found: dict[str, str | None] = {}
    commands = "\n".join(procfile().values())
    for braced, default, bare in re.findall(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", commands):
        found[braced or bare] = default or None
    return found


def first_party_sources() -> list[Path]:
    """The modules of the packages pyproject.toml ships."""
    return sorted(path for package in packages() for path in (ROOT / package).rglob("*.py"))


def _is_environment(node: ast.expr) -> bool:
    # os.environ, environ, env, self._environ: the spellings this code base uses.
    return ast.unparse(node).rpartition(".")[2] in ("environ", "_environ", "env")


def string_constants(sources: list[Path]) -> dict[str, str]:
    """Module-level ``NAME = "text"`` of the sources: NAME -> text."""
    constants = {}
    for path in sources:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants[target.id] = node.value.value
    return constants


def environment_reads(source: str, constants: Mapping[str, str] = {}) -> set[str]:
    """Names read with ``os.environ[...]``, ``.get``/``.setdefault``/``.pop``
    on an environment, or ``os.getenv``, where the name is a literal or a
    module's constant (and not a WSGI environ's)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environment(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop"):
                key = node.args[0] if _is_environment(func.value) else None
            elif ast.unparse(func).rpartition(".")[2] == "getenv":
                key = node.args[0]
        if isinstance(key, ast.Name | ast.Attribute):
            key = ast.Constant(constants.get(ast.unparse(key).rpartition(".")[2]))
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and NAME.fullmatch(key.value):
            names.add(key.value)
    return {name for name in names if not WSGI.fullmatch(name)}


def readme_tables() -> dict[str, str]:
    """The README's tables of variables (Configuration, Traces): variable ->
    its default, as the default cell says it."""
    table = {}
    for block in (ROOT / "README.md").read_text().split("| variable | default | meaning |\n")[1:]:
        for row in re.findall(r"^\| `.*$", block.split("\n\n", 1)[0], re.MULTILINE):
            names_cell, default_cell = row.split("|")[1:3]
            names = re.findall(r"`(\w+)`", names_cell)
            defaults = re.findall(r"`([^`]*)`", default_cell)
            if len(defaults) == len(names):  # `A` × `B` | `1` × `2`
                paired = defaults
            elif re.fullmatch(r"`[^`]*`", default_cell.strip()):  # `A`, `B` | `1`
                paired = defaults * len(names)
            else:
                paired = [default_cell.strip()] * len(names)
            table.update(zip(names, paired, strict=True))
    return table


def app_json() -> dict:
    return json.loads((ROOT / "app.json").read_text())


def test_from_env_reads_exactly_the_declared_settings_variables():
    # Given an environment that notes what is read from it
    environ = Recording(dict(REQUIRED))
    # When the settings are built from it
    Settings.from_env(environ)
    # I expect every declared variable read, and nothing else
    assert environ.read == {variable.name for variable in SETTINGS_VARIABLES}


def test_the_declared_defaults_are_the_settings_defaults():
    # Given only the required variables, the declared defaults apply
    built = Settings.from_env(REQUIRED)
    # I expect them to be what Settings itself defaults to, field by field
    plain = Settings(
        mongodb_uri=REQUIRED["MONGODB_URI"], mongodb_database="shop", redis_url=REQUIRED["REDIS_URL"]
    )
    assert dataclasses.asdict(built) == dataclasses.asdict(plain)


def test_an_empty_variable_counts_as_unset():
    empty = {"MAX_QUEUE_DEPTH": "", "REDIS_NAMESPACE": "", "REBUILD_LEASE": "", "CURSOR_SECRET": ""}
    settings = Settings.from_env({**REQUIRED, **empty})
    assert settings.max_queue_depth == 10_000
    assert settings.redis_namespace == "shop"
    assert settings.rebuild_lease_s == 30.0
    assert settings.cursor_secret is None


def test_a_set_variable_overrides_its_declared_default():
    settings = Settings.from_env({**REQUIRED, "MAX_QUEUE_DEPTH": "7", "WEB_THREADS": "8"})
    assert (settings.max_queue_depth, settings.max_waits) == (7, 6)
    assert Settings.from_env({**REQUIRED, "MAX_WAITING_REQUESTS": "0"}).max_waits == 0


def test_consumer_wakeups_are_on_unless_turned_off_and_nothing_else_is_taken():
    assert Settings.from_env(REQUIRED).consumer_wakeups is True
    assert Settings.from_env({**REQUIRED, "CONSUMER_WAKEUPS": "off"}).consumer_wakeups is False
    with pytest.raises(ConfigurationError, match="CONSUMER_WAKEUPS must be on or off"):
        Settings.from_env({**REQUIRED, "CONSUMER_WAKEUPS": "false"})


def test_the_procfile_reads_declared_variables_with_the_declared_defaults():
    for name, default in procfile_variables().items():
        assert name in DECLARED, f"the Procfile reads {name}: declare it in infra/settings.py"
        assert default == DECLARED[name].default, f"{name}: the Procfile's default is not the declared one"


def test_the_code_reads_only_declared_variables():
    sources = first_party_sources()
    constants = string_constants(sources)
    for path in sources:
        undeclared = environment_reads(path.read_text(), constants) - DECLARED.keys() - SYSTEM
        where = path.relative_to(ROOT)
        assert not undeclared, f"{where} reads {sorted(undeclared)}: declare them in infra/settings.py"


def test_every_process_variable_is_read_somewhere():
    read = set(procfile_variables())
    sources = first_party_sources()
    constants = string_constants(sources)
    for path in sources:
        read |= environment_reads(path.read_text(), constants)
    assert {variable.name for variable in PROCESS_VARIABLES} <= read


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('os.environ.get("A"); os.environ["B"]; os.getenv("C")', {"A", "B", "C"}),
        ('env.setdefault("D", "1"); self._environ.pop("E")', {"D", "E"}),
        ('env["F"] = "written, not read"; other.get("G"); environ.get(name)', set()),
        ('environ.get("PATH_INFO"); req.env["HTTP_ACCEPT"]; req.env["wsgi.input"]', set()),
        ('os.environ.get(logs.SERVICE_ENV, "worker"); os.environ[KEY]', {"SHOP_SERVICE", "SHOP_KEY"}),
    ],
)
def test_the_scan_finds_reads_in_the_spellings_the_code_uses(source, names):
    assert environment_reads(source, {"SERVICE_ENV": "SHOP_SERVICE", "KEY": "SHOP_KEY"}) == names


def test_the_readme_tables_list_every_declared_variable_and_its_default():
    table = readme_tables()
    assert table.keys() == DECLARED.keys()
    for name, variable in DECLARED.items():
        if variable.default is not None:
            assert table[name] == variable.default, f"README: {name} defaults to {variable.default}"


def test_app_json_sets_only_declared_variables_described_as_declared():
    for name, entry in app_json()["env"].items():
        assert name in DECLARED, f"app.json sets {name}, which no process reads"
        assert entry["description"] == DECLARED[name].meaning, f"app.json: {name}'s description"


def test_app_json_provides_what_web_refuses_to_start_without():
    manifest = app_json()
    env = manifest["env"]
    assert env["MONGODB_URI"]["required"] is True
    assert env["API_TOKENS"]["required"] is True
    assert env["CURSOR_SECRET"]["generator"] == "secret"
    # REDIS_URL comes from the Redis add-on, whose certificate is self-signed.
    assert "REDIS_URL" not in env
    assert any(addon["plan"].startswith("heroku-redis") for addon in manifest["addons"])
    assert env["REDIS_TLS_VERIFY"]["value"] == "none"


def test_app_json_forms_every_long_running_process_of_the_procfile():
    formation = app_json()["formation"]
    # release is a phase, not a formation: the platform runs it before each deploy goes live.
    assert formation.keys() == procfile().keys() - {"release"}
    assert all(entry["quantity"] >= 1 and entry["size"] for entry in formation.values())
