"""wam-eval from Python: the same evaluation, comparison and reports as the `wam-eval` CLI, which is
built on these functions.

    import wam_eval
    episodes, run_id = wam_eval.evaluate("fastwam", checkpoint="ckpt/step_1000.pt",
                                         suites=["libero_object"], tasks="0-4", episodes=10)
    print(episodes["success"].mean())
    wam_eval.compare(run_a, run_b)              # per column: difference, interval, paired test
    wam_eval.report([run_a, run_b])             # markdown, LaTeX and HTML under reports/<runs>/
    wam_eval.load_runs("results/wam-eval.sqlite")   # one row per stored run
"""

from wam_eval._evaluate import Evaluation, evaluate
from wam_eval._results import Comparison, ComparisonResult, ReportResult, compare, load_episodes, load_runs, report

__all__ = [
    "Comparison",
    "ComparisonResult",
    "Evaluation",
    "ReportResult",
    "compare",
    "evaluate",
    "load_episodes",
    "load_runs",
    "report",
]
