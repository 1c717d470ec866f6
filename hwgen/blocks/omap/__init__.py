"""Oblivious map with a trusted HBM cache (issue 7, after BOLT): building blocks so far."""
