"""The dfer demo as a Hugging Face Space: the same page as `dfer demo`, for the model named by the Space's
DFER_MODEL variable (a Hub repo id, or a checkpoint folder committed next to this file).

Space variables (Settings -> Variables): DFER_MODEL (required); DFER_MAX_VIDEO_SECONDS (default 120; 0: no
limit); DFER_MAX_FILE_SIZE (largest upload, default 200mb). Locally: `DFER_MODEL=outputs/sample python
space/app.py`.
"""

import os

from dfer.demo import build_demo

# A Space's CPU is shared by its visitors: shorter videos and smaller uploads than `dfer demo` takes keep the
# queue moving and the disk from filling.
SPACE_MAX_VIDEO_SECONDS = "120"
SPACE_MAX_FILE_SIZE = "200mb"

model = os.environ.get("DFER_MODEL")
if not model:
    raise SystemExit("space/app.py: set DFER_MODEL to the model's Hub repo id (or a checkpoint folder).")
try:
    max_seconds = float(os.environ.get("DFER_MAX_VIDEO_SECONDS", SPACE_MAX_VIDEO_SECONDS))
except ValueError:
    raise SystemExit("space/app.py: DFER_MAX_VIDEO_SECONDS must be a number of seconds (0: no limit).") from None
# Visitors use the model offered only (allow_other_models is off): a typed-in repo id would make the Space
# download it.
demo = build_demo(model, max_video_seconds=max_seconds or None)

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME and GRADIO_SERVER_PORT.
    demo.launch(max_file_size=os.environ.get("DFER_MAX_FILE_SIZE", SPACE_MAX_FILE_SIZE))
