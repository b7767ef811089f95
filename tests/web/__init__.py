"""Tests of the operator view: status page, JSON API, metrics, probes."""
