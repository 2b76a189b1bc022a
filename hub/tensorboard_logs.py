"""The TensorBoard logs of a run as they are published (`dfer push --include-logs`): renamed and rewritten so
that they carry neither this machine's paths nor its host name.

The Trainer writes `runs/<date>_<host>/events.out.tfevents.<time>.<host>.<pid>.<n>`, and inside, besides the
training scalars, text summaries of the run's arguments and model config (the output folder's absolute path, the
logging folder with the host name in it) and, with `add_hparams`, hyperparameter summaries. What is published:
- names built from the structure only: `runs/<date>/events.out.tfevents.<time>.<k>` (`run-<i>` for a run folder
  not named by date, `part-<j>` for a nested folder not named by a timestamp); nothing of the original names'
  free text is kept;
- contents from an allow-list: the file-version record and the scalar summaries (`train/loss`, ...). Text,
  hyperparameter, image, histogram and graph summaries, session logs and log messages are dropped.
A published file is checked once more: if a kept tag still names the host or a machine path, the logs are
refused with a message naming the file. A damaged record (bad checksum) is refused; a record cut short at the
end of a file (a run killed while logging) is dropped.
"""

import io
import os
import re
import socket
import struct
from pathlib import Path, PurePosixPath

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.summary.writer.record_writer import RecordWriter

from dfer.training.output_folder import LOGS_DIRNAME as LOGS_DIR

from .output_folder import PublishError, check_regular_file

# The Trainer's default logging folder, `%b%d_%H-%M-%S` + `_<host>`, e.g. `Dec01_09-53-38_myhost`.
_DATE_FOLDER = re.compile(r"(?P<date>[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2})(?:_(?P<host>.+))?")
# SummaryWriter's file name: `events.out.tfevents.<time>.<host>.<pid>.<n>[suffix]`.
_EVENT_FILE = re.compile(r"events\.out\.tfevents\.(?P<time>\d+)(?:\.(?P<host>.+?)\.\d+\.\d+)?(?P<suffix>.*)")
_TIMESTAMP_FOLDER = re.compile(r"\d+(?:\.\d+)?")
SCALARS_PLUGIN = "scalars"


def publishable_logs(folder: Path, log_files: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(path in the repository, content) of each published event file; `PublishError` naming a file that cannot
    be published, or when nothing is left to publish."""
    if not log_files:
        raise PublishError(
            f"Logs were requested but {folder / LOGS_DIR} holds no TensorBoard files."
        )
    hosts = {socket.gethostname()}
    for name in log_files:
        parts = PurePosixPath(name).parts
        match = _DATE_FOLDER.fullmatch(parts[1]) if len(parts) > 2 else None
        if match and match["host"]:
            hosts.add(match["host"])
        match = _EVENT_FILE.fullmatch(parts[-1])
        if match and match["host"]:
            hosts.add(match["host"])
    forbidden = _forbidden_patterns(folder, hosts)

    renamed_runs: dict[str, str] = {}
    renamed_parts: dict[tuple[str, ...], str] = {}
    published: dict[str, bytes] = {}
    for name in log_files:
        path = check_regular_file(folder, name)
        events = [_scrubbed(event) for event in _read_events(path, name)]
        events = [event for event in events if event is not None]
        if not any(event.HasField("summary") for event in events):
            continue  # nothing but the file-version record (e.g. an `add_hparams` side file): not worth a file
        for event in events:
            _check_strings(event, forbidden, path)
        target = _published_folder(PurePosixPath(name).parts[1:-1], renamed_runs, renamed_parts)
        match = _EVENT_FILE.fullmatch(PurePosixPath(name).name)
        start = match["time"] if match else str(int(events[0].wall_time))
        index = 0
        while f"{target}/events.out.tfevents.{start}.{index}" in published:
            index += 1
        published[f"{target}/events.out.tfevents.{start}.{index}"] = _write_events(events)
    if not published:
        raise PublishError(
            f"{folder / LOGS_DIR} holds no training scalars to publish (only text or hyperparameter summaries, which "
            "record this machine's paths and host name): leave out --include-logs."
        )
    return sorted(published.items())


def _published_folder(
    parts: tuple[str, ...], renamed_runs: dict[str, str], renamed_parts: dict[tuple[str, ...], str]
) -> str:
    """`runs/<date>[/<timestamp or part-j>...]` for the folder parts below `runs/` of an event file."""
    if not parts:
        return LOGS_DIR
    run = parts[0]
    if run not in renamed_runs:
        match = _DATE_FOLDER.fullmatch(run)
        name = match["date"] if match else f"run-{len(renamed_runs)}"
        while name in renamed_runs.values():
            name = f"{name}-{len(renamed_runs)}"
        renamed_runs[run] = name
    target = [LOGS_DIR, renamed_runs[run]]
    for depth in range(1, len(parts)):
        key = parts[: depth + 1]
        if key not in renamed_parts:
            part = parts[depth]
            siblings = [value for other, value in renamed_parts.items() if other[:-1] == key[:-1]]
            renamed_parts[key] = part if _TIMESTAMP_FOLDER.fullmatch(part) else f"part-{len(siblings)}"
        target.append(renamed_parts[key])
    return "/".join(target)


def _read_events(path: Path, name: str) -> list[event_pb2.Event]:
    """The records of a TFRecord event file, checksums checked; a record cut short at the end is dropped."""
    data = path.read_bytes()
    events, position = [], 0
    while len(data) - position >= 12:
        header = data[position : position + 8]
        (header_crc,) = struct.unpack("<I", data[position + 8 : position + 12])
        if masked_crc32c(header) != header_crc:
            raise PublishError(f"{path} is not a readable TensorBoard event file (bad record header): leave out --include-logs or delete it.")
        (length,) = struct.unpack("<Q", header)
        end = position + 12 + length + 4
        if end > len(data):
            break  # the run stopped while writing this record
        payload = data[position + 12 : position + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[end - 4 : end])
        if masked_crc32c(payload) != payload_crc:
            raise PublishError(f"{path} is damaged (bad record checksum): leave out --include-logs or delete it.")
        try:
            events.append(event_pb2.Event.FromString(payload))
        except DecodeError as error:
            raise PublishError(f"{path} is not a TensorBoard event file ({error}).") from error
        position = end
    if not events:
        raise PublishError(f"{path} is not a TensorBoard event file (no complete record).")
    return events


def _scrubbed(event: event_pb2.Event) -> event_pb2.Event | None:
    """The publishable part of an event: its file version, or its scalar values; None for anything else."""
    kind = event.WhichOneof("what")
    if kind == "file_version":
        return event_pb2.Event(wall_time=event.wall_time, file_version=event.file_version)
    if kind != "summary":
        return None  # graphs, session logs (checkpoint paths), log messages, run metadata
    values = []
    for value in event.summary.value:
        if value.WhichOneof("value") == "simple_value":
            values.append(summary_pb2.Summary.Value(tag=value.tag, simple_value=value.simple_value))
        elif value.metadata.plugin_data.plugin_name == SCALARS_PLUGIN and value.WhichOneof("value") == "tensor":
            metadata = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=SCALARS_PLUGIN),
                display_name=value.metadata.display_name,
                data_class=value.metadata.data_class,
            )
            values.append(summary_pb2.Summary.Value(tag=value.tag, metadata=metadata, tensor=value.tensor))
    if not values:
        return None
    return event_pb2.Event(wall_time=event.wall_time, step=event.step, summary=summary_pb2.Summary(value=values))


def _forbidden_patterns(folder: Path, hosts: set[str]) -> list[re.Pattern]:
    """What no published string may contain: a host name (as a whole word) or this machine's paths."""
    patterns = [re.compile(rf"(?<![A-Za-z0-9]){re.escape(host)}(?![A-Za-z0-9])") for host in hosts if host]
    paths = {str(folder.resolve()), str(folder.absolute()), os.path.expanduser("~")}
    patterns += [re.compile(re.escape(path)) for path in paths if len(path) > 1]
    return patterns


def _check_strings(event: event_pb2.Event, forbidden: list[re.Pattern], path: Path) -> None:
    for value in event.summary.value:
        for text in (value.tag, value.metadata.display_name):
            for pattern in forbidden:
                if pattern.search(text):
                    raise PublishError(
                        f"{path} has a scalar named {text!r}, which carries this machine's host name or a path: "
                        "rename it in the logs, or leave out --include-logs."
                    )


def _write_events(events: list[event_pb2.Event]) -> bytes:
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for event in events:
        writer.write(event.SerializeToString())
    return buffer.getvalue()


__all__ = ["publishable_logs"]
