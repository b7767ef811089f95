"""Talking to MDM APIs: the one aiohttp client seam and one module per vendor."""
