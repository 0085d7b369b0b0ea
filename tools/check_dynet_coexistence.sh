#!/bin/bash
# dynagraph beside dynet38 in one environment: install and uninstall both, in both
# orders, in throwaway venvs, and report after each step where `import dynet_config`
# comes from and whether each library imports. Usage:
#   pip wheel . --no-deps -w dist && tools/check_dynet_coexistence.sh dist/dynagraph-*.whl
# Expected: DyNet's dynet_config.py while dynet38 is installed, dynagraph/_dynet_config.py
# otherwise; an installed library always imports.
set -u
WHEEL=$1
probe() {  # $1 venv; prints where dynet_config comes from and whether both libraries import
  "$1/bin/python" - <<'PY'
import importlib.util
spec = importlib.util.find_spec("dynet_config")
print("  dynet_config:", None if spec is None else spec.origin.split("site-packages/")[-1])
for lib in ("dynagraph", "dynet"):
    try:
        __import__(lib)
        print("  import", lib, "ok")
    except Exception as exc:
        print("  import", lib, "FAILS:", type(exc).__name__, str(exc)[:80])
PY
}
for order in "dynagraph dynet38" "dynet38 dynagraph"; do
  V=${TMPDIR:-/tmp}/dg-coexist-$(echo $order | tr ' ' '-')
  rm -rf $V; python3 -m venv $V
  set -- $order
  for pkg in $1 $2; do
    spec=$pkg; [ $pkg = dynagraph ] && spec=$WHEEL
    $V/bin/pip install -q $spec 2>&1 | grep -v "WARNING: Location" | tail -2
    echo "after installing $pkg (order: $order)"; probe $V
  done
  for pkg in $1 $2; do
    $V/bin/pip uninstall -q -y $pkg 2>&1 | tail -2
    echo "after uninstalling $pkg (order: $order)"; probe $V
  done
done
rm -rf "${TMPDIR:-/tmp}"/dg-coexist-*
