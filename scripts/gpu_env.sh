# Sourced by the GPU scripts: on a bare CUDA machine without network that has torch and transformers, install the
# other packages from wheel files (made here with scripts/gpu_wheels.sh, which writes .whl/) into a private folder,
# check that every package is there, and put this checkout on the path.  Uses: $wheels (folder of wheels), $python.
site=${GPU_CHECK_SITE:-/tmp/visionr1-gpu-site}
if ls "$wheels"/*.whl >/dev/null 2>&1; then
  echo "gpu: installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site" >&2
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
"$python" - <<'PY' || { echo "gpu: missing packages (make the wheels with scripts/gpu_wheels.sh)" >&2; exit 2; }
import importlib, sys
missing = [m for m in ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "pycocotools", "msgspec",
                       "faster_coco_eval", "typer", "rich", "scipy", "yaml", "matplotlib") if not importlib.util.find_spec(m)]
print("gpu: missing " + ", ".join(missing), file=sys.stderr) if missing else None
sys.exit(1 if missing else 0)
PY
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
