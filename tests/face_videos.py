"""Videos of a real face for the face-step tests: the astronaut portrait scikit-image ships (Eileen Collins,
NASA, public domain), cropped around the face in `fixtures/faces/astronaut.jpg`, moved, tilted and repeated by
`dfer.data.face_samples.write_photo_video`."""

from pathlib import Path

import numpy as np
from PIL import Image

from dfer.data.face_samples import write_photo_video

PHOTO = Path(__file__).parent / "fixtures" / "faces" / "astronaut.jpg"
# Frame size and pasted square of the tests: the face inside a 110 px square is about 40 px wide.
SIZE = (180, 320)
FACE = 110


def astronaut() -> np.ndarray:
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def write_face_video(path, seconds, size=SIZE, face_size=FACE, tilt=0.0, people=1, **options) -> list:
    """A video of `people` copies of the portrait (every other one mirrored, so they are not identical); returns
    the pasted squares of every frame (a list per frame, one entry per person)."""
    photo = astronaut()
    photos = [photo if person % 2 == 0 else np.ascontiguousarray(photo[:, ::-1]) for person in range(people)]
    return write_photo_video(path, seconds, photos, size, face_size=face_size, tilt=tilt, **options)
