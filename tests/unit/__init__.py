"""Unit tests of the pure modules: no PostgreSQL, no network, no subprocess; milliseconds each."""
