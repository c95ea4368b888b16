"""Column kinds of the filter index: reading only a few candidates' values gives the
same answer as comparing every slot, and slots moved by ``take`` keep their values."""

from __future__ import annotations

import random

import numpy as np
import pytest

from crosstalk_common.conditions.model import Op
from customers.adapters.filter_index.columns import Column, Numbers, Sets, Words

SIZE = 4_000


def _columns(rng: random.Random) -> dict[str, Column]:
    scores = [rng.randrange(-50, 100) for _ in range(SIZE)]
    amounts = [None if rng.random() < 0.3 else rng.random() * 1000 for _ in range(SIZE)]
    countries = [rng.choice(["DE", "VN", "", None, "FR"]) for _ in range(SIZE)]
    tags = Sets(0)
    tags.grow(SIZE)
    tags.set_many(
        np.arange(SIZE, dtype=np.intp),
        [
            set(rng.sample(["vip", "lead", "cold", "asked"], rng.randrange(0, 3)))
            for _ in range(SIZE)
        ],
    )
    return {
        "score": Numbers(scores, integer=True),
        "amount": Numbers(amounts, integer=False),
        "country": Words(countries),
        "tags": tags,
    }


LEAVES = [
    ("score", Op.GTE, (20,)),
    ("score", Op.BETWEEN, (0, 10)),
    ("score", Op.IN, (1, 2, 3)),
    ("amount", Op.LT, (250.5,)),
    ("score", Op.NOT_EQUALS, (5,)),
    ("amount", Op.GT, (900,)),
    ("country", Op.IN, ("DE", "VN")),
    ("country", Op.EQUALS, ("FR",)),
    ("country", Op.NOT_IN, ("DE",)),
    ("tags", Op.HAS_ANY_TAG, ("vip", "cold")),
    ("tags", Op.HAS_ALL_TAGS, ("vip", "lead")),
    ("tags", Op.HAS_NO_TAG, ("asked",)),
]


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: f"{leaf[0]}-{leaf[1]}")
def test_few_candidates_give_the_same_answer_as_all(
    leaf: tuple[str, Op, tuple[object, ...]],
) -> None:
    rng = random.Random(7)
    columns = _columns(rng)
    name, op, values = leaf
    few = np.zeros(SIZE, dtype=np.bool_)
    few[rng.sample(range(SIZE), 40)] = True  # 1%: read slot by slot
    everyone = np.ones(SIZE, dtype=np.bool_)
    dense = columns[name].match(op, values, everyone, SIZE)
    sparse = columns[name].match(op, values, few, SIZE)
    assert np.array_equal(sparse & few, dense & few)
    assert 0 < int(dense.sum()) < SIZE


def test_take_moves_every_value_with_its_slot() -> None:
    rng = random.Random(8)
    columns = _columns(rng)
    order = np.array(rng.sample(range(SIZE), SIZE), dtype=np.intp)
    before = {leaf: columns[leaf[0]].match(leaf[1], leaf[2], None, SIZE) for leaf in LEAVES}
    for column in columns.values():
        column.take(order)
    for leaf, mask in before.items():
        after = columns[leaf[0]].match(leaf[1], leaf[2], None, SIZE)
        assert np.array_equal(after, mask[order]), leaf
