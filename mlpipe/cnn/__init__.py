"""Morphology CNNs: GZ2 normalisation layer, ResNet50 / Xception / custom CNN, M/L fine-tuning."""
