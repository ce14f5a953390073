"""The error catalogue (``hitkey_bff.catalogue``) is what the code answers and what the reference says.

The layer is read as source (its syntax tree): every error class it instantiates, with the
``code=`` it passes or the class's own, every literal ``{"error": ...}`` body with its status, and
every ``auth_error`` the callback can redirect with. The JS client's own codes come from its
``new BffError(status, "code", ...)`` calls.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from hitkey_bff import catalogue, errors
from hitkey_bff.catalogue import AUTH_ERRORS, CLIENT_ERRORS, ERRORS, INTERNAL_CODES
from tests.unit.docs_tables import ROOT, table_rows

LAYER = ROOT / "layers" / "bff" / "hitkey_bff"
CALLBACK = LAYER / "routes" / "callback.py"
REFERENCE = ROOT / "docs" / "reference.md"
CLASSES = {
    name: cls for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, errors.BffError)
}


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _literal(node: ast.expr | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def answered_codes(layer: Path = LAYER) -> dict[str, set[int]]:
    """code -> statuses, for every error the layer's source can raise or answer."""
    found: dict[str, set[int]] = defaultdict(set)
    for path in sorted(layer.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Call):
                continue
            cls = CLASSES.get(_name(node.func))
            if cls is not None:
                given = next((k.value for k in node.keywords if k.arg == "code"), None)
                if given is None:
                    found[cls.code].add(cls.status)
                elif isinstance(_literal(given), str):
                    found[str(_literal(given))].add(cls.status)
                # else: a code carried over from another error (``code=err.code``), found where raised
            for arg in node.args:  # json_response(500, {"error": "internal_error", ...})
                if isinstance(arg, ast.Dict):
                    for key, value in zip(arg.keys, arg.values, strict=True):
                        if key is not None and _literal(key) == "error" and isinstance(_literal(value), str):
                            status = _literal(node.args[0])
                            assert isinstance(status, int), f"{path.name}:{node.lineno}: no literal status"
                            found[str(_literal(value))].add(status)
    return dict(found)


def auth_error_codes(callback: Path = CALLBACK) -> set[str]:
    """Every literal ``auth_error`` of the callback: the codes passed to ``_auth_error``, those
    ``_failure_code`` assigns, and ``oauth.error_code``'s fallback for a code that is not plain."""
    tree = ast.parse(callback.read_text(encoding="utf-8"))
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    assert {"_auth_error", "_failure_code"} <= set(functions), "the callback's error helpers moved: update this test"
    codes = {
        str(_literal(call.args[1]))
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and _name(call.func) == "_auth_error" and isinstance(_literal(call.args[1]), str)
    }
    for node in ast.walk(functions["_failure_code"]):
        if isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["code"]:
            values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
            codes |= {str(_literal(v)) for v in values if isinstance(_literal(v), str)}
    oauth = ast.parse((LAYER / "oauth.py").read_text(encoding="utf-8"))
    (error_code,) = [f for f in ast.walk(oauth) if isinstance(f, ast.FunctionDef) and f.name == "error_code"]
    returns = [r.value for r in ast.walk(error_code) if isinstance(r, ast.Return) and r.value is not None]
    codes |= {str(_literal(n)) for r in returns for n in ast.walk(r) if isinstance(_literal(n), str)}
    return codes


def test_the_layer_answers_only_catalogued_codes_with_their_status() -> None:
    answered = answered_codes()
    internal = {code: statuses for code, statuses in answered.items() if code in INTERNAL_CODES}
    public = {code: statuses for code, statuses in answered.items() if code not in INTERNAL_CODES}
    assert {code: {ERRORS[code].status} for code in public if code in ERRORS} == {
        code: statuses for code, statuses in public.items() if code in ERRORS
    }, "a code is answered with another status than its catalogue entry's"
    assert set(public) - set(ERRORS) == set(), "answered but not in hitkey_bff.catalogue.ERRORS"
    assert set(ERRORS) - set(public) == set(), "catalogued but never answered: remove it"
    assert set(internal) == set(INTERNAL_CODES)


def test_internal_codes_never_reach_an_answer() -> None:
    """Only codes of the errors the layer handles itself are internal: ``invalid_grant`` (which the
    callback and the refresh turn into other answers)."""
    internal_classes = {errors.InvalidGrant}
    assert {cls.code for cls in internal_classes} == set(INTERNAL_CODES)


def test_the_callback_redirects_only_with_catalogued_auth_errors() -> None:
    codes = auth_error_codes()
    assert {"invalid_state", "invalid_request", "authorization_failed", "server_error"} <= codes  # the scan works
    assert codes - set(AUTH_ERRORS) == set()
    built = [
        path.name
        for path in LAYER.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.JoinedStr) and any("auth_error=" in str(_literal(v)) for v in node.values)
    ]
    assert built == [CALLBACK.name], "?auth_error= is built in one place, the callback's _auth_error"


def test_the_js_client_raises_only_catalogued_codes() -> None:
    raised = {
        m[2]: int(m[1])
        for js in (ROOT / "clients" / "js").glob("*.js")
        for m in re.finditer(r'new BffError\(\s*(\d+),\s*"([a-z_]+)"', js.read_text(encoding="utf-8"))
    }
    assert raised == {code: entry.status for code, entry in CLIENT_ERRORS.items()}


def test_no_documented_code_is_invented() -> None:
    """A code the README once documented but no code answers stays out."""
    assert "session_ended" not in {**ERRORS, **CLIENT_ERRORS, **AUTH_ERRORS}


def test_the_reference_error_table_is_the_catalogue() -> None:
    rows = table_rows(REFERENCE, ["status", "error", "meaning"])
    documented = [(row[1].strip("`"), int(row[0]), row[2]) for row in rows]
    expected = [(code, e.status, e.meaning) for table in (ERRORS, CLIENT_ERRORS) for code, e in table.items()]
    assert sorted(documented) == sorted(expected)
    assert len(documented) == len({(code, status) for code, status, _ in documented}), "a row is listed twice"


def test_the_reference_auth_error_table_is_the_catalogue() -> None:
    rows = table_rows(REFERENCE, ["auth_error", "meaning"])
    documented = [(row[0].strip("`"), row[1]) for row in rows]
    assert sorted(documented) == sorted(AUTH_ERRORS.items())
    assert len(documented) == len(dict(documented))


def test_the_scanner_finds_what_a_new_error_would_add(tmp_path: Path) -> None:
    """A new literal code is seen by the scan, wherever it is raised from."""
    (tmp_path / "flow.py").write_text(
        "def f():\n"
        "    raise Forbidden('x', code='brand_new')\n"
        "def g():\n"
        "    return json_response(418, {'error': 'teapot', 'message': 'no'})\n"
        "def h():\n"
        "    raise UnknownApi('no such API')\n"
    )
    assert answered_codes(tmp_path) == {"brand_new": {403}, "teapot": {418}, "unknown_api": {404}}


def test_the_catalogue_is_a_leaf_module() -> None:
    source = Path(catalogue.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import) hitkey_bff", source, re.MULTILINE)


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]
DOCS.append(ROOT / "clients" / "js" / "README.md")
STATUS = re.compile(r"0|[45]\d\d")


def quoted_codes(text: str) -> list[tuple[int, int, str]]:
    """``(line, status, code)`` of every `` `NNN code` `` phrase, and of every code in the first
    cell after a status cell of a table row (``| 401 | `unauthenticated`, ... |``)."""
    found = [
        (text.count("\n", 0, m.start()) + 1, int(m[1]), m[2])
        for m in re.finditer(r"`([1-5]\d\d) ([a-z][a-z_]*[a-z])`", text)
    ]
    for number, line in enumerate(text.splitlines(), 1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        for i, cell in enumerate(cells[:-1]):
            if STATUS.fullmatch(cell):
                found += [(number, int(cell), code) for code in re.findall(r"`([a-z]+(?:_[a-z]+)*)`", cells[i + 1])]
                break
    return found


@pytest.mark.parametrize("doc", [d for d in DOCS if d.exists()], ids=lambda d: d.relative_to(ROOT).as_posix())
def test_the_docs_quote_codes_with_their_status(doc: Path) -> None:
    """Wherever a doc pairs a status with an error code, the code answers with that status."""
    statuses: dict[str, set[int]] = defaultdict(set)
    for table in (ERRORS, CLIENT_ERRORS):
        for code, entry in table.items():
            statuses[code].add(entry.status)
    wrong = [
        f"{doc.relative_to(ROOT)}:{line}: {status} {code} (answered with: {sorted(statuses[code]) or 'none'})"
        for line, status, code in quoted_codes(doc.read_text(encoding="utf-8"))
        if status not in statuses[code]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_doc_scan_finds_status_and_code_pairs() -> None:
    text = "a `401 session_ended` here\n| 401 | `unauthenticated`, `session_ended` | gone |\n| 200 | `ok` |\n"
    assert quoted_codes(text) == [(1, 401, "session_ended"), (2, 401, "unauthenticated"), (2, 401, "session_ended")]
