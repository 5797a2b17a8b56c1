"""The hostile suite: reproductions of issue 12 and of further hostile inputs.

Each test asserts the *correct* behaviour; many fail on the code they were written against (see
the report of the commit that added them). Helpers live in :mod:`tests.hostile._support`.
"""
