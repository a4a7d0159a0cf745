"""A `spacy train` logger that also writes one JSON line per evaluation
(step, words, seconds, words/s, score, losses), so training throughput and
learning curves can be compared across runs (the project's results step
reads it)."""
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Optional, Tuple

from spacy.util import registry


@registry.loggers("spacy-elmo.JsonlLogger.v1")
def create_jsonl_logger_v1(path: Optional[str] = None, progress_bar: bool = False) -> Callable:
    """path: the JSONL file (parent directories are created; an existing file
    is replaced at the start of training); None: console only. progress_bar:
    as in spacy.ConsoleLogger.v2, which still prints the usual table."""
    console = registry.loggers.get("spacy.ConsoleLogger.v2")(progress_bar=progress_bar)

    def setup(nlp, stdout: Optional[IO] = None, stderr: Optional[IO] = None) -> Tuple[Callable[[Optional[Dict[str, Any]]], None], Callable[[], None]]:
        log_console, finalize_console = console(nlp, stdout or sys.stdout, stderr or sys.stderr)
        if path is None:
            return log_console, finalize_console
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        handle = out.open("w", encoding="utf8")
        started = time.perf_counter()

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            log_console(info)
            if info is None:
                return
            # spaCy's info["seconds"] is whole seconds; time it here (from the
            # start of training, evaluation included, as spaCy counts it)
            seconds = time.perf_counter() - started
            words = int(info.get("words") or 0)
            record = {
                "epoch": info.get("epoch"),
                "step": info.get("step"),
                "words": words,
                "seconds": seconds,
                "words_per_second": words / seconds if seconds > 0 else None,
                "score": info.get("score"),
                "other_scores": {k: v for k, v in (info.get("other_scores") or {}).items() if isinstance(v, (int, float))},
                "losses": {k: float(v) for k, v in (info.get("losses") or {}).items()},
            }
            handle.write(json.dumps(record) + "\n")
            handle.flush()

        def finalize() -> None:
            finalize_console()
            handle.close()

        return log_step, finalize

    return setup
