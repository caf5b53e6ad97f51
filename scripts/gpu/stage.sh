#!/usr/bin/env bash
# Prepares, on this machine, everything the GPU check (scripts/gpu/check.sh) needs on the device
# machine, which reaches no package index and takes at most 64 MiB of files per call:
#   .gpu/ort.part00 … part03, .gpu/ort.sha256   ONNX Runtime's CUDA build in parts (../shared/gpu)
#   .gpu/data.tar      the default model pack, LFW DevTest and the detection photos (≈ 45 MiB)
#   .gpu/faceprint     the release binary, stripped (≈ 27 MiB)
# (.gpu/ is git-ignored through .git/info/exclude.) Then, with the device tool, back to back while
# the machine stays warm (a call that finds no warm machine starts a bare one: begin again):
#   run(carry=[".gpu/ort.part00"], command="mkdir -p /tmp/st && cp .gpu/ort.part00 /tmp/st/")
#   … the same for part01, part02, part03, and for .gpu/data.tar …
#   run(carry=[".gpu/faceprint", ".gpu/ort.sha256"], command="bash scripts/gpu/check.sh", timeout_s=480)
# and give the machine back. The figures come back under $OUT (see check.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
../shared/gpu/stage-ort-cuda.sh
cargo build --release -p faceprint-cli
target/release/faceprint models fetch >/dev/null
strip -o .gpu/faceprint target/release/faceprint
pack=$(target/release/faceprint models list | sed -n 's/^cache: //p')
tar -cf .gpu/data.tar -C "$(dirname "$pack")" "$(basename "$pack")" \
    -C "$root/../shared/testdata" lfw-devtest detection
ls -l .gpu/
