"""Evaluation of the shipped heads on any folder in the real data layouts.

    from lstm_apps.eval.speech import evaluate_speech, format_report         # clip accuracy
    from lstm_apps.eval.stream import evaluate_stream, format_stream_report  # keyword spotting

A model is a bundle folder (onnxruntime only) or a training run folder (torch).
"""
