"""Digests and reports: what fired over a period, in numbers, lists and a trend chart.

- :mod:`monitor.digest.summary` turns stored alerts and transitions into a
  :class:`~monitor.digest.summary.Digest` (pure);
- :mod:`monitor.digest.chart` draws its trend of firing alerts per day (PNG, SVG);
- :mod:`monitor.digest.render` writes it as HTML, text, CSV or JSON;
- :mod:`monitor.digest.runner` sends the configured ``digests:`` on their schedule.
"""
