"""Sampling: ODE solvers and the Generator that wraps a trained network."""
