# Runs before `configfile:` so that a malformed config file is reported with its name and line
# (Snakemake's own message names neither).
import yaml as _yaml

for _path in ["config/config.yaml"]:
    try:
        with open(_path) as _fh:
            _yaml.safe_load(_fh)
    except FileNotFoundError:
        pass
    except _yaml.YAMLError as _err:
        raise WorkflowError(f"{_path}: malformed YAML: {_err}") from None
