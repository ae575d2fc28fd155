"""hf-copycot: can a Mamba do what a Transformer does on COPY, lookup and chain-of-thought DP?"""

__version__ = "0.1.0"
