"""Reinforcement-learning search: a DDPG agent in the form HAQ uses (Wang et al., CVPR 2019;
CIM-AQ keeps it), on torch.

An episode walks the free layers; each layer is two steps (weight bits, then input bits;
a width set with one member is skipped).  State of a step (HAQ's layer embedding, min-max
normalised over the steps): step index, weight/activation flag, linear/conv flag, log fan-in,
log fan-out, log invocations, log MACs, share of the INT8 latency, previous action.  The actor
outputs a ∈ [0, 1], mapped to the k-th smallest width (k = ⌊a·K⌋); exploration is uniform
random for ``warmup`` episodes, then the actor's action plus truncated Gaussian noise whose σ
decays by ``sigma_decay`` per episode.  At the end of an episode the configuration is scored
(cached) and every step gets the episode's reward (HAQ's assignment); the critic regresses
Q(s, a) on it from a replay buffer (no bootstrapping: γ-free, as the reward is terminal) and the actor follows ∇ₐQ (deterministic
policy gradient).  With a latency budget, bits are lowered after the episode until the
configuration fits (HAQ's rule: the step whose reduction saves most latency first), and the
reward is −0.1·(accuracy loss in pp); with an accuracy budget the reward is −latency/INT8
within the budget and below every feasible reward otherwise.  The result is the best
configuration seen.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hil.cim.search.objective import Budget, Evaluation, Objective
from hil.cim.search.space import Config
from hil.cim.search.tracker import SearchResult, Tracker
from hil.errors import ParameterError


def _mlp(n_in: int, hidden: int, n_out: int, out: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                               nn.ReLU(), nn.Linear(hidden, n_out)]
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


class Agent:
    """Actor, critic and replay buffer (all seeded)."""

    def __init__(self, n_state: int, hidden: int = 64, lr_actor: float = 1e-3,
                 lr_critic: float = 2e-3, buffer: int = 4000, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.actor = _mlp(n_state, hidden, 1, nn.Sigmoid())
        self.critic = _mlp(n_state + 1, hidden, 1)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=lr_actor)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=lr_critic)
        self.states = np.zeros((buffer, n_state), np.float32)
        self.actions = np.zeros((buffer, 1), np.float32)
        self.rewards = np.zeros((buffer, 1), np.float32)
        self.size, self.pos, self.cap = 0, 0, buffer

    @torch.no_grad()
    def act(self, state: np.ndarray) -> float:
        return float(self.actor(torch.from_numpy(state[None].astype(np.float32)))[0, 0])

    def store(self, state: np.ndarray, action: float, reward: float) -> None:
        self.states[self.pos], self.actions[self.pos], self.rewards[self.pos] = state, action, reward
        self.pos = (self.pos + 1) % self.cap
        self.size = min(self.size + 1, self.cap)

    def update(self, rng: np.random.Generator, batch: int = 64) -> None:
        idx = rng.integers(0, self.size, min(batch, self.size))
        s = torch.from_numpy(self.states[idx])
        a = torch.from_numpy(self.actions[idx])
        r = torch.from_numpy(self.rewards[idx])
        q = self.critic(torch.cat([s, a], 1))
        loss_c = nn.functional.mse_loss(q, r)
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        loss_a = -self.critic(torch.cat([s, self.actor(s)], 1)).mean()
        self.opt_a.zero_grad()
        loss_a.backward()
        self.opt_a.step()


def _steps(objective: Objective) -> list[tuple[int, str, tuple[int, ...]]]:
    """Decision steps: (free-layer position, 'w' | 'a', width set)."""
    sp = objective.space
    out = []
    for r, _ in enumerate(sp.free):
        if len(sp.w_bits) > 1:
            out.append((r, "w", sp.w_bits))
        if len(sp.a_bits) > 1:
            out.append((r, "a", sp.a_bits))
    return out


def _embedding(objective: Objective, steps) -> np.ndarray:
    sp, cost = objective.space, objective.cost
    lat8 = objective.latency_int8_s
    rows = []
    for t, (r, kind, _) in enumerate(steps):
        ly = sp.layers[sp.free[r]]
        rows.append([t, kind == "a", ly.kind == "conv", math.log(ly.fan_in), math.log(ly.fan_out),
                     math.log(ly.invocations), math.log(ly.macs),
                     cost.layer_latency_s(sp.free[r], (8, 8)) / lat8])
    e = np.array(rows, dtype=np.float64)
    span = e.max(0) - e.min(0)
    e = (e - e.min(0)) / np.where(span > 0, span, 1.0)
    return e.astype(np.float32)


def _to_index(a: float, k: int) -> int:
    return min(int(a * k), k - 1)


def _assemble(objective: Objective, steps, picks: list[int]) -> Config:
    sp = objective.space
    w = [sp.w_bits[0]] * len(sp.free)
    a = [sp.a_bits[0]] * len(sp.free)
    for (r, kind, bits), k in zip(steps, picks):
        (w if kind == "w" else a)[r] = bits[k]
    return sp.assemble(list(zip(w, a)))


def _fit_latency(objective: Objective, steps, picks: list[int], limit_s: float) -> list[int]:
    """Lower widths until the configuration's latency is within ``limit_s`` (HAQ's rule)."""
    picks = list(picks)
    cost = objective.cost
    while cost.latency_s(_assemble(objective, steps, picks)) > limit_s:
        now = cost.latency_s(_assemble(objective, steps, picks))
        best, gain = None, 0.0
        for t, k in enumerate(picks):
            if k == 0:
                continue
            trial = picks[:t] + [k - 1] + picks[t + 1:]
            g = now - cost.latency_s(_assemble(objective, steps, trial))
            if g > gain or best is None:
                best, gain = t, g
        if best is None:
            break
        picks[best] -= 1
    return picks


def _reward(objective: Objective, ev: Evaluation, budget: Budget, max_ratio: float) -> float:
    loss = objective.loss_pp(ev)
    if budget.kind == "latency":
        return -0.1 * loss
    ratio = ev.latency_s / objective.latency_int8_s
    if objective.feasible(ev, budget):  # the budget rule of hil.cim.budget (upper bound)
        return -ratio
    return -max_ratio - 0.1 * (objective.loss_ucb_pp(ev, budget.z) - budget.max_loss_pp)


def search(objective: Objective, budget: Budget, *, seed: int = 0, episodes: int = 300,
           warmup: int = 30, sigma: float = 0.5, sigma_decay: float = 0.99,
           updates_per_episode: int | None = None, progress: bool = False,
           **_: object) -> SearchResult:
    """DDPG search for ``episodes`` episodes (see the module docstring)."""
    if episodes < 1 or warmup < 0:
        raise ParameterError(f"RL episodes={episodes} must be >= 1 and warmup={warmup} >= 0")
    steps = _steps(objective)
    if not steps:
        raise ParameterError("RL search: every width set has one member; nothing to choose")
    emb = _embedding(objective, steps)
    sp = objective.space
    max_ratio = objective.cost.latency_s(sp.assemble([(sp.w_bits[-1], sp.a_bits[-1])]
                                                     * len(sp.free))) / objective.latency_int8_s
    limit = (budget.max_latency_ratio * objective.latency_int8_s
             if budget.kind == "latency" else None)
    updates = updates_per_episode if updates_per_episode is not None else len(steps)
    tr = Tracker(objective, budget, "rl", episodes, progress, unit="episode")
    objective.reference  # noqa: B018 - losses need INT8 first
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        agent = Agent(emb.shape[1] + 1, seed=seed)
        for ep in range(episodes):
            prev, states, actions, picks = 0.0, [], [], []
            noise = sigma * sigma_decay ** max(ep - warmup, 0)
            for t, (_, _, bits) in enumerate(steps):
                s = np.append(emb[t], prev).astype(np.float32)
                if ep < warmup:
                    a = float(rng.uniform())
                else:
                    a = agent.act(s)
                    # truncated normal around the actor's action (resampled inside [0, 1])
                    for _ in range(100):
                        cand = a + noise * float(rng.standard_normal())
                        if 0.0 <= cand <= 1.0:
                            a = cand
                            break
                    else:
                        a = min(max(a, 0.0), 1.0)
                states.append(s)
                actions.append(a)
                picks.append(_to_index(a, len(bits)))
                prev = a
            if limit is not None:
                picks = _fit_latency(objective, steps, picks, limit)
                actions = [(k + 0.5) / len(b) for k, (_, _, b) in zip(picks, steps)]
            ev = tr.evaluate(_assemble(objective, steps, picks))
            r = _reward(objective, ev, budget, max_ratio)
            for s, a in zip(states, actions):
                agent.store(s, a, r)
            if ep >= warmup:
                for _ in range(updates):
                    agent.update(rng)
            tr.step()
    return tr.result(episodes=episodes, warmup=warmup)
