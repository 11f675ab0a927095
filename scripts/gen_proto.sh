#!/usr/bin/env bash
# Regenerate the Python code of proto/kme/v1 with the pinned generator.
#
#   scripts/gen_proto.sh            write beside the .proto files (commit the result)
#   scripts/gen_proto.sh OUT_DIR    write into OUT_DIR instead (tests compare it with the committed code)
#
# The generator is pinned because its output (and the runtime version check it embeds) changes
# between releases; regenerating with another version would give a noisy, unreviewable diff.
set -euo pipefail

PINNED="1.85.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python="python3"; fi
fi
out="${1:-$root/proto}"

have="$("$python" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))' 2>/dev/null || echo none)"
if [ "$have" != "$PINNED" ]; then
  echo "gen_proto: grpcio-tools $have found, $PINNED required (pip install grpcio-tools==$PINNED)" >&2
  exit 1
fi

mkdir -p "$out"
cd "$root/proto"
# Relative paths only, so that the descriptors embedded in the output do not depend on where
# the checkout lives.
"$python" -m grpc_tools.protoc -I . \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  kme/v1/common.proto kme/v1/knowledge.proto kme/v1/answer.proto
