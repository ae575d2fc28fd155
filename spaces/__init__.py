"""The Gradio Spaces; installed as `hf_copycot.spaces` (pyproject.toml maps that package here), so
`copycot space` serves the same app from a wheel as from a clone."""
