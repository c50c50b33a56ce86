import numpy as np

from visionr1.boxes import as_boxes, clip, giou_matrix, iou_aligned, l1_matrix


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
