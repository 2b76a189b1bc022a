"""Reading the frames a sampler picked, and nothing more, from a video file, a folder of frame images or an array.

Every source answers two questions: how many frames it has (`num_frames`, known before any pixel is decoded)
and what the frames at some indices look like (`read(indices)` -> uint8 or float tensor (T, 3, H, W), RGB).
Video files take their frame count from the container header when it has one (else from one demuxing pass).
A file that decodes fewer frames than it declares (truncated, damaged) is noticed while reading
(`fewer_frames_than_declared`); `count_decodable_frames` then gives the real count, so that callers can sample
over the frames that exist instead of repeating the last one (the video processor does).
Short clips are decoded in one pass from the start; long videos are indexed by demuxing (no decoding) and
decoded only around the requested frames, seeking from keyframe to keyframe. Either way only the requested
frames are kept, so a long high-resolution video is never held in memory whole. Frames can be downscaled while
they are converted to RGB (`output_size`, `min_size`), which is both the cheapest resize and what keeps memory
small.

This file is copied next to checkpoints (the video processor imports it) and loaded without the `dfer`
package, so it imports only numpy, torch and av; simplejpeg and Pillow are used when they are installed (they
decode JPEG frames at reduced size, which is faster; simplejpeg without Pillow's per-image overhead) and PyAV reads
the frames otherwise.
"""

import bisect
import io
import os
import re
import stat

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

FRAME_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_DIGIT_RUNS = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> list:
    """Sort key that orders digit runs by value: `2.jpg` before `10.jpg`, `img_9` before `img_10`."""
    return [
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower()) for part in _DIGIT_RUNS.split(name)
    ]


def list_frame_files(folder: str | os.PathLike) -> list[str]:
    """Paths of the frame images in `folder`, in natural order; hidden files, other files and folders are ignored.

    Names need not be valid UTF-8 (they are kept as the OS gives them). A folder that cannot be listed
    (permission denied, not a folder) raises a `ValueError` naming it."""
    folder = os.fspath(folder)
    try:
        with os.scandir(folder) as entries:
            names = [
                entry.name
                for entry in entries
                if not entry.name.startswith(".")
                and entry.name.lower().endswith(FRAME_IMAGE_EXTENSIONS)
                and not entry.is_dir()
            ]
    except OSError as error:
        raise ValueError(f"Cannot list the frame folder {folder}: {_os_reason(error)}.") from error
    names.sort(key=natural_sort_key)
    return [os.path.join(folder, name) for name in names]


def _os_reason(error: OSError) -> str:
    """The short reason of an OS error ("Permission denied"), with a hint where one helps."""
    if isinstance(error, PermissionError):
        return "permission denied (make it readable by this user)"
    return error.strerror or str(error)


def shrunk_size(height: int, width: int, min_size: tuple[int, int] | None) -> tuple[int, int]:
    """The smallest size with the same aspect ratio whose sides stay at least `min_size`; never enlarges."""
    if min_size is None:
        return height, width
    scale = max(min_size[0] / height, min_size[1] / width)
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns (0..3) that show a decoded frame upright. Phones store portrait video as
    landscape frames with a display rotation (a display matrix; PyAV's `frame.rotation`, counter-clockwise
    degrees), which every player applies; so must whatever shows the frames to a model or a face detector."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def upright_size(frame) -> tuple[int, int]:
    """(height, width) of a decoded frame as it is displayed, its rotation applied."""
    return (frame.width, frame.height) if quarter_turns(frame) % 2 else (frame.height, frame.width)


def convert_upright(frame, height: int, width: int, format: str, interpolation: str, reformatter=None) -> np.ndarray:
    """A decoded frame as an array of `format` ("rgb24", "gray"), upright and (`height`, `width`) as displayed:
    swscale scales the stored frame to the turned size while converting, then the quarter turns are applied."""
    turns = quarter_turns(frame)
    stored = (width, height) if turns % 2 else (height, width)
    if reformatter is None:
        image = frame.to_ndarray(format=format, width=stored[1], height=stored[0], interpolation=interpolation)
    else:
        try:
            image = reformatter.reformat(frame, stored[1], stored[0], format, interpolation=interpolation, threads=1)
        except TypeError:  # PyAV < 14 has no `threads` argument
            image = reformatter.reformat(frame, stored[1], stored[0], format, interpolation=interpolation)
        image = image.to_ndarray()
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _target_size(
    height: int, width: int, output_size: tuple[int, int] | None, min_size: tuple[int, int] | None
) -> tuple[int, int]:
    if output_size is not None:
        return tuple(output_size)
    return shrunk_size(height, width, min_size)


def _stack_chw(frames: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 arrays -> one contiguous uint8 tensor (T, 3, H, W), in a single copy.

    Transposing here, on uint8, costs a quarter of what the same copy costs once the clip is float."""
    if not frames:
        raise ValueError("No frame indices to read.")
    height, width, channels = frames[0].shape
    clip = np.empty((len(frames), channels, height, width), dtype=frames[0].dtype)
    for position, frame in enumerate(frames):
        clip[position] = frame.transpose(2, 0, 1)
    return torch.from_numpy(clip)


class FrameFolderVideo:
    """A clip stored as one image per frame (DFEW, FERV39k and most face-crop tools)."""

    def __init__(self, folder: str | os.PathLike):
        self.path = os.fspath(folder)
        self.frame_files = list_frame_files(self.path)
        if not self.frame_files:
            raise ValueError(
                f"No frame images ({', '.join(FRAME_IMAGE_EXTENSIONS)}) in {self.path}; point to a folder of "
                "frames or to a video file."
            )

    @property
    def num_frames(self) -> int:
        return len(self.frame_files)

    def read(
        self,
        indices: list[int],
        output_size: tuple[int, int] | None = None,
        min_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """uint8 (T, 3, H, W). Frames of different sizes are brought to the first frame's size."""
        frames = []
        cache = {}
        for index in indices:
            if index not in cache:
                size = output_size if output_size is not None else (frames[0].shape[:2] if frames else None)
                cache[index] = read_image_file(
                    self.frame_files[index], size, min_size if size is None else None
                )
            frames.append(cache[index])
        return _stack_chw(frames)


def read_image_file(
    path: str, output_size: tuple[int, int] | None = None, min_size: tuple[int, int] | None = None
) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB, optionally resized to `output_size` or shrunk towards `min_size`."""
    if path.lower().endswith((".jpg", ".jpeg")):
        frame = _read_jpeg_with_simplejpeg(path, output_size, min_size)
        if frame is not None:
            return frame
    try:
        return _read_image_with_pillow(path, output_size, min_size)
    except ImportError:
        return _read_image_with_av(path, output_size, min_size)


# Pillow's `draft` reduces a JPEG by the largest of these that keeps both sides at least the requested size.
_JPEG_SCALE_DENOMINATORS = (8, 4, 2, 1)


def _draft_denominator(height: int, width: int, wanted: tuple[int, int]) -> int:
    scale = min(height // max(wanted[0], 1), width // max(wanted[1], 1))
    return next(denominator for denominator in _JPEG_SCALE_DENOMINATORS if scale >= denominator or denominator == 1)


def _read_jpeg_with_simplejpeg(path, output_size, min_size) -> np.ndarray | None:
    """The Pillow path's frame, bit for bit, through simplejpeg when it is installed: the same libjpeg-turbo
    decode at the same reduced scale, straight into numpy without a Pillow image (1.4x faster per DFEW frame,
    `scripts/benchmark_data_loading.py`). None when simplejpeg is missing or declines the file (CMYK, damaged,
    unreadable): the Pillow path then decodes it, or words the error."""
    try:
        import simplejpeg  # optional, like Pillow: remote-code users may not have it
    except ImportError:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray", "RGB"):
            return None
        wanted = _target_size(height, width, output_size, min_size)
        denominator = _draft_denominator(height, width, wanted)
        # libjpeg scales to ceil(side / denominator); asking for at least that size picks exactly that scale.
        frame = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_height=-(-height // denominator), min_width=-(-width // denominator)
        )
    except (OSError, ValueError):
        return None
    if frame.shape[:2] != tuple(wanted):
        try:
            from PIL import Image
        except ImportError:
            return None
        resized = Image.fromarray(frame).resize((wanted[1], wanted[0]), Image.Resampling.BILINEAR)
        frame = np.frombuffer(resized.tobytes(), dtype=np.uint8).reshape(wanted[0], wanted[1], 3)
    return frame


def _read_image_with_pillow(path, output_size, min_size) -> np.ndarray:
    from PIL import Image  # optional: remote-code users may not have Pillow; ImportError falls back to PyAV

    try:
        with _open_with_pillow(path) as image:
            wanted = _target_size(image.height, image.width, output_size, min_size)
            # JPEG decoders can scale by 1/2, 1/4, 1/8 while decoding: much cheaper than a full decode + resize.
            image.draft("RGB", (wanted[1], wanted[0]))
            image = _pillow_rgb(image, path)
            if (image.height, image.width) != wanted:
                image = image.resize((wanted[1], wanted[0]), Image.Resampling.BILINEAR)
            # One copy out of Pillow (what `np.asarray(image)` does too, with more bookkeeping).
            return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(image.height, image.width, 3)
    except PermissionError as error:
        raise ValueError(f"Cannot read frame image {path}: {_os_reason(error)}.") from error
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"Cannot read frame image {path}: {error}. Replace or remove the file.") from error


def _pillow_rgb(image, path: str):
    """An 8-bit RGB Pillow image. 16-bit images (Pillow's `I;16*` modes, and `I` for PNG, whose only 32-bit-integer
    reading is 16-bit gray) are scaled from 0-65535 to 0-255, not clipped to white; 32-bit images of no standard
    range (`I` TIFF, `F`) are refused."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or (mode == "I" and image.format == "PNG"):
        values = np.asarray(image).astype(np.uint32)
        if values.max(initial=0) > 65535:
            raise ValueError(f"Cannot read frame image {path}: values above 65535 in a 16-bit image.")
        gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode in ("I", "F"):
        kind = "32-bit integer" if mode == "I" else "32-bit floating-point"
        raise ValueError(
            f"Cannot read frame image {path}: {kind} pixels have no standard 0-255 range. Save the frames as 8- or "
            "16-bit images (JPEG, PNG)."
        )
    return image.convert("RGB")


def _open_with_pillow(path: str):
    """`Image.open`, going straight to the JPEG reader for .jpg/.jpeg names (skips format detection, ~7% of a
    small frame's decoding time); a file whose name lies about its format is still identified by Pillow."""
    from PIL import Image, JpegImagePlugin

    if path.lower().endswith((".jpg", ".jpeg")):
        try:
            return JpegImagePlugin.JpegImageFile(path)
        except SyntaxError:  # not a JPEG (the file is closed again)
            pass
    return Image.open(path)


def _read_image_with_av(path, output_size, min_size) -> np.ndarray:
    try:
        with av.open(path) as container:
            frame = next(container.decode(video=0))
    except PermissionError as error:  # av.PermissionError is both an FFmpegError and a PermissionError
        raise ValueError(f"Cannot read frame image {path}: {_os_reason(error)}.") from error
    except (av.FFmpegError, StopIteration) as error:
        raise ValueError(f"Cannot read frame image {path}: {error}. Replace or remove the file.") from error
    height, width = _target_size(frame.height, frame.width, output_size, min_size)
    return frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR")


class VideoDecodeError(ValueError):
    """FFmpeg opened a video but failed while decoding its frames (a truncated or damaged file)."""


def _cannot_open(path: str, error: Exception) -> ValueError:
    if isinstance(error, PermissionError):
        return ValueError(f"Cannot read video {path}: {_os_reason(error)}.")
    return ValueError(
        f"Cannot read video {path}: {error}. Check that the file is a complete video FFmpeg can open."
    )


class EncodedVideo:
    """A video file in any container/codec FFmpeg reads (mp4, avi, mkv, webm, mov...).

    The frame count comes from the container header when it states one (mp4, mov, avi): opening costs one
    `av.open`, and the container stays open for the first `read`. Containers without a count (mkv, webm, some
    streams) are indexed by demuxing once without decoding.

    `read` picks one of two strategies. When the wanted frames lie close together from the start (short clips:
    the last wanted frame is at most `SEQUENTIAL_FRAMES_PER_WANTED` times as far as the number of wanted frames),
    it decodes once from the first frame and stops after the last wanted one. Otherwise (long videos) it indexes
    the packets by presentation time (once; no decoding) and decodes from the keyframe before each wanted frame,
    or on from where it already is when no keyframe lies between. Either way only the wanted frames are
    converted to RGB (downscaled inside swscale), so memory never grows with the length of the video.

    When a read finds fewer frames than the count (a header promising more than a truncated file holds), the
    last decoded frame stands in for the missing ones and `fewer_frames_than_declared` becomes True; a decoding
    error raises `VideoDecodeError`. Either way `count_decodable_frames()` then decodes the file once and makes
    `num_frames` the number of frames that really exist.
    """

    # Decode from the first frame when the last wanted frame is within this many frames per wanted frame: a
    # seek restarts decoding at a keyframe and needs an index pass, which only pays off when the wanted frames
    # are sparse (at 8, 16 wanted frames are read sequentially from clips of up to 128 frames, ~5 s at 25 fps).
    SEQUENTIAL_FRAMES_PER_WANTED = 8
    # Frames up to this many pixels are decoded on the calling thread: for small frames (face crops) the
    # decoder's thread pool costs more than it saves, and a DataLoader worker is meant to use one core.
    SINGLE_THREAD_MAX_PIXELS = 640 * 480

    def __init__(self, path: str | os.PathLike, data: bytes | None = None):
        """`path` names the file; with `data` (the file's bytes, e.g. an upload or a `videofolder` row) the video is
        read from memory and `path` only names it in messages."""
        self.path = os.fspath(path)
        self._data = data
        self._container = None  # kept open from here to the first read when the header states the frame count
        self._frame_times = self._keyframe_times = None
        self._indexed = False
        self.fewer_frames_than_declared = False
        self.decode_failure: str | None = None  # the error that ended `count_decodable_frames`, if any
        if data is None:
            try:
                info = os.stat(self.path)
            except OSError as error:
                raise _cannot_open(self.path, error) from error
            empty = stat.S_ISREG(info.st_mode) and info.st_size == 0
        else:
            empty = len(data) == 0
        if empty:
            raise ValueError(f"Cannot read video {self.path}: the file is empty (0 bytes).")
        try:
            container = self._open()
        except av.FFmpegError as error:
            raise _cannot_open(self.path, error) from error
        try:
            if not container.streams.video:
                raise ValueError(f"{self.path} has no video stream.")
            self._frame_count = container.streams.video[0].frames  # 0 when the container does not say
            if self._frame_count > 0:
                self._container, container = container, None
        finally:
            if container is not None:
                container.close()
        if self._frame_count <= 0:
            self._index_packets()
            self._frame_count = self._packet_count
        if self._frame_count == 0:
            raise ValueError(f"Video {self.path} has no video frames.")
        self.declared_num_frames = self._frame_count

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_container"] = None  # an open file does not travel to another process
        return state

    def _open(self):
        """A new PyAV container over the file, or over the bytes (each read gets its own stream position)."""
        return av.open(self.path if self._data is None else io.BytesIO(self._data))

    def close(self) -> None:
        """Close the file kept open since opening (reads reopen it); needed only when the object lives on."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def _index_packets(self) -> None:
        """Demux once without decoding: packet count, presentation times (sorted) and keyframe times."""
        frame_times, keyframe_times, packets = [], [], 0
        try:
            with self._open() as container:
                stream = container.streams.video[0]
                for packet in container.demux(stream):
                    if packet.size == 0:  # the flush packet at the end
                        continue
                    packets += 1
                    if packet.pts is not None:
                        frame_times.append(packet.pts)
                        if packet.is_keyframe:
                            keyframe_times.append(packet.pts)
        except av.FFmpegError as error:
            raise _cannot_open(self.path, error) from error
        self._packet_count, self._indexed = packets, True
        if packets and len(frame_times) == packets:
            self._frame_times, self._keyframe_times = sorted(frame_times), sorted(keyframe_times)
        else:  # some packets lack timestamps (old AVI): frames are counted while decoding from the start
            self._frame_times, self._keyframe_times = None, []

    @property
    def num_frames(self) -> int:
        return self._frame_count

    def count_decodable_frames(self) -> int:
        """Decode the whole file once (nothing is converted) and make `num_frames` the number of frames FFmpeg
        outputs before the end or a decoding error; `decode_failure` keeps that error. Raises `VideoDecodeError`
        when no frame decodes at all."""
        self.close()
        count, failure = 0, None
        try:
            with self._open() as container:
                stream = container.streams.video[0]
                self._configure_threads(stream)  # as `read` does, so that both see the same frames before an error
                for _ in container.decode(stream):
                    count += 1
        except av.FFmpegError as error:
            failure = str(error)
        if count == 0:
            raise VideoDecodeError(
                f"Video {self.path} has no decodable frame{f' ({failure})' if failure else ''}; the file is "
                "damaged or truncated."
            )
        self._frame_count, self.decode_failure = count, failure
        self.fewer_frames_than_declared = False
        return count

    def read(
        self,
        indices: list[int],
        output_size: tuple[int, int] | None = None,
        min_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """uint8 (T, 3, H, W) of the frames at `indices` (any order, repeats allowed)."""
        wanted = sorted(set(indices))
        if not wanted:
            raise ValueError("No frame indices to read.")
        sequential = wanted[-1] + 1 <= self.SEQUENTIAL_FRAMES_PER_WANTED * len(wanted)
        if not sequential and not self._indexed:
            self._index_packets()
        if self._indexed and self._packet_count < self._frame_count:
            self.fewer_frames_than_declared = True  # the header counts frames the file does not hold
        container, self._container = self._container, None
        try:
            with container if container is not None else self._open() as container:
                stream = container.streams.video[0]
                self._configure_threads(stream)
                reformatter = VideoReformatter()  # one swscale context for all the frames of this read

                def convert(frame, reformatter=reformatter):
                    return self._convert(frame, output_size, min_size, reformatter)

                if sequential or self._frame_times is None:
                    by_index = self._read_sequentially(container, stream, wanted, convert)
                else:
                    by_index = self._read_by_seeking(container, stream, wanted, convert)
        except av.FFmpegError as error:
            raise VideoDecodeError(f"Cannot decode video {self.path}: {error}.") from error
        return _stack_chw([by_index[index] for index in indices])

    def _configure_threads(self, stream) -> None:
        codec = stream.codec_context
        if codec.width * codec.height <= self.SINGLE_THREAD_MAX_PIXELS:
            stream.thread_type, codec.thread_count = "NONE", 1
        else:
            stream.thread_type = "AUTO"

    def _read_by_seeking(self, container, stream, wanted, convert) -> dict[int, np.ndarray]:
        by_index = {}
        frames = None  # the decode iterator, positioned just after `last_time`
        last_time, last_array = None, None
        for index in wanted:
            # A header count above the packet count (rare): the last frame stands in, as when decoding sequentially.
            target_time = self._frame_times[min(index, len(self._frame_times) - 1)]
            if last_time is not None and target_time <= last_time:
                by_index[index] = (
                    last_array  # passed already (a frame FFmpeg never output): the next one stands in
                )
                continue
            if frames is None or self._keyframe_before(target_time) > last_time:
                frames = self._seek(container, stream, target_time)
                frame, first_time = self._decode_until(frames, target_time)
                if first_time is not None and first_time > target_time > self._frame_times[0]:
                    # The demuxer landed after the target (inexact seeking in some containers): decode from the start.
                    frames = self._seek(container, stream, self._frame_times[0])
                    frame, _ = self._decode_until(frames, target_time)
            else:
                frame, _ = self._decode_until(frames, target_time)
            if frame is None:
                if last_array is None:
                    raise ValueError(
                        f"Video {self.path} yielded no decodable frame at or after index {index}."
                    )
                frames = None  # the decoder is exhausted; the last decoded frame stands in
                self.fewer_frames_than_declared = True
            else:
                last_time, last_array = frame.pts, convert(frame)
            by_index[index] = last_array
        return by_index

    @staticmethod
    def _decode_until(frames, target_time: int):
        """Advance to the first frame shown at or after `target_time`: (that frame or None, first time seen)."""
        first_time = None
        for frame in frames:
            if frame.pts is None:
                continue
            if first_time is None:
                first_time = frame.pts
            if frame.pts >= target_time:
                return frame, first_time
        return None, first_time

    def _keyframe_before(self, time: int) -> int:
        position = bisect.bisect_right(self._keyframe_times, time) - 1
        return self._keyframe_times[position] if position >= 0 else self._frame_times[0]

    @staticmethod
    def _seek(container, stream, time: int):
        container.seek(time, stream=stream, backward=True, any_frame=False)
        return container.decode(stream)

    @staticmethod
    def _convert(frame, output_size, min_size, reformatter=None) -> np.ndarray:
        """RGB uint8 (H, W, 3) of a decoded frame, scaled by swscale while converting (bilinear, area-aware when
        shrinking): full-resolution RGB frames are never materialised."""
        height, width = _target_size(*upright_size(frame), output_size, min_size)
        # A reformatter reused across frames keeps its swscale context; one swscale thread, since a fresh thread
        # pool per small frame costs more than the conversion (`frame.to_ndarray(width=...)` does both).
        return convert_upright(frame, height, width, "rgb24", "BILINEAR", reformatter)

    def _read_sequentially(self, container, stream, wanted, convert) -> dict[int, np.ndarray]:
        """Decode from the first frame, keeping (converted) only the wanted ones; frame i is the i-th output."""
        by_index, remaining, last_array = {}, set(wanted), None
        for position, frame in enumerate(container.decode(stream)):
            if position in remaining:
                last_array = convert(frame)
                by_index[position] = last_array
                remaining.discard(position)
                if not remaining:
                    break
        if remaining:  # fewer decodable frames than counted: the nearest earlier frame stands in
            if last_array is None:
                raise VideoDecodeError(f"Video {self.path} has no decodable frame.")
            self.fewer_frames_than_declared = True
            for index in remaining:
                earlier = [known for known in by_index if known < index]
                by_index[index] = by_index[max(earlier)] if earlier else last_array
        return by_index


class ArrayVideo:
    """A clip already in memory: numpy array or torch tensor, (T, H, W, C), (T, C, H, W) or grayscale (T, H, W),
    C in {1, 2, 3, 4}; integer values in [0, 255] or floating values in [0, 1]."""

    def __init__(self, video, channel_layout: str | None = None):
        if not isinstance(video, torch.Tensor):
            array = np.asarray(video)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"A video array must hold real numbers (pixels); got dtype {array.dtype}.")
            video = torch.as_tensor(array)
        frames = video
        if frames.ndim == 3:
            frames = frames.unsqueeze(1)  # grayscale (T, H, W) -> (T, 1, H, W)
        elif frames.ndim == 4:
            frames = frames.permute(0, 3, 1, 2) if _is_channels_last(frames.shape, channel_layout) else frames
        else:
            raise ValueError(
                f"A video array must be (T, H, W, C), (T, C, H, W) or (T, H, W); got shape {tuple(frames.shape)}."
            )
        if frames.shape[1] not in (1, 2, 3, 4):
            raise ValueError(
                f"Cannot find the colour channels of a video array of shape {tuple(video.shape)}."
            )
        if frames.shape[0] == 0:
            raise ValueError("The video array has no frames.")
        if frames.shape[2] == 0 or frames.shape[3] == 0:
            raise ValueError(f"The frames of a video array of shape {tuple(video.shape)} have no pixels.")
        self.frames = frames

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    def read(self, indices: list[int], output_size=None, min_size=None) -> torch.Tensor:
        """(T, 3, H, W) in the array's dtype; resizing is left to the caller (arrays are already in memory)."""
        return to_rgb(self.frames[torch.as_tensor(indices, dtype=torch.long)])


def _is_channels_last(shape, channel_layout: str | None) -> bool:
    if channel_layout is not None:
        layout = str(getattr(channel_layout, "value", channel_layout))
        if layout not in ("channels_last", "channels_first"):
            raise ValueError(
                f"Unknown channel layout {channel_layout!r}; use 'channels_last' or 'channels_first'."
            )
        return layout == "channels_last"
    # Channels-last (numpy, PyAV, PIL) wins when both readings are possible.
    return shape[-1] in (1, 2, 3, 4) or shape[1] not in (1, 2, 3, 4)


def to_rgb(frames: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) with C = 1 (gray), 2 (gray + alpha), 3 or 4 (RGBA) -> (T, 3, H, W); alpha is dropped."""
    channels = frames.shape[1]
    if channels in (1, 2):
        return frames[:, :1].expand(-1, 3, -1, -1)
    return frames[:, :3]


# How messages name a video given as bytes or a file object without a name.
IN_MEMORY_VIDEO_NAME = "<video bytes>"


def _in_memory_video(source) -> "EncodedVideo | None":
    """An `EncodedVideo` over bytes, a binary file object, or a `datasets` video row (`{"path", "bytes"}`, what
    `load_dataset("videofolder")` gives with `decode=False`) whose bytes are set; None for anything else."""
    if isinstance(source, dict) and ("bytes" in source or "path" in source):
        if source.get("bytes") is not None:
            return EncodedVideo(source.get("path") or IN_MEMORY_VIDEO_NAME, data=bytes(source["bytes"]))
        return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return EncodedVideo(IN_MEMORY_VIDEO_NAME, data=bytes(source))
    if hasattr(source, "read") and callable(source.read):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"{getattr(source, 'name', 'The file object')} is open in text mode; open it with 'rb'.")
        return EncodedVideo(os.fspath(getattr(source, "name", IN_MEMORY_VIDEO_NAME)), data=bytes(data))
    return None


def open_video(source, channel_layout: str | None = None):
    """A frame source for a path (video file or frame folder), a video file's bytes or binary file object, a
    `datasets` video row (`{"path": ..., "bytes": ...}`), a numpy array or a torch tensor."""
    if isinstance(source, dict) and source.get("bytes") is None and source.get("path"):
        source = source["path"]  # a row of a video on disk: its path is the video
    in_memory = _in_memory_video(source)
    if in_memory is not None:
        return in_memory
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return FrameFolderVideo(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No video file or frame folder at {path}.")
        return EncodedVideo(path)
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return ArrayVideo(source, channel_layout)
    if isinstance(source, (list, tuple)) and source and all(hasattr(frame, "shape") for frame in source):
        shapes = {tuple(frame.shape) for frame in source}
        if len(shapes) > 1:
            raise ValueError(
                f"The frames of a video must all have one shape; got {len(shapes)} shapes, e.g. {sorted(shapes)[:2]}."
            )
        return ArrayVideo(np.stack([np.asarray(frame) for frame in source]), channel_layout)
    raise TypeError(
        f"Cannot read a video from {type(source).__name__}: pass a video file path, a folder of frame images, the "
        "video file's bytes or a binary file object, a datasets row {'path': ..., 'bytes': ...}, a numpy array or "
        "torch tensor (T, H, W, C) / (T, C, H, W), or a list of frame arrays."
    )


__all__ = [
    "ArrayVideo",
    "EncodedVideo",
    "VideoDecodeError",
    "FRAME_IMAGE_EXTENSIONS",
    "FrameFolderVideo",
    "list_frame_files",
    "natural_sort_key",
    "convert_upright",
    "open_video",
    "quarter_turns",
    "read_image_file",
    "shrunk_size",
    "to_rgb",
    "upright_size",
]
