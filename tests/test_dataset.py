def test_spread_keeps_the_sets_mix():
    from eval.dataset import spread

    items = ["fact"] * 150 + ["unanswerable"] * 75
    picked = spread(items, 45)
    assert len(picked) == 45
    assert picked.count("unanswerable") == 15
    assert spread(items, None) == items and spread(items, 500) == items
    assert spread(items, 0) == []
    assert spread(list(range(10)), 3) == [0, 3, 6]
