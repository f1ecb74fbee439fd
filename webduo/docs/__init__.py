"""Documentation generated from the code, so that it cannot drift from it.

``python -m webduo.docs`` (``make docs``) rewrites every generated file and section; with
``--check`` it rewrites nothing and exits 1 when one is stale. ``tests/test_docs.py`` runs the
same check, so a changed default or description fails the suite until it is regenerated.
"""
