"""Simulated claims rows: how often a recipe-level test says "holds" when it should not, and when it should.

``docs/CLAIMS.md`` (section 1) fixes the check: a true effect ``effect`` (in seed SDs), a seed SD five
times the within-seed image standard error, k seeds whose effects are drawn normal or t with 3 degrees
of freedom (scaled to the same SD); each simulated row is judged alone (Holm over one row is the
level itself). A false "holds" is a row whose claimed sign (> 0) is decided while the true effect is 0.
:func:`seeds_needed` is section 4's seed plan: the smallest k with the wanted power of the paired t-test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from scipy import stats as _sp

from tradeoff.claims import stats

__all__ = ["IMAGE_SE_RATIO", "Rates", "seeds_needed", "simulate"]

IMAGE_SE_RATIO: Final = 5.0
"""Seed SD / within-seed image standard error in the simulation."""

Method = Literal["t", "two-level bootstrap"]
Seeds = Literal["normal", "t3"]


@dataclass(frozen=True)
class Rates:
    """Share of simulated rows judged "holds" (claimed sign > 0) and "does not hold"."""

    method: str
    seeds: str
    k: int
    effect: float
    n_rows: int
    holds: float
    does_not_hold: float

    @property
    def slack(self) -> float:
        """Monte Carlo slack of a share near the nominal one-sided level: 3 binomial standard errors."""
        q = stats.LEVEL / 2
        return 3 * float(np.sqrt(q * (1 - q) / self.n_rows))


def _seed_effects(rng: np.random.Generator, seeds: Seeds, size: tuple[int, ...]) -> np.ndarray:
    if seeds == "normal":
        return rng.standard_normal(size)
    return rng.standard_t(3, size) / np.sqrt(3.0)  # t(3) has variance 3: scaled to SD 1


def simulate(method: Method, seeds: Seeds, k: int, *, effect: float = 0.0, n_rows: int = 4000, n_images: int = 100,
             n_resamples: int = stats.N_RESAMPLES, level: float = stats.LEVEL, seed: int = 0) -> Rates:
    """``n_rows`` simulated rows of k seeds: seed effects ``effect + b_s`` (b_s of SD 1, ``seeds``),
    ``n_images`` per-image paired differences per seed around its seed effect with standard error
    1 / :data:`IMAGE_SE_RATIO` for the seed's mean; each row judged by ``method`` (the recipe level's
    paired t-test, :func:`tradeoff.claims.stats.t_test`, or the old two-level bootstrap,
    :func:`tradeoff.claims.stats.hierarchical_bootstrap` with :func:`tradeoff.claims.stats.bootstrap_p`) at ``level``."""
    rng = np.random.default_rng(seed)
    b = effect + _seed_effects(rng, seeds, (n_rows, k))
    sd_image = np.sqrt(n_images) / IMAGE_SE_RATIO
    holds = fails = 0
    for r in range(n_rows):
        x = b[r][:, None] + sd_image * rng.standard_normal((k, n_images))
        if method == "t":
            test = stats.t_test(x.mean(1))
        else:
            data = [np.column_stack([np.zeros(n_images), xi]) for xi in x]
            boot = stats.hierarchical_bootstrap(data, lambda m: m[..., 1] - m[..., 0], n_resamples=n_resamples,
                                                seed=int(rng.integers(2**31)))
            test = stats.bootstrap_test(boot)
        v = stats.decide([test], [1], level=level)[0]["verdict"]
        holds += v == "holds"
        fails += v == "does not hold"
    return Rates(method, seeds, k, effect, n_rows, holds / n_rows, fails / n_rows)


def seeds_needed(effect: float, sd: float, *, level: float, power: float = 0.8, max_seeds: int = 10) -> int | None:
    """The smallest k (>= :data:`tradeoff.claims.stats.RECIPE_MIN_SEEDS`) at which the two-sided paired t-test at
    ``level`` detects a mean per-seed difference ``effect`` with per-seed SD ``sd`` with probability
    >= ``power`` (noncentral t, k - 1 degrees of freedom, both tails); None when ``max_seeds`` do not
    reach it (the cell is underpowered, ``docs/CLAIMS.md`` section 4)."""
    if sd <= 0:
        raise ValueError(f"sd must be > 0, got {sd}")
    for k in range(stats.RECIPE_MIN_SEEDS, max_seeds + 1):
        df, nc = k - 1, abs(effect) / (sd / np.sqrt(k))
        crit = float(_sp.t.ppf(1 - level / 2, df))
        if float(_sp.nct.sf(crit, df, nc) + _sp.nct.cdf(-crit, df, nc)) >= power:
            return k
    return None


def _main() -> int:
    for seeds_kind in ("normal", "t3"):
        for k in (3, 5, 8):
            print(simulate("t", seeds_kind, k))
        print(simulate("t", seeds_kind, 8, effect=3.0))
        print(simulate("two-level bootstrap", seeds_kind, 3, n_rows=400, n_resamples=500))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
