"""Where a training run's rows come from, and how much an upload may weigh in it.

Three sources in the data bucket, each written by someone else:

- ``training/``  curated data the operator puts there (`mlops add-training-data`, `mlops seed`);
- ``feedback/``  the labeled rows of scored batches: anyone who can upload to ``incoming/`` writes here;
- ``holdout/``   the reference holdout the operator puts there (`mlops add-holdout`), never trained on.

Uploads must never be enough to steer the model, so feedback is bounded: its rows are at most
`training.max_feedback_share` of the rows a run learns from, and one uploaded file's rows at most
`training.max_file_share`. `feedback_allowance` computes how many rows of each feedback file a run
may use; the rest are left out and counted in the run record (`capped_rows`), never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def feedback_allowance(
    curated_rows: int, feedback_rows: Sequence[int], *, max_feedback_share: float, max_file_share: float
) -> list[int]:
    """The rows each feedback file (newest first) may contribute, so that in the run's rows (curated plus the
    feedback allowed) feedback is at most `max_feedback_share` and each file at most `max_file_share`.

    The total T = curated + allowed feedback is the largest that satisfies both bounds against itself: start
    from every row allowed and shrink T until the bounds computed on it allow no more than it holds (the
    allowance grows with T, so this converges, from above, to the largest consistent T). Newer files are
    served first when the feedback bound binds.
    """
    total = curated_rows + sum(feedback_rows)
    while True:
        per_file = [min(rows, math.floor(max_file_share * total + 1e-9)) for rows in feedback_rows]
        feedback = min(sum(per_file), math.floor(max_feedback_share * total + 1e-9))
        if curated_rows + feedback >= total:
            break
        total = curated_rows + feedback
    allowed, left = [], feedback
    for rows in per_file:
        allowed.append(min(rows, left))
        left -= allowed[-1]
    return allowed
