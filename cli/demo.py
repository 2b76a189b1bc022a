"""`dfer demo`: a web page (Gradio) on which to try a checkpoint on your own videos, over `dfer.demo.build_demo`.

Upload or record a video; the page shows the expression timeline as windows finish, the per-window table, the
face crops the model saw, a summary and CSV / JSON / PNG downloads. Serves on localhost (127.0.0.1:7860, or
Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT) until Ctrl-C; runs offline and on the CPU. The model and the
face detector are loaded before the server starts, so a wrong --model is one error line.
"""

import argparse
import os
import socket
import time

from dfer.demo import DEFAULT_MAX_VIDEO_SECONDS, build_demo
from dfer.inference import CheckpointLoadError

from .errors import report_error

EXAMPLE = """examples:
  dfer demo --model outputs/sample                    # http://127.0.0.1:7860
  dfer demo --model outputs/sample --models-dir outputs --server-port 8080
  dfer demo --model someone/dfer-gca-resnet-dfew --server-name 0.0.0.0   # reachable from other machines"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer demo",
        description="Serve a web page on which to try a checkpoint on your own videos (Gradio).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", help="checkpoint folder or Hub repo id (model + processor)")
    parser.add_argument(
        "--models-dir",
        help="folder whose checkpoint folders the page's model picker offers (default: the folders beside --model)",
    )
    parser.add_argument(
        "--server-name", help="address to listen on (default 127.0.0.1, or GRADIO_SERVER_NAME; 0.0.0.0 for all)"
    )
    parser.add_argument(
        "--server-port", type=int, help="port (default: GRADIO_SERVER_PORT, or the first free one from 7860)"
    )
    parser.add_argument(
        "--share", action="store_true", help="also a public gradio.live link (needs the internet; off by default)"
    )
    parser.add_argument("--inbrowser", action="store_true", help="open the page in the default browser")
    parser.add_argument(
        "--max-file-size", help="largest upload Gradio accepts, e.g. 500mb or 2gb (default: no limit)"
    )
    parser.add_argument(
        "--allow-other-models",
        action="store_true",
        help="let the page load any checkpoint folder or Hub repo id typed into its model picker (off: only "
        "--model and the folders it lists; whoever reaches the page could make the server load anything)",
    )
    parser.add_argument(
        "--max-video-seconds",
        type=float,
        default=DEFAULT_MAX_VIDEO_SECONDS,
        help=f"longer videos are refused (default {DEFAULT_MAX_VIDEO_SECONDS:g}; 0: no limit)",
    )
    parser.add_argument("--device", default="auto", help="auto (GPU when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--revision", help="Hub revision of --model")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow --model's own model code to run (a Hub checkpoint)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.model and not args.models_dir:
        parser.error("pass --model (a checkpoint folder or Hub repo id) or --models-dir.")
    if args.max_video_seconds < 0:
        parser.error("--max-video-seconds must be 0 (no limit) or more.")
    if args.server_port is not None and not 0 < args.server_port < 65536:
        parser.error(f"--server-port must be between 1 and 65535, got {args.server_port}.")
    if args.server_port is not None:  # before the model loads: a port in use costs nothing
        problem = port_problem(args.server_name or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1", args.server_port)
        if problem:
            return report_error("demo", problem)
    try:
        demo = build_demo(
            args.model,
            models_dir=args.models_dir,
            device=args.device,
            revision=args.revision,
            trust_remote_code=args.trust_remote_code,
            max_video_seconds=args.max_video_seconds or None,
            allow_other_models=args.allow_other_models,
        )
    except (ValueError, ImportError, CheckpointLoadError) as error:
        return report_error("demo", error)
    try:
        # Quiet: Gradio's own start-up lines speak of launch() parameters; the line below speaks of this command's.
        demo.launch(
            server_name=args.server_name,
            server_port=args.server_port,
            share=args.share,
            inbrowser=args.inbrowser,
            max_file_size=args.max_file_size,
            prevent_thread_lock=True,
            quiet=True,
        )
    except (OSError, ValueError) as error:  # the port was taken meanwhile, an address not of this machine, a size
        return report_error("demo", f"cannot serve the page: {error}")
    public = f" and {demo.share_url}" if demo.share_url else " (--share for a public link)"
    print(f"dfer demo: serving {demo.local_url}{public}; Ctrl-C to stop.", flush=True)
    try:
        while demo.is_running:
            time.sleep(0.2)
    finally:  # Ctrl-C ends here: the command reports it as an interruption
        demo.close()
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why the page cannot be served on host:port (in use, or not an address of this machine), or None."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # As the server will: a port whose last connections are still closing (TIME_WAIT) can be served.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return (
            f"cannot serve the page on {host}:{port}: {error.strerror or error}. Choose another --server-port, or "
            "leave it out: Gradio then takes the first free port from 7860."
        )
    return None
