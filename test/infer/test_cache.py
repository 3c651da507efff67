"""The build cache's folder and entries (infer/cache.py)."""

import os

from swiftnet_ros.infer.cache import CACHE_DIR_VARIABLE, default_cache_dir, load_or_build


def test_cache_folder_follows_the_variable_then_xdg(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "own"))
    assert default_cache_dir() == str(tmp_path / "own")
    monkeypatch.delenv(CACHE_DIR_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == os.path.join(str(tmp_path / "xdg"), "swiftnet_ros", "engines")


def test_this_test_run_caches_outside_the_home_folder() -> None:
    home_cache = os.path.join(os.path.expanduser("~"), ".cache")
    assert not os.path.abspath(default_cache_dir()).startswith(home_cache)


def test_a_corrupt_entry_is_rebuilt_and_a_bad_build_is_not_cached(tmp_path) -> None:
    path = str(tmp_path / "entry.bin")
    with open(path, "wb") as f:
        f.write(b"garbage")
    data, built = load_or_build(path, lambda: b"good", lambda d: d == b"good")
    assert (data, built) == (b"good", True)
    assert load_or_build(path, lambda: b"never", lambda d: d == b"good") == (b"good", False)
    os.remove(path)
    try:
        load_or_build(path, lambda: b"bad", lambda d: d == b"good")
    except RuntimeError as error:
        assert "not valid" in str(error)
    else:
        raise AssertionError("a build that fails its check must raise")
    assert not os.path.exists(path)
