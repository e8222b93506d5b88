"""One OpenRLHF rollout's reward request, sent by OpenRLHF's own client code when installed
(``SingleTurnAgentExecutor._fetch_rewards_via_http``), else the same JSON by urllib.

    python examples/integrations/openrlhf_client.py http://127.0.0.1:5000/get_reward
"""

import asyncio
import json
import sys
import urllib.request

url = sys.argv[1]
prompt = "Describe a river in one sentence."
query = prompt + " A slow brown river bends past the mill and the willows.<|endoftext|>"  # prompt + response + EOS

try:
    from openrlhf.utils.agent import SingleTurnAgentExecutor
except ImportError:
    body = json.dumps({"query": [query], "prompts": [prompt], "labels": [None]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    reply = json.load(urllib.request.urlopen(request))
else:
    reply = asyncio.run(SingleTurnAgentExecutor(remote_rm_url=url)._fetch_rewards_via_http([query], [prompt], [None]))[0]
print(json.dumps(reply))
