"""The papers' own numbers, quoted beside ours, each with where we read it.

One place for every quote, so that a study shares one (m_locality cites Ren et al.'s Theorem 5
like dp_cot) without importing another study, and a reader checking a source finds them all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anchor:
    """A paper's own number, quoted beside ours."""

    paper: str  # "Jelassi et al. 2024"
    where: str  # figure or table, or "text" when its number could not be checked
    value: str  # what the paper reports
    scale: str  # the models and data behind it
    source: str  # where we read it


JELASSI = "arXiv 2402.01032, as summarised by a secondary source; not verified against the PDF"
REN = "arXiv 2410.03810, as summarised by a secondary source; not verified against the PDF"

JELASSI_LENGTH_GENERALISATION = Anchor(
    "Jelassi et al. 2024",
    "copy length generalisation (figure number not checked here)",
    "trained on strings of length <= 50 and tested up to 1,000, every model copies in "
    "distribution; Mamba's accuracy drops to zero almost immediately beyond the training "
    "length, a Transformer's decays gradually, and one with Hard-ALiBi stays near perfect "
    "up to 1,000",
    "about 160M-parameter models, 26-letter alphabet",
    JELASSI,
)
JELASSI_SAMPLE_EFFICIENCY = Anchor(
    "Jelassi et al. 2024",
    "copy sample efficiency (figure number not checked here)",
    "on strings of length up to 300, Transformers need about 100x fewer training samples "
    "than the best GSSM to copy; the LSTM never learns at length 300",
    "about 160M-parameter models",
    JELASSI,
)
JELASSI_STATE_BOUND = Anchor(
    "Jelassi et al. 2024",
    "Theorem 2.7 / Corollary 2.8 (numbering as summarised)",
    "a model with a fixed state copies strings of length L over D symbols with error above "
    "1/2 once its state holds fewer than about L log2 D bits",
    "a bound for any generalized state space model",
    JELASSI,
)
JELASSI_PHONEBOOK = Anchor(
    "Jelassi et al. 2024",
    "phone-book lookup with pretrained models (figure number not checked here)",
    "the smallest Transformer (Pythia 410M) outperforms the largest GSSM (Mamba 2.8B) once "
    "the phone book is long enough (L >= 70 entries)",
    "Pythia 410M / 1.4B / 2.8B vs Mamba 370M / 1.4B / 2.8B, pretrained on the Pile",
    "arXiv 2402.01032, as summarised by a secondary source; model list from "
    "github.com/sjelassi/transformers_ssm_copy",
)
REN_COPY_TRAINING = Anchor(
    "Ren et al. 2024",
    "COPY training experiment (figure number not checked here)",
    "as N_max grows Mamba needs sharply more training data; at N_max = 40 Mamba fails to "
    "learn while a Transformer trains stably",
    "the paper's from-scratch Mamba and Transformer models",
    REN,
)
REN_COPY_THEOREMS = Anchor(
    "Ren et al. 2024",
    "Theorems 1-3 (as summarised)",
    "a constant-size Mamba needs exponentially growing scores to copy from distance L; a "
    "Mamba whose size grows linearly with the length can copy exactly",
    "theory",
    REN,
)
REN_THEOREM_5 = Anchor(
    "Ren et al. 2024",
    "Theorem 5 and the CoT experiments (as summarised)",
    "a constant-size Mamba of size O(m) with CoT solves an m-locality DP; in their CoT "
    "experiments (LIS, arithmetic) the Transformer is consistently more accurate than Mamba",
    "the paper's from-scratch models",
    REN,
)
FENG_DP = Anchor(
    "Feng et al. 2023",
    "LIS and ED results (assets/result.png and logs of the authors' repository; the paper's "
    "main results figure)",
    "test accuracy with CoT (3 layers) 99.5% / 99.8% / 99.99% on LIS n = 50 / 80 / 100 and "
    "100% / 100% / 99.99% on ED n = 12 / 16 / 20, against 64.4 / 30.0 / 22.6% and "
    "75.2 / 54.7 / 42.6% for 3-layer direct models (5 layers: 95.9 / 75.2 / 55.1% and "
    "93.4 / 79.9 / 64.0%)",
    "Transformers of width 256, 1M training problems, mean of 4 seeds at epoch 99",
    "github.com/guyuntian/CoT_benchmark (logs/LIS, logs/edit_distance)",
)
