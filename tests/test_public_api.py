"""The public surface: one home per name, sorted __all__, docstrings everywhere."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import actorlib

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = sorted(actorlib.__all__)
PACKAGES = [
    "actorlib",
    "actorlib.patterns",
    "actorlib.jobs",
    "actorlib.remote",
    "actorlib.testing",
    "actorlib.observability",
    "actorlib.cluster",
    "actorlib.dashboard",
]


def test_all_is_sorted_and_unique() -> None:
    assert actorlib.__all__ == sorted(set(actorlib.__all__))


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_importable_from_the_package(name: str) -> None:
    assert getattr(actorlib, name) is not None


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_docstring(name: str) -> None:
    obj = getattr(actorlib, name)
    assert inspect.getdoc(obj), f"actorlib.{name} has no docstring"


@pytest.mark.parametrize("name", [n for n in PUBLIC if inspect.isclass(getattr(actorlib, n))])
def test_every_public_method_has_a_docstring(name: str) -> None:
    cls = getattr(actorlib, name)
    for attr, value in vars(cls).items():
        if attr.startswith("_") or not (inspect.isfunction(value) or isinstance(value, property)):
            continue
        assert inspect.getdoc(value), f"actorlib.{name}.{attr} has no docstring"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_lives_in_a_private_module(name: str) -> None:
    obj = getattr(actorlib, name)
    module = getattr(obj, "__module__", "")
    assert module.startswith("actorlib._"), f"actorlib.{name} is defined in {module}"


def test_the_only_public_submodules_are_the_documented_subpackages() -> None:
    modules = [
        name
        for name in dir(actorlib)
        if inspect.ismodule(getattr(actorlib, name)) and not name.startswith(("_", "@"))
    ]
    assert set(modules) <= {
        "testing",
        "patterns",
        "jobs",
        "remote",
        "observability",
        "cluster",
        "dashboard",
    }, modules


def test_the_error_tree_matches_the_design() -> None:
    assert issubclass(actorlib.AskTimeout, actorlib.ActorError)
    assert issubclass(actorlib.AskTimeout, TimeoutError)
    assert issubclass(actorlib.NameTaken, actorlib.ActorError)
    assert issubclass(actorlib.NameTaken, ValueError)
    assert issubclass(actorlib.SystemClosedError, RuntimeError)
    for error in (actorlib.ActorStopped, actorlib.MailboxFull, actorlib.SystemClosedError):
        assert issubclass(error, actorlib.ActorError)


def test_every_module_opens_with_a_one_line_docstring() -> None:
    import pkgutil

    for info in pkgutil.walk_packages(actorlib.__path__, "actorlib."):
        module = __import__(info.name, fromlist=["_"])
        doc = module.__doc__ or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        assert first.endswith("."), f"{info.name} needs a one-line docstring, got {first!r}"


@pytest.mark.parametrize(
    "package",
    [
        "actorlib.testing",
        "actorlib.patterns",
        "actorlib.jobs",
        "actorlib.remote",
        "actorlib.observability",
        "actorlib.cluster",
        "actorlib.dashboard",
    ],
)
def test_subpackages_export_only_documented_names_from_private_modules(package: str) -> None:
    module = __import__(package, fromlist=["_"])
    assert module.__all__ == sorted(set(module.__all__))
    for name in module.__all__:
        obj = getattr(module, name)
        assert inspect.getdoc(obj), f"{package}.{name} has no docstring"
        if inspect.isclass(obj) or inspect.isfunction(obj):  # not aliases such as Fault
            home = obj.__module__
            assert home.startswith(f"{package}._"), f"{package}.{name} is defined in {home}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_has_a_docstring_in_the_reference(package: str) -> None:
    """As the reference site sees them (griffe, static): aliases such as Fault included."""
    import griffe

    loaded = griffe.load(package, search_paths=[ROOT], resolve_aliases=True)
    for name in __import__(package, fromlist=["_"]).__all__:
        docstring = loaded[name].docstring
        assert docstring is not None, f"{package}.{name} has no docstring"
        assert docstring.value.strip(), f"{package}.{name} has an empty docstring"


# actorlib.jobs's stores implement the JobStore protocol, whose methods carry the docs.
@pytest.mark.parametrize(
    "package",
    [
        "actorlib.patterns",
        "actorlib.remote",
        "actorlib.cluster",
        "actorlib.testing",
        "actorlib.observability",
        "actorlib.dashboard",
    ],
)
def test_every_subpackage_class_documents_its_public_methods(package: str) -> None:
    module = __import__(package, fromlist=["_"])
    for name in module.__all__:
        obj = getattr(module, name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") or not (
                inspect.isfunction(value) or isinstance(value, property)
            ):
                continue
            assert inspect.getdoc(value), f"{package}.{name}.{attr} has no docstring"


def test_remote_modules_open_with_a_one_line_docstring() -> None:
    import pkgutil

    import actorlib.remote

    for info in pkgutil.iter_modules(actorlib.remote.__path__, "actorlib.remote."):
        if info.name.endswith("__main__"):
            continue
        module = __import__(info.name, fromlist=["_"])
        doc = module.__doc__ or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        assert first.endswith("."), f"{info.name} needs a one-line docstring, got {first!r}"
