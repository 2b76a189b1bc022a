#!/usr/bin/env bash
# The README's main command: set up, generate the bundled synthetic sample (DFEW layout), train GCA-ResNet with
# the Intensity-Aware Loss on fold 1, evaluate on its test fold, and classify one clip from the saved checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# CPU wheel of torch first, so dfer's torch requirement pulls no CUDA packages.
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e .

# A new run each time: `dfer train` refuses to start over a finished run or another run's checkpoints.
rm -rf outputs/sample
.venv/bin/dfer train --dataset sample --data_dir sample_data --output_dir outputs/sample "$@"
# One clip of the test fold (never seen in training), with its true label.
IFS=, read -r clip label < <(sed -n 2p "sample_data/EmoLabel_DataSplit/test(single-labeled)/set_1.csv" | tr -d '\r')
labels=(Happy Sad Neutral Angry Surprise Disgust Fear)
echo "Clip $clip (true label: ${labels[$((label - 1))]}) through pipeline(\"video-classification\"):"
.venv/bin/python scripts/classify.py --model outputs/sample --video "sample_data/Clip/clip_224x224/$clip"
