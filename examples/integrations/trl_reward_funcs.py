"""rlit's composite and its sources as TRL reward functions, called the way GRPOTrainer calls
them (conversational completions, dataset columns, and TRL's own extra keywords).

    python examples/integrations/trl_reward_funcs.py

In a training script: ``GRPOTrainer(..., reward_funcs=[reward])`` (one reward, every source's
mean and share logged as rlit/<source>/mean|share), or ``reward_funcs=[e.source for e in
reward.entries]`` with ``reward_weights`` (TRL logs rewards/<source name>/mean per source).
"""

from rlit.plugins import load_reward

reward = load_reward("examples/integrations/reward.toml")
prompts = [[{"role": "user", "content": "Describe a river in one sentence."}]] * 2
completions = [[{"role": "assistant", "content": "A slow brown river bends past the mill and the willows."}],
               [{"role": "assistant", "content": "River river river river river river."}]]
logged = {}
print(reward(prompts=prompts, completions=completions, completion_ids=[[1], [2]], trainer_state=None,
             log_metric=lambda key, value: logged.__setitem__(key, value)))
print(logged)
for entry in reward.entries:
    print(entry.source.__name__, entry.source(prompts=prompts, completions=completions))
