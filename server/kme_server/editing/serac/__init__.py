"""SERAC: a scope classifier routes each query to a counterfactual model or to the base model.

Modules: `scope` (the classifier and its inference), `data` (training pairs with hard negatives),
`train` (the training command). Nothing is imported here, so that importing the package stays
light; torch loads with `scope`.
"""
from __future__ import annotations
