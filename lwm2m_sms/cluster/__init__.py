"""Several gateway nodes on one PostgreSQL database: exchange ownership and hand-off of
answers between nodes, and the takeover of a dead node's work.

:mod:`.handoff` decides (sans-IO); :mod:`.node` is the asyncio glue the gateway starts for a
PostgreSQL store (:class:`ClusterNode`). The design (who owns what, what happens when an
owner dies, what is a hint and what is state) is in :mod:`.node`'s docstring and in
docs/cluster.md.
"""

from .handoff import Decision, HandoffLimiter, Verdict
from .node import TOPIC, ClusterNode, ClusterSettings, ClusterStats

__all__ = ["ClusterNode", "ClusterSettings", "ClusterStats", "HandoffLimiter", "Decision", "Verdict", "TOPIC"]
