"""Entry point: ``python run.py +experiment=ltr_align [profile=paper] [key=value ...]`` (add ``-m`` for sweeps).

User mistakes print one line and exit 2. In a multirun a failing job is recorded in its ``run.json``
(status ``failed`` + error) and the sweep goes on; in a single run other errors keep their traceback.
"""

import logging
import sys
import warnings

import hydra
from omegaconf import DictConfig

from visgen.errors import UserInputError


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from visgen.run.pipeline import run

    _one_copy_of_each_log_line()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        run(cfg)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        if not multirun:
            sys.exit(2)
    except Exception:
        if not multirun:
            raise
        # run.json already says failed + why; the sweep's other jobs still run.
        logging.getLogger("run").exception("job failed; continuing the sweep")


def _one_copy_of_each_log_line() -> None:
    """Under Hydra's root handler, drop what only repeats or advertises.

    ``import lightning`` gives the ``lightning`` logger its own console handler while it still propagates to
    the root, so every Lightning line printed twice; and each Trainer logs a tip advertising a cloud logger.
    """
    if logging.getLogger().handlers:
        lightning_log = logging.getLogger("lightning")
        for handler in list(lightning_log.handlers):
            if type(handler) is logging.StreamHandler:
                lightning_log.removeHandler(handler)
    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoTips) for f in tips.filters):
        tips.addFilter(_NoTips())


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


# Noise that is not the user's to act on: the pretrain cache folder holds config.json before its first checkpoint
# (Lightning warns about any non-empty checkpoint folder), and Lightning's own use of a deprecated torch API.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# Alignment keeps the frozen trunk in eval mode on purpose (its BatchNorm statistics must not move).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")

if __name__ == "__main__":
    main()
