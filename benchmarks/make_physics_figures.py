"""Make docs/fig3d_ltp_ltd.png and docs/fig4c_mtt_transfer.png from the simulated devices.

    python benchmarks/make_physics_figures.py [--outdir docs]

Fig. 3d analogue: 3 cycles of 180 x (+10 V, 2 ms) then 180 x (-7 V, 2 ms) on one ECRAM cell of
the simulated H-1E1T array (programmed with pulse_cells, read at 0.1 V), with the Chen et al.
nonlinearity fits.  Fig. 4c analogue: W_b(W_h) of 64 simulated ECRAM-MTT units (device-to-
device variation, read noise) at V_read_H 1.4 V, V_ref_G 0.6 V, drains +-0.01 V, G_max 50 uS,
read through SimBackend.mtt_read, with the Eq 7 fit and the published Eq 16.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hil.analysis.mtt_fit import fit_eq7, transfer_eq7  # noqa: E402
from hil.analysis.nonlinearity import fit_nonlinearity  # noqa: E402
from hil.cards import load_card  # noqa: E402
from sim_backends import SimBackend  # noqa: E402
from sim_backends.devices import ecram  # noqa: E402
from sim_backends.devices.mtt import g_min_linear, i_ts_max, node_voltage_linear  # noqa: E402


def ltp_ltd_figure(path: Path, cycles: int = 3) -> dict[str, float]:
    b = SimBackend(shape=(1, 1), seed=0)
    mask = np.ones((1, 1), dtype=bool)
    g = []
    for _ in range(cycles):
        for amp in [10.0] * 180 + [-7.0] * 180:
            b.pulse_cells(mask, amp, 2e-3)
            g.append(b.read()[0, 0])
    g = np.asarray(g) * 1e6
    fig, ax = plt.subplots(figsize=(7, 3.6))
    n = np.arange(1, g.size + 1)
    ax.plot(n, g, ".", ms=2.5, color="tab:blue", label="simulated (read 0.1 V)")
    a_p, a_d = [], []
    for c in range(cycles):
        seg = g[c * 360:(c + 1) * 360]
        fp = fit_nonlinearity(seg[:180] * 1e-6, "ltp")
        fd = fit_nonlinearity(seg[180:] * 1e-6, "ltd")
        a_p.append(fp.A_pulses)
        a_d.append(fd.A_pulses)
        p = np.arange(1, 181)
        ax.plot(c * 360 + p, fp.predict(p) * 1e6, "-", color="tab:red", lw=1)
        ax.plot(c * 360 + 180 + p, fd.predict(p) * 1e6, "-", color="tab:orange", lw=1)
    ratio = g[-360:].max() / g[-360:].min()
    for c in range(cycles):
        ax.axvspan(c * 360, c * 360 + 180, color="tab:blue", alpha=0.05)
    ax.set_xlabel("pulse number")
    ax.set_ylabel("G (µS)")
    ax.set_title(f"ECRAM LTP/LTD: +10 V / 2 ms, −7 V / 2 ms (cf. MTT Fig. 3d); on/off {ratio:.0f} "
                 f"(paper 632); A_LTP {np.mean(a_p):.0f}, A_LTD {np.mean(a_d):.0f} pulses", fontsize=8)
    ax.plot([], [], "-", color="tab:red", label="fit G=B(1−e^(−P/A))+G_min (LTP)")
    ax.plot([], [], "-", color="tab:orange", label="fit (LTD)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return {"on_off": float(ratio), "A_ltp": float(np.mean(a_p)), "A_ltd": float(np.mean(a_d))}


def mtt_figure(path: Path, units: int = 64, levels: int = 41) -> dict[str, float]:
    v_h, v_ref, v_d = 1.4, 0.6, 0.01
    card = load_card("mtt_transfer")["ecram"]
    g_max = card["g_max_S"]
    b = SimBackend(shape=(2 * levels - 1, 2 * units), seed=4)
    arr = b.array
    g_min = g_min_linear(v_h, v_ref, arr.ref)
    w_target = np.linspace(-1, 1, 2 * levels - 1)[:, None] * np.ones((1, units))
    g_hidden = g_min + np.abs(w_target) * (g_max - g_min)
    g_plus = np.where(w_target >= 0, g_hidden, g_min)
    g_minus = np.where(w_target >= 0, g_min, g_hidden)
    arr.x[:, 0::2] = ecram.state_from_conductance(g_plus, arr.dev.take((slice(None), slice(0, None, 2))))
    arr.x[:, 1::2] = ecram.state_from_conductance(g_minus, arr.dev.take((slice(None), slice(1, None, 2))))
    g_read = b.read()
    i_ts = b.mtt_read(None, v_h, v_ref, v_d)
    v_min = float(node_voltage_linear(np.array([g_min]), v_h, v_ref, arr.ref)[0])
    norm = np.where(i_ts >= 0, i_ts_max(v_h, v_min, v_d, arr.inf, +1),
                    i_ts_max(v_h, v_min, v_d, arr.inf, -1))
    w_b = i_ts / norm                                                    # Eq 15
    g_e = np.maximum(g_read[:, 0::2], g_read[:, 1::2])
    w_h = np.sign(i_ts) * (g_e - g_min) / (g_max - g_min)               # Eq 14
    fit = fit_eq7(w_h, w_b)
    per_unit = np.array([[fit_eq7(w_h[:, u], w_b[:, u])[k] for k in ("A_p", "A_n")]
                         for u in range(units)])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(w_h.ravel(), w_b.ravel(), ".", ms=2, alpha=0.4, color="tab:blue",
            label=f"simulated, {units} units")
    w = np.linspace(-1, 1, 801)
    ax.plot(w, transfer_eq7(w, fit["A_p"], fit["B_p"], fit["A_n"], fit["B_n"]), "-", color="tab:red",
            label=f"Eq 7 fit: A_p {fit['A_p']:.1f}, B_p {fit['B_p']:.1f}, A_n {fit['A_n']:.1f}, B_n {fit['B_n']:.1f}")
    ax.plot(w, transfer_eq7(w, card["A_p"], card["B_p"], card["A_n"], card["B_n"]), "--",
            color="k", lw=1, label="Eq 16 (paper): 41.36, 41.62, 44.67, 44.45")
    ax.set_xlabel("quantized hidden weight W_h (Eq 14)")
    ax.set_ylabel("binary weight W_b = I_ts / I_ts,max (Eq 15)")
    ax.set_title("ECRAM-MTT transfer, V_read_H 1.4 V, V_ref_G 0.6 V (cf. MTT Fig. 4c)", fontsize=8)
    ax.legend(fontsize=6.5, loc="lower right")
    ax.grid(alpha=0.3)
    inset = ax.inset_axes([0.08, 0.58, 0.32, 0.3])
    inset.hist(per_unit[:, 0], bins=12, color="tab:blue", alpha=0.7, label="A_p")
    inset.hist(per_unit[:, 1], bins=12, color="tab:green", alpha=0.7, label="A_n")
    inset.set_title(f"{units} units: A_p {per_unit[:, 0].mean():.1f}±{per_unit[:, 0].std():.1f}",
                    fontsize=6)
    inset.tick_params(labelsize=5)
    inset.legend(fontsize=5)
    fit = dict(fit, A_p_unit_mean=float(per_unit[:, 0].mean()),
               A_p_unit_std=float(per_unit[:, 0].std()))
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return fit


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=str(Path(__file__).resolve().parents[1] / "docs"))
    args = ap.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    print("fig3d:", ltp_ltd_figure(out / "fig3d_ltp_ltd.png"))
    print("fig4c:", mtt_figure(out / "fig4c_mtt_transfer.png"))


if __name__ == "__main__":
    main()
