"""hf-copycot: can a Mamba do what a Transformer does on COPY, lookup and chain-of-thought DP?"""

__version__ = "0.1.0"
# Where the code lives: dataset cards, model cards and metric infos link to it (the metric modules
# in eval/ repeat it, being self-contained; a test keeps them equal).
CODE_URL = "https://github.com/hf-copycot/hf-copycot"
