"""Evaluation: drawing samples from a trained generator and scoring their quality."""
