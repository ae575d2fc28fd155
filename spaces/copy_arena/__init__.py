"""The copy arena Space: `app.py` lays out `hf_copycot.arena` in Gradio and serves it."""
