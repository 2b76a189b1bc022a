"""What the demo page shows for a snapshot (dfer.demo.page), without Gradio: the table's rows, the face strip,
the downloads named by the upload, and page updates that thin out when drawing gets slow."""

import copy
import json

from face_videos import write_face_video

import dfer.modeling  # noqa: F401
from dfer.demo import DemoOptions, analyse_video, page_updates, render
from dfer.demo.page import NO_FACE


def snapshots_of(video, loaded):
    model, processor = loaded
    return analyse_video(video, model, processor, model_name="tiny", options=DemoOptions(1.0, 0.5), update_seconds=0)


def test_the_finished_page_has_every_part(tmp_path, loaded):
    video = tmp_path / "uploads" / "x9" / "hidden.mp4"
    video.parent.mkdir(parents=True)
    write_face_video(video, 4.0, face_visible=lambda i: not 45 <= i < 90)
    final = list(snapshots_of(video, loaded))[-1]
    page = render(final, tmp_path, 0)
    assert page.status.startswith("Done: **hidden.mp4**, 7 windows in")
    assert [row[2] == NO_FACE for row in page.table] == [False, False, False, True, True, False, False]
    assert [row[3] == "" for row in page.table] == [row[2] == NO_FACE for row in page.table]
    assert "face found in 5 of 7 windows" in page.summary
    assert len(page.faces) == 5 and all(caption.endswith("%") for _, caption in page.faces)
    assert [path.rsplit("/", 2)[1:] for path in page.downloads] == [
        ["downloads", "hidden.csv"], ["downloads", "hidden.json"], ["downloads", "hidden.png"]
    ]  # fmt: skip
    assert page.plot == page.downloads[2]  # the finished plot is drawn once
    assert json.loads(open(page.downloads[1]).read())["video"] == "hidden.mp4"  # not the upload's folder
    assert len(page.values()) == 6


def test_page_updates_thin_out_when_drawing_is_slow_and_keep_the_last(tmp_path, loaded, slow_windows, monkeypatch):
    video = tmp_path / "talk.mp4"
    write_face_video(video, 6.0)
    # Copies: the analysis updates one snapshot in place.
    snapshots = [copy.deepcopy(snapshot) for snapshot in snapshots_of(video, loaded)]
    assert 3 <= len(snapshots) < 20 and not snapshots[-2].finished
    clock = [0.0]
    monkeypatch.setattr("dfer.demo.page.time.perf_counter", lambda: clock[0])
    real_render = render

    def drawn(draw_seconds: float, spacing: float) -> list:
        def timed_render(snapshot, folder, update):
            clock[0] += draw_seconds
            return real_render(snapshot, folder, update)

        def spaced(items):
            for item in items:
                clock[0] += spacing
                yield item

        monkeypatch.setattr("dfer.demo.page.render", timed_render)
        return [snapshot for snapshot, _ in page_updates(spaced(snapshots), tmp_path / str(draw_seconds))]

    assert len(drawn(0.01, 1.0)) == len(snapshots)  # drawing is quick: every snapshot is shown
    # Drawing takes 1 s, snapshots come every 0.1 s: the first is drawn at 0.1 s and the next is due at 3.1 s, 20
    # snapshots later, so of fewer than 20 only the first and the last (always drawn) are shown.
    assert drawn(1.0, 0.1) == [snapshots[0], snapshots[-1]]


def test_each_plot_replaces_the_one_before(tmp_path, loaded, slow_windows):
    video = tmp_path / "talk.mp4"
    write_face_video(video, 6.0)
    folder = tmp_path / "pages"
    folder.mkdir()
    pages = [page for _, page in page_updates(snapshots_of(video, loaded), folder)]
    plots = [page.plot for page in pages if page.plot]
    assert len(set(plots)) == len(plots) >= 2
    # The pages' plots are deleted as they are replaced; the last page's plot is the download's.
    assert sorted(path.name for path in folder.iterdir()) == ["downloads"]
    assert plots[-1] == str(folder / "downloads" / "talk.png")
