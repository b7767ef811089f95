"""Kandji (Iru): config, client, models, mapping, sweepers, field catalogue, console
links, ``explain`` look-up and actions, behind one plugin, :data:`SOURCE`.

- :mod:`.config`: :class:`~.config.KandjiSourceConfig`;
- :mod:`.feeds`: Prism tables and the audit feed (cursor paging, changed rows only);
- :mod:`.client`: :class:`~.client.KandjiClient` (one typed method per endpoint) and
  :class:`~.client.KandjiApi` (the body checks every read gets);
- :mod:`.models`: tolerant pydantic models of the answers; :mod:`.mapping`: those as
  devices and subjects;
- :mod:`.per_device`, :mod:`.planned`, :mod:`.planner`: the two sweep strategies;
- :mod:`.fields`: the facts rules may name; :mod:`.explain`: the ``explain`` look-up;
  :mod:`.actions`: tag, update inventory, cancel Lost Mode;
- :mod:`.source`: :data:`SOURCE`, the plugin the registry loads.
"""

from monitor.sources.kandji.source import SOURCE

__all__ = ["SOURCE"]
