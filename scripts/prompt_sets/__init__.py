"""Generator of rlit's own prompt sets (instruction following, SFT targets, red team).

Everything here is written by the project. Nothing is copied from IFEval's prompts: only the
instruction *ids* and checker keyword names of lm-eval's IFEval registry are shared, so the
checkers can score our rows. `scripts/make_prompt_sets.py` is the entry point.
"""
