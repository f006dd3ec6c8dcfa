"""The vectorized engine: every rule condition evaluated over all enterprises at once.

The fast path (ARCHITECTURE.md): one pass of the expression tree per rule, Kleene logic for
missing values (SPEC "Rulebooks"). It returns the outcome frame ``policy.decide`` reads.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pricing.expr import vectorized


def rule_outcomes(compiled: Any, facts: pd.DataFrame) -> pd.DataFrame:
    """One nullable ``boolean`` column per rule id (True held, False, ``<NA>`` unknown)."""
    data = {
        rule.id: vectorized.evaluate(node, facts, compiled.tables).astype("boolean").array
        for rule, node in compiled.rules
    }
    return pd.DataFrame(data, index=facts.index, columns=[rule.id for rule, _ in compiled.rules])
