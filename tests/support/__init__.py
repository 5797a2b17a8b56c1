"""Helpers of the test suite: loopback HTTP server, fixture readers, file builders, recipes."""
