"""Evaluation: COCO val2017, ODinW-13, out-of-domain sets, REC, custom COCO-format sets, VLMEvalKit QA
(paper §4.2; docs/spec.md §4)."""
