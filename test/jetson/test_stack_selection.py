"""scripts/jetson_tests.py: which test modules the Jetson stack collects. Runs on Python 3.6."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _selector():
    path = os.path.join(REPO, "scripts", "jetson_tests.py")
    spec = importlib.util.spec_from_file_location("jetson_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_module_is_left_out_only_for_what_the_stack_lacks(tmp_path, monkeypatch):
    selector = _selector()
    monkeypatch.setattr(selector, "NOT_ON_THE_STACK", ("absent_ros",))
    folder = tmp_path / "test" / "ros"
    folder.mkdir(parents=True)
    (folder / "test_needs_ros.py").write_text("import json\nfrom absent_ros.msg import Image\n")
    (folder / "test_helper_needs_ros.py").write_text("from helper_with_ros import x\n")
    (folder / "helper_with_ros.py").write_text("import absent_ros\nx = 1\n")
    (folder / "test_plain.py").write_text("import json\n\ndef test_x():\n    import absent_ros\n")
    (folder / "test_broken.py").write_text("import absent_other\n")  # pytest must report it
    monkeypatch.setattr(selector, "RUNTIME_TESTS", ("test/ros",))
    collected, left_out = selector.test_files(str(tmp_path))
    assert collected == ["test/ros/test_broken.py", "test/ros/test_plain.py"]
    assert left_out == [("test/ros/test_helper_needs_ros.py", "helper_with_ros (needs absent_ros)"),
                        ("test/ros/test_needs_ros.py", "absent_ros.msg")]


def test_the_run_time_folders_exist_and_the_frame_pipeline_tests_are_collected():
    collected, _ = _selector().test_files()
    assert all(os.path.exists(os.path.join(REPO, entry)) for entry in _selector().RUNTIME_TESTS)
    folders = {path.split("/")[1] for path in collected}
    assert {"model", "infer", "ros", "data", "jetson"} <= folders
    assert any("pipeline" in path for path in collected if path.startswith("test/ros/"))
