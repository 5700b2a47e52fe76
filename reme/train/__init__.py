"""Trainers of the decision policies (``reme train-policy``): one readable file per algorithm."""
