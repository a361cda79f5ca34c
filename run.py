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

    from visgen.pipeline import run

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


# Noise that is not the user's to act on: the pretrain cache folder holds config.json before its first checkpoint
# (Lightning warns about any non-empty checkpoint folder), and Lightning's own use of a deprecated torch API.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")

if __name__ == "__main__":
    main()
