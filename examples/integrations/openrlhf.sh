#!/usr/bin/env bash
# rlit's reward behind OpenRLHF's remote reward protocol. Run from the repository root.
#
# 1. The reward server (loopback only; add --token and --host to serve other machines):
#      rlit serve --config examples/integrations/reward.toml --port 5000 --unscored-reward 0
#    --unscored-reward: OpenRLHF turns every reward into a tensor, so a row that no source
#    scored must get a number, not null.
# 2. OpenRLHF (0.11.2) on the same machine points its rollouts at it:
#      python -m openrlhf.cli.train_ppo_ray ... --reward.remote_url http://127.0.0.1:5000/get_reward
#    (several servers: --reward.remote_url URL1,URL2; OpenRLHF rotates between them.)
#
# This script does step 1 and then what OpenRLHF's client does for one rollout, with OpenRLHF's
# own client code when it is installed (pip install --no-deps openrlhf==0.11.2 aiohttp pylatexenc).
set -euo pipefail
RLIT=${RLIT:-.venv/bin/rlit}
PY=${PY:-.venv/bin/python}
"$RLIT" serve --config examples/integrations/reward.toml --port 0 --unscored-reward 0 > /tmp/rlit-serve.$$ &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f /tmp/rlit-serve.$$' EXIT
until grep -q "listening on" /tmp/rlit-serve.$$ 2>/dev/null; do sleep 0.2; done
url=$(grep -o 'http://[^ ]*' /tmp/rlit-serve.$$ | head -1)
"$PY" examples/integrations/openrlhf_client.py "$url/get_reward"
