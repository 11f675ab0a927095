"""SERAC: a scope classifier routes each query to a counterfactual model or to the base model.

Modules: `scope` (the classifier and its inference), `data` (training pairs with hard negatives),
`train` (the classifier's training command), `counterfactual` (the counterfactual model's
training command), `prompt` (that model's prompt and abstention), `schedule` (what the two
training commands share), `route` (SERAC on an Answerer). Nothing is imported here, so that
importing the package stays light; torch loads with `scope`.
"""
from __future__ import annotations
