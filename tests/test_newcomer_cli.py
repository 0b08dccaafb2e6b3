"""Issue 18 part 2: the rough edges a newcomer hits (units in --set, -v after the sub-command,
`hil list` with shared groups printed once, `hil run P --help`, `hil show` values and times,
progress bars with the whole job's ETA, figures with colourbars and named regions)."""
import numpy as np
import pytest
import torch

from hil.cli import main
from hil.errors import ParameterError
from hil.units import parse_quantity, parse_time
from protocols.base import get_protocol
from protocols.params import resolve

torch.set_num_threads(1)


def test_set_values_take_units_like_times():
    train = get_protocol("pulse_train")
    v = resolve(train.params, {"width_pot_s": "2ms", "v_pot_V": "10V", "v_dep_V": "-7 V",
                               "width_dep_s": "500us"})
    assert v["width_pot_s"] == pytest.approx(2e-3) and v["v_pot_V"] == 10.0
    assert v["v_dep_V"] == -7.0 and v["width_dep_s"] == pytest.approx(5e-4)
    ret = resolve(get_protocol("retention").params, {"horizon_s": "1y", "t_first_s": "1h"})
    assert ret["horizon_s"] == 365 * 86400.0 and ret["t_first_s"] == 3600.0
    # bounds still apply after the conversion, and a wrong unit names what is allowed
    with pytest.raises(ParameterError, match=r"v_pot_V='10s' is not a valid float: unit 's' not allowed.*mV"):
        resolve(train.params, {"v_pot_V": "10s"})
    with pytest.raises(ParameterError, match="must be > 0"):
        resolve(train.params, {"width_pot_s": "-2ms"})
    # one parser: --times / --horizon use the same function
    from hil.commands import vera
    assert vera.parse_time is parse_time and parse_time("1mo") == 30 * 86400.0
    assert parse_quantity("50uS", "S") == pytest.approx(50e-6)


def test_verbose_accepted_after_the_sub_command(capsys):
    assert main(["list", "no_such_protocol", "-v"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "hil: error: unknown protocol 'no_such_protocol'" in err
    assert main(["list", "no_such_protocol"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_list_prints_shared_groups_once_and_one_protocol_in_full(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.count("v_p_start_V [V]") == 1                 # the write-verify block, once
    assert "Shared parameter groups:" in out
    assert "write-verify (used by mtt_readout, retention, selective_programming, write_verify)" in out
    assert "write-verify (changed here: tol)" in out          # mtt_readout's own tolerance
    assert main(["list", "write_verify"]) == 0
    one = capsys.readouterr().out
    assert one.startswith("write_verify:") and "v_p_start_V" in one and "cells" in one
    assert "pulse_train" not in one
    with pytest.raises(SystemExit) as ex:
        main(["run", "pulse_train", "--help"])
    assert ex.value.code == 0
    helped = capsys.readouterr().out
    assert "--set KEY=VALUE" in helped and "v_pot_V [V] = 10.0" in helped and "v_p_start_V" not in helped


def test_show_prints_values_finish_time_and_duration(tmp_path, capsys):
    out = tmp_path / "pt.h5"
    assert main(["run", "pulse_train", "--set", "n_pot=4", "--set", "n_dep=4", "--set",
                 "width_pot_s=1ms", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    from hil.store import Run
    run = Run.open(out)
    assert run.attrs["params"]["width_pot_s"] == pytest.approx(1e-3)
    ratio = float(run.read_result("on_off_ratio")[0])
    assert f"/results/on_off_ratio: [{ratio:.4g}" in shown
    assert f"finished:   {run.attrs['finished_utc']}   duration " in shown


def test_training_bar_covers_the_whole_job(capsys):
    from torch import nn

    from hil.nn.train import train_epochs

    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=10)
    train_epochs(nn.Linear(3, 2), loader, 3, show_progress=True, desc="job")
    err = capsys.readouterr().err
    assert "0/12 " in err and "/4 " not in err       # one bar of 3 x 4 batches, not 3 bars of 4


def test_continual_progress_counts_every_epoch_of_every_task():
    from hil.nn.continual import permuted_tasks, run_continual

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 8)).astype(np.float32), rng.integers(0, 3, 60)
    tasks = permuted_tasks(x, y, x[:20], y[:20], 2, seed=0)

    class Count:
        n = 0

        def update(self, k):
            self.n += k

    bar = Count()
    run_continual(tasks, hidden=(8,), epochs=3, progress=bar)
    assert bar.n == 2 * 3


def test_demo_plot_names_regions_and_cells(tmp_path):
    """The pulse-train view: shaded LTP/LTD regions and each cell are named in the legend;
    the retention view names its states with a colourbar, not 16 legend entries."""
    import matplotlib.pyplot as plt

    from hil.station import Station
    from hil.runner import run_protocol
    from hil.store import Run
    from protocols.pulse_train_plot import plot_pulse_train

    station = Station.load(None)
    with station.make_backend() as backend:
        path = run_protocol("pulse_train", backend, tmp_path / "p.h5",
                            {"cells": "0,0;1,2", "n_pot": 5, "n_dep": 5}, station=station,
                            progress=False)
    fig = plt.figure()
    plot_pulse_train(Run.open(path), fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert labels[:2] == ["cell (0, 0)", "cell (1, 2)"]
    assert "potentiation (LTP) pulses +10 V" in labels and "depression (LTD) pulses -7 V" in labels

    from hil.plotting import color_scale
    fig = plt.figure()
    ax = fig.add_subplot()
    colors = color_scale(fig, ax, np.arange(16), "state")
    assert colors.shape == (16, 4) and len(fig.axes) == 2          # the colourbar axis
    assert fig.axes[1].get_ylabel() == "state"
    plt.close(fig)
