#!/usr/bin/env bash
# The GPU check, run on the device machine once scripts/gpu/stage.sh's files are there (its header
# says how they go over). One command, a few minutes: faceprint info, the recogniser alone on
# aligned crops, and the whole pipeline on LFW DevTest (adaptive detector size, a fixed 640, and
# per photo) and on crowd photos, each on the GPU and on the CPU of the same machine in the same
# run, with how closely their faces agree. Everything lands under $OUT.
# DEVICE=cpu runs the same steps without a GPU, to try the script on any machine (FACES=512 keeps
# the recogniser's step short on a few cores).
set -uo pipefail
OUT=${OUT:-/tmp/faceprint-gpu-out}
DEVICE=${DEVICE:-cuda}
STAGED=${STAGED:-/tmp/st}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
repo=$PWD
work=/tmp/faceprint-gpu
rm -rf "$work" && mkdir -p "$work/home/models"
cat "$STAGED"/ort.part* > "$work/ort.tar.gz"
(cd "$work" && echo "$(cat "$repo/.gpu/ort.sha256")  ort.tar.gz" | sha256sum -c) || exit 1
tar -xzf "$work/ort.tar.gz" -C "$work"
tar -xf "$STAGED/data.tar" -C "$work"
mv "$work/insightface-small" "$work/home/models/"
export FACEPRINT_HOME=$work/home
export FACEPRINT_ORT_LIB=$work/ort/libonnxruntime.so.1.31.1
# The machine's CUDA libraries are the nvidia-* wheels of its Python: every folder holding one.
nvidia=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia
cuda_dirs=$( [ -d "$nvidia" ] && find "$nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
export LD_LIBRARY_PATH=${cuda_dirs:+$cuda_dirs:}$work/ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fp=$repo/.gpu/faceprint
lfw=$work/lfw-devtest
(nvidia-smi; nproc) > "$OUT/machine.txt" 2>&1
step() {
    echo "== $*"
    timeout 200 "$@"
    echo "== exit $?"
}
step "$fp" --device "$DEVICE" info
"$fp" --device "$DEVICE" info --json > "$OUT/info.json"
step "$fp" -q --device "$DEVICE" bench recognition "$lfw/images" --limit 400 --faces "${FACES:-8192}" \
    --batch 1,32,256,1024 --repeat 2 --json "$OUT/recognition.json"
step "$fp" -q --device "$DEVICE" bench pipeline "$lfw/images" --lfw-pairs "$lfw/pairs.txt" \
    --json "$OUT/pipeline-lfw.json"
step "$fp" -q --device "$DEVICE" bench pipeline --det-size 640 "$lfw/images" --lfw-pairs "$lfw/pairs.txt" \
    --json "$OUT/pipeline-lfw-640.json"
step "$fp" -q --device "$DEVICE" bench pipeline --batched false "$lfw/images" --repeat 1 \
    --json "$OUT/pipeline-lfw-per-photo.json"
step "$fp" -q --device "$DEVICE" bench pipeline "$work/detection" --repeat 5 --json "$OUT/pipeline-crowds.json"
