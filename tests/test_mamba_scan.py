"""Our Mamba scan paths against transformers' own MambaMixer.forward (the reference).

Tolerance: 1e-5 relative, as max |ours - reference| / max |reference| per tensor, float32.
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, MambaConfig, MambaForCausalLM
from transformers.models.mamba.modeling_mamba import MambaMixer

from hf_copycot import mamba_scan
from hf_copycot.mamba_scan import SCAN_CHOICES, FastMambaMixer, enable_fast_mamba
from hf_copycot.ssm import numba_kernels, numba_mixer

# All of it relies on transformers' MambaMixer and cache internals: the drift alarm runs it.
pytestmark = pytest.mark.compat

TOL = 1e-5
VOCAB = 24


def _model(hidden=32, state=8, layers=2, seed=0, **config) -> MambaForCausalLM:
    torch.manual_seed(seed)
    cfg = MambaConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        state_size=state,
        num_hidden_layers=layers,
        use_cache=False,
        **config,
    )
    model = MambaForCausalLM(cfg)
    with torch.no_grad():  # move off the structured init (D = 1, A = 1..N) so every term matters
        for mixer in (m for m in model.modules() if isinstance(m, MambaMixer)):
            mixer.A_log.add_(0.3 * torch.randn_like(mixer.A_log))
            mixer.D.add_(0.5 * torch.randn_like(mixer.D))
            if mixer.conv1d.bias is not None:
                mixer.conv1d.bias.add_(0.2 * torch.randn_like(mixer.conv1d.bias))
            mixer.dt_proj.bias.add_(0.5 * torch.randn_like(mixer.dt_proj.bias))
    return model


def _rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def _padding_mask(batch: int, seq_len: int) -> torch.Tensor:
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    mask[0, : min(3, seq_len - 1)] = 0  # left padding, as batched generation pads
    if batch > 1:
        mask[-1, : seq_len // 2] = 0
    return mask


def _right_padding_mask(batch: int, seq_len: int) -> torch.Tensor:
    """Rows of different lengths padded on the right, as training batches are (one row ends
    inside a checkpoint segment, one is all padding)."""
    lengths = [seq_len, seq_len - 1, 17, 1, 0][:batch]
    return (torch.arange(seq_len) < torch.tensor(lengths)[:, None]).long()


def _train_step(model, ids, mask):
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(ids, attention_mask=mask, labels=ids)
    out.loss.backward()
    return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


CASES = [
    # (batch, seq_len, hidden, state, padding mask, extra config)
    (2, 37, 32, 8, False, {}),
    (3, 50, 40, 16, True, {}),  # D = 80: five SIMD blocks
    (1, 5, 20, 4, False, {}),  # D = 40: not a multiple of the 16-channel block (padded)
    (2, 70, 16, 16, True, {"use_conv_bias": False, "conv_kernel": 3}),  # L > 4 checkpoints
    (2, 1, 16, 4, True, {}),
    # right padding, with labels on the padding too (`_train_step`: gradient reaches its outputs)
    (5, 40, 32, 16, "right", {}),
    (4, 19, 16, 4, "right", {"use_conv_bias": False, "conv_kernel": 3}),
]


@pytest.mark.parametrize("scan", ["numba", "chunked"])
@pytest.mark.parametrize(("batch", "seq_len", "hidden", "state", "pad", "config"), CASES)
def test_training_outputs_and_every_gradient_match_reference(
    scan, batch, seq_len, hidden, state, pad, config
):
    reference = _model(hidden, state, **config)
    ours = copy.deepcopy(reference)
    assert enable_fast_mamba(ours, scan) == scan
    ids = torch.randint(0, VOCAB, (batch, seq_len), generator=torch.Generator().manual_seed(1))
    padding = {False: None, True: _padding_mask, "right": _right_padding_mask}[pad]
    mask = padding and padding(batch, seq_len)
    ref_logits, ref_grads = _train_step(reference, ids, mask)
    logits, grads = _train_step(ours, ids, mask)
    assert _rel(logits, ref_logits) < TOL
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert _rel(grad, ref_grads[name]) < TOL, name


def test_numba_splits_channels_across_threads_when_batch_is_small():
    """With batch 1 the backward splits channels into groups; their partial sums must agree."""
    reference = _model(hidden=64, state=16)
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, "numba")
    ids = torch.randint(0, VOCAB, (1, 40), generator=torch.Generator().manual_seed(2))
    logits, grads = _train_step(ours, ids, None)
    ref_logits, ref_grads = _train_step(reference, ids, None)
    assert _rel(logits, ref_logits) < TOL
    for name, grad in grads.items():
        assert _rel(grad, ref_grads[name]) < TOL, name


@pytest.mark.parametrize("batch", [1, 3])
def test_kernel_gradients_are_bitwise_equal_for_any_thread_count(batch, monkeypatch):
    """How the kernels split work over threads (torch's OpenMP team or our pool) must not change
    a bit of any output or gradient (torch's own matmuls may still round differently at another
    torch thread count)."""
    gen = torch.Generator().manual_seed(6)
    dim, n_state, rank = 48, 16, 3
    xz = torch.randn(batch, 29, 2 * dim, generator=gen, requires_grad=True)
    params = [
        torch.randn(dim, 1, 4, generator=gen),
        torch.randn(dim, generator=gen),
        0.3 * torch.randn(rank + 2 * n_state, dim, generator=gen),
        0.3 * torch.randn(dim, rank, generator=gen),
        torch.randn(dim, generator=gen) - 2,
        torch.randn(dim, n_state, generator=gen),
        torch.randn(dim, generator=gen),
    ]
    params = [p.requires_grad_() for p in params]
    mask = _padding_mask(batch, 29)
    results = []
    for count, torch_team in [(1, True), (2, True), (3, True), (2, False), (3, False)]:
        monkeypatch.setattr(numba_mixer, "_threads", lambda count=count: count)
        monkeypatch.setattr(numba_mixer, "use_torch_team", torch_team)
        y, _ = numba_mixer.numba_mixer_inner(xz, *params, mask)
        results.append((y, *torch.autograd.grad(y.square().sum(), [xz, *params])))
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))


def test_gradient_checkpointing_gives_the_same_gradients():
    reference = _model()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, "numba")
    ours.activation_checkpointing_enable()
    ids = torch.randint(0, VOCAB, (2, 21), generator=torch.Generator().manual_seed(3))
    _, ref_grads = _train_step(reference, ids, None)
    _, grads = _train_step(ours, ids, None)
    for name, grad in grads.items():
        assert _rel(grad, ref_grads[name]) < TOL, name


@pytest.mark.parametrize("scan", ["numba", "chunked"])
def test_inference_forward_and_cache_state_match_reference(scan):
    reference = _model(hidden=32, state=16).eval()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, scan)
    ids = torch.randint(0, VOCAB, (3, 19), generator=torch.Generator().manual_seed(4))
    mask = _padding_mask(3, 19)
    with torch.no_grad():
        ref = reference(ids, attention_mask=mask, use_cache=True)
        out = ours(ids, attention_mask=mask, use_cache=True)
    assert _rel(out.logits, ref.logits) < TOL
    for layer, ref_layer in zip(out.cache.layers, ref.cache.layers, strict=True):
        assert _rel(layer.conv_states[0], ref_layer.conv_states[0]) < TOL
        state, ref_state = layer.recurrent_states[0], ref_layer.recurrent_states[0]
        assert state.shape == ref_state.shape and state.dtype == ref_state.dtype
        assert _rel(state, ref_state) < TOL


@pytest.mark.parametrize("scan", ["numba", "chunked"])
@pytest.mark.parametrize("prompt_len", [1, 2, 12])
def test_generate_gives_identical_tokens(scan, prompt_len):
    reference = _model(hidden=32, state=16).eval()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, scan)
    ids = torch.randint(0, VOCAB, (3, prompt_len), generator=torch.Generator().manual_seed(5))
    mask = _padding_mask(3, prompt_len) if prompt_len > 1 else None
    kwargs = {"max_new_tokens": 16, "do_sample": False, "pad_token_id": 0}
    expected = reference.generate(ids, attention_mask=mask, **kwargs)
    got = ours.generate(ids, attention_mask=mask, **kwargs)
    assert torch.equal(got, expected)


GENERATE_CONFIGS = [
    # (hidden, state, layers, extra config)
    (32, 16, 2, {}),
    (40, 4, 3, {"conv_kernel": 3}),  # D = 80 channels, a short conv
    (16, 8, 1, {"use_conv_bias": False, "time_step_rank": 2}),
]


def _forward_lengths(model) -> list[int]:
    """Record the sequence length of every backbone forward (to see whether the cache is used)."""
    lengths: list[int] = []

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        lengths.append((ids if ids is not None else embeds).shape[1])

    model.backbone.register_forward_pre_hook(hook, with_kwargs=True)
    return lengths


@pytest.mark.parametrize("scan", ["numba", "chunked"])
@pytest.mark.parametrize(("hidden", "state", "layers", "config"), GENERATE_CONFIGS)
def test_generate_with_padding_equals_reference_and_decodes_one_token_at_a_time(
    scan, hidden, state, layers, config
):
    """Greedy generate, batch 4 with left padding: the same tokens as transformers' own path, and
    every step after the prompt feeds one token (the cache holds the states). transformers 5.24
    renamed the mixer's cache keyword; the patched mixer then left the cache empty and `generate`
    re-read the whole sequence at every token: right tokens, quadratic time."""
    reference = _model(hidden, state, layers, **config).eval()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, scan)
    ids = torch.randint(1, VOCAB, (4, 23), generator=torch.Generator().manual_seed(11))
    mask = torch.ones_like(ids)
    for row, pad in enumerate((0, 5, 1, 17)):
        mask[row, :pad] = 0
        ids[row, :pad] = 0
    kwargs = {"max_new_tokens": 20, "do_sample": False, "pad_token_id": 0, "eos_token_id": None}
    kwargs |= {"use_cache": True, "output_logits": True, "return_dict_in_generate": True}
    expected = reference.generate(ids, attention_mask=mask, **kwargs)
    lengths = _forward_lengths(ours)
    got = ours.generate(ids, attention_mask=mask, **kwargs)
    assert torch.equal(got.sequences, expected.sequences)
    # Logits at every step, not only tokens: a random model's argmax often ignores the history,
    # so equal tokens alone can hide a wrong state (they did under transformers 5.24).
    for step, (logits, ref_logits) in enumerate(zip(got.logits, expected.logits, strict=True)):
        assert _rel(logits, ref_logits) < 1e-4, step
    assert lengths == [23] + [1] * 19


@pytest.mark.parametrize("scan", ["numba", "chunked"])
def test_one_token_at_a_time_loop_equals_reference(scan):
    """The loop the Space and the cost study run (prompt, then one token per call with the cache
    the model returned) gives transformers' tokens and logits."""
    from hf_copycot.inference_cost import greedy_stream, output_cache

    reference = _model(hidden=32, state=16).eval()
    ours = copy.deepcopy(reference)
    enable_fast_mamba(ours, scan)
    ids = torch.randint(1, VOCAB, (1, 30), generator=torch.Generator().manual_seed(12))
    expected = [s.token_id for s in greedy_stream(reference, ids, max_new_tokens=20)]
    assert [s.token_id for s in greedy_stream(ours, ids, max_new_tokens=20)] == expected
    with torch.no_grad():
        caches = [None, None]
        for token in [ids, *(torch.tensor([[t]]) for t in expected[:-1])]:
            outputs = [
                model(token, cache=cache, use_cache=True)
                for model, cache in zip((ours, reference), caches, strict=True)
            ]
            caches = [output_cache(out) for out in outputs]
            assert _rel(outputs[0].logits[:, -1], outputs[1].logits[:, -1]) < 1e-4


def test_an_empty_cache_after_the_prompt_raises_one_line_naming_the_way_out(monkeypatch):
    """If a transformers change keeps the cache from the fast path, the model says so and how to
    get out, instead of generating wrong or quadratic."""
    import transformers

    model = _model().eval()
    enable_fast_mamba(model, "numba")
    forward = FastMambaMixer._fast_forward

    def forgets_the_cache(self, hidden_states, cache, attention_mask, path):
        return forward(self, hidden_states, None, attention_mask, path)

    monkeypatch.setattr(FastMambaMixer, "_fast_forward", forgets_the_cache)
    ids = torch.randint(1, VOCAB, (2, 9), generator=torch.Generator().manual_seed(13))
    with pytest.raises(mamba_scan.MambaCacheError) as err:
        model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0, use_cache=True)
    message = str(err.value)
    assert "\n" not in message
    assert f"transformers {transformers.__version__}" in message
    assert "--mamba_scan reference" in message and "left the generation cache empty" in message
    model(ids, use_cache=False)  # no cache asked for: nothing to check, no error


def test_a_cache_under_an_unknown_keyword_raises(monkeypatch):
    from transformers import DynamicCache

    model = _model().eval()
    enable_fast_mamba(model, "numba")
    mixer = model.backbone.layers[0].mixer
    hidden = torch.randn(1, 4, mixer.hidden_size)
    with pytest.raises(mamba_scan.MambaCacheError, match="received its cache as 'state_cache'"):
        mixer(hidden, state_cache=DynamicCache(config=model.config))


def test_the_reference_path_has_no_cache_check_and_a_copy_keeps_one():
    model = _model()
    enable_fast_mamba(model, "numba")
    enable_fast_mamba(model, "numba")  # idempotent: one hook
    hooks = model.backbone._forward_hooks.values()
    assert list(hooks).count(mamba_scan._check_cache_filled) == 1
    twin = copy.deepcopy(model)
    enable_fast_mamba(twin, "chunked")
    assert list(model.backbone._forward_hooks.values()).count(mamba_scan._check_cache_filled) == 1
    assert list(twin.backbone._forward_hooks.values()).count(mamba_scan._check_cache_filled) == 1
    enable_fast_mamba(model, "reference")
    assert mamba_scan._check_cache_filled not in model.backbone._forward_hooks.values()


def test_checkpoint_is_unchanged_and_loads_without_the_patch(tmp_path):
    reference = _model()
    ours = copy.deepcopy(reference)
    state_before = {k: v.clone() for k, v in ours.state_dict().items()}
    enable_fast_mamba(ours, "numba")
    assert type(ours) is MambaForCausalLM
    assert ours.state_dict().keys() == state_before.keys()
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in state_before.items())
    reference.save_pretrained(tmp_path / "reference")
    ours.save_pretrained(tmp_path / "ours")
    names = sorted(p.name for p in (tmp_path / "reference").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ours").iterdir())
    for name in names:  # byte-identical: loads wherever an unpatched checkpoint loads
        assert (tmp_path / "ours" / name).read_bytes() == (
            tmp_path / "reference" / name
        ).read_bytes(), name
    loaded = MambaForCausalLM.from_pretrained(tmp_path / "ours")
    assert {type(m) for m in loaded.modules() if isinstance(m, MambaMixer)} == {MambaMixer}


def test_auto_picks_numba_on_cpu_and_logs_the_choice_once(caplog, monkeypatch):
    monkeypatch.setattr(mamba_scan, "_logged", set())
    model = _model()
    with caplog.at_level(logging.INFO, logger="hf_copycot.mamba_scan"):
        assert enable_fast_mamba(model) == "numba"
        assert enable_fast_mamba(model, "auto") == "numba"
        model(torch.zeros(1, 3, dtype=torch.long))  # the forward resolves the same path again
    records = [r for r in caplog.records if r.name == "hf_copycot.mamba_scan"]
    assert len(records) == 1 and "numba on cpu" in records[0].getMessage()
    assert all(type(m) is FastMambaMixer for m in model.modules() if isinstance(m, MambaMixer))
    assert mamba_scan.active_scan(model) == "numba"


def test_auto_follows_the_model_to_another_device():
    """The model factory patches on CPU and moves the model afterwards: "auto" must follow."""
    model = _model()
    assert enable_fast_mamba(model) == "numba"
    model.to("meta")
    expected = "cuda" if mamba_scan.cuda_kernels_available() else "chunked"
    assert mamba_scan.path_for("auto", torch.device("cuda"))[0] == expected
    assert mamba_scan.active_scan(model) == "chunked"
    path, why = mamba_scan.path_for("numba", torch.device("mps"))
    assert path == "chunked" and why.startswith("cannot")


def test_forced_cuda_waits_for_a_gpu_and_fails_in_one_line_on_cpu(monkeypatch):
    monkeypatch.setattr(mamba_scan, "cuda_kernels_available", lambda: True)
    model = _model()
    assert enable_fast_mamba(model, "cuda") == "cuda"  # the factory moves the model later
    with pytest.raises(ValueError, match="move it to a GPU") as err:
        model(torch.zeros(1, 3, dtype=torch.long))
    assert "\n" not in str(err.value)


def _train_weights(steps: int = 2) -> dict[str, torch.Tensor]:
    model = _model(hidden=48, state=16, seed=7)
    enable_fast_mamba(model, "numba")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(0, VOCAB, (3, 41), generator=torch.Generator().manual_seed(8))
    for _ in range(steps):
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_is_bitwise_reproducible():
    """Same seed, same weights, bit for bit: the kernels' parallel partial sums are reduced in a
    fixed order (and the split of work over threads does not depend on timing)."""
    first, second = _train_weights(), _train_weights()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_forcing_each_path_and_restoring_the_reference():
    model = _model()
    assert enable_fast_mamba(model, "chunked") == "chunked"
    assert mamba_scan.active_scan(model) == "chunked"
    assert enable_fast_mamba(model, "reference") == "reference"
    mixers = [m for m in model.modules() if isinstance(m, MambaMixer)]
    assert all(type(m) is MambaMixer and "copycot_scan" not in vars(m) for m in mixers)
    assert mamba_scan.active_scan(model) == "reference"
    assert set(SCAN_CHOICES) == {"auto", "cuda", "numba", "chunked", "reference"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_bad_choices_fail_with_one_line_errors():
    model = _model()
    with pytest.raises(ValueError, match="is not one of") as err:
        enable_fast_mamba(model, "fast")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="needs mamba-ssm"):
        enable_fast_mamba(model, "cuda")
    neox = GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=VOCAB,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    with pytest.raises(ValueError, match="has no transformers MambaMixer"):
        enable_fast_mamba(neox)


EPS32 = float(np.finfo(np.float32).eps)  # 2**-23, the spacing of float32 just above 1


def test_kernel_exp_and_softplus_are_accurate():
    """The bounds are what the kernels promise (numba_kernels' docstring), in units of float32's
    epsilon, with room for rounding that differs between machines (fastmath lets LLVM contract
    a*b+c into an FMA or not, depending on the CPU). Measured on a 2-core EPYC: exp 0.8 eps,
    softplus 2.1 eps, sigmoid 0.74 eps; another machine gave sigmoid 1.17 eps (1.39e-7), which
    failed the old fixed 1e-7."""
    x = np.linspace(-87.0, 88.0, 200_001, dtype=np.float32)
    out = np.empty_like(x)
    numba_kernels.exp_array(x, out)
    assert np.max(np.abs(out / np.exp(x.astype(np.float64)) - 1.0)) < 4 * EPS32
    x = np.linspace(-40.0, 40.0, 200_001, dtype=np.float32)
    softplus, sigmoid = np.empty_like(x), np.empty_like(x)
    numba_kernels.softplus_sigmoid_array(x, softplus, sigmoid)
    x64 = x.astype(np.float64)
    assert np.max(np.abs(softplus / np.logaddexp(0.0, x64) - 1.0)) < 16 * EPS32
    assert np.max(np.abs(sigmoid - 1.0 / (1.0 + np.exp(-x64)))) < 4 * EPS32


def test_kernels_compile_without_a_writable_cache(monkeypatch):
    """numba raises RuntimeError at decoration when no cache dir is writable; we compile uncached."""
    calls = []

    def fake_njit(**options):
        calls.append(options["cache"])
        if options["cache"]:
            raise RuntimeError("cannot cache function: no locator available")
        return lambda fn: fn

    monkeypatch.setattr(numba_kernels, "njit", fake_njit)
    fn = numba_kernels._kernel(nogil=True)(lambda x: x + 1)
    assert fn(1) == 2 and calls == [True, False]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scan", ["auto", "chunked"])
def test_gpu_paths_match_reference(scan):
    reference = _model(hidden=64, state=16).cuda()
    ours = copy.deepcopy(reference)
    kernels = mamba_scan.cuda_kernels_available()
    used = enable_fast_mamba(ours, scan)
    assert used == ("chunked" if scan == "chunked" or not kernels else "cuda")
    ids = torch.randint(0, VOCAB, (2, 45), device="cuda")
    mask = _padding_mask(2, 45).cuda()
    ref_logits, ref_grads = _train_step(reference, ids, mask)
    logits, grads = _train_step(ours, ids, mask)
    # with mamba-ssm installed the reference runs its kernels too, which sum in another order
    tol = 1e-3 if kernels else TOL
    assert _rel(logits, ref_logits) < tol
    for name, grad in grads.items():
        assert _rel(grad, ref_grads[name]) < tol, name


def test_first_kernel_call_keeps_torch_thread_count():
    """numba's thread layer resets OpenMP's thread count when it starts; we restore torch's."""
    script = (
        "import torch\n"
        "torch.set_num_threads(1)\n"
        "from transformers import MambaConfig, MambaForCausalLM\n"
        "from hf_copycot.mamba_scan import enable_fast_mamba\n"
        "m = MambaForCausalLM(MambaConfig(vocab_size=8, hidden_size=16, num_hidden_layers=1))\n"
        "enable_fast_mamba(m, 'numba')\n"
        "ids = torch.zeros(1, 4, dtype=torch.long)\n"
        "m(ids, labels=ids).loss.backward()\n"
        "print(torch.get_num_threads())\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "1"
