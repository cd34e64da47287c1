"""Shared plumbing: errors, progress, run directories, safe checkpoint I/O, configs."""
