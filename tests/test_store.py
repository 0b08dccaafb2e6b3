"""The HDF5 run format: provenance, buffered appends, checkpoints, readers, bad files."""
import json
import os

import h5py
import numpy as np
import pytest

from hil.errors import RunFileError
from hil.store import EVENT_DTYPE, OPS, Run, make_events


def _new(path, **kw):
    args = dict(protocol="pulse_train", params={"n_pot": 3}, station_text="[backend]\ntype='sim'\n",
                backend="sim", device={"name": "ecram"}, seed=7, shape=(2, 3))
    args.update(kw)
    return Run.create(path, **args)


def test_create_writes_provenance_and_units(tmp_path):
    run = _new(tmp_path / "r.h5")
    a = run.attrs
    assert a["protocol"] == "pulse_train" and a["params"] == {"n_pot": 3}
    assert a["seed"] == 7 and a["status"] == "running" and a["shape"] == (2, 3)
    assert a["device"] == {"name": "ecram"} and a["station"].startswith("[backend]")
    assert a["format"] == "hil-run" and a["created_utc"].endswith("+00:00")
    with h5py.File(run.path) as f:  # plain h5py can read everything; every dataset has units
        assert json.loads(f["events"].attrs["units"])["G_S"] == "S"
        assert f["maps/G_S"].attrs["units"] == "S" and f["maps/t_s"].attrs["units"] == "s"
        assert json.loads(f["events"].attrs["op_codes"]) == OPS


def test_events_and_maps_are_buffered_until_commit(tmp_path):
    run = _new(tmp_path / "r.h5")
    run.append_events(make_events(4, op="pulse", G_S=np.arange(4) * 1e-6, step=np.arange(4)))
    run.append_map(1.5, np.full((2, 3), 2e-6))
    assert run.n_events() == 0 and run.pending == 5
    run.commit()
    ev = Run.open(run.path).read_events()
    assert ev.dtype == EVENT_DTYPE and len(ev) == 4
    np.testing.assert_allclose(ev["G_S"], np.arange(4) * 1e-6)
    assert set(ev["op"]) == {OPS["pulse"]}
    t, G = run.read_maps()
    assert t.tolist() == [1.5] and G.shape == (1, 2, 3) and np.allclose(G, 2e-6)


def test_map_of_wrong_shape_is_rejected(tmp_path):
    run = _new(tmp_path / "r.h5")
    run.append_map(0.0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        run.commit()


def test_make_events_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown op"):
        make_events(1, op="zap")
    with pytest.raises(ValueError, match="unknown event field"):
        make_events(1, volts=1.0)


def test_checkpoint_round_trip_with_rng_and_arrays_does_not_grow_file(tmp_path):
    run = _new(tmp_path / "r.h5", shape=(64, 64))
    rng = np.random.default_rng(3)
    G = rng.random((64, 64)).astype(np.float32)
    run.commit({"step": 4, "backend": {"G": G, "rng": rng.bit_generator.state}, "protocol": {"k": 1}})
    size = os.path.getsize(run.path)
    for step in range(5, 25):
        run.commit({"step": step, "backend": {"G": G + step, "rng": rng.bit_generator.state},
                    "protocol": {"k": step}})
    assert os.path.getsize(run.path) <= size + 4096
    cp = Run.open(run.path).read_checkpoint()
    assert cp["step"] == 24 and cp["protocol"] == {"k": 24}
    np.testing.assert_array_equal(cp["backend"]["G"], G + 24)
    again = np.random.default_rng()
    again.bit_generator.state = cp["backend"]["rng"]
    assert again.random() == rng.random()


def test_results_and_fits_carry_units(tmp_path):
    run = _new(tmp_path / "r.h5")
    run.write_result("on_off_ratio", np.array([600.0]), "", description="x")
    run.write_fit("drift/mu", np.array([1.0, 2.0]), "S")
    run.write_fit("drift/mu", np.array([3.0, 4.0]), "S")  # overwrite
    assert run.read_fit("drift/mu").tolist() == [3.0, 4.0]
    assert run.dataset_attrs("fits/drift/mu")["units"] == "S"
    assert run.list("fits") == ["drift/mu"] and run.list("results") == ["on_off_ratio"]
    with pytest.raises(RunFileError, match="no dataset"):
        run.read_result("nope")


def test_existing_output_is_refused_and_left_intact(tmp_path):
    path = tmp_path / "r.h5"
    _new(path).write_result("keep", np.array([1.0]), "")
    before = path.read_bytes()
    with pytest.raises(RunFileError, match="exists.*--overwrite"):
        _new(path)
    assert path.read_bytes() == before
    _new(path, overwrite=True)
    assert Run.open(path).list("results") == []


def test_unwritable_and_missing_directories(tmp_path):
    with pytest.raises(RunFileError, match="does not exist"):
        _new(tmp_path / "no" / "such" / "r.h5")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("directory permissions are not enforced for this user")
        with pytest.raises(RunFileError, match="not writable"):
            _new(ro / "r.h5")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all\n" * 10])
def test_non_hdf5_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(RunFileError, match="not a readable HDF5 run file"):
        Run.open(path)
    assert path.read_bytes() == content


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "r.h5"
    run = _new(path)
    run.append_events(make_events(10, op="read"))
    run.commit()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(RunFileError, match="truncated or not HDF5"):
        Run.open(path).read_events()


def test_plain_hdf5_that_is_not_a_run(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(RunFileError, match="not a hil run"):
        Run.open(path)


def test_status_values_are_checked(tmp_path):
    run = _new(tmp_path / "r.h5")
    run.set_status("failed", "boom")
    assert run.attrs["status"] == "failed" and run.attrs["message"] == "boom"
    with pytest.raises(ValueError, match="status"):
        run.set_status("exploded")
