"""Entry points for other training engines: ``rlit.integrations.verl`` (verl's custom reward
function). OpenRLHF talks to ``rlit serve``; TRL takes rlit sources and composites directly."""
