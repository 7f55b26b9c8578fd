"""Post-step: the most likely class of each row, as its name, with its score."""

import numpy as np

LABELS = np.array([b"setosa", b"versicolor", b"virginica"], dtype=object)


def top_label(scores: np.ndarray) -> dict[str, np.ndarray]:
    best = np.argmax(scores, axis=1)
    return {"label": LABELS[best], "confidence": scores[np.arange(len(best)), best].astype(np.float32)}
