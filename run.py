"""Entry point: ``python run.py +experiment=ltr_align [profile=paper] [key=value ...]`` (add ``-m`` for sweeps).

User mistakes print one line and exit 2. In a multirun a failing job is recorded in its ``run.json``
(status ``failed`` + error) and the sweep goes on; in a single run other errors keep their traceback.
"""

import logging
import sys

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


if __name__ == "__main__":
    main()
