"""Tests of monitor.sweep."""
