"""The fused CPU decoding step (hf_copycot.ssm.numba_decode) against transformers' own step.

Every comparison runs the same weights through `enable_fast_mamba(model, "reference")`
(transformers' MambaMixer.forward, one token at a time) and through the fused step, and compares
tokens, the logits of every step (1e-5 relative, float32) and the cache's states after decoding.
Each test also checks which fused level ran, so a silent fall-back to transformers' step (right
tokens, old speed) fails it.
"""

from __future__ import annotations

import copy

import pytest
import torch
from test_mamba_scan import VOCAB, _model, _rel
from transformers.models.mamba.modeling_mamba import MambaModel

from hf_copycot import mamba_scan
from hf_copycot.inference_cost import greedy_stream, output_cache
from hf_copycot.mamba_scan import FastMambaModel, enable_fast_mamba
from hf_copycot.ssm import numba_decode, numba_mixer

# Relies on transformers' Mamba classes and cache internals: the drift alarm runs it.
pytestmark = pytest.mark.compat

TOL = 1e-5

CONFIGS = [
    # (hidden, state, layers, extra config)
    pytest.param(32, 16, 2, {}, id="d64-k4"),
    pytest.param(21, 8, 3, {"conv_kernel": 3}, id="d42-k3-odd-hidden"),
    pytest.param(
        20, 4, 2, {"use_conv_bias": False, "time_step_rank": 3, "use_bias": True}, id="d40-nobias"
    ),
    pytest.param(24, 16, 1, {"conv_kernel": 2, "expand": 3}, id="d72-k2"),
]


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """How many steps each fused level took (a level that declined, returning None, not counted)."""
    counts = {"backbone": 0, "mixer": 0}
    backbone_decode, mixer_decode = numba_decode.backbone_decode, numba_decode.mixer_decode

    def backbone(*args):
        out = backbone_decode(*args)
        counts["backbone"] += out is not None
        return out

    def mixer(*args):
        out = mixer_decode(*args)
        counts["mixer"] += out is not None
        return out

    monkeypatch.setattr(numba_decode, "backbone_decode", backbone)
    monkeypatch.setattr(numba_decode, "mixer_decode", mixer)
    return counts


def _pair(hidden=32, state=16, layers=2, **config):
    """(transformers' reference, ours): the same weights, ours on the numba path."""
    reference = _model(hidden, state, layers, **config).eval()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, "numba")
    enable_fast_mamba(reference, "reference")
    return reference, ours


def _padded_batch(batch=4, length=23, pads=(0, 5, 1, 17), seed=11):
    ids = torch.randint(1, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    for row, pad in enumerate(pads[:batch]):
        mask[row, :pad] = 0
        ids[row, :pad] = 0
    return ids, mask


def _generate(model, ids, mask, new_tokens=16, **extra):
    return model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
        eos_token_id=None,
        use_cache=True,
        output_logits=True,
        return_dict_in_generate=True,
        **extra,
    )


def _assert_same_generation(got, expected) -> None:
    assert torch.equal(got.sequences, expected.sequences)
    for step, (logits, ref) in enumerate(zip(got.logits, expected.logits, strict=True)):
        assert _rel(logits, ref) < TOL, step
    _assert_same_states(got.cache, expected.cache)


def _assert_same_states(cache, ref_cache) -> None:
    """Each layer's conv window and SSM state: same shape and dtype, values within TOL."""
    for idx in range(len(ref_cache.layers)):
        for get in ("get_conv_state", "get_recurrent_state"):
            ours, ref = getattr(cache, get)(idx), getattr(ref_cache, get)(idx)
            assert ours.shape == ref.shape and ours.dtype == ref.dtype, (idx, get)
            assert _rel(ours, ref) < TOL, (idx, get)


@pytest.mark.parametrize(("hidden", "state", "layers", "config"), CONFIGS)
def test_generate_with_left_padding_equals_transformers_step(calls, hidden, state, layers, config):
    reference, ours = _pair(hidden, state, layers, **config)
    ids, mask = _padded_batch()
    expected = _generate(reference, ids, mask)
    got = _generate(ours, ids, mask)
    _assert_same_generation(got, expected)
    assert calls == {"backbone": 15, "mixer": 0}  # every step after the prompt, in one call each


@pytest.mark.parametrize(("hidden", "state", "layers", "config"), CONFIGS)
def test_the_per_layer_step_equals_transformers_step(calls, hidden, state, layers, config):
    """Where the whole-backbone step does not apply (hidden states asked for), each mixer still
    takes its fused step."""
    reference, ours = _pair(hidden, state, layers, **config)
    ids, mask = _padded_batch(batch=3, length=9, pads=(0, 4, 8))
    expected = _generate(reference, ids, mask, output_hidden_states=True)
    got = _generate(ours, ids, mask, output_hidden_states=True)
    _assert_same_generation(got, expected)
    assert calls == {"backbone": 0, "mixer": 15 * layers}


def test_a_model_too_large_to_pack_takes_the_per_layer_step(calls, monkeypatch):
    monkeypatch.setattr(numba_decode, "MAX_PACK_BYTES", 0)
    reference, ours = _pair(layers=3)
    ids, mask = _padded_batch(batch=2, length=7, pads=(0, 3))
    _assert_same_generation(_generate(ours, ids, mask), _generate(reference, ids, mask))
    assert calls == {"backbone": 0, "mixer": 15 * 3}


def test_one_token_loop_with_a_step_mask_and_embeddings_equals_reference(calls):
    """The hand-written loop (what the Space and the cost study run), feeding token ids or
    embeddings and a (batch, 1) padding mask with a row masked out at one step."""
    reference, ours = _pair(hidden=24, state=8, layers=2, use_bias=True)
    ids, mask = _padded_batch(batch=3, length=6, pads=(0, 2, 5))
    caches = [None, None]
    steps = [(ids, mask)]
    for i in range(8):
        token = torch.randint(1, VOCAB, (3, 1), generator=torch.Generator().manual_seed(i))
        step_mask = torch.ones(3, 1, dtype=torch.long)
        step_mask[1, 0] = int(i != 4)
        steps.append((token, step_mask))
    with torch.inference_mode():
        for i, (token, step_mask) in enumerate(steps):
            outs = []
            for model, cache in zip((ours, reference), caches, strict=True):
                if i % 2:
                    inputs = {"inputs_embeds": model.get_input_embeddings()(token)}
                else:
                    inputs = {"input_ids": token}
                outs.append(model(**inputs, attention_mask=step_mask, cache=cache, use_cache=True))
            caches = [output_cache(out) for out in outs]
            assert _rel(outs[0].logits, outs[1].logits) < TOL, i
            _assert_same_states(*caches)
    assert calls == {"backbone": 8, "mixer": 0}


def test_greedy_stream_takes_the_fused_step(calls):
    reference, ours = _pair()
    ids = torch.randint(1, VOCAB, (1, 30), generator=torch.Generator().manual_seed(12))
    expected = [step.token_id for step in greedy_stream(reference, ids, max_new_tokens=12)]
    assert [step.token_id for step in greedy_stream(ours, ids, max_new_tokens=12)] == expected
    assert calls == {"backbone": 11, "mixer": 0}


def test_weights_changed_between_steps_are_used_at_the_next_step(calls):
    """The packed copy of the weights is rebuilt when a parameter is written in place, also in
    the middle of a generation (test-time training between tokens), and when a Parameter object
    is replaced (as `load_state_dict(assign=True)` does) before the next generation."""
    reference, ours = _pair(layers=2)
    ids = torch.randint(1, VOCAB, (2, 5), generator=torch.Generator().manual_seed(3))
    token = ids[:, -1:]
    edits = [
        lambda m: None,
        lambda m: m.backbone.layers[1].mixer.D.add_(0.25),
        lambda m: m.backbone.layers[0].mixer.in_proj.weight.mul_(1.1),
        lambda m: m.backbone.norm_f.weight.sub_(0.1),
    ]

    def replace_x_proj(model):
        x_proj = model.backbone.layers[0].mixer.x_proj
        x_proj.weight = torch.nn.Parameter(x_proj.weight * 0.9)

    models = (ours, reference)
    with torch.no_grad():
        caches = [output_cache(m(ids, use_cache=True)) for m in models]
        for i, edit in enumerate(edits):
            for model in models:
                edit(model)
            outs = [m(token, cache=c, use_cache=True) for m, c in zip(models, caches, strict=True)]
            assert _rel(outs[0].logits, outs[1].logits) < TOL, i
            _assert_same_states(*caches)
        for model in models:
            replace_x_proj(model)
        caches = [output_cache(m(ids, use_cache=True)) for m in models]
        outs = [m(token, cache=c, use_cache=True) for m, c in zip(models, caches, strict=True)]
        assert _rel(outs[0].logits, outs[1].logits) < TOL
    assert calls["backbone"] == 5


def test_a_training_step_of_finetune_is_seen_by_the_next_decoding_step(calls):
    """finetune.py evaluates in the process that trains: after `make_optimizer`'s step the fused
    step must decode with the new weights. Its fused AdamW writes parameters without bumping their
    versions (it once left the step decoding with the weights of step 0)."""
    from hf_copycot.finetune import TrainingArguments, make_optimizer

    reference, ours = _pair(layers=2)
    ids = torch.randint(1, VOCAB, (2, 6), generator=torch.Generator().manual_seed(5))
    token = ids[:, -1:]
    with torch.no_grad():  # pack the weights once, as an evaluation before training would
        ours(token, cache=output_cache(ours(ids, use_cache=True)), use_cache=True)
    optimizer = make_optimizer(
        ours.train(), TrainingArguments(output_dir="unused", learning_rate=0.05)
    )
    assert optimizer.defaults["fused"]
    ours(ids, labels=ids).loss.backward()
    optimizer.step()
    ours.eval()
    reference.load_state_dict(ours.state_dict())
    with torch.no_grad():
        outs = [
            m(token, cache=output_cache(m(ids, use_cache=True)), use_cache=True)
            for m in (ours, reference)
        ]
    assert _rel(outs[0].logits, outs[1].logits) < TOL
    assert calls["backbone"] == 2


def test_grad_mode_and_other_dtypes_use_transformers_step(calls):
    """The kernels record no autograd graph, so with grad on the step is transformers' own; a
    bfloat16 model is not fused either. Both still decode through the cache."""
    reference, ours = _pair()
    ids = torch.randint(1, VOCAB, (2, 5), generator=torch.Generator().manual_seed(4))
    outs = [m(ids, use_cache=True) for m in (ours, reference)]
    token = ids[:, -1:]
    steps = [
        m(token, cache=o.cache, use_cache=True)
        for m, o in zip((ours, reference), outs, strict=True)
    ]
    assert steps[0].logits.requires_grad
    assert _rel(steps[0].logits, steps[1].logits) < TOL
    half = copy.deepcopy(ours).to(torch.bfloat16)
    with torch.no_grad():
        out = half(ids, use_cache=True)
        half(token, cache=out.cache, use_cache=True)
    assert calls == {"backbone": 0, "mixer": 0}


def test_rows_split_across_threads_give_the_same_bits(monkeypatch):
    ours = _pair(hidden=32, state=16, layers=2)[1]
    ids, mask = _padded_batch(batch=5, length=8, pads=(0, 1, 2, 3, 7))
    runs = []
    for threads, min_work in ((1, 10**12), (2, 0), (3, 0)):
        monkeypatch.setattr(numba_mixer, "_threads", lambda threads=threads: threads)
        monkeypatch.setattr(numba_decode, "MIN_WORK_PER_THREAD", min_work)
        runs.append(_generate(ours, ids, mask, new_tokens=6))
    for other in runs[1:]:
        assert torch.equal(other.sequences, runs[0].sequences)
        assert all(torch.equal(a, b) for a, b in zip(other.logits, runs[0].logits, strict=True))


def test_reference_restores_transformers_classes(calls):
    model = _model()
    enable_fast_mamba(model, "numba")
    assert type(model.backbone) is FastMambaModel
    enable_fast_mamba(model, "reference")
    assert type(model.backbone) is MambaModel
    ids = torch.randint(1, VOCAB, (2, 5), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model(ids[:, -1:], cache=model(ids, use_cache=True).cache, use_cache=True)
    assert calls == {"backbone": 0, "mixer": 0}


def test_the_cache_check_still_runs_after_a_fused_step(monkeypatch):
    """A fused step tells the cache check its output is complete; that must not carry over to a
    later forward that is not fused (here a prompt whose mixers lose the cache)."""
    model = _model().eval()
    enable_fast_mamba(model, "numba")
    ids = torch.randint(1, VOCAB, (2, 5), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        model(ids[:, -1:], cache=model(ids, use_cache=True).cache, use_cache=True)
        forward = mamba_scan.FastMambaMixer._fast_forward

        def forgets_the_cache(self, hidden_states, cache, attention_mask, path):
            return forward(self, hidden_states, None, attention_mask, path)

        monkeypatch.setattr(mamba_scan.FastMambaMixer, "_fast_forward", forgets_the_cache)
        with pytest.raises(mamba_scan.MambaCacheError, match="left the generation cache empty"):
            model(ids, use_cache=True)


def test_fused_decode_off_keeps_transformers_step_after_our_prompt(calls):
    reference, ours = _pair(layers=2)
    assert enable_fast_mamba(ours, "numba", fused_decode=False) == "numba"
    assert type(ours.backbone) is MambaModel
    ids, mask = _padded_batch(batch=2, length=7, pads=(0, 3))
    _assert_same_generation(_generate(ours, ids, mask), _generate(reference, ids, mask))
    assert calls == {"backbone": 0, "mixer": 0}
    enable_fast_mamba(ours, "numba")
    assert type(ours.backbone) is FastMambaModel
    _assert_same_generation(_generate(ours, ids, mask), _generate(reference, ids, mask))
    assert calls == {"backbone": 15, "mixer": 0}
