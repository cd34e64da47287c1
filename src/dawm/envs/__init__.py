"""Gymnasium MuJoCo environments: specs, evaluation, behaviour policies, collection, simulator checks."""
