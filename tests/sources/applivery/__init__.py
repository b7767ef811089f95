"""Tests of the Applivery source package."""
