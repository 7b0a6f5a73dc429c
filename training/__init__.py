"""Stemweave training: data preparation, augmentation, losses, training loop, evaluation, synth."""
