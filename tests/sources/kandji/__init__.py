"""Tests of the Kandji source package."""
