import pytest

from csslab.scenarios.tasks import Task, make_tasks, parse_class_order, parse_split


@pytest.mark.parametrize("split, sizes", [
    ("2-2-2-2-2", (2, 2, 2, 2, 2)),
    ("6-1", (6, 1, 1, 1, 1)),
    ("5-5", (5, 5)),
    ("9-1", (9, 1)),
    ("10", (10,)),
    ("4-2", (4, 2, 2, 2)),
    ("3-3-4", (3, 3, 4)),
])
def test_parse_split(split, sizes):
    assert parse_split(split) == sizes


@pytest.mark.parametrize("split", ["", "2-2-2", "0-10", "2--2", "a-b", "6-4-1", "7-2", "11", "-5-5", "5-5-", "2.5-7.5"])
def test_invalid_splits_name_the_value(split):
    with pytest.raises(ValueError, match="split"):
        parse_split(split)


def test_tasks_of_a_split_natural_order():
    tasks = make_tasks("6-1")
    assert tasks[0] == Task(0, (0, 1, 2, 3, 4, 5), ())
    assert tasks[2] == Task(2, (7,), (0, 1, 2, 3, 4, 5, 6))
    assert [t.n_old for t in tasks] == [1, 7, 8, 9, 10]


def test_explicit_and_random_class_orders():
    tasks = make_tasks("5-5", "9,8,7,6,5,4,3,2,1,0")
    assert tasks[1].classes == (4, 3, 2, 1, 0)
    assert tasks[1].old_classes == (9, 8, 7, 6, 5)
    a, b = parse_class_order("random:3"), parse_class_order("random:3")
    assert a == b and sorted(a) == list(range(10)) and a != tuple(range(10))
    assert parse_class_order("random:4") != a


@pytest.mark.parametrize("order", ["1,2,3", "0,0,1,2,3,4,5,6,7,8", "random:x", "x,y", [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]])
def test_invalid_class_orders(order):
    with pytest.raises(ValueError, match="class order"):
        parse_class_order(order)
