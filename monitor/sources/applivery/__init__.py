"""Applivery (Windows PCs): config, client, models, mapping, sweeper, field catalogue,
console links, ``explain`` look-up and the info-refresh action, behind one plugin,
:data:`SOURCE`.

- :mod:`.config`: :class:`~.config.AppliverySourceConfig`; :mod:`.client`:
  :class:`~.client.AppliveryClient`; :mod:`.models`: tolerant models of the answers;
  :mod:`.mapping`: those as devices; :mod:`.sweeper`: the sweep;
- :mod:`.fields`, :mod:`.explain`, :mod:`.actions`; :mod:`.source`: :data:`SOURCE`.
"""

from monitor.sources.applivery.source import SOURCE

__all__ = ["SOURCE"]
