"""The dfer demo as a Hugging Face Space: the same page as `dfer demo`, for the model named by the Space's
DFER_MODEL variable (a Hub repo id, or a checkpoint folder committed next to this file).

Space variables (Settings -> Variables): DFER_MODEL (required), DFER_MAX_VIDEO_SECONDS (default 120; 0: no
limit). Locally: `DFER_MODEL=outputs/sample python space/app.py`.
"""

import os

from dfer.demo import build_demo

# A Space's CPU is shared by its visitors: a shorter limit than `dfer demo`'s keeps the queue moving.
DEFAULT_MAX_VIDEO_SECONDS = 120.0

model = os.environ.get("DFER_MODEL")
if not model:
    raise SystemExit("space/app.py: set DFER_MODEL to the model's Hub repo id (or a checkpoint folder).")
max_seconds = float(os.environ.get("DFER_MAX_VIDEO_SECONDS", DEFAULT_MAX_VIDEO_SECONDS))
# Visitors choose from the model offered only: a typed-in repo id would make the Space download it.
demo = build_demo(model, max_video_seconds=max_seconds or None, allow_other_models=False)

if __name__ == "__main__":
    demo.launch()  # Spaces set GRADIO_SERVER_NAME and GRADIO_SERVER_PORT
