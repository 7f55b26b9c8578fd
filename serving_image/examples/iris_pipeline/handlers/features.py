"""Pre-step: standardise the four iris measurements with the training set's means and deviations."""

import numpy as np

MEANS = np.array([5.843, 3.057, 3.758, 1.199], dtype=np.float32)
DEVIATIONS = np.array([0.825, 0.434, 1.759, 0.760], dtype=np.float32)


def standardize(raw: np.ndarray) -> dict[str, np.ndarray]:
    return {"features": ((raw - MEANS) / DEVIATIONS).astype(np.float32)}
