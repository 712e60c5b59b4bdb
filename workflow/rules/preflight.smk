# Runs before `configfile:` so that a malformed config file is reported with its name and line
# (Snakemake's own message names neither). The default config file is named once, here; the
# Snakefile's `configfile:` reads this name. (Files given with --configfile are not checked here.)
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from tradeoff.config import ConfigError, load_yaml  # noqa: E402

DEFAULT_CONFIGFILE = "config/config.yaml"

if Path(DEFAULT_CONFIGFILE).is_file():
    try:
        load_yaml(DEFAULT_CONFIGFILE)
    except ConfigError as err:
        raise WorkflowError(str(err)) from None
