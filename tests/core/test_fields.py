"""Input field checks shared by every block and graph."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen.core.fields import check_lengths


def test_graph_fields_agree_node_by_node():
    """A graph's nodes take their own numbers of items (one LayerNorm, two softmax ops); the
    fields of one node must still agree, and a block's own fields all together."""
    graph_inputs = {"ln1.op": np.zeros(1), "ln1.length": np.zeros(1),
                    "softmax.op": np.zeros(2), "softmax.length": np.zeros(2)}
    check_lengths("layer", graph_inputs, list(graph_inputs))
    with pytest.raises(ValueError, match=r"layer fields 'softmax.op' 2, 'softmax.length' 3 differ in length"):
        check_lengths("layer", {**graph_inputs, "softmax.length": np.zeros(3)}, list(graph_inputs))
    with pytest.raises(ValueError, match=r"fp_add fields 'a' 2, 'b' 3 differ in length"):
        check_lengths("fp_add", {"a": np.zeros(2), "b": np.zeros(3)}, ["a", "b"])
