"""Talking to MDM APIs: the plugin seam, the shared HTTP seam, one package per vendor.

- :mod:`monitor.sources.base`: the :class:`~monitor.sources.base.Source` plugin
  protocol, :class:`~monitor.sources.base.SweepOutcome`, the progress protocol;
- :mod:`monitor.sources.registry`: the config's ``kind`` -> its Source;
- :mod:`monitor.sources.http`: :class:`~monitor.sources.http.ApiClient`, the only code
  that uses aiohttp to call an MDM (timeouts, the one retry policy, ``Retry-After``,
  paging, error translation);
- :mod:`monitor.sources.budget`: the per-tenant request budget (hour, second, in flight);
- :mod:`monitor.sources.catalogue`, :mod:`monitor.sources.lenient`: what vendor
  packages build on (the field catalogue's vocabulary, lenient scalar types);
- one package per vendor (its config model, client, models, mapping, sweepers, field
  catalogue, console links, ``explain`` look-up, actions), reached through the
  registry only.
"""
