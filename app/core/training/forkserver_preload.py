"""Imported by the training forkserver only (see isolation.py), never by the worker:
the libraries a fit needs, imported once for every child forked from it, and stop
signals ignored in the forkserver and (inherited) in its children, because
supervisord and terminals signal the worker's whole process group and the worker
decides when a fit stops."""

import signal

import sklearn.ensemble
import sklearn.linear_model
import sklearn.tree

import app.core.training.trainer  # noqa: F401 - imported for the children

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)

__all__ = ["sklearn"]
