"""InsightFace's own Python pipeline on the same model files, for `faceprint bench`.

Runs FaceAnalysis-style detection + recognition (SCRFD + ArcFaceONNX, InsightFace's classes,
ONNX Runtime on CPU) over a list of images and prints one JSON object with timings. The SCRFD
class is built directly because insightface's model router mistakes this batched SCRFD export
for RetinaFace. Usage:

    python insightface_reference.py --models DIR --list images.txt --repeat 3 [--threads N]
        [--det-size 640] [--embeddings out.jsonl]
"""

import argparse
import json
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.scrfd import SCRFD


def session(path, threads):
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--list", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: ORT's default)")
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--embeddings", help="write the centred face's embedding per image (JSON lines)")
    args = parser.parse_args()
    onnxruntime.set_default_logger_severity(3)

    detector = SCRFD(f"{args.models}/scrfd_500m_bnkps.onnx", session(f"{args.models}/scrfd_500m_bnkps.onnx", args.threads))
    detector.prepare(0, input_size=(args.det_size, args.det_size), det_thresh=0.5)
    recognizer = ArcFaceONNX(f"{args.models}/w600k_mbf.onnx", session(f"{args.models}/w600k_mbf.onnx", args.threads))
    recognizer.prepare(0)

    from insightface.app.common import Face

    paths = [line.rstrip("\n") for line in open(args.list) if line.strip()]

    def one_pass(record=None):
        times = {"decode": 0.0, "detect": 0.0, "recognize": 0.0}
        faces_total = 0
        started = time.perf_counter()
        for path in paths:
            t0 = time.perf_counter()
            img = cv2.imread(path)
            t1 = time.perf_counter()
            bboxes, kpss = detector.detect(img, max_num=0, metric="default")
            t2 = time.perf_counter()
            faces = []
            for i in range(bboxes.shape[0]):
                face = Face(bbox=bboxes[i, 0:4], kps=kpss[i], det_score=bboxes[i, 4])
                recognizer.get(img, face)
                faces.append(face)
            t3 = time.perf_counter()
            times["decode"] += t1 - t0
            times["detect"] += t2 - t1
            times["recognize"] += t3 - t2
            faces_total += len(faces)
            if record is not None:
                h, w = img.shape[:2]
                best = None
                for face in faces:
                    cx, cy = (face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2
                    d = (cx - w / 2) ** 2 + (cy - h / 2) ** 2
                    if best is None or d < best[0]:
                        best = (d, face)
                embedding = None if best is None else (best[1].embedding / np.linalg.norm(best[1].embedding)).tolist()
                record.write(json.dumps({"path": path, "embedding": embedding}) + "\n")
        return time.perf_counter() - started, faces_total, times

    # Warm-up pass (also writes embeddings, when asked).
    if args.embeddings:
        with open(args.embeddings, "w") as record:
            one_pass(record)
    else:
        one_pass()
    passes = [one_pass() for _ in range(max(1, args.repeat))]
    walls = [p[0] for p in passes]
    median = sorted(passes, key=lambda p: p[0])[len(passes) // 2]
    print(json.dumps({
        "images": len(paths),
        "faces": median[1],
        "wall_seconds": walls,
        "median_seconds": statistics.median(walls),
        "stage_seconds": median[2],
        "onnxruntime": onnxruntime.__version__,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    sys.exit(main())
