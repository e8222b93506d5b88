"""verl's own loader resolving rlit's entry point, then one call the way verl makes it.

verl/utils/import_utils.py is loaded from the installed verl by file path (verl's package
__init__ needs Ray and tensordict; this file needs only the standard library):

    pip install --no-deps verl==0.9.1
    python examples/integrations/verl_check.py
"""

import importlib.util
from pathlib import Path

spec = importlib.util.find_spec("verl")
if spec is None:
    raise SystemExit("verl is not installed: pip install --no-deps verl==0.9.1")
path = Path(spec.submodule_search_locations[0]) / "utils" / "import_utils.py"
loader_spec = importlib.util.spec_from_file_location("verl_import_utils", path)
import_utils = importlib.util.module_from_spec(loader_spec)
loader_spec.loader.exec_module(import_utils)

compute_score = import_utils.load_extern_object("pkg://rlit.integrations.verl", "compute_score")
reward_kwargs = {"config": "examples/integrations/reward.toml", "unscored_value": 0.0}
for solution in ["A slow brown river bends past the mill and the willows.", "River river river river river river."]:
    print(compute_score(data_source="demo", solution_str=solution, ground_truth=None, extra_info={}, **reward_kwargs))
