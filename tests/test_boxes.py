import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from visionr1.boxes import as_boxes, clip, columns, giou_matrix, iou_aligned, iou_indexed, iou_matrix, l1_matrix, pack
from visionr1.rewards.matching import canonical_order, match_batch


def test_iou_aligned_hand_values():
    a = as_boxes([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 9]])
    b = as_boxes([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30], [5, 5, 5, 9]])
    np.testing.assert_allclose(iou_aligned(a, b), [1.0, 0.5, 0.0, 0.0])  # degenerate: empty union -> 0


def test_giou_matches_definition():
    a = as_boxes([[0, 0, 10, 10]])
    b = as_boxes([[0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 5]])
    # disjoint: IoU 0, hull 300, union 200 -> -1/3; half: IoU 0.5, hull = union
    np.testing.assert_allclose(giou_matrix(a, b), [[1.0, -1 / 3, 0.5]])
    assert giou_matrix(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32


def test_l1_and_clip():
    np.testing.assert_allclose(l1_matrix(as_boxes([[0, 0, 1, 1]]), as_boxes([[1, 1, 2, 2], [0, 0, 1, 1]])),
                               [[4.0, 0.0]])
    np.testing.assert_allclose(clip(as_boxes([[-5, 2, 120, 60]]), 100, 50), [[0, 2, 100, 50]])
    assert as_boxes([]).shape == (0, 4)


number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-(2**40), 2**40))
quads = st.lists(st.one_of(st.tuples(number, number, number, number), st.lists(number, min_size=4, max_size=4)),
                 max_size=40)


@settings(max_examples=300, deadline=None)
@given(quads)
def test_pack_equals_numpy(qs):
    """Both paths of ``pack`` (msgpack layout for 4 floats, struct for anything else) give np.array's values."""
    np.testing.assert_array_equal(pack(qs), np.array(qs, dtype=np.float64).reshape(-1, 4))


@pytest.mark.parametrize("n", [15, 16, 65535, 65536])  # the msgpack array header grows at 16 and 65536 items
def test_pack_array_header_sizes(n):
    qs = [(i + 0.5, -i - 0.25, 1e300, -0.0) for i in range(n)]
    np.testing.assert_array_equal(pack(qs), np.array(qs))
    assert pack(qs).flags.writeable and pack(qs).flags.c_contiguous


@pytest.mark.parametrize("bad", [[[1.0, 2.0, 3.0]], [[1, 2, 3], [4, 5, 6, 7, 8]], [[1.0, 2.0, "3", 4.0]],
                                 [[1.0, 2.0, None, 4.0]], [[1.0, 2.0, 3.0, 4.0, 5.0]]])
def test_pack_rejects_anything_but_4_numbers(bad):
    with pytest.raises(ValueError, match="4 numbers"):
        pack(bad)


box = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 30), st.integers(0, 30)).map(
    lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]])


@settings(max_examples=200, deadline=None)
@given(st.lists(box, min_size=1, max_size=12), st.lists(box, min_size=1, max_size=12))
def test_iou_indexed_equals_iou_matrix(a, b):
    a, b = as_boxes(a), as_boxes(b)
    i, j = np.divmod(np.arange(len(a) * len(b)), len(b))
    np.testing.assert_array_equal(iou_indexed(columns(np.concatenate([a, b])), i, j + len(a)),
                                  iou_matrix(a, b).reshape(-1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(box, max_size=9), st.lists(box, max_size=9)), min_size=1, max_size=6),
       st.booleans())
def test_match_batch_is_scipy_per_completion(batch, labelled):
    """Vectorised IoUs, chunking and the bookkeeping give exactly the pairs of scipy on each completion's own
    cost matrix (predictions in canonical order)."""
    preds, gts = [as_boxes(p) for p, _ in batch], [as_boxes(g) for _, g in batch]
    pl = [np.arange(len(p)) % 2 for p in preds] if labelled else None
    gl = [np.arange(len(g)) % 3 % 2 for g in gts] if labelled else None
    off = lambda xs: np.cumsum([0] + [len(x) for x in xs])  # noqa: E731
    matcher = "box+label" if labelled else "box"
    got = match_batch(np.concatenate(preds), off(preds), np.concatenate(gts), off(gts),
                      np.concatenate(pl) if labelled else None, np.concatenate(gl) if labelled else None, matcher)
    assert len(got) == len(batch)
    for k, (p, g) in enumerate(zip(preds, gts, strict=True)):
        order = canonical_order(p, np.zeros(len(p), int), pl[k] if labelled else None)
        iou = iou_matrix(p[order], g)
        cost = -iou + (pl[k][order][:, None] != gl[k][None, :]) if labelled else -iou
        rows, cols = linear_sum_assignment(cost)
        m = got[k]
        assert sorted(zip(m.pred.tolist(), m.gt.tolist(), strict=True)) == \
            sorted(zip(order[rows].tolist(), cols.tolist(), strict=True))
        np.testing.assert_array_equal(np.sort(m.iou), np.sort(iou[rows, cols]))


def test_match_batch_across_chunks():
    """A batch of ~40k pairs runs in several vectorised passes (and one completion larger than a pass)."""
    rng = np.random.default_rng(0)
    sizes = [(int(rng.integers(0, 41)), int(rng.integers(0, 31))) for _ in range(80)] + [(120, 100)]
    def boxes(n):
        xy = rng.integers(0, 80, (n, 2))
        return as_boxes(np.concatenate([xy, xy + rng.integers(1, 30, (n, 2))], axis=1))
    preds, gts = [boxes(m) for m, _ in sizes], [boxes(n) for _, n in sizes]
    off = lambda xs: np.cumsum([0] + [len(x) for x in xs])  # noqa: E731
    got = match_batch(np.concatenate(preds), off(preds), np.concatenate(gts), off(gts))
    assert sum(m * n for m, n in sizes) > 4 * 8192
    for k, (p, g) in enumerate(zip(preds, gts, strict=True)):
        iou = iou_matrix(p[canonical_order(p, np.zeros(len(p), int))], g)
        rows, cols = linear_sum_assignment(-iou)
        assert len(got[k].pred) == min(len(p), len(g))
        np.testing.assert_array_equal(np.sort(got[k].iou), np.sort(iou[rows, cols]))
