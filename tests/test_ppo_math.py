"""PPO maths against values worked out by hand (the arithmetic is in each test's comments)."""

from __future__ import annotations

import math

import pytest
import torch

from rlit.training.ppo.advantages import (
    AdaptiveKL, compute_advantages, gae, kl_per_token, leave_one_out_scores, masked_var, token_rewards, whiten,
)
from rlit.training.ppo.config import PPOConfig
from rlit.training.ppo.losses import entropy, policy_loss, value_loss


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_gae_undiscounted_with_lambda():
    # gamma=1, lam=0.95, V=0.5 everywhere, reward 1 at the end:
    # t2: delta = 1 - 0.5 = 0.5 -> A=0.5; t1: delta = 0 -> A = 0.95*0.5 = 0.475; t0: A = 0.95*0.475 = 0.45125
    adv, ret = gae(t([0, 0, 1]), t([0.5, 0.5, 0.5]), t([1, 1, 1]), gamma=1.0, lam=0.95)
    assert adv.tolist()[0] == pytest.approx([0.45125, 0.475, 0.5])
    assert ret.tolist()[0] == pytest.approx([0.95125, 0.975, 1.0])


def test_gae_discounted():
    # gamma=0.9, lam=0.5: t1: delta = 2 - 1 = 1 -> A1 = 1; t0: delta = 1 + 0.9*1 - 0.5 = 1.4 -> A0 = 1.4 + 0.45*1 = 1.85
    adv, ret = gae(t([1, 2]), t([0.5, 1.0]), t([1, 1]), gamma=0.9, lam=0.5)
    assert adv.tolist()[0] == pytest.approx([1.85, 1.0])
    assert ret.tolist()[0] == pytest.approx([2.35, 2.0])


def test_gae_stops_at_the_end_of_the_response():
    # the value 9 and reward 7 after the end are ignored: t1: delta = 1 + 0 - 0.5 = 0.5; t0: A = 0 + 0.95*0.5
    adv, ret = gae(t([0, 1, 7]), t([0.5, 0.5, 9]), t([1, 1, 0]), gamma=1.0, lam=0.95)
    assert adv.tolist()[0] == pytest.approx([0.475, 0.5, 0.0])
    assert ret.tolist()[0] == pytest.approx([0.975, 1.0, 0.0])


def test_whiten_uses_unbiased_variance():
    # mean 2.5, var = (2.25+0.25+0.25+2.25)/3 = 5/3, std = 1.290994
    out = whiten(t([1, 2, 3, 4]), t([1, 1, 1, 1]))
    assert out.tolist()[0] == pytest.approx([-1.161895, -0.387298, 0.387298, 1.161895], abs=1e-5)
    assert masked_var(t([1, 2, 3, 4]), t([1, 1, 1, 1])).item() == pytest.approx(5 / 3)


def test_whiten_ignores_masked_entries_and_can_keep_the_mean():
    # over [1, 2, 3]: mean 2, var 1 -> [-1, 0, 1]; the masked 100 is ignored and zeroed
    assert whiten(t([1, 2, 3, 100]), t([1, 1, 1, 0])).tolist()[0] == pytest.approx([-1, 0, 1, 0], abs=1e-6)
    # [0, 2, 4]: mean 2, std 2 -> (x-2)/2 + 2 = [1, 2, 3]
    assert whiten(t([0, 2, 4]), t([1, 1, 1]), shift_mean=False).tolist()[0] == pytest.approx([1, 2, 3], abs=1e-6)


def test_kl_estimators():
    # log r = ref - logp = -1.5 - (-1.0) = -0.5: k1 = 0.5; k3 = e^-0.5 - 1 + 0.5 = 0.1065307
    logp, ref = t([-1.0]), t([-1.5])
    assert kl_per_token(logp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_per_token(logp, ref, "k3").item() == pytest.approx(math.exp(-0.5) - 0.5)
    # k3 is never negative, k1 can be
    assert kl_per_token(t([-2.0]), t([-1.0]), "k1").item() == pytest.approx(-1.0)
    assert kl_per_token(t([-2.0]), t([-1.0]), "k3").item() == pytest.approx(math.e - 2)
    with pytest.raises(ValueError):
        kl_per_token(logp, ref, "k2")


def test_token_rewards_put_the_score_on_the_last_real_token():
    # -0.5 * [0.1, 0.2] then +2 on token 1 (the last unmasked one); the masked token gets nothing
    r = token_rewards(torch.tensor([2.0]), t([0.1, 0.2, 0.3]), t([1, 1, 0]), kl_coef=0.5)
    assert r.tolist()[0] == pytest.approx([-0.05, 1.9, 0.0])


def test_compute_advantages_whitens_over_the_mask():
    adv = compute_advantages(torch.tensor([1.0, -1.0]), t([-1, -1], [-1, -1]), t([-1, -1], [-1, -1]), t([0, 0], [0, 0]),
                             t([1, 1], [1, 0]), PPOConfig(gamma=1.0, lam=1.0), kl_coef=0.1)
    # raw advantages [1, 1] and [-1, 0(masked)] -> over {1, 1, -1}: mean 1/3, var = (4/9+4/9+16/9)/2 = 4/3
    std = math.sqrt(4 / 3)
    assert adv.advantages.flatten().tolist() == pytest.approx([(2 / 3) / std, (2 / 3) / std, (-4 / 3) / std, 0.0], abs=1e-5)
    assert adv.returns.flatten().tolist() == pytest.approx([1, 1, -1, 0])


def test_compute_advantages_unwhitened_keeps_the_gae_values():
    adv = compute_advantages(torch.tensor([1.0, -1.0]), t([-1, -1], [-1, -1]), t([-1, -1], [-1, -1]), t([0, 0], [0, 0]),
                             t([1, 1], [1, 0]), PPOConfig(gamma=1.0, lam=1.0, whiten_advantages=False), kl_coef=0.1)
    # KL is 0 (same log-probs), values 0, lam 1: every real token's advantage is its row's score
    assert adv.advantages.flatten().tolist() == pytest.approx([1, 1, -1, 0])


def test_policy_loss_clips_positive_advantages():
    # ratio [1, 1.5]; -A*r = [-1, -1.5]; -A*clip(r) = [-1, -1.2]; max -> [-1, -1.2], mean -1.1; 1 of 2 clipped
    # approx KL = 0.5 * mean([0, ln(1.5)^2]) = 0.25 * 0.1644019
    loss, clipfrac, approx_kl = policy_loss(t([0.0, math.log(1.5)]), t([0.0, 0.0]), t([1.0, 1.0]), t([1, 1]), 0.2)
    assert loss.item() == pytest.approx(-1.1)
    assert clipfrac.item() == pytest.approx(0.5)
    assert approx_kl.item() == pytest.approx(0.25 * math.log(1.5) ** 2)


def test_policy_loss_clips_negative_advantages_and_ignores_masked_tokens():
    # A = -1, ratio 0.5: -A*r = 0.5, -A*clip(r) = 0.8 -> 0.8; the masked token (ratio e^3) is ignored
    loss, clipfrac, _ = policy_loss(t([math.log(0.5), 3.0]), t([0.0, 0.0]), t([-1.0, 5.0]), t([1, 0]), 0.2)
    assert loss.item() == pytest.approx(0.8)
    assert clipfrac.item() == pytest.approx(1.0)


def test_policy_loss_gradient_vanishes_when_clipped():
    new = torch.tensor([[math.log(1.5)]], requires_grad=True)
    policy_loss(new, t([0.0]), t([1.0]), t([1]), 0.2)[0].backward()
    assert new.grad.item() == 0.0


def test_value_loss_is_clipped_around_the_rollout_values():
    # clipped values = [0.5 + 0.2, 0 + 0] = [0.7, 0]; unclipped sq err [1.0, 0.01]; clipped [1.69, 0.01]
    # max -> [1.69, 0.01]; loss = 0.5 * mean = 0.425; the first is clipped
    loss, clipfrac = value_loss(t([1.0, 0.0]), t([0.5, 0.0]), t([2.0, 0.1]), t([1, 1]), 0.2)
    assert loss.item() == pytest.approx(0.425)
    assert clipfrac.item() == pytest.approx(0.5)


def test_entropy_of_uniform_and_peaked_logits():
    assert entropy(torch.zeros(1, 1, 4), t([1])).item() == pytest.approx(math.log(4))
    assert entropy(torch.tensor([[[100.0, 0.0, 0.0, 0.0]]]), t([1])).item() == pytest.approx(0.0, abs=1e-6)


def test_adaptive_kl_controller():
    # error = clip(12/6 - 1, -0.2, 0.2) = 0.2; coef *= 1 + 0.2 * 16 / 10000
    kl = AdaptiveKL(0.1, target=6.0, horizon=10000)
    kl.update(12.0, 16)
    assert kl.value == pytest.approx(0.1 * 1.00032)
    kl.update(3.0, 16)  # error = -0.5 -> -0.2
    assert kl.value == pytest.approx(0.1 * 1.00032 * (1 - 0.00032))


def test_leave_one_out_scores_subtract_the_other_responses_mean():
    # group 1 (1, 0, 0.5): 1 - (0+0.5)/2 = 0.75; 0 - (1+0.5)/2 = -0.75; 0.5 - (1+0)/2 = 0
    # group 2 (2, unscored, 4): 2 - 4 = -2; the unscored row: 0 - (2+4)/2 = -3 (masked later); 4 - 2 = 2
    scores = torch.tensor([1.0, 0.0, 0.5, 2.0, 0.0, 4.0])
    scored = torch.tensor([True, True, True, True, False, True])
    out = leave_one_out_scores(scores, scored, group_size=3)
    assert out.tolist() == pytest.approx([0.75, -0.75, 0.0, -2.0, -3.0, 2.0])


def test_leave_one_out_keeps_a_score_with_no_scored_sibling():
    out = leave_one_out_scores(torch.tensor([0.7, 0.0]), torch.tensor([True, False]), group_size=2)
    assert out.tolist() == pytest.approx([0.7, -0.7])
    with pytest.raises(ValueError, match="groups of 3"):
        leave_one_out_scores(torch.zeros(4), torch.ones(4, dtype=torch.bool), group_size=3)
