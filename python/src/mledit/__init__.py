"""mledit from Python: version control for knowledge edits of language models, driving the
`mledit` binary through its `--json` output.

    repo = mledit.Repository.init("edits", model="model-folder")
    repo.commit([{"prompt": "{} is located in", "subject": "The Eiffel Tower", "target_new": "Rome"}])
    print(repo.generate("The Eiffel Tower is located in", max_tokens=3).text)

`mledit.easyedit.Editor` offers EasyEdit's `edit` call shape; `mledit.hf.load` a version as a
transformers model. Neither is imported here, so importing mledit needs no third-party package.
"""
from ._process import RunResult, Runner, find_binary
from .errors import BinaryNotFoundError, MLEditError, UsageError
from .progress import ProgressLine, parse_progress_line
from .repository import Repository
from .results import (BaseModel, BehaviourChange, Branch, Commit, CommitResult, Delta, DiffResult, EvalResult,
                      ExportResult, Fact, FactEvaluation, FactOutcome, FsckProblem, FsckResult, Generation,
                      RebaseResult, RevertResult, Status, Supersession, Tag, TensorDifference)

__version__ = "0.1.0"

__all__ = [
    "BaseModel", "BehaviourChange", "BinaryNotFoundError", "Branch", "Commit", "CommitResult", "Delta", "DiffResult",
    "EvalResult", "ExportResult", "Fact", "FactEvaluation", "FactOutcome", "FsckProblem", "FsckResult", "Generation",
    "MLEditError", "ProgressLine", "RebaseResult", "Repository", "RevertResult", "RunResult", "Runner", "Status",
    "Supersession", "Tag", "TensorDifference", "UsageError", "find_binary", "parse_progress_line",
]
