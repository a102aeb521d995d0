"""Explanations of Neoadj-Net predictions (Captum), in each modality's own geometry (Qt-free)."""
