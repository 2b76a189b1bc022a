"""Classify one video (file or frame folder) with a saved checkpoint through `pipeline("video-classification")`.

    python scripts/classify.py --model outputs/sample --video sample_data/Clip/clip_224x224/00001
"""

import argparse

from transformers import pipeline

import dfer.modeling  # noqa: F401  (registers the models and the video processor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub repo id")
    parser.add_argument("--video", required=True, help="video file or folder of frame images")
    parser.add_argument("--top_k", type=int, default=3)
    args = parser.parse_args()
    classifier = pipeline("video-classification", model=args.model)
    for prediction in classifier(args.video, top_k=args.top_k):
        print(f"{prediction['label']:>10}  {prediction['score']:.3f}")


if __name__ == "__main__":
    main()
