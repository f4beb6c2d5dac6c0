#!/usr/bin/env bash
# A plain install works (issue 19): build the sdist and the wheel, check them,
# install the wheel with no extras into a fresh virtualenv, import every module
# from outside the repo, see each extra-only feature name its extra when used,
# and run the examples that need no extra.
#
# Usage: .ci/plain_install.sh [PYTHON]
#   PYTHON (default: python) has build and twine (the dev extra); the fresh
#   virtualenv is made with the same interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${1:-python}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "plain install: $*" >&2
    exit 1
}

echo "-- build the sdist and the wheel from it"
if ! "$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    fail "python -m build failed"
fi
"$python" -m twine check --strict "$work"/dist/*

sdist=$(echo "$work"/dist/actorlib-*.tar.gz)
wheel=$(echo "$work"/dist/actorlib-*-py3-none-any.whl)
[[ -f $sdist && -f $wheel ]] || fail "expected one sdist and one wheel in $work/dist"

echo "-- the sdist holds what a packager needs, nothing from a developer's machine"
# Paths inside the sdist, without its top directory (actorlib-0.1.0/).
tar -tzf "$sdist" | sed 's|^[^/]*/||' >"$work/sdist.txt"
for needed in tests/ docs/ examples/ actorlib/py.typed LICENSE README.md pyproject.toml; do
    grep -q "^${needed//./\\.}" "$work/sdist.txt" || fail "the sdist lacks $needed"
done
stray='(^|/)(\.venv[^/]*|__pycache__|\.[a-z_]+_cache|\.hypothesis|\.coverage[^/]*)(/|$)|\.py[co]$|^benchmarks/results(/|$)'
if grep -E "$stray" "$work/sdist.txt"; then
    fail "the sdist holds the files above, from a developer's machine"
fi
# Listed to a file first: grep -q stops reading at the first match, and the
# lister's broken pipe would fail the pipeline (pipefail).
"$python" -m zipfile -l "$wheel" >"$work/wheel.txt"
grep -q '^actorlib/py\.typed ' "$work/wheel.txt" || fail "the wheel lacks actorlib/py.typed"
for page in index.html dashboard.js dashboard.css; do
    grep -q "^actorlib/dashboard/static/${page//./\\.} " "$work/wheel.txt" ||
        fail "the wheel lacks the dashboard's actorlib/dashboard/static/$page"
done

echo "-- install the wheel, no extras, into a fresh virtualenv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"

echo "-- import every module, and use what needs an extra"
# From the temp dir, in isolated mode (-I): neither the repo nor the current
# directory is on sys.path, so only the installed wheel can be imported.
cd "$work"
"$work/venv/bin/python" -I - "$work/venv" <<'EOF'
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

venv = Path(sys.argv[1]).resolve()

# Not installed, or this check would prove nothing.
for name in (
    "nats", "cryptography", "hypothesis", "pytest", "trio", "uvloop", "tqdm", "opentelemetry", "h11"
):
    assert importlib.util.find_spec(name) is None, f"{name} is installed in the plain venv"

import actorlib

assert venv in Path(actorlib.__file__).resolve().parents, f"imported {actorlib.__file__}"

PUBLIC = (
    "actorlib",
    "actorlib.remote",
    "actorlib.jobs",
    "actorlib.patterns",
    "actorlib.testing",
    "actorlib.observability",
)
for name in PUBLIC:
    module = importlib.import_module(name)
    for attr in module.__all__:
        getattr(module, attr)
# Every other module too, but those that run a command line (__main__), the
# pytest plugin, which only pytest loads, and actorlib.dashboard, which needs
# its extra to import (refused below).
for info in pkgutil.walk_packages(actorlib.__path__, "actorlib.", onerror=lambda name: None):
    if info.name.startswith("actorlib.dashboard"):
        continue
    if info.name.rpartition(".")[2] not in ("__main__", "_pytest_plugin"):
        importlib.import_module(info.name)


def refused(call, extra):
    """Run *call*; it must fail with an error naming ``pip install "actorlib[<extra>]"``."""
    try:
        call()
    except Exception as error:  # an ExceptionGroup from a task group, too
        errors = error.exceptions if isinstance(error, ExceptionGroup) else (error,)
        text = " ".join(str(e) for e in errors)
        want = f'pip install "actorlib[{extra}]"'
        assert want in text, f"{call.__name__}: {text!r} does not say {want}"
        print(f"   {call.__name__}: {text}")
    else:
        raise AssertionError(f"{call.__name__} worked without the {extra} extra")


def start_nats_transport():
    from actorlib import ActorSystem
    from actorlib.remote import NatsTransport

    async def main():
        async with ActorSystem("plain", transport=NatsTransport("nats://127.0.0.1:4222")):
            pass

    actorlib.run(main)


def encrypt_for_nats():
    from actorlib.remote._crypto import Aead

    Aead(bytes(32))


def draw_schedules():
    actorlib.testing.schedules()


def publish_opentelemetry_metrics():
    from actorlib.observability import OpenTelemetryMetrics

    OpenTelemetryMetrics()


def trace_with_opentelemetry():
    from actorlib.observability import OpenTelemetryTracing

    OpenTelemetryTracing()


refused(start_nats_transport, "nats")
refused(publish_opentelemetry_metrics, "otel")
refused(trace_with_opentelemetry, "otel")
refused(encrypt_for_nats, "nats")
def import_dashboard():
    importlib.import_module("actorlib.dashboard")


refused(draw_schedules, "testing")
refused(import_dashboard, "dashboard")
print(f"   {len(sys.modules)} modules imported from {Path(actorlib.__file__).parent}")
EOF

echo "-- run the examples that need no extra, from outside the repo"
# bank_transfer.py explores schedules with hypothesis: it needs the testing extra.
for example in demo job_queue cluster typed_actors; do
    cp "$repo/examples/$example.py" "$work/"
    if ! "$work/venv/bin/python" -I "$work/$example.py" >"$work/$example.log" 2>&1; then
        cat "$work/$example.log" >&2
        fail "examples/$example.py failed"
    fi
    [[ $(tail -n 1 "$work/$example.log") == done ]] || fail "examples/$example.py did not finish"
    echo "   examples/$example.py: $(wc -l <"$work/$example.log") lines, done"
done
echo "-- a plain install works"
