"""Publishing a checked training output folder to the Hugging Face Hub as one commit: the files it uploads, the
commit message, and creating the repository or branch (and removing them again when any step of the push fails).
The folder is read and checked by `output_folder.py` and its card rendered by `model_card.py` before any request.
"""

import os

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard, constants
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import get_token, validate_repo_id
from huggingface_hub.utils._runtime import is_xet_available

from dfer.training.output_folder import METRICS_NAME, RUN_ARGS_NAME

from .card_files import card_text
from .model_card import build_model_card, check_license, model_card_facts, percent
from .output_folder import PublishError, TrainingOutput, check_regular_file, read_training_output
from .tensorboard_logs import publishable_logs


def upload_operations(
    output: TrainingOutput, card: ModelCard, include_logs: bool = False
) -> list[CommitOperationAdd]:
    """The files of one commit, from the allow-list of `output_folder.py`: card, checkpoint, processor, remote
    code, metrics and run arguments (publishable copies), confusion matrix, and the TensorBoard logs when asked
    for (renamed and rewritten by `tensorboard_logs.py`)."""
    operations = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode("utf-8"))]
    operations += [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(check_regular_file(output.folder, name)))
        for name in output.checkpoint_files
    ]
    for name in (METRICS_NAME, RUN_ARGS_NAME):
        if name == RUN_ARGS_NAME and not output.run_args:
            continue  # an evaluated checkpoint without a run record
        check_regular_file(output.folder, name)
        operations.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=output.record_bytes(name)))
    if output.confusion_matrix_image:
        image = check_regular_file(output.folder, output.confusion_matrix_image)
        operations.append(CommitOperationAdd(path_in_repo=output.confusion_matrix_image, path_or_fileobj=str(image)))
    if include_logs:
        operations += [
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=content)
            for name, content in publishable_logs(output.folder, output.log_files)
        ]
    return operations


def default_commit_message(output: TrainingOutput) -> str:
    """"Upload <model> trained on <dataset> [fold k] (WAR .., UAR ..)"."""
    metrics = output.metrics
    facts = model_card_facts(output.model_type)
    dataset = card_text()["datasets"][metrics["dataset"]]["name"]
    fold = f" fold {metrics['fold']}" if metrics.get("fold") else ""
    return (
        f"Upload {facts['short_name']} trained on {dataset}{fold} "
        f"(WAR {percent(metrics['metrics']['war'])}, UAR {percent(metrics['metrics']['uar'])})"
    )


def check_repo_id(repo_id: str) -> None:
    """`PublishError` unless `repo_id` is a valid NAMESPACE/NAME model repository id (checked before any work)."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"--repo-id {repo_id!r} is not a repository id: {error}") from error
    if repo_id.count("/") != 1:
        raise PublishError(f"--repo-id {repo_id!r}: give NAMESPACE/NAME (your user or organisation, then the model).")


def push_training_output(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    include_logs: bool = False,
    license: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> CommitInfo:
    """Publish a training output folder to `repo_id` as one commit (on branch `revision`, created if needed).

    The folder, the card and its license are checked before any request (`license` is required unless the
    training data fix it: DFEW and FERV39k are research-only). The token comes from `token`, else the usual
    huggingface_hub sources (`HF_TOKEN`, the token saved by `hf auth login`). If any step fails (the Hub refuses
    it, the LFS or Xet upload of a file fails, the network goes away), a repository or branch created by this
    call is deleted again, and one `PublishError` says what happened: the commit itself is atomic, so the
    repository never holds part of the upload.
    """
    check_repo_id(repo_id)
    output = read_training_output(output_dir)
    check_license(output, license)
    card = build_model_card(output, repo_id=repo_id, revision=revision, license=license, include_logs=include_logs)
    operations = upload_operations(output, card, include_logs=include_logs)
    message = commit_message or default_commit_message(output)
    if constants.is_offline_mode():
        raise PublishError(
            "HF_HUB_OFFLINE is set, so nothing can be pushed: unset it (or set it to 0) and retry."
        )
    token = token or get_token()
    if not token:
        raise PublishError(
            "No Hugging Face token found: run `hf auth login`, set the HF_TOKEN environment variable, or pass a "
            "token with write access. Nothing was published."
        )
    api = HfApi(endpoint=endpoint, token=token)
    branch = revision if revision not in (None, "main") else None
    created_repo = created_branch = False
    step = f"creating the repository {repo_id}"
    try:
        created_repo = _create_repo(api, repo_id, private)
        if branch is not None:
            step = f"creating the branch {branch!r} of {repo_id}"
            created_branch = _create_branch(api, repo_id, branch)
        step = f"committing {len(operations)} files to {repo_id}" + (f" ({branch})" if branch else "")
        return api.create_commit(
            repo_id, operations, commit_message=message, revision=branch, repo_type="model"
        )
    except (HfHubHTTPError, *_network_errors()) as error:
        undone = _undo(api, repo_id, branch, created_repo, created_branch)
        raise PublishError(f"The Hub refused {step}: {_describe(error)}. {undone}") from error
    except KeyboardInterrupt:
        _undo(api, repo_id, branch, created_repo, created_branch)
        raise
    except Exception as error:
        # Anything else that fails while files are uploaded: huggingface_hub's RuntimeError around an LFS
        # upload, hf_xet's errors (ConnectionError, RuntimeError, ...) on the Xet path (the default whenever
        # hf_xet is installed), ValueError for invalid card metadata or a malformed server answer.
        undone = _undo(api, repo_id, branch, created_repo, created_branch)
        raise PublishError(f"Pushing to {repo_id} failed while {step}: {_describe(error)}. {undone}") from error


def _create_repo(api: HfApi, repo_id: str, private: bool | None) -> bool:
    """Create the repository; False when it already exists (the push then adds a commit to it)."""
    try:
        api.create_repo(repo_id, private=private, repo_type="model", exist_ok=False)
        return True
    except HfHubHTTPError as error:
        status = error.response.status_code
        if status == 409:
            return False
        if status == 403 and api.repo_exists(repo_id):  # may write to it without the right to create repos
            return False
        raise


def _create_branch(api: HfApi, repo_id: str, branch: str) -> bool:
    try:
        api.create_branch(repo_id, branch=branch, repo_type="model")
        return True
    except HfHubHTTPError as error:
        if error.response.status_code == 409:
            return False
        raise


def _undo(api: HfApi, repo_id: str, branch: str | None, created_repo: bool, created_branch: bool) -> str:
    """Remove what this push created; say what state the Hub is left in."""
    try:
        if created_repo:
            api.delete_repo(repo_id, repo_type="model")
            return f"The repository {repo_id} created by this push was deleted again; nothing was published."
        if created_branch:
            api.delete_branch(repo_id, branch=branch, repo_type="model")
            return f"The branch {branch!r} created by this push was deleted again; nothing was published."
    except Exception as error:
        created = f"repository {repo_id}" if created_repo else f"branch {branch!r} of {repo_id}"
        return f"Nothing was committed, but the empty {created} could not be removed ({_describe(error)}): delete it."
    return "Nothing was published."


def _describe(error: BaseException, hints: bool = True) -> str:
    """One line about an error: the HTTP status and the Hub's message, or the exception and its causes (`hints`:
    whether to add what a status of the Hub's own API usually means; not for the causes of another error, which
    may come from the storage behind it)."""
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code
        detail = _one_line(error.server_message or error.response.reason_phrase)
        hint = ""
        if not hints:
            pass
        elif status == 401:
            hint = " (the token is invalid or expired: log in again with `hf auth login` or set HF_TOKEN)"
        elif status == 403:
            hint = " (check that the token has write access here)"
        return f"HTTP {status}: {detail}{hint}"
    text = f"{type(error).__name__}: {_one_line(str(error))}".rstrip(". ")
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None and cause is not error:
        return f"{text} ({_describe(cause, hints=False)})"
    if isinstance(error, OSError | TimeoutError) or type(error).__module__.startswith(("httpx", "httpcore")):
        hint = "is the Hub reachable?"
        if is_xet_available():
            hint += " Large files go to Hugging Face's Xet storage; HF_HUB_DISABLE_XET=1 uploads them through LFS"
        return f"{text} ({hint})"
    return text


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _network_errors() -> tuple[type[Exception], ...]:
    """Connection-level errors of the HTTP client huggingface_hub uses."""
    errors: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        errors.append(module.HTTPError)
    return tuple(errors)


__all__ = [
    "check_repo_id",
    "default_commit_message",
    "push_training_output",
    "upload_operations",
]
