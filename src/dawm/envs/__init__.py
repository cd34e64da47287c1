"""Gymnasium MuJoCo environments: evaluation, behaviour policies, collection, simulator checks.

The per-env facts (reference scores, termination rules) live on the ground floor, in dawm.utils.env_specs.
"""
