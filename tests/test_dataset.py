def test_spread_keeps_the_sets_mix():
    from eval.dataset import spread

    items = ["fact"] * 150 + ["unanswerable"] * 75
    picked = spread(items, 45)
    assert len(picked) == 45
    assert picked.count("unanswerable") == 15
    assert spread(items, None) == items and spread(items, 500) == items
    assert spread(items, 0) == []
    assert spread(list(range(10)), 3) == [0, 3, 6]


def test_spread_with_an_offset_is_another_slice_with_the_same_mix():
    from eval.dataset import spread

    items = ["fact"] * 150 + ["unanswerable"] * 75
    first, second = spread(list(range(225)), 45), spread(list(range(225)), 45, 2)
    assert len(second) == 45 and not set(first) & set(second)
    assert spread(items, 45, 2).count("unanswerable") == 15
    assert spread(list(range(10)), 3, 2) == [2, 5, 8]
    assert spread(list(range(10)), 3, 9) == [9, 2, 5]  # wraps round
    assert spread(list(range(10)), None, 2) == list(range(10))
